"""The analysis of a circuit fitted to a recording (env kind ``recording``).

``fit_analysis(net, env)`` scores the fit on the held-out trials (per-neuron R^2, pVar, PSTHs
and their R^2 per condition, bits per spike for counts) and splits each unit's input into
recurrent, external and tonic parts (``analysis.current_decomposition``), summarised per
condition. ``neurobias analyze`` on a recording run calls it through ``analyze.analyze_run``
and ``write_fit`` stores the result under ``/analysis/fit`` and ``/analysis/currents`` of
run.h5 (docs/fitting.md lists the fields).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import h5py
import numpy as np
import torch

from . import analysis as A
from .io.hdf5 import _ascii, _dataset

__all__ = ["FitAnalysis", "fit_analysis", "write_fit"]


@dataclass
class FitAnalysis:
    """What ``fit_analysis`` computed (numpy arrays; time in bins of ``dt_ms``).

    Attributes:
        neuron_names: label of each recorded neuron.
        condition_names: label of each condition (= context).
        heldout_neurons: indices of the neurons left out of the loss (co-smoothed).
        trials: indices (into the recording) of the trials scored: the held-out trials.
        r2: (neuron,) R^2 of each neuron on the scored trials (data units).
        psth_recorded: (condition, time, neuron) trial-averaged recorded activity.
        psth_fitted: (condition, time, neuron) trial-averaged prediction.
        psth_r2: (condition,) R^2 of the fitted PSTHs (held-in neurons).
        metrics: the env's ``evaluate`` scores (r2, pvar, psth_r2_mean, co_bps, ...).
        currents: per-condition summary of the current decomposition.
        example_currents: (time, part) recurrent, external and tonic input of
            ``example_unit`` in the first scored trial.
        example_unit, example_trial: which unit (the median tonic share in that trial's
            condition) and which recorded trial that is.
        biases: (context, unit) the learned tonic inputs.
        dt_ms: bin width (ms).
        unit: unit of the recorded rates.
    """

    neuron_names: list[str]
    condition_names: list[str]
    heldout_neurons: np.ndarray
    trials: np.ndarray
    r2: np.ndarray
    psth_recorded: np.ndarray
    psth_fitted: np.ndarray
    psth_r2: np.ndarray
    metrics: dict[str, float]
    currents: A.CurrentSummary
    example_currents: np.ndarray
    example_unit: int
    example_trial: int
    biases: np.ndarray
    dt_ms: float
    unit: str = "a.u."
    notes: list[str] = field(default_factory=list)

    def summary_text(self) -> str:
        """A few lines for the terminal."""
        m = self.metrics
        held = np.setdiff1d(np.arange(len(self.r2)), self.heldout_neurons)
        lines = [f"held-out trials: {len(self.trials)}; per-neuron R^2 (held-in neurons) mean "
                 f"{m.get('r2', np.nan):.3f}, median {m.get('r2_median', np.nan):.3f}; "
                 f"pVar {m.get('pvar', np.nan):.3f}"]
        if len(held):
            lines.append("PSTH R^2 per condition: " + ", ".join(
                f"{c} {v:.3f}" for c, v in zip(self.condition_names, self.psth_r2, strict=True)))
        if len(self.heldout_neurons):
            lines.append(f"held-out neurons ({len(self.heldout_neurons)}): mean R^2 "
                         f"{m.get('r2_heldout_neurons', np.nan):.3f}"
                         + (f", co-bps {m['co_bps']:.3f}" if "co_bps" in m else ""))
        lines.append("share of the drive from the tonic input per condition: " + ", ".join(
            f"{c} {v:.2f}" for c, v in zip(self.condition_names, self.currents.tonic_share,
                                           strict=True)))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


@torch.no_grad()
def fit_analysis(net, env) -> FitAnalysis:
    """Score a circuit fitted to ``env``'s recording and decompose its currents.

    Args:
        net: the fitted circuit (any device; left unchanged).
        env: a ``RecordingEnv``.
    """
    trials = env.eval_trials
    idx = torch.from_numpy(trials)
    pred = env.predictions(net, trials)  # (time, trial, neuron), data units
    if env.loss_kind == "poisson":
        pred = pred * (1000.0 / env.dt_ms)  # expected counts per bin -> spikes/s
    data = env._rates[:, idx].double().numpy()
    valid = env._valid[:, idx].numpy()
    cond = env._condition[idx].numpy()
    n_c = env.n_contexts
    r2 = A.per_neuron_r2(pred, data, valid)
    hin = env.heldin_neurons
    metrics = env.evaluate(net, None)
    batch = env._batch(idx).to(net.W_rec.device)
    roll = net(batch.inputs, batch.context)
    x0 = net.initial_state(len(trials))
    currents = A.current_decomposition(
        net.W_rec.detach().cpu().numpy(), net.W_in.detach().cpu().numpy(),
        net.biases.detach().cpu().numpy(),
        roll.rates.cpu().numpy(), batch.inputs.cpu().numpy(), cond,
        rates0=net.rates(x0, batch.context).cpu().numpy())
    summary = A.tonic_share(currents, cond, n_c, valid)
    # the example: the unit with the median tonic share in the first scored trial's condition
    share = summary.share[int(cond[0]), 2]
    unit = int(np.argsort(share)[len(share) // 2])
    n_valid = int(valid[:, 0].sum())
    example = np.stack([currents.recurrent[:n_valid, 0, unit], currents.external[:n_valid, 0, unit],
                        currents.tonic[:n_valid, 0, unit]], axis=1)
    return FitAnalysis(
        neuron_names=list(env.output_names), condition_names=list(env.context_names),
        heldout_neurons=env.heldout_neurons.copy(), trials=trials.copy(), r2=r2,
        psth_recorded=A.psth(data, cond, n_c, valid), psth_fitted=A.psth(pred, cond, n_c, valid),
        psth_r2=A.psth_r2(pred[..., hin], data[..., hin], cond, n_c, valid), metrics=metrics,
        currents=summary, example_currents=example, example_unit=unit,
        example_trial=int(trials[0]), biases=net.biases.detach().cpu().numpy(),
        dt_ms=env.dt_ms, unit=env.recording.unit)


def write_fit(g: h5py.Group, r: FitAnalysis) -> None:
    """Write ``r`` into the (empty) ``/analysis`` group ``g``."""
    g.attrs["note"] = _ascii("written by neurobias analyze (a circuit fitted to a recording); "
                             "see docs/fitting.md")
    if r.notes:
        g.attrs["notes"] = np.array([_ascii(n) for n in r.notes])
    f = g.create_group("fit")
    _dataset(f, "r2", r.r2, "neuron")
    _dataset(f, "heldout_neurons", r.heldout_neurons, "neuron")
    _dataset(f, "trials", r.trials, "trial")
    _dataset(f, "psth_recorded", r.psth_recorded, "condition,time,neuron")
    _dataset(f, "psth_fitted", r.psth_fitted, "condition,time,neuron")
    _dataset(f, "psth_r2", r.psth_r2, "condition")
    f.attrs["neuron_names"] = np.array([_ascii(n) for n in r.neuron_names])
    f.attrs["conditions"] = np.array([_ascii(c) for c in r.condition_names])
    f.attrs["dt_ms"] = r.dt_ms
    f.attrs["unit"] = _ascii(r.unit)
    for key, value in r.metrics.items():
        f.attrs[f"metric:{key}"] = float(value)
    c = g.create_group("currents")
    _dataset(c, "share", r.currents.share, "condition,part,unit")
    _dataset(c, "share_mean", r.currents.share_mean, "condition,part")
    _dataset(c, "magnitude", r.currents.magnitude, "condition,part")
    _dataset(c, "example", r.example_currents, "time,part")
    c.attrs["parts"] = np.array([_ascii(p) for p in r.currents.parts])
    c.attrs["conditions"] = np.array([_ascii(n) for n in r.condition_names])
    c.attrs["example_unit"] = r.example_unit
    c.attrs["example_trial"] = r.example_trial
    _dataset(g, "biases", r.biases, "context,unit")
