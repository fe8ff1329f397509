"""A study's storage and search rules: the journal file, the TPE sampler, the pruner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import ConfigError

__all__ = ["MANIFEST", "MANIFEST_FORMAT", "JOURNAL", "STUDY_NAME", "PRUNERS", "FINISHED",
           "quiet_optuna", "storage", "repair_journal", "make_pruner", "make_sampler",
           "open_study", "count_states", "default_startup", "trial_dirs"]

MANIFEST = "tune.json"
MANIFEST_FORMAT = "neurobias-tune/1"
JOURNAL = "journal.log"
STUDY_NAME = "neurobias-tune"  # one study per folder: the same name every time
PRUNERS = ("median", "halving", "none")
FINISHED = ("COMPLETE", "PRUNED")  # the states --trials counts


def quiet_optuna():
    """Optuna's INFO lines ("Trial 3 finished ...") off: the library reports through
    neurobias.progress only. Returns the verbosity to restore."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return before


def storage(out: Path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(out / JOURNAL)))


def repair_journal(path: Path) -> bool:
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


def make_pruner(name: str, startup: int):
    import optuna

    if name == "median":
        # a trial is stopped when its value at an evaluation is worse than the median of the
        # completed trials' values at that step, once ``startup`` trials have completed
        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=0)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def make_sampler(seed: int, n_asked: int, startup: int):
    """A TPE sampler for the next trial, seeded by the study's seed and the trials asked so far.

    A fixed seed alone would repeat the first random proposals each time a study is resumed;
    counting the trials makes every proposal new and a one-worker study reproducible.
    """
    import optuna

    return optuna.samplers.TPESampler(seed=(seed * 1_000_003 + n_asked) % 2**32,
                                      n_startup_trials=startup, constant_liar=True)


def open_study(out: Path, settings: Mapping[str, Any] | None = None):
    """The study in ``out`` (created when ``settings`` are given and it is new).

    Raises:
        ConfigError: the journal is damaged (a line in its middle does not read).
    """
    import optuna

    try:
        if settings is None:
            return optuna.load_study(study_name=STUDY_NAME, storage=storage(out))
        return optuna.create_study(
            storage=storage(out), study_name=STUDY_NAME, direction=settings["direction"],
            load_if_exists=True,
            sampler=make_sampler(settings["sampler_seed"], 0, settings["startup"]),
            pruner=make_pruner(settings["pruner"], settings["startup"]))
    except ValueError as err:  # json.JSONDecodeError, or optuna's "Invalid log format."
        raise ConfigError(f"{str(out / JOURNAL)!r} is damaged ({err}): the study cannot be "
                          "read") from None


def count_states(trials) -> dict[str, int]:
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
