"""Closed-loop reaching rollouts: the batched torch path against a per-trial loop, same process.

One training step's work, forward and backward: a circuit (bias mode) drives the plant for a
batch of 256 reaches x 100 steps (2 s at dt = 20 ms) and the reaching loss is differentiated
through circuit and plant. The baseline is what a user of the single-trial gymnasium env would
write to get the same gradient: a Python loop over trials, each stepping the circuit and calling
the plant for that one trial. Both use the same circuit, trials and plant code; the script checks
that their losses and gradients agree and prints the time ratio baseline / batched.

    python benchmarks/reaching.py [--plants point_mass arm] [--batch 256] [--n-units 256]
                                  [--repeats 3] [--json data/bench_reaching_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

import neurobias as nb
from neurobias.envs.reaching import CenterOutReach


def batched(env, net, batch):
    loss = env.training_loss(net, batch)
    loss.backward()
    return loss.detach()


def per_trial(env, net, batch):
    """A Python loop over trials: the circuit and the plant stepped for one trial at a time."""
    total = 0.0
    n = batch.n_trials
    for b in range(n):
        one = nb.envs.TrialBatch(batch.inputs[:, b:b + 1], batch.targets[:, b:b + 1],
                                 batch.mask[:, b:b + 1], batch.context[b:b + 1],
                                 {k: v[b:b + 1] for k, v in batch.conditions.items()})
        loss = env.training_loss(net, one) / n
        loss.backward()
        total = total + loss.detach()
    return total


def timed(fn, env, net, batch, repeats):
    times, loss = [], None
    for _ in range(repeats):
        net.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        loss = fn(env, net, batch)
        times.append(time.perf_counter() - t0)
    grad = torch.cat([p.grad.flatten() for p in net.parameters() if p.requires_grad])
    return min(times), loss, grad


def main() -> None:
    parser = argparse.ArgumentParser(description="batched vs per-trial closed-loop reaching")
    parser.add_argument("--plants", nargs="+", default=["point_mass", "arm"])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--n-units", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for plant in args.plants:
        env = CenterOutReach(dt_ms=20.0, plant=plant)
        cfg = nb.CircuitConfig(n_units=args.n_units, n_inputs=env.n_inputs,
                               n_outputs=env.n_outputs, gain=1.0, readout_scale=10.0)
        net = nb.RateRNN(cfg, seed=0)
        batch = env.sample(args.batch, torch.Generator().manual_seed(0))
        timed(batched, env, net, batch, 1)  # warm-up
        t_b, loss_b, grad_b = timed(batched, env, net, batch, args.repeats)
        t_n, loss_n, grad_n = timed(per_trial, env, net, batch, max(1, args.repeats // 3))
        same = bool(torch.allclose(loss_b, loss_n, rtol=1e-4)
                    and torch.allclose(grad_b, grad_n, rtol=1e-3, atol=1e-6 * grad_b.abs().max()))
        row = {"plant": plant, "batch": args.batch, "time_steps": env.trial_steps,
               "n_units": args.n_units, "threads": torch.get_num_threads(),
               "seconds_batched": t_b, "seconds_per_trial_loop": t_n,
               "speedup": t_n / t_b, "same_loss_and_gradient": same,
               "max_abs_grad_diff": float((grad_b - grad_n).abs().max()),
               "cpu": platform.processor() or platform.machine(),
               "torch": torch.__version__}
        results.append(row)
        print(f"{plant:10s} {args.batch} reaches x {env.trial_steps} steps, forward + backward: "
              f"batched {t_b:.3f} s, per-trial loop {t_n:.2f} s, speed-up {t_n / t_b:.0f}x, "
              f"same loss and gradient: {same}", flush=True)
        if not same:
            raise SystemExit("the two paths disagree: the benchmark is invalid")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
