"""find_fixed_points: what it returns (q, inputs, starts, timings, slow points, the cap on
points, masks) and its bad-input messages, against answers computed by hand."""

import numpy as np
import pytest
import torch

from neurobias import CircuitConfig, RateRNN
from neurobias import analysis as A
from neurobias.analysis.fixed_points import resolve_context


def _linear(n=12, n_inputs=2, gain=0.5, seed=1, **kw):
    return RateRNN(CircuitConfig(n_units=n, n_inputs=n_inputs, activation="linear", gain=gain,
                                 bias_init_std=1.0, n_contexts=2, **kw), seed=seed)


def _speed(net, x, u, c):
    """q = 1/2 ||tau F(x)||^2 written out for a linear circuit, float64."""
    w, w_in, b = net.W_rec.double(), net.W_in.double(), net.biases[c].double()
    g = -x + x @ w.T + u @ w_in.T + b
    return 0.5 * (g * g).sum(-1)


def test_fixed_point_under_an_input_with_its_speed_starts_and_timings():
    net = _linear()
    u = torch.tensor([0.7, -1.3], dtype=torch.float64)
    fp = A.find_fixed_points(net, 1, inputs=u, n_starts=16, max_iters=500)
    eye = torch.eye(12, dtype=torch.float64)
    truth = torch.linalg.solve(eye - net.W_rec.double(),
                               net.W_in.double() @ u + net.biases[1].double())
    assert len(fp) == 1 and (fp.x[0] - truth).abs().max() < 1e-6
    torch.testing.assert_close(fp.q, _speed(net, fp.x, u, 1), rtol=1e-6, atol=1e-20)
    assert fp.q[0] < 1e-12 and not fp.slow.any()
    assert torch.equal(fp.inputs, u) and fp.context == 1 and fp.n_starts == 16
    assert 1 <= fp.iterations <= 500
    assert set(fp.seconds) == {"descent", "dedup", "newton", "eig"}
    assert all(0 <= s < 60 for s in fp.seconds.values())
    # eigenvalues sorted by decreasing real part
    re = fp.eigenvalues[0].real
    assert torch.all(re[:-1] >= re[1:])


def test_no_eigenvalues_means_unknown_stability():
    fp = A.find_fixed_points(_linear(), 0, n_starts=8, eig="none")
    assert len(fp) == 1
    assert fp.eigenvalues.shape == (1, 0) and fp.eigenvalues.dtype == torch.complex128
    assert fp.stable.dtype == torch.bool and fp.stable_discrete.dtype == torch.bool
    assert fp.stable.tolist() == [False] and fp.stable_discrete.tolist() == [False]


def test_slow_points_are_kept_only_when_asked_and_flagged():
    net = _linear()
    starts = 3.0 * torch.randn(6, 12, generator=torch.Generator().manual_seed(0),
                               dtype=torch.float64)
    kw = dict(states=starts, n_starts=None, noise_std=0.0, max_iters=0, newton_iters=0,
              slow_tol=1e9, dedup_tol=1e-6)
    fp = A.find_fixed_points(net, 0, keep_slow=True, **kw)
    # no descent and no Newton: the six starts come back, sorted by q, all slow
    assert fp.n_starts == 6 and len(fp) == 6 and fp.slow.all()
    expected = _speed(net, starts, torch.zeros(2, dtype=torch.float64), 0)
    torch.testing.assert_close(fp.q, expected.sort().values)
    torch.testing.assert_close(fp.x, starts[expected.argsort()])
    assert len(A.find_fixed_points(net, 0, keep_slow=False, **kw)) == 0
    # a tolerance above every q makes them all fixed points
    big = A.find_fixed_points(net, 0, keep_slow=False, tol=1e9, **kw)
    assert len(big) == 6 and not big.slow.any()
    # the same seed gives the same starts; noise of std 0.5 is added to each given state
    noisy = [A.find_fixed_points(net, 0, keep_slow=True, **{**kw, "noise_std": 0.5}, seed=3)
             for _ in range(2)]
    assert torch.equal(noisy[0].x, noisy[1].x)
    d = noisy[0].x[:, None] - starts[None]
    nearest = d[torch.arange(6), (d ** 2).sum(-1).argmin(1)]
    assert nearest.std().item() == pytest.approx(0.5, rel=0.25)


def test_default_starts_come_from_the_circuits_own_trajectories():
    net = _linear(n=20, seed=2)
    fp = A.find_fixed_points(net, 0, n_starts=None, max_iters=0, newton_iters=0, keep_slow=True,
                             slow_tol=1e9, dedup_tol=1e-9)
    # 256 trajectories from x0 plus unit noise, their states at steps 10, 20, ..., 100
    assert fp.n_starts == 256 * 10
    truth = torch.linalg.solve(torch.eye(20, dtype=torch.float64) - net.W_rec.double(),
                               net.biases[0].double())
    dist = (fp.x - truth).norm(dim=1)
    assert torch.isfinite(fp.x).all()
    # after at least 10 Euler steps of a stable circuit the states are nearer the fixed point
    # than the unit-noise starts (about sqrt(20) + |truth| away)
    assert dist.max() < 0.9 * (20 ** 0.5)


def test_max_points_keeps_the_lowest_q():
    from test_analysis import _flip_flop

    net = _flip_flop()
    starts = 2.0 * torch.randn(2000, net.n_units, generator=torch.Generator().manual_seed(1))
    full = A.find_fixed_points(net, 0, states=starts, n_starts=256, noise_std=0.0, keep_slow=True)
    part = A.find_fixed_points(net, 0, states=starts, n_starts=256, noise_std=0.0, keep_slow=True,
                               max_points=5)
    assert len(full) > 5 and len(part) == 5
    torch.testing.assert_close(part.q, full.q[:5])
    assert torch.all(full.q[:-1] <= full.q[1:])


def test_mask_mode_uses_each_contexts_hard_mask():
    n = 6
    net = RateRNN(CircuitConfig(n_units=n, activation="linear", gain=0.8, bias_init_std=1.0,
                                n_contexts=2, mode="mask"), seed=4)
    logits = torch.tensor([[-1.0, 0.0, 0.5, 2.0, 1e-3, 3.0],
                           [1.0, 1.0, -0.5, 0.0, 2.0, 0.7]])
    with torch.no_grad():
        net.mask_logits.copy_(logits)
    net.train()  # the fixed points use the evaluation (hard) mask whatever the mode
    eye = torch.eye(n, dtype=torch.float64)
    for c in (0, 1):
        m = (logits[c] > 0).double()  # 0 counts as off, 0.5 and 1e-3 as on
        j = net.W_rec.double() * m[None, :] - eye  # tau dF/dx
        fp = A.find_fixed_points(net, c, n_starts=8)
        truth = torch.linalg.solve(-j, net.biases[c].double())
        assert len(fp) == 1 and (fp.x[0] - truth).abs().max() < 1e-8
        lam = torch.linalg.eigvals(j) / net.config.tau_ms
        torch.testing.assert_close(fp.eigenvalues[0].real.sort().values, lam.real.sort().values)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_starts": 0}, "n_starts=0 is invalid: must be an integer >= 1 or None"),
    ({"n_starts": 2.0}, "n_starts=2.0 is invalid: must be an integer >= 1 or None"),
    ({"max_points": 0}, "max_points=0 is invalid: must be an integer >= 1 or None"),
    ({"max_points": 1.5}, "max_points=1.5 is invalid: must be an integer >= 1 or None"),
    ({"max_iters": -1}, "max_iters=-1 is invalid: must be an integer >= 0"),
    ({"max_iters": 10.0}, "max_iters=10.0 is invalid: must be an integer >= 0"),
    ({"newton_iters": -1}, "newton_iters=-1 is invalid: must be an integer >= 0"),
    ({"n_eig": 0}, "n_eig=0 is invalid: must be an integer >= 1"),
    ({"tol": 0.0}, "tol=0.0 is invalid: must be > 0"),
    ({"slow_tol": -1.0}, "slow_tol=-1.0 is invalid: must be > 0"),
    ({"lr": 0}, "lr=0 is invalid: must be > 0"),
    ({"descent_tol": 0.0}, "descent_tol=0.0 is invalid: must be > 0"),
    ({"dedup_tol": 0.0}, "dedup_tol=0.0 is invalid: must be > 0"),
    ({"eig": "lanczos"}, "eig='lanczos' is invalid: allowed: full, arpack, none"),
    ({"eig": "arpack", "n_eig": 11},
     r"n_eig=11 is invalid with eig='arpack': must be < n_units - 1 = 11 \(use eig='full'\)"),
    ({"inputs": torch.zeros(3)}, r"inputs must be 2 finite numbers, got shape \(3,\)"),
    ({"inputs": torch.tensor([0.0, float("nan")])},
     r"inputs must be 2 finite numbers, got shape \(2,\)"),
    ({"states": torch.zeros(0, 12)}, "states is empty: give at least one circuit state"),
    ({"states": torch.full((2, 12), float("inf"))},
     "states hold NaN or infinite values: give finite circuit states"),
])
def test_bad_settings_are_named_with_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        A.find_fixed_points(_linear(), 0, **kwargs)


def test_boundary_settings_are_accepted():
    net = _linear()
    assert len(A.find_fixed_points(net, 0, n_starts=1, max_points=1, max_iters=0,
                                   newton_iters=20, keep_slow=True, slow_tol=1e9)) == 1
    # n_eig = n_units - 2 is the most ARPACK computes
    fp = A.find_fixed_points(net, 0, n_starts=4, eig="arpack", n_eig=10)
    assert fp.eigenvalues.shape == (1, 10)
    full = A.find_fixed_points(net, 0, n_starts=4)
    torch.testing.assert_close(fp.eigenvalues[0].real, full.eigenvalues[0, :10].real)
    assert torch.equal(fp.stable, full.stable)


@pytest.mark.parametrize("context, names, message", [
    (2, None, r"^context 2 does not exist: allowed: 0\.\.1$"),
    (-1, None, r"^context -1 does not exist: allowed: 0\.\.1$"),
    ("a", None, r"^context 'a' does not exist: allowed: indices 0\.\.1$"),
    ("c", ["a", "b"], r"^context 'c' does not exist: allowed: 'a', 'b'$"),
    (True, None, r"^context=True is invalid: give a context index or name$"),
    (1.0, None, r"^context=1.0 is invalid: give a context index or name$"),
])
def test_resolve_context_messages(context, names, message):
    with pytest.raises(ValueError, match=message):
        resolve_context(context, 2, names)


def test_resolve_context_accepts_numpy_integers_and_names():
    assert resolve_context(np.int64(1), 2) == 1
    assert resolve_context("b", 2, ("a", "b")) == 1
    assert resolve_context(0, 2) == 0


def test_deduplicate_measures_root_mean_square_distance():
    # two points 0.05 apart in each of 100 units: rms distance 0.05 (Euclidean 0.5)
    x = torch.zeros(2, 100)
    x[1] += 0.05
    q = torch.tensor([1.0, 2.0])
    assert A.deduplicate(x, q, 0.06).tolist() == [0]
    assert sorted(A.deduplicate(x, q, 0.04).tolist()) == [0, 1]
    # exactly at the tolerance counts as the same point
    y = torch.tensor([[0.0], [0.5]])
    assert A.deduplicate(y, q, 0.5).tolist() == [0]
    assert A.deduplicate(x[:0], q[:0], 0.1).dtype == torch.long


def test_newton_backtracks_when_the_full_step_overshoots():
    """One tanh unit with self-weight 2: x* = 2 tanh(x*) at 1.91501. From x = 1, where the
    slope of F is nearly flat, the full Newton step lands at 4.27 and raises q; halving it twice
    lands at 1.82 and lowers q. Without descent, only the backtracking Newton reaches x*."""
    net = RateRNN(CircuitConfig(n_units=1, activation="tanh", bias_init_std=0.0), seed=0)
    net.W_rec.fill_(2.0)
    fp = A.find_fixed_points(net, 0, states=torch.tensor([[1.0]]), n_starts=None, noise_std=0.0,
                             max_iters=0, descent_tol=1e3, slow_tol=1e3, newton_iters=20)
    assert fp.iterations == 0
    assert len(fp) == 1 and abs(float(fp.x[0, 0]) - 1.915008) < 1e-5 and fp.q[0] < 1e-12
    # stable: lambda = (2 (1 - tanh(x*)^2) - 1) / tau < 0
    lam = (2 * (1 - np.tanh(1.915008) ** 2) - 1) / net.config.tau_ms
    assert float(fp.eigenvalues[0, 0].real) == pytest.approx(lam, rel=1e-4)
    assert bool(fp.stable[0])


def test_defaults():
    net = _linear()
    fp = A.find_fixed_points(net, 0)
    assert fp.n_starts == 256 and len(fp) == 1 and not fp.slow.any()
    assert fp.eigenvalues.shape == (1, 12) and fp.q[0] < 1e-12
    assert torch.equal(fp.inputs, torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize("activation", ["linear", "tanh"])
def test_descent_alone_converges_quickly(activation):
    """Without Newton, the batched Adam descent must bring every start below descent_tol: 135
    (linear) and 165 (tanh) iterations when measured; 400 leaves room, not for a broken one."""
    if activation == "tanh":
        net = RateRNN(CircuitConfig(n_units=20, activation="tanh", gain=1.2, bias_init_std=0.5),
                      seed=3)
    else:
        net = _linear()
    kw = dict(n_starts=8, newton_iters=0, descent_tol=1e-9, slow_tol=1e-6, keep_slow=True,
              tol=1e-6, descent_dtype=torch.float64)
    fp = A.find_fixed_points(net, 0, max_iters=400, **kw)
    assert len(fp) == 1 and fp.q[0] < 1e-9 and fp.iterations < 400
    polished = A.find_fixed_points(net, 0)
    assert (fp.x[0] - polished.x[0]).abs().max() < 1e-3
