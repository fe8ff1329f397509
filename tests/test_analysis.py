"""Analyses against known answers: planted variances and clusters, scipy's Spearman, fixed points
of circuits whose fixed points are known, and the rule that analyses never change a circuit."""

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.metrics import adjusted_rand_score

from neurobias import CircuitConfig, RateRNN
from neurobias import analysis as A
from neurobias.envs import NeuroGymEnv


def _planted_rates(sigma_uc, n_trials_per=40, n_t=30, seed=0):
    """Rates whose variance across the trials of context c is exactly sigma[i, c]^2 at every
    step: r[t, k, i] = mu[t, i] + sigma[i, c_k] * z[k], z standardised within each context."""
    rng = np.random.default_rng(seed)
    n_u, n_c = sigma_uc.shape
    ctx = np.repeat(np.arange(n_c), n_trials_per)
    z = rng.standard_normal(len(ctx))
    for c in range(n_c):
        zc = z[ctx == c]
        z[ctx == c] = (zc - zc.mean()) / zc.std()
    mu = rng.standard_normal((n_t, 1, n_u))
    rates = mu + sigma_uc.T[ctx][None] * z[None, :, None]
    return rates, ctx


def test_planted_task_variance_is_recovered_exactly():
    sigma = np.random.default_rng(1).uniform(0, 2, size=(12, 4))
    rates, ctx = _planted_rates(sigma)
    tv = A.task_variance(rates, ctx)
    np.testing.assert_allclose(tv, sigma ** 2, rtol=1e-10, atol=1e-12)


def test_task_variance_window_drops_padding_and_fixation():
    sigma = np.full((5, 2), 0.5)
    rates, ctx = _planted_rates(sigma, n_t=20)
    start = np.full(len(ctx), 4)  # a "fixation epoch" of 4 steps with wild values
    end = np.where(ctx == 0, 15, 20)  # context 0 trials end early: padding afterwards
    rates = rates.copy()
    rates[:4] = np.random.default_rng(2).normal(0, 50, rates[:4].shape)
    rates[15:, ctx == 0] = 1e3
    tv = A.task_variance(rates, ctx, window_tb=A.epoch_window(start, end, 20))
    np.testing.assert_allclose(tv, 0.25, rtol=1e-10)
    assert not np.allclose(A.task_variance(rates, ctx), 0.25)  # the window matters


def test_task_variance_by_epoch_and_missing_epoch():
    sigma = np.array([[1.0, 2.0]])
    rates, ctx = _planted_rates(sigma, n_t=10)
    start = np.where(ctx == 0, 2, -1)  # the epoch exists in context 0 only
    out = A.task_variance_by_epoch(rates, ctx, {"stim": (start, np.full(len(ctx), 6))})
    assert out["stim"][0, 0] == pytest.approx(1.0)
    assert np.isnan(out["stim"][0, 1])


def test_fractional_variance_known_values():
    tv = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [3.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(A.fractional_variance(tv, 0, 1), [1, -1, 0, 0.5])


@pytest.mark.parametrize("bad, message", [
    (lambda r, c: (np.where(np.arange(r.size).reshape(r.shape) == 7, np.nan, r), c), "NaN"),
    (lambda r, c: (r, c[:-1]), "one per trial"),
    (lambda r, c: (r, np.where(c == 1, 5, c)), "fewer than two"),
])
def test_task_variance_bad_input(bad, message):
    rates, ctx = _planted_rates(np.ones((3, 2)), n_trials_per=4)
    if message == "fewer than two":  # context 5 has no trials; contexts 1..4 are empty
        r, c = bad(rates, ctx)
        with pytest.raises(ValueError, match="fewer than two"):
            A.task_variance(r, c, n_contexts=6)
        return
    r, c = bad(rates, ctx)
    with pytest.raises(ValueError, match=message):
        A.task_variance(r, c)


def _planted_clusters(seed=0, per=30, n_c=6):
    """Three groups of units, each varying in its own pair of contexts, plus silent units."""
    rng = np.random.default_rng(seed)
    groups = [(0, 1), (2, 3), (4, 5)]
    tv, truth = [], []
    for k, pair in enumerate(groups):
        base = rng.uniform(0, 0.05, size=(per, n_c))
        base[:, list(pair)] += rng.uniform(0.7, 1.0, size=(per, 2))
        tv.append(base * rng.uniform(0.01, 1.0, size=(per, 1)))  # scale differs per unit
        truth += [k] * per
    tv.append(np.full((10, n_c), 1e-5))  # below the threshold
    truth += [-1] * 10
    return np.concatenate(tv), np.array(truth)


def test_planted_clusters_are_recovered_and_ordered():
    tv, truth = _planted_clusters()
    clu = A.SelectivityClustering(seed=0).fit(tv)
    assert clu.n_clusters_ == 3
    kept = truth >= 0
    assert np.array_equal(clu.kept_, kept)
    assert adjusted_rand_score(truth[kept], clu.labels_[kept]) >= 0.95
    assert np.all(clu.labels_[~kept] == -1)
    # numbered by preferred context: the group of contexts (0, 1) is cluster 0, and so on
    assert list(clu.preferred_) == sorted(clu.preferred_)
    assert clu.silhouette_ == pytest.approx(clu.silhouette_scores_.max())
    assert set(clu.order_) == set(np.flatnonzero(kept))
    assert np.all(np.diff(clu.labels_[clu.order_]) >= 0)


def test_clustering_bad_input():
    tv, _ = _planted_clusters()
    with pytest.raises(ValueError, match="too few units"):
        A.SelectivityClustering(threshold=10.0).fit(tv)
    bad = tv.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        A.SelectivityClustering().fit(bad)
    with pytest.raises(ValueError, match="k_range"):
        A.SelectivityClustering(k_range=(1, 5))


def test_spearman_matches_scipy_and_the_null_separates():
    rng = np.random.default_rng(3)
    n_u, n_c = 60, 5
    tv = rng.uniform(0, 1, size=(n_u, n_c))
    biases = (np.log(tv) + 0.3 * rng.standard_normal((n_u, n_c))).T  # monotone + noise
    labels = np.repeat([0, 1, 2], 20)
    res = A.bias_variance_correlation(biases, tv, labels=labels, n_shuffles=300, seed=0)
    for c in range(n_c):
        ref = stats.spearmanr(biases[c], tv[:, c])
        assert res.rho_context[c] == pytest.approx(ref.statistic, abs=1e-12)
        assert res.p_context[c] == pytest.approx(ref.pvalue, rel=1e-9)
    for i in (0, 17, 59):
        assert res.rho_unit[i] == pytest.approx(stats.spearmanr(biases[:, i], tv[i]).statistic)
    for k in range(3):
        assert res.rho_cluster[k] == pytest.approx(np.mean(res.rho_unit[labels == k]))
    assert np.all(res.p_shuffle_context < 0.01) and np.all(res.p_shuffle_cluster < 0.01)
    # unrelated biases: the shuffled-unit null does not call them significant
    null = A.bias_variance_correlation(rng.standard_normal((n_c, n_u)), tv, labels=labels,
                                       n_shuffles=300, seed=0)
    assert np.median(null.p_shuffle_context) > 0.05
    with pytest.raises(ValueError, match="same circuit"):
        A.bias_variance_correlation(biases[:, :10], tv)


# ------------------------------------------------------------------------------ fixed points


def _linear_circuit(n=40, gain=0.5, seed=1):
    return RateRNN(CircuitConfig(n_units=n, activation="linear", gain=gain, bias_init_std=1.0,
                                 n_contexts=2), seed=seed)


def test_linear_circuit_fixed_point_is_found():
    net = _linear_circuit()
    eye = torch.eye(40, dtype=torch.float64)
    for c in (0, 1):
        fp = A.find_fixed_points(net, c, n_starts=32)
        truth = torch.linalg.solve(eye - net.W_rec.double(), net.biases[c].double())
        assert len(fp) == 1
        assert (fp.x[0] - truth).abs().max() < 1e-6
        # the spectrum is that of (W - I) / tau, and the point is stable (gain 0.5)
        lam = torch.linalg.eigvals(net.W_rec.double() - eye) / net.config.tau_ms
        assert torch.allclose(fp.eigenvalues[0].real.sort().values, lam.real.sort().values,
                              atol=1e-10)
        assert bool(fp.stable[0]) and bool(fp.stable_discrete[0])


def test_stability_continuous_versus_discrete():
    # W = diag(-2, 0.5, 1.5): lambda = (w - 1) / tau; the Euler map has 1 + dt lambda
    net = RateRNN(CircuitConfig(n_units=3, activation="linear", tau_ms=10.0, dt_ms=9.0,
                                bias_init_std=0.0), seed=0)
    net.W_rec.copy_(torch.diag(torch.tensor([-2.0, 0.5, 0.9])))
    fp = A.find_fixed_points(net, 0, n_starts=8)
    assert len(fp) == 1 and fp.x.abs().max() < 1e-9
    assert bool(fp.stable[0])  # every Re lambda < 0 ...
    assert not bool(fp.stable_discrete[0])  # ... but 1 + 9 * (-3 / 10) = -1.7: the map diverges
    net.W_rec.copy_(torch.diag(torch.tensor([0.5, 1.5, 0.9])))
    fp = A.find_fixed_points(net, 0, n_starts=8)
    assert not bool(fp.stable[0]) and not bool(fp.stable_discrete[0])


def _flip_flop(n_slaves=5):
    """Three self-exciting tanh units (x = 2 tanh x has stable roots +-1.915 and an unstable 0)
    driving a few weakly coupled units: 27 fixed points, the 8 corners stable."""
    n = 3 + n_slaves
    net = RateRNN(CircuitConfig(n_units=n, activation="tanh", bias_init_std=0.0), seed=0)
    w = torch.zeros(n, n)
    w[:3, :3] = 2.0 * torch.eye(3)
    w[3:] = 0.3 * torch.randn(n_slaves, n, generator=torch.Generator().manual_seed(0))
    w[:3, 3:] = 0.0
    net.W_rec.copy_(w)
    return net


def test_flip_flop_has_eight_stable_fixed_points():
    net = _flip_flop()
    starts = 2.0 * torch.randn(4000, net.n_units, generator=torch.Generator().manual_seed(1))
    fp = A.find_fixed_points(net, 0, states=starts, n_starts=512, noise_std=0.0)
    assert len(fp) == 27
    corners = fp.x[fp.stable][:, :3]
    assert len(corners) == 8
    assert torch.allclose(corners.abs(), torch.full_like(corners, 1.9150), atol=1e-3)
    assert len({tuple(s) for s in torch.sign(corners).int().tolist()}) == 8
    assert not fp.stable_discrete[~fp.stable].any()


def test_arpack_leading_eigenvalues_match_the_full_spectrum():
    net = RateRNN(CircuitConfig(n_units=120, gain=0.9, bias_init_std=0.5), seed=3)
    full = A.find_fixed_points(net, 0, n_starts=16)
    part = A.find_fixed_points(net, 0, n_starts=16, eig="arpack", n_eig=6)
    assert len(full) == len(part) >= 1
    assert torch.allclose(part.eigenvalues[0].real, full.eigenvalues[0, :6].real, atol=1e-8)
    assert torch.equal(part.stable, full.stable)
    assert torch.equal(part.stable_discrete, full.stable_discrete)


def test_deduplicate_keeps_the_lowest_q_of_each_group():
    x = torch.tensor([[0.0, 0.0], [1e-5, 0.0], [1.0, 1.0], [1.0, 1.0 + 1e-5]])
    q = torch.tensor([3.0, 1.0, 2.0, 5.0])
    assert sorted(A.deduplicate(x, q, 1e-3).tolist()) == [1, 2]


def test_fixed_point_bad_input():
    net = _linear_circuit()
    with pytest.raises(ValueError, match="'nope' does not exist: allowed: 'a', 'b'"):
        A.find_fixed_points(net, "nope", context_names=["a", "b"])
    with pytest.raises(ValueError, match="context 2 does not exist"):
        A.find_fixed_points(net, 2)
    with pytest.raises(ValueError, match="NaN"):
        A.find_fixed_points(net, 0, states=torch.full((4, 40), float("nan")))
    with pytest.raises(ValueError, match="eig="):
        A.find_fixed_points(net, 0, eig="lanczos")
    fp = A.find_fixed_points(net, "b", context_names=["a", "b"], n_starts=4)
    assert fp.context == 1


# ------------------------------------------------------------------------ population, lesions


def test_participation_ratio_and_pca_known_answers():
    assert A.participation_ratio([1, 1, 1, 1]) == pytest.approx(4)
    assert A.participation_ratio([1, 0, 0]) == pytest.approx(1)
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((20, 2)))[0].T  # a plane in 20 dimensions
    x = rng.standard_normal((500, 2)) * [3.0, 1.0] @ basis + 5.0
    p = A.pca(x, n_components=5)
    assert p.explained[:2].sum() == pytest.approx(1.0)
    assert abs(p.components[0] @ basis[0]) == pytest.approx(1.0, abs=1e-2)
    assert 1.0 < p.participation_ratio < 2.0
    means, levels = A.condition_average(np.arange(12.0).reshape(2, 3, 2), [0, 1, 0])
    assert list(levels) == [0, 1]
    np.testing.assert_allclose(means[0, 0], [2.0, 3.0])


def test_jacobian_spectrum_matches_the_circuit_jacobian():
    net = RateRNN(CircuitConfig(n_units=30, gain=1.5, bias_init_std=0.5), seed=0)
    x = torch.randn(5, 30, generator=torch.Generator().manual_seed(0))
    spec = A.jacobian_spectrum(net, x, 0)
    ref = torch.linalg.eigvals(net.jacobian(x.double(), torch.zeros(5, 1), 0).double())
    for t in range(5):
        assert torch.allclose(spec[t].real.sort().values, ref[t].real.sort().values, atol=1e-10)


def test_silencing_units_clamps_their_rates():
    net = RateRNN(CircuitConfig(n_units=20, gain=1.5, bias_init_std=0.5, n_outputs=2), seed=0)
    u = torch.randn(15, 3, 1)
    silence = torch.zeros(20, dtype=torch.bool)
    silence[:5] = True
    out = net(u, 0, silence=silence)
    assert torch.all(out.rates[:, :, :5] == 0)
    assert torch.allclose(net(u, 0, silence=torch.zeros(20, dtype=torch.bool)).outputs,
                          net(u, 0).outputs)
    everything = net(u, 0, silence=torch.ones(20, dtype=torch.bool))
    assert torch.equal(everything.outputs, net.b_out.expand(15, 3, 2))
    with pytest.raises(ValueError, match="bool tensor of shape"):
        net(u, 0, silence=torch.zeros(19, dtype=torch.bool))


def _snapshot(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}, net.training


@pytest.fixture(scope="module")
def small_env():
    return NeuroGymEnv(tasks=["PerceptualDecisionMaking-v0", "GoNogo-v0"], eval_trials=16)


def test_lesions_and_analyses_leave_the_circuit_unchanged(small_env):
    env = small_env
    net = RateRNN(CircuitConfig(n_units=24, n_inputs=env.n_inputs, n_outputs=env.n_outputs,
                                n_contexts=2, gain=1.0), seed=0)
    net.train()  # analyses must not even switch the mode
    before, mode = _snapshot(net)
    labels = np.repeat([0, 1, -1], 8)
    res = A.lesion_clusters(net.eval(), env, labels)
    net.train()
    assert res.groups == ["intact", "cluster 0", "cluster 1"]
    assert list(res.n_silenced) == [0, 8, 8]
    from neurobias.seeding import generator

    intact = env.evaluate(net.eval(), generator(0, "eval"))
    net.train()
    assert res.accuracy[0].tolist() == [intact[f"accuracy/{t}"] for t in env.task_names]
    A.find_fixed_points(net, 1, n_starts=8, max_iters=50)
    A.find_fixed_points(net, 0, n_starts=4, max_iters=20, eig="arpack", n_eig=3)
    A.jacobian_spectrum(net, torch.randn(3, 24), 0)
    after, mode_after = _snapshot(net)
    assert mode_after == mode
    for k in before:
        assert torch.equal(before[k], after[k]), k
