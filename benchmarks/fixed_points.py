"""Fixed-point search: neurobias.analysis.find_fixed_points against FixedPointFinder.

The peer is FixedPointFinder (Golub & Sussillo 2018, JOSS 3(31) 1003; Apache-2.0), its PyTorch
class ``FixedPointFinderTorch`` in its default joint mode (all starts optimised together by Adam
with its plateau schedule, de-duplication, distance-outlier exclusion, then the Jacobian of
every distinct point by autograd and numpy's eig). It is not installed from PyPI: give the folder
of a clone of https://github.com/mattgolub/fixed-point-finder with ``--fpf``; without it that
row is left out and the reason printed. It sees the circuit as a one-step RNN module, the Euler
map x -> (1 - a) x + a (W_rec phi(x) + W_in u + b), whose fixed points are the circuit's (its
q = 1/2 ||x - F(x)||^2 is a^2 times the package's q = 1/2 ||tau dx/dt||^2, so its tol_q is set to
a^2 tol to stop at the same precision). FixedPointFinder runs in float64, the package with its
defaults (descent in float32, Newton polish and eigenvalues in float64); both start from exactly
the same states (the circuit's trajectories plus noise) with the same constant input.

Checked, not assumed: every point either returns is re-scored by one common function, points
with q >= tol are dropped, and the two sets must match (each point of one within the
de-duplication distance of a point of the other); the eigenvalues of each matched pair must
agree (FixedPointFinder's are those of the Euler map's Jacobian, I + dt J, so the package's
are mapped to 1 + dt lambda before comparing; largest absolute difference reported).

Part 1 (N = 512, 256 starts): end-to-end time of both (minimum of ``--repeats``), the ratio, the
points and the eigenvalue agreement. Part 2 (N = 4096, 256 starts, the package alone): find and
de-duplicate, then the full spectrum (torch eigvals) and the 10 leading eigenvalues by ARPACK.

The circuit: the trained run given by ``--run`` (its first context, under the fixation-period
input of a test trial), else a random relu circuit of gain 1 with random tonic inputs.

    python benchmarks/fixed_points.py --fpf /path/to/fixed-point-finder [--run runs/multitask]
        [--threads 2] [--out data/bench_fixed_points_cpu.json]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from neurobias import CircuitConfig, RateRNN
from neurobias.analysis import find_fixed_points

TOL = 1e-12
DEDUP = 1e-3


class EulerMap(torch.nn.Module):
    """The circuit's noise-free Euler step as the one-step RNN module FixedPointFinder expects:
    ``forward(inputs (B, 1, n_in), h (1, B, N)) -> (outputs (B, 1, N), h_next (1, B, N))``."""

    batch_first = True

    def __init__(self, net: RateRNN, context: int):
        super().__init__()
        self.net = copy.deepcopy(net).double()
        self.context = context

    def forward(self, inputs, h):
        x = self.net.step(h[0], inputs[:, 0], self.context)
        return x[:, None], x[None]


def fpf_search(fpf_dir: str, net: RateRNN, context: int, u: torch.Tensor,
               starts: torch.Tensor):
    """FixedPointFinder, joint mode, float64: (distinct points, Euler-map eigenvalues, seconds)."""
    if fpf_dir not in sys.path:
        sys.path.insert(0, fpf_dir)
    from FixedPointFinderTorch import FixedPointFinderTorch

    a = net.alpha
    model = EulerMap(net, context)
    finder = FixedPointFinderTorch(model, tol_q=a * a * TOL, dtype="float64", verbose=False)
    inputs = u.double().numpy()[None]
    # a copy: it optimises the states in place, in the memory of the array it is given
    x_init = starts.numpy().copy()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per call
        unique, every = finder.find_fixed_points(x_init, inputs)
    seconds = time.perf_counter() - t0
    return (torch.from_numpy(unique.xstar), unique.eigval_J_xstar, seconds,
            int(every.n_iters.max()))


def q_of(net: RateRNN, context: int, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """q = 1/2 ||tau F(x)||^2 of each point, in float64, one function for both searchers."""
    m = copy.deepcopy(net).double()
    with torch.no_grad():
        v = m.velocity(x.double(), u.double().expand(len(x), -1), context)
    return 0.5 * (net.config.tau_ms * v).pow(2).sum(1)


def match(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor | None:
    """For each point of ``a`` the index of its point in ``b``, or None unless the two sets are
    the same within the de-duplication distance (root-mean-square difference per unit)."""
    if len(a) != len(b):
        return None
    if len(a) == 0:
        return torch.zeros(0, dtype=torch.long)
    d = torch.cdist(a, b) / np.sqrt(a.shape[1])
    if not ((d.min(1).values <= DEDUP).all() and (d.min(0).values <= DEDUP).all()):
        return None
    return d.argmin(1)


def eig_difference(ours: torch.Tensor, theirs: np.ndarray, dt: float) -> float:
    """Largest |difference| between the package's eigenvalues mapped to the Euler map
    (1 + dt lambda) and FixedPointFinder's, both sorted by real part then imaginary part."""
    mine = np.sort_complex(1.0 + dt * ours.numpy())
    other = np.sort_complex(np.asarray(theirs))
    return float(np.abs(mine - other).max())


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
    p.add_argument("--fpf", help="folder of a FixedPointFinder clone (with "
                   "FixedPointFinderTorch.py); without it the peer is left out")
    p.add_argument("--starts", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3, help="timed repeats of each (min kept)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--large", type=int, default=4096, help="N of part 2 (0: skip)")
    p.add_argument("--out", default="data/bench_fixed_points_cpu.json")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.fpf and not (Path(args.fpf) / "FixedPointFinderTorch.py").is_file():
        p.error(f"--fpf {args.fpf!r}: no FixedPointFinderTorch.py there (give the folder of a "
                "clone of https://github.com/mattgolub/fixed-point-finder)")
    torch.manual_seed(0)
    net, ctx, u, starts = circuit_and_starts(args.run, 512, args.starts)
    starts_kept = starts.clone()
    n, dt = net.n_units, net.config.dt_ms

    def ours():
        t0 = time.perf_counter()
        # exactly these starts: noise_std=0 and every start used once
        fp = find_fixed_points(net, ctx, inputs=u, states=starts, n_starts=None,
                               noise_std=0.0, tol=TOL, dedup_tol=DEDUP, eig="full")
        return fp, time.perf_counter() - t0

    times_ours, times_fpf = [], []
    fast = peer = None
    for _ in range(args.repeats):  # interleaved
        fast, t = ours()
        times_ours.append(t)
        if args.fpf:
            peer = fpf_search(args.fpf, net, ctx, u, starts)
            times_fpf.append(peer[2])
    result = {
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"{torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "circuit": args.run or "random relu, gain 1, bias std 0.5",
        "n_units": n, "starts": len(starts), "repeats": args.repeats,
        "neurobias_seconds": {"min": round(min(times_ours), 3),
                              "median": round(float(np.median(times_ours)), 3)},
        "neurobias_stages": {s: round(v, 3) for s, v in fast.seconds.items()},
        "fixed_points_neurobias": len(fast),
    }
    if peer is None:
        result["fixedpointfinder"] = "left out: no --fpf folder given"
    else:
        x_fpf, eig_fpf, _, iters = peer
        q_fpf = q_of(net, ctx, u, x_fpf)
        keep = q_fpf < TOL
        x_kept, eig_kept = x_fpf[keep], eig_fpf[keep.numpy()]
        pairs = match(fast.x.cpu().double(), x_kept)
        result["fixedpointfinder"] = {
            "method": "joint (its default), float64, tol_q = a^2 tol",
            "seconds": {"min": round(min(times_fpf), 3),
                        "median": round(float(np.median(times_fpf)), 3)},
            "iterations": iters, "max_iters": 5000,
            "distinct_points_returned": len(x_fpf),
            "fixed_points": int(keep.sum()),
            "q_max_of_its_points": float(q_fpf.max()) if len(q_fpf) else None,
            "same_fixed_points": pairs is not None,
            "max_eigenvalue_difference": (
                max(eig_difference(fast.eigenvalues[i].cpu(), eig_kept[j], dt)
                    for i, j in enumerate(pairs.tolist())) if pairs is not None and len(pairs)
                else None),
            "speedup": round(min(times_fpf) / min(times_ours), 1),
        }
    if not torch.equal(starts, starts_kept):
        raise SystemExit("the starting states were modified during the runs")
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
