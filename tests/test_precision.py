"""train.precision = "bf16": bfloat16 operands of the recurrent matmuls while training only."""

from pathlib import Path

import pytest
import torch
from conftest import loss_and_grads

import neurobias as nb
from neurobias.cli import main


def _net(mode="bias", n=128, seed=0):
    kw = {"mask_init": 0.05} if mode == "mask" else {}
    return nb.RateRNN(nb.CircuitConfig(n_units=n, n_inputs=3, n_outputs=2, gain=1.5,
                                       readout_scale=10.0, bias_init_std=0.1, mode=mode, **kw),
                      seed=seed)


def _loss_and_grad(net, low, u, y, ctx):
    loss, grads, out = loss_and_grads(net, u, y, ctx, low)
    return float(loss), torch.cat([g.flatten() for g in grads.values()]), out


@pytest.mark.parametrize("mode", ["bias", "full", "mask"])
def test_bf16_matmuls_give_the_float32_loss_and_gradient_to_bf16_rounding(mode):
    gen = torch.Generator().manual_seed(1)
    u, y = torch.randn(60, 16, 3, generator=gen), torch.randn(60, 16, 2, generator=gen)
    ctx = torch.zeros(16, dtype=torch.long)
    net = _net(mode)
    net.train()
    net.mask_straight_through = True
    loss32, grad32, out32 = _loss_and_grad(net, None, u, y, ctx)
    loss16, grad16, out16 = _loss_and_grad(net, torch.bfloat16, u, y, ctx)
    # bfloat16 keeps 8 significant bits (relative rounding 2^-9 = 0.2%): the loss and the
    # outputs agree to that order, not better, and the gradient points the same way
    assert loss16 == pytest.approx(loss32, rel=5e-3) and loss16 != loss32
    assert (out16 - out32).abs().max() < 0.02 * out32.abs().max()
    cos = float(grad16 @ grad32 / (grad16.norm() * grad32.norm()))
    assert cos > 0.999
    assert not torch.equal(grad16, grad32)


def test_bf16_training_scores_like_float32_and_leaves_weights_alone(monkeypatch):
    # a task scored on held answers (examples/mylab/tasks.py): 300 steps in each precision, two
    # circuits; measured: r2 0.987 / 0.988 (seed 0) and 0.993 / 0.987 (seed 1), fp32 / bf16
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "examples"))
    from mylab.tasks import ContextSwitch

    env = ContextSwitch(dt_ms=20.0)
    for seed in (0, 1):
        r2 = {}
        for precision in ("fp32", "bf16"):
            net = nb.RateRNN(nb.CircuitConfig(n_units=128, n_inputs=1, n_outputs=1,
                                              n_contexts=2, gain=1.5, readout_scale=10.0,
                                              bias_init_std=0.1), seed=seed)
            w_before = net.W_rec.clone()
            hist = nb.fit(net, env, nb.TrainConfig(steps=300, batch_size=16, lr=2e-2,
                                                   eval_every=0, precision=precision),
                          progress=False)
            assert torch.equal(net.W_rec, w_before) and net.W_rec.dtype == torch.float32
            assert net.matmul_dtype is None  # evaluation after training runs in float32
            r2[precision] = hist.final["r2"]
        assert r2["fp32"] > 0.97 and r2["bf16"] == pytest.approx(r2["fp32"], abs=0.02)


def test_an_unknown_precision_is_one_line(tmp_path, capsys):
    with pytest.raises(nb.ConfigError, match=r"train.precision='fp16' is invalid: allowed: "
                                             r"fp32, bf16"):
        nb.TrainConfig(precision="fp16")
    spec = tmp_path / "s.toml"
    spec.write_text('[env]\nkind = "sine"\n[train]\nprecision = "half"\n')
    assert main(["train", str(spec), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train.precision='half' is invalid" in err[0]
