"""Recorded activity as trials: the data a circuit is fitted to.

A ``Recording`` holds activity already cut into trials and binned at one time step, with the
condition of every trial. It is what ``neurobias.envs.RecordingEnv`` (env kind ``recording``)
turns into trial batches. Readers for NWB files, ``.npz``/``.h5`` arrays and neurobias run files
build one (``read_recording``); ``Recording.from_arrays`` builds one from arrays in Python.

Axis order here follows the files, (trial, time, neuron); the env transposes to the library's
(time, trial, ·) when it makes batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import convolve1d

__all__ = ["Recording", "RecordingError", "gaussian_smooth"]

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
