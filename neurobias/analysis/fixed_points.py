"""Fixed and slow points of a circuit's dynamics, per context (Sussillo & Barak 2013).

For a context c (its tonic input b[c]) and a constant input u, the circuit's vector field is:

    F(x) = (-x + W_rec phi(x) + W_in u + b[c]) / tau

A fixed point has F(x*) = 0. We minimise the speed q(x) = 1/2 ||tau F(x)||^2 (dimensionless:
tau F is in the units of x) from many starting states at once:

1. **Descent**: Adam on q for every start in one batch, with the gradient in closed form,
   grad q = (tau F) W_rec diag(phi'(x)) - tau F, two matrix products per iteration and no
   autograd graph.
2. **De-duplication** of the candidates that descended below ``slow_tol``.
3. **Newton polish** of the distinct candidates: x <- x - J~^-1 tau F(x), with J~ = -I +
   W_rec diag(phi'(x)), a step accepted only where it lowers q. For relu circuits F is piecewise
   linear, so Newton lands exactly on the fixed point of an activation region in a step or two.
4. **Linearisation**: the analytic Jacobian J = J~ / tau (per ms) and its eigenvalues, all of
   them (batched ``torch.linalg.eigvals``) or the leading ones by ARPACK (``eig="arpack"``)
   without forming J. A point is ``stable`` when every Re(lambda) < 0 (the continuous-time
   criterion) and ``stable_discrete`` when the Euler map x -> x + dt F(x) has every
   |1 + dt lambda| < 1.

Changing the tonic input moves the fixed points: that is how a bias-only circuit switches tasks
(Williams et al., ICLR 2025), so ``find_fixed_points`` takes the context as its main argument.

References: Sussillo & Barak, "Opening the black box", Neural Computation 25, 626-649 (2013);
Golub & Sussillo, "FixedPointFinder", JOSS 3(31), 1003 (2018).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..circuit import _dphi, _phi

__all__ = ["FixedPoints", "find_fixed_points", "resolve_context", "deduplicate"]

EIG_METHODS = ("full", "arpack", "none")


@dataclass
class FixedPoints:
    """Fixed (and, if asked for, slow) points of one context.

    Attributes:
        x: (point, unit) states x*.
        q: (point,) speed q = 1/2 ||tau F(x*)||^2 (units of x squared).
        eigenvalues: (point, k) complex eigenvalues of the Jacobian dF/dx (per ms), sorted by
            decreasing real part; k = N for ``eig="full"``, ``n_eig`` for ``eig="arpack"``,
            0 for ``eig="none"``.
        stable: (point,) every Re(lambda) < 0 (continuous time).
        stable_discrete: (point,) every |1 + dt lambda| < 1 (the Euler map).
        slow: (point,) q is above ``tol``: a slow point, not a fixed point.
        context: the context index.
        inputs: (n_inputs,) the constant input u.
        n_starts: starting states used.
        seconds: wall time of each stage (descent, dedup, newton, eig).
        iterations: descent iterations run.
    """

    x: torch.Tensor
    q: torch.Tensor
    eigenvalues: torch.Tensor
    stable: torch.Tensor
    stable_discrete: torch.Tensor
    slow: torch.Tensor
    context: int
    inputs: torch.Tensor
    n_starts: int
    seconds: dict[str, float] = field(default_factory=dict)
    iterations: int = 0

    def __len__(self) -> int:
        return self.x.shape[0]


def resolve_context(context, n_contexts: int, names=None) -> int:
    """A context index from an index or a name; ValueError naming the allowed values."""
    names = list(names) if names is not None else None
    if isinstance(context, str):
        if names is None or context not in names:
            allowed = ", ".join(map(repr, names)) if names else f"indices 0..{n_contexts - 1}"
            raise ValueError(f"context {context!r} does not exist: allowed: {allowed}")
        return names.index(context)
    if isinstance(context, (bool, np.bool_)) or not isinstance(context, (int, np.integer)):
        raise ValueError(f"context={context!r} is invalid: give a context index or name")
    if not 0 <= int(context) < n_contexts:
        raise ValueError(f"context {int(context)} does not exist: allowed: 0..{n_contexts - 1}")
    return int(context)


class _Field:
    """tau F(x) = -x + m phi(x) W^T + drive and its derivatives, read-only on the circuit."""

    def __init__(self, circuit, context: int, inputs: torch.Tensor, dtype, device):
        c = circuit.config
        self.activation = c.activation
        self.tau, self.dt = c.tau_ms, c.dt_ms
        self.w = circuit.W_rec.detach().to(device, dtype)
        drive = inputs.to(device, dtype) @ circuit.W_in.detach().to(device, dtype).t()
        self.drive = drive + circuit.biases.detach()[context].to(device, dtype)
        self.mask = None
        if c.mode == "mask":  # the evaluation (hard) mask of this context
            self.mask = (circuit.mask_logits.detach()[context] > 0).to(device, dtype)
        self.phi = _phi(c.activation)

    def gain(self, x: torch.Tensor) -> torch.Tensor:
        d = _dphi(self.activation, x)
        return d if self.mask is None else d * self.mask

    def rates(self, x: torch.Tensor) -> torch.Tensor:
        r = self.phi(x)
        return r if self.mask is None else r * self.mask

    def g(self, x: torch.Tensor) -> torch.Tensor:
        """tau F(x), (point, unit)."""
        return self.rates(x) @ self.w.t() + self.drive - x

    @staticmethod
    def q(g: torch.Tensor) -> torch.Tensor:
        return 0.5 * (g * g).sum(-1)

    def grad_q(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """J~^T g = diag(phi'(x)) W^T g - g, rows as vectors."""
        return (g @ self.w) * self.gain(x) - g

    def jtilde(self, x: torch.Tensor) -> torch.Tensor:
        """(point, unit, unit) J~ = -I + W diag(m phi'(x))."""
        eye = torch.eye(self.w.shape[0], dtype=x.dtype, device=x.device)
        return self.w.unsqueeze(0) * self.gain(x).unsqueeze(1) - eye


def deduplicate(x: torch.Tensor, q: torch.Tensor, tol: float) -> torch.Tensor:
    """Indices of distinct points: greedily, in order of increasing q, keep a point unless it
    lies within ``tol`` (root-mean-square difference per unit) of one already kept."""
    if len(x) == 0:
        return torch.zeros(0, dtype=torch.long)
    order = torch.argsort(q.cpu())
    xs = x[order.to(x.device)]
    dist = torch.cdist(xs, xs).cpu() / np.sqrt(x.shape[1])
    near = (dist <= tol).numpy()
    kept: list[int] = []
    taken = np.zeros(len(xs), bool)
    for i in range(len(xs)):
        if taken[i]:
            continue
        kept.append(i)
        taken |= near[i]
    return order[torch.tensor(kept, dtype=torch.long)]


def _starts(circuit, field_: _Field, states, n_starts: int | None, noise_std: float,
            gen: torch.Generator, dtype, device) -> torch.Tensor:
    n = circuit.n_units
    if states is None:  # the circuit's own trajectories under the constant input
        x = circuit.x0.detach().to(device, dtype) + torch.randn(
            n_starts or 256, n, generator=gen, dtype=dtype).to(device)
        pool = []
        a = circuit.config.alpha
        for t in range(100):
            x = x + a * field_.g(x)
            if t % 10 == 9:
                pool.append(x)
        states = torch.cat(pool)
    states = torch.as_tensor(states).detach().to(device, dtype).reshape(-1, n)
    if not torch.isfinite(states).all():
        raise ValueError("states hold NaN or infinite values: give finite circuit states")
    if len(states) == 0:
        raise ValueError("states is empty: give at least one circuit state")
    if n_starts is None:  # every given state once
        chosen = states
    else:
        chosen = states[torch.randint(0, len(states), (n_starts,), generator=gen).to(device)]
    if noise_std == 0:
        return chosen.clone()
    return chosen + noise_std * torch.randn(chosen.shape, generator=gen, dtype=dtype).to(device)


def _eigs_arpack(field_: _Field, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Leading (largest real part) eigenvalues of J = J~/tau and the spectral radius of the
    Euler map, by ARPACK on matrix-free products."""
    from scipy.sparse.linalg import LinearOperator, eigs

    w = field_.w.cpu().double().numpy()
    n = w.shape[0]
    a = field_.dt / field_.tau
    vals, radius = [], []
    for xi in x:
        d = field_.gain(xi[None])[0].cpu().double().numpy()

        def jt(v, d=d):
            return w @ (d * v) - v

        op = LinearOperator((n, n), matvec=jt, dtype=np.float64)
        lam = eigs(op, k=k, which="LR", return_eigenvectors=False, tol=1e-8) / field_.tau
        euler = LinearOperator((n, n), matvec=lambda v, jt=jt: v + a * jt(v), dtype=np.float64)
        mu = eigs(euler, k=1, which="LM", return_eigenvectors=False, tol=1e-8)
        vals.append(lam[np.argsort(-lam.real)])
        radius.append(float(np.abs(mu).max()))
    return torch.as_tensor(np.array(vals)), torch.tensor(radius)


@torch.no_grad()
def find_fixed_points(circuit, context=0, *, inputs=None, states=None, context_names=None,
                      n_starts: int | None = 256, noise_std: float = 0.01, tol: float = 1e-12,
                      slow_tol: float = 1e-4, keep_slow: bool = False, max_iters: int = 3000,
                      descent_tol: float = 1e-4, max_points: int | None = None,
                      lr: float = 0.05, newton_iters: int = 20, dedup_tol: float = 1e-3,
                      eig: str = "full", n_eig: int = 10, dtype=torch.float64,
                      descent_dtype=torch.float32,
                      device=None, seed: int = 0) -> FixedPoints:
    """Find the fixed points of ``circuit`` in one context, with their linearisation.

    Args:
        circuit: a ``RateRNN``; it is read, never modified (not even moved or put in eval mode).
        context: context index, or name when ``context_names`` is given.
        inputs: (n_inputs,) constant input u (default zeros: no stimulus).
        states: states x visited by the circuit, (point, unit) or (time, trial, unit), to draw
            starting states from (e.g. ``net(..., return_states=True).states`` on test trials
            of this context). Default: 100 steps of the circuit's own dynamics under ``inputs``
            from x0 plus unit Gaussian perturbations.
        context_names: names of the contexts, to accept ``context`` by name.
        n_starts: starting states, drawn with replacement from ``states``; None starts once
            from every given state.
        noise_std: standard deviation of the Gaussian noise added to each start (units of x).
        tol: q below which a point is a fixed point.
        slow_tol: candidates with q below this are kept and de-duplicated (those below
            ``10 * descent_tol`` are also Newton-polished); with ``keep_slow`` those that stay
            above ``tol`` are returned as slow points.
        keep_slow: also return slow points (``slow`` is True for them).
        max_points: keep only this many distinct points, those with the lowest q (None: all);
            bounds the cost of the eigenvalues when a circuit has many slow points.
        max_iters: Adam iterations at most.
        descent_tol: a start stops descending once q is below this and is left to Newton.
        lr: Adam learning rate (units of x per iteration).
        newton_iters: Newton iterations at most on each distinct candidate (0: none).
        dedup_tol: two points closer than this (root-mean-square difference per unit) are one.
        eig: "full" (every eigenvalue), "arpack" (the ``n_eig`` with the largest real part, and
            the Euler map's spectral radius, matrix-free) or "none" (no eigenvalues; then
            ``stable`` and ``stable_discrete`` are all False: unknown, not unstable).
        n_eig: eigenvalues kept with ``eig="arpack"``.
        dtype: precision of the Newton polish, the tolerances and the eigenvalues (float64 by
            default: q near 1e-12 needs it).
        descent_dtype: precision of the descent, which only needs to bring starts near a
            point (float32 by default: half the time of float64 on a CPU).
        device: where to compute (default: the circuit's device).
        seed: seed of the starting states.

    Returns:
        FixedPoints, sorted by q.
    """
    c = circuit.config
    ctx = resolve_context(context, c.n_contexts, context_names)
    if eig not in EIG_METHODS:
        raise ValueError(f"eig={eig!r} is invalid: allowed: " + ", ".join(EIG_METHODS))
    if n_starts is not None and not (isinstance(n_starts, int) and n_starts >= 1):
        raise ValueError(f"n_starts={n_starts!r} is invalid: must be an integer >= 1 or None")
    if max_points is not None and not (isinstance(max_points, int) and max_points >= 1):
        raise ValueError(f"max_points={max_points!r} is invalid: must be an integer >= 1 or "
                         "None")
    for name, value, low in (("max_iters", max_iters, 0),
                             ("newton_iters", newton_iters, 0), ("n_eig", n_eig, 1)):
        if not (isinstance(value, int) and value >= low):
            raise ValueError(f"{name}={value!r} is invalid: must be an integer >= {low}")
    for name, value in (("tol", tol), ("slow_tol", slow_tol), ("lr", lr),
                        ("descent_tol", descent_tol),
                        ("dedup_tol", dedup_tol)):
        if not value > 0:
            raise ValueError(f"{name}={value!r} is invalid: must be > 0")
    if eig == "arpack" and n_eig >= c.n_units - 1:
        raise ValueError(f"n_eig={n_eig} is invalid with eig='arpack': must be < "
                         f"n_units - 1 = {c.n_units - 1} (use eig='full')")
    dev = torch.device(device) if device is not None else circuit.W_rec.device
    u = torch.zeros(c.n_inputs) if inputs is None else torch.as_tensor(inputs).detach().cpu()
    u = u.to(dtype).reshape(-1)
    if u.shape != (c.n_inputs,) or not torch.isfinite(u).all():
        raise ValueError(f"inputs must be {c.n_inputs} finite numbers, got shape "
                         f"{tuple(u.shape)}")
    gen = torch.Generator().manual_seed(int(seed))
    fld = _Field(circuit, ctx, u, dtype, dev)
    seconds = {}

    # 1. descent: Adam on q, batched, analytic gradient, on the starts still descending; each
    # start has its own step size, halved (and the step undone) when q rises, grown by 5% when
    # it falls. A start stops at q < descent_tol (Newton takes over), when its step vanishes or
    # when it has stalled (at a slow point).
    t0 = time.perf_counter()
    x = _starts(circuit, fld, states, n_starts, noise_std, gen, dtype, dev)
    n_started = len(x)
    coarse = fld if descent_dtype == dtype else _Field(circuit, ctx, u, descent_dtype, dev)
    x = x.to(descent_dtype)
    m = torch.zeros_like(x)
    v = torch.zeros_like(x)
    b1, b2, eps = 0.9, 0.999, 1e-16
    rate = torch.full((len(x), 1), float(lr), dtype=descent_dtype, device=dev)
    g = coarse.g(x)
    q = coarse.q(g)
    going = torch.ones(len(x), dtype=torch.bool, device=dev)
    q_before = q.clone()
    it = 0
    for it in range(1, max_iters + 1):
        if it % 200 == 0:  # a start that gained less than 1% in 200 iterations has stalled
            going &= q < 0.99 * q_before
            q_before = q.clone()
        idx = (going & (q >= descent_tol) & (rate[:, 0] > lr * 1e-9)).nonzero().squeeze(1)
        if len(idx) == 0:
            break
        xa, ga, qa = x[idx], g[idx], q[idx]
        grad = coarse.grad_q(xa, ga)
        ma = m[idx].mul_(b1).add_(grad, alpha=1 - b1)
        va = v[idx].mul_(b2).addcmul_(grad, grad, value=1 - b2)
        m[idx], v[idx] = ma, va
        step = (ma / (1 - b1 ** it)) / ((va / (1 - b2 ** it)).sqrt() + eps)
        new = xa - rate[idx] * step
        g_new = coarse.g(new)
        q_new = coarse.q(g_new)
        ok = q_new <= qa
        x[idx] = torch.where(ok[:, None], new, xa)
        g[idx] = torch.where(ok[:, None], g_new, ga)
        q[idx] = torch.where(ok, q_new, qa)
        rate[idx] = torch.where(ok[:, None], rate[idx] * 1.05, rate[idx] * 0.5)
    x = x.to(dtype)
    q = fld.q(fld.g(x))
    seconds["descent"] = time.perf_counter() - t0
    iterations = it

    # 2. distinct candidates
    t0 = time.perf_counter()
    cand = q < slow_tol
    x, q = x[cand], q[cand]
    # candidates not yet converged are merged at 10 x dedup_tol before the (costly) Newton
    # polish: distinct points closer than that become one
    keep = deduplicate(x, q, 10 * dedup_tol if newton_iters else dedup_tol).to(x.device)
    x, q = x[keep], q[keep]
    seconds["dedup"] = time.perf_counter() - t0

    # 3. Newton polish of the distinct candidates, a step kept only where it lowers q
    t0 = time.perf_counter()
    # only candidates that descended below descent_tol (slow points that stalled above it
    # stay as they are)
    todo = q < 10 * descent_tol
    for _ in range(newton_iters):
        if not bool(todo.any()):
            break
        xs = x[todo]
        gs = fld.g(xs)
        step, info = torch.linalg.solve_ex(fld.jtilde(xs), gs.unsqueeze(-1))
        step = step.squeeze(-1)
        new = xs - step
        new_q = fld.q(fld.g(new))
        better = (info == 0) & torch.isfinite(new_q) & (new_q < q[todo])
        for _ in range(3):  # backtrack: halve the step where the full one does not help
            retry = (info == 0) & ~better
            if not bool(retry.any()):
                break
            step = torch.where(retry[:, None], 0.5 * step, step)
            trial = xs - step
            trial_q = fld.q(fld.g(trial))
            ok = retry & torch.isfinite(trial_q) & (trial_q < q[todo])
            new = torch.where(ok[:, None], trial, new)
            new_q = torch.where(ok, trial_q, new_q)
            better = better | ok
        idx = todo.nonzero().squeeze(1)
        x[idx[better]], q[idx[better]] = new[better], new_q[better]
        # a point is done when Newton stops lowering q or q is at rounding level
        todo[idx[~better | (new_q < tol * 1e-6)]] = False
    if newton_iters:  # polishing may have brought two candidates together
        keep = deduplicate(x, q, dedup_tol).to(x.device)
        x, q = x[keep], q[keep]
    seconds["newton"] = time.perf_counter() - t0
    order = torch.argsort(q)
    x, q = x[order], q[order]
    slow = q >= tol
    if not keep_slow:
        x, q, slow = x[~slow], q[~slow], slow[~slow]
    if max_points is not None:
        x, q, slow = x[:max_points], q[:max_points], slow[:max_points]

    # 4. linearisation
    t0 = time.perf_counter()
    a = c.dt_ms
    if eig == "full" and len(x):
        lam = torch.linalg.eigvals(fld.jtilde(x)) / c.tau_ms
        lam = torch.stack([row[torch.argsort(-row.real)] for row in lam])
        stable = lam.real.max(1).values < 0
        stable_d = (1 + a * lam).abs().max(1).values < 1
    elif eig == "arpack" and len(x):
        lam, radius = _eigs_arpack(fld, x, n_eig)
        lam = lam.to(dev)
        stable = lam.real.max(1).values < 0
        stable_d = (radius < 1).to(dev)
    else:
        lam = torch.zeros(len(x), 0, dtype=torch.complex128, device=dev)
        stable = torch.zeros(len(x), dtype=torch.bool, device=dev)
        stable_d = torch.zeros(len(x), dtype=torch.bool, device=dev)
    seconds["eig"] = time.perf_counter() - t0
    return FixedPoints(x=x, q=q, eigenvalues=lam, stable=stable, stable_discrete=stable_d,
                       slow=slow, context=ctx, inputs=u, n_starts=n_started, seconds=seconds,
                       iterations=iterations)
