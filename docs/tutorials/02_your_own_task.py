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
# # 2. Your own task, end to end
#
# neurobias ships sine generators, NeuroGym tasks, reaching and recordings, but the question
# you care about is usually a task of your own. A task is an *env*: a subclass of
# `neurobias.envs.Env` that makes batches of trials. This tutorial writes one here in the
# notebook, trains a circuit on it with `nb.fit`, and then runs the same env through the
# run-folder workflow of the command line (a spec, `train_run`, export to HDF5 and NWB,
# loading back), where a spec names it by import path.
#
# The task: a pulse of random sign and size arrives in the first 100 ms; after it, the
# circuit must report the pulse's value in context "follow" and its opposite in context
# "flip", and hold that answer to the end of the trial. The two contexts differ only in the
# tonic input the circuit receives: one random circuit, two rows of learned biases, two
# opposite input-output maps.

# %%
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import neurobias as nb
from neurobias import plot
from neurobias.envs import Env, TrialBatch

FAST = os.environ.get("NEUROBIAS_TUTORIAL_FAST") == "1"
N_UNITS = 64 if FAST else 256
STEPS = 150 if FAST else 1500
WORK = Path(tempfile.mkdtemp(prefix="neurobias_tutorial_02_"))  # everything written goes here
print(f"FAST={FAST}: N={N_UNITS}, {STEPS} steps; writing into {WORK}")

# %% [markdown]
# ## The env
#
# The contract (docs/training.md, "Your own task"):
#
# * attributes `n_inputs`, `n_outputs`, `context_names` (one tonic-input row is learned per
#   context) and, for figures, `output_names`;
# * `__init__(self, dt_ms, ...)`: the circuit's time step arrives as `dt_ms`; every other
#   argument is a setting a spec can give. A bad value raises `ValueError` with one line;
# * `sample(batch_size, generator)` returns a `TrialBatch`: `inputs` (time, trial,
#   n_inputs), `targets` and `mask` (time, trial, n_outputs; mask 0 where a step is not
#   scored), `context` (trial,) and `conditions`, a dict of (trial,) tensors that become the
#   trial table of an export. All randomness comes from `generator`, so a run is
#   reproducible from its seed.
#
# Scoring (`evaluate`), the loss (masked mean squared error) and test trials have defaults:
# `evaluate` reports `r2` and `mse` on 64 held-out trials.

# %%
class ContextSwitch(Env):
    """A pulse of random sign and size; report it (context "follow") or its opposite ("flip").

    Args:
        dt_ms: time step (ms); given by the circuit.
        pulse_ms: length of the input pulse at the start of a trial (ms).
        duration_ms: length of a trial (ms); the answer is scored after the pulse.
    """

    n_inputs = 1
    n_outputs = 1
    context_names = ("follow", "flip")
    output_names = ("answer",)

    def __init__(self, dt_ms: float = 20.0, pulse_ms: float = 100.0, duration_ms: float = 600.0):
        if not 0 < pulse_ms < duration_ms:
            raise ValueError(f"env.pulse_ms={pulse_ms!r} is invalid: must be in (0, duration_ms)")
        self.dt_ms = float(dt_ms)
        self.n_pulse = max(1, round(pulse_ms / dt_ms))
        self.n_steps = max(self.n_pulse + 1, round(duration_ms / dt_ms))

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """Inputs, targets and mask (time, trial, 1); context (trial,); condition ``pulse``."""
        pulse = torch.rand(batch_size, generator=generator) * 2 - 1
        context = torch.randint(0, 2, (batch_size,), generator=generator)
        inputs = torch.zeros(self.n_steps, batch_size, 1)
        inputs[: self.n_pulse, :, 0] = pulse
        answer = torch.where(context == 0, pulse, -pulse)
        targets = answer[None, :, None].expand(self.n_steps, batch_size, 1).clone()
        mask = torch.zeros_like(targets)
        mask[self.n_pulse:] = 1.0
        return TrialBatch(inputs, targets, mask, context, {"pulse": pulse})


env = ContextSwitch(dt_ms=20.0)
batch = env.sample(4, torch.Generator().manual_seed(0))
print("inputs", tuple(batch.inputs.shape), "targets", tuple(batch.targets.shape),
      "context", batch.context.tolist(), "pulse", [round(p, 2) for p in
                                                    batch.conditions["pulse"].tolist()])
try:
    ContextSwitch(pulse_ms=800.0)
except ValueError as err:
    print("a bad setting is one line:", err)

# %% [markdown]
# ## Train it with `nb.fit`
#
# The circuit takes its sizes from the env. Everything else is the bias-only recipe of
# tutorial 1: fixed random weights, a large fixed readout, a little spread in the initial
# tonic inputs; only `biases` (2 x N) and `b_out` learn.

# %%
circuit = nb.CircuitConfig(n_units=N_UNITS, n_inputs=env.n_inputs, n_outputs=env.n_outputs,
                           n_contexts=env.n_contexts, gain=1.0, readout_scale=10.0,
                           bias_init_std=0.1, mode="bias")
net = nb.RateRNN(circuit, seed=0)
train = nb.TrainConfig(steps=STEPS, batch_size=64, lr=1e-2, lr_schedule="cosine",
                       lr_final=1e-3, eval_every=max(STEPS // 10, 1), device="cpu")
history = nb.fit(net, env, train, progress=False)
print(history.message)
print("learned numbers:", net.n_trainable(), "| final:",
      {k: round(v, 4) for k, v in history.final.items()})

# %%
fig = plot.learning_curve(history)
plt.show()

# %% [markdown]
# One trial of each context with the same pulse: the circuit's input is identical, only
# the tonic-input row differs.

# %%
test = env.sample(1, torch.Generator().manual_seed(1))
inputs = test.inputs.expand(-1, 2, -1)  # the same pulse twice
with torch.no_grad():
    out = net(inputs, torch.tensor([0, 1])).outputs[:, :, 0].numpy()
t_ms = 20.0 * np.arange(1, env.n_steps + 1)
pulse = float(test.conditions["pulse"][0])
fig, ax = plt.subplots(figsize=(7, 3), constrained_layout=True)
ax.plot(t_ms, inputs[:, 0, 0], color="0.5", lw=2, label="input pulse")
for c, color in ((0, "tab:blue"), (1, "tab:red")):
    ax.plot(t_ms, out[:, c], color=color, label=f"output, context {env.context_names[c]!r}")
    ax.axhline(pulse if c == 0 else -pulse, color=color, ls="--", lw=0.8)
ax.axvspan(0, 20.0 * env.n_pulse, color="0.93")
ax.set_xlabel("time (ms)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## The same env in a spec
#
# The command line, sweeps and run files need to find the env again in another process, so a
# spec names it by import path, `package.module:Class`. The class above also lives, word for
# word, in `examples/mylab/tasks.py`, and a spec names it as `mylab.tasks:ContextSwitch`. The
# module must be importable: install your own package, or put its folder on `PYTHONPATH`
# (`PYTHONPATH=examples neurobias train spec.toml ...` from the shell). Here, if `mylab` is not
# importable yet, we add the repository's `examples/` folder to `sys.path` for this session.

# %%
if importlib.util.find_spec("mylab") is None:
    sys.path.insert(0, str(Path(nb.__file__).resolve().parents[1] / "examples"))
from mylab.tasks import ContextSwitch as Packaged  # noqa: E402

a = env.sample(8, torch.Generator().manual_seed(3))
b = Packaged(dt_ms=20.0).sample(8, torch.Generator().manual_seed(3))
same = all(torch.equal(getattr(a, k), getattr(b, k)) for k in ("inputs", "targets", "mask",
                                                              "context"))
print("the packaged env draws the same trials from the same generator:", same)

# %%
spec_text = f"""
name = "context_switch"
seed = 0

[circuit]
n_units = {N_UNITS}
gain = 1.0
readout_scale = 10.0
bias_init_std = 0.1

[env]
kind = "mylab.tasks:ContextSwitch"
pulse_ms = 100.0

[train]
steps = {STEPS}
batch_size = 64
lr = 1e-2
lr_schedule = "cosine"
lr_final = 1e-3
eval_every = {max(STEPS // 10, 1)}
checkpoint_every = {max(STEPS // 2, 1)}
device = "cpu"
"""
spec = WORK / "context_switch.toml"
spec.write_text(spec_text)
cfg = nb.load_config(spec)
print(cfg.env, "| circuit sizes from the env:", cfg.circuit.n_inputs, cfg.circuit.n_outputs,
      cfg.circuit.n_contexts)

# %% [markdown]
# A setting the env's constructor does not take is refused before anything runs, with one
# line naming what is allowed (the command line prints it and exits with code 2):

# %%
try:
    nb.load_config(spec, overrides=["env.pulse_width=3"])
except nb.ConfigError as err:
    print(err)

# %% [markdown]
# `train_run` trains into a run folder (`config.json`, `checkpoint.pt`, `history.json`,
# `summary.json`), the same folder `neurobias train` writes. The spec's seed drew the same
# connectivity as `nb.RateRNN(circuit, seed=0)` above, and the trial and noise streams come
# from the same seed, so the result is the same circuit as the `nb.fit` run.

# %%
run_dir = WORK / "context_switch"
run = nb.train_run(cfg, run_dir, progress=False)
print(sorted(p.name for p in run_dir.iterdir()))
print("summary:", {k: v for k, v in run.summary.items() if k in ("r2", "mse", "n_trainable",
                                                                 "seconds")})
print("same biases as the nb.fit run:", torch.equal(run.net.biases.cpu(), net.biases.cpu()))

# %% [markdown]
# ## Export, and load back
#
# `nb.io.export` simulates fresh test trials noise-free and writes one HDF5 file: the
# circuit (every weight, so the file is also a checkpoint), the trials with every condition,
# the activity (trial, time, unit), the history and the provenance (docs/hdf5.md).
# `nb.io.export_nwb` writes the same trials and activity as NWB for the field's tools.
# Loading the file imports `mylab.tasks` again, by the path recorded in it.

# %%
h5 = nb.io.export(run, run_dir / "run.h5", n_trials=32, progress=False)
nwb = nb.io.export_nwb(run, run_dir / "run.nwb", n_trials=32, progress=False)
rf = nb.io.load(h5)
print("env kind in the file:", rf.config.env.kind)
print("activity (trial, time, unit):", rf.activity().shape, "| conditions:",
      sorted(rf.conditions))
print("circuit rebuilt exactly:", all(torch.equal(t, rf.net.state_dict()[k]) for k, t in
                                      run.net.cpu().state_dict().items()))
again = nb.load_run(run_dir)
print("run folder reloaded:", type(again.env).__module__ + "." + type(again.env).__name__)

# %%
from pynwb import NWBHDF5IO  # noqa: E402

with NWBHDF5IO(str(nwb), "r") as io:
    f = io.read()
    trials = f.trials.to_dataframe()
    nwb_rates = f.processing["misc"]["rates"].data[:]
print(trials.head())
print("NWB rates (time, unit):", nwb_rates.shape, "= 32 trials x", env.n_steps, "steps")

# %% [markdown]
# The exported trials scored from the file alone: the learned map is the pulse in context
# "follow" and its opposite in "flip".

# %%
outs = rf.trials["outputs"][:, -1, 0]
pulse = rf.conditions["pulse"]
ctx = rf.trials["context"]
fig, ax = plt.subplots(figsize=(4.2, 3.6), constrained_layout=True)
for c, color in ((0, "tab:blue"), (1, "tab:red")):
    sel = ctx == c
    ax.scatter(pulse[sel], outs[sel], color=color, s=14, label=env.context_names[c])
ax.plot([-1, 1], [-1, 1], "--", color="tab:blue", lw=0.7)
ax.plot([-1, 1], [1, -1], "--", color="tab:red", lw=0.7)
ax.set_xlabel("pulse")
ax.set_ylabel("output at the trial's end")
ax.legend(fontsize=8)
plt.show()

# %%
print(f"final R^2: nb.fit {history.final['r2']:.4f}, train_run {run.summary['r2']:.4f}")
