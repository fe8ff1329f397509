"""The fit metrics and readouts of neurobias.analysis against values computed by hand."""

import math

import numpy as np
import pytest
import torch

import neurobias as nb
from neurobias import analysis as A
from neurobias.analysis.fitting import (
    ALPHAS,
    choose_alpha,
    fit_poisson_glm,
    fit_ridge,
    predict_linear,
    predict_poisson,
)


def _tbn(values_tb):
    """(time, trial) list -> (time, trial, 1) array."""
    return np.asarray(values_tb, np.float64)[..., None]


def test_per_neuron_r2_by_hand():
    # neuron 0: data 1, 2, 3, 4, prediction 1, 2, 3, 5: SS_res 1, SS_tot 5 -> 0.8
    data = np.zeros((2, 2, 2))
    data[..., 0] = [[1, 2], [3, 4]]
    data[..., 1] = 7.0  # constant: undefined
    pred = data.copy()
    pred[1, 1, 0] = 5.0
    r2 = A.per_neuron_r2(pred, data)
    assert r2[0] == pytest.approx(0.8)
    assert np.isnan(r2[1])
    # the wrong bin masked out (padding): a perfect fit of the other three
    valid = np.array([[True, True], [True, False]])
    assert A.per_neuron_r2(pred, data, valid)[0] == pytest.approx(1.0)


def test_pvar_uses_one_grand_variance():
    # each neuron predicted by its own mean: per-neuron R^2 = 0, but CURBD's pVar counts the
    # offset between neurons as explained: entries 0, 2, 10, 12 (mean 6, var 26), SSE 4
    data = np.zeros((2, 1, 2))
    data[:, 0, 0] = [0, 2]
    data[:, 0, 1] = [10, 12]
    pred = np.zeros_like(data)
    pred[:, 0, 0] = 1
    pred[:, 0, 1] = 11
    assert A.per_neuron_r2(pred, data) == pytest.approx([0.0, 0.0])
    assert A.pvar(pred, data) == pytest.approx(1 - 4 / 104)
    assert A.pvar(data, data) == 1.0


def test_psth_and_psth_r2_by_hand():
    # condition 0: trials [0, 2] and [2, 4] average to [1, 3]; predictions [1, 3] twice: 1.0
    # condition 1: one trial [0, 4] against [1, 3]: SS_tot 8, SS_res 2 -> 0.75
    data = _tbn([[0, 2, 0], [2, 4, 4]])
    pred = _tbn([[1, 1, 1], [3, 3, 3]])
    cond = np.array([0, 0, 1])
    p = A.psth(data, cond, 2)
    assert p[:, :, 0] == pytest.approx(np.array([[1, 3], [0, 4]]))
    assert A.psth_r2(pred, data, cond, 2) == pytest.approx([1.0, 0.75])
    # trial 1 ends after one bin: condition 0's second bin is trial 0's alone (2)
    valid = np.array([[True, True, True], [True, False, True]])
    assert A.psth(data, cond, 2, valid)[0, :, 0] == pytest.approx([1, 2])
    # a condition without trials is NaN
    assert np.isnan(A.psth_r2(pred, data, cond, 3)[2])


def test_bits_per_spike_by_hand():
    # counts 0, 2 against rates 0.5, 1.5; null rate 1: gain 2 log 1.5 nats over 2 spikes
    counts = _tbn([[0], [2]])
    lam = _tbn([[0.5], [1.5]])
    assert A.bits_per_spike(lam, counts) == pytest.approx(math.log2(1.5))
    assert A.bits_per_spike(np.ones_like(counts), counts) == pytest.approx(0.0)
    assert A.bits_per_spike(_tbn([[2.0], [0.1]]), counts) < 0  # worse than the mean


def test_fit_ridge_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4)) * [1, 5, 0.1, 2] + [0, 3, -1, 0]
    w = rng.normal(size=(4, 2))
    y = x @ w + [1.0, -2.0]
    w_hat, b_hat = A.fit_ridge(x, y, alpha=0.0)
    assert w_hat == pytest.approx(w, abs=1e-8)
    assert b_hat == pytest.approx([1.0, -2.0], abs=1e-8)
    w_shrunk, _ = A.fit_ridge(x, y, alpha=1.0)
    assert np.abs(w_shrunk * x.std(0)[:, None]).sum() < np.abs(w * x.std(0)[:, None]).sum()


def test_fit_poisson_glm_recovers_weights():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20000, 3))
    w = np.array([[0.5], [-0.3], [0.2]])
    y = rng.poisson(np.exp(x @ w + 0.1))
    w_hat, b_hat = A.fit_poisson_glm(x, y, alpha=0.0)
    assert w_hat == pytest.approx(w, abs=0.03)
    assert b_hat == pytest.approx([0.1], abs=0.03)


def test_current_decomposition_rebuilds_the_states():
    # x[t] = (1 - a) x[t-1] + a (recurrent + external + tonic): the parts must add up to the
    # input that produced the circuit's own states
    cfg = nb.CircuitConfig(n_units=12, n_inputs=2, n_outputs=1, n_contexts=3, tau_ms=100,
                           dt_ms=20, activation="tanh", learn_x0=True)
    net = nb.RateRNN(cfg, seed=3)
    with torch.no_grad():
        net.x0.copy_(torch.linspace(-0.5, 0.5, 12))
    u = torch.randn(15, 4, 2, generator=torch.Generator().manual_seed(0))
    ctx = torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        roll = net(u, ctx, return_states=True)
    cur = A.current_decomposition(net.W_rec.numpy(), net.W_in.numpy(), net.biases.detach().numpy(),
                                  roll.rates.numpy(), u.numpy(), ctx.numpy(),
                                  rates0=torch.tanh(net.x0).detach().numpy())
    a = cfg.alpha
    x = roll.states.double().numpy()
    prev = np.concatenate([np.broadcast_to(net.x0.detach().numpy(), (1, 4, 12)), x[:-1]])
    assert (1 - a) * prev + a * cur.total == pytest.approx(x, abs=1e-5)
    assert cur.tonic[7, 3] == pytest.approx(net.biases[1].detach().numpy())
    # no inputs: the external part is zero
    assert A.current_decomposition(net.W_rec.numpy(), net.W_in.numpy(), net.biases.detach().numpy(),
                                   roll.rates.numpy(), np.zeros((15, 4, 2)),
                                   ctx.numpy()).external.max() == 0


def test_tonic_share_by_hand():
    # recurrent 1, external 0, tonic -3 everywhere in context 0: shares 1/4, 0, 3/4
    shape = (2, 2, 1)
    cur = A.Currents(np.ones(shape), np.zeros(shape), np.full(shape, -3.0))
    s = A.tonic_share(cur, np.array([0, 0]), 2)
    assert s.share_mean[0] == pytest.approx([0.25, 0.0, 0.75])
    assert s.tonic_share[0] == pytest.approx(0.75)
    assert s.magnitude[0] == pytest.approx([1.0, 0.0, 3.0])
    assert np.isnan(s.share_mean[1]).all()  # no trial of context 1


def test_cross_validated_penalty_beats_a_small_one_on_held_out_trials():
    # 150 regressors, 30 trials of 8 bins: a readout with a tiny penalty overfits; the penalty
    # chosen by cross-validation over trials predicts new trials of the same process better
    rng = np.random.default_rng(0)

    def trials(n):
        x = rng.normal(size=(n * 8, 150))
        rate = np.exp(0.4 * x[:, :2] @ np.array([[1.0], [-1.0]]) - 0.5)
        return x, rng.poisson(rate).astype(float), np.repeat(np.arange(n), 8)

    x, y, groups = trials(30)
    x_new, y_new, _ = trials(200)
    for poisson in (True, False):
        alpha = choose_alpha(x, y, groups, poisson=poisson)
        assert alpha > ALPHAS[0]
        fit, predict = (fit_poisson_glm, predict_poisson) if poisson else (fit_ridge,
                                                                          predict_linear)

        def err(a, fit=fit, predict=predict, poisson=poisson):
            w, b = fit(x, y, a)
            p = predict(x_new, w, b)
            return (np.sum(p - y_new * np.log(np.maximum(p, 1e-12))) if poisson
                    else np.sum((p - y_new) ** 2))

        assert err(alpha) < err(ALPHAS[0])
    # one trial: nothing to cross-validate, the middle of the grid
    assert choose_alpha(x[:8], y[:8], groups[:8], poisson=False) == ALPHAS[len(ALPHAS) // 2]
