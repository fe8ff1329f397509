"""Training step of a wide circuit on one CUDA device, against the card's measured matmul peak.

Four measurements, each printed as it finishes and written to ``--json``:

1. The card's matmul peak, measured: a large square product (8192^3 by default) in float32
   (TF32 off), TF32 and bfloat16, timed with CUDA events, median of repeats, in TFLOP/s.
2. The package's bias-mode training step (forward + backward + Adam; B trials of T = 100 Euler
   steps, relu, 3 inputs, 2 outputs, MSE) at N = 8192, B = 256 in each precision: fp32, TF32
   (``torch.backends.cuda.matmul.allow_tf32``) and bf16 (``RateRNN.matmul_dtype``, as
   ``train.precision = "bf16"`` sets it). The step's matmul work is 2T products (B, N) x (N, N)
   (forward and backward; readout and input products are negligible at this N), 4 T B N^2
   flops; "fraction of peak" is that work's rate over the peak of the same precision. Beside it,
   the floor: the same 2T products alone, back to back.
3. The forms of the recurrent product, forward pass only at N = 8192, B = 256: time, and the
   error of the rates over all T steps against the same loop in float64 (relative Frobenius
   norm): fp32 (TF32 off), TF32, bf16 as the package runs it (product rounded to bf16, summed
   in fp32), and bf16 operands with a float32 product (``torch.mm(..., out_dtype=float32)``,
   where this torch has it; the package does not use it: docs/performance.md says why).
4. The widest circuit that trains: N = 16384, 32768, 65536, 131072 (bf16, B = 64, T = 100)
   until one step runs out of device memory or takes longer than ``--max-step-seconds``; for
   each N the time to build the circuit (its weights are drawn on the CPU, then moved), the
   step time and the peak device memory. A width whose float32 weights would need more than
   80% of the host's available memory (MemAvailable) is skipped with that reason rather than
   risking the host.

    python benchmarks/gpu_step.py [--device cuda] [--json data/bench_gpu.json]
    python benchmarks/gpu_step.py --device cpu --sizes 256 --batch 8 --peak-n 512 \\
        --widths 512 1024   # a smoke run of the script itself, no GPU
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time

import torch

import neurobias as nb

N_IN, N_OUT, N_T = 3, 2, 100


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of fn (after one warm-up call)."""
    fn()
    sync(device)
    out = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            out.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return out


class Precision:
    """Sets TF32 on or off for a block and restores the previous setting."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.saved = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = self.name == "tf32"
        return self

    def __exit__(self, *exc):
        torch.backends.cuda.matmul.allow_tf32 = self.saved


def dtype_of(name: str) -> torch.dtype:
    return torch.bfloat16 if name == "bf16" else torch.float32


def peak(n: int, device: torch.device, repeats: int) -> dict[str, float]:
    """TFLOP/s of an n x n x n product per precision."""
    out = {}
    for name in ("fp32", "tf32", "bf16"):
        a = torch.randn(n, n, device=device).to(dtype_of(name))
        b = torch.randn(n, n, device=device).to(dtype_of(name))
        c = torch.empty(n, n, device=device, dtype=dtype_of(name))
        with Precision(name):
            t = statistics.median(timed(lambda a=a, b=b, c=c: torch.mm(a, b, out=c), device,
                                        repeats))
        out[name] = 2 * n ** 3 / t / 1e12
    return out


def make_step(n: int, batch: int, device: torch.device, precision: str):
    """One training step of the package's bias-mode circuit, as a closure."""
    cfg = nb.CircuitConfig(n_units=n, n_inputs=N_IN, n_outputs=N_OUT, activation="relu",
                           dt_ms=20.0, tau_ms=100.0, mode="bias")
    net = nb.RateRNN(cfg, seed=0).to(device)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    gen = torch.Generator(device="cpu").manual_seed(0)
    u = torch.randn(N_T, batch, N_IN, generator=gen).to(device)
    y = torch.randn(N_T, batch, N_OUT, generator=gen).to(device)
    ctx = torch.zeros(batch, dtype=torch.long, device=device)
    low = torch.bfloat16 if precision == "bf16" else None

    def step():
        net.matmul_dtype = low
        try:
            out = net(u, ctx).outputs
        finally:
            net.matmul_dtype = None
        loss = ((out - y) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def floor(n: int, batch: int, device: torch.device, precision: str):
    a = torch.randn(batch, n, device=device).to(dtype_of(precision))
    w = (torch.randn(n, n, device=device) / math.sqrt(n)).to(dtype_of(precision))
    c = torch.empty(batch, n, device=device, dtype=dtype_of(precision))

    def run():
        for _ in range(2 * N_T):
            torch.mm(a, w, out=c)

    return run


def forms(n: int, batch: int, device: torch.device, repeats: int) -> list[dict]:
    """Time and float64 error of each form of the recurrent product (forward only)."""
    from neurobias.circuit import _Recurrence
    cfg = nb.CircuitConfig(n_units=n, n_inputs=N_IN, n_outputs=N_OUT, activation="relu",
                           dt_ms=20.0, tau_ms=100.0, mode="bias")
    net = nb.RateRNN(cfg, seed=0).to(device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    u = torch.randn(N_T, batch, N_IN, generator=gen).to(device)
    a, act = net.alpha, cfg.activation
    with torch.no_grad():
        drive = torch.matmul(u, net.W_in.t() * a) + net.biases[0] * a
        x0 = net.initial_state(batch)
        ref = _Recurrence.apply(drive.double(), x0.double(), net.W_rec.double(), a, act)[1]

    def package(low):
        return lambda: _Recurrence.apply(drive, x0, net.W_rec, a, act, low)[1]

    def fp32_product():
        w_low = net.W_rec.t().to(torch.bfloat16)
        rates = torch.empty_like(drive)
        x, r_low = x0.clone(), torch.relu(x0).to(torch.bfloat16)
        for t in range(N_T):
            x.mul_(1.0 - a).add_(drive[t])
            x.add_(torch.mm(r_low, w_low, out_dtype=torch.float32), alpha=a)
            torch.clamp_min(x, 0.0, out=rates[t])
            r_low.copy_(rates[t])
        return rates

    cases = [("fp32", "fp32", package(None)), ("tf32", "tf32", package(None)),
             ("bf16 (package: bf16 product)", "bf16", package(torch.bfloat16)),
             ("bf16 operands, fp32 product", "bf16", fp32_product)]
    rows = []
    for name, prec, fn in cases:
        if device.type != "cuda" and prec == "tf32":
            continue
        with Precision(prec), torch.no_grad():
            try:
                rates = fn()
            except (TypeError, RuntimeError, NotImplementedError) as err:
                rows.append({"form": name, "error": None, "why": str(err).split("\n")[0][:160]})
                print(rows[-1], flush=True)
                continue
            t = min(timed(fn, device, repeats))
        err = float((rates.double() - ref).norm() / ref.norm())
        rows.append({"form": name, "n_units": n, "batch": batch, "forward_ms": round(t * 1e3, 2),
                     "rates_rel_error": float(f"{err:.3g}")})
        print(rows[-1], flush=True)
    return rows


def available_memory() -> int:
    """Bytes of host memory available to a new allocation (MemAvailable; else all of it)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--sizes", type=int, nargs="+", default=[8192])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--peak-n", type=int, default=8192)
    p.add_argument("--widths", type=int, nargs="+",
                   default=[16384, 32768, 65536, 131072])
    p.add_argument("--width-batch", type=int, default=64)
    p.add_argument("--max-step-seconds", type=float, default=60.0)
    p.add_argument("--json", default="data/bench_gpu.json")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    result = {"torch": torch.__version__, "machine": platform.machine(),
              "device": (torch.cuda.get_device_name(device) if device.type == "cuda"
                         else "cpu"), "T": N_T}

    def save():
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")

    peaks = peak(args.peak_n, device, args.repeats)
    result["peak_tflops"] = {k: float(f"{v:.4g}") for k, v in peaks.items()}
    print("matmul peak (TFLOP/s):", result["peak_tflops"], flush=True)
    save()
    result["step"] = []
    for n in args.sizes:
        for prec in ("fp32", "tf32", "bf16"):
            if device.type != "cuda" and prec == "tf32":
                continue
            with Precision(prec):
                t_step = min(timed(make_step(n, args.batch, device, prec), device, args.repeats))
                t_floor = min(timed(floor(n, args.batch, device, prec), device, args.repeats))
            flops = 4 * N_T * args.batch * n * n
            row = {"n_units": n, "batch": args.batch, "precision": prec,
                   "step_ms": round(t_step * 1e3, 2), "floor_ms": round(t_floor * 1e3, 2),
                   "step_tflops": float(f"{flops / t_step / 1e12:.4g}"),
                   "fraction_of_peak": round(flops / t_step / 1e12 / peaks[prec], 3),
                   "fraction_of_floor": round(t_floor / t_step, 3)}
            result["step"].append(row)
            print(row, flush=True)
            save()
    result["forms"] = []
    for n in args.sizes:
        result["forms"] += forms(n, args.batch, device, args.repeats)
        save()
    result["widest"] = []
    for n in args.widths:
        need = 4 * n * n  # the float32 weights, drawn in place on the host
        free = available_memory()
        if need > 0.8 * free:
            row = {"n_units": n, "trains": None,
                   "why": f"skipped: drawing the weights needs about {need / 2**30:.0f} GiB of "
                          f"host memory, {free / 2**30:.0f} GiB available"}
            result["widest"].append(row)
            print(row, flush=True)
            break
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        try:
            step = make_step(n, args.width_batch, device, "bf16")
            built = time.perf_counter() - t0
            t_step = min(timed(step, device, 1))
        except torch.OutOfMemoryError as err:
            row = {"n_units": n, "trains": False, "why": f"out of memory: {str(err)[:120]}"}
            result["widest"].append(row)
            print(row, flush=True)
            break
        finally:
            step = None
        row = {"n_units": n, "trains": True, "batch": args.width_batch, "precision": "bf16",
               "build_seconds": round(built, 1), "step_seconds": round(t_step, 3),
               "peak_memory_gib": (round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 1)
                                   if device.type == "cuda" else None)}
        result["widest"].append(row)
        print(row, flush=True)
        save()
        if t_step > args.max_step_seconds:
            break
    save()


if __name__ == "__main__":
    main()
