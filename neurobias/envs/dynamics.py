"""Dynamical-systems envs, the recurrent experiments of Williams et al. (ICLR 2025).

* ``SineGenerator`` and ``VanDerPol``: autonomous generation. The circuit starts from its initial
  state, receives no input (one silent channel) and must produce the trajectory on its own.
* ``LorenzForecast``: the input is one coordinate of the Lorenz (1963) system, the target the same
  coordinate ``horizon`` samples ahead. Scored teacher-forced and self-sustained, where after a
  warm-up the circuit's own prediction is fed back as its input.

Time is in milliseconds; each env converts to its system's own time once.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.integrate import solve_ivp

from ..analysis.metrics import r2_score
from .batch import Env, TrialBatch

__all__ = ["SineGenerator", "VanDerPol", "LorenzForecast", "vanderpol_trajectory",
           "lorenz_trajectory"]


def _steps(duration_ms: float, dt_ms: float, name: str) -> int:
    if not (isinstance(duration_ms, (int, float)) and duration_ms > 0):
        raise ValueError(f"{name}={duration_ms!r} is invalid: must be a number > 0")
    n = int(round(duration_ms / dt_ms))
    if n < 2:
        raise ValueError(f"{name}={duration_ms!r} is invalid: must span at least 2 steps of "
                         f"{dt_ms} ms")
    return n


class _Autonomous(Env):
    """Autonomous generation of a fixed trajectory ``self.target_to`` (time, n_outputs)."""

    n_inputs = 1
    target_to: torch.Tensor

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        n_t, n_out = self.target_to.shape
        targets = self.target_to.unsqueeze(1).expand(n_t, batch_size, n_out).clone()
        return TrialBatch(
            inputs=torch.zeros(n_t, batch_size, self.n_inputs),
            targets=targets,
            mask=torch.ones_like(targets),
            context=torch.zeros(batch_size, dtype=torch.long),
        )

    def eval_batch(self, generator: torch.Generator) -> TrialBatch:
        return self.sample(1, generator)


class SineGenerator(_Autonomous):
    """Generate sin(2 pi t / period) (and optionally the cosine) with no input.

    Args:
        dt_ms: time step (ms).
        period_ms: period of the oscillation (ms).
        duration_ms: length of a trial (ms).
        amplitude: peak value of the target.
        cosine: also produce the cosine as a second output.
    """

    def __init__(self, dt_ms: float = 20.0, period_ms: float = 500.0,
                 duration_ms: float = 2000.0, amplitude: float = 1.0, cosine: bool = False):
        if not period_ms > 2 * dt_ms:
            raise ValueError(f"env.period_ms={period_ms!r} is invalid: must be > 2 dt "
                             f"({2 * dt_ms} ms)")
        if not amplitude > 0:
            raise ValueError(f"env.amplitude={amplitude!r} is invalid: must be > 0")
        self.dt_ms = float(dt_ms)
        self.period_ms = float(period_ms)
        self.amplitude = float(amplitude)
        n_t = _steps(duration_ms, dt_ms, "env.duration_ms")
        t_ms = torch.arange(1, n_t + 1, dtype=torch.float64) * dt_ms
        phase = 2 * math.pi * t_ms / period_ms
        cols = [torch.sin(phase)] + ([torch.cos(phase)] if cosine else [])
        self.target_to = (amplitude * torch.stack(cols, 1)).float()
        self.n_outputs = self.target_to.shape[1]
        self.output_names = ("sin", "cos")[: self.n_outputs]


def vanderpol_trajectory(mu: float, x0: tuple[float, float], t_end: float,
                         n_samples: int) -> np.ndarray:
    """Solve x'' - mu (1 - x^2) x' + x = 0 as (x, y = x') at ``n_samples`` times in (0, t_end].

    Returns:
        (n_samples, 2) float64 array, in the oscillator's own time units.
    """

    def f(_t, s):
        x, y = s
        return [y, mu * (1 - x * x) * y - x]

    t_eval = np.linspace(t_end / n_samples, t_end, n_samples)
    sol = solve_ivp(f, (0.0, t_end), list(x0), t_eval=t_eval, rtol=1e-10, atol=1e-10,
                    method="DOP853")
    return sol.y.T


class VanDerPol(_Autonomous):
    """Generate the Van der Pol oscillator's (x, x') trajectory with no input.

    Args:
        dt_ms: time step (ms).
        mu: nonlinearity; 1 gives a smooth limit cycle of period about 6.66 time units.
        time_unit_ms: milliseconds per unit of the oscillator's time.
        duration_ms: length of a trial (ms).
        x0: initial (x, x'); the default lies near the limit cycle.
        scale: the targets are (x, x') divided by this.
    """

    def __init__(self, dt_ms: float = 20.0, mu: float = 1.0, time_unit_ms: float = 100.0,
                 duration_ms: float = 2000.0, x0: tuple[float, float] = (2.0, 0.0),
                 scale: float = 2.0):
        if not mu >= 0:
            raise ValueError(f"env.mu={mu!r} is invalid: must be >= 0")
        if not time_unit_ms > 0:
            raise ValueError(f"env.time_unit_ms={time_unit_ms!r} is invalid: must be > 0")
        if len(x0) != 2:
            raise ValueError(f"env.x0={x0!r} is invalid: must be two numbers (x, x')")
        if not scale > 0:
            raise ValueError(f"env.scale={scale!r} is invalid: must be > 0")
        self.dt_ms = float(dt_ms)
        n_t = _steps(duration_ms, dt_ms, "env.duration_ms")
        traj = vanderpol_trajectory(float(mu), (float(x0[0]), float(x0[1])),
                                    n_t * dt_ms / time_unit_ms, n_t)
        self.target_to = torch.from_numpy(traj / scale).float()
        self.n_outputs = 2
        self.output_names = (f"x / {scale:g}", f"x' / {scale:g}")


def lorenz_trajectory(n_samples: int, sample_dt: float, x0=(1.0, 1.0, 1.0),
                      sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0,
                      transient: float = 20.0) -> np.ndarray:
    """Sample the Lorenz (1963) system every ``sample_dt`` time units after a transient.

    Returns:
        (n_samples, 3) float64 array of (x, y, z).
    """

    def f(_t, s):
        x, y, z = s
        return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]

    t_eval = transient + sample_dt * np.arange(n_samples)
    sol = solve_ivp(f, (0.0, t_eval[-1]), list(x0), t_eval=t_eval, rtol=1e-10, atol=1e-10,
                    method="DOP853")
    return sol.y.T


class LorenzForecast(Env):
    """Forecast one Lorenz coordinate ``horizon`` samples ahead from its present value.

    Trials are random windows of one long trajectory (the first ``1 - test_fraction`` of it for
    training, the rest for evaluation), z-scored. The first ``washout_steps`` of each trial do
    not count in the loss. Evaluation reports teacher-forced R^2 (``r2``) and self-sustained R^2
    (``r2_closed_loop``): after ``warmup_steps`` steps of real input the circuit's own output from
    ``horizon`` steps before, its prediction of the present value, becomes its input, and the
    next ``closed_loop_steps`` steps are scored (the system is chaotic: any forecast decorrelates
    after a few Lyapunov times, about 1.1 time units each).

    Args:
        dt_ms: the circuit's time step (ms); one sample per step.
        coordinate: which coordinate is seen and forecast: "x", "y" or "z".
        horizon: samples ahead.
        sample_dt: Lorenz time units between samples.
        trial_steps: steps per trial.
        washout_steps: first steps excluded from the loss and the scores.
        warmup_steps: teacher-forced steps before closing the loop (>= horizon).
        closed_loop_steps: steps scored after closing the loop (at most; the trial may end first).
        n_samples: length of the trajectory trials are cut from.
        test_fraction: the trajectory's tail held out for evaluation.
    """

    n_inputs = 1
    n_outputs = 1

    def __init__(self, dt_ms: float = 20.0, coordinate: str = "x", horizon: int = 27,
                 sample_dt: float = 0.01, trial_steps: int = 300, washout_steps: int = 50,
                 warmup_steps: int = 100, closed_loop_steps: int = 100, n_samples: int = 50000,
                 test_fraction: float = 0.2):
        if coordinate not in ("x", "y", "z"):
            raise ValueError(f"env.coordinate={coordinate!r} is invalid: allowed: x, y, z")
        if not horizon >= 1:
            raise ValueError(f"env.horizon={horizon!r} is invalid: must be an integer >= 1")
        if not 0 <= washout_steps < trial_steps:
            raise ValueError(f"env.washout_steps={washout_steps!r} is invalid: must be in "
                             f"[0, trial_steps={trial_steps})")
        if not horizon <= warmup_steps < trial_steps:
            raise ValueError(f"env.warmup_steps={warmup_steps!r} is invalid: must be in "
                             f"[horizon={horizon}, trial_steps={trial_steps})")
        if not closed_loop_steps >= 1:
            raise ValueError(f"env.closed_loop_steps={closed_loop_steps!r} is invalid: must be an "
                             "integer >= 1")
        if not 0 < test_fraction < 1:
            raise ValueError(f"env.test_fraction={test_fraction!r} is invalid: must be in (0, 1)")
        if not sample_dt > 0:
            raise ValueError(f"env.sample_dt={sample_dt!r} is invalid: must be > 0")
        self.dt_ms = float(dt_ms)
        self.horizon = int(horizon)
        self.output_names = (f"{coordinate}(t + {horizon}), z-scored",)
        self.trial_steps = int(trial_steps)
        self.washout_steps = int(washout_steps)
        self.warmup_steps = int(warmup_steps)
        self.closed_loop_steps = min(int(closed_loop_steps), trial_steps - warmup_steps)
        n_split = int(n_samples * (1 - test_fraction))
        if min(n_split, n_samples - n_split) < trial_steps + horizon:
            raise ValueError(f"env.n_samples={n_samples!r} is invalid: too short for trials of "
                             f"{trial_steps} steps")
        traj = lorenz_trajectory(int(n_samples), float(sample_dt))[:, "xyz".index(coordinate)]
        mean, std = traj[:n_split].mean(), traj[:n_split].std()
        series = torch.from_numpy((traj - mean) / std).float()
        self.train_series, self.test_series = series[:n_split], series[n_split:]

    def _windows(self, series: torch.Tensor, batch_size: int,
                 generator: torch.Generator) -> TrialBatch:
        span = self.trial_steps + self.horizon
        starts = torch.randint(0, len(series) - span + 1, (batch_size,), generator=generator)
        idx = starts[None, :] + torch.arange(span)[:, None]  # (span, trial)
        windows = series[idx]
        inputs = windows[: self.trial_steps].unsqueeze(2).clone()
        targets = windows[self.horizon:].unsqueeze(2).clone()
        mask = torch.ones_like(targets)
        mask[: self.washout_steps] = 0
        return TrialBatch(inputs, targets, mask, torch.zeros(batch_size, dtype=torch.long),
                          {"start": starts})

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        return self._windows(self.train_series, batch_size, generator)

    def test_batch(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        return self._windows(self.test_series, batch_size, generator)

    @torch.no_grad()
    def closed_loop(self, net, batch: TrialBatch) -> torch.Tensor:
        """Self-sustained run: real input for ``warmup_steps``, then u[t] = y[t - horizon].

        Returns:
            (time, trial, 1) outputs.
        """
        x = net.initial_state(batch.n_trials)
        outputs = []
        for t in range(batch.n_steps):
            u = batch.inputs[t] if t < self.warmup_steps else outputs[t - self.horizon]
            x = net.step(x, u, batch.context)
            outputs.append(net.readout(net.rates(x, batch.context)))
        return torch.stack(outputs)

    @torch.no_grad()
    def evaluate(self, net, generator: torch.Generator) -> dict[str, float]:
        batch = self.eval_batch(generator).to(net.W_rec.device)
        out = net(batch.inputs, batch.context).outputs
        closed = self.closed_loop(net, batch)
        loop_mask = torch.zeros_like(batch.mask)
        scored = slice(self.warmup_steps, self.warmup_steps + self.closed_loop_steps)
        loop_mask[scored] = batch.mask[scored]
        return {"r2": r2_score(out, batch.targets, batch.mask),
                "r2_closed_loop": r2_score(closed, batch.targets, loop_mask),
                "mse": float(self.loss(out, batch))}
