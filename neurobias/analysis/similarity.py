"""Similarity of two sets of activity matched on conditions and time.

Every function takes two arrays ``a`` and ``b`` of shape (..., units): the leading axes (e.g.
(time, condition), or samples) must be equal in both, sample for sample (the same condition at
the same time); the unit counts may differ, except for ``unit_variance_correlation``, which
compares the same units. The leading axes are flattened into samples (rows).

* ``procrustes_distance``: angular Procrustes shape distance (Williams, Kunz, Kornblith and
  Linderman 2021, "Generalized shape metrics on neural representations"), in [0, pi/2]; 0 when
  one set is a rotation, reflection and scaling of the other (after centering).
* ``linear_cka``: linear centered kernel alignment (Kornblith, Norouzi, Lee and Hinton 2019),
  in [0, 1]; 1 under rotation and isotropic scaling.
* ``mean_cca``: mean canonical correlation between the top principal components of each set
  (SVCCA; Raghu, Gilmer, Yosinski and Sohl-Dickstein 2017), in [0, 1].
* ``rsa``: representational similarity analysis (Kriegeskorte, Mur and Bandettini 2008): the
  Pearson correlation of the two representational dissimilarity matrices (RDMs) over samples.
* ``unit_variance_correlation``: Pearson correlation over units of each unit's variance, the
  comparison of bias and mask solutions of Williams et al. (2025).
* ``compare_activity``: all of them at once (``Similarity``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["procrustes_distance", "linear_cka", "mean_cca", "rsa", "rdm",
           "unit_variance_correlation", "compare_activity", "Similarity", "SimilarityError"]


class SimilarityError(ValueError):
    """The two activity sets cannot be compared (shapes differ, too few samples, ...)."""


def _pair(a, b, same_units: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Both sets as float64 (samples, units), checked to be matched."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim < 2 or b.ndim < 2:
        raise SimilarityError(f"activity must be (..., units): got shapes {a.shape} and "
                              f"{b.shape}")
    if a.shape[:-1] != b.shape[:-1]:
        raise SimilarityError(f"the two sets are not matched: leading shapes {a.shape[:-1]} "
                              f"and {b.shape[:-1]} differ (they must hold the same conditions "
                              "and time steps)")
    if same_units and a.shape[-1] != b.shape[-1]:
        raise SimilarityError(f"the two sets have {a.shape[-1]} and {b.shape[-1]} units: this "
                              "comparison needs the same units in both")
    a = a.reshape(-1, a.shape[-1])
    b = b.reshape(-1, b.shape[-1])
    if len(a) < 2:
        raise SimilarityError("at least 2 samples are needed")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise SimilarityError("the activity holds NaN or Inf")
    return a, b


def _center(x: np.ndarray) -> np.ndarray:
    return x - x.mean(0, keepdims=True)


def procrustes_distance(a, b) -> float:
    """Angular Procrustes shape distance (Williams et al. 2021).

    Both sets are centered (over samples) and scaled to unit Frobenius norm; the set with fewer
    units is zero-padded. The distance is ``arccos(max_Q tr(A^T B Q))`` over orthogonal Q,
    i.e. ``arccos`` of the nuclear norm of ``A^T B``.

    Args:
        a: (..., units_a) activity.
        b: (..., units_b) activity matched to ``a`` on the leading axes.

    Returns:
        The distance in radians, in [0, pi/2]: 0 when ``b`` is a rotation/reflection and
        scaling of ``a`` (plus a constant offset); near pi/2 for unrelated sets.
    """
    a, b = _pair(a, b)
    a, b = _center(a), _center(b)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        raise SimilarityError("a set is constant over samples: its shape is undefined")
    s = np.linalg.svd((a / na).T @ (b / nb), compute_uv=False)
    return float(np.arccos(np.clip(s.sum(), -1.0, 1.0)))


def linear_cka(a, b) -> float:
    """Linear centered kernel alignment (Kornblith et al. 2019).

    ``||B^T A||_F^2 / (||A^T A||_F ||B^T B||_F)`` on centered sets.

    Returns:
        CKA in [0, 1]: 1 under rotation and isotropic scaling; near 0 for unrelated sets with
        many more samples than units.
    """
    a, b = _pair(a, b)
    a, b = _center(a), _center(b)
    den = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    if den == 0:
        raise SimilarityError("a set is constant over samples: CKA is undefined")
    return float(np.linalg.norm(b.T @ a) ** 2 / den)


def _top_pcs(x: np.ndarray, k: int) -> np.ndarray:
    """Orthonormal basis (samples, k') of the top-k principal component scores."""
    u, s, _ = np.linalg.svd(_center(x), full_matrices=False)
    keep = s > s[0] * 1e-10 if len(s) and s[0] > 0 else np.zeros(len(s), bool)
    return u[:, :k][:, keep[:k]]


def mean_cca(a, b, n_components: int = 10) -> float:
    """Mean canonical correlation between the top principal components of each set.

    Each set is reduced to its top ``n_components`` principal components (fewer if it has
    fewer units or a lower rank); the canonical correlations of the two reduced sets are the
    singular values of ``Qa^T Qb`` for orthonormal bases Qa, Qb of their (centered) scores.

    Returns:
        The mean of the min(k_a, k_b) canonical correlations, in [0, 1].
    """
    if not (isinstance(n_components, int) and n_components >= 1):
        raise SimilarityError(f"n_components={n_components!r} is invalid: must be an integer "
                              ">= 1")
    a, b = _pair(a, b)
    qa, qb = _top_pcs(a, n_components), _top_pcs(b, n_components)
    if not qa.shape[1] or not qb.shape[1]:
        raise SimilarityError("a set is constant over samples: CCA is undefined")
    s = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return float(np.clip(s, 0.0, 1.0).mean())


def rdm(x, metric: str = "correlation") -> np.ndarray:
    """Representational dissimilarity matrix over samples (rows of ``x``).

    Args:
        x: (..., units) activity; the leading axes are flattened into samples.
        metric: "correlation" (1 - Pearson r between two samples' unit patterns) or
            "euclidean" (squared Euclidean distance divided by the number of units; rsatoolbox's
            convention).

    Returns:
        (samples, samples) symmetric, zero on the diagonal.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x.reshape(-1, x.shape[-1])
    if metric == "correlation":
        z = x - x.mean(1, keepdims=True)
        norm = np.linalg.norm(z, axis=1, keepdims=True)
        if (norm == 0).any():
            raise SimilarityError("a sample has the same value in every unit: its correlation "
                                  "with others is undefined (use metric='euclidean')")
        z = z / norm
        d = 1.0 - z @ z.T
    elif metric == "euclidean":
        sq = (x ** 2).sum(1)
        d = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0) / x.shape[1]
    else:
        raise SimilarityError(f"metric={metric!r} is invalid: allowed: correlation, euclidean")
    np.fill_diagonal(d, 0.0)
    return d


def rsa(a, b, metric: str = "correlation") -> float:
    """Pearson correlation of the upper triangles of the two sets' RDMs (``rdm``).

    Returns:
        r in [-1, 1]: 1 when the two sets order and space their samples alike.
    """
    a, b = _pair(a, b)
    iu = np.triu_indices(len(a), k=1)
    da, db = rdm(a, metric)[iu], rdm(b, metric)[iu]
    da, db = da - da.mean(), db - db.mean()
    den = np.linalg.norm(da) * np.linalg.norm(db)
    if den == 0:
        raise SimilarityError("an RDM is constant: RSA is undefined")
    return float(da @ db / den)


def unit_variance_correlation(a, b) -> float:
    """Pearson r over units between each unit's variance (over samples) in ``a`` and in ``b``.

    The comparison Williams et al. (2025) make between the bias and mask solutions of one
    circuit: the same units, two solutions. Units are matched by index.
    """
    a, b = _pair(a, b, same_units=True)
    va, vb = a.var(0), b.var(0)
    va, vb = va - va.mean(), vb - vb.mean()
    den = np.linalg.norm(va) * np.linalg.norm(vb)
    if den == 0:
        raise SimilarityError("every unit has the same variance in one set: the correlation "
                              "is undefined")
    return float(va @ vb / den)


@dataclass(frozen=True)
class Similarity:
    """Every measure of ``compare_activity`` for one pair of sets (NaN where undefined)."""

    procrustes: float  # angular shape distance, radians, [0, pi/2]; 0: same shape
    cka: float  # linear CKA, [0, 1]; 1: same
    cca: float  # mean canonical correlation of the top PCs, [0, 1]; 1: same
    rsa: float  # Pearson r of the RDMs, [-1, 1]; 1: same
    unit_variance_r: float  # Pearson r of unit variances (same units only), [-1, 1]
    n_samples: int
    n_units: tuple[int, int]

    def as_dict(self) -> dict:
        return asdict(self)


def compare_activity(a, b, n_components: int = 10, rsa_metric: str = "correlation",
               max_rsa_samples: int = 2000) -> Similarity:
    """All the measures for one pair of matched sets.

    Args:
        a: (..., units) activity.
        b: (..., units) activity matched with ``a`` on the leading axes.
        n_components: principal components per set for ``mean_cca``.
        rsa_metric: RDM metric for ``rsa``.
        max_rsa_samples: RSA on at most this many samples, evenly spaced (the RDMs are
            samples^2).

    Returns:
        A ``Similarity``; ``unit_variance_r`` is NaN when the unit counts differ.
    """
    x, y = _pair(a, b)
    step = max(1, int(np.ceil(len(x) / max_rsa_samples)))

    def maybe(fn, *args):
        try:
            return fn(*args)
        except SimilarityError:
            return float("nan")

    return Similarity(
        procrustes=maybe(procrustes_distance, x, y), cka=maybe(linear_cka, x, y),
        cca=maybe(mean_cca, x, y, n_components),
        rsa=maybe(rsa, x[::step], y[::step], rsa_metric),
        unit_variance_r=(maybe(unit_variance_correlation, x, y) if x.shape[1] == y.shape[1]
                         else float("nan")),
        n_samples=len(x), n_units=(x.shape[1], y.shape[1]))
