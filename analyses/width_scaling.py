"""Width scaling of multitask learning: accuracy against width N and against learned parameters.

Reads one or more sweep folders (written by `neurobias sweep`), each a grid over
`circuit.n_units` (and seeds) for one training mode, and writes a table (CSV and Markdown) and a
two-panel figure: accuracy_mean against N, and against the number of learned numbers, one line
per training mode (mean ± SD over seeds).

    neurobias sweep tasks/multitask.toml --out sweeps/mt_bias \
        --grid circuit.n_units=128,256,512,1024,2048 --seeds 3
    neurobias sweep tasks/multitask.toml --out sweeps/mt_readout \
        --grid circuit.n_units=128,256,512,1024,2048 --seeds 3 --set circuit.mode=bias+readout
    neurobias sweep tasks/multitask_full.toml --out sweeps/mt_full \
        --grid circuit.n_units=128,256,512,1024,2048 --seeds 3
    python analyses/width_scaling.py sweeps/mt_bias sweeps/mt_readout sweeps/mt_full \
        --out runs/width_scaling
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import neurobias as nb
from neurobias.config import config_from_dict


def gather(sweeps: list[str], metric: str) -> list[dict]:
    rows = []
    for folder in sweeps:
        table, _, _ = nb.sweep_report(folder, metric=metric, x="circuit.n_units")
        for r in table:
            cfg = config_from_dict(json.loads(
                (Path(folder) / "runs" / r["run"] / "config.json").read_text()))
            label = cfg.circuit.mode + (" (rule input)" if cfg.env.params.get("rule_input")
                                        else "")
            rows.append({"mode": label, "n_units": cfg.circuit.n_units, "seed": r["seed"],
                         "n_trainable": r["n_trainable"], metric: r[metric],
                         "fixation_break_mean": r.get("fixation_break_mean"),
                         "steps": r["steps"], "seconds": r["seconds"]})
    return rows


def summarise(rows: list[dict], metric: str) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["mode"], r["n_units"]), []).append(r)
    out = []
    for (mode, n), rs in sorted(groups.items()):
        vals = [r[metric] for r in rs]
        out.append({"mode": mode, "n_units": n, "n_trainable": rs[0]["n_trainable"],
                    "seeds": len(rs), f"{metric}_mean": statistics.fmean(vals),
                    f"{metric}_sd": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                    "steps": rs[0]["steps"]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", help="sweep folders, one per training mode")
    parser.add_argument("--metric", default="accuracy_mean")
    parser.add_argument("--out", default="runs/width_scaling")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = gather(args.sweeps, args.metric)
    table = summarise(rows, args.metric)
    with open(out / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    md = ["| mode | N | learned numbers | seeds | " + args.metric + " |", "|---|---|---|---|---|"]
    md += [f"| {r['mode']} | {r['n_units']} | {r['n_trainable']} | {r['seeds']} | "
           f"{r[args.metric + '_mean']:.3f} ± {r[args.metric + '_sd']:.3f} |" for r in table]
    (out / "table.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True, sharey=True)
    for mode in sorted({r["mode"] for r in table}):
        pts = [r for r in table if r["mode"] == mode]
        for ax, key in zip(axes, ("n_units", "n_trainable"), strict=True):
            ax.errorbar([r[key] for r in pts], [r[args.metric + "_mean"] for r in pts],
                        yerr=[r[args.metric + "_sd"] for r in pts], marker="o", capsize=3,
                        label=mode)
    axes[0].set_xlabel("width N (units)")
    axes[1].set_xlabel("learned numbers")
    for ax in axes:
        ax.set_xscale("log", base=2)
    axes[0].set_ylabel(f"{args.metric} (mean ± SD over seeds)")
    axes[0].legend(fontsize=8)
    fig.savefig(out / "width_scaling.png", dpi=120)
    print(out / "width_scaling.png")


if __name__ == "__main__":
    main()
