"""NWB export against the HDF5 export of the same run: time and peak memory, as ratios.

A multitask-sized run (tasks/multitask.toml: 512 units, eight NeuroGym tasks, untrained: the
export's cost does not depend on the biases' values) is exported to ``.h5``
(``neurobias.io.export``) and to ``.nwb`` (``neurobias.io.export_nwb``), 256 trials each, with
the defaults (float32, gzip level 1), alternating, ``--rounds`` rounds in this one process. Each
file is fsynced before the clock stops (both writers do it before the rename). Peak memory is
the largest resident set size sampled every 5 ms by a thread during the export, minus the
resident set size just before it (freed heap is handed back to the OS before each export,
``malloc_trim``). A last pair at ``--large`` trials shows whether the peak grows with the size of
the export. Target: NWB time <= 2x HDF5 time, and peak memory of the same
order as HDF5's (both stream one chunk of trials at a time).

    python benchmarks/export_nwb.py [--trials 256] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch

import neurobias as nb
from neurobias.config import load_config
from neurobias.io import export, export_nwb
from neurobias.run import Run
from neurobias.train import History

ROOT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")


def _trim() -> None:
    """Hand freed heap back to the OS, so that the next export's peak is its own."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


class PeakRSS:
    """Largest resident set size seen while the block runs (sampled every 5 ms)."""

    def __enter__(self):
        self.base = rss_mb()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def one(kind: str, run, folder: Path, n_trials: int) -> dict:
    path = folder / ("r.nwb" if kind == "nwb" else "r.h5")
    writer = export_nwb if kind == "nwb" else export
    _trim()
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        writer(run, path, n_trials=n_trials, progress=False, device="cpu", force=True)
        seconds = time.perf_counter() - t0
    size = path.stat().st_size / 1e6
    path.unlink()
    return {"seconds": seconds, "peak_mb": mem.peak - mem.base, "size_mb": size}


def main() -> None:
    parser = argparse.ArgumentParser(description="NWB vs HDF5 export: time and peak memory")
    parser.add_argument("--trials", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--large", type=int, default=1024, help="trials of the last pair")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tmp", default=None, help="folder for the scratch files")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(ROOT / "tasks" / "multitask.toml", [])
    net, env = nb.run.build(cfg)
    run = Run(cfg, net, env, History(), {}, Path("."))
    rows = {"hdf5": [], "nwb": []}
    with tempfile.TemporaryDirectory(dir=args.tmp) as d:
        one("hdf5", run, Path(d), 8)  # warm up imports and caches
        one("nwb", run, Path(d), 8)
        for _ in range(args.rounds):
            for kind in ("hdf5", "nwb"):
                rows[kind].append(one(kind, run, Path(d), args.trials))
        large = {kind: one(kind, run, Path(d), args.large) for kind in ("hdf5", "nwb")}
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("seconds", "peak_mb",
                                                                "size_mb")}
           for k, v in rows.items()}
    out = {"trials": args.trials, "units": cfg.circuit.n_units, "threads": args.threads,
           "rounds": rows, "median": med, "large": {"trials": args.large, **large},
           "nwb_vs_hdf5_time": med["nwb"]["seconds"] / med["hdf5"]["seconds"],
           "nwb_vs_hdf5_peak_memory": med["nwb"]["peak_mb"] / max(med["hdf5"]["peak_mb"], 1e-9)}
    for kind in ("hdf5", "nwb"):
        m = med[kind]
        print(f"{kind:<5} {m['seconds']:7.2f} s  peak +{m['peak_mb']:6.0f} MB  file "
              f"{m['size_mb']:6.0f} MB")
    print(f"NWB / HDF5: time {out['nwb_vs_hdf5_time']:.2f}x, peak memory "
          f"{out['nwb_vs_hdf5_peak_memory']:.2f}x ({args.trials} trials x "
          f"{cfg.circuit.n_units} units, median of {args.rounds} alternating rounds)")
    for kind in ("hdf5", "nwb"):
        m = large[kind]
        print(f"{kind:<5} {args.large} trials: {m['seconds']:7.2f} s  peak +{m['peak_mb']:6.0f} "
              f"MB  file {m['size_mb']:6.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
