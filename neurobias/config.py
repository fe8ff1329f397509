"""Typed, frozen configuration for circuits, envs and training, with TOML loading and overrides.

An experiment spec (``tasks/*.toml``) has four parts:

    name = "sine"          # run name
    seed = 0               # one run seed; connectivity, trials and noise streams derive from it

    [circuit]              # CircuitConfig fields
    [env]                  # kind = "sine" plus that env's own keyword arguments
    [train]                # TrainConfig fields

Every invalid value raises one ``ValueError`` whose message names the field, the value and what
is allowed.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .envs.registry import env_class
from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ACTIVATIONS = ("relu", "softplus", "tanh", "sigmoid", "linear")
WEIGHTS = ("gaussian", "uniform", "sparse", "dale")
MODES = ("bias", "bias+readout", "full", "mask")
SCHEDULES = ("constant", "cosine", "exponential")
MASK_ESTIMATORS = ("straight_through", "sigmoid")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")


def _check(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{name}={value!r} is invalid: {allowed}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    _check(value in choices, name, value, "allowed: " + ", ".join(choices))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class CircuitConfig:
    """A leaky rate circuit with fixed random connectivity (see ``RateRNN``)."""

    n_units: int = 256  # N, number of units
    n_inputs: int = 1  # input channels (an env may fill this in)
    n_outputs: int = 1  # readout channels (an env may fill this in)
    n_contexts: int = 1  # rows of the tonic-input table b[c]
    tau_ms: float = 100.0  # membrane time constant (ms)
    dt_ms: float = 20.0  # Euler step (ms); alpha = dt / tau
    gain: float = 1.0  # recurrent gain g: W_rec entries have variance g^2 / N
    weights: str = "gaussian"  # gaussian | uniform | sparse | dale
    sparsity: float = 0.1  # connection probability p for weights="sparse"
    frac_excitatory: float = 0.8  # fraction of excitatory units for weights="dale"
    input_scale: float = 1.0  # W_in entries have variance input_scale^2 / n_inputs
    readout_scale: float = 10.0  # W_out entries have variance readout_scale^2 / N (see docs)
    activation: str = "relu"  # relu | softplus | tanh | sigmoid | linear
    mode: str = "bias"  # what learns: bias | bias+readout | full | mask
    bias_init: float = 0.0  # initial value of every tonic input (dimensionless, like x)
    bias_init_std: float = 0.1  # spread of the initial tonic inputs (0 leaves relus at the kink)
    noise_rec: float = 0.0  # recurrent noise sigma (Yang et al. 2019 scaling sqrt(2/alpha))
    noise_in: float = 0.0  # input noise sigma (same scaling)
    learn_x0: bool = False  # learn the initial state x(0) as well
    # initial mask score (mask mode): > 0, every unit starts on. Small, so that a unit the
    # gradient turns off flips within a few Adam steps (about lr per step); at 1.0 a
    # multitask circuit at gain 2 stayed all on, and exploding, for hundreds of steps
    mask_init: float = 0.05

    def __post_init__(self) -> None:
        for name in ("n_units", "n_inputs", "n_outputs", "n_contexts"):
            value = getattr(self, name)
            low = 0 if name == "n_inputs" else 1
            _check(isinstance(value, int) and not isinstance(value, bool) and value >= low,
                   f"circuit.{name}", value, f"must be an integer >= {low}")
        for name in ("tau_ms", "dt_ms"):
            value = getattr(self, name)
            _check(_is_number(value) and value > 0, f"circuit.{name}", value,
                   "must be a number > 0")
        _check(self.dt_ms <= self.tau_ms, "circuit.dt_ms", self.dt_ms,
               f"must be <= tau_ms ({self.tau_ms}) for a stable Euler step")
        for name in ("gain", "input_scale", "readout_scale", "noise_rec", "noise_in",
                     "bias_init_std"):
            value = getattr(self, name)
            _check(_is_number(value) and value >= 0, f"circuit.{name}", value,
                   "must be a number >= 0")
        for name in ("bias_init", "mask_init"):
            _check(_is_number(getattr(self, name)), f"circuit.{name}", getattr(self, name),
                   "must be a finite number")
        _check(_is_number(self.sparsity) and 0 < self.sparsity <= 1, "circuit.sparsity",
               self.sparsity, "must be in (0, 1]")
        _check(_is_number(self.frac_excitatory) and 0 < self.frac_excitatory < 1,
               "circuit.frac_excitatory", self.frac_excitatory, "must be in (0, 1)")
        _check_choice("circuit.activation", self.activation, ACTIVATIONS)
        _check_choice("circuit.weights", self.weights, WEIGHTS)
        _check_choice("circuit.mode", self.mode, MODES)
        _check(isinstance(self.learn_x0, bool), "circuit.learn_x0", self.learn_x0,
               "must be true or false")

    @property
    def alpha(self) -> float:
        """dt / tau, the fraction of the way to the target state covered in one step."""
        return self.dt_ms / self.tau_ms


@dataclass(frozen=True)
class TrainConfig:
    """How ``fit()`` trains a circuit."""

    steps: int = 2000  # optimizer steps
    batch_size: int = 64  # trials per step
    lr: float = 1e-2  # Adam learning rate
    lr_schedule: str = "constant"  # constant | cosine | exponential
    lr_final: float = 1e-3  # learning rate at the last step (cosine, exponential)
    weight_decay: float = 0.0  # Adam weight decay
    grad_clip: float = 1.0  # clip the gradient norm to this (0: off)
    eval_every: int = 100  # evaluate every k steps (0: only at the end)
    checkpoint_every: int = 100  # write RUN_DIR/checkpoint.pt every k steps (0: only at the end)
    mask_beta_start: float = 1.0  # sigmoid steepness of the masks at step 0 (mask mode)
    mask_beta_end: float = 50.0  # steepness at the last step (geometric annealing)
    # mask mode: "straight_through" trains the hard 0/1 masks evaluation uses, with the
    # gradient of sigmoid(beta * s); "sigmoid" trains the soft masks sigmoid(beta * s)
    mask_estimator: str = "straight_through"
    device: str = "auto"  # auto | cpu | cuda
    seed: int | None = None  # trial and noise streams; None: the run seed
    # "bf16": while training, the recurrent matmuls (forward and backward) take bfloat16
    # operands; states, rates, sums, gradients and Adam stay float32, and evaluation, export
    # and analyses run in float32. "fp32": float32 throughout.
    precision: str = "fp32"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            _check(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                   f"train.{name}", value, "must be an integer >= 1")
        for name in ("eval_every", "checkpoint_every"):
            value = getattr(self, name)
            _check(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
                   f"train.{name}", value, "must be an integer >= 0")
        for name in ("lr", "lr_final", "mask_beta_start", "mask_beta_end"):
            value = getattr(self, name)
            _check(_is_number(value) and value > 0, f"train.{name}", value, "must be a number > 0")
        for name in ("weight_decay", "grad_clip"):
            value = getattr(self, name)
            _check(_is_number(value) and value >= 0, f"train.{name}", value,
                   "must be a number >= 0")
        _check_choice("train.lr_schedule", self.lr_schedule, SCHEDULES)
        _check_choice("train.mask_estimator", self.mask_estimator, MASK_ESTIMATORS)
        _check_choice("train.device", self.device, DEVICES)
        _check_choice("train.precision", self.precision, PRECISIONS)
        _check(self.seed is None or (isinstance(self.seed, int) and self.seed >= 0),
               "train.seed", self.seed, "must be an integer >= 0")


@dataclass(frozen=True)
class EnvConfig:
    """Which env to train in (``kind``) and its keyword arguments (``params``)."""

    # a built-in name (neurobias.envs.ENVS), the name of an entry point of the group
    # "neurobias.envs", or an import path "package.module:EnvClass" naming an Env subclass of
    # one's own (importable: installed, or on PYTHONPATH)
    kind: str = "sine"
    params: Mapping[str, Any] = field(default_factory=dict)  # keyword arguments of that env

    def __post_init__(self) -> None:
        allowed = _env_parameters(env_class(self.kind))
        params = {}
        for key, value in self.params.items():
            if key not in allowed:
                raise ConfigError(f"env.{key} is not a parameter of env '{self.kind}': allowed: "
                                  + ", ".join(sorted(allowed)))
            params[key] = _check_type(f"env.{key}", value, allowed[key])
        object.__setattr__(self, "params", params)

    def build(self, dt_ms: float):
        """Instantiate the env with the circuit's time step."""
        cls = env_class(self.kind)
        try:
            return cls(dt_ms=dt_ms, **self.params)
        except ValueError as err:
            raise ConfigError(str(err)) from None


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment: what to train, in which env, how."""

    name: str = "run"
    seed: int = 0
    circuit: CircuitConfig = field(default_factory=CircuitConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        _check(isinstance(self.name, str) and self.name != "", "name", self.name,
               "must be a non-empty string")
        _check(isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0,
               "seed", self.seed, "must be an integer >= 0")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (TOML/JSON friendly) of every field."""
        return {
            "name": self.name,
            "seed": self.seed,
            "circuit": dataclasses.asdict(self.circuit),
            "env": {"kind": self.env.kind, **dict(self.env.params)},
            "train": dataclasses.asdict(self.train),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


# ---------------------------------------------------------------------------------------------
# Type checking of loaded values


def _env_parameters(cls: type) -> dict[str, Any]:
    """Keyword parameters of an env class (except dt_ms) with their annotated types."""
    hints = typing.get_type_hints(cls.__init__)
    out = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "dt_ms") or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        out[name] = hints.get(name, Any)
    return out


def _type_name(tp: Any) -> str:
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    return str(tp).replace("typing.", "")


def _check_type(name: str, value: Any, tp: Any) -> Any:
    """Return ``value`` converted to ``tp`` (int -> float only) or raise ConfigError."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(name, value, arg)
            except ConfigError:
                pass
        raise ConfigError(f"{name}={value!r} is invalid: must be "
                          + " or ".join(_type_name(a) for a in args if a is not type(None)))
    if origin in (tuple, list):
        ok = isinstance(value, (list, tuple))
        if ok:
            inner = typing.get_args(tp)[:1] or (Any,)
            return tuple(_check_type(name, v, inner[0]) for v in value)
        raise ConfigError(f"{name}={value!r} is invalid: must be a list")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise ConfigError(f"{name}={value!r} is invalid: must be {_type_name(tp)}")


def _build_section(cls: type, section: str, values: Mapping[str, Any]):
    if not isinstance(values, Mapping):
        raise ConfigError(f"[{section}] must be a table, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"{section}.{key} is not a known setting: allowed: "
                              + ", ".join(sorted(names)))
        kwargs[key] = _check_type(f"{section}.{key}", value, hints[key])
    return cls(**kwargs)


def config_from_dict(data: Mapping[str, Any]) -> ExperimentConfig:
    """Build and validate an ExperimentConfig from a nested dict (as read from TOML)."""
    data = dict(data)
    known = {"name", "seed", "circuit", "env", "train"}
    for key in data:
        if key not in known:
            raise ConfigError(f"{key} is not a known setting: allowed: " + ", ".join(sorted(known)))
    env_table = dict(data.get("env", {}))
    kind = env_table.pop("kind", EnvConfig.kind)
    env = EnvConfig(kind=kind, params=env_table)
    circuit_values = dict(data.get("circuit", {}))
    # validate the circuit's own values first, then let the env decide the input and output
    # sizes unless the spec sets them
    dt_ms = _build_section(CircuitConfig, "circuit", circuit_values).dt_ms
    dims = _env_dims(env, dt_ms)
    for key, value in dims.items():
        circuit_values.setdefault(key, value)
    circuit = _build_section(CircuitConfig, "circuit", circuit_values)
    for key, value in dims.items():
        if getattr(circuit, key) != value:
            raise ConfigError(f"circuit.{key}={getattr(circuit, key)} does not match env "
                              f"'{env.kind}', which needs {value}")
    train = _build_section(TrainConfig, "train", data.get("train", {}))
    return ExperimentConfig(name=data.get("name", "run"), seed=data.get("seed", 0),
                            circuit=circuit, env=env, train=train)


def _env_dims(env: EnvConfig, dt_ms: Any) -> dict[str, int]:
    if not _is_number(dt_ms) or dt_ms <= 0:
        raise ConfigError(f"circuit.dt_ms={dt_ms!r} is invalid: must be a number > 0")
    world = env.build(float(dt_ms))
    return {"n_inputs": world.n_inputs, "n_outputs": world.n_outputs,
            "n_contexts": world.n_contexts}


def parse_value(text: str) -> Any:
    """Parse the right-hand side of ``--set key=value`` as a TOML value, else as JSON (a JSON
    object such as ``{"delay": 100}``), else as a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    if text.startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _override_path(key: str) -> list[str]:
    """The parts of a dotted ``--set`` key, read as a TOML key (quoted parts may hold dots)."""
    try:
        node = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"--set {key} is not a valid key: parts are letters, digits, _ and -, "
                          'joined by dots; quote a part that holds dots, e.g. '
                          'env.timing."yang19.go-v0".fixation=200') from None
    parts = []
    while isinstance(node, dict):
        (name, node), = node.items()
        parts.append(name)
    return parts


def apply_overrides(data: Mapping[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides to a nested dict; unknown keys raise ConfigError.

    A key is a dotted TOML key. Under ``env`` it may go deeper than ``env.key``, into the
    tables an env takes: ``env.timing.DelayComparison-v0.delay=100`` sets one period of one
    NeuroGym env (every other setting of that table is kept). An env id that holds dots is
    quoted, as in TOML: ``env.timing."yang19.go-v0".fixation=200`` (in a shell, wrap the whole
    argument in single quotes). The names inside are checked when the env is built.

    Args:
        data: the nested dict of a TOML spec.
        overrides: strings like ``"train.steps=100"`` or ``"seed=3"``.
    """
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    sections = {"circuit": CircuitConfig, "train": TrainConfig}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} is invalid: expected KEY=VALUE, "
                              "e.g. train.steps=100")
        key, text = item.split("=", 1)
        key = key.strip()
        value = parse_value(text.strip())
        if not key:
            raise ConfigError(f"--set {item!r} is invalid: expected KEY=VALUE, "
                              "e.g. train.steps=100")
        parts = _override_path(key)
        if len(parts) == 1:
            if key not in ("name", "seed"):
                raise ConfigError(f"--set {key} is not a known setting: allowed: name, seed, "
                                  "circuit.*, env.*, train.*")
            out[key] = value
            continue
        if parts[0] not in ("circuit", "env", "train") or \
                (len(parts) > 2 and parts[0] != "env"):
            raise ConfigError(f"--set {key} is not a known setting: allowed: name, seed, "
                              "circuit.*, env.*, train.* (and env.TABLE.KEY... inside an env's "
                              "tables)")
        section, name = parts[:2]
        if section in sections:
            names = {f.name for f in dataclasses.fields(sections[section])}
            if name not in names:
                raise ConfigError(f"--set {key} is not a known setting: allowed {section} keys: "
                                  + ", ".join(sorted(names)))
        node = out.setdefault(section, {})
        if not isinstance(node, Mapping):
            raise ConfigError(f"--set {key}: {section} is not a table in the spec")
        node = out[section] = dict(node)
        for depth, part in enumerate(parts[1:-1], start=2):
            child = node.get(part, {})
            if not isinstance(child, Mapping):
                raise ConfigError(f"--set {key}: {'.'.join(parts[:depth])}={child!r} is not a "
                                  "table, so it has no keys to set")
            node[part] = dict(child)  # copied: the caller's spec is left as it was
            node = node[part]
        node[parts[-1]] = value
    return out


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a TOML experiment spec, apply ``--set`` style overrides and validate it.

    Raises:
        ConfigError: the file is missing or malformed, or a value is invalid.
    """
    return config_from_dict(load_spec(path, overrides))


def load_spec(path: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """The nested dict of a TOML spec with overrides applied (not yet validated)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {str(path)!r} is not a text file") from None
    return apply_overrides(data, overrides or [])
