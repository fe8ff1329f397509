"""HDF5 export: write throughput against numpy.save in the same process, and peak memory.

1. Throughput. One activity array of the large case's shape at a smaller scale (default 400
   trials x 200 steps x 1024 units, float32, 328 MB) is written four ways: ``numpy.save`` of the
   array already in (trial, time, unit) order (the baseline), and the export's own writer
   (``create_activity_dataset`` + ``write_activity``, from the library's (time, trial, unit)
   tensor, in the export's chunks) with compression off, gzip and lzf. Each round writes all four
   in a freshly shuffled order (so no writer always follows another's page-cache flush); every
   file is fsynced before the clock stops and deleted after. The table gives each writer's
   min, median and spread ((max - min) / median) over rounds, and the ratio of medians against
   numpy.save with the min-to-max range of the per-round ratios.
2. Peak memory. A whole ``neurobias.io.export`` (simulation included) of a 2048-unit circuit at
   two export sizes, each in a fresh process; the peak resident memory must not grow with the
   export size and stays under 2 GB.

    python benchmarks/export.py [--trials 400] [--steps 200] [--units 1024] [--rounds 5]
                                [--json data/bench_export_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from neurobias.io import CHUNK_BYTES, create_activity_dataset, write_activity


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def time_numpy(arr_btn: np.ndarray, folder: Path) -> float:
    path = folder / "a.npy"
    t0 = time.perf_counter()
    np.save(path, arr_btn)
    _fsync(path)
    dt = time.perf_counter() - t0
    path.unlink()
    return dt


def time_h5(arr_tbn: torch.Tensor, folder: Path, compression: str) -> tuple[float, int]:
    path = folder / f"a_{compression}.h5"
    n_t, n_b, n_u = arr_tbn.shape
    per_chunk = max(1, CHUNK_BYTES // (n_t * n_u * 4))
    t0 = time.perf_counter()
    with h5py.File(path, "w") as f:
        ds = create_activity_dataset(f, "rates", (n_b, n_t, n_u), "float32", compression)
        for start in range(0, n_b, per_chunk):
            sl = slice(start, min(start + per_chunk, n_b))
            write_activity(ds, sl, arr_tbn[:, sl])
    _fsync(path)
    dt = time.perf_counter() - t0
    size = path.stat().st_size
    path.unlink()
    return dt, size


def throughput(args) -> dict:
    gen = torch.Generator().manual_seed(0)
    # rates-like data: rectified, half zeros, so compression numbers mean something
    arr_tbn = torch.relu(torch.randn(args.steps, args.trials, args.units, generator=gen))
    arr_btn = arr_tbn.transpose(0, 1).contiguous().numpy()
    nbytes = arr_btn.nbytes
    writers = ("numpy", "none", "gzip", "lzf")
    times: dict[str, list[float]] = {k: [] for k in writers}
    orders = []
    sizes = {}
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(dir=args.tmp) as d:
        folder = Path(d)
        for _ in range(args.rounds):
            order = list(writers)
            rng.shuffle(order)
            orders.append(order)
            for name in order:
                if name == "numpy":
                    times[name].append(time_numpy(arr_btn, folder))
                else:
                    dt, sizes[name] = time_h5(arr_tbn, folder, name)
                    times[name].append(dt)
    mb = nbytes / 1e6
    out = {"shape": [args.trials, args.steps, args.units], "mb": mb, "rounds": args.rounds,
           "orders": orders, "seconds": times}
    print(f"activity {args.trials} x {args.steps} x {args.units} float32 = {mb:.0f} MB, "
          f"{args.rounds} rounds in shuffled order")
    print(f"  {'writer':12s} {'MB/s (best)':>11s} {'MB/s (median)':>13s} {'spread':>7s}  "
          "median time vs numpy.save (per-round range)")
    for name in writers:
        t = times[name]
        med = statistics.median(t)
        spread = (max(t) - min(t)) / med
        per_round = [a / b for a, b in zip(times["numpy"], t, strict=True)]
        row = {"mb_s_best": mb / min(t), "mb_s_median": mb / med, "spread": spread}
        label = "numpy.save" if name == "numpy" else f"hdf5 {name}"
        line = f"  {label:12s} {mb / min(t):11.0f} {mb / med:13.0f} {spread:7.0%}"
        if name != "numpy":
            row.update({"vs_numpy_median": statistics.median(times["numpy"]) / med,
                        "vs_numpy_per_round_min": min(per_round),
                        "vs_numpy_per_round_max": max(per_round),
                        "size_mb": sizes[name] / 1e6})
            line += (f"  {row['vs_numpy_median']:5.2f}x numpy's speed "
                     f"({min(per_round):.2f}-{max(per_round):.2f})  file "
                     f"{sizes[name] / 1e6:5.0f} MB")
        out[name] = row
        print(line)
    return out


CHILD = r"""
import sys, tempfile, time
from pathlib import Path
import torch
import neurobias as nb
from neurobias.run import Run
from neurobias.train import History
torch.set_num_threads(2)


def hwm_mb():  # peak resident memory of this process image (VmHWM; reset at exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024


n_trials, n_units, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cfg = nb.config.config_from_dict({"circuit": {"n_units": n_units, "gain": 1.5},
                                  "env": {"kind": "sine", "duration_ms": 20.0 * steps}})
net, env = nb.run.build(cfg)
run = Run(cfg, net, env, History(), {}, Path("."))
base = hwm_mb()
with tempfile.TemporaryDirectory(dir=sys.argv[4]) as d:
    t0 = time.perf_counter()
    p = nb.io.export(run, Path(d) / "big.h5", n_trials=n_trials, dtype="float16",
                     compression="none", progress=False, device="cpu")
    dt = time.perf_counter() - t0
    size = p.stat().st_size
print(base, hwm_mb(), dt, size / 1e6)
"""


def peak_memory(args) -> list[dict]:
    rows = []
    for n_trials in args.memory_trials:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(n_trials), str(args.memory_units),
                               str(args.steps), args.tmp or tempfile.gettempdir()],
                              capture_output=True, text=True,
                              check=True)
        base, peak, dt, size = map(float, proc.stdout.split())
        rows.append({"trials": n_trials, "units": args.memory_units, "steps": args.steps,
                     "activity_mb": size, "peak_rss_mb": peak, "rss_before_export_mb": base,
                     "seconds": dt})
        print(f"export of {n_trials} trials x {args.steps} x {args.memory_units} (float16, "
              f"{size:.0f} MB file): peak RSS {peak:.0f} MB (before the export {base:.0f} MB), "
              f"{dt:.1f} s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="HDF5 export speed and memory")
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--units", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seed of the writers' order")
    parser.add_argument("--memory-units", type=int, default=2048)
    parser.add_argument("--memory-trials", type=int, nargs="+", default=[200, 800])
    parser.add_argument("--tmp", default=None, help="folder for the scratch files")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    load_before = [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    results = {"throughput": throughput(args), "memory": peak_memory(args),
               "load_average_before": load_before,
               "load_average_after": [float(x) for x in open("/proc/loadavg").read().split()[:3]],
               "max_rss_this_process_mb":
                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
