"""The worlds a circuit is trained in.

``ENVS`` maps the ``kind`` of a spec to its class; ``env_class`` resolves any kind (a built-in
name, an entry point of the group ``neurobias.envs``, or ``"package.module:EnvClass"``). The env
modules are imported when first used, so importing the package stays light and ``config`` does
not depend on every env.
"""

from __future__ import annotations

import importlib

import gymnasium

from .batch import Env, TrialBatch
from .registry import ENTRY_POINT_GROUP, ENVS, available, env_class, kind_of

# classes this package re-exports, by the module that defines them (imported on first access)
_LAZY = {
    "SineGenerator": ".dynamics",
    "VanDerPol": ".dynamics",
    "LorenzForecast": ".dynamics",
    "NeuroGymEnv": ".neurogym",
    "CenterOutReach": ".reaching",
    "RecordingEnv": ".recording",
}

GYM_ID = "neurobias/CenterOutReach-v0"
if GYM_ID not in gymnasium.registry:  # by import path: gymnasium imports it on make()
    gymnasium.register(id=GYM_ID, entry_point="neurobias.envs.reaching.gym:CenterOutReachGym")


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["ENVS", "ENTRY_POINT_GROUP", "Env", "TrialBatch", "available", "env_class", "kind_of",
           "GYM_ID", *_LAZY]
