"""Bias, mask and full learning on the same circuits and tasks: the comparison of Williams et al.
(2025), measured.

Reads finished sweep runs (``neurobias sweep``) of tasks/multitask.toml that differ only in
``circuit.mode`` (and seed: the seed fixes the circuit, so runs of one seed share their random
weights and their exported test trials), and writes a table: per mode, the accuracy, the units the
solution uses (a unit is used when its rate is above 1e-6 somewhere in the 256 exported test
trials) and, for mask mode, the masks' saturation at the end of annealing; per pair of modes, the
Pearson r of the unit variances (the paper's r ~ 0.46 between bias and mask), the Procrustes shape
distance and the linear CKA of the condition-averaged activity (``neurobias compare``); each as
mean ± SD over seeds.

    # resumable: run it again to continue; full learning needs its own learning rate
    neurobias sweep tasks/multitask.toml --grid circuit.mode=bias,mask --seeds 3 \
        --out sweeps/bias_vs_mask --jobs 1
    neurobias sweep tasks/multitask_full.toml --grid circuit.mode=full --seeds 3 \
        --out sweeps/bias_vs_mask_full --jobs 1
    python analyses/bias_vs_mask.py sweeps/bias_vs_mask sweeps/bias_vs_mask_full \
        --out runs/bias_vs_mask

Each run folder gets its ``run.h5`` (256 test trials) exported if it has none.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import statistics
from pathlib import Path

import numpy as np

from neurobias.compare import compare
from neurobias.io import export, load

MODES = ("bias", "mask", "full")
# mask runs trained with the soft relaxation (train.mask_estimator = "sigmoid", the only
# estimator before straight-through became the default) are reported as their own row
SIGMOID = "mask (sigmoid)"


def gather(sweeps: list[str]) -> dict[tuple[str, int], Path]:
    """Finished runs by (mode, seed)."""
    runs = {}
    for folder in sweeps:
        for run_dir in sorted((Path(folder) / "runs").iterdir()):
            if not (run_dir / "summary.json").exists():
                continue
            cfg = json.loads((run_dir / "config.json").read_text())
            mode = cfg["circuit"]["mode"]
            if mode == "mask" and cfg["train"].get("mask_estimator", "sigmoid") == "sigmoid":
                mode = SIGMOID
            key = (mode, int(cfg["seed"]))
            if key in runs:
                raise SystemExit(f"two finished runs of mode {key[0]} and seed {key[1]}: "
                                 f"{runs[key]} and {run_dir}")
            runs[key] = run_dir
    return runs


def units_used(run_dir: Path, n_trials: int) -> int:
    h5 = run_dir / "run.h5"
    if not h5.exists():
        export(run_dir, h5, n_trials=n_trials, progress=False)
    rates = load(h5).activity()  # (trial, time, unit)
    return int((np.abs(rates).max(axis=(0, 1)) > 1e-6).sum())


def spread(values: list[float], digits: int = 3) -> str:
    values = [v for v in values if v == v]
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f} (n={len(values)})"


def figure(tasks: dict[str, dict[str, list[float]]], modes: list[str], path: Path) -> None:
    """Per-task accuracy of each mode: bars at the mean over seeds, each seed a dot."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(tasks)
    width = 0.8 / max(len(modes), 1)
    fig, ax = plt.subplots(figsize=(10, 4), constrained_layout=True)
    for i, mode in enumerate(modes):
        xs = np.arange(len(names)) + (i - (len(modes) - 1) / 2) * width
        values = [tasks[t].get(mode, []) for t in names]
        ax.bar(xs, [np.mean(v) if v else np.nan for v in values], width, label=mode,
               color=f"C{i}", alpha=0.7)
        for x, v in zip(xs, values, strict=True):
            ax.plot([x] * len(v), v, "k.", markersize=3)
    ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("strict accuracy (held-out trials)")
    ax.set_ylim(0, 1.05)
    ax.set_title("Bias, mask and full learning on the same circuits (bars: mean; dots: seeds)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description="bias vs mask vs full learning: the table")
    parser.add_argument("sweeps", nargs="+", help="sweep folders")
    parser.add_argument("--out", required=True, help="folder for table.md and table.csv")
    parser.add_argument("--trials", type=int, default=256, help="test trials per export")
    args = parser.parse_args()
    runs = gather(args.sweeps)
    seeds = sorted({s for _, s in runs})
    rows = []
    per_mode = {}
    tasks: dict[str, dict[str, list[float]]] = {}
    for mode in (*MODES, SIGMOID):
        acc, used, sat = [], [], []
        for seed in seeds:
            if (mode, seed) not in runs:
                continue
            run_dir = runs[(mode, seed)]
            summary = json.loads((run_dir / "summary.json").read_text())
            acc.append(float(summary["accuracy_mean"]))
            for key, value in summary.items():
                if key.startswith("accuracy/"):
                    tasks.setdefault(key.split("/", 1)[1], {}).setdefault(mode, []).append(
                        float(value))
            used.append(units_used(run_dir, args.trials))
            sat.append(float(summary.get("mask_saturated", float("nan"))))
            rows.append({"kind": "run", "what": mode, "seed": seed, "accuracy": acc[-1],
                         "units_used": used[-1], "mask_saturated": sat[-1]})
        if acc:
            per_mode[mode] = (acc, used, sat)
    pairs = {}
    for a, b in itertools.combinations(MODES, 2):
        r, proc, cka = [], [], []
        for seed in seeds:
            if (a, seed) in runs and (b, seed) in runs:
                comp = compare(runs[(a, seed)], runs[(b, seed)], n_trials=args.trials)
                s = comp.similarity
                r.append(s.unit_variance_r)
                proc.append(s.procrustes)
                cka.append(s.cka)
                rows.append({"kind": "pair", "what": f"{a}-{b}", "seed": seed,
                             "unit_variance_r": s.unit_variance_r, "procrustes": s.procrustes,
                             "cka": s.cka, "cca": s.cca, "rsa": s.rsa})
        if r:
            pairs[(a, b)] = (r, proc, cka)
    lines = ["| mode | accuracy | units used | masks saturated |", "|---|---|---|---|"]
    for mode, (acc, used, sat) in per_mode.items():
        lines.append(f"| {mode} | {spread(acc)} | {spread(used, 1)} | "
                     f"{spread(sat) if mode.startswith('mask') else '-'} |")
    modes = list(per_mode)
    lines += ["", "| task | " + " | ".join(modes) + " |", "|---" * (len(modes) + 1) + "|"]
    for task, by_mode in sorted(tasks.items()):
        lines.append(f"| {task} | " + " | ".join(spread(by_mode.get(m, [])) for m in modes)
                     + " |")
    lines += ["", "| pair | r of unit variances | Procrustes distance (rad) | linear CKA |",
              "|---|---|---|---|"]
    for (a, b), (r, proc, cka) in pairs.items():
        lines.append(f"| {a} vs {b} | {spread(r)} | {spread(proc)} | {spread(cka)} |")
    table = "\n".join(lines)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure(tasks, list(per_mode), out / "accuracy.png")
    (out / "table.md").write_text(table + "\n")
    keys = sorted({k for row in rows for k in row})
    with open(out / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    print(table)
    print(out / "table.md")


if __name__ == "__main__":
    main()
