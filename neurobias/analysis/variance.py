"""Task variance: how much a unit's rate varies across the trials of a task (Yang et al. 2019).

For unit i and task (context) c, the task variance is the variance of r_i across the trials of
c at each time step, averaged over time steps:

    TV[i, c] = mean_{t in T_c}  var_{trials k of c in their window at t} r_i(t, k)

The variance is the population variance (ddof 0) across trials at the same step ``t``, counted
from each trial's first step (absolute time, not aligned on any later epoch); T_c is the set of
steps where at least two trials of c are inside their analysis window (``window_tb``: padding
after a short trial and, in ``analyze``, the initial fixation epoch are outside it).

So the variance mixes everything that differs between trials at the same step: the trial
conditions (stimulus, choice, ...), input noise, and, when epoch durations vary from trial to
trial, the epoch each trial is in. Yang et al. (2019) take it on noise-free test trials of fixed
timing, so that only the conditions remain; ``neurobias analyze`` does the same for NeuroGym runs
(``NeuroGymEnv.fixed_batch``: stimulus noise 0, every drawn period fixed to its mean; a period
whose duration is itself the condition, as the interval of a timing task, still varies).

Reference: Yang, Joglekar, Song, Newsome & Wang, "Task representations in neural networks
trained to perform many cognitive tasks", Nat. Neurosci. 22, 297-306 (2019).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["task_variance", "task_variance_by_epoch", "epoch_window", "fractional_variance",
           "as_array", "check_finite"]


def as_array(x, name: str, ndim: int | None = None, dtype=np.float64) -> np.ndarray:
    """A numpy array of ``x`` (torch tensors are detached and copied to the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=dtype)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} has {arr.ndim} dimensions (shape {arr.shape}): expected {ndim}")
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise ValueError naming ``name`` when ``arr`` holds NaN or infinity."""
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name} holds {bad} NaN or infinite values: analyses need finite "
                         "values (drop or zero the padding of short trials first)")


def epoch_window(start, end, n_steps: int) -> np.ndarray:
    """Boolean (time, trial) window, True on steps start[k] <= t < end[k] of each trial k.

    Args:
        start: (trial,) first step of the window per trial (negative: the trial is left out).
        end: (trial,) end step (exclusive) per trial.
        n_steps: length of the time axis.
    """
    start = as_array(start, "start", 1, np.int64)
    end = as_array(end, "end", 1, np.int64)
    if start.shape != end.shape:
        raise ValueError(f"start {start.shape} and end {end.shape} differ in shape")
    t = np.arange(n_steps)[:, None]
    return (t >= start[None, :]) & (t < end[None, :]) & (start[None, :] >= 0)


def task_variance(rates_tbn, context, n_contexts: int | None = None, window_tb=None
                  ) -> np.ndarray:
    """Task variance of every unit in every context.

    The variance is taken across the trials of each context at each step (step t of every
    trial, counted from its start), then averaged over the steps where at least two of them
    are in their window (see the module docstring for what makes trials differ).

    Args:
        rates_tbn: (time, trial, unit) rates, best of noise-free, fixed-timing test trials.
        context: (trial,) integer task (context) index of each trial.
        n_contexts: number of contexts (default: max(context) + 1).
        window_tb: optional (time, trial) bool, the steps each trial contributes (default all);
            use ``epoch_window`` to leave out the initial fixation or to pick one epoch.

    Returns:
        (unit, context) float64: variance across trials (population variance, ddof 0) averaged
        over the time steps where at least two trials of the context are in their window.

    Raises:
        ValueError: NaN rates, mismatched shapes, or a context with fewer than two trials.
    """
    rates = as_array(rates_tbn, "rates_tbn", 3)
    check_finite(rates, "rates_tbn")
    ctx = as_array(context, "context", 1, np.int64)
    n_t, n_b, n_u = rates.shape
    if ctx.shape != (n_b,):
        raise ValueError(f"context has shape {ctx.shape}: expected ({n_b},), one per trial")
    if n_b and ctx.min() < 0:
        raise ValueError("context values must be >= 0")
    n_c = int(ctx.max()) + 1 if n_contexts is None else int(n_contexts)
    if n_b and ctx.max() >= n_c:
        raise ValueError(f"context reaches {int(ctx.max())} but n_contexts={n_c}")
    win = np.ones((n_t, n_b), bool) if window_tb is None else as_array(window_tb, "window_tb",
                                                                       2, bool)
    if win.shape != (n_t, n_b):
        raise ValueError(f"window_tb has shape {win.shape}: expected ({n_t}, {n_b})")
    out = np.empty((n_u, n_c))
    for c in range(n_c):
        sel = ctx == c
        w = win[:, sel].astype(np.float64)[..., None]  # (time, trial, 1)
        r = rates[:, sel]
        count = w.sum(1)  # (time, 1)
        ok = count[:, 0] >= 2
        if not ok.any():
            raise ValueError(f"context {c} has {int(sel.sum())} trials with fewer than two "
                             "inside the window at every step: need at least two per context")
        mean = (w * r).sum(1) / np.maximum(count, 1)
        var = (w * (r - mean[:, None]) ** 2).sum(1) / np.maximum(count, 1)  # (time, unit)
        out[:, c] = var[ok].mean(0)
    return out


def task_variance_by_epoch(rates_tbn, context, epochs: Mapping[str, tuple[Sequence[int],
                                                                           Sequence[int]]],
                           n_contexts: int | None = None) -> dict[str, np.ndarray]:
    """Task variance within each named epoch.

    Args:
        rates_tbn: (time, trial, unit) rates.
        context: (trial,) context index.
        epochs: name -> (start (trial,), end (trial,)) step bounds of the epoch per trial, e.g.
            from a NeuroGym batch's ``start_stimulus``/``end_stimulus`` conditions; trials with
            a negative start lack the epoch.
        n_contexts: number of contexts.

    Returns:
        name -> (unit, context) task variance; a context without the epoch gets NaN there.
    """
    rates = as_array(rates_tbn, "rates_tbn", 3)
    ctx = as_array(context, "context", 1, np.int64)
    n_c = int(ctx.max()) + 1 if n_contexts is None else int(n_contexts)
    out = {}
    for name, (start, end) in epochs.items():
        win = epoch_window(start, end, rates.shape[0])
        tv = np.full((rates.shape[2], n_c), np.nan)
        for c in range(n_c):
            sel = ctx == c
            if (win[:, sel].sum(1) >= 2).any():
                tv[:, c] = task_variance(rates[:, sel], np.zeros(int(sel.sum()), np.int64), 1,
                                         win[:, sel])[:, 0]
        out[name] = tv
    return out


def fractional_variance(tv_uc, a: int, b: int, threshold: float = 1e-3) -> np.ndarray:
    """Fractional task variance FTV = (TV_a - TV_b) / (TV_a + TV_b) of each unit.

    +1: the unit varies only in task a; -1: only in b; 0: equally in both (Yang et al. 2019,
    Fig. 4). Units whose TV_a + TV_b is below ``threshold`` are left out.

    Args:
        tv_uc: (unit, context) task variance.
        a: the first context index.
        b: the second context index.

    Returns:
        (kept units,) values in [-1, 1].
    """
    tv = as_array(tv_uc, "tv_uc", 2)
    n_c = tv.shape[1]
    for name, k in (("a", a), ("b", b)):
        if not 0 <= k < n_c:
            raise ValueError(f"{name}={k} is not a context: allowed 0..{n_c - 1}")
    total = tv[:, a] + tv[:, b]
    keep = total > threshold
    return (tv[keep, a] - tv[keep, b]) / total[keep]
