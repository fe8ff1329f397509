"""Wall time of a short training run at 1 and at more torch threads, interleaved.

On a machine whose cores are busy with other work, torch's default (one thread per core) can make
the small matrix products of a rate circuit's time loop wait on each other; one thread per run
avoids it. This script times `neurobias train --threads K` for each K, alternating K across
repeats (the load changes between repeats), and reports min and median per K with the load
average it ran under.

    python benchmarks/threads.py --spec tasks/multitask.toml --steps 60 --threads 1 2 \
        --repeats 3 [--json data/bench_threads_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(spec: str, steps: int, threads: int, out: Path) -> float:
    cmd = [sys.executable, "-m", "neurobias.cli", "train", spec, "--out", str(out), "--force",
           "--no-progress", "--threads", str(threads), "--set", f"train.steps={steps}",
           "--set", "train.eval_every=0", "--set", f"train.checkpoint_every={steps}"]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", default="tasks/multitask.toml")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    times: dict[int, list[float]] = {k: [] for k in args.threads}
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            order = args.threads if r % 2 == 0 else list(reversed(args.threads))
            for k in order:
                loads.append(os.getloadavg()[0])
                times[k].append(one_run(args.spec, args.steps, k, Path(tmp) / f"t{k}"))
                print(f"repeat {r}: {k} thread(s) {times[k][-1]:.1f} s "
                      f"(load {loads[-1]:.1f})", flush=True)
    result = {"spec": args.spec, "steps": args.steps, "cores": os.cpu_count(),
              "load_average_1min": {"min": min(loads), "max": max(loads)},
              "seconds": {str(k): {"min": min(v), "median": statistics.median(v), "all": v}
                          for k, v in times.items()}}
    base = min(times[args.threads[0]])
    for k, v in times.items():
        print(f"{k} thread(s): min {min(v):.1f} s, median {statistics.median(v):.1f} s, "
              f"min / min at {args.threads[0]}: {min(v) / base:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
