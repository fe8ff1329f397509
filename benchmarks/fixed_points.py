"""Fixed-point search: neurobias.analysis.find_fixed_points against the common reference recipe.

The reference does what FixedPointFinder-style code does one point at a time: Adam on
q(x) = 1/2 ||tau F(x)||^2 with the gradient from autograd (with the adaptive step size of that
recipe: halved when q rises), stop at q < tol, de-duplicate, then a Jacobian by autograd and
numpy's eig for each distinct point. Both start from the same states (drawn from the circuit's
trajectories plus noise) and keep points with q < tol.

Part 1 (N=512, 256 starts): end-to-end time of both, the ratio, and whether they found the same
fixed points (every reference point has a neurobias point within the de-duplication tolerance
and vice versa). The reference is sequential, so with ``--reference-starts K`` < 256 it runs K
starts and its time is scaled by 256 / K (reported as such).

Part 2 (N=4096, 256 starts): find and de-duplicate, then the full spectrum (torch eigvals) and
the 10 leading eigenvalues by ARPACK, each timed.

The circuit: the trained run given by ``--run`` (its first context, under the fixation-period
input of a test trial), else a random relu circuit of gain 1 with random tonic inputs.

    python benchmarks/fixed_points.py [--run runs/multitask] [--reference-starts 64]
        [--out data/bench_fixed_points_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from neurobias import CircuitConfig, RateRNN
from neurobias.analysis import deduplicate, find_fixed_points

TOL = 1e-12
DEDUP = 1e-3


def reference(net, context, inputs, starts, lr=0.05, max_iters=5000):
    """One point at a time: Adam via autograd with a halving step size, autograd Jacobians,
    numpy eig."""
    tau = net.config.tau_ms
    u = inputs.to(torch.float64)[None]
    w_rec = net.W_rec.double()
    w_in = net.W_in.double()
    b = net.biases[context].double()

    def speed(x):  # tau F(x) for one state (1, N), by autograd ops
        return -x + torch.relu(x) @ w_rec.t() + u @ w_in.t() + b

    found_x, found_q = [], []
    for x0 in starts:
        x = x0.clone()[None].requires_grad_(True)
        opt = torch.optim.Adam([x], lr=lr)
        prev = float("inf")
        for _ in range(max_iters):
            q = 0.5 * (speed(x) ** 2).sum()
            qv = float(q)
            if qv < TOL:
                break
            if qv > prev:
                for group in opt.param_groups:
                    group["lr"] *= 0.5
            prev = qv
            opt.zero_grad()
            q.backward()
            opt.step()
        found_x.append(x.detach()[0])
        found_q.append(qv)
    x = torch.stack(found_x)
    q = torch.tensor(found_q, dtype=torch.float64)
    x, q = x[q < TOL], q[q < TOL]
    keep = deduplicate(x, q, DEDUP)
    x, q = x[keep], q[keep]
    eigs = []
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda z: speed(z[None])[0] / tau, xi)
        eigs.append(np.linalg.eigvals(jac.numpy()))
    return x, q, eigs


def same_points(a: torch.Tensor, b: torch.Tensor) -> bool:
    if len(a) != len(b):
        return False
    if len(a) == 0:
        return True
    d = torch.cdist(a, b) / np.sqrt(a.shape[1])
    return bool((d.min(1).values <= DEDUP).all() and (d.min(0).values <= DEDUP).all())


def circuit_and_starts(run: str | None, n_units: int, n_starts: int, seed: int = 0):
    """The circuit, its context, the constant input and the states to start from."""
    gen = torch.Generator().manual_seed(seed)
    if run:
        from neurobias.run import load_run
        from neurobias.seeding import generator

        r = load_run(run)
        net, env = r.net.eval(), r.env
        batch = env.batch_for_task(0, 32, generator(0, "export")) if hasattr(
            env, "batch_for_task") else env.test_batch(32, generator(0, "export"))
        with torch.no_grad():
            states = net(batch.inputs, batch.context, return_states=True).states
        context, inputs = int(batch.context[0]), batch.inputs[0, 0]
    else:
        net = RateRNN(CircuitConfig(n_units=n_units, gain=1.0, bias_init_std=0.5), seed=seed)
        inputs = torch.zeros(1)
        context = 0
        with torch.no_grad():
            x = torch.randn(64, n_units, generator=gen)
            pool = []
            for _ in range(50):
                x = net.step(x, inputs.expand(64, 1), 0)
                pool.append(x)
            states = torch.stack(pool)
    flat = states.reshape(-1, states.shape[-1]).double()
    idx = torch.randint(0, len(flat), (n_starts,), generator=gen)
    starts = flat[idx] + 0.01 * torch.randn(n_starts, flat.shape[1], generator=gen,
                                            dtype=torch.float64)
    return net, context, inputs, starts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", help="a trained run folder (default: a random circuit)")
    p.add_argument("--starts", type=int, default=256)
    p.add_argument("--reference-starts", type=int, default=256,
                   help="starts the reference runs (its time is scaled to --starts)")
    p.add_argument("--large", type=int, default=4096, help="N of part 2 (0: skip)")
    p.add_argument("--out", default="data/bench_fixed_points_cpu.json")
    args = p.parse_args()
    torch.manual_seed(0)
    net, ctx, u, starts = circuit_and_starts(args.run, 512, args.starts)
    n = net.n_units
    # both search from exactly these states: noise_std=0 and every start used once
    t0 = time.perf_counter()
    fast = find_fixed_points(net, ctx, inputs=u, states=starts, n_starts=None,
                             noise_std=0.0, tol=TOL, dedup_tol=DEDUP, eig="full")
    t_fast = time.perf_counter() - t0
    k = min(args.reference_starts, len(starts))
    t0 = time.perf_counter()
    ref_x, _, _ = reference(net, ctx, u, starts[:k])
    t_ref_measured = time.perf_counter() - t0
    t_ref = t_ref_measured * len(starts) / k
    # the same comparison for the fast path restricted to the reference's starts
    fast_k = fast if k == len(starts) else find_fixed_points(
        net, ctx, inputs=u, states=starts[:k], n_starts=None, noise_std=0.0, tol=TOL,
        dedup_tol=DEDUP)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"{torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "circuit": args.run or "random relu, gain 1, bias std 0.5",
        "n_units": n, "starts": len(starts), "reference_starts": k,
        "neurobias_seconds": round(t_fast, 3),
        "neurobias_stages": {s: round(v, 3) for s, v in fast.seconds.items()},
        "reference_seconds": round(t_ref, 3),
        "reference_seconds_measured": round(t_ref_measured, 3),
        "speedup": round(t_ref / t_fast, 1),
        "fixed_points_neurobias": len(fast),
        "fixed_points_reference": len(ref_x),
        "same_fixed_points": same_points(fast_k.x.cpu(), ref_x),
    }
    print(json.dumps(result, indent=1))
    if args.large:
        big = RateRNN(CircuitConfig(n_units=args.large, gain=1.0, bias_init_std=0.5), seed=0)
        t0 = time.perf_counter()
        fp = find_fixed_points(big, 0, n_starts=args.starts, eig="none")
        t_find = time.perf_counter() - t0
        # the same search again, timing only the linearisation stage of each
        t_arpack = find_fixed_points(big, 0, n_starts=args.starts, eig="arpack",
                                     n_eig=10).seconds["eig"]
        t_full = find_fixed_points(big, 0, n_starts=args.starts, eig="full").seconds["eig"]
        result["large"] = {"n_units": args.large, "starts": args.starts,
                           "fixed_points": len(fp),
                           "find_and_dedup_seconds": round(t_find, 2),
                           "stages": {s: round(v, 3) for s, v in fp.seconds.items()},
                           "arpack_10_leading_seconds": round(t_arpack, 2),
                           "full_spectrum_seconds": round(t_full, 2)}
        print(json.dumps(result["large"], indent=1))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
