"""Delayed center-out reaching, closed loop: the circuit drives a plant it feels with a delay.

A trial (Georgopoulos et al. 1982): the hand rests at the center; a target appears on a circle
at ``target_on_ms``; after an instructed delay drawn uniformly from [delay_min_ms, delay_max_ms]
a go cue comes on; the hand must reach the target within ``reach_ms`` and hold there to the end
of the trial (at least ``hold_ms``). On catch trials (probability ``catch_prob``) the go cue
never comes and the hand must stay at the center.

The circuit's inputs, per step (``input_names``): the target position (x, y) while shown, the
go cue (0 before, 1 from the go step on), and the hand position (x, y) and velocity (vx, vy)
``feedback_delay_ms`` earlier. Positions are relative to the center in units of the radius,
velocities in units of radius per 200 ms. The circuit's outputs are the motor commands (forces
on the point mass, joint torques of the arm, through ``force_scale`` / ``torque_scale``).

The env owns the loop: ``rollout`` steps circuit and plant together, in torch, so the loss is
differentiated through the plant (``training_loss``). The loss, averaged over trials and steps:

* after the go cue: |p - target|^2 / R^2 (position error);
* in the hold period (from ``reach_ms`` after the go cue to the end): ``w_velocity``
  |v|^2 / V^2 and ``w_force`` |u|^2 (Williams et al. 2025's penalties on velocity and force at
  the end of the movement);
* before the go cue (the whole trial on catch trials): ``w_still`` (|p - center|^2 / R^2 +
  |v|^2 / V^2);
* everywhere: ``w_effort`` |u|^2.

Training uses the ``train_angles_deg`` targets; evaluation reports trained and held-out
(``test_angles_deg``) targets separately, plus catch trials.

References:
    Georgopoulos, Kalaska, Caminiti & Massey (1982). On the relations between the direction of
    two-dimensional arm movements and cell discharge in primate motor cortex. J Neurosci 2(11).
    Williams et al. (2025). Expressivity of Neural Networks with Random Weights and Learned
    Biases. ICLR 2025.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from ...errors import ConfigError
from ..batch import Env, TrialBatch
from .plants import PLANTS, PointMass, TwoJointArm

__all__ = ["CenterOutReach", "ReachRollout", "INPUT_NAMES"]

INPUT_NAMES = ("target x", "target y", "go", "hand x", "hand y", "hand vx", "hand vy")
_OPEN = 3  # the first 3 input channels do not depend on the hand
VELOCITY_UNIT_S = 0.2  # velocity feedback in radius per 200 ms


class ReachRollout(NamedTuple):
    """A closed-loop run, time-major, T steps.

    Attributes:
        pos_m: (time, trial, 2) hand position after each step, m, relative to the center.
        vel_m_s: (time, trial, 2) hand velocity after each step, m/s.
        commands: (time, trial, 2) motor commands (the circuit's outputs).
        inputs: (time, trial, 7) the inputs the circuit received (feedback included).
        rates: (time, trial, unit) rates, or None unless asked for.
        states: (time, trial, unit) states x, or None unless asked for.
    """

    pos_m: torch.Tensor
    vel_m_s: torch.Tensor
    commands: torch.Tensor
    inputs: torch.Tensor
    rates: torch.Tensor | None
    states: torch.Tensor | None = None


def _n_steps(ms: float, dt_ms: float, name: str, low: int = 0) -> int:
    if not (isinstance(ms, (int, float)) and math.isfinite(ms) and ms >= 0):
        raise ConfigError(f"env.{name}={ms!r} is invalid: must be a number >= 0 (ms)")
    n = int(round(ms / dt_ms))
    if n < low:
        raise ConfigError(f"env.{name}={ms!r} is invalid: must span at least {low} steps of "
                          f"{dt_ms:g} ms")
    return n


def _angles(values, name: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not out or not all(math.isfinite(v) for v in out):
        raise ConfigError(f"env.{name}={values!r} is invalid: must be a non-empty list of angles "
                          "in degrees")
    return out


class CenterOutReach(Env):
    """Delayed center-out reaching with a point mass or a two-joint arm (see the module doc).

    Args:
        dt_ms: time step of circuit and plant (ms).
        plant: "point_mass" or "arm".
        radius_cm: distance of the targets from the center (cm), > 0.
        n_targets: trained targets, evenly spaced from 0 deg (when train_angles_deg is unset).
        train_angles_deg: trained target directions (deg); default n_targets from 0.
        test_angles_deg: held-out directions (deg); default each trained direction plus
            180 / n_targets (midway between evenly spaced trained targets).
        target_on_ms: target onset (ms).
        delay_min_ms: shortest instructed delay (ms).
        delay_max_ms: longest instructed delay (ms).
        reach_ms: time allowed from the go cue to the start of the hold (ms).
        hold_ms: minimum hold at the target (ms); trials last target_on + delay_max + reach +
            hold.
        catch_prob: fraction of catch trials (no go cue) in training.
        feedback_delay_ms: delay of the hand position and velocity feedback (ms).
        window_cm: radius of the target and start windows (cm) for success and false starts.
        w_velocity: loss weight of the hold-period velocity (see the module doc).
        w_force: loss weight of the hold-period force.
        w_still: loss weight of moving before the go cue.
        w_effort: loss weight of the motor command everywhere.
        mass_kg: point mass (kg).
        viscosity: point-mass viscosity (N s/m).
        force_scale: force per unit of point-mass command (N).
        torque_scale: torque per unit of arm command (N m).
        muscle_tau_ms: arm muscle activation time constant (ms).
        substeps: RK4 steps of the arm per time step.
        eval_reps: evaluation trials per target (trained and held-out) and catch trials per
            trained target.
    """

    n_outputs = 2
    n_inputs = len(INPUT_NAMES)
    output_names = ("command 1", "command 2")
    input_names = INPUT_NAMES

    def __init__(self, dt_ms: float = 20.0, plant: str = "point_mass", radius_cm: float = 10.0,
                 n_targets: int = 8, train_angles_deg: tuple[float, ...] | None = None,
                 test_angles_deg: tuple[float, ...] | None = None, target_on_ms: float = 100.0,
                 delay_min_ms: float = 300.0, delay_max_ms: float = 1000.0,
                 reach_ms: float = 600.0, hold_ms: float = 300.0, catch_prob: float = 0.2,
                 feedback_delay_ms: float = 40.0, window_cm: float = 2.0,
                 w_velocity: float = 1.0, w_force: float = 0.01, w_still: float = 10.0,
                 w_effort: float = 1e-4, mass_kg: float = 1.0, viscosity: float = 5.0,
                 force_scale: float = 1.0, torque_scale: float = 1.0,
                 muscle_tau_ms: float = 50.0, substeps: int = 1, eval_reps: int = 4):
        if plant not in PLANTS:
            raise ConfigError(f"env.plant={plant!r} is invalid: allowed: " + ", ".join(PLANTS))
        if not (isinstance(radius_cm, (int, float)) and math.isfinite(radius_cm)
                and radius_cm > 0):
            raise ConfigError(f"env.radius_cm={radius_cm!r} is invalid: must be a number > 0")
        if not (isinstance(n_targets, int) and n_targets >= 1):
            raise ConfigError(f"env.n_targets={n_targets!r} is invalid: must be an integer >= 1")
        if not 0 <= catch_prob < 1:
            raise ConfigError(f"env.catch_prob={catch_prob!r} is invalid: must be in [0, 1)")
        if not window_cm > 0:
            raise ConfigError(f"env.window_cm={window_cm!r} is invalid: must be a number > 0")
        for name, w in (("w_velocity", w_velocity), ("w_force", w_force), ("w_still", w_still),
                        ("w_effort", w_effort)):
            if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0):
                raise ConfigError(f"env.{name}={w!r} is invalid: must be a number >= 0")
        if not (isinstance(eval_reps, int) and eval_reps >= 1):
            raise ConfigError(f"env.eval_reps={eval_reps!r} is invalid: must be an integer >= 1")
        self.dt_ms = float(dt_ms)
        self.plant_name = plant
        if plant == "point_mass":
            self.plant = PointMass(dt_ms, mass_kg=mass_kg, viscosity=viscosity,
                                   force_scale=force_scale)
        else:
            self.plant = TwoJointArm(dt_ms, torque_scale=torque_scale,
                                     muscle_tau_ms=muscle_tau_ms, substeps=substeps)
        self.radius_m = float(radius_cm) / 100.0
        self.window_cm = float(window_cm)
        if train_angles_deg is None:
            train_angles_deg = tuple(360.0 * k / n_targets for k in range(n_targets))
        self.train_angles_deg = _angles(train_angles_deg, "train_angles_deg")
        if test_angles_deg is None:
            test_angles_deg = tuple(a + 180.0 / n_targets for a in self.train_angles_deg)
        self.test_angles_deg = _angles(test_angles_deg, "test_angles_deg")
        self.target_on = _n_steps(target_on_ms, dt_ms, "target_on_ms")
        self.delay_min = _n_steps(delay_min_ms, dt_ms, "delay_min_ms", 1)
        self.delay_max = _n_steps(delay_max_ms, dt_ms, "delay_max_ms", 1)
        if self.delay_max < self.delay_min:
            raise ConfigError(f"env.delay_max_ms={delay_max_ms!r} is invalid: must be >= "
                              f"delay_min_ms ({delay_min_ms})")
        self.reach = _n_steps(reach_ms, dt_ms, "reach_ms", 1)
        self.hold = _n_steps(hold_ms, dt_ms, "hold_ms", 1)
        self.feedback_delay = _n_steps(feedback_delay_ms, dt_ms, "feedback_delay_ms")
        self.trial_steps = self.target_on + self.delay_max + self.reach + self.hold
        self.catch_prob = float(catch_prob)
        self.weights = {"velocity": float(w_velocity), "force": float(w_force),
                        "still": float(w_still), "effort": float(w_effort)}
        self.eval_reps = int(eval_reps)
        # The center: the hand at the start posture (the origin for the point mass).
        if isinstance(self.plant, TwoJointArm):
            self.center_m = self.plant.start_hand_m()
        else:
            self.center_m = np.zeros(2)
        for name, angles in (("radius_cm", self.train_angles_deg),
                             ("radius_cm", self.test_angles_deg)):
            self.plant.check_reachable(self.center_m + self.radius_m * _unit(angles),
                                       f"env.{name}={radius_cm!r}")

    # ------------------------------------------------------------------ trials

    def _trials(self, angles_deg: torch.Tensor, delays: torch.Tensor,
                catch: torch.Tensor) -> TrialBatch:
        """Open-loop inputs, target positions and masks for given trials.

        Args:
            angles_deg: (trial,) target direction.
            delays: (trial,) long, delay in steps.
            catch: (trial,) bool.
        """
        n_t, n_b = self.trial_steps, angles_deg.shape[0]
        rad = torch.deg2rad(angles_deg.double())
        unit = torch.stack([torch.cos(rad), torch.sin(rad)], 1).float()  # (trial, 2)
        t = torch.arange(n_t)[:, None]
        go = (self.target_on + delays)[None, :]  # (1, trial)
        shown = (t >= self.target_on).float()
        after_go = (t >= go) & ~catch[None, :]
        inputs = torch.zeros(n_t, n_b, self.n_inputs)
        inputs[:, :, 0:2] = shown[:, :, None] * unit[None]
        inputs[:, :, 2] = after_go.float()
        # target hand position (units of the radius): the target after the go cue, else center
        targets = after_go[:, :, None].float() * unit[None]
        mask = after_go[:, :, None].float().expand(n_t, n_b, 2).clone()
        return TrialBatch(inputs, targets, mask, torch.zeros(n_b, dtype=torch.long),
                          {"angle_deg": angles_deg.float(), "go_step": go[0].clone(),
                           "catch": catch.clone()})

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """Training trials: trained targets, random delays, catch trials at ``catch_prob``."""
        angles = torch.tensor(self.train_angles_deg)
        idx = torch.randint(0, len(angles), (batch_size,), generator=generator)
        delays = torch.randint(self.delay_min, self.delay_max + 1, (batch_size,),
                               generator=generator)
        catch = torch.rand(batch_size, generator=generator) < self.catch_prob
        batch = self._trials(angles[idx], delays, catch)
        batch.conditions["heldout"] = torch.zeros(batch_size, dtype=torch.bool)
        return batch

    def test_batch(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """Trials cycling through trained targets, held-out targets and catch trials."""
        tr = torch.tensor(self.train_angles_deg)
        te = torch.tensor(self.test_angles_deg)
        kinds = torch.arange(batch_size) % 3  # 0 trained, 1 held-out, 2 catch
        k = torch.arange(batch_size) // 3
        angles = torch.where(kinds == 1, te[k % len(te)], tr[k % len(tr)])
        delays = torch.randint(self.delay_min, self.delay_max + 1, (batch_size,),
                               generator=generator)
        batch = self._trials(angles, delays, kinds == 2)
        batch.conditions["heldout"] = kinds == 1
        return batch

    def eval_batch(self, generator: torch.Generator) -> TrialBatch:
        """``eval_reps`` trials per trained and per held-out target, and as many catch trials
        per trained target."""
        tr = torch.tensor(self.train_angles_deg).repeat(self.eval_reps)
        te = torch.tensor(self.test_angles_deg).repeat(self.eval_reps)
        angles = torch.cat([tr, te, tr])
        n = len(angles)
        catch = torch.zeros(n, dtype=torch.bool)
        catch[len(tr) + len(te):] = True
        delays = torch.randint(self.delay_min, self.delay_max + 1, (n,), generator=generator)
        batch = self._trials(angles, delays, catch)
        heldout = torch.zeros(n, dtype=torch.bool)
        heldout[len(tr):len(tr) + len(te)] = True
        batch.conditions["heldout"] = heldout
        return batch

    # ------------------------------------------------------------------ closed loop

    def rollout(self, net, batch: TrialBatch, noise: torch.Generator | None = None,
                return_rates: bool = False, return_states: bool = False) -> ReachRollout:
        """Run circuit and plant together over ``batch`` (on the circuit's device).

        Per step t: the circuit gets the open-loop inputs of step t and the hand feedback of
        step t - feedback_delay, takes one Euler step (the equations of ``RateRNN``, with its
        noise when ``noise`` is given), its readout is the motor command, and the plant
        advances one step under it. Differentiable end to end.
        """
        c = net.config
        a = net.alpha
        n_t, n_b = batch.n_steps, batch.n_trials
        ctx = batch.context
        inputs_open = batch.inputs[:, :, :_OPEN]
        w_open = net.W_in[:, :_OPEN]
        w_fb_t = net.W_in[:, _OPEN:].t() * a
        noise_in = None
        if noise is not None and c.noise_in > 0:
            noise_in = math.sqrt(2.0 / a) * c.noise_in * torch.randn(
                batch.inputs.shape, generator=noise, device=batch.inputs.device)
            inputs_open = inputs_open + noise_in[:, :, :_OPEN]
        drive = torch.matmul(inputs_open, w_open.t() * a) + net.biases[ctx] * a
        if noise is not None and c.noise_rec > 0:
            drive = drive + math.sqrt(2.0 * a) * c.noise_rec * torch.randn(
                drive.shape, generator=noise, device=drive.device)
        mask = net.unit_mask(ctx)
        w_rec_t = net.W_rec.t()
        x = net.initial_state(n_b)
        r = net.phi(x) if mask is None else net.phi(x) * mask
        state = self.plant.initial_state(n_b, dtype=drive.dtype, device=drive.device)
        center = torch.as_tensor(self.center_m, dtype=drive.dtype, device=drive.device)
        vel_unit = self.radius_m / VELOCITY_UNIT_S
        feedback = [torch.zeros(n_b, 4, dtype=drive.dtype, device=drive.device)]
        positions, velocities, commands, rates, states = [], [], [], [], []
        for t, d in enumerate(drive.unbind(0)):
            fb = feedback[max(len(feedback) - 1 - self.feedback_delay, 0)]
            if noise_in is not None:
                fb = fb + noise_in[t, :, _OPEN:]
            x = torch.addmm(torch.add(d, x, alpha=1.0 - a), r, w_rec_t, alpha=a)
            x = torch.addmm(x, fb, w_fb_t)
            r = net.phi(x) if mask is None else net.phi(x) * mask
            u = net.readout(r)
            state = self.plant.step(state, u)
            pos, vel = self.plant.hand(state)
            pos = pos - center
            positions.append(pos)
            velocities.append(vel)
            commands.append(u)
            feedback.append(torch.cat([pos / self.radius_m, vel / vel_unit], 1))
            if return_rates:
                rates.append(r)
            if return_states:
                states.append(x)
        fb_all = torch.stack(feedback[:-1])  # what each step could have seen, before delay
        delayed = torch.cat([fb_all[:1].expand(self.feedback_delay, -1, -1), fb_all])[:n_t]
        seen = torch.cat([batch.inputs[:, :, :_OPEN], delayed], 2)
        return ReachRollout(torch.stack(positions), torch.stack(velocities),
                            torch.stack(commands), seen.detach(),
                            torch.stack(rates) if return_rates else None,
                            torch.stack(states) if return_states else None)

    def run(self, net, batch: TrialBatch, return_states: bool = False):
        """The closed-loop, noise-free ``Rollout`` (outputs = motor commands) on ``batch``, for
        export. The feedback the circuit received is written into ``batch.inputs[..., 3:]``,
        so an exported file holds the inputs as the circuit saw them."""
        from ...circuit import Rollout

        with torch.no_grad():
            roll = self.rollout(net, batch, return_rates=True, return_states=return_states)
        batch.inputs[:, :, _OPEN:] = roll.inputs[:, :, _OPEN:]
        return Rollout(roll.commands, roll.rates, roll.states)

    def reach_loss(self, roll: ReachRollout, batch: TrialBatch) -> torch.Tensor:
        """The training loss of a rollout (see the module doc), a scalar."""
        n_t = batch.n_steps
        t = torch.arange(n_t, device=roll.pos_m.device)[:, None]
        go = batch.conditions["go_step"].to(roll.pos_m.device)[None, :]
        catch = batch.conditions["catch"].to(roll.pos_m.device)[None, :]
        after = ((t >= go) & ~catch).to(roll.pos_m.dtype)
        hold = ((t >= go + self.reach) & ~catch).to(roll.pos_m.dtype)
        before = 1.0 - after
        p = roll.pos_m / self.radius_m
        v = roll.vel_m_s / (self.radius_m / VELOCITY_UNIT_S)
        pos_err = ((p - batch.targets) ** 2).sum(2)
        speed2 = (v ** 2).sum(2)
        effort = (roll.commands ** 2).sum(2)
        w = self.weights
        per_step = (after * pos_err
                    + hold * (w["velocity"] * speed2 + w["force"] * effort)
                    + before * w["still"] * ((p ** 2).sum(2) + speed2)
                    + w["effort"] * effort)
        return per_step.mean()

    def training_loss(self, net, batch: TrialBatch,
                      noise: torch.Generator | None = None) -> torch.Tensor:
        return self.reach_loss(self.rollout(net, batch, noise), batch)

    # ------------------------------------------------------------------ scores

    @torch.no_grad()
    def evaluate(self, net, generator: torch.Generator) -> dict[str, float]:
        """Noise-free closed-loop scores on ``eval_batch``: endpoint errors (cm) and success
        rates on trained and held-out targets, catch-trial false starts, kinematics."""
        batch = self.eval_batch(generator).to(net.W_rec.device)
        roll = self.rollout(net, batch)
        out = {"loss": float(self.reach_loss(roll, batch))}
        out.update(score_reaches(self, roll, batch))
        return out

    def target_positions_cm(self, angles_deg) -> np.ndarray:
        """Targets (n, 2) in cm relative to the center for directions (n,) in degrees."""
        return 100.0 * self.radius_m * _unit(angles_deg)

    def describe(self) -> str:
        return (f"CenterOutReach({self.plant_name}, {len(self.train_angles_deg)} trained + "
                f"{len(self.test_angles_deg)} held-out targets at {100 * self.radius_m:g} cm)")


def _unit(angles_deg) -> np.ndarray:
    rad = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    return np.stack([np.cos(rad), np.sin(rad)], -1)


def score_reaches(env: CenterOutReach, roll: ReachRollout, batch: TrialBatch) -> dict[str, float]:
    """``summarize_reaches`` on a closed-loop rollout of ``env``."""
    from ...analysis.reaching import summarize_reaches

    c = batch.conditions
    return summarize_reaches(100.0 * roll.pos_m.detach().cpu().numpy(),
                             env.target_positions_cm(c["angle_deg"].cpu().numpy()),
                             c["go_step"].cpu().numpy(), c["catch"].cpu().numpy(),
                             c["heldout"].cpu().numpy(), env.dt_ms, env.reach, env.hold,
                             env.window_cm)
