"""The CUDA path: the same circuit on the GPU computes what it computes on the CPU.

Skipped on machines without a CUDA device (the CI machine has none); benchmarks/gpu.sh runs
them on a lent GPU. References are the CPU results of the same code in float64, which the
CPU tests check against hand-derived answers, so a GPU result is compared with an independent
computation, not with itself. TF32 is switched off where float32 agreement is asserted.
"""

import pytest
import torch
from conftest import loss_and_grads

import neurobias as nb
from neurobias.analysis import find_fixed_points

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = saved


def _net(mode="bias", n=256):
    return nb.RateRNN(nb.CircuitConfig(n_units=n, n_inputs=3, n_outputs=2, gain=1.5,
                                       readout_scale=10.0, bias_init_std=0.1, mode=mode), seed=0)


def _batch(n_t=50, batch=16):
    gen = torch.Generator().manual_seed(1)
    return (torch.randn(n_t, batch, 3, generator=gen), torch.randn(n_t, batch, 2, generator=gen),
            torch.zeros(batch, dtype=torch.long))


def _loss_grads(net, u, y, ctx, low=None):
    return loss_and_grads(net, u, y, ctx, low)[:2]


@pytest.mark.parametrize("mode", ["bias", "full"])
def test_forward_and_backward_on_cuda_equal_the_cpu_in_float64(mode):
    u, y, ctx = _batch()
    ref = _net(mode).double()
    loss_ref, g_ref = _loss_grads(ref, u.double(), y.double(), ctx)
    gpu = _net(mode).to(CUDA)
    loss, g = _loss_grads(gpu, u.to(CUDA), y.to(CUDA), ctx.to(CUDA))
    assert float(loss) == pytest.approx(float(loss_ref), rel=1e-4)
    assert set(g) == set(g_ref)
    for k in g:
        assert torch.allclose(g[k].double().cpu(), g_ref[k], rtol=1e-3, atol=1e-6), k


def test_bf16_on_cuda_gives_the_float32_loss_and_gradient_to_bf16_rounding():
    u, y, ctx = (t.to(CUDA) for t in _batch())
    net = _net().to(CUDA)
    loss32, g32 = _loss_grads(net, u, y, ctx)
    loss16, g16 = _loss_grads(net, u, y, ctx, torch.bfloat16)
    assert float(loss16) == pytest.approx(float(loss32), rel=5e-3) and loss16 != loss32
    a = torch.cat([v.flatten() for v in g32.values()])
    b = torch.cat([v.flatten() for v in g16.values()])
    assert float(a @ b / (a.norm() * b.norm())) > 0.999


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fit_on_cuda_learns_and_its_run_loads_on_the_cpu(tmp_path, precision):
    env = nb.envs.SineGenerator(period_ms=400, duration_ms=400)
    net = nb.RateRNN(nb.CircuitConfig(n_units=64, n_inputs=1, n_outputs=1, gain=1.0,
                                      bias_init_std=0.1, readout_scale=5.0), seed=0)
    cfg = nb.TrainConfig(steps=150, batch_size=8, lr=3e-2, eval_every=0, device="cuda",
                         precision=precision)
    history = nb.fit(net, env, cfg, progress=False, out_dir=tmp_path)
    assert next(net.parameters()).device.type == "cuda"
    assert history.loss[-1] < 0.5 * history.loss[0]
    run = nb.load_run(tmp_path, device="cpu")
    assert torch.equal(run.net.biases, net.biases.cpu())


def test_fixed_points_on_cuda_are_the_cpu_points():
    net = nb.RateRNN(nb.CircuitConfig(n_units=128, gain=1.0, bias_init_std=0.5), seed=0)
    cpu = find_fixed_points(net, 0, n_starts=32)
    gpu = find_fixed_points(net, 0, n_starts=32, device="cuda")
    assert len(gpu) == len(cpu) >= 1
    d = torch.cdist(gpu.x.cpu().double(), cpu.x.double()).min(1).values
    assert (d < 1e-6 * cpu.x.norm()).all()
