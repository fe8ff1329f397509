"""Mask mode made fair: units start on, the masks' saturation at the end is reported."""

import pytest
import torch

import neurobias as nb
from neurobias.train import MASK_MARGIN, mask_saturation

ENV = nb.envs.SineGenerator(period_ms=400, duration_ms=400)


def net(**kw):
    cfg = nb.CircuitConfig(**{"n_units": 20, "n_inputs": 1, "n_outputs": 1, "mode": "mask",
                              **kw})
    return nb.RateRNN(cfg, seed=0)


def test_every_unit_starts_on_clear_of_the_step():
    n = net()
    assert torch.equal(n.mask_logits, torch.full((1, 20), 0.05))  # positive: on
    n.eval()
    assert torch.equal(n.unit_mask(torch.tensor([0])), torch.ones(1, 20))  # hard: all on
    n.train()  # soft masks at the starting steepness (1): sigmoid(0.05) = 0.51250
    assert torch.allclose(n.unit_mask(torch.tensor([0])), torch.full((1, 20), 0.51250),
                          atol=1e-5)
    # and the evaluated circuit before training equals the circuit without masks
    plain = nb.RateRNN(nb.CircuitConfig(n_units=20, n_inputs=1, n_outputs=1), seed=0).eval()
    n.eval()
    u = torch.randn(10, 3, 1)
    ctx = torch.zeros(3, dtype=torch.long)
    with torch.no_grad():
        torch.testing.assert_close(n(u, ctx).rates, plain(u, ctx).rates)


def test_straight_through_trains_the_evaluated_circuit_with_the_sigmoid_gradient():
    n = net()
    with torch.no_grad():
        n.mask_logits.copy_(torch.linspace(-1, 1, 20)[None])
        n.mask_beta.fill_(2.0)
    n.mask_straight_through = True
    n.train()
    m = n.unit_mask(torch.tensor([0]))
    assert torch.equal(m.detach(), (torch.linspace(-1, 1, 20) > 0).float()[None])  # hard
    m.sum().backward()
    # d sigmoid(beta s) / ds = beta * sig * (1 - sig), at beta = 2
    sig = 1 / (1 + torch.exp(-2 * torch.linspace(-1, 1, 20)))
    torch.testing.assert_close(n.mask_logits.grad[0], 2 * sig * (1 - sig))
    # the training-mode circuit is the evaluation-mode circuit (no noise here)
    u = torch.randn(10, 3, 1)
    ctx = torch.zeros(3, dtype=torch.long)
    with torch.no_grad():
        trained = n(u, ctx).rates
        n.eval()
        torch.testing.assert_close(trained, n(u, ctx).rates)


def test_fit_uses_the_estimator_it_is_given(tmp_path):
    for estimator, expected in (("straight_through", True), ("sigmoid", False)):
        cfg = nb.config.config_from_dict({
            "name": "m", "seed": 0, "env": {"kind": "sine", "period_ms": 400,
                                            "duration_ms": 400},
            "circuit": {"n_units": 8, "mode": "mask"},
            "train": {"steps": 1, "batch_size": 2, "eval_every": 0,
                      "mask_estimator": estimator}})
        run = nb.train_run(cfg, tmp_path / estimator, progress=False)
        assert run.net.mask_straight_through is expected
    with pytest.raises(nb.config.ConfigError, match="mask_estimator"):
        nb.config.config_from_dict({"name": "m", "env": {"kind": "sine"},
                                    "train": {"mask_estimator": "gumbel"}})


def test_saturation_known_answer():
    n = net()
    with torch.no_grad():
        # at beta 50, |beta s| > 4.6 iff |s| > 0.092: 13 of 20 scores are beyond it
        scores = torch.tensor([-1.0, -0.5, -0.2, -0.1, -0.09, -0.05, -0.01, 0.0, 0.01, 0.05,
                               0.09, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0, -3.0, 0.3, -0.3])
        n.mask_logits.copy_(scores[None])
        n.mask_beta.fill_(50.0)
    out = mask_saturation(n)
    assert MASK_MARGIN == pytest.approx(4.6)
    assert out["mask_saturated"] == pytest.approx(13 / 20)
    assert out["mask_on"] == pytest.approx(10 / 20)  # s > 0; s = 0 is off
    assert mask_saturation(nb.RateRNN(nb.CircuitConfig(n_units=4), seed=0)) == {}


def test_fit_reports_saturation_in_the_final_metrics(tmp_path):
    cfg = nb.config.config_from_dict({
        "name": "m", "seed": 0, "env": {"kind": "sine", "period_ms": 400, "duration_ms": 400},
        "circuit": {"n_units": 20, "mode": "mask", "mask_init": 1.0},
        "train": {"steps": 10, "batch_size": 2, "eval_every": 0, "mask_beta_end": 50.0}})
    run = nb.train_run(cfg, tmp_path / "run", progress=False)
    assert float(run.net.mask_beta) == pytest.approx(50.0)
    assert run.summary["mask_saturated"] == pytest.approx(mask_saturation(run.net)
                                                          ["mask_saturated"])
    # scores started at 1 and moved little in 10 steps: all still on and saturated
    assert run.summary["mask_on"] == 1.0 and run.summary["mask_saturated"] == 1.0
