"""Re-evaluate trained multitask runs on many fresh trials: strict accuracy per task.

A run's own evaluations use the same `env.eval_trials` trials (128 per task by default) at
every periodic evaluation and at the end, so a choice made by looking at them (which recipe,
which step) is tuned to those trials, and at 128 trials a task accuracy near 0.75 has a
standard error of about 0.04. This script loads each finished run (its checkpoint), draws
`--trials` new trials per task from a random stream the run never used ("reevaluate", seeded
by the run's seed), and scores them the way training scored its evaluations (float32,
noise-free). One row per run, then mean ± SD over the runs of each folder, and whether every
task reaches `--bar` and the mean reaches `--mean-bar`.

    python analyses/reevaluate.py data/recipe/candidate_2048 --trials 1024 \
        --out data/recipe/candidate_2048/reevaluation

Arguments are sweep folders (their `runs/*`) or run folders; unfinished runs (no
summary.json) are skipped and counted.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

import torch

from neurobias.run import load_run
from neurobias.seeding import generator

CHUNK = 256  # trials per task per forward pass (memory: CHUNK x steps x N floats)


def refuse(message: str) -> None:
    """Bad input: one line on stderr naming what is wrong, exit status 2."""
    print(f"reevaluate.py: {message}", file=sys.stderr)
    sys.exit(2)


def run_folders(paths: list[str]) -> tuple[list[Path], int]:
    """Finished run folders under each path (a run folder, or a sweep folder's runs/*)."""
    found, unfinished = [], 0
    for p in map(Path, paths):
        candidates = [p] if (p / "config.json").is_file() else sorted((p / "runs").glob("*"))
        if not candidates:
            refuse(f"{str(p)!r} is neither a run folder (config.json) nor a "
                     "sweep folder (runs/*)")
        for c in candidates:
            if (c / "summary.json").is_file():
                found.append(c)
            else:
                unfinished += 1
    return found, unfinished


def reevaluate(run_dir: Path, trials: int, stream: str = "reevaluate") -> dict[str, float]:
    """Strict accuracy per task (and their mean) on ``trials`` trials per task from ``stream``.

    With ``stream="eval"`` and the run's own ``env.eval_trials`` (<= CHUNK) this repeats the
    run's final evaluation exactly (a check of this script)."""
    run = load_run(run_dir)
    env = run.env
    gen = generator(run.config.seed, stream)
    sums: dict[str, float] = {}
    done = 0
    while done < trials:
        n = min(CHUNK, trials - done)
        env.eval_trials = n
        part = env.evaluate(run.net, gen)  # the generator moves on: each chunk is new trials
        for key, value in part.items():
            if key.startswith(("accuracy/", "fixation_break/")) or key == "loss":
                sums[key] = sums.get(key, 0.0) + value * n
        done += n
    out = {k: v / trials for k, v in sums.items()}  # "loss": the mean over tasks and trials
    accs = [v for k, v in out.items() if k.startswith("accuracy/")]
    out["accuracy_mean"] = sum(accs) / len(accs)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", help="sweep folders or run folders")
    ap.add_argument("--trials", type=int, default=1024, help="fresh trials per task")
    ap.add_argument("--bar", type=float, default=0.75, help="accuracy every task must reach")
    ap.add_argument("--mean-bar", type=float, default=0.90, help="accuracy_mean to reach")
    ap.add_argument("--stream", default="reevaluate",
                    help="random stream of the trials ('eval': the run's own evaluation trials)")
    ap.add_argument("--out", required=True, help="folder for table.csv and table.md")
    args = ap.parse_args(argv)
    if args.trials < 1:
        refuse(f"--trials={args.trials} is invalid: must be >= 1")
    runs, unfinished = run_folders(args.paths)
    torch.set_num_threads(1)
    if not runs:
        refuse("no finished runs (summary.json) under the paths given")
    rows = []
    for r in runs:
        res = reevaluate(r, args.trials, args.stream)
        rows.append({"run": str(r), **res})
        print(f"{r}: accuracy_mean {res['accuracy_mean']:.3f}", flush=True)
    tasks = sorted({k.split("/", 1)[1] for row in rows for k in row if k.startswith("accuracy/")})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cols = ["run", "accuracy_mean"] + [f"accuracy/{t}" for t in tasks]
    with open(out / "table.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)

    def cell(values: list[float]) -> str:
        return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"

    lines = [f"Strict accuracy on {args.trials} trials per task (stream {args.stream!r}); "
             f"{len(rows)} finished runs, {unfinished} unfinished skipped.", "",
             "| run | accuracy_mean | " + " | ".join(tasks) + " |",
             "|---" * (len(tasks) + 2) + "|"]
    for row in rows:
        lines.append(f"| {Path(row['run']).name} | {row['accuracy_mean']:.3f} | "
                     + " | ".join(f"{row[f'accuracy/{t}']:.3f}" for t in tasks) + " |")
    if len(rows) > 1:  # one run has no spread to state (not an SD of 0)
        lines.append("| mean ± SD | " + cell([r["accuracy_mean"] for r in rows]) + " | "
                     + " | ".join(cell([r[f"accuracy/{t}"] for r in rows]) for t in tasks)
                     + " |")
    passing = [all(r[f"accuracy/{t}"] >= args.bar for t in tasks)
               and r["accuracy_mean"] >= args.mean_bar for r in rows]
    lines += ["", f"Runs with every task >= {args.bar} and accuracy_mean >= {args.mean_bar}: "
              f"{sum(passing)} of {len(rows)}."]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
