"""Recordings simulated from a known circuit (a teacher): data whose answer is known.

A fit to recorded activity can only be judged against the truth when the truth exists. A teacher
circuit with planted per-condition tonic inputs, driven by random inputs that differ from trial
to trial, produces such data: a student fitted to it should recover the teacher's held-out
activity (and, with the teacher's connectivity, its tonic inputs). The same construction checks
a lab's own pipeline before it meets real data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..circuit import RateRNN
from .recordings import Recording, gaussian_smooth

__all__ = ["TeacherData", "teacher_recording"]


@dataclass(frozen=True)
class TeacherData:
    """A simulated recording and the truth behind it.

    Attributes:
        recording: the data as a fit sees it (rates, or counts if Poisson spikes were drawn).
        rates: (trial, time, neuron) the teacher's noise-free rates of the recorded neurons
            (for counts: the expected spikes/s behind each count).
        biases: (condition, unit) the teacher's tonic inputs.
        neurons: the teacher units that were recorded, in recording order.
    """

    recording: Recording
    rates: np.ndarray
    biases: np.ndarray
    neurons: np.ndarray


@torch.no_grad()
def teacher_recording(teacher: RateRNN, *, trials_per_condition: int, n_steps: int,
                      seed: int = 0, input_std: float = 1.0, input_smooth_ms: float = 100.0,
                      neurons=None, spikes: bool = False, peak_rate_hz: float = 30.0
                      ) -> TeacherData:
    """Simulate a recording from ``teacher``: every condition's trials under random inputs.

    Each trial gets its own input, white noise smoothed by a Gaussian of ``input_smooth_ms``
    and scaled to standard deviation ``input_std`` per channel; the teacher runs noise-free
    from its x0, condition c through its tonic-input row b[c]. The inputs go into the recording,
    so a student sees what the teacher saw.

    Args:
        teacher: the circuit whose units are recorded; one condition per context row.
        trials_per_condition: trials of each condition.
        n_steps: time bins per trial (of the teacher's dt_ms).
        seed: seeds the inputs and the spikes.
        input_std: standard deviation of each input channel.
        input_smooth_ms: smoothing (ms, Gaussian sigma) of the input noise; 0 leaves it white.
        neurons: indices of the recorded units (default all).
        spikes: draw Poisson spike counts per bin with mean ``rate * dt``, where each neuron's
            rate is its teacher rate scaled so its largest value is ``peak_rate_hz``.
        peak_rate_hz: see ``spikes``.

    Returns:
        TeacherData; trials are ordered condition by condition.
    """
    c = teacher.config
    dt = c.dt_ms
    n_cond = c.n_contexts
    n_tr = n_cond * trials_per_condition
    gen = torch.Generator().manual_seed(int(seed))
    u = torch.randn(n_tr, n_steps, c.n_inputs, generator=gen).numpy()
    if input_smooth_ms > 0 and c.n_inputs:
        u = gaussian_smooth(u, input_smooth_ms / dt)
        u = u / u.std(axis=(0, 1), keepdims=True).clip(1e-12)
    u = (input_std * u).astype(np.float32)
    context = np.repeat(np.arange(n_cond), trials_per_condition)
    dev = teacher.W_rec.device
    was_training = teacher.training
    teacher.eval()
    roll = teacher(torch.from_numpy(u).transpose(0, 1).to(dev),
                   torch.from_numpy(context).to(dev))
    teacher.train(was_training)
    rates = roll.rates.transpose(0, 1).cpu().numpy()  # (trial, time, unit)
    keep = np.arange(c.n_units) if neurons is None else np.asarray(neurons)
    rates = rates[:, :, keep]
    names = [f"unit{k}" for k in keep]
    cond_names = [f"c{k}" for k in range(n_cond)]
    if spikes:
        peak = rates.max(axis=(0, 1), keepdims=True).clip(1e-12)
        hz = rates / peak * peak_rate_hz
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        counts = rng.poisson(hz * dt / 1000.0).astype(np.float32)
        rec = Recording.from_arrays(counts, dt_ms=dt, condition=np.array(cond_names)[context],
                                    inputs=u, counts=True, neuron_names=names,
                                    source="teacher circuit (Poisson spikes)")
        truth = hz
    else:
        rec = Recording.from_arrays(rates, dt_ms=dt, condition=np.array(cond_names)[context],
                                    inputs=u, neuron_names=names, unit="rate (a.u.)",
                                    source="teacher circuit")
        truth = rates
    return TeacherData(rec, truth.astype(np.float32),
                       teacher.biases.detach().cpu().numpy().copy(), keep)
