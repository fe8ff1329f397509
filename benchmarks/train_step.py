"""Training-step time of RateRNN (bias mode) against the alternatives and the matmul floor.

One training step is forward + backward + Adam on a batch of B = 64 trials of T = 100 Euler steps
(dt = 20 ms, tau = 100 ms, relu, 3 inputs, 2 outputs, MSE loss), for each width N. Contenders,
all in one process except neuralrnn, which runs in its own virtual environment as a child
process that is driven step block by step block from this one, so its blocks interleave with the
others:

- ``package fp32``: ``nb.RateRNN`` in bias mode (tonic inputs and readout bias learn), Adam on its
  trainable tensors.
- ``package bf16``: the same with ``net.matmul_dtype = torch.bfloat16`` around the forward pass,
  as ``fit`` does for ``train.precision = "bf16"`` (recurrent matmul operands in bfloat16, states,
  sums, gradients and Adam in float32; see docs/training.md "Precision").
- ``competent loop``: the equations written by a user who knows PyTorch: every weight a plain
  tensor (no gradient), the drive ``W_in u + b`` computed for all steps at once and ``unbind``-ed
  before the loop, the rates stacked and the readout applied once after the loop, autograd for
  the backward pass, Adam on the biases (tonic inputs and readout bias) only.
- ``neuralrnn``: neuralrnn 0.4.0 (PyPI, MIT), its ``GainRNNModel`` ("fixed weights + neuronal
  gain modulation") configured as this circuit: ``nonlinearity_mode="rate"`` (z' = (1 - a) z +
  a (W r + B u), r = g relu(z + b)), ``activation="relu"``, ``dt=20, tau=100`` (a = 0.2),
  ``gain_position="outside"``, gain 1 frozen (``freeze_gain``), ``freeze_input``,
  ``freeze_recurrent``, ``freeze_output``; the input and recurrent ``Linear`` biases zeroed
  (they stay frozen); the per-unit ``bias`` learns and, matching the package's b_out, the readout
  bias is unfrozen. The weights are the package circuit's own (h2h = W_rec, input2h = W_in,
  readout = W_out). With all biases 0 its equations are the package's, and the script checks that
  its first loss equals the package's. Its forward pass is its own ``model(inputs)`` (batch
  first), the loss the same MSE, Adam over its trainable parameters. Its dependencies (gym,
  jupyter, neurogym, ...) clash with this project's, so it lives in its own venv
  (``--neuralrnn-python``; made with ``python -m venv /tmp/nrnn && /tmp/nrnn/bin/pip install
  torch==2.13.0 neuralrnn==0.4.0`` when ``--install-neuralrnn`` is given); without it that row is
  left out and the reason printed.
- floors: the recurrent matmuls of one step alone, 2T products (B, N) x (N, N) (T in the forward
  pass, T in the backward pass), on preallocated buffers, in float32 and in bfloat16 (bfloat16
  output: torch has no float32-output bfloat16 matmul on CPU). No training step can do less
  matmul work; "fraction of floor" is floor time / step time.

Every repeat runs each contender for ``--steps`` steps in a freshly shuffled order; the table
gives the min and median over repeats of ms per step and the ratios of the minima. Before timing,
the package (fp32) and the competent loop train from the same weights on the same batches and
their losses must agree (rtol 1e-4) at every step, or the script stops.

    python benchmarks/train_step.py [--sizes 512 1024] [--repeats 7] [--steps 3]
                                    [--threads 2] [--json data/bench_train_step_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch

import neurobias as nb

N_IN, N_OUT = 3, 2
NEURALRNN_VENV = "/tmp/nrnn"


def make_batches(n: int, batch: int, n_t: int, seed: int = 0):
    """``n`` (inputs (T, B, 3), targets (T, B, 2)) pairs: noise in, phase-shifted sines out."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 2 * math.pi, n_t)
    out = []
    for _ in range(n):
        u = torch.randn(n_t, batch, N_IN, generator=gen)
        phase = torch.rand(batch, generator=gen) * 2 * math.pi
        y = torch.stack([torch.sin(t[:, None] + phase), torch.cos(t[:, None] + phase)], -1)
        out.append((u, y))
    return out


class Package:
    """The package's bias-mode step, fp32 or bf16 recurrent matmuls."""

    def __init__(self, cfg: nb.CircuitConfig, low: torch.dtype | None):
        self.net = nb.RateRNN(cfg, seed=0)
        self.low = low
        self.opt = torch.optim.Adam([p for p in self.net.parameters() if p.requires_grad],
                                    lr=1e-2)

    def step(self, u, y, ctx) -> torch.Tensor:
        self.net.matmul_dtype = self.low
        try:
            out = self.net(u, ctx).outputs
        finally:
            self.net.matmul_dtype = None
        loss = ((out - y) ** 2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach()


class Competent:
    """The same equations as a competent user writes them in plain PyTorch."""

    def __init__(self, net: nb.RateRNN):
        self.alpha = net.alpha
        self.w_rec = net.W_rec.detach().clone()
        self.w_in = net.W_in.detach().clone()
        self.w_out = net.W_out.detach().clone()
        self.b = net.biases.detach().clone().requires_grad_()
        self.b_out = net.b_out.detach().clone().requires_grad_()
        self.opt = torch.optim.Adam([self.b, self.b_out], lr=1e-2)

    def forward(self, u, ctx):
        a = self.alpha
        x = torch.zeros(u.shape[1], self.w_rec.shape[0])
        r = torch.relu(x)
        rates = []
        for d in (u @ self.w_in.T + self.b[ctx]).unbind(0):
            x = (1 - a) * x + a * (r @ self.w_rec.T + d)
            r = torch.relu(x)
            rates.append(r)
        return torch.stack(rates) @ self.w_out.T + self.b_out

    def step(self, u, y, ctx) -> torch.Tensor:
        loss = ((self.forward(u, ctx) - y) ** 2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach()


class Floor:
    """2T recurrent matmuls (B, N) x (N, N) on preallocated buffers: a step's matmul work."""

    def __init__(self, batch: int, n: int, n_t: int, dtype: torch.dtype):
        gen = torch.Generator().manual_seed(1)
        self.a = torch.randn(batch, n, generator=gen).to(dtype)
        self.w = (torch.randn(n, n, generator=gen) / math.sqrt(n)).to(dtype)
        self.out = torch.empty(batch, n, dtype=dtype)
        self.n_t = n_t

    def step(self, u, y, ctx):
        for _ in range(2 * self.n_t):
            torch.mm(self.a, self.w, out=self.out)
        return None


CHILD = textwrap.dedent(r"""
    import sys, time, torch
    from neuralrnn.models.gain_rnn.configuration_gain_rnn import GainRNNConfig
    from neuralrnn.models.gain_rnn.modeling_gain_rnn import GainRNNModel

    blob = torch.load(sys.argv[1])
    torch.set_num_threads(int(sys.argv[2]))
    n = blob["W_rec"].shape[0]
    cfg = GainRNNConfig(input_dim=blob["W_in"].shape[1], latent_dim=n,
                        output_dim=blob["W_out"].shape[0], dt=blob["dt"], tau=blob["tau"],
                        activation="relu", nonlinearity_mode="rate", gain_position="outside",
                        gain_init=1.0, bias_init=0.0, freeze_gain=True, freeze_input=True,
                        freeze_recurrent=True, freeze_output=True)
    model = GainRNNModel(cfg)
    with torch.no_grad():
        model.h2h.weight.copy_(blob["W_rec"]); model.h2h.bias.zero_()
        model.input2h.weight.copy_(blob["W_in"]); model.input2h.bias.zero_()
        model.readout_layer.weight.copy_(blob["W_out"]); model.readout_layer.bias.zero_()
    model.readout_layer.bias.requires_grad_(True)  # the package's b_out learns too
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    names = sorted(k for k, p in model.named_parameters() if p.requires_grad)
    opt = torch.optim.Adam(params, lr=1e-2)
    data = [(u.transpose(0, 1).contiguous(), y.transpose(0, 1).contiguous())
            for u, y in blob["batches"]]

    def step(i):
        u, y = data[i % len(data)]
        loss = ((model(u).outputs - y) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    first = step(0)
    step(1)
    print("ready", first, ",".join(names), flush=True)
    i = 2
    for line in sys.stdin:
        k = int(line)
        t0 = time.perf_counter()
        for _ in range(k):
            step(i)
            i += 1
        print(1e3 * (time.perf_counter() - t0) / k, flush=True)
""")


class NeuralRNN:
    """neuralrnn 0.4.0's frozen-weight gain RNN in a child process of its own venv."""

    def __init__(self, python: str, net: nb.RateRNN, batches, threads: int, folder: Path):
        blob = folder / f"nrnn_{net.n_units}.pt"
        torch.save({"W_rec": net.W_rec, "W_in": net.W_in, "W_out": net.W_out,
                    "dt": net.config.dt_ms, "tau": net.config.tau_ms, "batches": batches}, blob)
        script = folder / "nrnn_child.py"
        script.write_text(CHILD)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen([python, str(script), str(blob), str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            raise RuntimeError("the neuralrnn child did not start")
        self.first_loss = float(line[1])
        self.trainable = line[2].split(",")

    def block(self, k: int) -> float:
        self.proc.stdin.write(f"{k}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def neuralrnn_python(args) -> tuple[str | None, str]:
    """The venv's python, made on request; (None, why) when it is not there."""
    python = Path(args.neuralrnn_python)
    if not python.exists() and args.install_neuralrnn:
        venv = python.parent.parent
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "torch==2.13.0",
                        "neuralrnn==0.4.0"], check=False)
    if not python.exists():
        return None, f"{python} not found (make it with --install-neuralrnn)"
    probe = subprocess.run([str(python), "-c", "import neuralrnn; print(neuralrnn.__version__)"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"{python} cannot import neuralrnn: {probe.stderr.strip().splitlines()[-1:]}"
    if probe.stdout.strip() != "0.4.0":
        return None, f"{python} has neuralrnn {probe.stdout.strip()}, not 0.4.0"
    return str(python), ""


def timed_block(fn, data, ctx, k: int, start: int) -> float:
    """ms per step over k steps of fn."""
    t0 = time.perf_counter()
    for i in range(k):
        u, y = data[(start + i) % len(data)]
        fn(u, y, ctx)
    return 1e3 * (time.perf_counter() - t0) / k


def loss_check(cfg, data, ctx, n_steps: int = 5) -> float:
    """Train the package (fp32) and the competent loop side by side; max relative loss gap."""
    pkg = Package(cfg, None)
    ref = Competent(pkg.net)
    gap = 0.0
    for i in range(n_steps):
        u, y = data[i % len(data)]
        a, b = pkg.step(u, y, ctx), ref.step(u, y, ctx)
        gap = max(gap, float((a - b).abs() / b.abs()))
    return gap


def one_width(n: int, args, nrnn_py: str | None, folder: Path) -> dict:
    cfg = nb.CircuitConfig(n_units=n, n_inputs=N_IN, n_outputs=N_OUT, gain=1.5,
                           bias_init_std=0.0)
    data = make_batches(4, args.batch, args.time_steps)
    ctx = torch.zeros(args.batch, dtype=torch.long)
    gap = loss_check(cfg, data, ctx)
    if gap > 1e-4:
        raise SystemExit(f"N={n}: package and competent loop losses differ by {gap:.1e}: "
                         "the benchmark is invalid")
    fp32 = Package(cfg, None)
    first_loss = float(fp32.step(*data[0], ctx))
    bf16 = Package(cfg, torch.bfloat16)
    first_loss_bf16 = float(bf16.step(*data[0], ctx))
    comp = Competent(nb.RateRNN(cfg, seed=0))
    floor32 = Floor(args.batch, n, args.time_steps, torch.float32)
    floor16 = Floor(args.batch, n, args.time_steps, torch.bfloat16)
    contenders = {
        "package_fp32": lambda k, s: timed_block(fp32.step, data, ctx, k, s),
        "package_bf16": lambda k, s: timed_block(bf16.step, data, ctx, k, s),
        "competent_loop": lambda k, s: timed_block(comp.step, data, ctx, k, s),
        "floor_fp32": lambda k, s: timed_block(floor32.step, data, ctx, k, s),
        "floor_bf16": lambda k, s: timed_block(floor16.step, data, ctx, k, s),
    }
    row = {"n_units": n, "batch": args.batch, "time_steps": args.time_steps,
           "loss_gap_package_vs_competent": gap, "first_loss_fp32": first_loss,
           "first_loss_bf16": first_loss_bf16}
    nrnn = None
    if nrnn_py:
        nrnn = NeuralRNN(nrnn_py, fp32.net, data, torch.get_num_threads(), folder)
        row["neuralrnn_first_loss"] = nrnn.first_loss
        row["neuralrnn_trainable"] = nrnn.trainable
        rel = abs(nrnn.first_loss - first_loss) / first_loss
        row["neuralrnn_first_loss_rel_gap"] = rel
        if rel > 1e-4:
            raise SystemExit(f"N={n}: neuralrnn's first loss {nrnn.first_loss:.6g} is not the "
                             f"package's {first_loss:.6g}: it is not the same circuit")
        contenders["neuralrnn"] = lambda k, s: nrnn.block(k)
    for fn in contenders.values():  # warm-up
        fn(1, 1)
    times: dict[str, list[float]] = {k: [] for k in contenders}
    rng = random.Random(n)
    for rep in range(args.repeats):
        order = list(contenders)
        rng.shuffle(order)
        for name in order:
            times[name].append(contenders[name](args.steps, 2 + rep * args.steps))
    if nrnn is not None:
        nrnn.close()
    row["ms_per_step"] = {k: {"min": min(v), "median": statistics.median(v), "all": v}
                          for k, v in times.items()}
    m = {k: min(v) for k, v in times.items()}
    ratios = {"package_fp32_over_competent": m["package_fp32"] / m["competent_loop"],
              "bf16_speedup": m["package_fp32"] / m["package_bf16"],
              "floor_fp32_fraction_of_package_fp32": m["floor_fp32"] / m["package_fp32"],
              "floor_bf16_fraction_of_package_bf16": m["floor_bf16"] / m["package_bf16"],
              "floor_speedup_bf16": m["floor_fp32"] / m["floor_bf16"]}
    if "neuralrnn" in m:
        ratios["package_fp32_over_neuralrnn"] = m["package_fp32"] / m["neuralrnn"]
        ratios["package_bf16_over_neuralrnn"] = m["package_bf16"] / m["neuralrnn"]
    row["ratios_of_minima"] = ratios
    return row


def load_average() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def print_row(row: dict) -> None:
    n = row["n_units"]
    print(f"\nN = {n}, B = {row['batch']}, T = {row['time_steps']}: ms per training step "
          f"(min / median over {len(row['ms_per_step']['package_fp32']['all'])} repeats)")
    for name, v in row["ms_per_step"].items():
        print(f"  {name:16s} {v['min']:8.1f} / {v['median']:8.1f}")
    r = row["ratios_of_minima"]
    print(f"  package fp32 / competent loop   {r['package_fp32_over_competent']:.2f}  "
          "(< 1: the package is faster)")
    if "package_fp32_over_neuralrnn" in r:
        print(f"  package fp32 / neuralrnn        {r['package_fp32_over_neuralrnn']:.2f}")
        print(f"  package bf16 / neuralrnn        {r['package_bf16_over_neuralrnn']:.2f}")
    print(f"  bf16 speed-up (fp32 / bf16)     {r['bf16_speedup']:.2f}x "
          f"(the bf16 floor is {r['floor_speedup_bf16']:.2f}x the fp32 floor)")
    print(f"  fp32 floor / package fp32       {r['floor_fp32_fraction_of_package_fp32']:.0%}")
    print(f"  bf16 floor / package bf16       {r['floor_bf16_fraction_of_package_bf16']:.0%}")
    print(f"  losses: package vs competent loop within {row['loss_gap_package_vs_competent']:.1e}"
          f" (5 steps); first loss fp32 {row['first_loss_fp32']:.6f}, bf16 "
          f"{row['first_loss_bf16']:.6f}" +
          (f", neuralrnn {row['neuralrnn_first_loss']:.6f} (learning: "
           f"{', '.join(row['neuralrnn_trainable'])})" if "neuralrnn_first_loss" in row
           else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description="RateRNN training-step speed vs alternatives")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--time-steps", type=int, default=100, help="Euler steps per trial")
    parser.add_argument("--steps", type=int, default=3, help="training steps per timed block")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved blocks per contender")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: "
                        "torch's own)")
    parser.add_argument("--neuralrnn-python", default=f"{NEURALRNN_VENV}/bin/python")
    parser.add_argument("--install-neuralrnn", action="store_true",
                        help="make the neuralrnn venv if it is missing")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    for name in ("batch", "time_steps", "steps", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if any(n < 1 for n in args.sizes):
        parser.error("--sizes must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    nrnn_py, why = neuralrnn_python(args)
    if nrnn_py is None:
        print(f"neuralrnn left out: {why}")
    load_before = load_average()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for n in args.sizes:
            rows.append(one_width(n, args, nrnn_py, Path(d)))
            print_row(rows[-1])
    info = {"threads": torch.get_num_threads(), "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
            "cpu_model": next((line.split(":", 1)[1].strip() for line in
                               Path("/proc/cpuinfo").read_text().splitlines()
                               if line.startswith("model name")), "?")
            if Path("/proc/cpuinfo").exists() else "?",
            "load_average_before": load_before, "load_average_after": load_average(),
            "neuralrnn": nrnn_py is not None, "neuralrnn_left_out_because": why or None,
            "steps_per_block": args.steps, "repeats": args.repeats}
    print(f"\n{info['threads']} torch thread(s), {info['cpu_model']}, load average "
          f"{load_before} before, {info['load_average_after']} after")
    if args.json:
        Path(args.json).write_text(json.dumps({"info": info, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
