"""The search space of ``neurobias tune``: ``--space`` strings parsed and checked against a spec.

Syntax (values are read like ``--set`` values, ``neurobias.config.parse_value``):

    key=lo:hi        a number drawn uniformly in [lo, hi]
    key=lo:hi:log    a number drawn log-uniformly in [lo, hi] (lo > 0)
    key=lo:hi:int    an integer in [lo, hi] (both ends included)
    key=a,b,c        one of the values listed (two or more)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import ConfigError, ExperimentConfig, apply_overrides, config_from_dict, parse_value

__all__ = ["Param", "parse_space", "validate_space", "to_text", "KINDS"]

KINDS = ("float", "log", "int", "categorical")
SYNTAX = "KEY=LO:HI, KEY=LO:HI:log, KEY=LO:HI:int or KEY=A,B,C, e.g. circuit.gain=1:3"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def to_text(value: Any) -> str:
    """A value as ``--set`` text that parses back to the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


@dataclass(frozen=True)
class Param:
    """One dimension of the search space.

    Attributes:
        key: the setting, as a ``--set`` key ("circuit.gain").
        kind: "float" (uniform), "log" (log-uniform), "int" (integers) or "categorical".
        low: the range's low end, included (not for categorical).
        high: the range's high end, included (not for categorical).
        choices: the values of a categorical dimension.
    """

    key: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    choices: tuple = ()

    def suggest(self, trial) -> Any:
        """This dimension's value for an Optuna trial (fixed if the trial was enqueued)."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high))
        return trial.suggest_float(self.key, float(self.low), float(self.high),
                                   log=self.kind == "log")

    def values_to_check(self) -> list[Any]:
        """The values a spec must accept: both ends (as drawn: floats for a float range),
        or every choice."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]

    def text(self) -> str:
        """The ``--space`` string of this dimension."""
        if self.kind == "categorical":
            return f"{self.key}=" + ",".join(to_text(v) for v in self.choices)
        suffix = "" if self.kind == "float" else f":{self.kind}"
        return f"{self.key}={to_text(self.low)}:{to_text(self.high)}{suffix}"


def _parse_one(item: str) -> Param:
    if "=" not in item:
        raise ConfigError(f"--space {item!r} is invalid: expected {SYNTAX}")
    key, text = (part.strip() for part in item.split("=", 1))
    if not key or not text:
        raise ConfigError(f"--space {item!r} is invalid: expected {SYNTAX}")
    if key in ("seed", "name"):
        raise ConfigError(f"--space {key} is not allowed: use --seeds N for seeds; trials are "
                          "numbered")
    if "," in text:
        choices = [parse_value(v.strip()) for v in text.split(",") if v.strip() != ""]
        if len(choices) < 2:
            raise ConfigError(f"--space {item!r} has one value: list two or more (A,B,...), "
                              "or fix the setting with --set")
        for v in choices:
            if not (v is None or isinstance(v, (bool, int, float, str))):
                raise ConfigError(f"--space {key}: the value {v!r} is invalid: a choice is a "
                                  "number, a string or true/false")
        if len({to_text(v) for v in choices}) < len(choices):
            raise ConfigError(f"--space {item!r} lists a value twice: list each once")
        return Param(key, "categorical", choices=tuple(choices))
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (2, 3):
        raise ConfigError(f"--space {item!r} is invalid: expected {SYNTAX}")
    kind = parts[2] if len(parts) == 3 else "float"
    if kind not in ("float", "log", "int") or parts[-1] == "float":
        raise ConfigError(f"--space {item!r}: {kind!r} is not a range kind: allowed: log, int "
                          "(or none: uniform)")
    low, high = parse_value(parts[0]), parse_value(parts[1])
    for end in (low, high):
        if not _number(end) or end != end or end in (float("inf"), float("-inf")):
            raise ConfigError(f"--space {item!r}: {end!r} is not a number: a range is LO:HI "
                              "with finite numbers")
    if kind == "int" and not all(isinstance(v, int) for v in (low, high)):
        raise ConfigError(f"--space {item!r}: an integer range needs integer ends, e.g. "
                          f"{key}=16:64:int")
    if not low < high:
        raise ConfigError(f"--space {item!r}: LO must be less than HI (got {low} >= {high})")
    if kind == "log" and low <= 0:
        raise ConfigError(f"--space {item!r}: a log range needs LO > 0 (got {low})")
    return Param(key, kind, low=low, high=high)


def parse_space(items: Sequence[str]) -> dict[str, Param]:
    """Parse ``--space`` strings into {key: Param} (see the module docstring for the syntax).

    Raises:
        ConfigError: a malformed item, a range with LO >= HI, a log range with LO <= 0, an
            integer range with fractional ends, fewer than two choices, or a key given twice.
    """
    space: dict[str, Param] = {}
    for item in items:
        param = _parse_one(item)
        if param.key in space:
            raise ConfigError(f"--space {param.key} is given twice: give it once")
        space[param.key] = param
    return space


def validate_space(spec: Mapping[str, Any], space: Mapping[str, Param]) -> ExperimentConfig:
    """Check every key and bound of ``space`` against ``spec``; return the spec's own config.

    Each end of a range (as drawn: a float for a float range) and each choice is set in turn
    (the other keys keep the spec's values) and the config built, so a value the config
    refuses is found before any trial runs.

    Raises:
        ConfigError: the spec itself is invalid, a key is unknown, or a value is refused; one
            line naming the ``--space`` item.
    """
    base = config_from_dict(spec)
    for param in space.values():
        for value in param.values_to_check():
            try:
                config_from_dict(apply_overrides(spec, [f"{param.key}={to_text(value)}"]))
            except ConfigError as err:
                message = str(err).replace("--set ", "--space ")
                if param.kind in ("float", "log") and all(isinstance(v, int) for v in
                                                          (param.low, param.high)):
                    try:  # an integer setting given a float range
                        config_from_dict(apply_overrides(spec, [f"{param.key}={param.low}"]))
                        message += f"; for integers use {param.key}={param.low}:" \
                                   f"{param.high}:int"
                    except ConfigError:
                        pass
                if not message.startswith("--space"):
                    message = f"--space {param.text()}: {message}"
                raise ConfigError(message) from None
    return base
