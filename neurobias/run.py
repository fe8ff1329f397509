"""Run folders: build a circuit and env from a spec, train, and write the results.

A run folder holds:

    config.json      the full experiment spec (ExperimentConfig.to_dict)
    checkpoint.pt    circuit, optimizer and random-stream state (resumable)
    history.json     losses, learning rates and evaluations per step
    summary.json     final evaluation metrics by name, plus steps and seconds

Every file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ._atomic import write_json_atomic
from .circuit import RateRNN
from .config import ConfigError, ExperimentConfig, config_from_dict
from .envs.batch import Env
from .train import (
    CHECKPOINT,
    History,
    check_sample,
    fit,
    load_checkpoint,
    resolve_device,
    run_summary,
)

__all__ = ["build", "train_run", "load_run", "Run", "write_json_atomic"]


def build(config: ExperimentConfig) -> tuple[RateRNN, Env]:
    """The circuit (seeded by ``config.seed``) and the env a spec describes."""
    env = config.env.build(config.circuit.dt_ms)
    return RateRNN(config.circuit, seed=config.seed), env


@dataclass
class Run:
    """A trained run loaded from its folder."""

    config: ExperimentConfig
    net: RateRNN
    env: Env
    history: History
    summary: dict[str, Any]
    path: Path


def train_run(config: ExperimentConfig, out_dir: str | Path, *, resume: bool = False,
              force: bool = False, progress: bool | None = None,
              device: str | None = None,
              on_eval: Callable[[int, dict[str, float]], None] | None = None) -> Run:
    """Train the experiment ``config`` into ``out_dir`` and write its files.

    Args:
        config: the experiment.
        out_dir: run folder; created if missing.
        resume: continue the run already in ``out_dir``.
        force: start over even if ``out_dir`` already holds a run.
        progress: report training progress on stderr (``neurobias.progress``): a bar on a
            terminal or in Jupyter, else plain lines; False: nothing; None: auto.
        device: overrides ``config.train.device``.
        on_eval: passed to ``fit``: called after each periodic evaluation; an exception it
            raises stops training (no history.json or summary.json is written then).

    Raises:
        ConfigError: ``out_dir`` holds a run and neither ``resume`` nor ``force`` was given, or
            it holds a run of another spec; the env refuses the circuit (e.g. too few units for
            a recording's neurons); the device asked for is not available. Nothing is written
            then.
    """
    out = Path(out_dir)
    ckpt = out / CHECKPOINT
    saved_cfg = out / "config.json"
    if ckpt.exists() and not (resume or force):
        raise ConfigError(f"{str(out)!r} already holds a run: use --resume to continue it or "
                          "--force to start over")
    if resume and saved_cfg.exists():
        before = json.loads(saved_cfg.read_text())
        now = json.loads(json.dumps(config.to_dict()))
        for key in ("circuit", "env", "seed"):
            if before.get(key) != now.get(key):
                raise ConfigError(f"{str(out)!r} holds a run with other {key} settings: resume "
                                  "it with the spec it was started with")
    # everything that can refuse the settings does so before anything is written
    net, env = build(config)
    env.check_circuit(net)
    check_sample(env, net)
    resolve_device(device if device is not None else config.train.device)
    out.mkdir(parents=True, exist_ok=True)
    if force and not resume:
        for name in (CHECKPOINT, "history.json", "summary.json", "run.h5"):
            (out / name).unlink(missing_ok=True)
    continuing = resume and ckpt.exists()
    if not continuing:
        write_json_atomic(config.to_dict(), saved_cfg)
    history = fit(net, env, config.train, out_dir=out, resume=resume, progress=progress,
                  device=device, on_eval=on_eval)
    if continuing:  # written only once fit has accepted the settings
        write_json_atomic(config.to_dict(), saved_cfg)
    summary = run_summary(history, net)
    return Run(config, net, env, history, summary, out)


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> Run:
    """Rebuild a run's circuit (with its trained state), env and history from its folder."""
    path = Path(run_dir)
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise ConfigError(f"{str(path)!r} is not a run folder: it has no config.json")
    try:
        config = config_from_dict(json.loads(cfg_path.read_text()))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{str(cfg_path)!r} is damaged: {err}") from None
    state = load_checkpoint(path / CHECKPOINT)
    net, env = build(config)
    net.load_state_dict(state["model"])
    net.to(device).eval()
    history = History.from_dict(state["history"])
    summary_path = path / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return Run(config, net, env, history, summary, path)
