"""``tune``: check a search, resume its study, and run or submit the workers."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._proc import process_alive
from ..config import ConfigError
from ..progress import Progress
from ..run import write_json_atomic
from ..sweep import (
    _hash,
    _slurm_active,
    _stderr_into,
    available_cores,
    gpus_for,
    least_busy,
    local_gpus,
    plan_local,
    slurm_executor,
    stop_local_jobs,
)
from .report import tune_report
from .space import Param, parse_space, validate_space
from .study import (
    FINISHED,
    JOURNAL,
    MANIFEST,
    MANIFEST_FORMAT,
    PRUNERS,
    count_states,
    default_startup,
    open_study,
    quiet_optuna,
    repair_journal,
)
from .worker import run_worker

__all__ = ["tune", "TuneResult", "EXECUTORS"]

EXECUTORS = ("local", "slurm")


@dataclass
class TuneResult:
    """What a tune call did and where the study stands.

    Attributes:
        path: the study folder.
        counts: trials by state ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING").
        best: the best completed trial: {"number", "value", "params"} (None before one).
        retried: numbers of the trials found killed (left RUNNING) and asked again.
        submitted: job ids of the workers this call started or submitted.
        errors: trial number -> one-line error of the trials that failed in this call.
        report: the report dict (``tune_report``), None when the study has no trial yet.
    """

    path: Path
    counts: dict[str, int] = field(default_factory=dict)
    best: dict[str, Any] | None = None
    retried: list[int] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    report: dict[str, Any] | None = None


def _reap(study, out: Path) -> list[int]:
    """Mark trials left RUNNING by a dead worker failed and ask their parameters again.

    A worker on this machine is dead when its process is gone; one on another machine when its
    SLURM job is no longer pending or running. Returns the numbers of the trials reaped.
    """
    from optuna.storages.journal import JournalFileOpenLock
    from optuna.trial import TrialState

    # workers ask and sign their trials under this lock: a RUNNING trial found unsigned while
    # holding it was left by a worker that died in between
    lock = JournalFileOpenLock(str(out / "ask"))
    lock.acquire()
    try:
        return _reap_locked(study, out, TrialState)
    finally:
        lock.release()


def _reap_locked(study, out: Path, TrialState) -> list[int]:  # noqa: N803 - the enum
    reaped = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        if worker is not None:
            host, _, pid = worker.rpartition(":")
            if host == socket.gethostname():
                alive = process_alive(int(pid))
            else:  # on a cluster node: alive while its job is
                alive = t.user_attrs.get("job_id") is None or \
                    _slurm_active(out, t.user_attrs["job_id"])
            if alive:
                continue
        study._storage.set_trial_user_attr(t._trial_id, "failure", "killed")
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        reaped.append(t.number)
    return reaped


def tune(spec: Mapping[str, Any], space: Mapping[str, Param] | Sequence[str], out: str | Path,
         *, trials: int, metric: str | None = None, direction: str = "maximize",
         seeds: int = 1, pruner: str = "median", sampler_seed: int = 0,
         startup: int | None = None, executor: str = "local", jobs: int | None = None,
         threads: int | None = None, slurm: Mapping[str, Any] | None = None,
         progress: bool | None = None, poll_s: float = 0.5) -> TuneResult:
    """Search settings of ``spec`` with Optuna (TPE) until ``trials`` trials have finished.

    Args:
        spec: the experiment spec as a nested dict (as read from a TOML file).
        space: ``parse_space`` output, or its ``--space`` strings: ``key=lo:hi`` (uniform),
            ``key=lo:hi:log`` (log-uniform), ``key=lo:hi:int`` (integers), ``key=a,b,c``
            (categorical).
        out: the study folder; the same folder resumes the study.
        trials: trials to finish (completed or pruned), counted over every call.
        metric: the summary.json metric to optimise (mean over seeds); None: accuracy_mean or
            r2, whichever the env reports.
        direction: "maximize" or "minimize".
        seeds: runs per trial: spec seed, spec seed + 1, ...
        pruner: "median" (Optuna's MedianPruner), "halving" (SuccessiveHalvingPruner) or
            "none"; pruning needs ``train.eval_every > 0``.
        sampler_seed: seed of the TPE sampler.
        startup: random trials before TPE (and completed trials before the median pruner acts);
            default ``default_startup(trials)``.
        executor: "local" (worker processes here; waits, then writes the report) or "slurm"
            (submits worker jobs and returns).
        jobs: workers at once (local default: as the cores allow at ``threads`` each;
            slurm default: min(trials, 4) jobs).
        threads: torch threads per worker (as in ``neurobias.sweep``).
        slurm: keyword arguments of ``neurobias.sweep.slurm_executor``.
        progress: trials finished on stderr (``neurobias.progress``); False: nothing.

    Raises:
        ConfigError: a space key or bound the spec rejects, a metric the env does not report,
            bad counts, or ``out`` holding a study of another spec, space, seeds or metric;
            all checked before anything is written.
    """
    settings, space = _settings(spec, space, trials=trials, metric=metric, direction=direction,
                                seeds=seeds, pruner=pruner, sampler_seed=sampler_seed,
                                startup=startup, executor=executor, jobs=jobs, threads=threads)
    out = Path(out)
    manifest_path = out / MANIFEST
    manifest = {"format": MANIFEST_FORMAT, "config_hash": settings["hash"], "jobs": []}
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if old.get("config_hash") != settings["hash"]:
            raise ConfigError(f"{str(out)!r} holds a study of another spec, space, seeds or "
                              "metric: use a new folder")
        manifest["jobs"] = old.get("jobs", [])
    manifest.update({k: v for k, v in settings.items() if k != "hash"})
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(manifest, manifest_path)
    verbosity = quiet_optuna()
    import optuna

    try:
        repair_journal(out / JOURNAL)
        study = open_study(out, settings)
        result = TuneResult(out, retried=_reap(study, out))
        counts = count_states(study.get_trials(deepcopy=False))
        left = trials - sum(counts.get(s, 0) for s in FINISHED)
        if left > 0 and executor == "local":
            _run_local(out, settings, study, result, left, jobs, threads, progress, poll_s)
        elif left > 0:
            _submit_slurm(out, settings, manifest, result, left, jobs, threads, dict(slurm or {}))
        write_json_atomic(manifest, manifest_path)
        all_trials = study.get_trials(deepcopy=False)
        result.counts = count_states(all_trials)
        complete = [t for t in all_trials if t.state.name == "COMPLETE"]
        if complete:
            best = study.best_trial
            result.best = {"number": best.number, "value": best.value, "params": best.params}
    finally:
        optuna.logging.set_verbosity(verbosity)
    if result.counts:
        result.report, _ = tune_report(out)
    return result


def _settings(spec, space, *, trials, metric, direction, seeds, pruner, sampler_seed, startup,
              executor, jobs, threads) -> tuple[dict[str, Any], dict[str, Param]]:
    """Check every argument and the space against the spec; the settings workers get."""
    for name, value, low in (("--trials", trials, 1), ("--seeds", seeds, 1),
                             ("--jobs", jobs, 1), ("--threads", threads, 1),
                             ("--startup", startup, 0), ("--sampler-seed", sampler_seed, 0)):
        if value is None and name in ("--jobs", "--threads", "--startup"):
            continue
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
            raise ConfigError(f"{name}={value!r} is invalid: must be an integer >= {low}")
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"direction={direction!r} is invalid: allowed: maximize, minimize")
    if pruner not in PRUNERS:
        raise ConfigError(f"--pruner={pruner!r} is invalid: allowed: " + ", ".join(PRUNERS))
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor={executor!r} is invalid: allowed: " + ", ".join(EXECUTORS))
    if executor == "local":
        plan_local(1, jobs, threads, available_cores())
    if not isinstance(space, Mapping):
        space = parse_space(space)
    if not space:
        raise ConfigError("a study needs at least one --space KEY=LO:HI or KEY=A,B,...")
    base_seed = int(spec.get("seed", 0))
    first = validate_space(spec, space)
    if pruner != "none" and first.train.eval_every == 0 and "train.eval_every" not in space:
        raise ConfigError(f"--pruner {pruner} needs evaluations during training: set "
                          "train.eval_every > 0 (e.g. --set train.eval_every=100) or use "
                          "--pruner none")
    metric = _check_metric(first, metric)
    seed_list = [base_seed + k for k in range(seeds)]
    texts = [p.text() for p in space.values()]
    settings = {"spec": json.loads(json.dumps(dict(spec))), "space": texts, "seeds": seed_list,
                "metric": metric, "direction": direction, "pruner": pruner,
                "sampler_seed": sampler_seed, "trials": trials,
                "startup": default_startup(trials) if startup is None else startup}
    settings["hash"] = _hash({k: settings[k] for k in ("spec", "space", "seeds", "metric",
                                                       "direction")})
    return settings, dict(space)


def _check_metric(config, metric: str | None) -> str:
    """The metric to optimise, checked against an evaluation of the untrained circuit."""
    from ..run import build
    from ..seeding import generator

    net, env = build(config)
    names = sorted(k for k, v in env.evaluate(net.eval(), generator(config.seed, "eval"))
                   .items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    if metric is None:
        metric = next((m for m in ("accuracy_mean", "r2") if m in names), None)
        if metric is None:
            raise ConfigError("give --metric: allowed: " + ", ".join(names))
    if metric not in names:
        raise ConfigError(f"--metric {metric!r} is not a metric of env "
                          f"'{config.env.kind}': allowed: " + ", ".join(names))
    return metric


def _error_line(text: str) -> str:
    """The exception line ("RuntimeError: ...") of a job's error text, which submitit ends
    with the paths of the job's logs."""
    lines = [ln.strip() for ln in text.strip().splitlines()]
    found = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception): ", ln)]
    return (found or lines or [""])[-1][:300]


def _better(best: float | None, trial, direction: str) -> float | None:
    """The best value so far after ``trial`` (only completed trials count)."""
    if trial.state.name != "COMPLETE":
        return best
    if best is None:
        return trial.value
    return max(best, trial.value) if direction == "maximize" else min(best, trial.value)


def _run_local(out, settings, study, result, left, jobs, threads, progress, poll_s) -> None:
    from submitit import LocalExecutor

    jobs, threads = plan_local(left, jobs, threads, available_cores())
    ex = LocalExecutor(folder=out / "submitit")
    ex.update_parameters(timeout_min=7 * 24 * 60)
    controller_log = out / "submitit" / "controllers.log"
    controller_log.parent.mkdir(parents=True, exist_ok=True)
    before = study.get_trials(deepcopy=False)
    seen = {t.number for t in before if t.state.is_finished()}
    n_pruned = sum(1 for t in before if t.state.name == "PRUNED")
    best = None
    for t in before:
        best = _better(best, t, settings["direction"])
    done0 = sum(1 for t in before if t.state.name in FINISHED)
    bar = Progress(settings["trials"], "tune", "trial", progress, initial=done0)
    workers = []
    gpus = gpus_for(settings["spec"], local_gpus())  # the workers share them, spread in turn
    handed: list[str | None] = []
    try:
        for _ in range(jobs):
            handed.append(least_busy(gpus, handed))
            with _stderr_into(controller_log):
                workers.append(ex.submit(run_worker, str(out), settings, threads,
                                         handed[-1] or ""))
            result.submitted.append(str(workers[-1].job_id))
        while True:
            finished_workers = all(w.done() for w in workers)
            new = [t for t in study.get_trials(deepcopy=False)
                   if t.state.is_finished() and t.number not in seen]
            for t in sorted(new, key=lambda t: t.number):
                seen.add(t.number)
                if t.state.name == "FAIL" and t.user_attrs.get("failure") == "error":
                    result.errors[t.number] = t.user_attrs.get("error", "failed")
                n_pruned += t.state.name == "PRUNED"
                best = _better(best, t, settings["direction"])
                if t.state.name in FINISHED:
                    bar.update(1, best=best, pruned=n_pruned or None, last=t.number)
            if finished_workers:
                break
            time.sleep(poll_s)
        for w in workers:
            try:
                w.result()
            except Exception as err:  # noqa: BLE001 - a worker that stopped is reported
                result.errors[-1] = _error_line(str(err)) or type(err).__name__
    except KeyboardInterrupt:
        stop_local_jobs(workers)
        raise
    finally:
        bar.close()


def _submit_slurm(out, settings, manifest, result, left, jobs, threads, slurm) -> None:
    active = [j for j in manifest["jobs"] if _slurm_active(out, j.get("job_id"))]
    n_jobs = (jobs or min(settings["trials"], 4)) - len(active)
    n_jobs = min(n_jobs, left)
    if n_jobs <= 0:
        return
    ex = slurm_executor(out / "submitit", jobs=n_jobs, **slurm)
    threads = threads or int(slurm.get("cpus") or 1)
    with ex.batch():
        submitted = [ex.submit(run_worker, str(out), settings, threads) for _ in range(n_jobs)]
    for job in submitted:
        manifest["jobs"].append({"job_id": job.job_id, "threads": threads,
                                 "submitted": time.strftime("%Y-%m-%dT%H:%M:%S")})
        result.submitted.append(str(job.job_id))
