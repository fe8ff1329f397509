"""Does a unit's tonic input for a task predict how much it varies in that task?

A circuit that learns only its per-task tonic inputs b[c] (Williams et al., ICLR 2025) can only
select, for each task, which units sit in their responsive range. The paper's Fig. 1C (bottom)
relates each unit's learned bias in a task to its task variance there. This module measures
that relation with Spearman rank correlations, two ways:

* per context, over units: rho_c = spearman(b[c, :], TV[:, c]);
* per unit, over contexts: rho_i = spearman(b[:, i], TV[i, :]), then averaged within each
  selectivity cluster.

Each comes with a null made by shuffling units: pairing one unit's biases with another unit's
task variances keeps both marginal distributions and destroys only the pairing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .variance import as_array, check_finite

__all__ = ["BiasVariance", "bias_variance_correlation", "spearman"]


def _ranks(x: np.ndarray, axis: int) -> np.ndarray:
    from scipy import stats  # imported when used: scipy.stats takes most of a second

    return stats.rankdata(x, axis=axis)


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching rows of a and b (..., n); NaN where a row is constant."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(-1) / np.where(den > 0, den, 1), np.nan)


def spearman(x, y) -> tuple[float, float]:
    """Spearman's rank correlation of two 1-D samples and its two-sided p-value (scipy)."""
    x = as_array(x, "x", 1)
    y = as_array(y, "y", 1)
    if x.shape != y.shape or len(x) < 3:
        raise ValueError(f"spearman needs two samples of the same length >= 3, got {x.shape} "
                         f"and {y.shape}")
    from scipy import stats

    res = stats.spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


@dataclass
class BiasVariance:
    """Result of ``bias_variance_correlation``.

    Attributes:
        rho_context: (context,) Spearman rho over units between b[c] and TV[:, c].
        p_context: (context,) its two-sided p-value (scipy's t approximation).
        p_shuffle_context: (context,) p-value against the shuffled-unit null.
        rho_unit: (unit,) Spearman rho over contexts between b[:, i] and TV[i, :] (NaN for
            units left out or with a constant profile).
        rho_cluster: (cluster,) mean rho_unit within each cluster (only with labels).
        p_shuffle_cluster: (cluster,) two-sided p-value of rho_cluster against the
            shuffled-unit null.
        n_cluster: (cluster,) units per cluster.
        units: (unit,) bool, the units used.
        n_shuffles: size of the null.
    """

    rho_context: np.ndarray
    p_context: np.ndarray
    p_shuffle_context: np.ndarray
    rho_unit: np.ndarray
    rho_cluster: np.ndarray
    p_shuffle_cluster: np.ndarray
    n_cluster: np.ndarray
    units: np.ndarray
    n_shuffles: int


def _p_two_sided(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """(1 + #{|null| >= |observed|}) / (1 + n) per column of null (n, k)."""
    hits = (np.abs(null) >= np.abs(observed)[None, :] - 1e-12).sum(0)
    return (1 + hits) / (1 + len(null))


def bias_variance_correlation(biases_cu, tv_uc, labels=None, units=None,
                              n_shuffles: int = 1000, seed: int = 0) -> BiasVariance:
    """Rank correlation between learned tonic inputs and task variance.

    Args:
        biases_cu: (context, unit) learned tonic inputs (``RateRNN.biases``).
        tv_uc: (unit, context) task variance (``task_variance``).
        labels: optional (unit,) cluster labels (-1: not clustered) for per-cluster means.
        units: optional (unit,) bool, the units to use (default: those with a label >= 0 when
            labels are given, else all).
        n_shuffles: size of the shuffled-unit null (0: no null, p_shuffle_* are NaN).
        seed: seed of the shuffles.

    Returns:
        BiasVariance.
    """
    b = as_array(biases_cu, "biases_cu", 2)
    tv = as_array(tv_uc, "tv_uc", 2)
    check_finite(b, "biases_cu")
    check_finite(tv, "tv_uc")
    if b.shape != tv.T.shape:
        raise ValueError(f"biases_cu {b.shape} must be (context, unit) and tv_uc {tv.shape} "
                         "(unit, context) of the same circuit")
    n_u, n_c = tv.shape
    lab = None if labels is None else as_array(labels, "labels", 1, np.int64)
    if lab is not None and lab.shape != (n_u,):
        raise ValueError(f"labels has shape {lab.shape}: expected ({n_u},)")
    if units is None:
        use = lab >= 0 if lab is not None else np.ones(n_u, bool)
    else:
        use = as_array(units, "units", 1, bool)
    if use.sum() < 3:
        raise ValueError(f"only {int(use.sum())} units to correlate: need at least 3")
    bu, tvu = b[:, use].T, tv[use]  # (used unit, context)
    rank_b_units = _ranks(bu, 0)  # ranks over units, per context
    rank_t_units = _ranks(tvu, 0)
    rho_context = _pearson_rows(rank_b_units.T, rank_t_units.T)
    p_context = np.array([spearman(bu[:, c], tvu[:, c])[1] if np.isfinite(rho_context[c])
                          else np.nan for c in range(n_c)])
    rank_b_ctx = _ranks(bu, 1)  # ranks over contexts, per unit
    rank_t_ctx = _ranks(tvu, 1)
    rho_u = _pearson_rows(rank_b_ctx, rank_t_ctx) if n_c >= 3 else np.full(len(bu), np.nan)
    rho_unit = np.full(n_u, np.nan)
    rho_unit[use] = rho_u
    clusters = np.unique(lab[use & (lab >= 0)]) if lab is not None else np.array([], int)
    lab_u = lab[use] if lab is not None else None

    def cluster_means(r: np.ndarray) -> np.ndarray:
        return np.array([np.nanmean(r[lab_u == k]) if np.isfinite(r[lab_u == k]).any()
                         else np.nan for k in clusters])

    rho_cluster = cluster_means(rho_u) if len(clusters) else np.array([])
    n_cluster = np.array([int((lab_u == k).sum()) for k in clusters])
    p_ctx_null = np.full(n_c, np.nan)
    p_clu_null = np.full(len(clusters), np.nan)
    if n_shuffles > 0:
        rng = np.random.default_rng(seed)
        null_ctx = np.empty((n_shuffles, n_c))
        null_clu = np.empty((n_shuffles, len(clusters)))
        for s in range(n_shuffles):
            perm = rng.permutation(len(bu))
            null_ctx[s] = _pearson_rows(rank_b_units[perm].T, rank_t_units.T)
            if len(clusters) and n_c >= 3:
                null_clu[s] = cluster_means(_pearson_rows(rank_b_ctx[perm], rank_t_ctx))
        p_ctx_null = _p_two_sided(np.nan_to_num(rho_context), np.nan_to_num(null_ctx))
        if len(clusters) and n_c >= 3:
            p_clu_null = _p_two_sided(np.nan_to_num(rho_cluster), np.nan_to_num(null_clu))
    return BiasVariance(rho_context, p_context, p_ctx_null, rho_unit, rho_cluster, p_clu_null,
                        n_cluster, use, n_shuffles)
