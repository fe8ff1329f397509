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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `neurobias` console script; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already reported in one line
        return int(exit_.code or 0)
    logging.basicConfig(level=logging.WARNING, format="neurobias: %(message)s")
    try:
        return {"train": _train, "plot": _plot}[args.command](args)
    except (ConfigError, CheckpointError) as err:
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
