"""Sweeps: a grid of runs (settings x seeds) on this machine or a SLURM cluster, via submitit.

Every grid point and seed is a normal run folder under ``SWEEP_DIR/runs/``; a manifest
(``SWEEP_DIR/manifest.json``, written atomically) records the spec, the grid, the seeds, a hash
of them, and each run's job id and state. Running the same sweep again skips finished runs
(those with a ``summary.json``) and re-submits the others, which continue from their last
checkpoint. Jobs are submitted with submitit: its ``LocalExecutor`` runs them as processes here,
its ``SlurmExecutor`` writes and submits sbatch scripts.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import os
import socket
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._atomic import atomic_path, save_figure_atomic, write_json_atomic
from ._proc import kill_tree, process_alive
from .config import ConfigError, apply_overrides, config_from_dict, parse_value
from .progress import Progress

__all__ = ["sweep", "sweep_report", "parse_grid", "SweepResult", "slurm_executor", "MANIFEST"]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "neurobias-sweep/1"
EXECUTORS = ("local", "slurm")


# ------------------------------------------------------------------------------------ grid


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """Parse ``--grid KEY=V1,V2,...`` strings into {key: [values]} (TOML values, bare strings).

    Raises:
        ConfigError: a malformed item, an empty value list, or a key given twice.
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--grid {item!r} is invalid: expected KEY=V1,V2,..., e.g. "
                              "circuit.n_units=128,256")
        key, text = (part.strip() for part in item.split("=", 1))
        values = [parse_value(v.strip()) for v in text.split(",") if v.strip() != ""]
        if not values:
            raise ConfigError(f"--grid {key} has no values: give at least one, e.g. {key}=1,2")
        if key in grid:
            raise ConfigError(f"--grid {key} is given twice: list all its values in one --grid")
        if key in ("seed", "name"):
            raise ConfigError(f"--grid {key} is not allowed: use --seeds N for seeds; runs are "
                              "named by their grid values")
        grid[key] = values
    return grid


def _points(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    combos = itertools.product(*(grid[k] for k in keys))
    return [dict(zip(keys, combo, strict=True)) for combo in combos]


def _run_name(point: Mapping[str, Any], seed: int) -> str:
    parts = [f"{k}={v}" for k, v in point.items()] + [f"seed={seed}"]
    name = "__".join(parts)
    return "".join(c if c.isalnum() or c in "._=+-" else "_" for c in name)


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------ jobs


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask: a SLURM or cgroup allocation)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan_local(n_runs: int, jobs: int | None, threads: int | None,
               cores: int) -> tuple[int, int]:
    """Runs at once and torch threads per run for a local sweep, never more than ``cores``.

    Args:
        n_runs: runs left to do.
        jobs: runs at once asked for (None: as many as the cores allow).
        threads: torch threads per run asked for (None: the cores divided among the jobs).
        cores: cores available (``available_cores()``).

    Returns:
        (jobs, threads) with jobs * threads <= cores (jobs also <= n_runs, at least 1).

    Raises:
        ConfigError: jobs * threads asked for, or jobs or threads alone, exceed the cores.
    """
    if jobs is not None and threads is not None and jobs * threads > cores:
        raise ConfigError(f"--jobs {jobs} x --threads {threads} = {jobs * threads} threads "
                          f"on {cores} cores would oversubscribe them: make jobs x threads "
                          f"<= {cores}")
    if threads is not None and threads > cores:
        raise ConfigError(f"--threads={threads} is more than the {cores} cores available")
    if jobs is not None and jobs > cores:
        raise ConfigError(f"--jobs={jobs} is more than the {cores} cores available (each run "
                          f"takes at least one thread): make --jobs <= {cores}")
    if jobs is None:
        jobs = max(1, cores // (threads or 1))
    jobs = max(1, min(jobs, n_runs))
    if threads is None:
        threads = max(1, cores // jobs)
    return jobs, threads


def local_gpus() -> list[str]:
    """The CUDA devices this process may use, as CUDA_VISIBLE_DEVICES entries: that variable's
    entries when it is set (indices, or GPU-/MIG- UUIDs; like CUDA itself, everything from the
    first other entry on is dropped, so "-1" means none), else one index per device torch
    counts."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    out = []
    for entry in (v.strip() for v in visible.split(",")):
        if not (entry.isdigit() or entry.startswith(("GPU-", "MIG-"))):
            break
        out.append(entry)
    return out


def gpus_for(config: dict[str, Any], gpus: list[str]) -> list[str]:
    """The devices of ``gpus`` a run of ``config`` (a spec or config dict) may be handed: none
    when its ``train.device`` is "cpu"."""
    return [] if config.get("train", {}).get("device") == "cpu" else gpus


def least_busy(gpus: list[str], busy: list[str | None]) -> str | None:
    """The device of ``gpus`` running the fewest of the jobs in ``busy`` (the first on a tie);
    None when there are no devices."""
    if not gpus:
        return None
    return min(gpus, key=lambda g: (busy.count(g), gpus.index(g)))


def see_gpu(gpu: str | None) -> None:
    """In a job's process, before anything touches CUDA: make ``gpu`` (a CUDA_VISIBLE_DEVICES
    entry; "" for none) the only device it sees; None keeps what the job started with."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


def run_point(config: dict[str, Any], run_dir: str, threads: int,
              gpu: str | None = None) -> dict[str, Any]:
    """Train one grid point (the function each submitted job runs); returns its summary.

    ``gpu``: the CUDA device this run may see (a CUDA_VISIBLE_DEVICES entry; "" for none),
    set before anything touches CUDA; None keeps the variable the job started with (SLURM's).
    Local sweeps must set it: submitit's local executor starts every job with
    CUDA_VISIBLE_DEVICES empty, so a local run would otherwise train on the CPU beside an idle
    GPU.
    """
    see_gpu(gpu)
    import torch

    from .run import train_run

    torch.set_num_threads(max(1, threads))
    lock = Path(run_dir) / "running.pid"
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    me = take_lock(lock)
    try:
        resume = (Path(run_dir) / "checkpoint.pt").exists()
        # progress lines go to the job's own log (submitit's or SLURM's stderr file)
        run = train_run(config_from_dict(config), run_dir, resume=resume, force=not resume,
                        progress=None)
        return run.summary
    finally:
        try:
            if lock.read_text().strip() == me:
                lock.unlink()
        except OSError:
            pass


class RunLocked(RuntimeError):
    """A run is already being trained by a live process on this machine."""


def take_lock(lock: Path) -> str:
    """Mark the run folder of ``lock`` as trained by this process ("host:pid", returned).

    Refuses (RunLocked) while another live process on this machine holds the lock: two
    processes training one run would overwrite each other's checkpoints. A lock whose process
    is gone (killed, machine restarted) is taken over. Locks from other hosts cannot be checked
    here and are taken over too; on a cluster, SLURM's job states keep runs apart.
    """
    me = f"{socket.gethostname()}:{os.getpid()}"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            holder = lock.read_text().strip()
        except OSError:
            holder = ""
        if holder != me and _running_here(lock):
            raise RunLocked(f"{str(lock.parent)!r} is already being trained by process "
                            f"{holder}: not started a second time") from None
        with atomic_path(lock) as tmp:
            Path(tmp).write_text(me)
        return me
    with os.fdopen(fd, "w") as f:
        f.write(me)
    return me


def _state_elsewhere(run_dir: Path) -> str | None:
    """"finished" (its summary.json exists), "running" (a live process on this machine holds
    its lock) or None: whether a run needs no job from this sweep. Checked when the sweep
    starts and again just before each queued run is started, since another sweep on the same
    folder may have started or finished it meanwhile."""
    if (run_dir / "summary.json").exists():
        return "finished"
    lock = run_dir / "running.pid"
    if lock.exists() and _running_here(lock):
        return "running"
    return None


def _running_here(lock: Path) -> bool:
    """Whether the run that wrote ``lock`` ("host:pid") is alive on this machine.

    A lock from another host, or an unreadable one, does not count: on a cluster, job states
    come from SLURM instead.
    """
    try:
        host, _, pid_text = lock.read_text().strip().rpartition(":")
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    if host != socket.gethostname():
        return False
    return process_alive(pid)


def stop_local_jobs(jobs) -> None:
    """Stop local submitit jobs after Ctrl-C or SIGTERM: cancel each (a SIGINT to its submitit
    process, which stops its run), wait up to 10 s, then SIGKILL every job still running with
    everything it started. A command started as a shell's background job ignores SIGINT, and so
    do the processes it starts: their cancel reaches nothing. Checkpoints are only ever
    replaced whole, so a killed run keeps its last one."""
    for job in jobs:
        job.cancel(check=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(job.done() for job in jobs):
        time.sleep(0.05)
    for job in jobs:
        process = getattr(job, "_process", None)
        if not job.done() and process is not None:
            kill_tree(process.pid)
            process.wait()


def slurm_executor(folder: Path, *, partition: str | None = None, time_min: int = 60,
                   gpus: int = 0, cpus: int | None = None, mem_gb: float | None = None,
                   jobs: int | None = None, setup: Sequence[str] = ()):
    """A submitit SlurmExecutor with the sweep's settings.

    ``SlurmExecutor`` refuses to start where ``srun`` is missing; the sbatch text it would submit
    can still be made with ``executor._make_submission_file_text`` (the tests do).
    """
    from submitit import SlurmExecutor

    ex = SlurmExecutor(folder=folder)
    params: dict[str, Any] = {"time": int(time_min), "job_name": "neurobias",
                              "cpus_per_task": cpus or 1, "setup": list(setup)}
    if partition:
        params["partition"] = partition
    if gpus:
        params["gpus_per_node"] = int(gpus)
    if mem_gb:
        params["mem"] = f"{int(math.ceil(mem_gb))}GB"
    if jobs:
        params["array_parallelism"] = int(jobs)
    ex.update_parameters(**params)
    return ex


def parse_time_min(text: str | int) -> int:
    """A SLURM time limit in whole minutes (rounded up).

    Accepts SLURM's formats: "minutes", "minutes:seconds", "hours:minutes:seconds",
    "days-hours", "days-hours:minutes" and "days-hours:minutes:seconds".
    """
    if isinstance(text, int) and not isinstance(text, bool):
        minutes = text
    else:
        try:
            day_part, sep, rest = str(text).strip().partition("-")
            if not sep:
                day_part, rest = "0", day_part
            days = int(day_part)
            parts = [int(p) for p in rest.split(":")]
            if any(p < 0 for p in parts) or days < 0 or not 1 <= len(parts) <= 3:
                raise ValueError
            if sep:  # days-hours[:minutes[:seconds]]
                h, m, sec = (parts + [0, 0])[:3]
            elif len(parts) == 3:  # hours:minutes:seconds
                h, m, sec = parts
            else:  # minutes[:seconds]
                h, m, sec = 0, parts[0], (parts[1] if len(parts) == 2 else 0)
            minutes = days * 1440 + h * 60 + m + (1 if sec else 0)
        except ValueError:
            raise ConfigError(f"--slurm-time={text!r} is invalid: use minutes (90), "
                              "HH:MM:SS or D-HH[:MM[:SS]]") from None
    if minutes < 1:
        raise ConfigError(f"--slurm-time={text!r} is invalid: must be at least one minute")
    return minutes


# ------------------------------------------------------------------------------------ sweep


@dataclass
class SweepResult:
    """What a sweep call did.

    Attributes:
        path: the sweep folder.
        runs: name -> state ("finished", "failed", "submitted", "running", "pending").
        submitted: names of the runs this call submitted.
        skipped: names of the runs already finished before this call.
        errors: name -> one-line error of failed runs.
    """

    path: Path
    runs: dict[str, str] = field(default_factory=dict)
    submitted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def sweep(spec: Mapping[str, Any], grid: Mapping[str, list[Any]], out: str | Path, *,
          seeds: int = 1, executor: str = "local", jobs: int | None = None,
          threads: int | None = None, slurm: Mapping[str, Any] | None = None,
          progress: bool | None = None, poll_s: float = 0.5) -> SweepResult:
    """Train every grid point for every seed; skip runs that already finished.

    Args:
        spec: the experiment spec as a nested dict (as read from a TOML file).
        grid: {"section.key": [values]}; every combination is a grid point.
        out: the sweep folder.
        seeds: seeds per grid point: spec seed, spec seed + 1, ...
        executor: "local" (processes here, waits for them) or "slurm" (submits and returns).
        jobs: local: runs at once (default: as many as the cores allow at ``threads`` each);
            slurm: the array's parallelism.
        threads: torch threads per run (local default: the cores divided among the jobs;
            slurm default: ``slurm["cpus"]``). Locally, jobs x threads may not exceed the
            cores (``available_cores()``).
        slurm: keyword arguments of ``slurm_executor`` (partition, time_min, gpus, cpus, mem_gb).
        progress: report the runs finished on stderr (``neurobias.progress``): a bar on a
            terminal or in Jupyter, else a plain line every 5% of the runs; False: nothing;
            None: auto. Each run reports its own training into its job's log.

    Raises:
        ConfigError: a grid key or value is invalid (checked for every point before anything
            is submitted), or ``out`` holds a sweep of another spec.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor={executor!r} is invalid: allowed: " + ", ".join(EXECUTORS))
    if not (isinstance(seeds, int) and seeds >= 1):
        raise ConfigError(f"--seeds={seeds!r} is invalid: must be an integer >= 1")
    if jobs is not None and not (isinstance(jobs, int) and jobs >= 1):
        raise ConfigError(f"--jobs={jobs!r} is invalid: must be an integer >= 1")
    if threads is not None and not (isinstance(threads, int) and threads >= 1):
        raise ConfigError(f"--threads={threads!r} is invalid: must be an integer >= 1")
    if executor == "local":  # before anything is written
        plan_local(1, jobs, threads, available_cores())
    if not grid:
        raise ConfigError("a sweep needs at least one --grid KEY=V1,V2,...")
    for key in grid:
        if key in ("seed", "name"):
            raise ConfigError(f"--grid {key} is not allowed: use --seeds N for seeds")
    out = Path(out)
    base_seed = int(spec.get("seed", 0))
    planned = []
    for point in _points(grid):
        for k in range(seeds):
            overrides = [f"{key}={_toml(v)}" for key, v in point.items()]
            overrides.append(f"seed={base_seed + k}")
            try:  # validates every point before anything is submitted
                cfg = config_from_dict(apply_overrides(spec, overrides))
            except ConfigError as err:
                raise ConfigError(str(err).replace("--set ", "--grid ")) from None
            name = _run_name(point, base_seed + k)
            planned.append({"name": name, "point": point, "seed": base_seed + k,
                            "config": json.loads(json.dumps(cfg.to_dict()))})
    # the spec and grid identify a sweep; the seed count may grow (runs of more seeds are added)
    digest = _hash({"spec": spec, "grid": grid})
    manifest_path = out / MANIFEST
    manifest: dict[str, Any] = {"format": MANIFEST_FORMAT, "spec": spec,
                                "grid": [[k, list(v)] for k, v in grid.items()],
                                "seeds": seeds, "spec_hash": digest, "executor": executor,
                                "runs": {}}
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        old_seeds = old.get("seeds", seeds)
        same = (old.get("spec_hash") == digest if "spec_hash" in old else  # older manifests
                old.get("config_hash") == _hash({"spec": spec, "grid": grid,
                                                 "seeds": old_seeds}))
        if not same:
            raise ConfigError(f"{str(out)!r} holds a sweep of another spec or grid: use a new "
                              "folder")
        if seeds < old_seeds:
            raise ConfigError(f"--seeds={seeds} is invalid: {str(out)!r} holds a sweep of "
                              f"{old_seeds} seeds; give --seeds {old_seeds} or more (more seeds "
                              "add runs)")
        manifest["runs"] = old.get("runs", {})
    out.mkdir(parents=True, exist_ok=True)
    result = SweepResult(out)
    todo = []
    for item in planned:
        run_dir = out / "runs" / item["name"]
        entry = manifest["runs"].setdefault(item["name"], {})
        entry.update({"point": item["point"], "seed": item["seed"],
                      "dir": str(run_dir.relative_to(out))})
        elsewhere = _state_elsewhere(run_dir)
        if elsewhere:
            entry["state"] = elsewhere
            if elsewhere == "finished":
                result.skipped.append(item["name"])
        elif executor == "slurm" and entry.get("state") in ("submitted", "running") and \
                _slurm_active(out, entry.get("job_id")):
            pass
        else:
            todo.append((item, run_dir))
    _save_runs(manifest, manifest_path, [item["name"] for item in planned])
    if executor == "local":
        _run_local(todo, manifest, manifest_path, result, jobs, threads, progress, poll_s)
    else:
        _submit_slurm(todo, manifest, manifest_path, result, jobs, threads, dict(slurm or {}))
    _save_runs(manifest, manifest_path, [])  # what every sweep on this folder has recorded
    result.runs = {name: e.get("state", "pending") for name, e in manifest["runs"].items()}
    return result


def _toml(value: Any) -> str:
    """A grid value as TOML text for an override (strings quoted, booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _slurm_active(out: Path, job_id: str | None) -> bool:
    if not job_id:
        return False
    try:
        from submitit import SlurmJob

        return SlurmJob(folder=out / "submitit", job_id=job_id).state in (
            "PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING")
    except Exception:  # noqa: BLE001 - no sacct here, or an unknown job: treat as not active
        return False


@contextmanager
def _manifest_locked(manifest_path: Path):
    """Hold an advisory lock (``SWEEP_DIR/.manifest.lock``) while the manifest is read and
    rewritten, so that two sweep commands on one folder never interleave a read and a write."""
    try:
        import fcntl
    except ImportError:  # no POSIX file locks here: writes are still atomic, not merged
        yield
        return
    with open(manifest_path.with_name(".manifest.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _save_runs(manifest: dict[str, Any], manifest_path: Path, names: Sequence[str]) -> None:
    """Write this sweep's entries ``names`` into the manifest file, keeping every other entry
    as the file has it.

    Another sweep command working on the same folder may have recorded other runs since this one
    read the file: their entries are kept, and this sweep's copy of them is refreshed from the
    file. The seed count kept is the larger of the two. Rewritten atomically, under the lock.
    """
    with _manifest_locked(manifest_path):
        try:
            on_disk = json.loads(manifest_path.read_text())
        except FileNotFoundError:
            on_disk = None
        if on_disk is None or on_disk.get("spec_hash") != manifest["spec_hash"]:
            on_disk = json.loads(json.dumps(manifest))
        else:
            for name in names:
                on_disk["runs"][name] = manifest["runs"][name]
            on_disk["seeds"] = max(int(on_disk.get("seeds", 0)), int(manifest["seeds"]))
        write_json_atomic(on_disk, manifest_path)
    mine = set(names)
    manifest["runs"].update({name: entry for name, entry in on_disk["runs"].items()
                             if name not in mine})


@contextmanager
def _stderr_into(path: Path):
    """Point file descriptor 2 at ``path`` while a job's controller process is started.

    submitit's local controller inherits stderr; when it is stopped (Ctrl-C reaches the whole
    process group) it prints a KeyboardInterrupt traceback. Started this way, that goes into
    the sweep's ``submitit/controllers.log`` instead of over the sweep's own message. Each run
    writes its own output into its job's log files as before.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real stderr (a notebook): nothing to do
        yield
        return
    try:
        with open(path, "ab") as log:
            os.dup2(log.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _run_local(todo, manifest, manifest_path, result, jobs, threads, progress,
               poll_s) -> None:
    from submitit import LocalExecutor

    jobs, threads = plan_local(len(todo), jobs, threads, available_cores())
    ex = LocalExecutor(folder=manifest_path.parent / "submitit")
    controller_log = manifest_path.parent / "submitit" / "controllers.log"
    controller_log.parent.mkdir(parents=True, exist_ok=True)
    ex.update_parameters(timeout_min=7 * 24 * 60)
    bar = Progress(len(todo), "sweep", "run", progress)
    gpus = local_gpus()  # the runs share this command's GPUs, each on the least busy one
    n_failed = 0
    queue = list(todo)
    active = []
    try:
        while queue or active:
            while queue and len(active) < jobs:
                item, run_dir = queue.pop(0)
                elsewhere = _state_elsewhere(run_dir)
                if elsewhere:  # finished or started by another sweep since this one began
                    manifest["runs"][item["name"]]["state"] = elsewhere
                    if elsewhere == "finished":
                        result.skipped.append(item["name"])
                    _save_runs(manifest, manifest_path, [item["name"]])
                    bar.update(1, last=f"{item['name']} ({elsewhere} elsewhere)")
                    continue
                gpu = least_busy(gpus_for(item["config"], gpus), [g for _, _, g in active])
                with _stderr_into(controller_log):
                    job = ex.submit(run_point, item["config"], str(run_dir), threads, gpu or "")
                entry = manifest["runs"][item["name"]]
                entry.update({"job_id": job.job_id, "state": "submitted", "threads": threads})
                if gpu is None:
                    entry.pop("gpu", None)
                else:
                    entry["gpu"] = gpu
                entry.pop("error", None)
                result.submitted.append(item["name"])
                active.append((item, job, gpu))
                _save_runs(manifest, manifest_path, [item["name"]])
            time.sleep(poll_s)
            still = []
            for item, job, gpu in active:
                if not job.done():
                    still.append((item, job, gpu))
                    continue
                entry = manifest["runs"][item["name"]]
                try:
                    job.result()
                    entry["state"] = "finished"
                except Exception as err:  # noqa: BLE001 - any failure of a run is recorded
                    entry["state"] = "failed"
                    entry["error"] = str(err).strip().splitlines()[-1][:300] if str(err) \
                        else type(err).__name__
                    result.errors[item["name"]] = entry["error"]
                _save_runs(manifest, manifest_path, [item["name"]])
                n_failed += entry["state"] == "failed"
                bar.update(1, failed=n_failed or None, last=item["name"])
            active = still
    except KeyboardInterrupt:
        stop_local_jobs([job for _, job, _ in active])
        raise
    finally:
        bar.close()


def _submit_slurm(todo, manifest, manifest_path, result, jobs, threads, slurm) -> None:
    if not todo:
        return
    ex = slurm_executor(manifest_path.parent / "submitit", jobs=jobs, **slurm)
    threads = threads or int(slurm.get("cpus") or 1)
    with ex.batch():
        pending = [(item, ex.submit(run_point, item["config"], str(run_dir), threads))
                   for item, run_dir in todo]
    for item, job in pending:
        manifest["runs"][item["name"]].update({"job_id": job.job_id, "state": "submitted",
                                               "threads": threads})
        manifest["runs"][item["name"]].pop("gpu", None)  # SLURM chooses the device
        result.submitted.append(item["name"])
    _save_runs(manifest, manifest_path, [item["name"] for item, _ in pending])


# ------------------------------------------------------------------------------------ report


def sweep_report(path: str | Path, *, metric: str | None = None, x: str | None = None,
                 by: str | None = None) -> tuple[list[dict[str, Any]], str, Path | None]:
    """Gather every finished run of a sweep into one table, a text summary and a figure.

    Writes ``SWEEP_DIR/report.csv`` (one row per run: grid values, seed, every metric) and
    ``SWEEP_DIR/report_<metric>.png`` (mean ± SD over seeds against grid key ``x``, one line per
    value of grid key ``by``; a point with one finished seed has no SD: the text says so and
    the figure rings it). Both files are written whole or not at all.

    Returns:
        (rows, text, figure path or None when there is no finished run).
    """
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ConfigError(f"{str(path)!r} is not a sweep folder: it has no {MANIFEST}")
    manifest = json.loads(manifest_path.read_text())
    keys = [key for key, _ in manifest["grid"]]
    rows = []
    for name, entry in sorted(manifest["runs"].items(),
                              key=lambda kv: [_order(kv[1]["point"].get(k)) for k in keys]
                              + [_order(kv[1]["seed"])]):
        summary_path = path / entry["dir"] / "summary.json"
        if not summary_path.exists():
            continue
        summary = json.loads(summary_path.read_text())
        rows.append({**entry["point"], "seed": entry["seed"], "run": name, **summary})
    metric_names = sorted({k for r in rows for k, v in r.items()
                           if k not in keys and k not in ("seed", "run")
                           and isinstance(v, (int, float)) and not isinstance(v, bool)})
    if metric is None:
        metric = next((m for m in ("accuracy_mean", "r2") if m in metric_names),
                      metric_names[0] if metric_names else None)
    if rows and metric not in metric_names:
        raise ConfigError(f"--metric {metric!r} is not in the summaries: allowed: "
                          + ", ".join(metric_names))
    for name, value in (("--x", x), ("--by", by)):
        if value is not None and value not in keys:
            raise ConfigError(f"{name} {value!r} is not a grid key: allowed: " + ", ".join(keys))
    x = x or keys[0]
    by = by if by is not None else next((k for k in keys if k != x), None)
    columns = keys + ["seed", "run"] + metric_names
    with atomic_path(path / "report.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(float(r[metric]))
    n_total = len(manifest["runs"])
    lines = [f"{len(rows)} of {n_total} runs finished; {metric}: mean ± SD over seeds"]
    def label_of(g):
        return ", ".join(f"{k}={v}" for k, v in zip(keys, g, strict=True))

    width = max([len(label_of(g)) for g in groups] or [0])
    for g, values in sorted(groups.items(), key=lambda kv: [_order(v) for v in kv[0]]):
        label = label_of(g)
        spread = (f"± {statistics.stdev(values):.4f}" if len(values) > 1
                  else "(one seed: no SD)")
        lines.append(f"  {label:<{width}}  {statistics.fmean(values):.4f} {spread}  "
                     f"(n={len(values)})")
    figure = _report_figure(path, rows, metric, x, by) if rows else None
    return rows, "\n".join(lines), figure


def _order(value: Any) -> tuple:
    """Sort key of a grid value: numbers by value (64 before 128), then anything else as text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


ONE_SEED_LABEL = "one seed (no SD)"


def ring_one_seed(ax, xs: list, ys: list, color) -> bool:
    """Ring the points (xs, ys) that have one seed, hence no SD, and name them once in the
    legend of ``ax``. Returns whether there was any."""
    if not xs:
        return False
    said = ONE_SEED_LABEL in ax.get_legend_handles_labels()[1]
    ax.plot(xs, ys, ls="none", marker="s", ms=11, mfc="none", mec=color,
            label=None if said else ONE_SEED_LABEL)
    return True


def _report_figure(path: Path, rows, metric: str, x: str, by: str | None) -> Path:
    from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is

    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.subplots()
    series: dict[Any, dict[Any, list[float]]] = {}
    for r in rows:
        series.setdefault(r[by] if by else None, {}).setdefault(r[x], []).append(float(r[metric]))
    numeric_x = all(isinstance(v, (int, float)) for s in series.values() for v in s)
    any_one = False
    for label, points in sorted(series.items(), key=lambda kv: _order(kv[0])):
        xs = sorted(points, key=_order)
        means = [statistics.fmean(points[v]) for v in xs]
        sds = [statistics.stdev(points[v]) if len(points[v]) > 1 else 0.0 for v in xs]
        positions = xs if numeric_x else list(range(len(xs)))
        bars = ax.errorbar(positions, means, yerr=sds, marker="o", capsize=3,
                           label=f"{by}={label}" if by else None)
        one = [(p, m) for p, m, v in zip(positions, means, xs, strict=True)
               if len(points[v]) == 1]
        any_one |= ring_one_seed(ax, [p for p, _ in one], [m for _, m in one],
                                 bars.lines[0].get_color())
        if not numeric_x:
            ax.set_xticks(positions, [str(v) for v in xs])
    if numeric_x and all(v > 0 for s in series.values() for v in s) and \
            max(v for s in series.values() for v in s) / min(v for s in series.values()
                                                            for v in s) >= 8:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(x)
    ax.set_ylabel(f"{metric} (mean ± SD over seeds)")
    if by or any_one:
        ax.legend(fontsize=8)
    out = path / f"report_{metric.replace('/', '_')}.png"
    save_figure_atomic(fig, out, dpi=120)
    return out
