"""Time for a circuit to fit a teacher's held-out activity to R^2 >= 0.95 (issue 12's speed).

A teacher circuit (M = 100 softplus units, gain 1, 8 conditions with planted tonic inputs, 3
smoothed random input channels, 100 steps of 20 ms, 20 trials per condition) is recorded in
full. A student of another seed is fitted through the env ``recording`` (coupling "readout",
per-neuron std scale, 4 of every condition's 20 trials held out) with Adam (the same steps as
``neurobias.fit``: gradient clipping at 1, constant learning rate), evaluated on the held-out
trials every ``--every`` steps, and stopped at the first evaluation with R^2 >= ``--target``
(the mean per-neuron R^2 of ``RecordingEnv.evaluate``) or at ``--max-minutes``. Two cases:

* ``readout``: mode bias+readout at N = 4M (issue target: under 5 minutes on 2 cores);
* ``bias``: mode bias (fixed random readout) at N = 16M (issue target: under 30 minutes).

    python benchmarks/fit_recording.py --case readout --json data/bench_fit_recording_cpu.json
    python benchmarks/fit_recording.py --case bias --max-minutes 40 \
        --json data/bench_fit_recording_cpu.json

Each case updates its own entry of the JSON file: wall time (training and evaluations), steps,
the R^2 reached and its trace, the torch thread count, ``os.getloadavg()`` at the start and end
(the machine may be shared) and the CPU. Not a timed test: the time is measured, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

import neurobias as nb
from neurobias.envs.recording import RecordingEnv
from neurobias.io.teacher import teacher_recording
from neurobias.seeding import generator as make_generator

M, N_COND, N_STEPS, N_INPUTS, TRIALS = 100, 8, 100, 3, 20
CASES = {"readout": ("bias+readout", 4), "bias": ("bias", 16)}
SHARED = {"tau_ms": 100.0, "dt_ms": 20.0, "gain": 1.0, "activation": "softplus"}


def teacher_data(seed: int = 1000, n_inputs: int = N_INPUTS):
    cfg = nb.CircuitConfig(n_units=M, n_inputs=n_inputs, n_outputs=M, n_contexts=N_COND,
                           mode="bias", **SHARED)
    teacher = nb.RateRNN(cfg, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        teacher.biases.copy_(torch.randn(N_COND, M, generator=g))
    return teacher_recording(teacher, trials_per_condition=TRIALS, n_steps=N_STEPS,
                             seed=seed + 2)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_case(case: str, *, target: float, every: int, max_minutes: float, lr: float,
             batch_size: int, seed: int, n_inputs: int = N_INPUTS) -> dict:
    mode, ratio = CASES[case]
    data = teacher_data(n_inputs=n_inputs)
    env = RecordingEnv(dt_ms=20.0, recording=data.recording, coupling="readout",
                       normalize="std", heldout_trials=0.2, split_seed=0)
    cfg = nb.CircuitConfig(n_units=ratio * M, n_inputs=n_inputs, n_outputs=M,
                           n_contexts=N_COND, mode=mode, readout_scale=1.0, **SHARED)
    net = nb.RateRNN(cfg, seed=seed)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    gen = make_generator(seed, "trials")
    load0 = os.getloadavg()
    trace = []
    t0 = time.perf_counter()
    step, r2, reached = 0, float("nan"), False
    net.train()
    while True:
        for _ in range(every):
            batch = env.sample(batch_size, gen)
            loss = env.training_loss(net, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
        net.eval()
        r2 = env.evaluate(net, make_generator(seed, "eval"))["r2"]
        net.train()
        elapsed = time.perf_counter() - t0
        trace.append([step, round(elapsed, 1), round(r2, 4)])
        print(f"{case}: step {step}  {elapsed / 60:.1f} min  held-out R^2 {r2:.4f}", flush=True)
        if r2 >= target:
            reached = True
            break
        if elapsed >= 60 * max_minutes:
            break
    return {"mode": mode, "teacher_inputs": n_inputs, "n_units": ratio * M, "n_over_m": ratio,
            "neurons": M,
            "conditions": N_COND, "time_steps": N_STEPS, "trials": N_COND * TRIALS,
            "heldout_trials": int(len(env.test_trials)), "target_r2": target,
            "reached": reached, "seconds": round(time.perf_counter() - t0, 1),
            "steps": step, "final_r2": round(r2, 4), "eval_every": every, "lr": lr,
            "batch_size": batch_size, "student_seed": seed, "torch_threads":
            torch.get_num_threads(), "loadavg_start": [round(x, 2) for x in load0],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()], "cpu": cpu_name(),
            "cores": os.cpu_count(), "max_minutes": max_minutes, "trace": trace}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--every", type=int, default=50, help="evaluate every k steps (50)")
    parser.add_argument("--max-minutes", type=float, default=40.0)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0, help="student seed (teacher: 1000)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--inputs", type=int, default=N_INPUTS,
                        help="teacher input channels (3); 0: conditions differ only by tonic input")
    parser.add_argument("--json", help="update this JSON file with the case's result")
    parser.add_argument("--key", help="entry of the JSON file to write (default: the case)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = run_case(args.case, target=args.target, every=args.every,
                      max_minutes=args.max_minutes, lr=args.lr, batch_size=args.batch_size,
                      seed=args.seed, n_inputs=args.inputs)
    print(json.dumps({k: v for k, v in result.items() if k != "trace"}, indent=2))
    if args.json:
        path = Path(args.json)
        doc = json.loads(path.read_text()) if path.exists() else {}
        doc["command"] = "python benchmarks/fit_recording.py --case CASE --json " + args.json
        doc[args.key or args.case] = result
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(path)


if __name__ == "__main__":
    main()
