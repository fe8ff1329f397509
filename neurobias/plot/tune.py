"""Figures of ``neurobias tune``: the optimisation history and the parameter importances."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._common import _save, plt

__all__ = ["history_figure", "importance_figure", "tune_figures"]


def history_figure(trials: Sequence[Mapping[str, Any]], metric: str, direction: str):
    """Each trial's value against its number, and the best value so far.

    Args:
        trials: one dict per trial with "number", "state" ("COMPLETE", "PRUNED", ...), "value"
            (the objective of a completed trial) and "last_value" (the last value reported
            during training, for a pruned trial).
        metric: the objective's name (the y label).
        direction: "maximize" or "minimize": which way "best so far" goes.

    Returns:
        The matplotlib Figure.
    """
    fig, ax = plt.subplots(figsize=(8, 3.8), constrained_layout=True)
    done = sorted((t for t in trials if t["state"] == "COMPLETE" and t["value"] is not None),
                  key=lambda t: t["number"])
    pruned = [t for t in trials if t["state"] == "PRUNED" and t.get("last_value") is not None]
    # the axis spans the completed values and as much again on either side; a pruned trial
    # beyond that (a diverging start) is drawn at the edge as a triangle pointing out
    values = [t["value"] for t in done]
    lo, hi = (min(values), max(values)) if values else (None, None)
    span = (hi - lo) or 1.0 if values else None
    inside, below, above = [], [], []
    for t in pruned:
        v = t["last_value"]
        if values and v < lo - span:
            below.append(t["number"])
        elif values and v > hi + span:
            above.append(t["number"])
        else:
            inside.append(t)
    if inside:
        ax.scatter([t["number"] for t in inside], [t["last_value"] for t in inside],
                   marker="x", color="0.55", label="pruned (value at its last evaluation)",
                   zorder=2)
    if below or above:
        ax.scatter(below, [lo - span] * len(below), marker="v", color="0.55", zorder=2,
                   label="pruned, beyond the axis")
        ax.scatter(above, [hi + span] * len(above), marker="^", color="0.55", zorder=2)
    if done:
        xs = [t["number"] for t in done]
        ys = [t["value"] for t in done]
        ax.scatter(xs, ys, color="tab:blue", label="completed", zorder=3)
        best, so_far = [], None
        for y in ys:
            better = so_far is None or (y > so_far if direction == "maximize" else y < so_far)
            so_far = y if better else so_far
            best.append(so_far)
        last = max(t["number"] for t in trials)
        ax.step(xs + [last], best + [best[-1]], where="post", color="tab:red",
                label="best so far", zorder=4)
    n_failed = sum(1 for t in trials if t["state"] == "FAIL")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    title = f"{len(done)} completed, {len(pruned)} pruned"
    if n_failed:
        title += f", {n_failed} failed (not shown)"
    ax.set_title(f"optimisation history ({direction}): {title}", fontsize=9)
    ax.xaxis.get_major_locator().set_params(integer=True)
    if done or pruned:  # beside the axes: points may be anywhere
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def importance_figure(importances: Mapping[str, float], n_complete: int | None = None):
    """Horizontal bars: each searched setting's share of the objective's variation (Optuna's
    ``get_param_importances``, normalised to sum to 1), most important on top.

    Args:
        importances: {setting: importance}.
        n_complete: completed trials they were computed from (for the title).

    Returns:
        The matplotlib Figure.
    """
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(6, 1.2 + 0.45 * len(items)), constrained_layout=True)
    ax.barh(range(len(items)), [v for _, v in items], color="tab:blue")
    ax.set_yticks(range(len(items)), [k for k, _ in items], fontsize=8)
    for i, (_, v) in enumerate(items):
        ax.text(v + 0.01, i, f"{v:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("importance (optuna get_param_importances, sums to 1)")
    ax.set_title("which settings matter" + (f" (from {n_complete} completed trials)"
                                             if n_complete else ""), fontsize=9)
    return fig


def tune_figures(trials: Sequence[Mapping[str, Any]], importances: Mapping[str, float] | None,
                 metric: str, direction: str, folder: str | Path) -> list[Path]:
    """Save history.png and, when importances are given, importances.png into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    _save(history_figure(trials, metric, direction), folder / "history.png", paths)
    if importances:
        n_complete = sum(1 for t in trials if t["state"] == "COMPLETE")
        _save(importance_figure(importances, n_complete), folder / "importances.png", paths)
    else:
        (folder / "importances.png").unlink(missing_ok=True)
    return paths
