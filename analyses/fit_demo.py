"""The fitting demo per task: held-out R^2 of each task for runs of tasks/fit_recording.toml.

For every run folder given (e.g. the demo at N / M = 2, 4, 8), rebuilds the fitted circuit and
its env, predicts the held-out trials and scores each task (context) separately:

* ``r2_mean``/``r2_median``: per-neuron R^2 over that task's held-out trials and valid bins
  (``neurobias.analysis.per_neuron_r2``), mean and median over the neurons; a neuron constant
  in a task has no R^2 there and is left out;
* ``psth_r2``: the run's ``psth_r2/<task>`` (trial-averaged prediction against the trial-averaged
  recording, each neuron about its own time mean, pooled over neurons).

    neurobias train tasks/fit_recording.toml --out runs/fit_recording
    neurobias train tasks/fit_recording.toml --out runs/fit_recording_n128 --set circuit.n_units=128
    neurobias train tasks/fit_recording.toml --out runs/fit_recording_n512 --set circuit.n_units=512
    python analyses/fit_demo.py runs/fit_recording_n128 runs/fit_recording runs/fit_recording_n512 \
        --out data/fit_recording_demo

Writes OUT/table.csv (one row per run and task) and OUT/table.md (tasks as rows, runs as
columns).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch

import neurobias as nb
from neurobias.analysis.fitting import per_neuron_r2


def score(run_dir: str) -> list[dict]:
    run = nb.load_run(run_dir)
    env = run.env
    trials = env.eval_trials
    pred = env.predictions(run.net, trials)  # (time, trial, neuron)
    idx = torch.from_numpy(trials)
    data = env._rates[:, idx].double().numpy()
    valid = env._valid[:, idx].numpy()
    cond = env._condition[idx].numpy()
    hin = env.heldin_neurons
    n, m = run.config.circuit.n_units, env.n_neurons
    rows = []
    for c, name in enumerate(env.context_names):
        sel = cond == c
        r2 = per_neuron_r2(pred[:, sel][..., hin], data[:, sel][..., hin], valid[:, sel])
        rows.append({"run": str(run_dir), "n_units": n, "n_over_m": n / m, "task": name,
                     "heldout_trials": int(sel.sum()), "neurons_scored": int(np.isfinite(r2).sum()),
                     "r2_mean": float(np.nanmean(r2)), "r2_median": float(np.nanmedian(r2)),
                     "psth_r2": float(run.summary[f"psth_r2/{name}"])})
    rows.append({"run": str(run_dir), "n_units": n, "n_over_m": n / m, "task": "all",
                 "heldout_trials": len(trials), "neurons_scored": len(hin),
                 "r2_mean": run.summary["r2"], "r2_median": run.summary["r2_median"],
                 "psth_r2": run.summary["psth_r2_mean"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders of tasks/fit_recording.toml")
    parser.add_argument("--out", default="data/fit_recording_demo")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [r for run in args.runs for r in score(run)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    runs = sorted({(r["n_units"], r["n_over_m"]) for r in rows})
    head = "| task | " + " | ".join(f"N = {n} ({q:g} M): R^2 mean / median / PSTH R^2"
                                     for n, q in runs) + " |"
    md = [head, "|---|" + "---|" * len(runs)]
    for task in dict.fromkeys(r["task"] for r in rows):
        cells = []
        for n, _ in runs:
            r = next(x for x in rows if x["task"] == task and x["n_units"] == n)
            cells.append(f"{r['r2_mean']:.2f} / {r['r2_median']:.2f} / {r['psth_r2']:.2f}")
        md.append(f"| {task} | " + " | ".join(cells) + " |")
    (out / "table.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
