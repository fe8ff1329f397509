"""The figure of ``neurobias compare``: how alike two activity sets are."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._atomic import save_figure_atomic
from ..analysis.similarity import rdm
from ._common import plt

__all__ = ["comparison_figure", "save_comparison"]


def comparison_figure(comp, max_rdm_samples: int = 240):
    """Four panels: the measures; each unit's variance in A against B (same units) or both
    variance distributions; the RDM of A and of B over the matched samples (condition by
    condition, step by step; at most ``max_rdm_samples`` evenly spaced steps).

    Args:
        comp: a ``neurobias.compare.Comparison``.
        max_rdm_samples: samples shown in the RDMs.

    Returns:
        The matplotlib Figure.
    """
    a, b = comp.samples()
    s = comp.similarity
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    ax = axes[0]
    labels = ["Procrustes\n(rad / (pi/2))", "CKA", "mean CCA", "RSA r", "unit var. r"]
    values = [s.procrustes / (np.pi / 2), s.cka, s.cca, s.rsa, s.unit_variance_r]
    colors = ["tab:red"] + ["tab:blue"] * 4
    ax.bar(range(5), np.nan_to_num(values), color=colors)
    for i, v in enumerate(values):
        ax.text(i, (0 if np.isnan(v) else v) + 0.02, "n/a" if np.isnan(v) else f"{v:.2f}",
                ha="center", fontsize=9)
    ax.set_xticks(range(5), labels, fontsize=8)
    ax.set_ylim(min(0.0, np.nanmin(values) - 0.1), 1.12)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_title("similarity (distance in red: 0 = same)")
    ax = axes[1]
    va, vb = a.var(0), b.var(0)
    if len(va) == len(vb):
        ax.scatter(va, vb, s=6, alpha=0.6)
        hi = max(va.max(), vb.max()) * 1.05
        ax.plot([0, hi], [0, hi], color="k", lw=0.5)
        ax.set_xlabel("unit variance in A")
        ax.set_ylabel("unit variance in B")
        ax.set_title(f"unit variances, r = {s.unit_variance_r:.2f}")
    else:
        bins = np.linspace(0, max(va.max(), vb.max()), 30)
        ax.hist(va, bins, alpha=0.6, label=f"A ({len(va)} units)")
        ax.hist(vb, bins, alpha=0.6, label=f"B ({len(vb)} units)")
        ax.set_xlabel("unit variance")
        ax.set_ylabel("units")
        ax.legend(fontsize=8)
        ax.set_title("unit variances")
    step = max(1, int(np.ceil(len(a) / max_rdm_samples)))
    cond_of_sample = np.repeat(np.arange(len(comp.conditions))[None, :],
                               comp.a.shape[0], 0)[~np.isnan(comp.a[..., 0])]
    order = np.argsort(cond_of_sample, kind="stable")[::step]
    for ax, x, name in ((axes[2], a, "A"), (axes[3], b, "B")):
        im = ax.imshow(rdm(x[order]), cmap="viridis", interpolation="nearest")
        ax.set_title(f"RDM of {name} (1 - r), by condition")
        bounds = np.flatnonzero(np.diff(cond_of_sample[order])) + 0.5
        for v in bounds:
            ax.axhline(v, color="w", lw=0.5)
            ax.axvline(v, color="w", lw=0.5)
        ax.set_xlabel("condition x step")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"A: {Path(comp.names[0]).name}   B: {Path(comp.names[1]).name}   "
                 f"({len(comp.conditions)} conditions, {len(a)} samples)", fontsize=10)
    fig.tight_layout()
    return fig


def save_comparison(comp, path: str | Path) -> Path:
    """Draw ``comparison_figure`` into ``path`` (PNG, or any format matplotlib writes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = comparison_figure(comp)
    save_figure_atomic(fig, path, dpi=110)
    plt.close(fig)
    return path
