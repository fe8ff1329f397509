"""The loop each worker (a local process or a SLURM job) runs: ask, train, tell, repeat."""

from __future__ import annotations

import math
import os
import socket
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import ConfigError, apply_overrides, config_from_dict
from ..sweep import see_gpu
from .space import Param, parse_space, to_text
from .study import FINISHED, count_states, make_sampler, open_study, quiet_optuna, trial_dirs

__all__ = ["run_worker", "run_trial"]


def run_worker(out: str, settings: dict[str, Any], threads: int,
               gpu: str | None = None) -> int:
    """Run trials against the study in ``out`` until ``settings["trials"]`` have finished.

    The function each local process or SLURM job runs. Returns the trials it ran. ``gpu``: the
    CUDA device its trials may use (see ``sweep.run_point``); None keeps the job's own.
    """
    see_gpu(gpu)
    import optuna
    import torch
    from optuna.storages.journal import JournalFileOpenLock

    torch.set_num_threads(max(1, threads))
    quiet_optuna()
    out_path = Path(out)
    space = parse_space(settings["space"])
    study = open_study(out_path, settings)
    lock = JournalFileOpenLock(str(out_path / "ask"))
    me = f"{socket.gethostname()}:{os.getpid()}"
    try:  # a SLURM job's id tells a later call whether the job (so the trial) still runs
        from submitit import JobEnvironment

        env = JobEnvironment()
        job_id = env.job_id if env.cluster == "slurm" else None
    except RuntimeError:  # not inside a submitit job
        job_id = None
    n_run = 0
    while True:
        lock.acquire()
        try:
            trials = study.get_trials(deepcopy=False)
            counts = count_states(trials)
            done = sum(counts.get(s, 0) for s in FINISHED)
            if done + counts.get("RUNNING", 0) >= settings["trials"]:
                break
            errors = sum(1 for t in trials if t.state.name == "FAIL"
                         and t.user_attrs.get("failure") == "error")
            if errors >= max(3, settings["trials"]):
                raise RuntimeError(f"{errors} trials failed with an error: stopped (their "
                                   f"errors are in {out_path / 'trials.csv'})")
            study.sampler = make_sampler(settings["sampler_seed"], len(trials), settings["startup"])
            trial = study.ask()
            trial.set_user_attr("worker", me)
            if job_id is not None:
                trial.set_user_attr("job_id", str(job_id))
        finally:
            lock.release()
        n_run += 1
        try:
            value = run_trial(trial, out_path, space, settings)
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        except Exception as err:  # noqa: BLE001 - a failed trial is recorded, the study goes on
            message = str(err).strip().splitlines()[-1][:300] if str(err) else \
                type(err).__name__
            trial.set_user_attr("failure", "error")
            trial.set_user_attr("error", f"{type(err).__name__}: {message}")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
    return n_run


def run_trial(trial, out: Path, space: Mapping[str, Param], settings) -> float:
    """Train one trial's runs (one per seed); the metric's mean over seeds."""
    import optuna

    from ..run import train_run
    from ..train import load_checkpoint

    params = {key: p.suggest(trial) for key, p in space.items()}
    overrides = [f"{key}={to_text(value)}" for key, value in params.items()]
    seeds = settings["seeds"]
    dirs = trial_dirs(out, trial.number, seeds)
    previous = trial.user_attrs.get("retry_of")
    if previous is not None:  # a killed trial asked again: continue its runs
        for old, new in zip(trial_dirs(out, int(previous), seeds), dirs, strict=True):
            if old.is_dir() and not new.exists():
                old.rename(new)
    metric = settings["metric"]
    values = []
    for k, (seed, run_dir) in enumerate(zip(seeds, dirs, strict=True)):
        config = config_from_dict(apply_overrides(settings["spec"], overrides + [f"seed={seed}"]))
        offset = k * config.train.steps  # seed k's evaluations follow seed k-1's

        def on_eval(step: int, metrics: Mapping[str, float], offset=offset) -> None:
            if metric in metrics and math.isfinite(metrics[metric]):
                trial.report(float(metrics[metric]), offset + step)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at step {step}")

        resume = (run_dir / "checkpoint.pt").exists()
        if resume:  # the evaluations before the kill count for pruning as well
            for e in load_checkpoint(run_dir / "checkpoint.pt")["history"]["evals"]:
                if metric in e and math.isfinite(e[metric]):
                    trial.report(float(e[metric]), offset + int(e["step"]))
        run = train_run(config, run_dir, resume=resume, force=not resume, progress=None,
                        on_eval=on_eval)
        if metric not in run.summary:
            raise ConfigError(f"--metric {metric!r} is not in {run_dir}/summary.json")
        values.append(float(run.summary[metric]))
    value = statistics.fmean(values)
    if not math.isfinite(value):
        raise ValueError(f"{metric} is {value}")
    return value
