"""Training-step time of a mixed eight-task batch: padded against packed, beside one-task batches.

The multitask spec (tasks/multitask.toml, N = 512, bias mode) trained with ``env.mixed_batches``
draws every batch from all eight tasks, whose trials last 59 to 160 steps (dt = 20 ms): padded to
the longest, a batch of 64 runs 160 steps for every trial, about 1.7 times the steps its trials
last. ``NeuroGymEnv.training_loss`` passes the trials' lengths to the circuit, which then
simulates each trial only up to its own length (``RateRNN.forward(lengths=...)``; mixed batches
come longest trial first, so the running trials are a prefix of the batch). Contenders, one
process, the same circuit, batches drawn once and reused:

- ``mixed, packed``: what ``fit`` runs with ``env.mixed_batches = true``.
- ``mixed, padded``: the same batches with every trial run for the batch's full length (the
  circuit called without ``lengths``, as before packing); the losses must agree (rtol 1e-5).
- ``one task``: the recipe's batches (one task per batch, 64 trials), cycled through the eight
  tasks so each repeat sees every task once; packed as ``fit`` runs them (trials of dm1 and
  ctxdm1 vary in length: those batches are reordered inside the circuit, longest first).
- ``one task, padded``: the same batches run without ``lengths`` (what packing saves or costs
  on one-task batches).
- floors: the recurrent matmuls alone, (m, N) x (N, N) for every step's m running trials (all
  64 for the padded batch), forward and backward, on preallocated buffers: no step that
  simulates the same trial-steps does less matmul work.

Every repeat runs each contender over the same 8 batches in a freshly shuffled order; the table
gives min and median over repeats of ms per batch and the ratios of the minima.

    OMP_NUM_THREADS=1 python benchmarks/mixed_batches.py [--repeats 7] [--threads 1]
        [--json data/bench_mixed_batches_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path

import torch

from neurobias.config import load_config
from neurobias.run import build

ROOT = Path(__file__).resolve().parents[1]


def _step(net, opt, env, batch, packed: bool) -> float:
    lengths = batch.conditions["length"] if packed else None
    out = net(batch.inputs, batch.context, lengths=lengths)
    loss = env.loss(out.outputs, batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def _floor(batches, n: int, packed: bool = True):
    """The floor's products for ``batches``: the running trials of every step (all of a
    batch's trials when not ``packed``) and the buffers, prepared outside the timing; returns
    the function to time."""
    w = torch.randn(n, n) / n ** 0.5
    x = torch.randn(max(b.n_trials for b in batches), n)
    out = torch.empty_like(x)
    rows = [int((b.conditions["length"] > t).sum()) if packed else b.n_trials
            for b in batches for t in range(b.n_steps)]

    def run() -> None:
        for m in rows:
            for _ in range(2):  # forward and backward products
                torch.mm(x[:m], w, out=out[:m])
    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    mixed_cfg = load_config(ROOT / "tasks/multitask.toml", ["env.mixed_batches=true"])
    net, mixed_env = build(mixed_cfg)
    _, one_env = build(load_config(ROOT / "tasks/multitask.toml"))
    gen = torch.Generator().manual_seed(0)
    mixed = [mixed_env.sample(64, gen) for _ in range(8)]
    one = [one_env.batch_for_task(k, 64, gen) for k in range(8)]
    steps_run = sum(int(b.conditions["length"].sum()) for b in mixed)
    steps_padded = sum(b.n_steps * b.n_trials for b in mixed)
    opt = torch.optim.Adam([q for q in net.parameters() if q.requires_grad], lr=0.0)
    for b in mixed:  # same loss with and without packing (lr 0: the circuit does not change)
        a, c = _step(net, opt, mixed_env, b, True), _step(net, opt, mixed_env, b, False)
        if abs(a - c) > 1e-5 * abs(c):
            raise SystemExit(f"packed loss {a} differs from padded {c}")
    runs = {
        "mixed, packed": lambda: [_step(net, opt, mixed_env, b, True) for b in mixed],
        "mixed, padded": lambda: [_step(net, opt, mixed_env, b, False) for b in mixed],
        "one task": lambda: [_step(net, opt, one_env, b, True) for b in one],
        "one task, padded": lambda: [_step(net, opt, one_env, b, False) for b in one],
        "floor (mixed, packed)": _floor(mixed, net.config.n_units),
        "floor (mixed, padded)": _floor(mixed, net.config.n_units, packed=False),
        "floor (one task)": _floor(one, net.config.n_units),
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():  # warm-up
        fn()
    for _ in range(args.repeats):
        order = list(runs)
        random.shuffle(order)
        for k in order:
            t0 = time.perf_counter()
            runs[k]()
            times[k].append((time.perf_counter() - t0) / 8 * 1e3)
    best = {k: min(v) for k, v in times.items()}
    print(f"N = {net.config.n_units}, batch 64, {args.threads} thread(s), {args.repeats} repeats; "
          f"mixed batches: {steps_run} trial-steps run of {steps_padded} padded "
          f"({steps_padded / steps_run:.2f}x)")
    print(f"{'contender':24s} {'min ms':>8s} {'median ms':>10s} {'packed / this':>14s}")
    for k, v in times.items():
        print(f"{k:24s} {best[k]:8.1f} {statistics.median(v):10.1f} "
              f"{best['mixed, packed'] / best[k]:14.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
            "threads": args.threads, "repeats": args.repeats, "n_units": net.config.n_units,
            "batch_size": 64, "trial_steps_run": steps_run, "trial_steps_padded": steps_padded,
            "ms_per_batch": {k: {"min": best[k], "median": statistics.median(v)}
                             for k, v in times.items()},
            "padded_over_packed": best["mixed, padded"] / best["mixed, packed"],
            "one_task_over_packed_mixed": best["one task"] / best["mixed, packed"],
            "one_task_padded_over_packed": best["one task, padded"] / best["one task"],
            "floor_fraction": best["floor (mixed, packed)"] / best["mixed, packed"],
        }, indent=1) + "\n")


if __name__ == "__main__":
    main()
