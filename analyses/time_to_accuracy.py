"""Time to accuracy, and how far bfloat16 solutions lie from float32 ones.

Part 1 (time to accuracy). Reads the runs of one or more sweeps over ``train.precision``,
``train.steps``, ``train.batch_size``, ``train.lr`` or ``env.mixed_batches``
(data/time_to_accuracy/run.sh) and, for
every run, the first periodic evaluation
whose accuracy_mean reaches a target (0.80 and 0.75 by default): its step and the run's wall
time then (``seconds`` of that evaluation in history.json, earlier evaluations included). Per
condition (precision, steps, batch size, learning rate, one-task or mixed batches): mean and
SD over seeds of that time and of the final scores, and how many seeds got there; the speed-up
is the documented recipe's mean time (fp32, 3000 steps, batch 64 of one task, lr 0.01) over
each condition's.
Writes ``time_to_accuracy.md`` / ``.json`` and a figure of accuracy_mean against wall time.

Part 2 (solutions), with ``--reference``: for each seed, the float32 run is compared with the
bfloat16 run of the same seed and steps (same weights, same trials: only the rounding differs)
and, as the yardstick, with a float32 run of the same weights trained on another trial stream
(``train.seed``; the second sweep of run.sh). Compared: the learned tonic inputs (relative
distance ||b' - b|| / ||b||, and their correlation over all entries), task variance per unit
and task (correlation), the selectivity clusters (k, and the adjusted Rand index between the
two labelings), and the tonic-input / task-variance correlations (Spearman rho per task,
largest difference; and whether the same tasks are significant against the shuffled-unit null,
p < 0.05). Analyses follow ``neurobias.analyze_run`` (fixed points and lesions skipped).
If bf16's distances lie inside the trial-stream yardstick, the analyses built on a bf16 run say
what an fp32 run would say.

    python analyses/time_to_accuracy.py data/time_to_accuracy/sweep \\
        data/time_to_accuracy/batch_screen data/time_to_accuracy/small_batch_long \\
        data/time_to_accuracy/lr_screen \\
        --reference data/time_to_accuracy/trial_stream --out data/time_to_accuracy
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

RECIPE = ("fp32", 3000, 64, 0.01, "one task")  # precision, steps, batch size, lr, batches
# of tasks/multitask.toml


def load_runs(sweep: Path) -> list[dict]:
    """Every finished run of a sweep folder: its settings, evaluations and final scores."""
    rows = []
    for run in sorted((sweep / "runs").iterdir()):
        hist_path = run / "history.json"
        if not hist_path.is_file():
            continue
        cfg = json.loads((run / "config.json").read_text())
        hist = json.loads(hist_path.read_text())
        t = cfg["train"]
        rows.append({"run": run, "seed": cfg["seed"],
                     "key": (t["precision"], t["steps"], t["batch_size"], t["lr"],
                             "mixed" if cfg["env"].get("mixed_batches") else "one task"),
                     "evals": hist["evals"],
                     "final": hist["final"], "seconds": hist["seconds"]})
    return rows


def first_reach(evals: list[dict], target: float) -> tuple[int, float] | None:
    """(step, seconds) of the first evaluation with accuracy_mean >= target, or None."""
    for e in evals:
        if e["accuracy_mean"] >= target:
            return int(e["step"]), float(e["seconds"])
    return None


def mean_sd(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def time_table(rows: list[dict], target: float) -> list[dict]:
    out = []
    keys = sorted({r["key"] for r in rows},
                  key=lambda k: (k != RECIPE, k[4], -k[1], k[0], -k[2], k[3]))
    for key in keys:
        group = [r for r in rows if r["key"] == key]
        reached = [first_reach(r["evals"], target) for r in group]
        times = [x[1] for x in reached if x is not None]
        steps = [x[0] for x in reached if x is not None]
        final = [r["final"]["accuracy_mean"] for r in group]
        out.append({
            "target": target, "precision": key[0], "steps": key[1], "batch_size": key[2],
            "lr": key[3], "batches": key[4], "seeds": len(group),
            "reached": len(times),
            "seconds_to_target": mean_sd(times), "step_to_target": mean_sd(steps),
            "per_seed_seconds": [None if x is None else round(x[1], 1) for x in reached],
            "final_accuracy_mean": mean_sd(final),
            "run_seconds": mean_sd([r["seconds"] for r in group]),
            "per_task": {k.split("/", 1)[1]: mean_sd([r["final"][k] for r in group])
                         for k in sorted(group[0]["final"]) if k.startswith("accuracy/")},
        })
    base = next((t for t, key in zip(out, keys, strict=True) if key == RECIPE), None)
    for t in out:
        ok = base and base["reached"] and t["reached"]
        t["speedup"] = (base["seconds_to_target"][0] / t["seconds_to_target"][0]) if ok else None
    return out


def figure(rows: list[dict], target: float, path: Path) -> None:
    """Accuracy against wall time, one line per run: one-task batches on the left, mixed
    batches on the right, the recipe's runs (thick, black) on both."""
    kinds = [k for k in ("one task", "mixed") if any(r["key"][4] == k for r in rows)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(7.0 * len(kinds), 5.2), sharey=True,
                             constrained_layout=True, squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        keys = sorted({r["key"] for r in rows if r["key"][4] == kind and r["key"] != RECIPE})
        colors = {k: plt.get_cmap("tab10")(i % 10) for i, k in enumerate(keys)}
        colors[RECIPE] = "k"
        for r in rows:
            if r["key"] in colors:
                t = [e["seconds"] / 60 for e in r["evals"]]
                a = [e["accuracy_mean"] for e in r["evals"]]
                ax.plot(t, a, color=colors[r["key"]], lw=2.2 if r["key"] == RECIPE else 1.0,
                        alpha=0.9 if r["key"] == RECIPE else 0.7)
        for k in [RECIPE] + keys:
            ax.plot([], [], color=colors[k], lw=2.2 if k == RECIPE else 1.0,
                    label=f"{k[0]}, {k[1]} steps, batch {k[2]}, lr {k[3]:g}" +
                    (" (recipe)" if k == RECIPE else ""))
        ax.axhline(target, color="0.4", lw=0.8, ls=":")
        ax.set_xlabel("wall time of the run (min; one torch thread, two runs side by side)")
        ax.set_ylim(0, 1)
        ax.legend(loc="lower right", fontsize=7.5)
        ax.set_title(f"batches of {'one task' if kind == 'one task' else 'all eight tasks'}")
    axes[0][0].set_ylabel("accuracy_mean (8 tasks, strict)")
    fig.suptitle("multitask spec, N = 512: one line per run and seed")
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _analysis(run_dir: Path):
    from neurobias.analyze import analyze_run

    return analyze_run(run_dir, lesions=False, fixed_point_starts=1, fixed_point_iters=1,
                          fixed_point_max=1, progress=False)


def compare(a, b) -> dict:
    """How far analysis ``b`` lies from analysis ``a`` (both RunAnalysis of the same circuit)."""
    from sklearn.metrics import adjusted_rand_score

    ba, bb = a.biases.ravel(), b.biases.ravel()
    tva, tvb = a.task_variance.ravel(), b.task_variance.ravel()
    la, lb = a.clustering.labels_, b.clustering.labels_
    both = (la >= 0) & (lb >= 0)
    ra, rb = a.bias_variance.rho_context, b.bias_variance.rho_context
    sa = a.bias_variance.p_shuffle_context < 0.05
    sb = b.bias_variance.p_shuffle_context < 0.05
    return {
        "bias_relative_distance": float(np.linalg.norm(bb - ba) / np.linalg.norm(ba)),
        "bias_correlation": float(np.corrcoef(ba, bb)[0, 1]),
        "task_variance_correlation": float(np.corrcoef(tva, tvb)[0, 1]),
        "clusters": [int(a.clustering.n_clusters_), int(b.clustering.n_clusters_)],
        "cluster_adjusted_rand": float(adjusted_rand_score(la[both], lb[both])),
        "tonic_rho_max_difference": float(np.nanmax(np.abs(ra - rb))),
        "tonic_rho": [[round(float(x), 3) for x in ra], [round(float(x), 3) for x in rb]],
        "tonic_significant_same": bool((sa == sb).all()),
    }


def solutions(rows: list[dict], reference: list[dict]) -> list[dict]:
    out = []
    for seed in sorted({r["seed"] for r in rows}):
        fp32 = next((r for r in rows if r["seed"] == seed and r["key"] == RECIPE), None)
        bf16 = next((r for r in rows if r["seed"] == seed and r["key"] == ("bf16",) + RECIPE[1:]),
                    None)
        other = next((r for r in reference if r["seed"] == seed), None)
        if fp32 is None:
            continue
        base = _analysis(fp32["run"])
        row = {"seed": seed}
        if bf16 is not None:
            row["bf16_vs_fp32"] = compare(base, _analysis(bf16["run"]))
        if other is not None:
            row["other_trials_vs_fp32"] = compare(base, _analysis(other["run"]))
        out.append(row)
        print(json.dumps(row))
    return out


def fmt(ms: tuple[float, float], digits: int = 3, n: int = 2) -> str:
    """mean ± SD; the mean alone from one value, "-" from none."""
    if ms[0] != ms[0]:  # nan: no value
        return "-"
    if n < 2:
        return f"{ms[0]:.{digits}f}"
    return f"{ms[0]:.{digits}f} ± {ms[1]:.{digits}f}"


def markdown(tables: list[list[dict]], sols: list[dict]) -> str:
    table = tables[0]
    lines = ["# Time to accuracy (multitask spec, N = 512)", "",
             "Mean ± SD over seeds; time = the run's wall time at the first evaluation (every "
             "100 steps) at or above the target, one torch thread per run, two runs side by "
             "side on 2 cores; the speed-up is the recipe's mean time (fp32, 3000 steps, batch "
             "64 of one task, lr 0.01) over the row's (only seeds that reached the target "
             "count). Batches: 'one task' draws a task per batch, 'mixed' holds every task "
             "in each batch (env.mixed_batches).", "",
             "| target | precision | steps | batch | batches | lr | seeds reaching | "
             "step to target | minutes to target | speed-up | final accuracy_mean | "
             "run minutes |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in (t for tab in tables for t in tab):
        s, m = t["step_to_target"], t["seconds_to_target"]
        sp = f"{t['speedup']:.2f}x" if t["speedup"] else "-"
        k = t["reached"]
        lines.append(f"| {t['target']:.2f} | {t['precision']} | {t['steps']} | "
                     f"{t['batch_size']} | {t['batches']} | {t['lr']:g} | {k} of {t['seeds']} | "
                     f"{fmt(s, 0, k)} | {fmt((m[0] / 60, m[1] / 60), 2, k)} | {sp} | "
                     f"{fmt(t['final_accuracy_mean'], 3, t['seeds'])} | "
                     f"{t['run_seconds'][0] / 60:.1f} |")
    tasks = list(table[0]["per_task"])
    lines += ["", "Final accuracy per task (mean ± SD over seeds):", "",
              "| precision | steps | batch | batches | lr | " + " | ".join(tasks) + " |",
              "|---|---|---|---|---|" + "---|" * len(tasks)]
    for t in table:
        lines.append(f"| {t['precision']} | {t['steps']} | {t['batch_size']} | {t['batches']} | "
                     f"{t['lr']:g} | " +
                     " | ".join(fmt(t["per_task"][k], 2, t["seeds"]) for k in tasks) + " |")
    if sols:
        lines += ["", "# bf16 against fp32 solutions (same seed, same weights, 3000 steps)", "",
                  "Yardstick: fp32 trained on another trial stream (train.seed = 1000).", "",
                  "| seed | pair | bias distance | bias r | task-variance r | k | cluster ARI | "
                  "max Δrho | same significant tasks |", "|---|---|---|---|---|---|---|---|---|"]
        for s in sols:
            for key, label in (("bf16_vs_fp32", "bf16 vs fp32"),
                               ("other_trials_vs_fp32", "other trials vs fp32")):
                if key in s:
                    c = s[key]
                    lines.append(
                        f"| {s['seed']} | {label} | {c['bias_relative_distance']:.3f} | "
                        f"{c['bias_correlation']:.3f} | {c['task_variance_correlation']:.3f} | "
                        f"{c['clusters'][0]} / {c['clusters'][1]} | "
                        f"{c['cluster_adjusted_rand']:.2f} | "
                        f"{c['tonic_rho_max_difference']:.3f} | "
                        f"{'yes' if c['tonic_significant_same'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("sweep", nargs="+", help="sweep folders (over train.precision, "
                   "train.steps, train.batch_size, train.lr)")
    p.add_argument("--reference", help="sweep folder of fp32 runs on another trial stream")
    p.add_argument("--targets", type=float, nargs="+", default=[0.80, 0.75],
                   help="accuracy_mean levels to time (the first one is drawn)")
    p.add_argument("--out", default="data/time_to_accuracy")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [r for folder in args.sweep for r in load_runs(Path(folder))]
    if not rows:
        raise SystemExit(f"{' '.join(args.sweep)}: no finished runs (history.json) under runs/")
    tables = [time_table(rows, target) for target in args.targets]
    sols = solutions(rows, load_runs(Path(args.reference))) if args.reference else []
    figure(rows, args.targets[0], out / "time_to_accuracy.png")
    (out / "time_to_accuracy.json").write_text(
        json.dumps({"tables": tables, "solutions": sols}, indent=1) + "\n")
    text = markdown(tables, sols)
    (out / "time_to_accuracy.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
