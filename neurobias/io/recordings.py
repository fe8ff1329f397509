"""Recorded activity as trials: the data a circuit is fitted to.

A ``Recording`` holds activity already cut into trials and binned at one time step, with the
condition of every trial. It is what ``neurobias.envs.RecordingEnv`` (env kind ``recording``)
turns into trial batches. ``read_recording`` builds one from a file:

- an NWB file (read with pynwb): spike times of the Units table counted in bins of ``dt_ms``
  within each trial of the trials table, or a TimeSeries of rates or dF/F (acquisition or a
  processing module, e.g. a ``RoiResponseSeries`` in ``Fluorescence``/``DfOverF``) averaged into
  those bins;
- plain arrays in ``.npz`` or ``.h5``: ``activity`` (trial, time, neuron) and optional
  ``inputs``, ``condition``, ``dt_ms``, ``counts``, ``lengths``, ``neuron_names``, ``unit``;
- a neurobias run file (``neurobias export``): ``/activity/rates``, ``/trials/inputs`` and a
  trial condition as the context.

``Recording.from_arrays`` builds one from arrays in Python. The field-by-field description of
every source is docs/recordings.md. Nothing here writes a file.

Axis order here follows the files, (trial, time, neuron); the env transposes to the library's
(time, trial, ·) when it makes batches.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from scipy.ndimage import convolve1d

__all__ = ["Recording", "RecordingError", "gaussian_smooth", "read_recording"]

KINDS = ("rates", "counts")


class RecordingError(ValueError):
    """Recorded data is unusable as given; the message is one line naming what is wrong and
    what is allowed."""


@dataclass(frozen=True)
class Recording:
    """Recorded activity in trials, binned at ``dt_ms``.

    Attributes:
        rates: (trial, time, neuron) float32 activity to fit by squared error: firing rates in
            spikes/s (from spikes: counts / dt, smoothed if asked), dF/F, or any rate-like unit
            (``unit`` says which). Zero after each trial's ``lengths``.
        dt_ms: bin width (ms); the circuit's time step must equal it.
        condition: (trial,) int64 index into ``condition_names``: the trial's context (one
            tonic-input row per condition).
        condition_names: the distinct condition values as strings, in index order.
        lengths: (trial,) int64 number of valid bins of each trial (trials may differ in
            length; the arrays are padded to the longest).
        counts: (trial, time, neuron) spike counts per bin (float32 holding integers) when the
            activity came from spikes or was given as counts, for a Poisson loss; else None.
        inputs: (trial, time, channel) float32 external inputs to the circuit (stimuli, cues);
            (trial, time, 0) when the recording has none.
        neuron_names: one label per neuron (unit ids of the source).
        unit: the unit of ``rates`` ("spikes/s", "dF/F", "a.u.", ...).
        context_column: the name of the trial column the conditions come from.
        source: where the data came from (file and part of it), for provenance.
        extra: other per-trial values, name -> (trial,) array: every trials-table column that
            is one scalar per trial (NWB, with ``start_time`` and ``stop_time`` in seconds),
            the other (trial,) arrays of an array file, or every ``/trials/conditions`` entry
            and ``context`` of a run file. Not changed by the neuron selection.
    """

    rates: np.ndarray
    dt_ms: float
    condition: np.ndarray
    condition_names: tuple[str, ...]
    lengths: np.ndarray
    counts: np.ndarray | None = None
    inputs: np.ndarray | None = None
    neuron_names: tuple[str, ...] = ()
    unit: str = "a.u."
    context_column: str = "condition"
    source: str = "arrays"
    extra: dict = field(default_factory=dict)  # other per-trial columns, name -> (trial,)

    def __post_init__(self) -> None:
        rates = np.asarray(self.rates)
        if rates.ndim != 3:
            raise RecordingError(f"activity has shape {rates.shape}: expected 3 axes "
                                 "(trial, time, neuron)")
        n_tr, n_t, n_n = rates.shape
        if min(n_tr, n_t, n_n) < 1:
            raise RecordingError(f"activity has shape {rates.shape}: every axis (trial, time, "
                                 "neuron) needs at least one entry")
        if not np.issubdtype(rates.dtype, np.number):
            raise RecordingError(f"activity has dtype {rates.dtype}: expected numbers")
        if not np.isfinite(rates).all():
            bad = np.argwhere(~np.isfinite(rates))[0]
            raise RecordingError(f"activity holds NaN or Inf (first at trial {bad[0]}, bin "
                                 f"{bad[1]}, neuron {bad[2]}): only finite values are allowed")
        object.__setattr__(self, "rates", rates.astype(np.float32, copy=False))
        if not (isinstance(self.dt_ms, (int, float)) and np.isfinite(self.dt_ms)
                and self.dt_ms > 0):
            raise RecordingError(f"dt_ms={self.dt_ms!r} is invalid: must be a number > 0")
        object.__setattr__(self, "dt_ms", float(self.dt_ms))
        cond = np.asarray(self.condition)
        if cond.shape != (n_tr,):
            raise RecordingError(f"condition has shape {cond.shape} but activity has {n_tr} "
                                 f"trials: expected ({n_tr},)")
        if not np.issubdtype(cond.dtype, np.integer) or cond.min() < 0 \
                or cond.max() >= len(self.condition_names):
            raise RecordingError("condition must hold indices into condition_names "
                                 f"(0..{len(self.condition_names) - 1})")
        object.__setattr__(self, "condition", cond.astype(np.int64))
        object.__setattr__(self, "condition_names", tuple(str(c) for c in self.condition_names))
        lengths = np.asarray(self.lengths)
        if lengths.shape != (n_tr,) or not np.issubdtype(lengths.dtype, np.integer) \
                or lengths.min() < 1 or lengths.max() > n_t:
            raise RecordingError(f"lengths must be ({n_tr},) integers in 1..{n_t}")
        object.__setattr__(self, "lengths", lengths.astype(np.int64))
        if self.counts is not None:
            counts = np.asarray(self.counts)
            if counts.shape != rates.shape:
                raise RecordingError(f"counts has shape {counts.shape} but activity has "
                                     f"{rates.shape}: they must agree")
            if not np.isfinite(counts).all() or (counts < 0).any() \
                    or (counts != np.round(counts)).any():
                raise RecordingError("counts must be non-negative whole numbers of spikes per "
                                     "bin")
            silent = np.flatnonzero(counts.sum((0, 1)) == 0)
            if len(silent):
                names = [self._name(i) for i in silent[:5]]
                raise RecordingError(f"{len(silent)} neuron(s) never fire ({', '.join(names)}"
                                     f"{', ...' if len(silent) > 5 else ''}): a Poisson fit "
                                     "needs spikes; drop them (env.neurons) or fit rates")
            object.__setattr__(self, "counts", counts.astype(np.float32, copy=False))
        inputs = np.zeros((n_tr, n_t, 0), np.float32) if self.inputs is None \
            else np.asarray(self.inputs)
        if inputs.ndim != 3 or inputs.shape[:2] != (n_tr, n_t):
            raise RecordingError(f"inputs has shape {inputs.shape} but activity has "
                                 f"{rates.shape}: expected ({n_tr}, {n_t}, channel)")
        if not np.isfinite(inputs).all():
            raise RecordingError("inputs hold NaN or Inf: only finite values are allowed")
        object.__setattr__(self, "inputs", inputs.astype(np.float32, copy=False))
        names = tuple(str(n) for n in self.neuron_names) or tuple(str(i) for i in range(n_n))
        if len(names) != n_n:
            raise RecordingError(f"{len(names)} neuron names for {n_n} neurons")
        object.__setattr__(self, "neuron_names", names)

    def _name(self, i: int) -> str:
        return self.neuron_names[i] if self.neuron_names else str(i)

    # ------------------------------------------------------------------ sizes

    @property
    def n_trials(self) -> int:
        return self.rates.shape[0]

    @property
    def n_steps(self) -> int:
        return self.rates.shape[1]

    @property
    def n_neurons(self) -> int:
        return self.rates.shape[2]

    @property
    def n_inputs(self) -> int:
        return self.inputs.shape[2]

    @property
    def n_conditions(self) -> int:
        return len(self.condition_names)

    # ------------------------------------------------------------------ building

    @classmethod
    def from_arrays(cls, activity, *, dt_ms: float, condition=None, inputs=None,
                    counts: bool = False, lengths=None, smooth_ms: float = 0.0,
                    neuron_names=(), unit: str | None = None, source: str = "arrays",
                    context_column: str = "condition") -> Recording:
        """A recording from plain arrays.

        Args:
            activity: (trial, time, neuron) rates, or spike counts per bin if ``counts``.
            dt_ms: bin width (ms).
            condition: (trial,) labels of any type (strings, ints); default one condition.
                Condition indices follow the sorted distinct labels.
            inputs: (trial, time, channel) external inputs, or None.
            counts: ``activity`` holds spike counts per bin: they are kept for a Poisson loss
                and ``rates`` become counts / dt in spikes/s (smoothed if ``smooth_ms``).
            lengths: (trial,) valid bins per trial (default: all).
            smooth_ms: standard deviation (ms) of a Gaussian kernel applied to the rates along
                time, within each trial; 0 leaves them as they are.
            neuron_names: labels of the neurons.
            unit: the unit of the rates (default "spikes/s" for counts, else "a.u.").
        """
        act = np.asarray(activity)
        if act.ndim != 3:
            raise RecordingError(f"activity has shape {act.shape}: expected 3 axes "
                                 "(trial, time, neuron)")
        n_tr, n_t = act.shape[:2]
        if condition is None:
            labels = np.zeros(n_tr, np.int64)
            names: tuple[str, ...] = ("all",)
        else:
            cond = np.asarray(condition)
            if cond.shape != (n_tr,):
                raise RecordingError(f"condition has shape {cond.shape} but activity has {n_tr} "
                                     f"trials: expected ({n_tr},)")
            values, labels = np.unique(cond, return_inverse=True)
            names = tuple(str(v) for v in values)
        lengths = np.full(n_tr, n_t, np.int64) if lengths is None else np.asarray(lengths)
        if counts:
            kept = act
            rates = act.astype(np.float32) * (1000.0 / dt_ms)
            unit = unit or "spikes/s"
        else:
            kept = None
            rates = act
            unit = unit or "a.u."
        if smooth_ms:
            rates = gaussian_smooth(rates, smooth_ms / dt_ms, lengths)
        return cls(rates=rates, dt_ms=dt_ms, condition=labels.astype(np.int64),
                   condition_names=names, lengths=lengths, counts=kept, inputs=inputs,
                   neuron_names=tuple(neuron_names), unit=unit, source=source,
                   context_column=context_column)


def gaussian_smooth(x_tbn: np.ndarray, sigma_bins: float, lengths=None) -> np.ndarray:
    """Smooth (trial, time, neuron) activity along time with a Gaussian kernel.

    Each trial is smoothed within its valid bins only (the kernel is renormalised at the
    trial's edges, so a constant stays constant and padding does not leak in).

    Args:
        x_tbn: (trial, time, neuron) values.
        sigma_bins: kernel standard deviation in bins (> 0).
        lengths: (trial,) valid bins per trial; default all.

    Returns:
        (trial, time, neuron) float32, zero after each trial's length.
    """
    x = np.asarray(x_tbn, dtype=np.float64)
    if not sigma_bins > 0:
        raise RecordingError(f"smoothing sigma {sigma_bins!r} bins is invalid: must be > 0")
    n_tr, n_t, _ = x.shape
    lengths = np.full(n_tr, n_t) if lengths is None else np.asarray(lengths)
    half = int(np.ceil(4 * sigma_bins))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma_bins) ** 2)
    valid = (np.arange(n_t)[None, :] < lengths[:, None]).astype(np.float64)  # (trial, time)
    num = convolve1d(x * valid[..., None], k, axis=1, mode="constant")
    den = convolve1d(valid, k, axis=1, mode="constant")
    out = np.where(valid[..., None] > 0, num / np.maximum(den, 1e-300)[..., None], 0.0)
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------- readers

SOURCES = ("auto", "units", "timeseries:NAME")
# a sample or spike this close (fraction of a bin) before a bin edge belongs to the next bin:
# sample times on the bin grid (t = start + k * dt) fall in bin k despite float rounding
_EDGE_TOL = 1e-6


@dataclass
class _Read:
    """What a format reader found, before the common steps (selection, smoothing, checks)."""

    activity: np.ndarray             # (trial, time, neuron) rates, or counts if is_counts
    is_counts: bool
    labels: np.ndarray | None        # (trial,) raw labels of the context column, or None
    names: tuple[str, ...] | None    # names of integer labels 0..K-1 (run files), or None
    column: str                      # the context column ("" when one condition)
    lengths: np.ndarray              # (trial,) valid bins
    inputs: np.ndarray | None        # (trial, time, channel)
    neuron_names: tuple[str, ...]
    unit: str
    source: str
    extra: dict


def read_recording(path, *, dt_ms: float, context: str | None = None, source: str = "auto",
                   smooth_ms: float = 0.0, neurons: Sequence[int] | Sequence[str] | None = None,
                   inputs: Sequence[str] = ()) -> Recording:
    """Read recorded activity from a file as trials binned at ``dt_ms``.

    The format is recognised from the content, not the name: an HDF5 file with an
    ``nwb_version`` attribute is NWB, one whose ``schema`` attribute is ``neurobias/<n>`` is a
    neurobias run file, any other HDF5 file holds plain arrays, and a zip archive is ``.npz``.
    docs/recordings.md describes every source field by field.

    Args:
        path: an ``.nwb`` file, an ``.npz`` or ``.h5``/``.hdf5`` file of arrays, or a neurobias
            run file (``neurobias export``).
        dt_ms: the circuit's time step (ms). Spikes are counted in bins of this width and time
            series averaged into them (a series sampled more coarsely is refused). Arrays and run
            files recorded at another step are summed (counts) or averaged (rates) over an
            integer number of their bins, or refused if the ratio is not an integer.
        context: the per-trial column that is the context (one tonic-input row per distinct
            value): an NWB trials-table column; a (trial,) array of an array file (default
            ``condition`` when present); a run file's ``/trials/conditions`` entry such as
            ``task``, or ``context`` (default ``task`` when present, else ``context``). None with
            no default: one condition for all trials.
        source: NWB only: "auto" (the Units table if present, else the only rate-like
            TimeSeries), "units", or "timeseries:NAME" (a TimeSeries found by name, or by a path
            such as ``ophys/DfOverF/RoiResponseSeries``, in acquisition or any processing
            module).
        smooth_ms: standard deviation (ms) of a Gaussian kernel applied to the rates along time
            within each trial; 0 leaves them as they are. Counts are kept unsmoothed.
        neurons: the neurons to keep, in this order: indices (0-based), or names (NWB unit ids
            or ROI ids as text, ``neuron_names`` of an array file).
        inputs: NWB only: names of TimeSeries (acquisition, stimulus or processing) averaged
            into the same bins as the circuit's external inputs, their channels concatenated.

    Returns:
        A ``Recording`` with rates (trial, time, neuron), counts (for spikes or count arrays),
        conditions, lengths, inputs and per-trial ``extra`` columns.

    Raises:
        RecordingError: one line naming the file, what is wrong and what is allowed.
    """
    path = Path(path)
    try:
        if not (isinstance(dt_ms, (int, float)) and not isinstance(dt_ms, bool)
                and np.isfinite(dt_ms) and dt_ms > 0):
            raise RecordingError(f"dt_ms={dt_ms!r} is invalid: must be a number > 0")
        if not (isinstance(smooth_ms, (int, float)) and np.isfinite(smooth_ms)
                and smooth_ms >= 0):
            raise RecordingError(f"smooth_ms={smooth_ms!r} is invalid: must be a number >= 0 "
                                 "(0: no smoothing)")
        if isinstance(inputs, str):
            inputs = (inputs,)
        kind = _file_kind(path)
        if kind != "nwb":
            if source != "auto":
                raise RecordingError(f"source={source!r} applies to NWB files only; this file "
                                     f"holds {kind}: leave source as 'auto'")
            if inputs:
                raise RecordingError(f"inputs={list(inputs)!r} names NWB TimeSeries; this file "
                                     f"holds {kind}, whose inputs come from its own inputs "
                                     "array: leave inputs empty")
        if kind == "nwb":
            read = _read_nwb(path, float(dt_ms), context, source, tuple(inputs))
        elif kind == "a neurobias run file":
            read = _read_run_file(path, float(dt_ms), context)
        else:
            read = _read_arrays(path, float(dt_ms), context, kind)
        return _finish(read, float(dt_ms), float(smooth_ms), neurons)
    except RecordingError as err:
        raise RecordingError(f"{str(path)!r}: {err}") from None


def _file_kind(path: Path) -> str:
    if not path.exists():
        raise RecordingError("does not exist")
    if path.is_dir():
        raise RecordingError("is a folder: give an .nwb, .npz, .h5 or run file")
    if zipfile.is_zipfile(path):
        return "npz arrays"
    if h5py.is_hdf5(path):
        try:
            with h5py.File(path, "r") as f:
                if "nwb_version" in f.attrs:
                    return "nwb"
                schema = _text(f.attrs.get("schema", ""))
        except OSError as err:
            raise RecordingError(f"is not a readable HDF5 file (damaged or truncated?): "
                                 f"{str(err).split('(')[0].strip()}") from None
        return "a neurobias run file" if schema.startswith("neurobias/") else "HDF5 arrays"
    raise RecordingError("is neither an NWB file, an .npz archive nor an HDF5 file: allowed: "
                         "NWB (.nwb), arrays (.npz, .h5), a neurobias run file (run.h5)")


def _text(value) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def _strings(values) -> np.ndarray:
    """Byte strings (h5py, NWB) as str; other arrays unchanged."""
    arr = np.asarray(values)
    if arr.dtype.kind in "SO":
        return np.array([_text(v) for v in arr.ravel()]).reshape(arr.shape)
    return arr


# ------------------------------------------------------------------ common steps


def _finish(read: _Read, dt_ms: float, smooth_ms: float, neurons) -> Recording:
    act = read.activity
    if act.ndim != 3:
        raise RecordingError(f"activity has shape {act.shape}: expected 3 axes "
                             "(trial, time, neuron)")
    n_tr, n_t, _ = act.shape
    lengths = np.asarray(read.lengths)
    if lengths.shape != (n_tr,) or lengths.dtype.kind not in "iuf" \
            or (lengths != np.round(lengths)).any() or lengths.min() < 1 \
            or lengths.max() > n_t:
        raise RecordingError(f"lengths has shape {lengths.shape} and values "
                             f"{_range(lengths)} but activity has shape {act.shape}: expected "
                             f"({n_tr},) whole numbers in 1..{n_t}")
    lengths = lengths.astype(np.int64)
    if read.inputs is not None:
        inp = np.asarray(read.inputs)
        if inp.ndim != 3 or inp.shape[:2] != (n_tr, n_t):
            raise RecordingError(f"inputs has shape {inp.shape} but activity has shape "
                                 f"{act.shape}: expected ({n_tr}, {n_t}, channel)")
    # padding after a trial's end may hold anything (NaN is common): it is zeroed
    valid = np.arange(n_t)[None, :] < lengths[:, None]
    if not valid.all():
        act = np.where(valid[..., None], act, 0)
        if read.inputs is not None:
            read.inputs = np.where(valid[..., None], read.inputs, 0)
    if not np.issubdtype(act.dtype, np.number) or act.dtype.kind == "c":
        raise RecordingError(f"activity has dtype {act.dtype}: expected real numbers")
    if not np.isfinite(act).all():
        bad = np.argwhere(~np.isfinite(act))[0]
        raise RecordingError(f"activity holds NaN or Inf (first at trial {bad[0]}, bin "
                             f"{bad[1]}, neuron {bad[2]}): only finite values are allowed "
                             "(padding after each trial's length may hold anything)")
    names = read.neuron_names or tuple(str(i) for i in range(act.shape[2]))
    if len(names) != act.shape[2]:
        raise RecordingError(f"{len(names)} neuron names for {act.shape[2]} neurons: they "
                             "must agree")
    if neurons is not None:
        keep = _select(neurons, names)
        act = act[:, :, keep]
        names = tuple(names[i] for i in keep)
    condition, cond_names = _conditions(read.labels, read.names, n_tr, read.column)
    if read.is_counts:
        if act.dtype.kind == "f" and (act != np.round(act)).any() or (act < 0).any():
            raise RecordingError("counts must be non-negative whole numbers of spikes per bin")
        counts = act.astype(np.float32)
        rates = counts * np.float32(1000.0 / dt_ms)
    else:
        counts = None
        rates = act.astype(np.float32)
    if smooth_ms:
        rates = gaussian_smooth(rates, smooth_ms / dt_ms, lengths)
    return Recording(rates=rates, dt_ms=dt_ms, condition=condition, condition_names=cond_names,
                     lengths=lengths, counts=counts, inputs=read.inputs, neuron_names=names,
                     unit=read.unit, context_column=read.column, source=read.source,
                     extra=read.extra)


def _range(a: np.ndarray) -> str:
    return f"{a.min()}..{a.max()}" if a.size and a.dtype.kind in "iuf" else "(none)"


def _select(neurons, names: tuple[str, ...]) -> list[int]:
    """Indices of the neurons named by ``neurons`` (indices or names), in that order."""
    items = list(neurons)
    n = len(names)
    if not items:
        raise RecordingError("neurons=[] selects no neuron: give indices or names, or None "
                             "for all")
    if all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in items):
        bad = [int(i) for i in items if not 0 <= i < n]
        if bad:
            raise RecordingError(f"neurons selection {bad[:5]} out of range: the recording has "
                                 f"{n} neurons, indices 0..{n - 1}")
        keep = [int(i) for i in items]
    elif all(isinstance(i, str) for i in items):
        where = {name: k for k, name in enumerate(names)}
        bad = [i for i in items if i not in where]
        if bad:
            shown = ", ".join(names[:8]) + (", ..." if n > 8 else "")
            raise RecordingError(f"neurons {bad[:5]} are not in the recording: its neuron "
                                 f"names are {shown}")
        keep = [where[i] for i in items]
    else:
        raise RecordingError(f"neurons={items[:5]!r} is invalid: give all indices (int) or all "
                             "names (str)")
    if len(set(keep)) != len(keep):
        raise RecordingError("neurons selection names a neuron twice: each neuron at most once")
    return keep


def _conditions(labels, names, n_tr: int, column: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """(trial,) condition index and the names of the conditions present, in index order."""
    if labels is None:
        return np.zeros(n_tr, np.int64), ("all",)
    labels = _strings(labels)
    if labels.shape != (n_tr,):
        raise RecordingError(f"context column {column!r} has shape {labels.shape} but there "
                             f"are {n_tr} trials: expected one value per trial ({n_tr},)")
    if labels.dtype.kind not in "biufU":
        raise RecordingError(f"context column {column!r} has dtype {labels.dtype}: expected "
                             "one number or string per trial")
    values, index = np.unique(labels, return_inverse=True)
    if names is not None:  # integer labels naming rows of a known list (run files)
        out = []
        for v in values:
            k = int(v)
            out.append(names[k] if v == k and 0 <= k < len(names) else _text(v))
        return index.astype(np.int64), tuple(out)
    return index.astype(np.int64), tuple(_label(v) for v in values)


def _label(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return _text(v)


def _rebin(act: np.ndarray, lengths: np.ndarray, inputs, file_dt: float, dt_ms: float,
           is_counts: bool, what: str):
    """Bins of ``file_dt`` merged into bins of ``dt_ms`` (an integer multiple)."""
    if np.isclose(file_dt, dt_ms, rtol=1e-9, atol=0):
        return act, lengths, inputs
    k = dt_ms / file_dt
    if not (np.isclose(k, round(k), rtol=1e-9, atol=0) and round(k) >= 2):
        raise RecordingError(f"{what} is binned at dt_ms={file_dt:g} but the circuit's dt_ms is "
                             f"{dt_ms:g}: allowed: the same step, or an integer multiple of "
                             "the file's (bins are merged)")
    k = int(round(k))
    n_tr, n_t = act.shape[:2]
    n_new = n_t // k
    new_len = lengths // k
    if n_new < 1 or new_len.min() < 1:
        raise RecordingError(f"{what} has trials of {int(lengths.min())} bins of "
                             f"{file_dt:g} ms, shorter than one bin of dt_ms={dt_ms:g}")

    def merge(x, total):
        x = x[:, : n_new * k].reshape(n_tr, n_new, k, x.shape[2])
        return x.sum(2) if total else x.mean(2)

    # padding is zeroed before merging so that a partial last bin is dropped, not averaged in
    valid = (np.arange(n_t)[None, :] < (new_len * k)[:, None])[..., None]
    act = merge(np.where(valid, act, 0), is_counts)
    inputs = None if inputs is None else merge(np.where(valid, inputs, 0), False)
    return act, new_len, inputs


# ------------------------------------------------------------------ arrays (.npz, .h5)

ARRAY_KEYS = ("activity", "inputs", "condition", "dt_ms", "counts", "lengths", "neuron_names",
              "unit")


def _read_arrays(path: Path, dt_ms: float, context: str | None, kind: str) -> _Read:
    if kind == "npz arrays":
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (ValueError, OSError, zipfile.BadZipFile) as err:
            raise RecordingError(f"is not a readable .npz archive of arrays: {err}") from None
    else:
        data = {}
        with h5py.File(path, "r") as f:
            for k, v in f.items():
                if isinstance(v, h5py.Dataset):
                    data[k] = v[()]
            for k, v in f.attrs.items():  # dt_ms, counts, unit may be root attributes
                data.setdefault(k, v)
    if "activity" not in data:
        found = ", ".join(sorted(data)) or "none"
        raise RecordingError(f"holds no 'activity' array (found: {found}): allowed arrays: "
                             + ", ".join(ARRAY_KEYS))
    act = np.asarray(data["activity"])
    if act.ndim != 3:
        raise RecordingError(f"activity has shape {act.shape}: expected 3 axes "
                             "(trial, time, neuron)")
    n_tr, n_t, n_n = act.shape
    flag = data.get("counts")
    if flag is None:
        is_counts = act.dtype.kind in "iu"
    else:
        flag = np.asarray(flag)
        if flag.shape != () or flag.dtype.kind not in "biu":
            raise RecordingError(f"counts is {flag!r}: expected a boolean scalar (true: activity "
                                 "holds spike counts per bin)")
        is_counts = bool(flag)
    lengths = np.asarray(data["lengths"]) if "lengths" in data else np.full(n_tr, n_t)
    inputs = np.asarray(data["inputs"], dtype=np.float32) if "inputs" in data else None
    if inputs is not None and (inputs.ndim != 3 or inputs.shape[:2] != (n_tr, n_t)):
        raise RecordingError(f"inputs has shape {inputs.shape} but activity has shape "
                             f"{act.shape}: expected ({n_tr}, {n_t}, channel)")
    if lengths.shape != (n_tr,):
        raise RecordingError(f"lengths has shape {lengths.shape} but activity has {n_tr} "
                             f"trials: expected ({n_tr},)")
    names = ()
    if "neuron_names" in data:
        names = tuple(str(x) for x in _strings(data["neuron_names"]).ravel())
        if len(names) != n_n:
            raise RecordingError(f"neuron_names has {len(names)} entries but activity has "
                                 f"{n_n} neurons: they must agree")
    per_trial = {k: _strings(v) for k, v in data.items()
                 if k not in ("activity", "inputs", "lengths", "neuron_names")
                 and np.ndim(v) == 1 and len(v) == n_tr}
    column = "condition" if context is None else context
    if context is not None and context not in per_trial:
        raise RecordingError(f"has no per-trial array {context!r} to use as the context: "
                             "per-trial arrays there are: "
                             + (", ".join(sorted(per_trial)) or "none"))
    if context is None and "condition" in data and "condition" not in per_trial:
        raise RecordingError(f"condition has shape {np.shape(data['condition'])} but activity "
                             f"has {n_tr} trials: expected ({n_tr},)")
    labels = per_trial.get(column)
    if labels is None:
        column = ""
    if "dt_ms" in data:
        file_dt = np.asarray(data["dt_ms"])
        if file_dt.shape != () or file_dt.dtype.kind not in "iuf" or not file_dt > 0:
            raise RecordingError(f"dt_ms is {data['dt_ms']!r}: expected one number > 0 (ms)")
        act, lengths, inputs = _rebin(act, lengths.astype(np.int64), inputs, float(file_dt),
                                      dt_ms, is_counts, "the activity")
    unit = _text(data["unit"]) if "unit" in data else ("spikes/s" if is_counts else "a.u.")
    return _Read(act, is_counts, labels, None, column, lengths, inputs, names, unit,
                 f"{path.name} (arrays)", {k: v for k, v in per_trial.items() if k != column})


# ------------------------------------------------------------------ neurobias run files


def _read_run_file(path: Path, dt_ms: float, context: str | None) -> _Read:
    from .hdf5 import RunFileError, _check_schema

    with h5py.File(path, "r") as f:
        try:
            _check_schema(f, path)
        except RunFileError as err:
            raise RecordingError(str(err).split(": ", 1)[-1]) from None
        if "activity/rates" not in f:
            raise RecordingError("is a run file without /activity/rates (exported with "
                                 "--no-activity): export it again with its activity")
        try:
            rates = f["activity/rates"][()].astype(np.float32)
            inputs = f["trials/inputs"][()].astype(np.float32)
            conds = {k: _strings(v[()]) for k, v in f["trials/conditions"].items()}
            conds["context"] = f["trials/context"][()]
            file_dt = float(f["trials"].attrs["dt_ms"])
            contexts = tuple(_text(c) for c in f["circuit"].attrs["contexts"])
            config = _text(f.attrs.get("config", "{}"))
        except KeyError as err:
            raise RecordingError(f"is an incomplete run file: {err.args[0]}") from None
    n_tr, n_t, _ = rates.shape
    column = context or ("task" if "task" in conds else "context")
    if column not in conds:
        raise RecordingError(f"has no trial condition {column!r} to use as the context: "
                             "conditions there are: " + ", ".join(sorted(conds)))
    names = None
    if column == "context":
        names = contexts
    elif column == "task":
        names = _task_names(config, contexts, conds["task"])
    lengths = conds["length"].astype(np.int64) if "length" in conds \
        else np.full(n_tr, n_t, np.int64)
    rates, lengths, inputs = _rebin(rates, lengths, inputs, file_dt, dt_ms, False,
                                    "the run file's activity")
    return _Read(rates, False, conds[column], names, column, lengths, inputs, (),
                 "rate r (dimensionless)", f"{path.name} (/activity/rates)",
                 {k: v for k, v in conds.items() if k != column})


def _task_names(config_json: str, contexts: tuple[str, ...], task: np.ndarray):
    """Names of the ``task`` indices of a NeuroGym run file (the env's task names)."""
    import json

    env = json.loads(config_json).get("env", {})
    if not env.get("rule_input", False) and len(contexts) > int(task.max()):
        return contexts  # one context per task: the contexts are the task names
    try:  # rule-input runs share one context: the task names come from the env's task list
        from ..envs.neurogym import _expand, task_name

        return tuple(task_name(t) for t in _expand(env["tasks"]))
    except Exception:  # noqa: BLE001 - names are a nicety; indices are used without them
        return None


# ------------------------------------------------------------------ NWB


def _read_nwb(path: Path, dt_ms: float, context: str | None, source: str,
              input_names: tuple[str, ...]) -> _Read:
    import warnings

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
    extra.update(start_time=start, stop_time=stop)
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
