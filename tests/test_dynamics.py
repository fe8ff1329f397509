import math

import numpy as np
import pytest
import torch

import neurobias as nb
from neurobias.analysis import r2_score
from neurobias.envs.dynamics import lorenz_trajectory, vanderpol_trajectory


def test_sine_targets():
    env = nb.envs.SineGenerator(dt_ms=10.0, period_ms=200.0, duration_ms=400.0, cosine=True)
    b = env.sample(3, torch.Generator())
    assert b.inputs.abs().sum() == 0 and b.n_steps == 40
    t_ms = 10.0 * torch.arange(1, 41)
    torch.testing.assert_close(b.targets[:, 2, 0], torch.sin(2 * math.pi * t_ms / 200.0))
    torch.testing.assert_close(b.targets[:, 0, 1], torch.cos(2 * math.pi * t_ms / 200.0))


def test_vanderpol_solves_its_equation():
    traj = vanderpol_trajectory(1.5, (2.0, 0.0), 10.0, 2000)
    dt = 10.0 / 2000
    dx = np.gradient(traj[:, 0], dt)
    dy = np.gradient(traj[:, 1], dt)
    x, y = traj[5:-5, 0], traj[5:-5, 1]
    np.testing.assert_allclose(dx[5:-5], y, atol=1e-3)
    np.testing.assert_allclose(dy[5:-5], 1.5 * (1 - x**2) * y - x, atol=2e-3)


def test_lorenz_solves_its_equation_and_windows_shift():
    traj = lorenz_trajectory(3000, 0.001)
    d = np.gradient(traj, 0.001, axis=0)[5:-5]
    x, y, z = traj[5:-5].T
    np.testing.assert_allclose(d[:, 0], 10 * (y - x), atol=0.05)
    np.testing.assert_allclose(d[:, 2], x * y - 8 / 3 * z, atol=0.05)
    env = nb.envs.LorenzForecast(n_samples=3000, trial_steps=50, washout_steps=5,
                                 warmup_steps=20, horizon=7)
    b = env.sample(4, torch.Generator().manual_seed(0))
    # the target is the input seven samples later
    torch.testing.assert_close(b.targets[:-7], b.inputs[7:])
    assert b.mask[:5].sum() == 0 and b.mask[5:].min() == 1
    # evaluation windows are cut from the held-out tail of the trajectory
    assert len(env.train_series) == 2400 and len(env.test_series) == 600
    e = env.eval_batch(torch.Generator().manual_seed(1))
    start = int(e.conditions["start"][0])
    torch.testing.assert_close(e.inputs[:, 0, 0], env.test_series[start:start + 50])
    # z-scored on the training part
    assert float(env.train_series.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(env.train_series.std()) == pytest.approx(1.0, abs=1e-3)


def test_closed_loop_is_teacher_forced_until_warmup():
    env = nb.envs.LorenzForecast(n_samples=3000, trial_steps=50, washout_steps=5,
                                 warmup_steps=20, horizon=7)
    net = nb.RateRNN(nb.CircuitConfig(n_units=40, bias_init_std=0.3), seed=1).eval()
    b = env.sample(3, torch.Generator().manual_seed(0))
    forced = net(b.inputs, b.context).outputs
    closed = env.closed_loop(net, b)
    torch.testing.assert_close(closed[:20], forced[:20], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(closed[25:], forced[25:])


def test_r2_known_answers():
    y = torch.randn(50, 4, 2)
    assert r2_score(y, y) == 1.0
    mean_pred = y.mean((0, 1), keepdim=True).expand_as(y)
    assert r2_score(mean_pred, y) == pytest.approx(0.0, abs=1e-12)
    # R^2 = 1 - SS_res/SS_tot, computed by hand for a 1-D case
    t = torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(4, 1, 1)
    p = torch.tensor([1.5, 2.0, 2.5, 4.0]).reshape(4, 1, 1)
    assert r2_score(p, t) == pytest.approx(1 - 0.5 / 5.0)
    mask = torch.tensor([1.0, 1.0, 1.0, 0.0]).reshape(4, 1, 1)
    assert r2_score(p, t, mask) == pytest.approx(1 - 0.5 / 2.0)


def test_env_argument_errors():
    with pytest.raises(ValueError, match="env.warmup_steps=3 is invalid"):
        nb.envs.LorenzForecast(n_samples=3000, horizon=10, warmup_steps=3)
    with pytest.raises(ValueError, match="env.coordinate='w' is invalid: allowed: x, y, z"):
        nb.envs.LorenzForecast(coordinate="w")
    with pytest.raises(ValueError, match="env.period_ms=10 is invalid"):
        nb.envs.SineGenerator(period_ms=10)
