"""Current decomposition after CURBD (Perich et al. 2020): where each unit's drive comes from.

In the circuit ``x[t] = (1 - a) x[t-1] + a (W_rec r[t-1] + W_in u[t] + b[c])`` the input a
unit receives at step t is the sum of three parts:

* recurrent  ``W_rec r[t-1]`` (the rates before the step; r[-1] = phi(x0)),
* external   ``W_in u[t]`` (the inputs of the step),
* tonic      ``b[c]`` (the context's learned tonic input, constant in time).

``current_decomposition`` returns the three, and ``tonic_share`` summarises per condition how
much of the drive the tonic part supplies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Currents", "current_decomposition", "CurrentSummary", "tonic_share"]


@dataclass
class Currents:
    """The input of every unit split in parts, each (time, trial, unit) float64.

    ``recurrent + external + tonic`` is the total input; the state update is
    ``x[t] = (1 - a) x[t-1] + a * total[t]``.
    """

    recurrent: np.ndarray
    external: np.ndarray
    tonic: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.recurrent + self.external + self.tonic


def current_decomposition(w_rec, w_in, biases, rates_tbn, inputs_tbi, context,
                          rates0=None) -> Currents:
    """Split each unit's input into recurrent, external and tonic parts at every step.

    Args:
        w_rec: (unit, unit) recurrent weights (row: receiving unit).
        w_in: (unit, input) input weights.
        biases: (context, unit) tonic inputs.
        rates_tbn: (time, trial, unit) rates r after each step (a rollout's ``rates``).
        inputs_tbi: (time, trial, input) inputs of each step.
        context: (trial,) context index of each trial.
        rates0: (unit,) or (trial, unit) rates before the first step, phi(x0); default zeros.

    Returns:
        Currents, each (time, trial, unit).
    """
    w_rec = np.asarray(w_rec, np.float64)
    w_in = np.asarray(w_in, np.float64)
    biases = np.asarray(biases, np.float64)
    r = np.asarray(rates_tbn, np.float64)
    u = np.asarray(inputs_tbi, np.float64)
    ctx = np.asarray(context, np.int64)
    n_t, n_b, n = r.shape
    if w_rec.shape != (n, n) or w_in.shape[0] != n or biases.shape[1] != n:
        raise ValueError(f"weights {w_rec.shape}, {w_in.shape}, biases {biases.shape} do not "
                         f"match {n} units")
    if u.shape[:2] != (n_t, n_b) or u.shape[2] != w_in.shape[1]:
        raise ValueError(f"inputs have shape {u.shape}: expected ({n_t}, {n_b}, "
                         f"{w_in.shape[1]})")
    if ctx.shape != (n_b,):
        raise ValueError(f"context has shape {ctx.shape}: expected ({n_b},)")
    r0 = np.zeros((n_b, n)) if rates0 is None else np.broadcast_to(
        np.asarray(rates0, np.float64), (n_b, n))
    prev = np.concatenate([r0[None], r[:-1]], 0)
    recurrent = prev @ w_rec.T
    external = u @ w_in.T
    tonic = np.broadcast_to(biases[ctx][None], (n_t, n_b, n)).copy()
    return Currents(recurrent, external, tonic)


@dataclass
class CurrentSummary:
    """How much of the drive each part supplies, per condition.

    Attributes:
        share: (context, part, unit) mean over valid bins and trials of |part| / (|recurrent|
            + |external| + |tonic|); parts in the order of ``parts``.
        share_mean: (context, part) ``share`` averaged over units.
        magnitude: (context, part) mean |part| over valid bins, trials and units.
        parts: ("recurrent", "external", "tonic").
    """

    share: np.ndarray
    share_mean: np.ndarray
    magnitude: np.ndarray
    parts: tuple[str, ...] = ("recurrent", "external", "tonic")

    @property
    def tonic_share(self) -> np.ndarray:
        """(context,) mean share of the tonic part."""
        return self.share_mean[:, 2]


def tonic_share(currents: Currents, context, n_contexts: int, valid=None) -> CurrentSummary:
    """Per condition, the share of each unit's drive that each part supplies.

    Args:
        currents: from ``current_decomposition``.
        context: (trial,) context index of each trial.
        n_contexts: number of contexts.
        valid: (time, trial) bool, bins that count (default all).

    Returns:
        CurrentSummary; NaN rows for contexts without trials.
    """
    parts = np.stack([np.abs(currents.recurrent), np.abs(currents.external),
                      np.abs(currents.tonic)])  # (part, time, trial, unit)
    total = parts.sum(0)
    frac = np.where(total > 0, parts / np.where(total > 0, total, 1.0), 0.0)
    ctx = np.asarray(context, np.int64)
    n_t, n_b, n = currents.tonic.shape
    valid = np.ones((n_t, n_b), bool) if valid is None else np.asarray(valid, bool)
    share = np.full((n_contexts, 3, n), np.nan)
    mag = np.full((n_contexts, 3), np.nan)
    for c in range(n_contexts):
        w = valid & (ctx == c)[None, :]
        if not w.any():
            continue
        share[c] = frac[:, w].mean(1)
        mag[c] = parts[:, w].mean((1, 2))
    return CurrentSummary(share, share.mean(2), mag)
