"""Which env class a spec's ``env.kind`` names, found without importing every env.

A kind is one of three things:

- a built-in name (``"sine"``, ``"neurogym"``, ...), mapped here to the module that defines it,
  imported only when that kind is used;
- the name of an entry point in the group ``neurobias.envs`` that an installed package
  declares (below);
- an import path ``"package.module:EnvClass"``.

Whatever the form, the class must be a subclass of ``neurobias.envs.Env``. A package declares
its envs in its ``pyproject.toml``:

    [project.entry-points."neurobias.envs"]
    context_switch = "mylab.tasks:ContextSwitch"
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points

from ..errors import ConfigError

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "ENVS", "available", "env_class", "kind_of"]

ENTRY_POINT_GROUP = "neurobias.envs"

# built-in kinds -> "module:Class"; the module is imported when the kind is first used
BUILTIN: dict[str, str] = {
    "sine": "neurobias.envs.dynamics:SineGenerator",
    "vanderpol": "neurobias.envs.dynamics:VanDerPol",
    "lorenz": "neurobias.envs.dynamics:LorenzForecast",
    "neurogym": "neurobias.envs.neurogym:NeuroGymEnv",
    "reaching": "neurobias.envs.reaching.task:CenterOutReach",
    "recording": "neurobias.envs.recording:RecordingEnv",
}


def _registered() -> dict[str, str]:
    """Entry points of the group ``neurobias.envs``: name -> "module:Class"."""
    found = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN:
            warnings.warn(f"entry point {ep.name!r} = {ep.value!r} of group "
                          f"{ENTRY_POINT_GROUP!r} is ignored: {ep.name!r} is a built-in env "
                          "kind; register it under another name", stacklevel=3)
            continue
        found.setdefault(ep.name, ep.value)
    return found


def available() -> dict[str, str]:
    """Every kind a spec may name by a short name: built-in and registered, -> "module:Class"."""
    return {**BUILTIN, **_registered()}


def _import(kind: str, path: str, origin: str) -> type:
    from .batch import Env

    module_name, _, class_name = path.partition(":")
    if not module_name or not class_name or ":" in class_name:
        raise ConfigError(f"env.kind={kind!r} is invalid: an import path is "
                          "'package.module:EnvClass'")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001 - any failure of the user's module is reported
        raise ConfigError(f"env.kind={kind!r}{origin}: module {module_name!r} does not import "
                          f"({type(err).__name__}: {err}); is it installed or on PYTHONPATH?"
                          ) from None
    cls = module
    for part in class_name.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            raise ConfigError(f"env.kind={kind!r}{origin}: module {module_name!r} has no "
                              f"{class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Env)):
        raise ConfigError(f"env.kind={kind!r}{origin}: {class_name!r} is not a subclass of "
                          "neurobias.envs.Env")
    return cls


def env_class(kind: str) -> type:
    """The env class a spec's ``env.kind`` names.

    Args:
        kind: a built-in name (``BUILTIN``), an entry point name of the group
            ``neurobias.envs``, or an import path ``"package.module:EnvClass"``.

    Raises:
        ConfigError: the name is unknown, the module does not import, it has no such class,
            or the class is not an Env subclass (one line naming which).
    """
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"env.kind={kind!r} is invalid: a name ({', '.join(BUILTIN)}, or an "
                          f"entry point of {ENTRY_POINT_GROUP!r}) or 'package.module:EnvClass'")
    if ":" in kind:
        return _import(kind, kind, "")
    if kind in BUILTIN:
        return _import(kind, BUILTIN[kind], "")
    registered = _registered()
    if kind in registered:
        return _import(kind, registered[kind], f" (entry point {registered[kind]!r})")
    raise ConfigError(f"env.kind={kind!r} is invalid: allowed: "
                      + ", ".join(sorted({**BUILTIN, **registered}))
                      + ", or an import path 'package.module:EnvClass'")


def kind_of(cls: type) -> str:
    """The ``env.kind`` that names ``cls``: its built-in or registered name, else its import
    path ``"module:QualName"`` (which only re-imports if the module is importable)."""
    path = f"{cls.__module__}:{cls.__qualname__}"
    for name, value in available().items():
        if value == path:
            return name
    return path


class _Registry(Mapping):
    """``ENVS``: kind -> env class, importing a class only when it is looked up."""

    def __getitem__(self, kind: str) -> type:
        if kind not in available():
            raise KeyError(kind)
        return env_class(kind)

    def __iter__(self) -> Iterator[str]:
        return iter(available())

    def __len__(self) -> int:
        return len(available())

    def __repr__(self) -> str:
        return f"ENVS({', '.join(available())})"


ENVS: Mapping[str, type] = _Registry()
