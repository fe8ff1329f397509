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


@pytest.mark.filterwarnings("ignore:train.precision = .bf16. on a cpu device")
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


def _cpu_flags():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


def test_bf16_is_native_reads_the_cpu_flags():
    # the kernel's list of CPU features is the independent answer: bfloat16 matmuls run in
    # hardware with AVX-512 BF16 or AMX (tile + bf16), emulated otherwise
    flags = _cpu_flags()
    if flags is None:
        pytest.skip("no /proc/cpuinfo flags on this system")
    from neurobias.train import bf16_is_native

    expected = "avx512_bf16" in flags or {"amx_tile", "amx_bf16"} <= flags
    assert bf16_is_native("cpu") is expected


def _fit_sine(precision):
    env = nb.envs.SineGenerator(period_ms=400, duration_ms=400)
    net = nb.RateRNN(nb.CircuitConfig(n_units=16, n_inputs=env.n_inputs,
                                      n_outputs=env.n_outputs), seed=0)
    nb.fit(net, env, nb.TrainConfig(steps=2, batch_size=2, eval_every=0, precision=precision),
           progress=False)


def test_bf16_without_hardware_support_warns_and_says_what_to_use(monkeypatch, recwarn):
    import neurobias.train as train

    monkeypatch.setattr(train, "bf16_is_native", lambda device: False)
    with pytest.warns(RuntimeWarning, match=r"emulated, far slower than float32.*'fp32'"):
        _fit_sine("bf16")
    _fit_sine("fp32")  # float32 never warns
    monkeypatch.setattr(train, "bf16_is_native", lambda device: True)
    _fit_sine("bf16")  # nor bf16 where the hardware has it
    monkeypatch.setattr(train, "bf16_is_native", lambda device: None)
    _fit_sine("bf16")  # nor where it cannot be told
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)
                and "bf16" in str(w.message)]


@pytest.mark.parametrize("avx512_bf16, amx, expected", [
    (True, False, True), (False, True, True), (False, False, False), (None, False, None)])
def test_bf16_is_native_on_cpu_needs_either_instruction_set(monkeypatch, avx512_bf16, amx,
                                                            expected):
    # either AVX-512 BF16 or AMX multiplies bfloat16 in hardware; a PyTorch without the probes
    # (None: the attribute is missing) cannot tell
    import platform

    from neurobias.train import bf16_is_native

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    for name, value in (("_is_avx512_bf16_supported", avx512_bf16),
                        ("_is_amx_tile_supported", amx)):
        if value is None:
            monkeypatch.delattr(torch.cpu, name, raising=False)
        else:
            monkeypatch.setattr(torch.cpu, name, lambda v=value: v)
    assert bf16_is_native("cpu") is expected


def test_the_cli_shows_the_warning_as_one_line(tmp_path):
    # in a child process (pytest records warnings itself): bf16 where the hardware lacks it
    import subprocess
    import sys

    spec = tmp_path / "s.toml"
    spec.write_text('[env]\nkind = "sine"\n[circuit]\nn_units = 16\n'
                    '[train]\nsteps = 2\nbatch_size = 2\neval_every = 0\nprecision = "bf16"\n')
    code = ("import sys, neurobias.train as t; t.bf16_is_native = lambda d: False; "
            "from neurobias.cli import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "train", str(spec), "--out",
                           str(tmp_path / "r"), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if "bf16" in ln or "fit(" in ln]
    assert len(lines) == 1 and lines[0].startswith("neurobias: warning: train.precision = "
                                                   "'bf16' on a cpu device")


def test_other_warnings_keep_pythons_format():
    from neurobias import cli

    ours = cli._format_warning("m", RuntimeWarning, str(cli._PACKAGE_DIR / "run.py"), 3)
    assert ours == "neurobias: warning: m\n"
    theirs = cli._format_warning("m", UserWarning, "/elsewhere/lib.py", 7, "x = 1")
    assert theirs.startswith("/elsewhere/lib.py:7: UserWarning: m")


def test_bf16_is_native_does_not_guess_on_other_cpus(monkeypatch):
    # the probes are x86 ones: an ARM CPU with BF16 must not be told it lacks it
    import platform

    from neurobias.train import bf16_is_native

    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert bf16_is_native("cpu") is None
