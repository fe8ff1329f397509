"""What fit() does at each step, against values computed by hand: the learning-rate schedules,
the mask annealing schedule and Adam's weight decay (Kingma & Ba 2015; L2 added to the
gradient, as torch.optim.Adam does)."""

import math

import numpy as np
import pytest
import torch

import neurobias as nb

SINE = nb.envs.SineGenerator(period_ms=400, duration_ms=200)


def small(mode="bias", **kw):
    base = dict(n_units=16, n_inputs=1, n_outputs=1, gain=1.0, mode=mode, bias_init_std=0.5,
                readout_scale=5.0)
    if mode == "mask":
        base["mask_init"] = 0.5
    return nb.RateRNN(nb.CircuitConfig(**{**base, **kw}), seed=0)


@pytest.mark.parametrize("schedule", ["constant", "cosine", "exponential"])
def test_learning_rate_at_every_step(schedule):
    steps, lr, lr_final = 10, 0.02, 0.0005
    hist = nb.fit(small(), SINE, nb.TrainConfig(steps=steps, batch_size=2, lr=lr,
                                                lr_final=lr_final, lr_schedule=schedule,
                                                eval_every=0), progress=False)
    # step k (1-based) runs with the rate of k - 1 completed scheduler steps out of `steps`
    frac = np.arange(steps) / steps
    expected = {
        "constant": np.full(steps, lr),
        # the rate falls by the same factor every step: lr_final at step `steps + 1`
        "exponential": lr * (lr_final / lr) ** frac,
        # half a cosine from lr down to lr_final
        "cosine": lr_final + (lr - lr_final) * 0.5 * (1 + np.cos(np.pi * frac)),
    }[schedule]
    np.testing.assert_allclose(hist.lr, expected, rtol=1e-12)
    assert hist.step == list(range(1, steps + 1))


class _Recording(nb.envs.SineGenerator):
    """Records the circuit's mask steepness and training mode at every training loss."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.betas, self.modes = [], []

    def training_loss(self, net, batch, noise=None):
        self.betas.append(float(net.mask_beta))
        self.modes.append(net.training)
        return super().training_loss(net, batch, noise)


def test_mask_steepness_follows_the_geometric_schedule():
    steps, start, end = 7, 2.0, 64.0
    env = _Recording(period_ms=400, duration_ms=200)
    nb.fit(small("mask"), env, nb.TrainConfig(steps=steps, batch_size=2, eval_every=0,
                                              mask_beta_start=start, mask_beta_end=end),
           progress=False)
    # beta at step k (1-based): start * (end / start)^((k - 1) / (steps - 1)); here a ratio of
    # 32 = 2^5 over 6 intervals: 2 at the first step, 2 * 2^(5/6) at the second, ..., 64 at the
    # last
    assert env.betas == pytest.approx([2.0, 2 * 2 ** (5 / 6), 2 * 2 ** (10 / 6), 2 * 2 ** 2.5,
                                       2 * 2 ** (20 / 6), 2 * 2 ** (25 / 6), 64.0], rel=1e-6)
    assert all(env.modes)  # soft masks while training


def test_one_step_mask_run_uses_the_start_steepness():
    env = _Recording(period_ms=400, duration_ms=200)
    nb.fit(small("mask"), env, nb.TrainConfig(steps=1, batch_size=2, eval_every=0,
                                              mask_beta_start=3.0, mask_beta_end=50.0),
           progress=False)
    assert env.betas == [3.0]
    env = _Recording(period_ms=400, duration_ms=200)
    nb.fit(small("mask"), env, nb.TrainConfig(steps=2, batch_size=2, eval_every=0,
                                              mask_beta_start=3.0, mask_beta_end=50.0),
           progress=False)
    assert env.betas == pytest.approx([3.0, 50.0])  # two steps: the start, then the end


def _adam_l2(p0, steps, lr, wd, b1=0.9, b2=0.999, eps=1e-8):
    """Adam on a parameter whose loss gradient is zero: only the L2 term wd * p drives it."""
    p = np.asarray(p0, np.float64).copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t in range(1, steps + 1):
        g = wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


@pytest.mark.parametrize("wd", [0.0, 0.5])
def test_weight_decay_shrinks_an_unused_context_by_the_adam_l2_rule(wd):
    # the sine env uses context 0 only: context 1's tonic input gets a zero loss gradient
    net = small(n_contexts=2, bias_init_std=1.0)
    row0, row1 = net.biases[0].detach().clone(), net.biases[1].detach().clone()
    steps, lr = 6, 0.05
    nb.fit(net, SINE, nb.TrainConfig(steps=steps, batch_size=2, lr=lr, weight_decay=wd,
                                     eval_every=0), progress=False)
    expected = _adam_l2(row1.double().numpy(), steps, lr, wd)
    np.testing.assert_allclose(net.biases[1].detach().double().numpy(), expected, rtol=1e-5,
                               atol=1e-7)
    if wd == 0:
        assert torch.equal(net.biases[1].detach(), row1)
    else:
        # each step moves an entry by about lr towards zero (Adam normalises the L2 term), as
        # long as it does not cross zero
        far = row1.abs() > 2 * steps * lr
        assert far.sum() >= 4
        shrink = row1.abs()[far] - net.biases[1].detach().abs()[far]
        assert torch.allclose(shrink, torch.full_like(shrink, steps * lr), rtol=0.03)
    assert not torch.equal(net.biases[0].detach(), row0)  # the used context learns


def test_exponential_and_cosine_end_at_lr_final():
    # the schedules' last value (after `steps` scheduler steps) is lr_final
    from neurobias.train import _lr_lambda

    for schedule in ("cosine", "exponential"):
        cfg = nb.TrainConfig(steps=40, lr=0.1, lr_final=0.001, lr_schedule=schedule)
        lam = _lr_lambda(cfg, cfg.steps)
        assert cfg.lr * lam(40) == pytest.approx(0.001, rel=1e-12)
        assert cfg.lr * lam(1000) == pytest.approx(0.001, rel=1e-12)  # held after the end
        assert lam(0) == pytest.approx(1.0)
        assert cfg.lr * lam(20) == pytest.approx(
            {"cosine": 0.001 + 0.099 * 0.5, "exponential": math.sqrt(0.1 * 0.001)}[schedule],
            rel=1e-12)
