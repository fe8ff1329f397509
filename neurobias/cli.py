"""`neurobias ...`: a thin command-line layer over the library.

Every user error (bad config, bad value, missing file) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import warnings
from pathlib import Path

from . import __version__
from .config import ConfigError, load_config
from .io import RecordingError, RunFileError
from .train import CheckpointError

EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process it terminated
PROGRESS_HELP = ("progress on stderr: a bar on a terminal, else one plain line every few "
                 "percent (a job's log); default: on unless stderr is /dev/null")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="neurobias", description="Rate circuits that learn their tonic inputs.")
    p.add_argument("--version", action="version", version=f"neurobias {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train the experiment a TOML spec describes")
    t.add_argument("config", help="experiment spec, e.g. tasks/sine.toml")
    t.add_argument("--out", required=True, help="run folder to write")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set train.steps=100 (repeatable)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--force", action="store_true", help="start over if --out holds a run")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override train.device")
    t.add_argument("--threads", type=int, help="torch threads (default: torch's, the cores); "
                   "fewer run faster on a busy machine")
    t.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help=PROGRESS_HELP)

    f = sub.add_parser("plot", help="draw a run's figures into RUN_DIR/figures")
    f.add_argument("run_dir", help="a folder written by `neurobias train`")

    e = sub.add_parser("export", help="write a run and its activity to an HDF5 or NWB file")
    e.add_argument("run_dir", help="a folder written by `neurobias train`")
    e.add_argument("-o", "--output", help="file to write (default RUN_DIR/run.h5, or run.nwb "
                   "with --format nwb)")
    e.add_argument("--format", choices=["hdf5", "nwb"],
                   help="file format (default: from the extension of -o: .nwb is NWB, "
                   "anything else the neurobias HDF5 run file)")
    e.add_argument("--trials", type=int, default=256, help="test trials to simulate (256)")
    e.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                   help="activity precision")
    e.add_argument("--compression", choices=["gzip", "lzf", "none"], default="gzip")
    e.add_argument("--no-activity", action="store_true", help="leave out /activity/rates")
    e.add_argument("--states", action="store_true", help="also store /activity/states (x)")
    e.add_argument("--force", action="store_true", help="overwrite an existing file")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    e.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help=PROGRESS_HELP)

    a = sub.add_parser("analyze", help="analyse a run: task variance, clusters, fixed points; "
                       "results into RUN_DIR/run.h5 (/analysis), figures into RUN_DIR/figures")
    a.add_argument("run_dir", help="a folder written by `neurobias train`")
    a.add_argument("--trials", type=int, default=256,
                   help="test trials to export if RUN_DIR/run.h5 does not exist yet (256)")
    a.add_argument("--starts", type=int, default=64,
                   help="starting states per context for the fixed-point search (64)")
    a.add_argument("--shuffles", type=int, default=1000,
                   help="size of the shuffled-unit null (1000)")
    a.add_argument("--no-lesions", action="store_true", help="skip the cluster lesions")
    a.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help=PROGRESS_HELP)

    c = sub.add_parser("compare", help="compare the activity of two runs or recordings, "
                       "matched on conditions and time: a table and a figure")
    c.add_argument("a", help="a run folder, a run file (.h5), an NWB file or a recording")
    c.add_argument("b", help="the same kinds as A")
    c.add_argument("--figure", default="compare.png", help="figure to write (compare.png)")
    c.add_argument("--dt-ms", type=float, help="time step to bin recordings at (default: "
                   "that of a run among A and B)")
    c.add_argument("--context", help="trial column naming the conditions (default: task for "
                   "NeuroGym runs, context_name for NWB exports)")
    c.add_argument("--source", default="auto", help="NWB source: auto, units or "
                   "timeseries:NAME")
    c.add_argument("--components", type=int, default=10,
                   help="principal components per side for the mean CCA (10)")
    c.add_argument("--json", help="also write the measures to this JSON file")

    i = sub.add_parser("info", help="summarise an HDF5 run file")
    i.add_argument("file", help="a run.h5 written by `neurobias export`")

    s = sub.add_parser("sweep", help="train a grid of runs (settings x seeds)")
    s.add_argument("config", help="experiment spec, e.g. tasks/sine.toml")
    s.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a setting and its values, e.g. circuit.n_units=128,256 (repeatable)")
    s.add_argument("--seeds", type=int, default=1, help="seeds per grid point (1)")
    s.add_argument("--out", required=True, help="sweep folder")
    s.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting of every run")
    s.add_argument("--executor", choices=["local", "slurm"], default="local")
    s.add_argument("--jobs", type=int, help="local: runs at once (default: cores / "
                   "threads); slurm: array parallelism")
    s.add_argument("--threads", type=int, help="torch threads per run (local default: cores "
                   "/ jobs; jobs x threads may not exceed the cores; slurm default: "
                   "--slurm-cpus)")
    _slurm_options(s, "per run (one job each)")
    s.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help=PROGRESS_HELP)

    r = sub.add_parser("sweep-report", help="gather a sweep's runs into a table and a figure")
    r.add_argument("sweep_dir", help="a folder written by `neurobias sweep`")
    r.add_argument("--metric", help="metric to summarise and plot (accuracy_mean or r2)")
    r.add_argument("--x", help="grid key on the x axis (the first grid key)")
    r.add_argument("--by", help="grid key that splits the lines (the second grid key)")

    u = sub.add_parser("tune", help="search settings with Optuna (TPE, pruning), resumably")
    u.add_argument("config", help="experiment spec, e.g. tasks/multitask.toml")
    u.add_argument("--space", action="append", default=[], metavar="KEY=LO:HI[:log|:int]",
                   help="a setting to search: KEY=LO:HI (uniform), KEY=LO:HI:log, KEY=LO:HI:int "
                   "or KEY=A,B,C (repeatable)")
    u.add_argument("--trials", type=int, required=True,
                   help="trials to finish (completed or pruned), over every call")
    u.add_argument("--metric", help="summary.json metric to optimise, mean over seeds "
                   "(default: accuracy_mean or r2)")
    u.add_argument("--minimize", action="store_true", help="minimise the metric (default: "
                   "maximise)")
    u.add_argument("--seeds", type=int, default=1, help="runs (seeds) per trial (1)")
    u.add_argument("--pruner", choices=["median", "halving", "none"], default="median",
                   help="stop poor trials early from their evaluations during training "
                   "(median)")
    u.add_argument("--sampler-seed", type=int, default=0, help="seed of the TPE sampler (0)")
    u.add_argument("--startup", type=int, help="random trials before TPE (default: a third "
                   "of --trials, 2 to 10)")
    u.add_argument("--out", required=True, help="study folder; the same folder resumes it")
    u.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting of every trial")
    u.add_argument("--executor", choices=["local", "slurm"], default="local")
    u.add_argument("--jobs", type=int, help="workers at once (local default: cores / threads; "
                   "slurm default: min(trials, 4) jobs)")
    u.add_argument("--threads", type=int, help="torch threads per worker (as in sweep)")
    _slurm_options(u, "per worker job; a job runs trials until the study is done")
    u.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help=PROGRESS_HELP)

    v = sub.add_parser("tune-report", help="rewrite a study's report, table and figures")
    v.add_argument("tune_dir", help="a folder written by `neurobias tune`")
    return p


def _slurm_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--slurm-partition", help="SLURM partition")
    p.add_argument("--slurm-time", default="60", help=f"time limit {what}: minutes or "
                   "[D-]HH:MM:SS (60)")
    p.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per job (0)")
    p.add_argument("--slurm-cpus", type=int, default=2, help="CPUs per job (2)")
    p.add_argument("--slurm-mem-gb", type=float, help="memory per job (GB)")
    p.add_argument("--slurm-setup", action="append", default=[], metavar="LINE",
                   help="a shell line run before each job, e.g. 'source ~/venv/bin/activate'")


def _check_device(device: str | None, setting: str) -> None:
    """Refuse a CUDA device on a machine without one before anything is written."""
    from .train import resolve_device

    try:
        resolve_device(device)
    except ValueError:
        raise ConfigError(f"{setting}={device!r} is invalid: no CUDA device is available on this "
                          "machine: use cpu or auto") from None


def _check_folder(path: str, option: str) -> None:
    if Path(path).exists() and not Path(path).is_dir():
        raise ConfigError(f"{option} {path!r} is a file: give a folder (it is created if "
                          "missing)")


def _train(args) -> int:
    from .run import train_run

    _check_folder(args.out, "--out")
    config = load_config(args.config, args.overrides)
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads={args.threads} is invalid: must be an integer >= 1")
        import torch

        torch.set_num_threads(args.threads)
    if args.device is not None:
        _check_device(args.device, "--device")
    else:
        _check_device(config.train.device, "train.device")
    run = train_run(config, args.out, resume=args.resume, force=args.force,
                    progress=args.progress, device=args.device)
    print(json.dumps(run.summary, sort_keys=True))
    return EXIT_DIVERGED if run.history.diverged else 0


def _plot(args) -> int:
    from . import plot
    from .run import load_run

    run = load_run(args.run_dir)
    paths = plot.run_figures(run, Path(args.run_dir) / "figures")
    for path in paths:
        print(path)
    return 0


def _export(args) -> int:
    from .io import export

    if args.trials < 1:
        raise ConfigError(f"--trials={args.trials} is invalid: must be an integer >= 1")
    _check_device(args.device, "--device")
    fmt = args.format or ("nwb" if args.output and Path(args.output).suffix.lower() == ".nwb"
                          else "hdf5")
    out = Path(args.output) if args.output else Path(args.run_dir) / (
        "run.nwb" if fmt == "nwb" else "run.h5")
    args.out_path, args.out_existed = out, out.exists()
    if fmt == "nwb":
        from .io import export_nwb as export
        if args.no_activity:
            raise ConfigError("--no-activity is invalid with --format nwb: an NWB export is "
                              "the circuit's activity (export to .h5 to leave it out)")
    path = export(args.run_dir, out, n_trials=args.trials, dtype=args.dtype,
                  activity=not args.no_activity, states=args.states,
                  compression=args.compression, force=args.force,
                  progress=args.progress, device=args.device)
    print(path)
    return 0


def _analyze(args) -> int:
    from .analyze import analyze_run, write_analysis
    from .plot import analysis_figures
    from .run import load_run

    for name, value in (("--trials", args.trials), ("--starts", args.starts)):
        if value < 1:
            raise ConfigError(f"{name}={value} is invalid: must be an integer >= 1")
    if args.shuffles < 0:
        raise ConfigError(f"--shuffles={args.shuffles} is invalid: must be an integer >= 0")
    run_dir = Path(args.run_dir)
    args.stage = "analysis"
    result = analyze_run(run_dir, n_trials=args.trials, fixed_point_starts=args.starts,
                         n_shuffles=args.shuffles, lesions=not args.no_lesions,
                         progress=args.progress)
    print(write_analysis(result, run_dir / "run.h5"))
    args.stage = "figures"
    if hasattr(result, "psth_recorded"):  # a circuit fitted to a recording
        from .plot.fitting import fit_figures

        print(result.summary_text())
        for path in fit_figures(result, run_dir / "figures"):
            print(path)
        args.stage = "done"
        return 0
    print(_analysis_summary(result))
    run = load_run(run_dir)
    # NeuroGym trials open with a fixation period: the fixed points are found under its input
    label = ("fixation-period input (each trial's first step)"
             if run.config.env.kind == "neurogym" else None)
    for path in analysis_figures(result, run.net, run_dir / "figures", input_label=label):
        print(path)
    args.stage = "done"
    return 0


def _analysis_summary(r) -> str:
    lines = []
    if r.clustering is not None:
        c = r.clustering
        lines.append(f"clusters: k={c.n_clusters_}, silhouette {c.silhouette_:.3f}, "
                     f"{int(c.kept_.sum())} of {len(c.kept_)} units clustered; preferred task "
                     "per cluster: " + ", ".join(r.tasks[p] for p in c.preferred_))
    if r.bias_variance is not None:
        bv = r.bias_variance
        lines.append("bias-variance Spearman rho per task: " + ", ".join(
            f"{t} {v:+.2f}" for t, v in zip(r.tasks, bv.rho_context, strict=True)))
        if len(bv.rho_cluster) and len(r.tasks) < 3:
            lines.append("mean per-unit rho per cluster: not defined with "
                         f"{len(r.tasks)} tasks (a unit's rho is taken over tasks: needs >= 3)")
        elif len(bv.rho_cluster):
            lines.append("mean per-unit rho per cluster (shuffle p): " + ", ".join(
                f"{k}: {v:+.2f} ({p:.3f})" for k, (v, p) in
                enumerate(zip(bv.rho_cluster, bv.p_shuffle_cluster, strict=True))))
    if r.lesions is not None:
        worst = r.lesions.change.min(1) if len(r.lesions.change) else []
        lines.append("largest accuracy drop per cluster lesion: " + ", ".join(
            f"{k}: {v:+.2f}" for k, v in enumerate(worst)))
    lines.append("fixed points (stable/all) and slow points per task: " + ", ".join(
        f"{t} {int((fp.stable & ~fp.slow).sum())}/{int((~fp.slow).sum())} + "
        f"{int(fp.slow.sum())} slow" for t, fp in r.fixed_points.items()))
    lines.append(f"participation ratio (all tasks): {r.pca_all.participation_ratio:.2f}")
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)


def _compare(args) -> int:
    from .compare import compare
    from .plot.compare import save_comparison

    if args.components < 1:
        raise ConfigError(f"--components={args.components} is invalid: must be an integer >= 1")
    if args.dt_ms is not None and not args.dt_ms > 0:
        raise ConfigError(f"--dt-ms={args.dt_ms} is invalid: must be a number > 0")
    comp = compare(args.a, args.b, dt_ms=args.dt_ms, context=args.context, source=args.source,
                   n_components=args.components)
    print(comp.table())
    if args.json:
        Path(args.json).write_text(json.dumps(comp.similarity.as_dict(), indent=1) + "\n")
        print(args.json)
    print(save_comparison(comp, args.figure))
    return 0


def _info(args) -> int:
    from .io import info

    path = Path(args.file)
    if path.is_dir():
        h5 = path / "run.h5"
        if h5.is_file():
            raise ConfigError(f"{args.file!r} is a run folder, not a run file: use "
                              f"`neurobias info {h5}`")
        raise ConfigError(f"{args.file!r} is a folder without run.h5: give a run file, or "
                          f"write one with `neurobias export {args.file}`")
    print(info(path))
    return 0


def _sweep(args) -> int:
    from .config import load_spec
    from .sweep import parse_grid, parse_time_min, sweep

    _check_folder(args.out, "--out")
    spec = load_spec(args.config, args.overrides)
    grid = parse_grid(args.grid)
    if args.executor == "local":  # runs here: this machine must have the device they ask for
        for device in [spec.get("train", {}).get("device")] + grid.get("train.device", []):
            if device is not None:
                _check_device(str(device), "train.device")
    slurm = {"partition": args.slurm_partition, "time_min": parse_time_min(args.slurm_time),
             "gpus": args.slurm_gpus, "cpus": args.slurm_cpus, "mem_gb": args.slurm_mem_gb,
             "setup": args.slurm_setup}
    result = sweep(spec, grid, args.out, seeds=args.seeds, executor=args.executor,
                   jobs=args.jobs, threads=args.threads, slurm=slurm,
                   progress=args.progress)
    states = list(result.runs.values())
    counts = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
    print(f"{len(states)} runs in {result.path}: {counts} "
          f"({len(result.submitted)} submitted now, {len(result.skipped)} already finished)")
    for name, error in result.errors.items():
        print(f"failed: {name}: {error}", file=sys.stderr)
    return 1 if result.errors else 0


def _sweep_report(args) -> int:
    from .sweep import sweep_report

    _, text, figure = sweep_report(args.sweep_dir, metric=args.metric, x=args.x, by=args.by)
    print(text)
    print(Path(args.sweep_dir) / "report.csv")
    if figure:
        print(figure)
    return 0


def _tune(args) -> int:
    from .config import load_spec
    from .sweep import parse_time_min
    from .tune import parse_space, tune

    _check_folder(args.out, "--out")
    spec = load_spec(args.config, args.overrides)
    space = parse_space(args.space)
    if args.executor == "local":  # runs here: this machine must have the device they ask for
        device = spec.get("train", {}).get("device")
        devices = [device] + list(getattr(space.get("train.device"), "choices", ()))
        for device in devices:
            if device is not None:
                _check_device(str(device), "train.device")
    slurm = {"partition": args.slurm_partition, "time_min": parse_time_min(args.slurm_time),
             "gpus": args.slurm_gpus, "cpus": args.slurm_cpus, "mem_gb": args.slurm_mem_gb,
             "setup": args.slurm_setup}
    result = tune(spec, space, args.out, trials=args.trials, metric=args.metric,
                  direction="minimize" if args.minimize else "maximize", seeds=args.seeds,
                  pruner=args.pruner, sampler_seed=args.sampler_seed, startup=args.startup,
                  executor=args.executor, jobs=args.jobs, threads=args.threads, slurm=slurm,
                  progress=args.progress)
    if result.retried:
        print("retried (their workers had stopped): trials "
              + ", ".join(str(n) for n in result.retried))
    if args.executor == "slurm":
        print(f"submitted {len(result.submitted)} worker jobs to {result.path}: "
              + (", ".join(result.submitted) or "none needed")
              + f"; then `neurobias tune-report {result.path}`")
    if result.report is not None:
        from .tune.report import report_text

        print(report_text(result.report, args.seeds))
        print(Path(args.out) / "tune_report.json")
    for number, error in sorted(result.errors.items()):
        where = f"trial {number}" if number >= 0 else "a worker"
        print(f"failed: {where}: {error}", file=sys.stderr)
    done = sum(result.counts.get(s, 0) for s in ("COMPLETE", "PRUNED"))
    return 1 if args.executor == "local" and done < args.trials else 0


def _tune_report(args) -> int:
    from .tune import tune_report

    _, text = tune_report(args.tune_dir)
    print(text)
    print(Path(args.tune_dir) / "tune_report.json")
    return 0


_PACKAGE_DIR = Path(__file__).resolve().parent
_default_formatwarning = warnings.formatwarning


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """The package's own warnings as one line, ``neurobias: warning: ...``; others as Python
    shows them (file, line and source)."""
    try:
        ours = Path(filename).resolve().is_relative_to(_PACKAGE_DIR)
    except (OSError, ValueError):
        ours = False
    if ours:
        return f"neurobias: warning: {message}\n"
    return _default_formatwarning(message, category, filename, lineno, line)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `neurobias` console script; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already reported in one line
        return int(exit_.code or 0)
    logging.basicConfig(level=logging.WARNING, format="neurobias: %(message)s")
    if args.command in ("plot", "analyze", "compare", "sweep-report", "tune", "tune-report"):
        import matplotlib

        matplotlib.use("Agg")  # figures go to files; no display is needed or used
    previous = _stop_on_sigterm()
    warnings.formatwarning = _format_warning
    try:
        commands = {"train": _train, "plot": _plot, "export": _export, "info": _info,
                    "analyze": _analyze, "compare": _compare,
                    "sweep": _sweep, "sweep-report": _sweep_report,
                    "tune": _tune, "tune-report": _tune_report}
        return commands[args.command](args)
    except (ConfigError, CheckpointError, RunFileError, RecordingError) as err:
        sys.stderr.write(f"neurobias: error: {err}\n")
        return EXIT_USAGE
    except FileNotFoundError as err:
        sys.stderr.write(f"neurobias: error: {err.filename or err}: no such file\n")
        return EXIT_USAGE
    except (FileExistsError, NotADirectoryError) as err:  # a file where a folder must be
        sys.stderr.write(f"neurobias: error: cannot make the folder {err.filename or err}: a "
                         "file stands in its path\n")
        return EXIT_USAGE
    except (IsADirectoryError, PermissionError) as err:
        where = f"{err.filename}: " if err.filename else ""
        sys.stderr.write(f"neurobias: error: {where}{(err.strerror or str(err)).lower()}\n")
        return EXIT_USAGE
    except KeyboardInterrupt as err:
        said = _interrupted(args, err)
        if isinstance(err, Terminated):
            said = said.replace(" interrupted", " terminated (SIGTERM)", 1)
            sys.stderr.write(f"neurobias: {said}\n")
            return EXIT_TERMINATED
        sys.stderr.write(f"neurobias: {said}\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of stdout went away (`neurobias info f | head`)
        sys.stderr.close()  # nothing more can be said; Python must not report the pipe either
        return 0
    finally:
        warnings.formatwarning = _default_formatwarning
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler's time limit, a closed session) while a command ran:
    handled like Ctrl-C, so that files are left whole and a sweep stops the runs it started."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _stop_on_sigterm():
    """Turn SIGTERM into ``Terminated`` while a command runs (in the main thread, where the
    default handler is set); returns the handler to restore, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        return None
    signal.signal(signal.SIGTERM, _raise_terminated)
    return previous


def _interrupted(args, err: KeyboardInterrupt) -> str:
    """What Ctrl-C left behind, in the words of the command it stopped."""
    from .io.hdf5 import ExportInterrupted

    if args.command == "train":
        if (Path(args.out) / "checkpoint.pt").exists():
            return (f"train interrupted: the last checkpoint in {args.out!r} is kept; continue "
                    "with --resume")
        return "train interrupted before its first checkpoint: start again with --force"
    if args.command == "export":
        if isinstance(err, ExportInterrupted):
            return str(err)
        out = getattr(args, "out_path", None)
        if out is not None and out.exists() and not args.out_existed:  # after the rename
            return f"export interrupted after {str(out)!r} was written completely"
        return "export interrupted: no file written"
    if args.command == "analyze":
        stage = getattr(args, "stage", "analysis")
        if stage == "analysis":
            return ("analyze interrupted: nothing written; /analysis in run.h5 and the figures "
                    "are as they were")
        return ("analyze interrupted while drawing the figures: the results are in run.h5 "
                "(/analysis); some figures may be missing or older: run analyze again")
    if args.command == "sweep":
        if args.executor == "slurm":
            return ("sweep interrupted: runs already submitted keep running on the cluster "
                    "(see manifest.json); the same command submits the rest")
        return ("sweep interrupted: the runs started here were stopped; finished runs and "
                "checkpoints are kept; the same command continues the sweep")
    if args.command == "tune":
        if args.executor == "slurm":
            return ("tune interrupted: worker jobs already submitted keep running on the "
                    "cluster; the same command submits the rest")
        return ("tune interrupted: finished trials are kept in the study's journal; the same "
                "command resumes it (trials that were running are asked again)")
    return f"{args.command} interrupted"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
