"""Recipe search: Optuna's TPE sampler over settings of a spec, one run folder per trial.

A study lives in one folder ``OUT``::

    tune.json          spec, search space, seeds, metric, direction and their hash; the
                       worker jobs submitted (written atomically)
    journal.log        Optuna's journal (JournalStorage, file backend): every trial, its
                       parameters, intermediate values and state. Needs no database server and
                       works on a shared file system, so SLURM jobs on several nodes share it.
    trials/NNNN[_seedS]/   a normal run folder per trial (and seed, with --seeds > 1)
    submitit/          the worker jobs' scripts and logs
    tune_report.json, trials.csv, figures/   written by ``tune_report``

Workers (local processes or SLURM jobs, through submitit as in ``neurobias.sweep``) ask the
study for a trial, train it with ``train_run`` and tell the study the summary's metric (mean
over seeds), until ``trials`` trials have finished (completed or pruned). Pruning reports each
periodic evaluation of training (``train.eval_every``) to the trial. Running the same command
again resumes: finished trials stay, trials left RUNNING by a killed worker are marked failed
and their parameters are asked again (the retry continues from the killed run's checkpoint).
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import ConfigError, apply_overrides, config_from_dict
from .progress import Progress
from .run import write_json_atomic
from .sweep import (
    _hash,
    _slurm_active,
    _stderr_into,
    _toml,
    available_cores,
    plan_local,
    slurm_executor,
)
from .tune_space import Param, parse_space, validate_space

__all__ = ["tune", "tune_report", "parse_space", "Param", "TuneResult", "MANIFEST", "JOURNAL",
           "STUDY_NAME", "PRUNERS"]

MANIFEST = "tune.json"
MANIFEST_FORMAT = "neurobias-tune/1"
JOURNAL = "journal.log"
STUDY_NAME = "neurobias-tune"  # one study per folder: the same name every time
PRUNERS = ("median", "halving", "none")
EXECUTORS = ("local", "slurm")
FINISHED = ("COMPLETE", "PRUNED")


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


# ------------------------------------------------------------------------------------ study


def _quiet_optuna():
    """Optuna's INFO lines ("Trial 3 finished ...") off: the library reports through
    neurobias.progress only. Returns the verbosity to restore."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return before


def _storage(out: Path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(out / JOURNAL)))


def _repair_journal(path: Path) -> bool:
    """Cut a half-written last line (a writer killed mid-write) off the journal.

    Done under the journal's own lock, which every writer holds while appending, so an
    unfinished line found then belongs to a dead writer. Returns whether a line was cut.
    """
    from optuna.storages.journal import JournalFileSymlinkLock

    if not path.is_file() or path.stat().st_size == 0:
        return False
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        with open(path, "rb+") as f:
            data = f.read()
            if data.endswith(b"\n"):
                return False
            f.truncate(data.rfind(b"\n") + 1)
            return True
    finally:
        lock.release()


def _pruner(name: str, startup: int):
    import optuna

    if name == "median":
        # a trial is stopped when its value at an evaluation is worse than the median of the
        # completed trials' values at that step, once ``startup`` trials have completed
        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=0)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def _sampler(seed: int, n_asked: int, startup: int):
    """A TPE sampler for the next trial, seeded by the study's seed and the trials asked so far.

    A fixed seed alone would repeat the first random proposals each time a study is resumed;
    counting the trials makes every proposal new and a one-worker study reproducible.
    """
    import optuna

    return optuna.samplers.TPESampler(seed=(seed * 1_000_003 + n_asked) % 2**32,
                                      n_startup_trials=startup, constant_liar=True)


def _open_study(out: Path, settings: Mapping[str, Any] | None = None):
    """The study in ``out`` (created when ``settings`` are given and it is new).

    Raises:
        ConfigError: the journal is damaged (a line in its middle does not read).
    """
    import optuna

    try:
        if settings is None:
            return optuna.load_study(study_name=STUDY_NAME, storage=_storage(out))
        return optuna.create_study(
            storage=_storage(out), study_name=STUDY_NAME, direction=settings["direction"],
            load_if_exists=True,
            sampler=_sampler(settings["sampler_seed"], 0, settings["startup"]),
            pruner=_pruner(settings["pruner"], settings["startup"]))
    except ValueError as err:  # json.JSONDecodeError, or optuna's "Invalid log format."
        raise ConfigError(f"{str(out / JOURNAL)!r} is damaged ({err}): the study cannot be "
                          "read") from None


def _counts(trials) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials:
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def default_startup(trials: int) -> int:
    """Random trials before TPE models the results (and completed trials before pruning):
    a third of the budget, between 2 and 10 (Optuna's own default is 10)."""
    return max(2, min(10, trials // 3))


def trial_dirs(out: Path, number: int, seeds: Sequence[int]) -> list[Path]:
    """Run folders of trial ``number``: trials/NNNN, or trials/NNNN_seedS for several seeds."""
    if len(seeds) == 1:
        return [out / "trials" / f"{number:04d}"]
    return [out / "trials" / f"{number:04d}_seed{s}" for s in seeds]


# ------------------------------------------------------------------------------------ worker


def _worker(out: str, settings: dict[str, Any], threads: int) -> int:
    """Run trials against the study in ``out`` until ``settings["trials"]`` have finished.

    The function each local process or SLURM job runs. Returns the trials it ran.
    """
    import optuna
    import torch
    from optuna.storages.journal import JournalFileOpenLock

    torch.set_num_threads(max(1, threads))
    _quiet_optuna()
    out_path = Path(out)
    space = parse_space(settings["space"])
    study = _open_study(out_path, settings)
    lock = JournalFileOpenLock(str(out_path / "ask"))
    me = f"{socket.gethostname()}:{os.getpid()}"
    try:
        from submitit import JobEnvironment

        job_id = JobEnvironment().job_id
    except RuntimeError:  # not inside a submitit job
        job_id = None
    n_run = 0
    while True:
        lock.acquire()
        try:
            trials = study.get_trials(deepcopy=False)
            counts = _counts(trials)
            done = sum(counts.get(s, 0) for s in FINISHED)
            if done + counts.get("RUNNING", 0) >= settings["trials"]:
                break
            errors = sum(1 for t in trials if t.state.name == "FAIL"
                         and t.user_attrs.get("failure") == "error")
            if errors >= max(3, settings["trials"]):
                raise RuntimeError(f"{errors} trials failed with an error: stopped (their "
                                   f"errors are in {out_path / 'trials.csv'})")
            study.sampler = _sampler(settings["sampler_seed"], len(trials), settings["startup"])
            trial = study.ask()
            trial.set_user_attr("worker", me)
            if job_id is not None:
                trial.set_user_attr("job_id", str(job_id))
        finally:
            lock.release()
        n_run += 1
        try:
            value = _run_trial(trial, out_path, space, settings)
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


def _run_trial(trial, out: Path, space: Mapping[str, Param], settings) -> float:
    """Train one trial's runs (one per seed); the metric's mean over seeds."""
    import optuna

    from .run import train_run
    from .train import load_checkpoint

    params = {key: p.suggest(trial) for key, p in space.items()}
    overrides = [f"{key}={_toml(value)}" for key, value in params.items()]
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


# ------------------------------------------------------------------------------------ driver


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user: not our worker
        return False
    return pid > 0


def _reap(study, out: Path) -> list[int]:
    """Mark trials left RUNNING by a dead worker failed and ask their parameters again.

    A worker on this machine is dead when its process is gone; one on another machine when its
    SLURM job is no longer pending or running. Returns the numbers of the trials reaped.
    """
    from optuna.trial import TrialState

    reaped = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        if worker is not None:
            host, _, pid = worker.rpartition(":")
            if host == socket.gethostname():
                alive = _process_alive(int(pid))
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
    verbosity = _quiet_optuna()
    import optuna

    try:
        _repair_journal(out / JOURNAL)
        study = _open_study(out, settings)
        result = TuneResult(out, retried=_reap(study, out))
        counts = _counts(study.get_trials(deepcopy=False))
        left = trials - sum(counts.get(s, 0) for s in FINISHED)
        if left > 0 and executor == "local":
            _run_local(out, settings, study, result, left, jobs, threads, progress, poll_s)
        elif left > 0:
            _submit_slurm(out, settings, manifest, result, left, jobs, threads, dict(slurm or {}))
        write_json_atomic(manifest, manifest_path)
        all_trials = study.get_trials(deepcopy=False)
        result.counts = _counts(all_trials)
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
    from .run import build
    from .seeding import generator

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
    try:
        for _ in range(jobs):
            with _stderr_into(controller_log):
                workers.append(ex.submit(_worker, str(out), settings, threads))
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
        for w in workers:
            w.cancel(check=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(w.done() for w in workers):
            time.sleep(0.05)
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
        submitted = [ex.submit(_worker, str(out), settings, threads) for _ in range(n_jobs)]
    for job in submitted:
        manifest["jobs"].append({"job_id": job.job_id, "threads": threads,
                                 "submitted": time.strftime("%Y-%m-%dT%H:%M:%S")})
        result.submitted.append(str(job.job_id))


# ------------------------------------------------------------------------------------ report


def tune_report(out: str | Path) -> tuple[dict[str, Any], str]:
    """Write a study's report: tune_report.json, trials.csv and figures/{history,importances}.png.

    Returns:
        (report dict, text: the counts, the best trial and its settings as TOML).

    Raises:
        ConfigError: ``out`` is not a study folder.
    """
    from .tune_report import write_report

    out = Path(out)
    if not (out / MANIFEST).is_file() or not (out / JOURNAL).is_file():
        raise ConfigError(f"{str(out)!r} is not a study folder: it has no {MANIFEST} and "
                          f"{JOURNAL} (written by `neurobias tune`)")
    manifest = json.loads((out / MANIFEST).read_text())
    verbosity = _quiet_optuna()
    import optuna

    try:
        return write_report(out, _open_study(out), manifest)
    finally:
        optuna.logging.set_verbosity(verbosity)
