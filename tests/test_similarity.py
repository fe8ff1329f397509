"""Similarity measures against known answers and against scipy and rsatoolbox."""

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial

from neurobias.analysis import (
    SimilarityError,
    compare_activity,
    linear_cka,
    mean_cca,
    procrustes_distance,
    rsa,
    unit_variance_correlation,
)


def _low_rank(rng, n=400, d=12, k=4):
    """Structured activity: k latent signals mixed into d units, (samples, d)."""
    return np.tanh(rng.normal(size=(n, k))) @ rng.normal(size=(k, d)) + 0.05 * rng.normal(
        size=(n, d))


def _rotation(rng, d):
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q


def test_rotation_scaling_and_offset_leave_every_measure_at_identity():
    rng = np.random.default_rng(0)
    a = _low_rank(rng)
    b = 3.7 * a @ _rotation(rng, 12) + 5.0  # rotate (and reflect), scale, shift
    assert procrustes_distance(a, b) == pytest.approx(0.0, abs=1e-6)
    assert linear_cka(a, b) == pytest.approx(1.0, abs=1e-12)
    assert mean_cca(a, b, n_components=4) == pytest.approx(1.0, abs=1e-9)
    # fewer units in b (a projection that keeps all the variance): still the same shape
    u, s, vt = np.linalg.svd(a - a.mean(0), full_matrices=False)
    b_small = (a - a.mean(0)) @ vt[:8].T @ _rotation(rng, 8)
    assert procrustes_distance(a, b_small) < 0.02
    # the paper's measure: each unit's variance scaled by the same factor
    assert unit_variance_correlation(a, 2.0 * a + 1.0) == pytest.approx(1.0)


def test_independent_random_sets_are_near_maximally_distant():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5000, 10))
    b = rng.normal(size=(5000, 10))
    # unit-norm centered sets with n >> d: the nuclear norm of A^T B is about d / sqrt(n)
    assert procrustes_distance(a, b) > np.pi / 2 - 0.2
    assert linear_cka(a, b) < 0.01
    assert mean_cca(a, b) < 0.05
    assert abs(unit_variance_correlation(a, b)) < 0.8  # only 10 units: a loose bound
    # and they order correctly: a noisy copy is closer than an independent set
    c = a + 0.5 * rng.normal(size=a.shape)
    assert procrustes_distance(a, c) < procrustes_distance(a, b)
    assert linear_cka(a, c) > 0.5


def test_procrustes_equals_scipy_orthogonal_procrustes():
    rng = np.random.default_rng(2)
    a = _low_rank(rng, n=200, d=6)
    b = a @ _rotation(rng, 6) + 0.3 * rng.normal(size=a.shape)
    # scipy's orthogonal Procrustes on centered, unit-norm sets: its scale is the nuclear norm
    # of A^T B, the cosine of the angular distance
    x = (a - a.mean(0)) / np.linalg.norm(a - a.mean(0))
    y = (b - b.mean(0)) / np.linalg.norm(b - b.mean(0))
    r, scale = scipy.linalg.orthogonal_procrustes(x, y)
    assert procrustes_distance(a, b) == pytest.approx(np.arccos(scale), rel=1e-10)
    assert np.cos(procrustes_distance(a, b)) == pytest.approx(np.trace(x.T @ y @ r.T),
                                                              rel=1e-10)
    # scipy.spatial.procrustes' disparity (same centering and scaling) is sin^2 of the angle
    _, _, disparity = scipy.spatial.procrustes(a, b)
    assert disparity == pytest.approx(np.sin(procrustes_distance(a, b)) ** 2, rel=1e-8)


@pytest.mark.parametrize("metric", ["correlation", "euclidean"])
def test_rsa_equals_rsatoolbox(metric):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm, compare

    rng = np.random.default_rng(3)
    a = rng.normal(size=(40, 9))
    b = np.tanh(a @ rng.normal(size=(9, 15))) + 0.5 * rng.normal(size=(40, 15))
    expected = compare(calc_rdm(Dataset(a), method=metric), calc_rdm(Dataset(b), method=metric),
                       method="corr")
    assert rsa(a, b, metric) == pytest.approx(float(expected[0, 0]), abs=1e-10)
    assert rsatoolbox is not None


def test_leading_axes_are_matched_sample_for_sample():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(20, 6, 5))  # (time, condition, unit)
    flat = compare_activity(a, a[..., ::-1])  # the same units, permuted: the same shape
    assert flat.procrustes == pytest.approx(0.0, abs=1e-6) and flat.n_samples == 120
    with pytest.raises(SimilarityError, match="not matched"):
        linear_cka(a, a[:, :5])
    with pytest.raises(SimilarityError, match="same units"):
        unit_variance_correlation(a, a[..., :4])
    assert np.isnan(compare_activity(a, a[..., :4]).unit_variance_r)
    # shuffling the conditions of one set breaks the match: the measures see it
    assert compare_activity(a, a[:, ::-1]).cka < 0.5
