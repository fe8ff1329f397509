"""Where the comparison tasks lose accuracy: strict accuracy against evidence strength.

yang19.dm1 and yang19.ctxdm1 show two stimuli in modality 1 (ctxdm1 adds a distractor pair in
modality 2) and ask for the direction of the stronger one. The evidence on a trial is the
coherence difference |coh1_mod1 - coh2_mod1| (0.08, 0.16, 0.32 or 0.64 in NeuroGym's yang19
tasks), shown for the trial's stimulus period. This script scores finished runs on fresh trials
(the "reevaluate" stream, as analyses/reevaluate.py) and tabulates strict accuracy per task
against the coherence difference, one line per run folder group, with a figure.

    python analyses/hard_tasks_psychometric.py \
        bias_2048=data/width_table/bias_bf16/runs/circuit.n_units=2048__seed=0 \
        full_1024=data/width_table/full/runs/circuit.n_units=1024__seed=0 \
        --trials 512 --out data/recipe/diagnosis/psychometric
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from neurobias.run import Run, load_run
from neurobias.seeding import generator

TASKS = ("yang19.dm1", "yang19.ctxdm1")
CHUNK = 256


def refuse(message: str) -> None:
    """Bad input: one line on stderr naming what is wrong, exit status 2."""
    print(f"hard_tasks_psychometric.py: {message}", file=sys.stderr)
    sys.exit(2)


ERRORS = ("fixation break", "the other stimulus", "a neighbouring direction", "elsewhere")


def _direction(theta: torch.Tensor) -> torch.Tensor:
    """Output index (1..16) of a stimulus angle: 16 directions 2 pi / 16 apart, 0 = fixation."""
    return torch.round(theta / (2 * torch.pi / 16)).long() % 16 + 1


def error_kinds(correct: torch.Tensor, fix_break: torch.Tensor, choice: torch.Tensor,
                truth: torch.Tensor, other: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each wrong trial under exactly one kind of ERRORS, in that order of precedence.

    All arguments are (trial,): correct and fix_break bool, choice, truth and the other
    stimulus's direction as output indices (0 = fixation, 1..16 = directions). Returns one
    bool (trial,) mask per kind."""
    step = (choice - truth).abs()  # 15: neighbours across the ring's seam (16 and 1)
    tests = [fix_break, choice == other, (choice > 0) & ((step == 1) | (step == 15)),
             torch.ones_like(correct)]
    taken = correct.clone()
    out = {}
    for name, hit in zip(ERRORS, tests, strict=True):
        out[name] = hit & ~taken
        taken |= out[name]
    return out


@torch.no_grad()
def by_evidence(run: Run | Path, task: str, trials: int,
                errors: dict[str, int] | None = None) -> dict[float, tuple[int, int]]:
    """{coherence difference: (correct trials, trials)} for ``task`` on fresh trials of ``run``
    (a loaded Run or its folder).

    ``errors``, if given, is filled with counts of the wrong trials by kind (ERRORS): a
    fixation break; the choice is the other (weaker) stimulus's direction; the choice is one
    direction (22.5 degrees) from the right one; anything else."""
    if not isinstance(run, Run):
        run = load_run(run)
    env = run.env
    k = env.task_names.index(task)
    gen = generator(run.config.seed, "reevaluate")
    counts: dict[float, list[int]] = {}
    done = 0
    while done < trials:
        n = min(CHUNK, trials - done)
        batch = env.batch_for_task(k, n, gen)
        y = run.net(batch.inputs, batch.context).outputs
        scored = env.score(y, batch)
        correct = scored["correct"]
        if errors is not None:
            c = batch.conditions
            truth = scored["truth"].cpu()
            other = torch.where(truth == _direction(c["theta1"]), _direction(c["theta2"]),
                                _direction(c["theta1"]))
            kinds = error_kinds(correct.cpu(), scored["fix_break"].cpu(),
                                scored["choice"].cpu(), truth, other)
            for name, hit in kinds.items():
                errors[name] = errors.get(name, 0) + int(hit.sum())
        diff = (batch.conditions["coh1_mod1"] - batch.conditions["coh2_mod1"]).abs()
        for d, c in zip(diff.tolist(), correct.tolist(), strict=True):
            key = round(d, 2)
            tally = counts.setdefault(key, [0, 0])
            tally[0] += int(c)
            tally[1] += 1
        done += n
    return {d: (c, t) for d, (c, t) in sorted(counts.items())}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="LABEL=RUN_DIR, one per run")
    ap.add_argument("--trials", type=int, default=512, help="fresh trials per task and run")
    ap.add_argument("--out", required=True, help="folder for table.md and psychometric.png")
    args = ap.parse_args(argv)
    if args.trials < 1:
        refuse(f"--trials={args.trials} is invalid: must be >= 1")
    pairs = []
    for item in args.runs:
        label, sep, path = item.partition("=")
        if not sep or not (Path(path) / "summary.json").is_file():
            refuse(f"{item!r} is invalid: give LABEL=RUN_DIR of a "
                     "finished run (with summary.json)")
        pairs.append((label, Path(path)))
    torch.set_num_threads(1)
    errors = {(label, task): {} for label, _ in pairs for task in TASKS}
    loaded = {label: load_run(path) for label, path in pairs}  # once per run, not per task
    results = {(label, task): by_evidence(loaded[label], task, args.trials, errors[(label, task)])
               for label, _ in pairs for task in TASKS}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    diffs = sorted({d for r in results.values() for d in r})
    lines = [f"Strict accuracy against the coherence difference |coh1_mod1 - coh2_mod1|, "
             f"{args.trials} fresh trials per task and run (stream 'reevaluate'); "
             "trials per cell in brackets.", "",
             "| run | task | " + " | ".join(f"{d:.2f}" for d in diffs) + " | all |",
             "|---|---" + "|---" * (len(diffs) + 1) + "|"]
    fig, axes = plt.subplots(1, len(TASKS), figsize=(4.2 * len(TASKS), 3.4), sharey=True)
    for ax, task in zip(axes, TASKS, strict=True):
        for label, _ in pairs:
            r = results[(label, task)]
            cells = [f"{r[d][0] / r[d][1]:.2f} ({r[d][1]})" if d in r else "-" for d in diffs]
            total = sum(c for c, _ in r.values()) / sum(t for _, t in r.values())
            lines.append(f"| {label} | {task} | " + " | ".join(cells) + f" | {total:.2f} |")
            xs = list(r)
            ax.plot(xs, [r[d][0] / r[d][1] for d in xs], "o-", label=f"{label} ({total:.2f})")
        ax.axhline(0.75, color="0.6", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xticks(diffs, [f"{d:.2f}" for d in diffs])
        ax.minorticks_off()
        ax.set_title(task)
        ax.set_xlabel("coherence difference")
    axes[0].set_ylabel("strict accuracy")
    axes[0].set_ylim(0, 1.02)
    axes[-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    lines += ["", "Wrong trials by kind (fraction of all trials): " + ", ".join(ERRORS) + ".", "",
              "| run | task | " + " | ".join(ERRORS) + " |",
              "|---|---" + "|---" * len(ERRORS) + "|"]
    for task in TASKS:
        for label, _ in pairs:
            e = errors[(label, task)]
            lines.append(f"| {label} | {task} | "
                         + " | ".join(f"{e.get(k, 0) / args.trials:.2f}" for k in ERRORS) + " |")
    fig.savefig(out / "psychometric.png", dpi=120)
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
