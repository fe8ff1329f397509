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
# # 1. A first circuit: a sine generator that learns only its tonic inputs
#
# A neurobias circuit is a leaky rate network. Its state x (one number per unit) follows
#
#     x[t+1] = (1 - alpha) x[t] + alpha (W_rec phi(x[t]) + W_in u[t] + b[c])
#     y[t]   = W_out phi(x[t+1]) + b_out
#
# with alpha = dt / tau, phi the activation (relu here), u the inputs and y the readout.
# W_rec, W_in and W_out are drawn once at random and **never change**. What learns is b[c],
# the *tonic input* each unit receives in context c: a constant drive, the way a
# neuromodulator or a top-down signal shifts a population's excitability without touching
# its synapses (plus the readout offset b_out).
#
# Williams et al., "Expressivity of Neural Networks with Random Weights and Learned Biases"
# (ICLR 2025) prove that this is enough: with the weights fixed at random, learning the
# biases alone can approximate any function and any finite-time dynamics, given enough
# units. This tutorial checks the claim on the smallest example: a circuit with **no input
# at all** must produce two periods of a 500 ms sine wave from rest, only by choosing its
# tonic inputs.
#
# The settings are those of `tasks/sine.toml` (`make demo-sine` trains it from the shell).
# With `NEUROBIAS_TUTORIAL_FAST=1` (what the test suite sets) the circuit trains for only a
# few hundred steps, enough to run the notebook, not to learn the sine well.

# %%
import dataclasses
import os

import matplotlib.pyplot as plt
import numpy as np
import torch

import neurobias as nb
from neurobias import plot

FAST = os.environ.get("NEUROBIAS_TUTORIAL_FAST") == "1"
STEPS = 400 if FAST else 4000  # tasks/sine.toml trains 4000 steps
print(f"neurobias {nb.__version__}, FAST={FAST}, {STEPS} training steps")

# %% [markdown]
# ## The circuit and the task
#
# `CircuitConfig` holds every setting of the circuit (times in ms). Two settings matter for
# learning by biases alone (docs/training.md):
#
# * `readout_scale = 10`: the fixed readout W_out has entries of variance 10² / N. With the
#   usual 1 / N the output is too small for any choice of biases to move it.
# * `bias_init_std = 0.1`: relu units whose input is exactly 0 sit at the kink and pass no
#   gradient; a little spread in the initial tonic inputs avoids that.
#
# `mode = "bias"` (the default) says what learns. The seed fixes the random connectivity:
# the same seed gives the same weights, bitwise.

# %%
circuit = nb.CircuitConfig(
    n_units=512, n_inputs=1, n_outputs=1, tau_ms=100.0, dt_ms=20.0, gain=1.0,
    weights="gaussian", activation="relu", mode="bias", readout_scale=10.0, bias_init_std=0.1)
net = nb.RateRNN(circuit, seed=0)
env = nb.envs.SineGenerator(dt_ms=20.0, period_ms=500.0, duration_ms=1000.0)
batch = env.sample(1, torch.Generator().manual_seed(0))
print("inputs (time, trial, input):", tuple(batch.inputs.shape), "all zero:",
      bool((batch.inputs == 0).all()))
print("targets (time, trial, output):", tuple(batch.targets.shape))

# %% [markdown]
# ## What is trainable
#
# In bias mode the weights are registered as *buffers*: tensors that belong to the circuit
# (they are saved, moved to the GPU, exported) but are not parameters, so no optimiser ever
# sees them. Only `biases` (one row of N tonic inputs per context; this task has one context)
# and `b_out` are parameters.

# %%
print("trainable:", net.trainable_names)
for name, p in net.named_parameters():
    print(f"  parameter {name:7s} {tuple(p.shape)}")
for name, b in net.named_buffers():
    print(f"  buffer    {name:10s} {tuple(b.shape)}")
n_weights = sum(b.numel() for name, b in net.named_buffers() if name.startswith("W_"))
print(f"learned numbers: {net.n_trainable()} (N + 1 = {circuit.n_units + 1}); "
      f"fixed weights: {n_weights}")

full = nb.RateRNN(dataclasses.replace(circuit, mode="full"), seed=0)
print(f"the same circuit with every weight learning ('full'): {full.n_trainable()} numbers")

# %% [markdown]
# Before training, the circuit's output has nothing to do with the sine:

# %%
with torch.no_grad():
    before = net(batch.inputs, batch.context).outputs
fig = plot.outputs_vs_targets(before, batch.targets, dt_ms=20.0, title="before training")
plt.show()

# %% [markdown]
# ## Training
#
# `nb.fit` runs Adam on the trainable tensors only. We keep a copy of every buffer and of
# the initial biases, to check afterwards that the weights did not move by a single bit.
# The trial is deterministic (no input, no noise), so a batch of one trial is enough.

# %%
weights_before = {name: b.clone() for name, b in net.named_buffers()}
biases_before = net.biases.detach().clone()
train = nb.TrainConfig(steps=STEPS, batch_size=1, lr=1e-2, lr_schedule="cosine", lr_final=1e-3,
                       eval_every=max(STEPS // 8, 1), device="cpu")
history = nb.fit(net, env, train, progress=False)
print(history.message)
print({k: round(v, 4) for k, v in history.final.items()})

# %%
unchanged = {name: torch.equal(weights_before[name], b) for name, b in net.named_buffers()}
print("buffers bitwise unchanged:", unchanged)
assert all(unchanged.values())
moved = (net.biases.detach() - biases_before).abs()
print(f"tonic inputs moved by {moved.mean():.3f} on average (largest {moved.max():.3f})")

# %%
fig = plot.learning_curve(history)
plt.show()

# %% [markdown]
# ## What the circuit does now
#
# The same circuit, the same weights, a different tonic drive: the output follows the sine.

# %%
with torch.no_grad():
    after = net(batch.inputs, batch.context)
fig = plot.outputs_vs_targets(after.outputs, batch.targets, dt_ms=20.0,
                              title="after training: tonic inputs only")
plt.show()

# %% [markdown]
# The learned tonic inputs, against their random initial values, and what the active units
# do: the biases decide which units are active (a relu unit whose tonic input keeps it
# below threshold stays silent) and, through the fixed recurrent weights, how the active
# ones move together. The right panel shows each active unit's rate change per step, units
# sorted by when they rise fastest: units are recruited one after another over the whole
# second, so the circuit passes through a sequence of different sets of active units, and
# the fixed readout of that sequence is the sine.

# %%
b0 = biases_before[0].numpy()
b1 = net.biases.detach()[0].numpy()
rates = after.rates[:, 0].numpy()  # (time, unit)
active = (rates > 0).any(0)
t_ms = 20.0 * np.arange(1, rates.shape[0] + 1)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), constrained_layout=True)
axes[0].hist(b0, bins=40, alpha=0.6, label="initial")
axes[0].hist(b1, bins=40, alpha=0.6, label="learned")
axes[0].set_xlabel("tonic input b")
axes[0].set_ylabel("units")
axes[0].legend()
axes[1].scatter(b0, b1, s=4, c=np.where(active, "tab:blue", "0.7"))
axes[1].set_xlabel("initial b")
axes[1].set_ylabel("learned b")
axes[1].set_title(f"{active.sum()} of {len(b1)} units active (blue)", fontsize=9)
wiggle = rates[1:] - rates[:-1]  # (time - 1, unit): how each active unit's rate changes
wiggle = wiggle[:, active] / np.abs(wiggle[:, active]).max(0).clip(1e-12)
order = np.argsort(np.argmax(wiggle, 0))  # units by the time their rate rises fastest
im = axes[2].imshow(wiggle[:, order].T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                    extent=(t_ms[0], t_ms[-1], active.sum(), 0), interpolation="nearest")
axes[2].set_xlabel("time (ms)")
axes[2].set_ylabel("active units (sorted)")
axes[2].set_title("rate change per step, each unit scaled to its largest", fontsize=9)
fig.colorbar(im, ax=axes[2], shrink=0.8)
plt.show()

# %% [markdown]
# ## A finite-time trajectory
#
# The theorem promises a trajectory for a finite time, not a sustained oscillation. Run the
# trained circuit for three seconds instead of one: past the trained second the
# oscillation dies out. docs/training.md looks at why for this recipe: only part of the
# units are active along the trained trajectory, and every linearisation the circuit
# visits there decays.

# %%
with torch.no_grad():
    longer = net(torch.zeros(150, 1, 1), 0).outputs[:, 0, 0].numpy()
t_long = 20.0 * np.arange(1, 151)
fig, ax = plt.subplots(figsize=(7, 2.8), constrained_layout=True)
ax.plot(t_long, np.sin(2 * np.pi * t_long / 500.0), "--", color="0.6", label="sine")
ax.plot(t_long, longer, color="tab:blue", label="circuit")
ax.axvspan(0, 1000, color="0.93", label="trained")
ax.set_xlabel("time (ms)")
ax.legend(fontsize=8, loc="upper right")
plt.show()
late = longer[100:]
print(f"peak-to-peak output in the trained second: {np.ptp(longer[:50]):.2f}, "
      f"in the third second: {np.ptp(late):.2f}")

# %% [markdown]
# ## Summary
#
# A random circuit whose 262,144 recurrent weights never changed produces the sine through
# its 513 learned numbers. The same holds for other targets (`tasks/vanderpol.toml`,
# `tasks/lorenz.toml`) and, next, for tasks of your own (tutorial 2).

# %%
r2 = history.final["r2"]
print(f"final R^2 = {r2:.4f} with {net.n_trainable()} learned numbers; weights unchanged: "
      f"{all(unchanged.values())}")
