"""TrialBatch, the unit of data every env produces, and the Env base class."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["TrialBatch", "Env"]


@dataclass
class TrialBatch:
    """A batch of trials, time-major.

    Attributes:
        inputs: (time, trial, n_inputs) float input u.
        targets: (time, trial, n_outputs) float target y*.
        mask: (time, trial, n_outputs) float loss weight; 0 where a step does not count.
        context: (trial,) long context index of each trial.
        conditions: per-trial conditions, name -> (trial,) tensor.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    context: torch.Tensor
    conditions: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t, b = self.inputs.shape[:2]
        if self.targets.shape[:2] != (t, b) or self.mask.shape != self.targets.shape:
            raise ValueError(f"inconsistent batch: inputs {tuple(self.inputs.shape)}, targets "
                             f"{tuple(self.targets.shape)}, mask {tuple(self.mask.shape)}")
        if self.context.shape != (b,):
            raise ValueError(f"context has shape {tuple(self.context.shape)}: expected ({b},)")

    @property
    def n_steps(self) -> int:
        return self.inputs.shape[0]

    @property
    def n_trials(self) -> int:
        return self.inputs.shape[1]

    def to(self, device: torch.device | str) -> TrialBatch:
        """A copy on ``device``."""
        return TrialBatch(self.inputs.to(device), self.targets.to(device), self.mask.to(device),
                          self.context.to(device),
                          {k: v.to(device) for k, v in self.conditions.items()})


class Env:
    """A world a circuit is trained in: it samples trial batches, scores outputs.

    Subclasses set ``n_inputs``, ``n_outputs``, ``context_names`` and ``dt_ms`` and implement
    ``sample``. The default loss is the masked mean squared error; ``training_loss`` (open loop
    by default) is what ``fit`` minimises.
    """

    n_inputs: int = 1
    n_outputs: int = 1
    context_names: tuple[str, ...] = ("default",)
    output_names: tuple[str, ...] | None = None  # labels of the output channels, for figures
    dt_ms: float = 20.0

    def __new__(cls, *args: Any, **kwargs: Any):
        # the arguments it was built with, so that a run folder can record how to rebuild it
        self = super().__new__(cls)
        self._built_with = (args, kwargs)
        return self

    @property
    def n_contexts(self) -> int:
        return len(self.context_names)

    def spec(self) -> dict[str, Any]:
        """The ``[env]`` section of a spec that rebuilds this env: ``{"kind": ..., "params":
        {...}}`` with the keyword arguments it was built with (except ``dt_ms``, which the
        circuit gives). ``kind`` is the env's built-in or registered name, else its import path
        ``"module:Class"``; ``neurobias.config.EnvConfig`` checks that it can be rebuilt."""
        from .registry import kind_of

        args, kwargs = getattr(self, "_built_with", ((), {}))
        bound = inspect.signature(type(self).__init__).bind_partial(self, *args, **kwargs)
        params: dict[str, Any] = {}
        for name, value in list(bound.arguments.items())[1:]:
            kind = bound.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                params.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                params[name] = list(value)
            elif name != "dt_ms":
                params[name] = value
        return {"kind": kind_of(type(self)), "params": params}

    def check_circuit(self, net) -> None:
        """Raise a ``ValueError`` (one line) if ``net`` cannot be trained in this env; ``fit``
        calls it before training. Default: every circuit of the right sizes is fine."""

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """Draw ``batch_size`` training trials using ``generator`` (CPU)."""
        raise NotImplementedError

    def test_batch(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """``batch_size`` held-out trials (for evaluation and export); default: like training."""
        return self.sample(batch_size, generator)

    def eval_batch(self, generator: torch.Generator) -> TrialBatch:
        """The fixed batch of trials ``evaluate`` scores on."""
        return self.test_batch(64, generator)

    def loss(self, outputs: torch.Tensor, batch: TrialBatch) -> torch.Tensor:
        """Masked mean squared error: sum(mask (y - y*)^2) / sum(mask)."""
        err = (outputs - batch.targets) ** 2 * batch.mask
        return err.sum() / batch.mask.sum().clamp_min(1e-12)

    def training_loss(self, net, batch: TrialBatch,
                      noise: torch.Generator | None = None) -> torch.Tensor:
        """The scalar ``fit`` minimises on ``batch``: by default the circuit runs open loop on
        ``batch.inputs`` and ``loss`` scores its outputs. Envs that close a loop around the
        circuit (its outputs change its next inputs, as in reaching) override this.

        Args:
            net: the circuit.
            batch: training trials, on the circuit's device.
            noise: generator of the circuit's noise; None runs noise-free.
        """
        out = net(batch.inputs, batch.context, noise=noise)
        return self.loss(out.outputs, batch)

    def run(self, net, batch: TrialBatch, return_states: bool = False):
        """The circuit's noise-free ``Rollout`` on ``batch`` (what export records); by default
        open loop on ``batch.inputs``."""
        return net(batch.inputs, batch.context, return_states=return_states)

    @torch.no_grad()
    def evaluate(self, net, generator: torch.Generator) -> dict[str, float]:
        """Noise-free scores of ``net`` on the eval batch: a dict of named floats.

        Default: ``r2`` (coefficient of determination of the outputs over the scored steps)
        and ``mse`` (this env's ``loss``); envs with discrete answers override it.
        """
        from ..analysis.metrics import r2_score

        batch = self.eval_batch(generator).to(net.W_rec.device)
        out = net(batch.inputs, batch.context).outputs
        return {"r2": r2_score(out, batch.targets, batch.mask),
                "mse": float(self.loss(out, batch))}

    def describe(self) -> str:
        return type(self).__name__
