"""The compare stage: two sets of activity, matched on conditions and time, and how alike they are.

``compare(a, b)`` reads each side (a run folder, a run file, an NWB export or any recording
``neurobias.io.read_recording`` reads), averages each condition's trials over the time steps
all its trials share (the condition-averaged activity, (time, condition, unit)), checks that the
two sides hold the same conditions with the same number of steps, and computes every measure of
``neurobias.analysis.similarity`` on them. ``neurobias compare A B`` prints the table and draws
the figure (``neurobias.plot.compare``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .analysis.similarity import Similarity, SimilarityError, compare_activity
from .config import ConfigError

__all__ = ["compare", "Comparison", "CompareError", "condition_activity", "read_side"]


class CompareError(ConfigError):
    """Two sets cannot be compared (different conditions or lengths, unreadable input)."""


@dataclass(frozen=True)
class Comparison:
    """Two condition-averaged activity sets and their similarity.

    Attributes:
        names: labels of the two sides (their paths).
        conditions: the condition names, in the order of the condition axis.
        a, b: (time, condition, unit) condition-averaged activity of each side; steps beyond a
            condition's length are NaN.
        lengths: (condition,) number of steps of each condition (equal on both sides).
        dt_ms: time step (ms).
        similarity: every measure, on the valid steps of all conditions.
    """

    names: tuple[str, str]
    conditions: tuple[str, ...]
    a: np.ndarray
    b: np.ndarray
    lengths: np.ndarray
    dt_ms: float
    similarity: Similarity

    def samples(self) -> tuple[np.ndarray, np.ndarray]:
        """The matched samples (valid steps of every condition), (samples, units) each."""
        valid = ~np.isnan(self.a[..., 0])
        return self.a[valid], self.b[valid]

    def table(self) -> str:
        s = self.similarity
        rows = [("Procrustes shape distance (rad, 0 = same shape, pi/2 = unrelated)",
                 s.procrustes),
                ("linear CKA (1 = same)", s.cka),
                ("mean CCA of the top PCs (1 = same)", s.cca),
                ("RSA: r of the two RDMs (1 = same)", s.rsa),
                ("r of unit variances (same units only)", s.unit_variance_r)]
        lines = [f"A: {self.names[0]}", f"B: {self.names[1]}",
                 f"{len(self.conditions)} conditions ({', '.join(self.conditions)}), "
                 f"{s.n_samples} matched samples (condition x step, dt {self.dt_ms:g} ms), "
                 f"units {s.n_units[0]} and {s.n_units[1]}"]
        width = max(len(r[0]) for r in rows)
        lines += [f"{name:<{width}}  {value:8.4f}" if value == value else
                  f"{name:<{width}}       n/a" for name, value in rows]
        return "\n".join(lines)


def _run_file_of(path: Path, n_trials: int, progress: bool | None) -> Path:
    """The run file of a run folder (``RUN_DIR/run.h5``), exported first if missing."""
    h5 = path / "run.h5"
    if not h5.exists():
        if not (path / "config.json").exists() and not (path / "summary.json").exists():
            raise CompareError(f"{str(path)!r} is a folder but not a run folder (no run.h5, no "
                               "config.json): give a run folder, a run file or a recording")
        from .io import export

        export(path, h5, n_trials=n_trials, progress=progress)
    return h5


def _is_neurobias_nwb(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "nwb_version" in f.attrs and "processing/misc/rates" in f \
                and "processing/misc/provenance" in f
    except OSError:
        return False


def _run_dt(path: Path) -> float | None:
    """The time step of a run file, or None if ``path`` is not one."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            schema = f.attrs.get("schema", b"")
            schema = schema.decode() if isinstance(schema, bytes) else str(schema)
            if schema.startswith("neurobias/") and "trials" in f:
                return float(f["trials"].attrs["dt_ms"])
            if "processing/misc/rates" in f:  # a neurobias NWB export
                return 1000.0 / float(f["processing/misc/rates/starting_time"].attrs["rate"])
    except (OSError, KeyError):
        return None
    return None


def read_side(path, dt_ms: float, context: str | None = None, source: str = "auto"):
    """One side as a ``Recording`` (see ``neurobias.io.read_recording``); a neurobias NWB
    export is read from its ``rates`` with ``context_name`` as the context by default."""
    from .io import RecordingError, read_recording

    path = Path(path)
    if source == "auto" and path.suffix.lower() == ".nwb" and _is_neurobias_nwb(path):
        source = "timeseries:rates"
        context = context or "context_name"
    try:
        return read_recording(path, dt_ms=dt_ms, context=context, source=source)
    except RecordingError as err:
        raise CompareError(str(err)) from None


def condition_activity(rec) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Condition-averaged activity of a ``Recording``.

    Each condition's trials are averaged over the steps all of them have (the shortest
    trial's length).

    Returns:
        ``(names, activity, lengths)``: condition names; (time, condition, unit) float64
        activity, NaN after each condition's length; (condition,) lengths in steps.
    """
    names = tuple(rec.condition_names)
    n_t = rec.rates.shape[1]
    out = np.full((n_t, len(names), rec.rates.shape[2]), np.nan)
    lengths = np.zeros(len(names), dtype=np.int64)
    for k in range(len(names)):
        sel = rec.condition == k
        if not sel.any():
            continue
        n = int(rec.lengths[sel].min())
        lengths[k] = n
        out[:n, k] = rec.rates[sel, :n].astype(np.float64).mean(0)
    return names, out, lengths


def compare(a, b, *, dt_ms: float | None = None, context: str | None = None,
            source: str = "auto", n_components: int = 10, n_trials: int = 256,
            progress: bool | None = None) -> Comparison:
    """Compare the activity of two runs or recordings, matched on conditions and time.

    Args:
        a: a run folder (its ``run.h5``, exported with ``n_trials`` trials if missing), a run
            file, a neurobias NWB export, or a recording (``read_recording``).
        b: the other side, any of the same.
        dt_ms: time step to bin recordings at (default: the time step of a run among a, b).
        context: the trial column naming the conditions on both sides (default: each reader's
            default; ``task`` for NeuroGym runs).
        source: NWB source of both sides ("auto", "units" or "timeseries:NAME").
        n_components: principal components per side for the mean CCA.
        n_trials: trials to export for a run folder without run.h5.
        progress: progress bar of such an export.

    Returns:
        A ``Comparison``.

    Raises:
        CompareError: a side is unreadable, or the two sides hold different conditions or
            conditions of different lengths (one line).
    """
    paths = []
    for p in (a, b):
        p = Path(p)
        if not p.exists():
            raise CompareError(f"{str(p)!r} does not exist: give a run folder, a run file or a "
                               "recording")
        paths.append(_run_file_of(p, n_trials, progress) if p.is_dir() else p)
    if dt_ms is None:
        found = [d for d in map(_run_dt, paths) if d is not None]
        if not found:
            raise CompareError("neither side is a neurobias run: give the time step to bin the "
                               "recordings at with --dt-ms")
        dt_ms = found[0]
    recs = [read_side(p, dt_ms, context, source) for p in paths]
    sides = [condition_activity(r) for r in recs]
    (na, xa, la), (nb, xb, lb) = sides
    if set(na) != set(nb):
        only_a, only_b = sorted(set(na) - set(nb)), sorted(set(nb) - set(na))
        raise CompareError("the two sides hold different conditions: only in A: "
                           f"{', '.join(only_a) or 'none'}; only in B: "
                           f"{', '.join(only_b) or 'none'} (they must hold the same ones)")
    order = [nb.index(n) for n in na]
    xb, lb = xb[:, order], lb[order]
    if not np.array_equal(la, lb):
        k = int(np.flatnonzero(la != lb)[0])
        raise CompareError(f"condition {na[k]!r} lasts {la[k]} steps in A and {lb[k]} in B: "
                           "matched conditions must have the same length")
    n_t = max(xa.shape[0], xb.shape[0])
    xa = _pad_time(xa, n_t)[: int(la.max())]
    xb = _pad_time(xb, n_t)[: int(la.max())]
    valid = ~np.isnan(xa[..., 0])
    try:
        sim = compare_activity(xa[valid], xb[valid], n_components=n_components)
    except SimilarityError as err:
        raise CompareError(str(err)) from None
    return Comparison((str(a), str(b)), na, xa, xb, la, float(dt_ms), sim)


def _pad_time(x: np.ndarray, n_t: int) -> np.ndarray:
    if x.shape[0] >= n_t:
        return x
    pad = np.full((n_t - x.shape[0], *x.shape[1:]), np.nan)
    return np.concatenate([x, pad])
