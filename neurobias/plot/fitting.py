"""Figures of circuits fitted to recordings: recorded against fitted PSTHs, the distribution
of per-neuron R^2, and the current decomposition (recurrent, external, tonic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._common import _save, plt

__all__ = ["fit_psths", "r2_histogram", "current_shares", "fit_figures", "fit_run_figures"]


def _ranked(r2: np.ndarray) -> list[tuple[str, int]]:
    """(label, neuron) of the best, median and worst neuron by R^2 (finite values only)."""
    ok = np.flatnonzero(np.isfinite(r2))
    if not len(ok):
        return []
    order = ok[np.argsort(r2[ok])]
    return [("best", int(order[-1])), ("median", int(order[len(order) // 2])),
            ("worst", int(order[0]))]


def fit_psths(psth_recorded, psth_fitted, r2, dt_ms: float, neuron_names=None,
              condition_names=None, unit: str = "a.u.", heldout=()):
    """Recorded (solid) against fitted (dashed) trial-averaged activity of the best, median
    and worst neurons by held-out R^2, one colour per condition.

    Args:
        psth_recorded: (condition, time, neuron).
        psth_fitted: (condition, time, neuron).
        r2: (neuron,) per-neuron R^2.
        dt_ms: bin width (ms).
        heldout: indices of co-smoothed (held-out) neurons, marked in the titles.
    """
    picks = _ranked(np.asarray(r2))
    n_c, n_t, _ = psth_recorded.shape
    t = np.arange(1, n_t + 1) * dt_ms
    fig, axes = plt.subplots(1, max(len(picks), 1), figsize=(4.2 * max(len(picks), 1), 3.2),
                             constrained_layout=True, squeeze=False)
    colors = plt.cm.tab10(np.arange(n_c) % 10)
    held = set(int(h) for h in heldout)
    for ax, (label, j) in zip(axes[0], picks, strict=False):
        for c in range(n_c):
            name = condition_names[c] if condition_names is not None else str(c)
            ax.plot(t, psth_recorded[c, :, j], color=colors[c], lw=1.5, label=name)
            ax.plot(t, psth_fitted[c, :, j], color=colors[c], lw=1.2, ls="--")
        nm = neuron_names[j] if neuron_names is not None else str(j)
        ax.set_title(f"{label}: neuron {nm}{' (held out)' if j in held else ''}, "
                     f"R$^2$ = {r2[j]:.3f}", fontsize=9)
        ax.set_xlabel("time (ms)")
        ax.set_ylabel(f"activity ({unit})")
    if picks and n_c <= 10:
        axes[0, 0].legend(fontsize=7, title="recorded (—) / fitted (--)", title_fontsize=7)
    fig.suptitle("recorded against fitted trial averages (held-out trials)")
    return fig


def r2_histogram(r2, heldout=()):
    """Histogram of per-neuron R^2 on held-out trials; held-out neurons in a second colour."""
    r2 = np.asarray(r2, np.float64)
    held = np.zeros(len(r2), bool)
    held[np.asarray(heldout, np.int64)] = True
    fig, ax = plt.subplots(figsize=(5, 3.2), constrained_layout=True)
    finite = r2[np.isfinite(r2)]
    lo = min(0.0, float(finite.min())) if len(finite) else 0.0
    bins = np.linspace(max(lo, -1.0), 1.0, 31)
    ax.hist(np.clip(r2[~held & np.isfinite(r2)], bins[0], 1), bins=bins, color="tab:blue",
            alpha=0.8, label=f"fitted neurons (median {np.nanmedian(r2[~held]):.3f})")
    if held.any():
        ax.hist(np.clip(r2[held & np.isfinite(r2)], bins[0], 1), bins=bins, color="tab:orange",
                alpha=0.8, label=f"held-out neurons (median {np.nanmedian(r2[held]):.3f})")
    ax.set_xlabel("per-neuron R$^2$ on held-out trials (values below -1 shown at -1)"
                  if lo < -1 else "per-neuron R$^2$ on held-out trials")
    ax.set_ylabel("neurons")
    ax.legend(fontsize=8)
    return fig


def current_shares(share_mean, condition_names, example=None, dt_ms: float = 1.0,
                   example_label: str = ""):
    """Left: the mean share of each unit's drive from recurrent, external and tonic input per
    condition (stacked bars). Right: the three inputs of one unit over one trial.

    Args:
        share_mean: (condition, 3) shares (recurrent, external, tonic).
        condition_names: labels of the conditions.
        example: (time, 3) the three inputs of one unit, or None.
    """
    share_mean = np.asarray(share_mean)
    n_c = len(share_mean)
    fig, axes = plt.subplots(1, 2 if example is not None else 1,
                             figsize=(10 if example is not None else 5.5, 3.9),
                             constrained_layout=True, squeeze=False)
    ax = axes[0, 0]
    bottom = np.zeros(n_c)
    colors = ("tab:gray", "tab:green", "tab:purple")
    for k, (name, col) in enumerate(zip(("recurrent", "external", "tonic"), colors,
                                        strict=True)):
        ax.bar(np.arange(n_c), share_mean[:, k], bottom=bottom, color=col, label=name)
        bottom += np.nan_to_num(share_mean[:, k])
    ax.set_xticks(np.arange(n_c), [str(c) for c in condition_names], rotation=45, ha="right",
                  fontsize=8)
    ax.set_ylabel("share of |input|\n(mean over units and time)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("where the drive comes from, per condition", fontsize=10)
    if example is not None:
        ax = axes[0, 1]
        t = np.arange(1, len(example) + 1) * dt_ms
        for k, (name, col) in enumerate(zip(("recurrent", "external", "tonic"), colors,
                                            strict=True)):
            ax.plot(t, example[:, k], color=col, label=name)
        ax.plot(t, example.sum(1), color="k", lw=1.0, ls=":", label="total")
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("input (dimensionless, like x)")
        ax.set_title(example_label, fontsize=9)
        ax.legend(fontsize=8)
    return fig


def fit_figures(result, folder: str | Path) -> list[Path]:
    """Save the figures of a ``FitAnalysis`` as PNGs in ``folder``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    _save(fit_psths(result.psth_recorded, result.psth_fitted, result.r2, result.dt_ms,
                    result.neuron_names, result.condition_names, result.unit,
                    result.heldout_neurons), folder / "fit_psths.png", paths)
    _save(r2_histogram(result.r2, result.heldout_neurons), folder / "fit_r2_hist.png", paths)
    _save(current_shares(result.currents.share_mean, result.condition_names,
                         result.example_currents, result.dt_ms,
                         f"unit {result.example_unit}, recorded trial {result.example_trial}"),
          folder / "currents.png", paths)
    return paths


def fit_run_figures(run, folder: str | Path) -> list[Path]:
    """The fit figures of a run in env ``recording`` (for ``plot.run_figures``)."""
    from ..analyze_fit import fit_analysis

    return fit_figures(fit_analysis(run.net, run.env), folder)
