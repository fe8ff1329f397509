"""An env written outside neurobias: the example of docs/training.md, "Your own task".

A spec names it by import path, with ``examples/`` on ``PYTHONPATH``::

    [env]
    kind = "mylab.tasks:ContextSwitch"
    pulse_ms = 100.0
"""

from __future__ import annotations

import torch

from neurobias.envs import Env, TrialBatch


class ContextSwitch(Env):
    """A pulse of random sign and size; report it (context "follow") or its opposite ("flip").

    Args:
        dt_ms: time step (ms); given by the circuit.
        pulse_ms: length of the input pulse at the start of a trial (ms).
        duration_ms: length of a trial (ms); the answer is scored after the pulse.
    """

    n_inputs = 1
    n_outputs = 1
    context_names = ("follow", "flip")
    output_names = ("answer",)

    def __init__(self, dt_ms: float = 20.0, pulse_ms: float = 100.0, duration_ms: float = 600.0):
        if not 0 < pulse_ms < duration_ms:
            raise ValueError(f"env.pulse_ms={pulse_ms!r} is invalid: must be in (0, duration_ms)")
        self.dt_ms = float(dt_ms)
        self.n_pulse = max(1, round(pulse_ms / dt_ms))
        self.n_steps = max(self.n_pulse + 1, round(duration_ms / dt_ms))

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """Inputs, targets and mask (time, trial, 1); context (trial,); condition ``pulse``."""
        pulse = torch.rand(batch_size, generator=generator) * 2 - 1
        context = torch.randint(0, 2, (batch_size,), generator=generator)
        inputs = torch.zeros(self.n_steps, batch_size, 1)
        inputs[: self.n_pulse, :, 0] = pulse
        answer = torch.where(context == 0, pulse, -pulse)
        targets = answer[None, :, None].expand(self.n_steps, batch_size, 1).clone()
        mask = torch.zeros_like(targets)
        mask[self.n_pulse:] = 1.0
        return TrialBatch(inputs, targets, mask, context, {"pulse": pulse})
