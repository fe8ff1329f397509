"""The simulation both exports record: one chunk of test trials through the circuit.

Shared by the HDF5 and NWB writers so that both files hold the same trials and activity.
"""

from __future__ import annotations

import torch

__all__ = ["simulate", "channel_names", "HAND_SERIES"]

# Extra per-step series of closed-loop reaching, (time, trial, 2) each: name -> unit.
HAND_SERIES = {"hand_position_cm": "cm", "hand_velocity_cm_s": "cm/s"}


def channel_names(env, kind: str, n: int) -> tuple[str, ...]:
    """Names of the env's ``kind`` ("input" or "output") channels; ``"input 0"``... if the env
    names none (or a wrong number of them)."""
    names = getattr(env, f"{kind}_names", None)
    if names is not None and len(names) == n:
        return tuple(str(x) for x in names)
    return tuple(f"{kind} {i}" for i in range(n))


def is_reaching(env) -> bool:
    """A closed-loop env whose rollout reports the hand (center-out reaching)."""
    return hasattr(env, "rollout") and hasattr(env, "radius_m")


def simulate(env, net, batch, states: bool):
    """The noise-free rollout ``env.run`` gives, plus the hand of reaching envs.

    Args:
        env: the run's env.
        net: the circuit (eval mode, on the batch's device).
        batch: a ``TrialBatch`` on the circuit's device; reaching writes the feedback the
            circuit received into ``batch.inputs`` (as ``env.run`` does).
        states: also return the states x.

    Returns:
        ``(rollout, extras)``: the ``Rollout`` (time, trial, ·) and a dict of extra series,
        for reaching ``hand_position_cm`` (cm, relative to the center) and
        ``hand_velocity_cm_s`` (cm/s), each (time, trial, 2); empty for other envs.
    """
    from ..circuit import Rollout

    if not is_reaching(env):
        return env.run(net, batch, return_states=states), {}
    with torch.no_grad():
        roll = env.rollout(net, batch, return_rates=True, return_states=states)
    batch.inputs[:] = roll.inputs  # the inputs as the circuit saw them (feedback included)
    extras = {"hand_position_cm": 100.0 * roll.pos_m, "hand_velocity_cm_s": 100.0 * roll.vel_m_s}
    return Rollout(roll.commands, roll.rates, roll.states), extras
