"""Figures of a run's analysis (``neurobias analyze``): each function returns a Figure;
``analysis_figures`` saves them all as PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from ._common import _save, plt

__all__ = ["silhouette_curve", "variance_matrix", "bias_variance", "fractional_variance_hist",
           "lesion_matrix", "fixed_points_pca", "jacobian_spectrum", "population_dimensionality",
           "analysis_figures"]


def silhouette_curve(clustering):
    """Silhouette score against the number of clusters k, the chosen k marked."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2), constrained_layout=True)
    ax.plot(clustering.k_values_, clustering.silhouette_scores_, "o-", color="0.3", ms=4)
    ax.plot([clustering.n_clusters_], [clustering.silhouette_], "o", color="tab:red", ms=9,
            label=f"chosen k = {clustering.n_clusters_}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # k is a whole number
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("silhouette score")
    ax.legend(fontsize=8)
    ax.set_title("selectivity clustering")
    return fig


def variance_matrix(clustering, tasks):
    """Each unit's task variance as a share of its summed task variance, units (rows) sorted
    by cluster, tasks as columns.

    The share (not the variance over the unit's maximum, which is 1 at every unit's preferred
    task and paints each cluster's preferred-task block in one flat colour) shows how selective
    each unit is: near 1 for a unit active in one task only, 1/n_tasks for one active in all.
    """
    order = clustering.order_
    prof = clustering.profiles_[order]
    share = prof / np.maximum(prof.sum(1, keepdims=True), 1e-12)
    labels = clustering.labels_[order]
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * len(tasks), 5.2), constrained_layout=True)
    top = float(np.ceil(share.max(initial=0.1) * 10) / 10)
    im = ax.imshow(share, aspect="auto", cmap="magma", interpolation="nearest", vmin=0,
                   vmax=top)
    edges = np.flatnonzero(np.diff(labels)) + 0.5
    for e in edges:
        ax.axhline(e, color="tab:cyan", lw=1)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(labels)) + 1])
    for s, k in zip(starts, labels[starts], strict=True):
        ax.text(-0.7, s + (labels == k).sum() / 2, str(k), ha="right", va="center", fontsize=7)
    ax.set_xticks(range(len(tasks)), tasks, rotation=60, ha="right", fontsize=8)
    ax.set_yticks([])
    ax.set_ylabel(f"{len(order)} units, sorted by cluster", labelpad=16)
    fig.colorbar(im, ax=ax, label="task variance, as a share\nof the unit's total", shrink=0.6)
    ax.set_title(f"k = {clustering.n_clusters_}, silhouette {clustering.silhouette_:.2f}",
                 fontsize=9)
    return fig


def bias_variance(result, biases_cu, tv_uc, tasks):
    """Learned tonic input against task variance: one scatter per task (left) and the mean
    per-unit Spearman rho of each cluster against its shuffled-unit null (right)."""
    n = len(tasks)
    cols = min(4, n)
    rows = -(-n // cols)
    fig = plt.figure(figsize=(3.0 * cols + 3.5, 2.4 * rows + 0.4), constrained_layout=True)
    grid = fig.add_gridspec(rows, cols + 1)
    units = result.units
    for c, name in enumerate(tasks):
        ax = fig.add_subplot(grid[c // cols, c % cols])
        ax.scatter(biases_cu[c, units], tv_uc[units, c], s=3, alpha=0.5, color="tab:blue")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_title(f"{name}: rho {result.rho_context[c]:.2f}", fontsize=8)
        ax.tick_params(labelsize=7)
        if c % cols == 0:
            ax.set_ylabel("task variance", fontsize=8)
        if c // cols == rows - 1:
            ax.set_xlabel("tonic input b", fontsize=8)
    ax = fig.add_subplot(grid[:, cols])
    if len(result.rho_cluster):
        k = np.arange(len(result.rho_cluster))
        colors = ["tab:red" if p < 0.05 else "0.6" for p in result.p_shuffle_cluster]
        ax.barh(k, result.rho_cluster, color=colors)
        ax.set_yticks(k, [f"cluster {i} (n={m})" for i, m in zip(k, result.n_cluster,
                                                                   strict=True)], fontsize=7)
        ax.invert_yaxis()
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel("mean Spearman rho over tasks\n(red: shuffled-unit p < 0.05)", fontsize=8)
        ax.set_title("per cluster", fontsize=9)
    else:
        ax.axis("off")
    fig.suptitle("learned tonic input vs task variance", fontsize=10)
    return fig


def fractional_variance_hist(ftv, name_a: str, name_b: str):
    """Histogram of the fractional task variance between two tasks (Yang et al. 2019 Fig. 4)."""
    fig, ax = plt.subplots(figsize=(4.2, 3.2), constrained_layout=True)
    ax.hist(ftv, bins=np.linspace(-1, 1, 21), color="0.4")
    ax.set_xlabel(f"FTV ({name_a}, {name_b})")
    ax.set_ylabel("units")
    ax.set_title(f"-1: only {name_b} ... +1: only {name_a}", fontsize=8)
    return fig


def lesion_matrix(lesions):
    """Accuracy change per task when each cluster is silenced (intact accuracy on top)."""
    change = lesions.change
    fig, axes = plt.subplots(2, 1, figsize=(1.5 + 0.5 * len(lesions.tasks), 2.0 + 0.3 * len(
        change)), height_ratios=[1, max(len(change), 1)], constrained_layout=True, sharex=True)
    axes[0].imshow(lesions.accuracy[:1], cmap="viridis", vmin=0, vmax=1, aspect="auto")
    axes[0].set_yticks([0], ["intact"])
    for t, v in enumerate(lesions.accuracy[0]):
        axes[0].text(t, 0, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w")
    lim = max(0.05, float(np.abs(change).max(initial=0)))
    im = axes[1].imshow(change, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    axes[1].set_yticks(range(len(change)), [f"{g} (n={n})" for g, n in
                                            zip(lesions.groups[1:], lesions.n_silenced[1:],
                                                strict=True)], fontsize=7)
    axes[1].set_xticks(range(len(lesions.tasks)), lesions.tasks, rotation=60, ha="right",
                       fontsize=8)
    fig.colorbar(im, ax=axes[1], label="accuracy change", shrink=0.8)
    axes[0].set_title("silencing each cluster", fontsize=9)
    return fig


def _input_words(fixed_points) -> str:
    """What input the fixed points were found under, read from the points themselves."""
    inputs = [fp.inputs.detach().cpu().numpy() for fp in fixed_points.values()]
    if all(u.size == 0 for u in inputs):
        return "no input (an autonomous circuit)"
    if all(not np.any(u) for u in inputs):
        return "zero input"
    return "the input of each context's first time step"


def fixed_points_pca(fixed_points, trajectories, pca, phi, input_label: str | None = None):
    """Fixed points of every context on the top two principal components of the activity:
    condition-averaged trajectories in grey, stable points filled, unstable ones open.

    Args:
        input_label: the input the points were found under, for the title (default: read from
            the points: "no input", "zero input" or "the input of each context's first time
            step"; ``neurobias analyze`` passes "fixation-period input" for NeuroGym runs).
    """
    names = list(fixed_points)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    # at least ~5.5 inches wide, so the title and the legend fit over a single panel
    fig, axes = plt.subplots(rows, cols, figsize=(max(3.1 * cols, 5.5), 2.9 * rows + 0.6),
                             squeeze=False, constrained_layout=True, sharex=True, sharey=True)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names, strict=False):
        traj = trajectories[name]
        for c in range(traj.shape[1]):
            p = pca.transform(traj[:, c])
            ok = np.isfinite(p).all(1)
            ax.plot(p[ok, 0], p[ok, 1], color="0.7", lw=0.8)
        fp = fixed_points[name]
        slow = fp.slow.cpu().numpy()
        st = fp.stable.cpu().numpy() & ~slow
        un = ~fp.stable.cpu().numpy() & ~slow
        if len(fp):
            pts = pca.transform(phi(fp.x).cpu().numpy())
            ax.scatter(pts[st, 0], pts[st, 1], s=40, color="tab:green", edgecolor="k", lw=0.6,
                       zorder=3, label="stable fixed point")
            ax.scatter(pts[un, 0], pts[un, 1], s=40, facecolor="none", edgecolor="tab:red",
                       lw=1.2, zorder=3, label="unstable fixed point")
            ax.scatter(pts[slow, 0], pts[slow, 1], s=30, marker="x", color="tab:purple",
                       zorder=3, label="slow point")
        ax.set_title(f"{name}: {int(st.sum())} stable, {int(un.sum())} unstable, "
                     f"{int(slow.sum())} slow", fontsize=8)
        ax.tick_params(labelsize=7)
    handles = [h for ax in axes.flat for h in ax.get_legend_handles_labels()[0]]
    labels = [lab for ax in axes.flat for lab in ax.get_legend_handles_labels()[1]]
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        fig.legend(unique.values(), unique.keys(), fontsize=7, ncols=3,
                   loc="outside lower center")
    for ax in axes[-1]:
        ax.set_xlabel(f"PC1 ({pca.explained[0]:.0%})", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"PC2 ({pca.explained[1]:.0%})", fontsize=8)
    under = input_label or _input_words(fixed_points)
    fig.suptitle(f"fixed and slow points per context, under {under}"
                 "\nrates on the top two PCs; grey: condition-averaged trajectories", fontsize=9)
    return fig


def jacobian_spectrum(eigs_tn, steps, dt_ms: float, title: str = ""):
    """Eigenvalues of the Euler map 1 + dt lambda at a few steps of a trial, with the unit
    circle (outside it, in red: locally expanding directions)."""
    mu = 1 + dt_ms * np.asarray(eigs_tn)
    pick = np.unique(np.linspace(0, len(mu) - 1, min(4, len(mu))).astype(int))
    fig, axes = plt.subplots(1, len(pick), figsize=(2.8 * len(pick), 3.0), squeeze=False,
                             constrained_layout=True, sharex=True, sharey=True)
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
    # zoom on the eigenvalues (and the stretch of the unit circle near them)
    lo_re = min(float(mu.real.min()), 1.0) - 0.05
    hi_re = max(float(mu.real.max()), 1.0) + 0.05
    half = max(float(np.abs(mu.imag).max()), 0.05) + 0.05
    for ax, i in zip(axes[0], pick, strict=True):
        ax.plot(circle.real, circle.imag, color="0.5", lw=0.8)
        outside = np.abs(mu[i]) > 1
        ax.scatter(mu[i].real[~outside], mu[i].imag[~outside], s=4, color="tab:blue")
        ax.scatter(mu[i].real[outside], mu[i].imag[outside], s=8, color="tab:red")
        ax.set_xlim(lo_re, hi_re)
        ax.set_ylim(-half, half)
        ax.set_aspect("equal")
        if outside.any():
            ax.text(0.02, 0.02, f"{int(outside.sum())} outside", transform=ax.transAxes,
                    fontsize=7, color="tab:red")
        ax.set_title(f"t = {(steps[i] + 1) * dt_ms:.0f} ms", fontsize=8)
        ax.set_xlabel("Re", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("Im", fontsize=8)
    fig.suptitle(title or "Jacobian spectrum along a trial", fontsize=9)
    return fig


def population_dimensionality(pca_tasks):
    """Participation ratio of the condition-averaged activity of each task, and the variance
    explained by the first principal components."""
    names = list(pca_tasks)
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.8), constrained_layout=True)
    a.bar(range(len(names)), [pca_tasks[n].participation_ratio for n in names], color="0.4")
    a.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    pad = max(0.0, (3 - len(names)) / 2)  # one or two tasks: narrow bars, not a wall
    a.set_xlim(-0.5 - pad, len(names) - 0.5 + pad)
    a.set_ylabel("participation ratio")
    cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    for k, n in enumerate(names):
        b.plot(np.arange(1, len(pca_tasks[n].explained) + 1),
               np.cumsum(pca_tasks[n].explained), "o-", ms=3, color=cmap(k), label=n)
    b.set_xlabel("principal components")
    b.set_ylabel("cumulative share of\nvariance explained")
    b.set_ylim(0, 1.02)
    b.legend(fontsize=6, ncols=2)
    fig.suptitle("dimensionality of condition-averaged activity", fontsize=9)
    return fig


def analysis_figures(result, net, folder: str | Path, *,
                     input_label: str | None = None) -> list[Path]:
    """Save every figure of a ``RunAnalysis`` as PNGs in ``folder``; returns their paths.

    ``input_label`` names the input the fixed points were found under (see
    ``fixed_points_pca``)."""
    from ..analysis import fractional_variance

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    tasks = result.tasks
    if result.clustering is not None:
        _save(silhouette_curve(result.clustering), folder / "silhouette.png", paths)
        _save(variance_matrix(result.clustering, tasks), folder / "variance_matrix.png", paths)
    if result.bias_variance is not None:
        _save(bias_variance(result.bias_variance, result.biases, result.task_variance, tasks),
              folder / "bias_variance.png", paths)
    if len(tasks) >= 2:
        ftv = fractional_variance(result.task_variance, 0, 1)
        _save(fractional_variance_hist(ftv, tasks[0], tasks[1]),
              folder / "fractional_variance.png", paths)
    if result.lesions is not None:
        _save(lesion_matrix(result.lesions), folder / "lesions.png", paths)
    _save(fixed_points_pca(result.fixed_points, result.trajectories, result.pca_all, net.phi,
                           input_label), folder / "fixed_points.png", paths)
    _save(jacobian_spectrum(result.jacobian_spectrum, result.spectrum_steps,
                            net.config.dt_ms, f"Jacobian spectrum along a {tasks[0]} trial"),
          folder / "jacobian_spectrum.png", paths)
    _save(population_dimensionality(result.pca_tasks), folder / "dimensionality.png", paths)
    return paths
