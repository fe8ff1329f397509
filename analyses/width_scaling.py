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

Each run is scored by its own final evaluation (the same ``env.eval_trials`` trials per task at
every evaluation), or, with ``--scores``, by tables of analyses/reevaluate.py that score every
run again on fresh trials.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import neurobias as nb
from neurobias.config import ConfigError, config_from_dict
from neurobias.sweep import ring_one_seed


def refuse(message: str) -> None:
    """Bad input: one line on stderr naming what is wrong, exit status 2."""
    print(f"width_scaling.py: {message}", file=sys.stderr)
    sys.exit(2)


def gather(sweeps: list[str], metric: str) -> list[dict]:
    rows = []
    for folder in sweeps:
        try:
            table, _, _ = nb.sweep_report(folder, metric=metric, x="circuit.n_units")
        except ConfigError as err:
            refuse(str(err))
        for r in table:
            run_dir = Path(folder) / "runs" / r["run"]
            cfg = config_from_dict(json.loads((run_dir / "config.json").read_text()))
            label = cfg.circuit.mode + (" (rule input)" if cfg.env.params.get("rule_input")
                                        else "")
            rows.append({"mode": label, "precision": cfg.train.precision,
                         "n_units": cfg.circuit.n_units, "seed": r["seed"],
                         "n_trainable": r["n_trainable"], metric: r[metric],
                         "fixation_break_mean": r.get("fixation_break_mean"),
                         "steps": r["steps"], "seconds": r["seconds"], "dir": run_dir,
                         **{k: v for k, v in r.items() if k.startswith("accuracy/")}})
    return rows


def read_scores(paths: list[str], metric: str) -> dict[Path, dict[str, float]]:
    """Run folder (resolved) -> its scores, from tables written by analyses/reevaluate.py
    (columns ``run``, ``accuracy_mean``, ``accuracy/<task>``; relative run paths are taken
    from the current folder, as reevaluate.py wrote them)."""
    scores: dict[Path, dict[str, float]] = {}
    for path in paths:
        try:
            with open(path, newline="") as f:
                table = list(csv.DictReader(f))
        except OSError as err:
            refuse(f"--scores {path!r} cannot be read: {err.strerror}")
        if not table or "run" not in table[0] or metric not in table[0]:
            refuse(f"--scores {path!r} is not a table of analyses/reevaluate.py with a "
                   f"{metric!r} column")
        for row in table:
            scores[Path(row["run"]).resolve()] = {
                k: float(v) for k, v in row.items()
                if (k == metric or k.startswith("accuracy/")) and v not in ("", None)}
    return scores


def rescore(rows: list[dict], scores: dict[Path, dict[str, float]], metric: str) -> None:
    """Replace each run's metric and per-task accuracies by its --scores values (every run
    must have them: a table of mixed sources would compare unlike numbers)."""
    for r in rows:
        new = scores.get(Path(r["dir"]).resolve())
        if new is None:
            refuse(f"run {str(r['dir'])!r} has no row in --scores: re-evaluate it "
                   "(analyses/reevaluate.py) or leave --scores out")
        for k in [k for k in r if k.startswith("accuracy/")]:
            del r[k]
        r.update(new)


def _groups(rows: list[dict]) -> list[tuple[tuple, list[dict]]]:
    """The runs of each (mode, N, precision), in that order: one point of the table each."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["mode"], r["n_units"], r["precision"]), []).append(r)
    return sorted(groups.items())


def _mean_sd(vals: list[float]) -> tuple[float, float | None]:
    """Mean and SD over seeds; the SD is None for one seed (no spread measured, not 0)."""
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


def _pm(mean: float, sd: float | None, digits: int) -> str:
    """``mean ± sd``, or ``mean (one seed)`` where there is no spread to state."""
    return f"{mean:.{digits}f} ± {sd:.{digits}f}" if sd is not None else \
        f"{mean:.{digits}f} (one seed)"


def _one_per_width(table: list[dict], key: str) -> list[dict]:
    """The rows holding ``key``, one per (mode, N): float32 where a width was trained in both
    precisions (float32 is the reference; bf16 answers only where nothing else was run)."""
    best: dict[tuple, dict] = {}
    for r in table:
        if key not in r:
            continue
        k = (r["mode"], r["n_units"])
        if k not in best or (best[k].get("precision") == "bf16"
                             and r.get("precision") != "bf16"):
            best[k] = r
    return list(best.values())


def per_task(rows: list[dict]) -> list[dict]:
    """(mode, N) -> mean ± SD over seeds of every accuracy/<task> column."""
    tasks = sorted({k for r in rows for k in r if k.startswith("accuracy/")})
    out = []
    for (mode, n, precision), rs in _groups(rows):
        row = {"mode": mode, "n_units": n, "precision": precision, "seeds": len(rs)}
        for t in tasks:
            vals = [r[t] for r in rs if t in r]
            if vals:
                row[t], row[t + "_sd"] = _mean_sd(vals)
        out.append(row)
    return out


def crossing(table: list[dict], key: str, reference: str = "full", mode: str = "bias",
             margin: float = 0.05) -> int | None:
    """The smallest N at which ``mode``'s mean ``key`` is within ``margin`` of ``reference``'s
    at the same N (both measured), else None."""
    table = _one_per_width(table, key)
    ref = {r["n_units"]: r[key] for r in table if r["mode"] == reference}
    r = _first_within(table, key, mode, lambda n: ref.get(n), margin)
    return None if r is None else r["n_units"]


def _first_within(table: list[dict], key: str, mode: str, ref_at, margin: float) -> dict | None:
    """The narrowest ``mode`` row whose ``key`` is at least ``ref_at(N) - margin`` (rows whose
    reference is None are passed over), else None."""
    for r in sorted((r for r in table if r["mode"] == mode and key in r),
                    key=lambda r: r["n_units"]):
        ref = ref_at(r["n_units"])
        if ref is not None and r[key] >= ref - margin:
            return r
    return None


def summarise(rows: list[dict], metric: str) -> list[dict]:
    out = []
    for (mode, n, precision), rs in _groups(rows):
        mean, sd = _mean_sd([r[metric] for r in rs])
        out.append({"mode": mode, "n_units": n, "precision": precision,
                    "n_trainable": rs[0]["n_trainable"],
                    "seeds": len(rs), f"{metric}_mean": mean, f"{metric}_sd": sd,
                    "steps": rs[0]["steps"]})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", help="sweep folders, one per training mode")
    parser.add_argument("--metric", default="accuracy_mean")
    parser.add_argument("--out", default="runs/width_scaling")
    parser.add_argument("--scores", nargs="+", metavar="CSV",
                        help="tables of analyses/reevaluate.py: score every run on those fresh "
                             "trials instead of its own evaluation")
    args = parser.parse_args(argv)
    rows = gather(args.sweeps, args.metric)
    if not rows:
        refuse("no finished runs in the sweep folders given")
    if args.scores:
        rescore(rows, read_scores(args.scores, args.metric), args.metric)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = summarise(rows, args.metric)
    with open(out / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    md = ["| mode | N | precision | learned numbers | seeds | " + args.metric + " |",
          "|---|---|---|---|---|---|"]
    md += [f"| {r['mode']} | {r['n_units']} | {r['precision']} | {r['n_trainable']} | "
           f"{r['seeds']} | {_pm(r[args.metric + '_mean'], r[args.metric + '_sd'], 3)} |"
           for r in table]
    source = ("\nScores: " + ", ".join(args.scores) + " (fresh trials, analyses/reevaluate.py), "
              "not the runs' own evaluations.\n" if args.scores else "")
    (out / "table.md").write_text("\n".join(md) + "\n" + source)
    print("\n".join(md))
    tasks_table = per_task(rows)
    tasks = sorted({k for r in tasks_table for k in r if k.startswith("accuracy/")
                    and not k.endswith("_sd")})
    if tasks:
        head = ["mode", "N", "precision", "seeds"] + [t.split("/", 1)[1] for t in tasks]
        tmd = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in tasks_table:
            cells = [_pm(r[t], r[t + "_sd"], 2) if t in r else "" for t in tasks]
            tmd.append(f"| {r['mode']} | {r['n_units']} | {r['precision']} | {r['seeds']} | "
                       + " | ".join(cells) + " |")
        key = args.metric + "_mean"
        answer = [f"- {args.metric}: " + _said(crossing(table, key), table, key)]
        answer += [f"- {t.split('/', 1)[1]}: " + _said(crossing(tasks_table, t), tasks_table, t)
                   for t in tasks]
        widest = [f"- {args.metric}: " + _said_widest(table, args.metric + "_mean")]
        widest += [f"- {t.split('/', 1)[1]}: " + _said_widest(tasks_table, t) for t in tasks]
        text = ("\n".join(tmd) + "\n\nSmallest N at which bias-only comes within 0.05 of full "
                "training at the same N (means over seeds):\n" + "\n".join(answer)
                + "\n\nWhere full training was not run at bias-only's widths: the smallest N at "
                "which bias-only comes within 0.05 of full training at the widest N measured "
                "for full training:\n" + "\n".join(widest) + "\n" + source)
        (out / "per_task.md").write_text(text)
        print(text)
    modes = sorted({r["mode"] for r in table})
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True, sharey=True)
    for i, mode in enumerate(modes):
        for ax, x in zip(axes, ("n_units", "n_trainable"), strict=True):
            _plot_mode(ax, table, mode, x, args.metric + "_mean", args.metric + "_sd", f"C{i}")
    axes[0].set_xlabel("width N (units)")
    axes[1].set_xlabel("learned numbers")
    for ax in axes:
        ax.set_xscale("log", base=2)
    axes[0].set_ylabel(f"{args.metric} (mean ± SD over seeds)")
    axes[0].legend(fontsize=8)
    fig.savefig(out / "width_scaling.png", dpi=120)
    plt.close(fig)
    print(out / "width_scaling.png")
    if tasks:
        fig, axes = plt.subplots(2, (len(tasks) + 1) // 2, figsize=(2.6 * ((len(tasks) + 1) // 2),
                                 5.4), constrained_layout=True, sharex=True, sharey=True,
                                 squeeze=False)
        for ax, t in zip(axes.flat, tasks, strict=False):
            ax.set_xscale("log", base=2)
            for i, mode in enumerate(modes):
                _plot_mode(ax, tasks_table, mode, "n_units", t, t + "_sd", f"C{i}")
            ax.axhline(0.75, color="0.6", lw=0.8, ls=":")
            ax.set_title(t.split("/", 1)[1], fontsize=9)
        widths = [r["n_units"] for r in tasks_table]
        axes.flat[0].set_xlim(min(widths) / 1.4, max(widths) * 1.4)  # shared by every panel
        for ax in axes.flat[len(tasks):]:
            ax.axis("off")
        for ax in axes[-1]:
            ax.set_xlabel("width N (units)")
        for ax in axes[:, 0]:
            ax.set_ylabel("strict accuracy")
        axes.flat[0].legend(fontsize=7)
        fig.suptitle("per task, mean ± SD over seeds (dotted: 0.75)", fontsize=10)
        fig.savefig(out / "width_per_task.png", dpi=120)
        plt.close(fig)
        print(out / "width_per_task.png")


def _plot_mode(ax, table: list[dict], mode: str, x: str, y: str, sd: str, color: str) -> None:
    """One training mode's points of ``y`` (± ``sd``) against ``x``: float32 solid, bf16 open
    and dashed, joined to the widest float32 point below it."""
    for precision in ("fp32", "bf16"):
        pts = [r for r in table if r["mode"] == mode and r["precision"] == precision and y in r]
        if not pts:
            continue
        below = [r for r in table if r["mode"] == mode and r["precision"] == "fp32" and y in r
                 and r["n_units"] < pts[0]["n_units"]] if precision == "bf16" else []
        if below:
            join = [max(below, key=lambda r: r["n_units"]), pts[0]]
            ax.plot([r[x] for r in join], [r[y] for r in join], ls="--", color=color)
        ax.errorbar([r[x] for r in pts], [r[y] for r in pts],
                    yerr=[r.get(sd) or 0.0 for r in pts],  # one seed: a point, no bar
                    marker="o", capsize=3, color=color, ls="-" if precision == "fp32" else "--",
                    mfc=color if precision == "fp32" else "white",
                    label=mode if precision == "fp32" else f"{mode}, bf16")
        one = [r for r in pts if r.get("seeds") == 1]  # no spread: ringed, said in the legend
        ring_one_seed(ax, [r[x] for r in one], [r[y] for r in one], "0.3")


def _said_widest(table: list[dict], key: str, mode: str = "bias",
                 margin: float = 0.05) -> str:
    table = _one_per_width(table, key)
    full = [r for r in table if r["mode"] == "full"]
    if not full:
        return "full training not measured"
    ref = max(full, key=lambda r: r["n_units"])
    r = _first_within(table, key, mode, lambda n: ref[key], margin)
    if r is not None:
        return (f"N = {r['n_units']} ({r[key]:.2f} against {ref[key]:.2f} at N = "
                f"{ref['n_units']}{_gap(r, ref, key, margin)})")
    best = max((r for r in table if r["mode"] == mode and key in r),
               key=lambda r: r[key], default=None)
    if best is None:
        return f"{mode} not measured"
    return (f"not within 0.05 at any measured width (best {best[key]:.2f} at "
            f"N = {best['n_units']}, against {ref[key]:.2f} at N = {ref['n_units']}"
            f"{_gap(best, ref, key, margin)})")


def _said(n: int | None, table: list[dict], key: str | None = None, mode: str = "bias",
          margin: float = 0.05) -> str:
    widths = sorted({r["n_units"] for r in table if r["mode"] == "full"})
    if n is not None:
        if key is None:
            return f"N = {n}"
        table = _one_per_width(table, key)
        row = next(r for r in table if r["mode"] == mode and r["n_units"] == n)
        ref = next(r for r in table if r["mode"] == "full" and r["n_units"] == n)
        return f"N = {n} ({row[key]:.2f} against {ref[key]:.2f}{_gap(row, ref, key, margin)})"
    return f"not within 0.05 at any measured width ({', '.join(map(str, widths)) or 'none'})"


def _sd_of(row: dict, key: str) -> float | None:
    """The seed SD stored beside ``key`` (``<task>_sd`` or, for ``<metric>_mean``,
    ``<metric>_sd``), or None when the row has none."""
    if key + "_sd" in row:
        return row[key + "_sd"]
    if key.endswith("_mean") and key[:-5] + "_sd" in row:
        return row[key[:-5] + "_sd"]
    return None


def _gap(row: dict, ref: dict, key: str, margin: float) -> str:
    """``; gap G ± SE`` (how far ``row`` is below ``ref``, with the standard error of that
    difference from the two seed SDs), and a warning when the margin is inside 2 SE of it."""
    if not row.get("seeds") or not ref.get("seeds"):
        return ""
    gap = ref[key] - row[key]
    if min(row["seeds"], ref["seeds"]) < 2:  # no spread measured to judge the gap by
        return f"; gap {gap:.3f}, one seed: no SE, not a firm answer"
    sd_a, sd_b = _sd_of(row, key), _sd_of(ref, key)
    if sd_a is None or sd_b is None:
        return ""
    se = math.sqrt(sd_a ** 2 / row["seeds"] + sd_b ** 2 / ref["seeds"])
    text = f"; gap {gap:.3f} ± {se:.3f} SE over seeds"
    if abs(gap - margin) < 2 * se:
        text += f", within 2 SE of the {margin:g} line: not a firm answer"
    return text

if __name__ == "__main__":
    main()
