"""Known answer 2 of fitting: a random circuit of another seed fits a teacher's held-out trials
through its tonic inputs, better the wider it is (R^2 against N / M).

Williams et al. (2025) prove that a circuit with fixed random weights and learned biases
approximates any finite-time dynamics given enough units. This script asks it on data whose
answer is known: a teacher circuit (M = 40 softplus units, gain 1, 4 conditions each with its own
planted tonic-input row, 3 smoothed random input channels that differ from trial to trial, 50
steps of 20 ms, 40 trials per condition) is recorded in full; students of other seeds, N = M x
(1, 2, 4, 8, 16) softplus units, are fitted to 32 trials per condition and scored on the 8 held
out (per-neuron R^2, pooled over time and trials). The students meet the data through a readout
(coupling "readout", one output per neuron, per-neuron std scale): fixed random in mode `bias`,
trained in mode `bias+readout`. With ``--coupling units`` every teacher neuron is a student unit
(plus N - M hidden units), mode `bias`.

Stages (each resumable; run from the repository root, one torch thread):

    python analyses/fit_width.py                     # data, sweep, gather (readout coupling)
    python analyses/fit_width.py --gather-only       # only the table and figure
    python analyses/fit_width.py --coupling units --ratios 1,2,4,8  # the "units" coupling

The teacher recording is written to sweeps/fit_width_teacher.npz (arrays activity, inputs,
condition, dt_ms) and described in OUT/teacher.json. Each width and seed is one
``neurobias.sweep`` over the modes (local, one run at a time) in SWEEP/n<N>/seed<seed>, widths
outer, so running the same command again skips finished runs and continues unfinished ones from
their last checkpoint. The gathering reads every sweeps/fit_width*/n*/seed* folder: the table
(OUT/table.csv, OUT/table.md) holds held-out R^2 mean, SD, min and max over seeds per coupling,
mode and N / M (OUT/runs.csv one row per run); the figure is OUT/fit_width.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
from pathlib import Path

import numpy as np
import torch

import neurobias as nb
from neurobias.io.teacher import teacher_recording

M = 40  # teacher neurons, all recorded
N_COND = 4
N_STEPS = 50
N_INPUTS = 3
TRIALS_PER_CONDITION = 40  # 32 train + 8 held out per condition (heldout_trials = 0.2)
TEACHER_SEED = 1000  # connectivity of the teacher; the students use seeds 0, 1, 2
BIAS_STD = 1.0  # planted tonic inputs ~ N(0, BIAS_STD^2)
RATIOS = (1, 2, 4, 8, 16)
MODES = ("bias", "bias+readout")


def circuit_settings() -> dict:
    """What teacher and students share (only the seed, the width and the mode differ)."""
    return {"tau_ms": 100.0, "dt_ms": 20.0, "gain": 1.0, "activation": "softplus"}


def make_teacher(path: Path, n_inputs: int = N_INPUTS) -> dict:
    """Write the teacher recording to ``path`` (.npz) and return its description.

    With ``n_inputs = 0`` the teacher has no inputs: the trials of a condition are identical
    and differ between conditions only by the planted tonic inputs (the claim of Williams et
    al. 2025 for finite-time dynamics); with inputs, every trial has its own input, which a
    student sees only through its own fixed random W_in.
    """
    cfg = nb.CircuitConfig(n_units=M, n_inputs=n_inputs, n_outputs=M, n_contexts=N_COND,
                           mode="bias", **circuit_settings())
    teacher = nb.RateRNN(cfg, seed=TEACHER_SEED)
    g = torch.Generator().manual_seed(TEACHER_SEED + 1)
    with torch.no_grad():
        teacher.biases.copy_(BIAS_STD * torch.randn(N_COND, M, generator=g))
    data = teacher_recording(teacher, trials_per_condition=TRIALS_PER_CONDITION,
                             n_steps=N_STEPS, seed=TEACHER_SEED + 2, input_std=1.0,
                             input_smooth_ms=100.0)
    rec = data.recording
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, activity=rec.rates.astype(np.float32), inputs=rec.inputs,
             condition=np.array(rec.condition_names)[rec.condition], dt_ms=np.float64(rec.dt_ms))
    r = rec.rates
    return {"file": str(path), "neurons": M, "conditions": N_COND, "steps": N_STEPS,
            "dt_ms": rec.dt_ms, "inputs": n_inputs, "trials_per_condition": TRIALS_PER_CONDITION,
            "teacher_seed": TEACHER_SEED, "bias_std": BIAS_STD, "circuit": circuit_settings(),
            "input": "white noise smoothed by a 100 ms Gaussian, std 1 per channel",
            "rate_mean": float(r.mean()), "rate_max": float(r.max()),
            "rate_std_over_time_mean": float(r.std(axis=1).mean())}


def spec(npz: Path, coupling: str, steps: int) -> dict:
    return {
        "name": f"fit_width_{coupling}", "seed": 0,
        "circuit": {"n_units": 4 * M, "mode": "bias", "readout_scale": 1.0,
                    "bias_init_std": 0.1, **circuit_settings()},
        "env": {"kind": "recording", "path": str(npz), "coupling": coupling,
                "normalize": "std", "heldout_trials": 0.2, "split_seed": 0},
        "train": {"steps": steps, "batch_size": 32, "lr": 3e-2, "lr_schedule": "cosine",
                  "lr_final": 1e-3, "eval_every": 250, "checkpoint_every": 250},
    }


def gather(sweep_dir: Path) -> list[dict]:
    """One row per finished run: mode, N, N / M, seed, held-out metrics, learned numbers."""
    manifest = json.loads((sweep_dir / "manifest.json").read_text())
    rows = []
    for name, entry in sorted(manifest["runs"].items()):
        run = sweep_dir / entry["dir"]
        if not (run / "summary.json").exists():
            continue
        s = json.loads((run / "summary.json").read_text())
        cfg = json.loads((run / "config.json").read_text())
        n = cfg["circuit"]["n_units"]
        rows.append({"coupling": cfg["env"].get("coupling", "units"),
                     "mode": cfg["circuit"]["mode"], "n_units": n, "n_over_m": n // M,
                     "seed": cfg["seed"], "r2": s["r2"], "psth_r2_mean": s["psth_r2_mean"],
                     "pvar": s["pvar"], "n_trainable": s["n_trainable"], "steps": s["steps"],
                     "seconds": s["seconds"], "run": name})
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["coupling"], r["mode"], r["n_units"]), []).append(r)
    out = []
    for (coupling, mode, n), rs in sorted(groups.items()):
        row = {"coupling": coupling, "mode": mode, "n_units": n, "n_over_m": n // M,
               "n_trainable": rs[0]["n_trainable"], "seeds": len(rs)}
        for key in ("r2", "psth_r2_mean", "pvar"):
            vals = [r[key] for r in rs]
            row[f"{key}_mean"] = statistics.fmean(vals)
            row[f"{key}_sd"] = statistics.stdev(vals) if len(vals) > 1 else 0.0
        row["r2_min"] = min(r["r2"] for r in rs)
        row["r2_max"] = max(r["r2"] for r in rs)
        row["steps"] = rs[0]["steps"]
        row["minutes_mean"] = statistics.fmean(r["seconds"] for r in rs) / 60
        out.append(row)
    return out


def write_outputs(table: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    md = ["| coupling | mode | N / M | N | learned numbers | seeds | held-out R^2 (mean ± SD) "
          "| min – max | PSTH R^2 | pVar |", "|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['coupling']} | {r['mode']} | {r['n_over_m']} | {r['n_units']} | "
           f"{r['n_trainable']} | {r['seeds']} | {r['r2_mean']:.3f} ± {r['r2_sd']:.3f} | "
           f"{r['r2_min']:.3f} – {r['r2_max']:.3f} | {r['psth_r2_mean_mean']:.3f} | "
           f"{r['pvar_mean']:.3f} |" for r in table]
    (out / "table.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    fig, ax = plt.subplots(figsize=(5.2, 3.8), constrained_layout=True)
    for coupling, mode in sorted({(r["coupling"], r["mode"]) for r in table}):
        pts = [r for r in table if (r["coupling"], r["mode"]) == (coupling, mode)]
        label = f"{mode} ({'fixed random' if mode == 'bias' else 'trained'} readout)" \
            if coupling == "readout" else f"{mode} (neuron = unit, + hidden units)"
        ax.errorbar([r["n_over_m"] for r in pts], [r["r2_mean"] for r in pts],
                    yerr=[r["r2_sd"] for r in pts], marker="o", capsize=3, label=label)
    ax.axhline(0.95, color="0.6", lw=0.8, ls="--")
    ax.set_xscale("log", base=2)
    ax.set_xticks(RATIOS, [str(r) for r in RATIOS])
    ax.set_xlabel("student width N / M  (M = 40 recorded neurons)")
    seeds = sorted({r["seeds"] for r in table})
    ax.set_ylabel(f"held-out R$^2$ (mean ± SD over {'/'.join(map(str, seeds))} seeds)")
    ax.set_xlim(0.8, 20)
    ax.text(0.85, 0.955, "0.95", color="0.5", fontsize=7, va="bottom")
    ax.set_title("Teacher-student fit through tonic inputs", fontsize=10)
    lo = min(r["r2_mean"] - r["r2_sd"] for r in table)
    ax.set_ylim(max(lo - 0.05, -0.5), 1.01)
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(out / "fit_width.png", dpi=120)
    plt.close(fig)
    print(out / "fit_width.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coupling", choices=("readout", "units"), default="readout")
    parser.add_argument("--ratios", default=",".join(map(str, RATIOS)),
                        help="N / M values (1,2,4,8,16)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--sweep", help="sweep folder (sweeps/fit_width[_units])")
    parser.add_argument("--out", default="data/fit_width", help="table and figure folder")
    parser.add_argument("--gather-only", action="store_true")
    parser.add_argument("--inputs", type=int, default=N_INPUTS,
                        help="teacher input channels (3); 0: conditions differ only by their "
                        "tonic inputs (sweeps/fit_width_in0, data/fit_width_in0)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="first student seed (to run seeds in parallel processes)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tag = "" if args.inputs == N_INPUTS else f"_in{args.inputs}"
    sweep_dir = Path(args.sweep or ("sweeps/fit_width" + tag + ("_units" if args.coupling ==
                                                               "units" else "")))
    out = Path(args.out + tag if args.out == "data/fit_width" else args.out)
    npz = Path(f"sweeps/fit_width_teacher{tag}.npz")
    if not args.gather_only:
        if not npz.exists():
            desc = make_teacher(npz, args.inputs)
            out.mkdir(parents=True, exist_ok=True)
            (out / "teacher.json").write_text(json.dumps(desc, indent=2) + "\n")
        ratios = [int(x) for x in args.ratios.split(",")]
        modes = MODES if args.coupling == "readout" else ("bias",)
        # neurobias.sweep gives a local job all cores / jobs torch threads and has no option
        # for fewer; this machine is shared, so the sweep is told it has one core.
        os.cpu_count = lambda: 1
        # one sweep (over the modes) per width and seed, widths outer: every seed of the
        # small widths finishes before the slow wide runs start
        for ratio in ratios:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                folder = sweep_dir / f"n{ratio * M}" / f"seed{seed}"
                base = spec(npz, args.coupling, args.steps)
                base["seed"] = seed
                base["circuit"]["n_units"] = ratio * M
                result = nb.sweep(base, {"circuit.mode": list(modes)}, folder, seeds=1,
                                  executor="local", jobs=1, progress=False)
                print(f"{sum(s == 'finished' for s in result.runs.values())} of "
                      f"{len(result.runs)} runs finished in {folder}", flush=True)
                for name, err in result.errors.items():
                    print(f"failed: {name}: {err}", flush=True)
    rows = []
    roots = [p for p in Path("sweeps").glob(f"fit_width{tag}*")
             if p.is_dir() and (tag or not p.name.startswith("fit_width_in"))]
    for manifest in sorted(m for r in roots for m in r.glob("n*/seed*/manifest.json")):
        rows += gather(manifest.parent)
    if not rows:
        print("no finished run yet")
        return
    with open(out / "runs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_outputs(summarise(rows), out)


if __name__ == "__main__":
    main()
