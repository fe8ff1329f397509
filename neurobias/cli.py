"""`neurobias ...`: a thin command-line layer over the library.

Every user error (bad config, bad value, missing file) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .config import ConfigError, load_config
from .io import RunFileError
from .train import CheckpointError

EXIT_USAGE = 2
EXIT_DIVERGED = 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="neurobias", description="Rate circuits that learn their tonic inputs.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train the experiment a TOML spec describes")
    t.add_argument("config", help="experiment spec, e.g. tasks/sine.toml")
    t.add_argument("--out", required=True, help="run folder to write")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set train.steps=100 (repeatable)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--force", action="store_true", help="start over if --out holds a run")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override train.device")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    f = sub.add_parser("plot", help="draw a run's figures into RUN_DIR/figures")
    f.add_argument("run_dir", help="a folder written by `neurobias train`")

    e = sub.add_parser("export", help="write a run and its activity to an HDF5 file")
    e.add_argument("run_dir", help="a folder written by `neurobias train`")
    e.add_argument("-o", "--output", help="file to write (default RUN_DIR/run.h5)")
    e.add_argument("--trials", type=int, default=256, help="test trials to simulate (256)")
    e.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                   help="activity precision")
    e.add_argument("--compression", choices=["gzip", "lzf", "none"], default="gzip")
    e.add_argument("--no-activity", action="store_true", help="leave out /activity/rates")
    e.add_argument("--states", action="store_true", help="also store /activity/states (x)")
    e.add_argument("--force", action="store_true", help="overwrite an existing file")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")

    i = sub.add_parser("info", help="summarise an HDF5 run file")
    i.add_argument("file", help="a run.h5 written by `neurobias export`")
    return p


def _train(args) -> int:
    from .run import train_run

    config = load_config(args.config, args.overrides)
    run = train_run(config, args.out, resume=args.resume, force=args.force,
                    progress=False if args.no_progress else None, device=args.device)
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
    out = Path(args.output) if args.output else Path(args.run_dir) / "run.h5"
    path = export(args.run_dir, out, n_trials=args.trials, dtype=args.dtype,
                  activity=not args.no_activity, states=args.states,
                  compression=args.compression, force=args.force,
                  progress=False if args.no_progress else None, device=args.device)
    print(path)
    return 0


def _info(args) -> int:
    from .io import info

    print(info(args.file))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `neurobias` console script; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already reported in one line
        return int(exit_.code or 0)
    logging.basicConfig(level=logging.WARNING, format="neurobias: %(message)s")
    try:
        commands = {"train": _train, "plot": _plot, "export": _export, "info": _info}
        return commands[args.command](args)
    except (ConfigError, CheckpointError, RunFileError) as err:
        sys.stderr.write(f"neurobias: error: {err}\n")
        return EXIT_USAGE
    except FileNotFoundError as err:
        sys.stderr.write(f"neurobias: error: {err.filename or err}: no such file\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("neurobias: interrupted; the last checkpoint is kept (use --resume)\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
