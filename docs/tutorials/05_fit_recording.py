# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. Fitting a circuit to recorded activity, and exporting to NWB
#
# Can one fixed random circuit, re-purposed only by its tonic drive, produce the activity
# recorded in several conditions? The env kind `recording` turns recorded trials into trial
# batches, so fitting a circuit to data is training like any other (docs/fitting.md): one
# tonic-input row per condition, the rest of the circuit fixed and random.
#
# To know what the right answer is, the "recording" here comes from a *teacher*: a random
# circuit of M = 20 softplus units with planted tonic inputs, one row per condition, and no
# external input, so its conditions differ only by their tonic drive. That is the setting of
# the theorem of Williams et al. (2025) for finite-time dynamics, and docs/fitting.md
# ("Known answer 2") measures it: a bias-only student of *another* seed, with a fixed random
# readout, fits held-out trials to R² 0.976 ± 0.002 at N = 8M and 0.988 ± 0.003 at N = 16M
# (M = 40, 1500 steps, 3 seeds). A real recording is read the same way from NWB, `.npz` or
# `.h5` files (docs/recordings.md), and `tasks/fit_recording.toml` fits the multitask
# circuit's activity (`make demo-fit`).
#
# Here M = 20 and the student has N = 8M = 160 units and trains for 1500 steps: it fits the
# held-out trials to R² 0.98 in about 20 s on one core. With `NEUROBIAS_TUTORIAL_FAST=1` it
# trains 150 steps.

# %%
import os
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import neurobias as nb
from neurobias import analysis as A
from neurobias.plot import compare as plot_compare
from neurobias.plot import fitting as plot_fitting

FAST = os.environ.get("NEUROBIAS_TUTORIAL_FAST") == "1"
M, N_COND, N_STEPS, TRIALS = 20, 4, 50, 20  # neurons, conditions, 20 ms bins, trials each
N_UNITS = 8 * M
STEPS = 150 if FAST else 1500
WORK = Path(tempfile.mkdtemp(prefix="neurobias_tutorial_05_"))
print(f"FAST={FAST}: student N={N_UNITS}, {STEPS} steps; writing into {WORK}")

# %% [markdown]
# ## The recording
#
# The teacher: `nb.RateRNN` with its tonic inputs set by hand, N(0, 1) per unit and
# condition. `nb.io.teacher_recording` runs it noise-free through every condition's trials
# and returns a `Recording` (trial, time, neuron), with the truth beside it. We save the
# recording as arrays, as a lab would hand over a session (`activity`, `condition`, `dt_ms`;
# docs/recordings.md lists what such a file may hold), and read it back with the same reader
# the env uses.

# %%
teacher_cfg = nb.CircuitConfig(n_units=M, n_inputs=0, n_outputs=M, n_contexts=N_COND,
                               tau_ms=100.0, dt_ms=20.0, gain=1.0, activation="softplus")
teacher = nb.RateRNN(teacher_cfg, seed=1000)
with torch.no_grad():
    teacher.biases.copy_(torch.randn(N_COND, M, generator=torch.Generator().manual_seed(1001)))
truth = nb.io.teacher_recording(teacher, trials_per_condition=TRIALS, n_steps=N_STEPS, seed=1002)
rec = truth.recording
session = WORK / "session.npz"
np.savez(session, activity=rec.rates.astype(np.float32),
         condition=np.array(rec.condition_names)[rec.condition], dt_ms=rec.dt_ms)
rec = nb.io.read_recording(session, dt_ms=20.0)
print(rec.rates.shape, "(trial, time, neuron); conditions", rec.condition_names)

# %%
t_ms = 20.0 * np.arange(1, N_STEPS + 1)
fig, axes = plt.subplots(1, 4, figsize=(13, 2.8), constrained_layout=True, sharey=True)
for c, ax in enumerate(axes):
    ax.plot(t_ms, rec.rates[rec.condition == c][0, :, :8], lw=1)
    ax.set_title(f"condition {rec.condition_names[c]}: 8 of {M} neurons", fontsize=9)
    ax.set_xlabel("time (ms)")
axes[0].set_ylabel("rate (a.u.)")
plt.show()

# %% [markdown]
# ## The fit, as a spec
#
# The student is a softplus circuit of seed 0 (the teacher's was 1000: other connectivity).
# `coupling = "readout"`: its readout W_out r + b_out, one output per recorded neuron,
# predicts the neurons; in mode `bias` W_out stays fixed and random, so only the 4 x N tonic
# inputs and the M readout offsets learn. `normalize = "std"` scales each neuron by its
# standard deviation for the loss; predictions and metrics stay in the data's units. A fifth
# of every condition's trials is held out and every metric is computed on them.

# %%
spec = WORK / "fit.toml"
spec.write_text(f"""
name = "fit_teacher"
seed = 0

[circuit]
n_units = {N_UNITS}
tau_ms = 100.0
dt_ms = 20.0
gain = 1.0
activation = "softplus"
mode = "bias"
readout_scale = 1.0
bias_init_std = 0.1

[env]
kind = "recording"
path = "{session.as_posix()}"
coupling = "readout"
normalize = "std"
heldout_trials = 0.2

[train]
steps = {STEPS}
batch_size = 32
lr = 3e-2
lr_schedule = "cosine"
lr_final = 1e-3
eval_every = {max(STEPS // 6, 1)}
checkpoint_every = {STEPS}
device = "cpu"
""")
cfg = nb.load_config(spec)
run = nb.train_run(cfg, WORK / "fit", progress=False)
s = run.summary
print(f"{s['seconds']} s, {s['n_trainable']} learned numbers")
print(f"held-out trials: R^2 {s['r2']:.3f} (median {s['r2_median']:.3f}), "
      f"PSTH R^2 {s['psth_r2_mean']:.3f}, pVar {s['pvar']:.3f}")

# %% [markdown]
# `r2` is the mean over neurons of each neuron's R² on the held-out single trials, `psth_r2`
# the R² of trial averages per condition, `pvar` CURBD's fraction of variance explained
# (docs/fitting.md, "Metrics").
#
# ## Recorded against fitted
#
# The export of a recording run holds, per held-out trial, the recorded activity
# (`targets`) and the circuit's prediction in data units (`outputs`); averaging them per
# condition gives the PSTHs. The figure shows the best, median and worst neuron by R².

# %%
h5 = nb.io.export(run, WORK / "fit" / "run.h5", n_trials=4 * N_COND, progress=False)
rf = nb.io.load(h5)
ctx = rf.trials["context"]
psth_rec = np.stack([rf.trials["targets"][ctx == c].mean(0) for c in range(N_COND)])
psth_fit = np.stack([rf.trials["outputs"][ctx == c].mean(0) for c in range(N_COND)])
# the analysis functions take the library's axis order, (time, trial, neuron)
r2 = A.per_neuron_r2(rf.trials["outputs"].transpose(1, 0, 2),
                     rf.trials["targets"].transpose(1, 0, 2))
fig = plot_fitting.fit_psths(psth_rec, psth_fit, r2, 20.0, condition_names=rec.condition_names)
plt.show()
print(f"per-neuron R^2 on the exported trials: median {np.median(r2):.3f}, "
      f"min {r2.min():.3f}")

# %% [markdown]
# ## Comparing the two populations
#
# The fit scores predictions through a readout. `nb.compare` asks a different question: is
# the student's own population activity (all N units) shaped like the teacher's (M
# neurons)? It averages each condition's trials, matches the two sides step by step and
# condition by condition, and computes shape distances that allow different unit counts
# (Procrustes, CKA, CCA, RSA; docs/analysis.md, "Comparing two activity sets").
# As a reference, the same measures for the student *before* training: the same random
# circuit with its initial tonic inputs.

# %%
comp = nb.compare(session, h5)
print(comp.table())
fig = plot_compare.comparison_figure(comp)
plt.show()

untrained = nb.RateRNN(cfg.circuit, seed=cfg.seed).eval()
with torch.no_grad():
    r0 = untrained(torch.zeros(N_STEPS, N_COND, 0), torch.arange(N_COND)).rates.double()
valid = ~np.isnan(comp.a[..., 0])  # (time, condition): the matched samples
before = A.compare_activity(comp.a[valid], r0.numpy()[valid])  # the same samples, untrained
print(f"Procrustes distance: trained {comp.similarity.procrustes:.3f} rad, "
      f"untrained {before.procrustes:.3f} rad (pi/2 = {np.pi / 2:.3f} for unrelated sets)")

# %% [markdown]
# ## Export to NWB and open it with pynapple
#
# `nb.io.export_nwb` writes the same trials and activity as an NWB file: the circuit's rates
# as a TimeSeries in `processing/misc`, the predictions and the recorded targets beside
# them, the trials table with every condition as a column, and the circuit as provenance
# (docs/hdf5.md, "NWB"). The NWB inspector finds nothing critical in it, and the field's
# tools read it, for instance pynapple:

# %%
import pynapple as nap  # noqa: E402

nwb = nb.io.export_nwb(run, WORK / "fit" / "run.nwb", n_trials=4 * N_COND, progress=False)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pynapple notes the NWB fields it does not convert
    data = nap.load_file(str(nwb))
    rates = data["rates"]  # TsdFrame (time in s, unit)
    trials = data["trials"]  # IntervalSet with the trial columns
print(data)
print(trials)

# %%
names = np.asarray(trials["context_name"])
fig, ax = plt.subplots(figsize=(7, 3), constrained_layout=True)
for c, color in zip(rec.condition_names, plt.cm.tab10.colors, strict=False):
    first = trials[names == c][0]
    piece = rates.restrict(first)
    ax.plot(piece.t - piece.t[0], piece.values[:, 0], color=color, label=c)
ax.set_xlabel("time in trial (s)")
ax.set_ylabel("rate of student unit 0")
ax.legend(fontsize=8, title="condition")
plt.show()
mean_rate = {c: float(np.mean(rates.restrict(trials[names == c]).values)) for c in
             rec.condition_names}
print("mean student rate per condition (pynapple):",
      {k: round(v, 3) for k, v in mean_rate.items()})

# %%
print(f"held-out R^2 {s['r2']:.3f}; Procrustes trained {comp.similarity.procrustes:.3f} vs "
      f"untrained {before.procrustes:.3f}; NWB trials read by pynapple: {len(trials)}")
