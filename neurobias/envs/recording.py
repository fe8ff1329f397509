"""Recorded activity as trial batches: fitting a circuit to data (env kind ``recording``).

A ``RecordingEnv`` turns a ``Recording`` (trials of binned activity with a condition each, read
from NWB, ``.npz``/``.h5`` arrays or a neurobias run file) into trial batches, so that ``fit``,
``neurobias train``, ``export``, ``analyze`` and ``sweep`` fit a circuit to it as they train one
on a task. Each condition is one context (one row of tonic inputs); the recording's inputs are
the circuit's inputs.

How the circuit meets the data (``coupling``):

* ``"units"``: recorded neuron j is unit j of the circuit (the data-constrained convention of
  CURBD, Perich et al. 2020); units M..N-1 are hidden. The prediction of neuron j is
  ``s_j r_j`` (rates, ``loss="mse"``) or ``s_j max(r_j, 1e-6)`` expected spikes per bin
  (``loss="poisson"``), with s_j a fixed per-neuron scale.
* ``"readout"``: the circuit's readout y = W_out r + b_out (M outputs) predicts the neurons:
  ``s_j y_j`` (mse) or ``s_j exp(y_j)`` spikes per bin (poisson, log-rate readout). W_out is
  fixed random in mode ``bias`` and learns in ``bias+readout`` and ``full``.

The scale s_j (``normalize``) is computed once from the training trials: the neuron's largest
absolute value (``"max"``), its standard deviation (``"std"``) or 1 (``"none"``), in the units
of the loss's targets (rates, or counts per bin for the Poisson loss).

Held-out data: a fraction of the trials of every condition (``heldout_trials``) never enters
training; evaluation and export use them. Held-out neurons (``heldout_neurons``) are left out of
the loss; they are predicted from the circuit's rates by a readout fitted on the training trials
only (ridge for rates, Poisson GLM for counts): co-smoothing (Pei et al. 2021).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from ..analysis import fitting as F
from ..circuit import Rollout
from ..errors import ConfigError
from ..io.recordings import Recording, gaussian_smooth
from .batch import Env, TrialBatch

__all__ = ["RecordingEnv"]

LOSSES = ("mse", "poisson")
COUPLINGS = ("units", "readout")
NORMALIZE = ("max", "std", "none")
_CHUNK = 256  # trials simulated at once in evaluation


class RecordingEnv(Env):
    """Recorded trials as an env (see the module docstring).

    Args:
        dt_ms: the circuit's time step (ms); the recording's bins must equal it.
        path: file to read (``.nwb``, ``.npz``, ``.h5``, or a neurobias run file), through
            ``neurobias.io.recordings.read_recording``.
        context: the trial column that is the context (see ``read_recording``).
        source: NWB only: "auto", "units" or "timeseries:NAME".
        smooth_ms: Gaussian smoothing of the rates (ms); counts are never smoothed.
        neurons: which neurons to keep (indices or names); default all.
        inputs: NWB only: names of TimeSeries to use as the circuit's inputs.
        loss: "mse" on rates or "poisson" (negative log-likelihood of the spike counts).
        coupling: "units" (neuron j is unit j) or "readout" (a readout predicts the neurons).
        normalize: per-neuron scale: "max", "std" or "none".
        heldout_trials: fraction of each condition's trials held out (0 <= f < 1); at least one
            trial per condition stays for training.
        heldout_neurons: an integer count, or a fraction in [0, 1), of neurons left out of the
            loss and predicted by co-smoothing.
        split_seed: seed of the choice of held-out trials and neurons.
        top_neurons: keep only this many neurons (after ``neurons``): those whose activity
            varies most in the condition where it varies least (the smallest standard
            deviation over a condition's valid bins, on the training trials only), so that
            every kept neuron has an R^2 in every condition; None keeps all.
        cosmooth_alpha: L2 penalty of the co-smoothing readout (on z-scored rates); None
            chooses it by cross-validation over the training trials (``choose_alpha``).
        recording: a ``Recording`` given in Python instead of ``path``.
    """

    def __init__(self, dt_ms: float = 20.0, path: str | None = None, context: str | None = None,
                 source: str = "auto", smooth_ms: float = 0.0,
                 neurons: tuple[int, ...] | tuple[str, ...] | None = None,
                 inputs: tuple[str, ...] = (), loss: str = "mse", coupling: str = "units",
                 normalize: str = "max", heldout_trials: float = 0.2,
                 heldout_neurons: int | float = 0, split_seed: int = 0,
                 cosmooth_alpha: float | None = None, top_neurons: int | None = None,
                 recording: Recording | None = None):
        for name, value, allowed in (("loss", loss, LOSSES), ("coupling", coupling, COUPLINGS),
                                     ("normalize", normalize, NORMALIZE)):
            if value not in allowed:
                raise ConfigError(f"env.{name}={value!r} is invalid: allowed: "
                                  + ", ".join(allowed))
        if not (isinstance(heldout_trials, (int, float)) and 0 <= heldout_trials < 1):
            raise ConfigError(f"env.heldout_trials={heldout_trials!r} is invalid: must be a "
                              "fraction in [0, 1)")
        if not (isinstance(smooth_ms, (int, float)) and smooth_ms >= 0):
            raise ConfigError(f"env.smooth_ms={smooth_ms!r} is invalid: must be a number >= 0")
        if not (cosmooth_alpha is None
                or isinstance(cosmooth_alpha, (int, float)) and cosmooth_alpha >= 0):
            raise ConfigError(f"env.cosmooth_alpha={cosmooth_alpha!r} is invalid: must be a "
                              "number >= 0")
        self.dt_ms = float(dt_ms)
        rec = self._load(path, recording, context, source, smooth_ms, neurons, inputs)
        if not math.isclose(rec.dt_ms, self.dt_ms, rel_tol=1e-9):
            raise ConfigError(f"the recording has bins of {rec.dt_ms:g} ms but the circuit's "
                              f"dt_ms is {self.dt_ms:g}: they must be equal (set circuit.dt_ms "
                              f"= {rec.dt_ms:g})")
        if loss == "poisson" and rec.counts is None:
            raise ConfigError(f"env.loss='poisson' needs spike counts but {rec.source} holds "
                              "rates only: use loss = \"mse\" or give spikes/counts")
        rng = np.random.default_rng(split_seed)
        self.train_trials, self.test_trials = self._split_trials(rec, heldout_trials, rng)
        if top_neurons is not None:
            rec = _select_neurons(rec, _most_varied(rec, self.train_trials, top_neurons))
        self.recording = rec
        self.loss_kind, self.coupling, self.normalize = loss, coupling, normalize
        self.cosmooth_alpha = None if cosmooth_alpha is None else float(cosmooth_alpha)
        m = rec.n_neurons
        self.n_neurons = m
        self.n_inputs = rec.n_inputs
        self.n_outputs = m
        self.context_names = rec.condition_names
        self.output_names = rec.neuron_names
        self.heldout_neurons = self._pick_neurons(heldout_neurons, m, rng)
        self.heldin_neurons = np.setdiff1d(np.arange(m), self.heldout_neurons)
        # time-major tensors of the whole recording
        self._rates = torch.from_numpy(rec.rates.transpose(1, 0, 2).copy())
        self._targets = (torch.from_numpy(rec.counts.transpose(1, 0, 2).copy())
                         if loss == "poisson" else self._rates)
        self._inputs = torch.from_numpy(rec.inputs.transpose(1, 0, 2).copy())
        self._lengths = torch.from_numpy(rec.lengths)
        self._condition = torch.from_numpy(rec.condition)
        self._valid = torch.arange(rec.n_steps)[:, None] < self._lengths[None, :]  # (time, trial)
        neuron_mask = torch.zeros(m)
        neuron_mask[torch.from_numpy(self.heldin_neurons)] = 1.0
        self._neuron_mask = neuron_mask
        self.scale = self._scale(rec, normalize)  # (neuron,) torch float32

    # ------------------------------------------------------------------ construction

    def _load(self, path, recording, context, source, smooth_ms, neurons, inputs) -> Recording:
        if (path is None) == (recording is None):
            raise ConfigError("env 'recording' needs exactly one of path (a file) or "
                              "recording (a Recording, from Python)")
        if recording is not None:
            if not isinstance(recording, Recording):
                raise ConfigError(f"env.recording must be a Recording, got "
                                  f"{type(recording).__name__}")
            if context is not None or source != "auto" or inputs:
                raise ConfigError("env.context, env.source and env.inputs choose what to read "
                                  "from a file: they are not allowed with recording=")
            rec = recording
            if neurons is not None:
                rec = _select_neurons(rec, neurons)
            if smooth_ms:
                rec = dataclasses.replace(rec, rates=gaussian_smooth(
                    rec.rates, smooth_ms / rec.dt_ms, rec.lengths))
            return rec
        try:
            from ..io.recordings import read_recording
        except ImportError:  # pragma: no cover - the reader lives in io.recordings
            raise ConfigError("reading recordings from files is not available in this "
                              "version of neurobias: pass recording= from Python") from None
        return read_recording(path, dt_ms=self.dt_ms, context=context, source=source,
                              smooth_ms=smooth_ms, neurons=neurons, inputs=inputs)

    @staticmethod
    def _split_trials(rec: Recording, frac: float, rng) -> tuple[np.ndarray, np.ndarray]:
        train, test = [], []
        for c in range(rec.n_conditions):
            idx = np.flatnonzero(rec.condition == c)
            if len(idx) == 0:
                continue
            n_hold = int(round(frac * len(idx)))
            if frac > 0 and len(idx) >= 2:
                n_hold = max(n_hold, 1)
            n_hold = min(n_hold, len(idx) - 1)  # keep one training trial per condition
            perm = rng.permutation(idx)
            test.extend(perm[:n_hold])
            train.extend(perm[n_hold:])
        return np.sort(np.asarray(train, np.int64)), np.sort(np.asarray(test, np.int64))

    @staticmethod
    def _pick_neurons(spec, m: int, rng) -> np.ndarray:
        if isinstance(spec, bool) or not isinstance(spec, (int, float)):
            raise ConfigError(f"env.heldout_neurons={spec!r} is invalid: must be a count or a "
                              "fraction in [0, 1)")
        if isinstance(spec, int):
            k = spec
            if not 0 <= k < m:
                raise ConfigError(f"env.heldout_neurons={spec!r} is invalid: the recording has "
                                  f"{m} neurons; hold out 0..{m - 1} of them")
        else:
            if not 0 <= spec < 1:
                raise ConfigError(f"env.heldout_neurons={spec!r} is invalid: a fraction must be "
                                  "in [0, 1) (or give an integer count)")
            k = min(int(round(spec * m)), m - 1)
        return np.sort(rng.choice(m, size=k, replace=False)).astype(np.int64)

    def _scale(self, rec: Recording, normalize: str) -> torch.Tensor:
        m = rec.n_neurons
        if normalize == "none":
            return torch.ones(m)
        # the rate-like data in the units of the loss's targets (counts per bin for poisson)
        x = rec.rates[self.train_trials].astype(np.float64)
        if self.loss_kind == "poisson":
            x = x * rec.dt_ms / 1000.0
        valid = np.arange(rec.n_steps)[None, :] < rec.lengths[self.train_trials][:, None]
        v = x[valid]  # (bin, neuron)
        s = np.abs(v).max(0) if normalize == "max" else v.std(0)
        s = np.where(s > 1e-12, s, 1.0)
        return torch.from_numpy(s.astype(np.float32))

    # ------------------------------------------------------------------ contract

    def check_circuit(self, net) -> None:
        """Refuse a circuit that cannot be coupled to the recording (before training)."""
        if self.coupling == "units" and net.n_units < self.n_neurons:
            raise ConfigError(f"circuit.n_units={net.n_units} is too small for coupling="
                              f"'units': the recording has {self.n_neurons} neurons and each "
                              f"needs its own unit; use n_units >= {self.n_neurons} or "
                              "env.coupling = \"readout\"")

    def describe(self) -> str:
        return (f"RecordingEnv({self.recording.source}: {self.n_neurons} neurons, "
                f"{len(self.train_trials)} training / {len(self.test_trials)} held-out trials, "
                f"{self.n_contexts} conditions)")

    def _batch(self, idx: torch.Tensor) -> TrialBatch:
        mask = (self._valid[:, idx, None].float() * self._neuron_mask)
        return TrialBatch(inputs=self._inputs[:, idx], targets=self._targets[:, idx],
                          mask=mask, context=self._condition[idx],
                          conditions={"trial": idx.clone(), "length": self._lengths[idx]})

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """``batch_size`` training trials, without replacement while there are enough."""
        pool = torch.from_numpy(self.train_trials)
        if batch_size <= len(pool):
            pick = torch.randperm(len(pool), generator=generator)[:batch_size]
        else:
            pick = torch.randint(len(pool), (batch_size,), generator=generator)
        return self._batch(pool[pick])

    @property
    def eval_trials(self) -> np.ndarray:
        """The trials scored by ``evaluate``: the held-out trials (training trials if none)."""
        return self.test_trials if len(self.test_trials) else self.train_trials

    def test_batch(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """``batch_size`` held-out trials in a random order (repeated when asked for more)."""
        pool = torch.from_numpy(self.eval_trials)
        reps = -(-batch_size // len(pool))
        pick = torch.cat([torch.randperm(len(pool), generator=generator) for _ in range(reps)])
        return self._batch(pool[pick[:batch_size]])

    def eval_batch(self, generator: torch.Generator) -> TrialBatch:
        """All held-out trials, in recording order."""
        return self._batch(torch.from_numpy(self.eval_trials))

    def predict(self, rollout: Rollout) -> torch.Tensor:
        """The circuit's prediction of every neuron in data units from its rollout, before
        co-smoothing: (time, trial, neuron) rates (mse) or expected counts per bin (poisson)."""
        s = self.scale.to(rollout.rates.device)
        if self.coupling == "units":
            z = rollout.rates[..., : self.n_neurons]
            return s * (z if self.loss_kind == "mse" else z.clamp_min(1e-6))
        y = rollout.outputs
        return s * (y if self.loss_kind == "mse" else torch.exp(y.clamp(max=20.0)))

    def loss(self, outputs: torch.Tensor, batch: TrialBatch) -> torch.Tensor:
        """Masked loss of predictions in data units: mean squared error of the scaled rates
        (mse), or half the Poisson deviance per bin, lam - k - k log(lam / k) (poisson, >= 0;
        the negative log-likelihood up to a term that does not depend on lam)."""
        w = batch.mask
        if self.loss_kind == "mse":
            s = self.scale.to(outputs.device)
            err = ((outputs - batch.targets) / s) ** 2
        else:
            k = batch.targets
            lam = outputs.clamp_min(1e-12)
            err = lam - k - torch.xlogy(k, lam) + torch.xlogy(k, k)
        return (err * w).sum() / w.sum().clamp_min(1e-12)

    def training_loss(self, net, batch: TrialBatch,
                      noise: torch.Generator | None = None) -> torch.Tensor:
        out = net(batch.inputs, batch.context, noise=noise)
        return self.loss(self.predict(out), batch)

    def run(self, net, batch: TrialBatch, return_states: bool = False) -> Rollout:
        """The noise-free rollout whose ``outputs`` are the predicted activity in data units
        (held-out neurons through the co-smoothing readout fitted on training trials)."""
        roll = net(batch.inputs, batch.context, return_states=return_states)
        pred = self.predict(roll)
        if len(self.heldout_neurons):
            w, b = self.cosmoothing_readout(net)
            pred = pred.clone()
            pred[..., torch.from_numpy(self.heldout_neurons).to(pred.device)] = torch.from_numpy(
                self._cosmooth_predict(roll.rates.detach().cpu().numpy(), w, b)).to(pred)
        return Rollout(pred, roll.rates, roll.states)

    # ------------------------------------------------------------------ co-smoothing

    @torch.no_grad()
    def _simulate(self, net, trials: np.ndarray):
        """Yield (trial indices, rollout on CPU) for ``trials`` in chunks, noise-free."""
        dev = net.W_rec.device
        for start in range(0, len(trials), _CHUNK):
            idx = torch.from_numpy(trials[start:start + _CHUNK])
            batch = self._batch(idx).to(dev)
            roll = net(batch.inputs, batch.context)
            yield idx, Rollout(roll.outputs.cpu(), roll.rates.cpu(), None)

    def cosmoothing_readout(self, net) -> tuple[np.ndarray, np.ndarray]:
        """The readout from the circuit's rates to the held-out neurons, fitted on the training
        trials only: ridge on rates (mse) or a Poisson GLM on counts (poisson).

        Returns:
            W (unit, held-out neuron) and b (held-out neuron,), float64.
        """
        # the readout depends only on the circuit's state: fitted once per state, not again
        # for each export chunk or for analyze's predictions and evaluation of the same circuit
        # (a parameter's _version counts its in-place changes: optimiser steps, loading)
        key = (id(net), tuple((id(p), p._version) for p in net.parameters()))
        if getattr(self, "_readout_cache", (None,))[0] == key:
            return self._readout_cache[1]
        readout = self._fit_cosmoothing_readout(net)
        self._readout_cache = (key, readout)
        return readout

    def _fit_cosmoothing_readout(self, net) -> tuple[np.ndarray, np.ndarray]:
        out = self.heldout_neurons
        xs, ys, gs = [], [], []
        for idx, roll in self._simulate(net, self.train_trials):
            v = self._valid[:, idx]
            xs.append(roll.rates[v].double().numpy())
            ys.append(self._targets[:, idx][v][:, torch.from_numpy(out)].double().numpy())
            gs.append(idx[None, :].expand_as(v)[v].numpy())
        x, y, groups = np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)
        poisson = self.loss_kind == "poisson"
        alpha = self.cosmooth_alpha
        if alpha is None:
            alpha = F.choose_alpha(x, y, groups, poisson=poisson)
        self.cosmooth_alpha_used = alpha
        if not poisson:
            return F.fit_ridge(x, y, alpha)
        return F.fit_poisson_glm(x, y, alpha)

    def _cosmooth_predict(self, rates_tbn: np.ndarray, w, b) -> np.ndarray:
        if self.loss_kind == "mse":
            return F.predict_linear(rates_tbn, w, b).astype(np.float32)
        return F.predict_poisson(rates_tbn, w, b).astype(np.float32)

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def predictions(self, net, trials: np.ndarray | None = None) -> np.ndarray:
        """(time, trial, neuron) predicted activity in data units of ``trials`` (default the
        evaluation trials), held-out neurons by co-smoothing."""
        trials = self.eval_trials if trials is None else np.asarray(trials, np.int64)
        has_out = len(self.heldout_neurons) > 0
        w, b = self.cosmoothing_readout(net) if has_out else (None, None)
        parts = []
        for _, roll in self._simulate(net, trials):
            pred = self.predict(roll).double().numpy()
            if has_out:
                pred[..., self.heldout_neurons] = self._cosmooth_predict(roll.rates.numpy(), w, b)
            parts.append(pred)
        return np.concatenate(parts, axis=1)

    @torch.no_grad()
    def evaluate(self, net, generator: torch.Generator) -> dict[str, float]:
        """Scores on the held-out trials, in data units (see docs/fitting.md):

        ``r2`` (mean per-neuron R^2 of the held-in neurons), ``r2_median``, ``pvar`` (CURBD),
        ``psth_r2/<condition>`` and ``psth_r2_mean``, ``loss_test``; with held-out neurons
        ``r2_heldout_neurons`` (their mean R^2 by co-smoothing); for counts also ``bps`` (bits
        per spike of the held-in neurons) and ``co_bps`` (of the held-out neurons).
        """
        trials = self.eval_trials
        pred = self.predictions(net, trials)  # (time, trial, neuron) data units
        valid = self._valid[:, torch.from_numpy(trials)].numpy()
        data = self._rates[:, torch.from_numpy(trials)].double().numpy()
        rate_pred = pred * (1000.0 / self.dt_ms) if self.loss_kind == "poisson" else pred
        cond = self._condition[torch.from_numpy(trials)].numpy()
        hin, hout = self.heldin_neurons, self.heldout_neurons
        r2 = F.per_neuron_r2(rate_pred[..., hin], data[..., hin], valid)
        out = {"r2": _nanmean(r2), "r2_median": float(np.nanmedian(r2)) if np.isfinite(r2).any()
               else float("nan"),
               "pvar": _or_nan(F.pvar, rate_pred[..., hin], data[..., hin], valid)}
        pr2 = F.psth_r2(rate_pred[..., hin], data[..., hin], cond, self.n_contexts, valid)
        for name, v in zip(self.context_names, pr2, strict=True):
            out[f"psth_r2/{name}"] = float(v)
        out["psth_r2_mean"] = _nanmean(pr2)
        batch = self._batch(torch.from_numpy(trials))
        out["loss_test"] = float(self.loss(torch.from_numpy(pred).float(), batch))
        if len(hout):
            out["r2_heldout_neurons"] = _nanmean(
                F.per_neuron_r2(rate_pred[..., hout], data[..., hout], valid))
        if self.loss_kind == "poisson":
            counts = self._targets[:, torch.from_numpy(trials)].double().numpy()
            out["bps"] = _or_nan(F.bits_per_spike, pred[..., hin], counts[..., hin], valid)
            if len(hout):
                out["co_bps"] = _or_nan(F.bits_per_spike, pred[..., hout], counts[..., hout],
                                        valid)
        return out


def _or_nan(metric, *args) -> float:
    """``metric(*args)``, or NaN where it is undefined (flat data, no spikes in the scored
    bins): an evaluation during training must not stop it."""
    try:
        return metric(*args)
    except ValueError:
        return float("nan")


def _nanmean(x) -> float:
    x = np.asarray(x, np.float64)
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def _select_neurons(rec: Recording, neurons) -> Recording:
    """``rec`` restricted to ``neurons`` (indices or names), in the order given."""
    names = list(rec.neuron_names)
    idx = []
    for n in neurons:
        if isinstance(n, str):
            if n not in names:
                more = ", ..." if len(names) > 5 else ""
                raise ConfigError(f"env.neurons: no neuron named {n!r} in the recording "
                                  f"(names: {', '.join(names[:5])}{more})")
            idx.append(names.index(n))
        else:
            if not 0 <= int(n) < rec.n_neurons:
                raise ConfigError(f"env.neurons: index {n} is out of range: the recording has "
                                  f"{rec.n_neurons} neurons (0..{rec.n_neurons - 1})")
            idx.append(int(n))
    if not idx:
        raise ConfigError("env.neurons is empty: keep at least one neuron")
    idx = np.asarray(idx)
    return dataclasses.replace(
        rec, rates=rec.rates[..., idx],
        counts=None if rec.counts is None else rec.counts[..., idx],
        neuron_names=tuple(names[i] for i in idx))


def _most_varied(rec: Recording, trials: np.ndarray, k) -> list[int]:
    """The ``k`` neurons whose activity varies most in the condition where it varies least, on
    ``trials`` (standard deviation over each condition's valid bins), in recording order."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= rec.n_neurons:
        raise ConfigError(f"env.top_neurons={k!r} is invalid: must be an integer from 1 to the "
                          f"recording's {rec.n_neurons} neurons")
    valid = np.arange(rec.n_steps)[None, :] < rec.lengths[:, None]  # (trial, time)
    sd = np.full(rec.n_neurons, np.inf)
    for c in range(rec.n_conditions):
        rows = trials[rec.condition[trials] == c]
        if len(rows):
            bins = rec.rates[rows][valid[rows]]  # (bin, neuron)
            sd = np.minimum(sd, bins.std(0))
    return sorted(np.argsort(-sd, kind="stable")[:k].tolist())
