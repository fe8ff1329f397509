"""NWB files (read with pynwb): recorded activity binned per trial of the trials table.

Spike times of the Units table are counted in bins of ``dt_ms`` within each trial
([start_time, stop_time)); a TimeSeries of rates or dF/F (acquisition or a processing module,
e.g. a ``RoiResponseSeries`` in ``Fluorescence``/``DfOverF``) is averaged into the same bins.
Every scalar trials-table column is kept; one of them is the context. ``read_recording`` in
``neurobias.io.recordings`` is the entry point; docs/recordings.md describes the fields.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .recordings import _EDGE_TOL, SOURCES, RecordingError, _Read, _strings, _text

__all__ = ["read_nwb_trials"]


def read_nwb_trials(path: Path, dt_ms: float, context: str | None, source: str,
                    input_names: tuple[str, ...]) -> _Read:
    """Activity, conditions and inputs of an NWB file binned per trial (see
    ``read_recording``, which checks and finishes what this returns)."""
    from pynwb import NWBHDF5IO

    if not (source in ("auto", "units") or source.startswith("timeseries:")
            and len(source) > len("timeseries:")):
        raise RecordingError(f"source={source!r} is invalid: allowed: " + ", ".join(SOURCES))
    with warnings.catch_warnings():  # pynwb warns about cached namespaces and the like
        warnings.simplefilter("ignore")
        try:
            io = NWBHDF5IO(str(path), "r")
            nwb = io.read()
        except Exception as err:  # noqa: BLE001 - pynwb raises many kinds on a broken file
            raise RecordingError(f"is not a readable NWB file: {type(err).__name__}: "
                                 f"{str(err).splitlines()[0] if str(err) else ''}") from None
        try:
            return _from_nwb(nwb, path, dt_ms, context, source, input_names)
        finally:
            io.close()


def _from_nwb(nwb, path: Path, dt_ms: float, context, source: str, input_names) -> _Read:
    trials = nwb.trials
    if trials is None or len(trials) == 0:
        raise RecordingError("has no trials table (or an empty one): the trials table's "
                             "start_time and stop_time cut the recording into trials; add one "
                             "(NWBFile.add_trial)")
    start = np.asarray(trials["start_time"].data[:], dtype=np.float64)
    stop = np.asarray(trials["stop_time"].data[:], dtype=np.float64)
    n_tr = len(start)
    if not (np.isfinite(start).all() and np.isfinite(stop).all()):
        raise RecordingError("the trials table has NaN or Inf start_time/stop_time: every "
                             "trial needs finite times (s)")
    dt_s = dt_ms / 1000.0
    lengths = np.floor((stop - start) / dt_s + _EDGE_TOL).astype(np.int64)
    if lengths.min() < 1:
        i = int(np.argmin(lengths))
        raise RecordingError(f"trial {i} lasts {1000 * (stop[i] - start[i]):g} ms, less than "
                             f"one bin of dt_ms={dt_ms:g}: every trial must last at least dt")
    columns, extra = _trial_columns(trials, n_tr)
    labels, column = None, ""
    if context is not None:
        if context not in columns:
            raise RecordingError(f"the trials table has no column {context!r} to use as the "
                                 "context: columns there are: " + ", ".join(columns))
        if context not in extra:
            raise RecordingError(f"trials column {context!r} does not hold one number or "
                                 "string per trial: the context needs one value per trial")
        labels, column = extra.pop(context), context
    grid = _Grid(start, lengths, dt_s)
    series = _all_series(nwb)
    if source == "units" or source == "auto" and nwb.units is not None and len(nwb.units):
        if nwb.units is None or not len(nwb.units):
            raise RecordingError("has no Units table (or an empty one): allowed sources: "
                                 "units (spike times) or timeseries:NAME")
        act, names = _bin_units(nwb.units, grid)
        is_counts, unit, where = True, "spikes/s", "units"
    else:
        if source == "auto":
            rate_like = {p: ts for p, ts in series.items() if _rate_like(p, ts)
                         and ts.name not in input_names}
            if len(rate_like) != 1:
                raise RecordingError(
                    "has no Units table and " + (
                        f"{len(rate_like)} rate-like TimeSeries ({', '.join(sorted(rate_like))})"
                        ": choose one with source='timeseries:NAME'" if rate_like else
                        "no rate-like TimeSeries in acquisition or processing: allowed "
                        "sources: a Units table with spike times, or a TimeSeries of rates "
                        "or dF/F"))
            where, ts = next(iter(rate_like.items()))
        else:
            where, ts = _find_series(series, source[len("timeseries:"):], activity=True)
        act = _bin_series(ts, grid, where)
        names = _series_channel_names(ts, act.shape[2])
        is_counts, unit = False, _text(ts.unit)
    inputs = None
    if input_names:
        parts = []
        for name in input_names:
            p, ts = _find_series(series, name, activity=False)
            parts.append(_bin_series(ts, grid, p))
        inputs = np.concatenate(parts, axis=2).astype(np.float32)
    return _Read(act, is_counts, labels, None, column, lengths, inputs, names, unit,
                 f"{path.name} ({where})", extra)


def _trial_columns(trials, n_tr: int) -> tuple[list[str], dict]:
    """All column names of the trials table, and those holding one scalar per trial."""
    from hdmf.common import DynamicTableRegion, VectorIndex

    names = list(trials.colnames)
    scalar = {}
    for name in names:
        col = trials[name]
        if isinstance(col, (VectorIndex, DynamicTableRegion)):
            continue  # ragged values or references to other tables
        values = _strings(col.data[:])
        if values.shape == (n_tr,) and values.dtype.kind in "biufU":
            scalar[name] = values
    return ["start_time", "stop_time"] + [n for n in names if n not in ("start_time",
                                                                          "stop_time")], scalar


class _Grid:
    """The bins of every trial: trial i has ``lengths[i]`` bins of ``dt_s`` from ``start[i]``."""

    def __init__(self, start: np.ndarray, lengths: np.ndarray, dt_s: float):
        self.start, self.lengths, self.dt_s = start, lengths, dt_s
        self.n_t = int(lengths.max())
        # edges of all trials, one after another (trial i: lengths[i] + 1 edges), shifted
        # earlier by a tiny fraction of a bin (see _EDGE_TOL)
        self.edges = np.concatenate([s + (np.arange(n + 1) - _EDGE_TOL) * dt_s
                                     for s, n in zip(start, lengths, strict=True)])
        first = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
        self.first_edge = first  # index in edges of each trial's first edge
        # positions in np.diff(edges-index) that are bins (not the jump between two trials)
        self.trial = np.repeat(np.arange(len(start)), lengths)
        self.bin = np.concatenate([np.arange(n) for n in lengths])
        self.diff_pos = np.repeat(first, lengths) + self.bin
        self.bin_start = np.concatenate([[0], np.cumsum(lengths)[:-1]])  # first bin of trial i

    def scatter(self, per_bin: np.ndarray) -> np.ndarray:
        """(bins of all trials, k) values -> (trial, time, k), zero after each trial's end."""
        out = np.zeros((len(self.start), self.n_t, per_bin.shape[1]), per_bin.dtype)
        out[self.trial, self.bin] = per_bin
        return out


def _bin_units(units, grid: _Grid) -> tuple[np.ndarray, tuple[str, ...]]:
    """Spike counts (trial, time, unit) of every unit of a Units table."""
    if "spike_times" not in units.colnames:
        raise RecordingError("has a Units table without spike_times: allowed sources: units "
                             "with spike times, or timeseries:NAME")
    times = np.asarray(units["spike_times"].target.data[:], dtype=np.float64)
    ends = np.asarray(units["spike_times"].data[:], dtype=np.int64)
    begins = np.concatenate([[0], ends[:-1]])
    counts = np.empty((len(grid.diff_pos), len(ends)), np.int64)
    for j, (a, b) in enumerate(zip(begins, ends, strict=True)):
        idx = np.searchsorted(np.sort(times[a:b]), grid.edges, side="left")
        counts[:, j] = np.diff(idx)[grid.diff_pos]
    ids = tuple(str(i) for i in units.id[:])
    return grid.scatter(counts), ids


def _all_series(nwb) -> dict:
    """Every TimeSeries of the file by path: acquisition/..., stimulus/..., processing/..."""
    from pynwb import TimeSeries

    out = {}

    def walk(obj, prefix):
        if isinstance(obj, TimeSeries):
            out[f"{prefix}/{obj.name}"] = obj
            return
        for child in getattr(obj, "children", ()):
            walk(child, f"{prefix}/{obj.name}")

    for obj in nwb.acquisition.values():
        walk(obj, "acquisition")
    for obj in nwb.stimulus.values():
        walk(obj, "stimulus")
    for mod in nwb.processing.values():
        for obj in mod.data_interfaces.values():
            walk(obj, f"processing/{mod.name}")
    return out


def _rate_like(path: str, ts) -> bool:
    from pynwb.ecephys import ElectricalSeries
    from pynwb.image import ImageSeries

    return not path.startswith("stimulus/") and not isinstance(ts, (ElectricalSeries,
                                                                     ImageSeries)) \
        and len(ts.data.shape) in (1, 2)


def _find_series(series: dict, name: str, activity: bool):
    hits = [p for p in series if (p == name or p.endswith("/" + name))
            and not (activity and p.startswith("stimulus/"))]
    if len(hits) != 1:
        there = ", ".join(sorted(p for p in series if not (activity and
                                                           p.startswith("stimulus/"))))
        what = "activity" if activity else "inputs"
        if not hits:
            raise RecordingError(f"has no TimeSeries {name!r} for the {what}: TimeSeries there "
                                 f"are: {there or 'none'}")
        raise RecordingError(f"has {len(hits)} TimeSeries named {name!r} ({', '.join(hits)}): "
                             "name one by its path")
    return hits[0], series[hits[0]]


def _bin_series(ts, grid: _Grid, where: str) -> np.ndarray:
    """Samples of a TimeSeries averaged into the bins of every trial: (trial, time, channel)."""
    shape = ts.data.shape
    if len(shape) not in (1, 2):
        raise RecordingError(f"TimeSeries {where} has data of shape {shape}: expected (time,) "
                             "or (time, channel)")
    stamps = np.asarray(ts.get_timestamps(), dtype=np.float64)
    if len(stamps) < 1:
        raise RecordingError(f"TimeSeries {where} holds no samples")
    step = float(np.median(np.diff(stamps))) if len(stamps) > 1 else np.inf
    if step > grid.dt_s * (1 + 1e-6):
        raise RecordingError(f"TimeSeries {where} is sampled every {1000 * step:g} ms, coarser "
                             f"than dt_ms={1000 * grid.dt_s:g}: allowed: dt_ms >= the sampling "
                             "interval (samples are averaged into bins)")
    idx = np.searchsorted(stamps, grid.edges, side="left")
    n_in = np.diff(idx)[grid.diff_pos]
    if (n_in == 0).any():
        k = int(np.flatnonzero(n_in == 0)[0])
        i, b = int(grid.trial[k]), int(grid.bin[k])
        raise RecordingError(f"TimeSeries {where} has no sample in trial {i}, bin {b} (from "
                             f"{grid.start[i] + b * grid.dt_s:.6g} s): the series must cover "
                             "every trial without gaps longer than dt_ms")
    n_ch = 1 if len(shape) == 1 else shape[1]
    sums = np.empty((len(grid.diff_pos), n_ch), np.float64)
    for i, first in enumerate(grid.first_edge):
        n = int(grid.lengths[i])
        lo, hi = int(idx[first]), int(idx[first + n])
        block = np.asarray(ts.data[lo:hi], dtype=np.float64).reshape(hi - lo, n_ch)
        b0 = int(grid.bin_start[i])
        sums[b0:b0 + n] = np.add.reduceat(block, idx[first:first + n] - lo, axis=0)
    means = sums / n_in[:, None]
    means = means * float(ts.conversion) + float(getattr(ts, "offset", 0.0) or 0.0)
    return grid.scatter(means.astype(np.float32))


def _series_channel_names(ts, n_ch: int) -> tuple[str, ...]:
    """ROI ids of a RoiResponseSeries, else channel indices."""
    rois = getattr(ts, "rois", None)
    if rois is not None:
        try:
            ids = rois.table.id[:]
            return tuple(str(ids[i]) for i in rois.data[:])
        except Exception:  # noqa: BLE001 - fall back to indices if the region is unusual
            pass
    return tuple(str(i) for i in range(n_ch))
