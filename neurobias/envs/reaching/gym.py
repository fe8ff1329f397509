"""A single-trial gymnasium.Env over the same plant and task as ``CenterOutReach``.

For users who bring their own agents: one trial per episode, one step per ``dt_ms``. The
observation is what the circuit receives (``INPUT_NAMES``: target x, y, go cue, delayed hand
position and velocity), the action is the motor command, and the reward is minus the loss terms
of that step (``CenterOutReach.reach_loss``, per step rather than averaged). The physics is the
plant's own ``step``, called with a batch of one. Registered as ``neurobias/CenterOutReach-v0``.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import torch
from gymnasium import spaces

from .. import GYM_ID
from .task import _OPEN, VELOCITY_UNIT_S, CenterOutReach

__all__ = ["CenterOutReachGym", "GYM_ID"]


class CenterOutReachGym(gymnasium.Env):
    """One center-out reach per episode.

    Args:
        max_command: bound of the action space (the command is clipped to it).
        heldout: draw targets from the held-out directions instead of the trained ones.
        **env_kwargs: ``CenterOutReach`` arguments (dt_ms, plant, radius_cm, ...).

    Observation: float32 (7,); action: float32 (2,) in [-max_command, max_command].
    ``info`` holds the hand position (cm), the target (cm), the go step and the catch flag.
    """

    metadata = {"render_modes": []}

    def __init__(self, max_command: float = 20.0, heldout: bool = False, **env_kwargs):
        self.task = CenterOutReach(**env_kwargs)
        self.heldout = bool(heldout)
        self.max_command = float(max_command)
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.task.n_inputs,), np.float32)
        self.action_space = spaces.Box(-self.max_command, self.max_command, (2,), np.float32)
        self._trial = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        gen = torch.Generator().manual_seed(int(self.np_random.integers(2 ** 62)))
        if self.heldout:  # a held-out target, never a catch trial
            task = self.task
            idx = int(self.np_random.integers(len(task.test_angles_deg)))
            delay = torch.randint(task.delay_min, task.delay_max + 1, (1,), generator=gen)
            batch = task._trials(torch.tensor([task.test_angles_deg[idx]]), delay,
                                 torch.zeros(1, dtype=torch.bool))
        else:
            batch = self.task.sample(1, gen)
        self._trial = batch
        self._t = 0
        self._state = self.task.plant.initial_state(1, dtype=torch.float64)
        self._center = torch.as_tensor(self.task.center_m, dtype=torch.float64)
        self._feedback = [np.zeros(4)]
        return self._observation(), self._info()

    def _hand(self):
        pos, vel = self.task.plant.hand(self._state)
        return (pos[0] - self._center).numpy(), vel[0].numpy()

    def _observation(self) -> np.ndarray:
        t = min(self._t, self.task.trial_steps - 1)
        fb = self._feedback[max(len(self._feedback) - 1 - self.task.feedback_delay, 0)]
        obs = np.concatenate([self._trial.inputs[t, 0, :_OPEN].numpy(), fb])
        return obs.astype(np.float32)

    def _info(self) -> dict:
        pos, _ = self._hand()
        c = self._trial.conditions
        angle = float(c["angle_deg"][0])
        return {"hand_cm": 100 * pos, "target_cm": self.task.target_positions_cm([angle])[0],
                "go_step": int(c["go_step"][0]), "catch": bool(c["catch"][0]), "step": self._t}

    def step(self, action):
        if self._trial is None:
            raise RuntimeError("call reset() before step()")
        u = np.clip(np.asarray(action, dtype=np.float64).reshape(2), -self.max_command,
                    self.max_command)
        command = torch.from_numpy(u)[None]
        self._state = self.task.plant.step(self._state, command)
        pos, vel = self._hand()
        r_m, task = self.task.radius_m, self.task
        p, v = pos / r_m, vel / (r_m / VELOCITY_UNIT_S)
        self._feedback.append(np.concatenate([p, v]))
        c = self._trial.conditions
        t, go, catch = self._t, int(c["go_step"][0]), bool(c["catch"][0])
        w = task.weights
        effort = float(u @ u)
        if t >= go and not catch:
            target = self._trial.targets[t, 0].numpy()
            cost = float(((p - target) ** 2).sum())
            if t >= go + task.reach:
                cost += w["velocity"] * float(v @ v) + w["force"] * effort
        else:
            cost = w["still"] * float(p @ p + v @ v)
        cost += w["effort"] * effort
        self._t += 1
        terminated = self._t >= task.trial_steps
        return self._observation(), -cost, terminated, False, self._info()

