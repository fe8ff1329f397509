"""Plants a circuit drives in the reaching task: a viscous point mass and a two-joint arm.

Both are batched, differentiable torch modules of plain functions of their state, with time
steps in milliseconds at the surface, converted once to seconds. The gymnasium env and the
batched training path call the same ``step``.

* ``PointMass``: m dv/dt = F - b v in the plane, integrated exactly for a force held constant
  over each step (zero-order hold), so every dt is stable and the result equals the closed-form
  solution.
* ``TwoJointArm``: a planar shoulder-elbow arm, M(q) q'' + C(q, q') q' + B q' = tau, with the
  segment parameters of Li & Todorov (2004), joint limits and optional first-order muscle-like
  activation dynamics, integrated by classical Runge-Kutta (RK4) with ``substeps`` per step.

References:
    Li, W. & Todorov, E. (2004). Iterative linear quadratic regulator design for nonlinear
    biological movement systems. ICINCO 2004, 222-229.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...errors import ConfigError

__all__ = ["Plant", "PointMass", "TwoJointArm", "PLANTS"]


class Plant:
    """A batched plant: state (trial, state_size) -> next state under a motor command.

    Attributes:
        n_controls: size of the motor command.
        state_size: size of the state vector.
        dt_ms: time step (ms); ``dt_s`` the same in seconds.
    """

    n_controls = 2
    state_size = 4
    dt_ms: float
    dt_s: float

    def initial_state(self, batch: int, dtype=torch.float32, device=None) -> torch.Tensor:
        """The start posture at rest: (trial, state_size)."""
        raise NotImplementedError

    def step(self, state: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
        """Advance one time step. state (trial, state_size), command (trial, 2) -> state."""
        raise NotImplementedError

    def hand(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hand position (trial, 2) in m and velocity (trial, 2) in m/s."""
        raise NotImplementedError

    def check_reachable(self, points_m: np.ndarray, name: str) -> None:
        """Raise ConfigError if a point (n, 2) in m cannot be reached (default: all can)."""


class PointMass(Plant):
    """A point mass in the plane with viscous friction, driven by a 2-D force.

    Dynamics m dv/dt = F - b v, dx/dt = v, with F = ``force_scale`` * command held constant over
    each step. The step is the exact solution of that linear system (with k = b / m):

        v(t + h) = F/b + (v - F/b) e^{-k h}
        x(t + h) = x + (F/b) h + (v - F/b)(1 - e^{-k h}) / k

    (and the ballistic formulas when b = 0), so any dt is stable.

    State: (x, y, vx, vy) in m and m/s; the start is the origin at rest.

    Args:
        dt_ms: time step (ms).
        mass_kg: mass m (kg), > 0.
        viscosity: b (N s / m), >= 0.
        force_scale: newtons per unit of motor command.
    """

    state_size = 4

    def __init__(self, dt_ms: float, mass_kg: float = 1.0, viscosity: float = 5.0,
                 force_scale: float = 1.0):
        if not (isinstance(dt_ms, (int, float)) and math.isfinite(dt_ms) and dt_ms > 0):
            raise ConfigError(f"dt_ms={dt_ms!r} is invalid: must be a number > 0")
        if not mass_kg > 0:
            raise ConfigError(f"env.mass_kg={mass_kg!r} is invalid: must be a number > 0")
        if not viscosity >= 0:
            raise ConfigError(f"env.viscosity={viscosity!r} is invalid: must be a number >= 0")
        if not force_scale > 0:
            raise ConfigError(f"env.force_scale={force_scale!r} is invalid: must be a number > 0")
        self.dt_ms = float(dt_ms)
        self.dt_s = self.dt_ms / 1000.0
        self.mass_kg = float(mass_kg)
        self.viscosity = float(viscosity)
        self.force_scale = float(force_scale)
        h, m, b = self.dt_s, self.mass_kg, self.viscosity
        if b > 0:
            k = b / m
            e = math.exp(-k * h)
            # v' = e v + cv F,  x' = x + cx v + cf F
            self._e, self._cv = e, (1 - e) / b
            self._cx, self._cf = (1 - e) / k, h / b - (1 - e) / (k * b)
        else:
            self._e, self._cv, self._cx, self._cf = 1.0, h / m, h, h * h / (2 * m)

    def initial_state(self, batch: int, dtype=torch.float32, device=None) -> torch.Tensor:
        return torch.zeros(batch, 4, dtype=dtype, device=device)

    def step(self, state: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
        force = self.force_scale * command
        pos, vel = state[:, :2], state[:, 2:]
        new_pos = pos + self._cx * vel + self._cf * force
        new_vel = self._e * vel + self._cv * force
        return torch.cat([new_pos, new_vel], 1)

    def hand(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return state[:, :2], state[:, 2:]

    def closed_form(self, x0, v0, force, t_s):
        """Exact position and velocity at time ``t_s`` (s) under a constant ``force`` (N) from
        (x0, v0): numpy arrays of shape (..., 2). Used to test ``step``."""
        m, b = self.mass_kg, self.viscosity
        x0, v0, force = (np.asarray(a, dtype=np.float64) for a in (x0, v0, force))
        if b == 0:
            return x0 + v0 * t_s + force * t_s ** 2 / (2 * m), v0 + force * t_s / m
        k, vinf = b / m, force / b
        e = np.exp(-k * t_s)
        return x0 + vinf * t_s + (v0 - vinf) * (1 - e) / k, vinf + (v0 - vinf) * e


class TwoJointArm(Plant):
    """A planar two-joint (shoulder, elbow) arm driven by joint torques.

    Rigid-body dynamics (Li & Todorov 2004):

        M(q) q'' + C(q, q') + B q' = tau
        M = [[a1 + 2 a2 cos q2, a3 + a2 cos q2], [a3 + a2 cos q2, a3]]
        C = a2 sin q2 [-q2' (2 q1' + q2'), q1'^2]
        a1 = I1 + I2 + m2 l1^2,  a2 = m2 l1 s2,  a3 = I2

    with segment lengths l1 = 0.30 m, l2 = 0.33 m, masses m1 = 1.4 kg, m2 = 1.0 kg, distances
    from the joint to each segment's centre of mass s1 = 0.11 m, s2 = 0.16 m, moments of
    inertia I1 = 0.025 kg m^2, I2 = 0.045 kg m^2 and joint viscosity B = [[0.05, 0.025],
    [0.025, 0.05]] N m s / rad (Li & Todorov 2004). The torque is ``torque_scale`` times the
    activation a, which follows the motor command u through first-order muscle-like dynamics
    tau_m da/dt = u - a (a = u when ``muscle_tau_ms`` is 0).

    Joint limits: after each substep an angle beyond its limit is put back on it and the joint
    velocity pointing out of the range is set to 0 (an inelastic stop). Joint speeds are capped
    at ``max_joint_speed`` rad/s. Both are differentiable almost everywhere; at a limit or at the
    cap the gradient of the clipped component is 0.

    Integration: RK4 with h = dt / ``substeps``. RK4 is stable for h |lambda| < 2.78 on the
    negative real axis; the constructor bounds the stiffest rate lambda of the linearised
    dynamics (``stiffest_rate``) and refuses an h above 2.5 / lambda, naming the largest
    allowed dt for the given substeps.

    State: (q1, q2, q1', q2', a1, a2) in rad, rad/s and command units. The start posture is
    ``start_deg`` at rest; the hand is the end of the second segment, shoulder at the origin.

    Args:
        dt_ms: time step (ms).
        torque_scale: N m per unit of activation.
        muscle_tau_ms: activation time constant (ms); 0 applies commands instantly.
        substeps: RK4 steps per time step.
        start_deg: start posture (shoulder, elbow) in degrees.
        joint_limits_deg: (shoulder min, shoulder max, elbow min, elbow max) in degrees.
        viscosity_scale: multiplies B (0 gives the frictionless arm).
        max_joint_speed: cap on |q'| (rad/s).
    """

    state_size = 6
    l1, l2, m1, m2, s1, s2, i1, i2 = 0.30, 0.33, 1.4, 1.0, 0.11, 0.16, 0.025, 0.045
    B = ((0.05, 0.025), (0.025, 0.05))

    def __init__(self, dt_ms: float, torque_scale: float = 1.0, muscle_tau_ms: float = 50.0,
                 substeps: int = 1, start_deg: tuple[float, float] = (45.0, 90.0),
                 joint_limits_deg: tuple[float, float, float, float] = (-30.0, 150.0, 0.0, 160.0),
                 viscosity_scale: float = 1.0, max_joint_speed: float = 10.0):
        if not (isinstance(dt_ms, (int, float)) and math.isfinite(dt_ms) and dt_ms > 0):
            raise ConfigError(f"dt_ms={dt_ms!r} is invalid: must be a number > 0")
        if not torque_scale > 0:
            raise ConfigError(f"env.torque_scale={torque_scale!r} is invalid: must be a number "
                              "> 0")
        if not muscle_tau_ms >= 0:
            raise ConfigError(f"env.muscle_tau_ms={muscle_tau_ms!r} is invalid: must be a "
                              "number >= 0")
        if not (isinstance(substeps, int) and substeps >= 1):
            raise ConfigError(f"env.substeps={substeps!r} is invalid: must be an integer >= 1")
        if not viscosity_scale >= 0:
            raise ConfigError(f"env.viscosity_scale={viscosity_scale!r} is invalid: must be a "
                              "number >= 0")
        if not max_joint_speed > 0:
            raise ConfigError(f"env.max_joint_speed={max_joint_speed!r} is invalid: must be a "
                              "number > 0")
        lim = tuple(float(v) for v in joint_limits_deg)
        if len(lim) != 4 or not (lim[0] < lim[1] and lim[2] < lim[3]):
            raise ConfigError(f"env.joint_limits_deg={joint_limits_deg!r} is invalid: must be "
                              "(shoulder min, shoulder max, elbow min, elbow max) with min < max")
        start = tuple(float(v) for v in start_deg)
        if len(start) != 2 or not (lim[0] <= start[0] <= lim[1] and lim[2] <= start[1] <= lim[3]):
            raise ConfigError(f"env.start_deg={start_deg!r} is invalid: must be (shoulder, "
                              f"elbow) inside the joint limits {lim}")
        self.dt_ms = float(dt_ms)
        self.dt_s = self.dt_ms / 1000.0
        self.torque_scale = float(torque_scale)
        self.muscle_tau_s = float(muscle_tau_ms) / 1000.0
        self.substeps = int(substeps)
        self.h = self.dt_s / self.substeps
        self.limits = np.deg2rad(lim)
        self.start = np.deg2rad(start)
        self.viscosity_scale = float(viscosity_scale)
        self.max_joint_speed = float(max_joint_speed)
        self.a1 = self.i1 + self.i2 + self.m2 * self.l1 ** 2
        self.a2 = self.m2 * self.l1 * self.s2
        self.a3 = self.i2
        self.b = np.asarray(self.B) * self.viscosity_scale
        rate = self.stiffest_rate()
        if self.h * rate > 2.5:
            largest = 2.5 / rate * 1000.0 * self.substeps
            raise ConfigError(f"dt_ms={self.dt_ms:g} is too large for the arm: with "
                              f"substeps={self.substeps} RK4 is stable up to dt = "
                              f"{largest:.1f} ms; lower dt_ms or raise env.substeps")

    def stiffest_rate(self) -> float:
        """Bound on the fastest rate (1/s) of the linearised arm dynamics over its range.

        The velocity Jacobian of q'' is -M^-1 (B + dC/dq'), with ||dC/dq'|| <= 2 sqrt(6) a2
        |sin q2| w_max for joint speeds up to w_max; it is bounded by ||B|| + that, over the
        smallest eigenvalue of M, maximised over the elbow's range. Muscle activation adds the
        rate 1 / tau_m.
        """
        q2 = np.linspace(self.limits[2], self.limits[3], 721)
        c = np.cos(q2)
        m11, m12, m22 = self.a1 + 2 * self.a2 * c, self.a3 + self.a2 * c, self.a3
        tr, det = m11 + m22, m11 * m22 - m12 ** 2
        eig_min = tr / 2 - np.sqrt(np.maximum(tr ** 2 / 4 - det, 0))
        coriolis = 2 * math.sqrt(6) * self.a2 * np.abs(np.sin(q2)) * self.max_joint_speed
        mech = float(np.max((np.linalg.norm(self.b, 2) + coriolis) / eig_min))
        return max(mech, 1.0 / self.muscle_tau_s if self.muscle_tau_s > 0 else 0.0)

    # ------------------------------------------------------------------ kinematics

    def forward_kinematics(self, q: torch.Tensor) -> torch.Tensor:
        """Hand position (..., 2) in m for joint angles q (..., 2) in rad."""
        q1, q12 = q[..., 0], q[..., 0] + q[..., 1]
        return torch.stack([self.l1 * torch.cos(q1) + self.l2 * torch.cos(q12),
                            self.l1 * torch.sin(q1) + self.l2 * torch.sin(q12)], -1)

    def inverse_kinematics(self, points_m: np.ndarray) -> np.ndarray:
        """Joint angles (n, 2) in rad (elbow flexed, q2 >= 0) for hand positions (n, 2) in m;
        NaN where a point is out of reach."""
        p = np.asarray(points_m, dtype=np.float64).reshape(-1, 2)
        d2 = (p ** 2).sum(1)
        c2 = (d2 - self.l1 ** 2 - self.l2 ** 2) / (2 * self.l1 * self.l2)
        with np.errstate(invalid="ignore"):
            q2 = np.arccos(c2)
        q1 = np.arctan2(p[:, 1], p[:, 0]) - np.arctan2(self.l2 * np.sin(q2),
                                                       self.l1 + self.l2 * np.cos(q2))
        return np.stack([q1, q2], 1)

    def start_hand_m(self) -> np.ndarray:
        """Hand position (2,) in m at the start posture."""
        return self.forward_kinematics(torch.tensor(self.start, dtype=torch.float64)).numpy()

    def check_reachable(self, points_m: np.ndarray, name: str) -> None:
        q = self.inverse_kinematics(points_m)
        lo, hi = self.limits[[0, 2]], self.limits[[1, 3]]
        # shoulder angles are defined modulo 2 pi
        q1 = (q[:, 0] - lo[0]) % (2 * np.pi) + lo[0]
        ok = np.isfinite(q).all(1) & (q1 <= hi[0]) & (q[:, 1] >= lo[1]) & (q[:, 1] <= hi[1])
        if not ok.all():
            bad = np.asarray(points_m)[~ok][0]
            raise ConfigError(
                f"{name} is invalid: a target at ({100 * bad[0]:.1f}, {100 * bad[1]:.1f}) cm "
                f"from the shoulder is outside the arm's reach (segments {100 * self.l1:.0f} + "
                f"{100 * self.l2:.0f} cm, joint limits {np.rad2deg(self.limits).round(0)} deg)")

    # ------------------------------------------------------------------ dynamics

    def _derivative(self, q2, w1, w2, act, u):
        """Time derivatives of (q1, q2, w1, w2, act) given q2, w1, w2 (trial,), act and the
        command u (trial, 2)."""
        c, sn = torch.cos(q2), torch.sin(q2)
        m11 = self.a1 + 2 * self.a2 * c
        m12 = self.a3 + self.a2 * c
        m22 = self.a3
        b = self.b
        torque = self.torque_scale * act
        a2sn = self.a2 * sn
        r1 = torque[:, 0] + a2sn * w2 * (2 * w1 + w2) - (b[0, 0] * w1 + b[0, 1] * w2)
        r2 = torque[:, 1] - a2sn * w1 * w1 - (b[1, 0] * w1 + b[1, 1] * w2)
        inv_det = 1.0 / (m11 * m22 - m12 * m12)
        acc1 = (m22 * r1 - m12 * r2) * inv_det
        acc2 = (m11 * r2 - m12 * r1) * inv_det
        dact = (u - act) / self.muscle_tau_s if self.muscle_tau_s > 0 else None
        return w1, w2, acc1, acc2, dact

    def step(self, state: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
        h = self.h
        q1, q2, w1, w2 = state[:, 0], state[:, 1], state[:, 2], state[:, 3]
        act = command if self.muscle_tau_s == 0 else state[:, 4:6]
        lo1, hi1, lo2, hi2 = (float(v) for v in self.limits)
        w_max = self.max_joint_speed
        for _ in range(self.substeps):
            y = (q1, q2, w1, w2, act)
            k1 = self._derivative(q2, w1, w2, act, command)
            ks = [k1]
            for frac in (0.5, 0.5, 1.0):
                k = ks[-1]
                yt = [v if dv is None else v + (frac * h) * dv for v, dv in zip(y, k, strict=True)]
                ks.append(self._derivative(yt[1], yt[2], yt[3], yt[4], command))
            new = []
            for i, v in enumerate(y):
                if ks[0][i] is None:
                    new.append(v)
                    continue
                new.append(v + (h / 6.0) * (ks[0][i] + 2 * ks[1][i] + 2 * ks[2][i] + ks[3][i]))
            q1, q2, w1, w2, act = new
            w1, w2 = w1.clamp(-w_max, w_max), w2.clamp(-w_max, w_max)
            zero = torch.zeros_like(w1)
            w1 = torch.where(((q1 <= lo1) & (w1 < 0)) | ((q1 >= hi1) & (w1 > 0)), zero, w1)
            w2 = torch.where(((q2 <= lo2) & (w2 < 0)) | ((q2 >= hi2) & (w2 > 0)), zero, w2)
            q1, q2 = q1.clamp(lo1, hi1), q2.clamp(lo2, hi2)
        return torch.cat([torch.stack([q1, q2, w1, w2], 1), act], 1)

    def initial_state(self, batch: int, dtype=torch.float32, device=None) -> torch.Tensor:
        s = torch.zeros(batch, 6, dtype=dtype, device=device)
        s[:, 0], s[:, 1] = float(self.start[0]), float(self.start[1])
        return s

    def hand(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q1, q2, w1, w2 = state[:, 0], state[:, 1], state[:, 2], state[:, 3]
        q12 = q1 + q2
        pos = torch.stack([self.l1 * torch.cos(q1) + self.l2 * torch.cos(q12),
                           self.l1 * torch.sin(q1) + self.l2 * torch.sin(q12)], 1)
        vel = torch.stack([-self.l1 * torch.sin(q1) * w1 - self.l2 * torch.sin(q12) * (w1 + w2),
                           self.l1 * torch.cos(q1) * w1 + self.l2 * torch.cos(q12) * (w1 + w2)], 1)
        return pos, vel

    def energy(self, state: torch.Tensor) -> torch.Tensor:
        """Kinetic energy 0.5 q'^T M(q) q' (J) per trial: (trial,)."""
        c = torch.cos(state[:, 1])
        w1, w2 = state[:, 2], state[:, 3]
        m11 = self.a1 + 2 * self.a2 * c
        m12 = self.a3 + self.a2 * c
        return 0.5 * (m11 * w1 * w1 + 2 * m12 * w1 * w2 + self.a3 * w2 * w2)


PLANTS = {"point_mass": PointMass, "arm": TwoJointArm}
