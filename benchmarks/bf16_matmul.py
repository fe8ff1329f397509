"""Is ``train.precision = "bf16"`` worth it on this CPU? bf16 against fp32 recurrent products.

A training step repeats two products T times each: forward, rates (B, N) times the transposed
recurrent weights (``W_rec.t()``, a view), and backward, deltas (B, N) times ``W_rec`` itself
(row-major), the layouts ``neurobias.circuit`` uses. This script times both in float32 and in
bfloat16 for each width N, in one process with the precisions interleaved in random order (so a
busy machine slows both alike), and prints the ratio fp32 time / bf16 time of the pair (above 1:
bf16 is faster) with what the CPU offers (``torch.backends.cpu.get_cpu_capability``, AVX-512
BF16, AMX) and what ``neurobias.train.bf16_is_native`` concludes. Where the CPU has neither
AVX-512 BF16 nor AMX, PyTorch emulates bfloat16, the ratio falls below 1, and ``fit`` warns. The
whole training step against its floors is ``benchmarks/train_step.py``.

    python benchmarks/bf16_matmul.py [--sizes 512 1024 2048] [--batch 64] [--threads 1]
                                     [--repeats 5] [--json data/bench_bf16_matmul_cpu.json]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time

import torch

from neurobias._atomic import write_json_atomic
from neurobias.train import bf16_is_native


def _time(a: torch.Tensor, w: torch.Tensor, reps: int) -> float:
    """Seconds per product, the best of ``reps`` calls after two warm-up calls."""
    for _ in range(2):
        a @ w
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ w
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    probe = {name: bool(getattr(torch.cpu, f"_is_{name}_supported", lambda: False)())
             for name in ("avx512_bf16", "amx_tile")}
    result = {"cpu": platform.processor() or platform.machine(),
              "capability": torch.backends.cpu.get_cpu_capability(), **probe,
              "bf16_is_native": bf16_is_native("cpu"), "threads": args.threads,
              "batch": args.batch, "torch": torch.__version__, "sizes": {}}
    print(f"CPU capability {result['capability']}, AVX-512 BF16 {probe['avx512_bf16']}, "
          f"AMX {probe['amx_tile']}; {args.threads} thread(s), batch {args.batch}")
    print(f"{'N':>6} {'fp32 fwd':>9} {'fp32 bwd':>9} {'bf16 fwd':>9} {'bf16 bwd':>9} "
          f"{'fp32/bf16':>10}   (ms per product)")
    for n in args.sizes:
        a = torch.randn(args.batch, n, generator=gen)
        w = torch.randn(n, n, generator=gen) / n ** 0.5
        cases = {"fp32 fwd": (a, w.t()), "fp32 bwd": (a, w),
                 "bf16 fwd": (a.bfloat16(), w.t().bfloat16()),  # a transposed view, as in forward
                 "bf16 bwd": (a.bfloat16(), w.bfloat16())}
        times = {key: [] for key in cases}
        for _ in range(args.repeats):
            order = list(cases)
            random.shuffle(order)
            for key in order:
                times[key].append(_time(*cases[key], reps=3))
        ms = {key: 1e3 * statistics.median(v) for key, v in times.items()}
        ratio = (ms["fp32 fwd"] + ms["fp32 bwd"]) / (ms["bf16 fwd"] + ms["bf16 bwd"])
        result["sizes"][n] = {**{k.replace(" ", "_") + "_ms": v for k, v in ms.items()},
                              "fp32_over_bf16": ratio}
        print(f"{n:>6} " + " ".join(f"{ms[k]:>9.2f}" for k in cases) + f" {ratio:>10.2f}")
    if args.json:
        write_json_atomic(result, args.json)  # a killed run leaves the previous file whole
    return result


if __name__ == "__main__":
    main()
