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
# # 4. Center-out reaching, closed loop, by tonic inputs alone
#
# The motor task of Williams et al. (ICLR 2025), on the paradigm motor neuroscience has
# studied since Georgopoulos et al. (1982): a hand rests at the center; a target appears
# 10 cm away in one of 8 directions; after a random delay a go cue comes on and the hand
# must reach the target and hold there. The circuit's readout is the force on a point mass
# (the hand), and the hand's position and velocity come back to the circuit as inputs,
# 40 ms late: circuit and plant form a closed loop, and training differentiates through the
# plant. As before, only the tonic inputs (and the output bias) learn. Catch trials (no go
# cue) test that the hand stays put, and 8 *held-out* directions midway between the trained
# ones test whether the circuit generalises.
#
# **Reduced recipe.** The full experiment is `tasks/center_out.toml` (N = 512, 2000 steps,
# about 13 minutes on a shared core; docs/reaching.md gives its results: 0.33 cm endpoint
# error on trained targets, 1.33 cm on held-out ones). Here the same spec trains N = 256 for
# 1000 steps, about two minutes on one core, and reaches 0.72 cm on trained and 1.64 cm on
# held-out targets (the N = 256 probe row of docs/reaching.md); with
# `NEUROBIAS_TUTORIAL_FAST=1`, N = 64 for 40 steps, which only shows the mechanics.
# Closed-loop training is many small operations per time step: run it with one torch
# thread (`OMP_NUM_THREADS=1`, docs/reaching.md).

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import neurobias as nb
from neurobias.analysis import reaching as R
from neurobias.envs.reaching.task import INPUT_NAMES
from neurobias.plot import reaching as plot_reaching

FAST = os.environ.get("NEUROBIAS_TUTORIAL_FAST") == "1"
N_UNITS = 64 if FAST else 256
STEPS = 40 if FAST else 1000
REPO = Path(nb.__file__).resolve().parents[1]  # the source checkout: tasks/ lives there
WORK = Path(tempfile.mkdtemp(prefix="neurobias_tutorial_04_"))
print(f"FAST={FAST}: N={N_UNITS}, {STEPS} steps; writing into {WORK}")

# %% [markdown]
# ## The spec and one trial
#
# `tasks/center_out.toml` asks for a lower recurrent gain (0.8) than the cognitive tasks:
# that is what made held-out targets work (docs/reaching.md, "What the recipe rests on").

# %%
cfg = nb.load_config(REPO / "tasks" / "center_out.toml", overrides=[
    f"circuit.n_units={N_UNITS}", f"train.steps={STEPS}",
    f"train.eval_every={max(STEPS // 10, 1)}", f"train.checkpoint_every={STEPS}",
    "train.device=cpu"])
env = cfg.env.build(cfg.circuit.dt_ms)
print(env.describe())
trial = env.test_batch(1, torch.Generator().manual_seed(0))
c = trial.conditions
print(f"target at {float(c['angle_deg'][0]):.0f} deg, go cue at step {int(c['go_step'][0])} "
      f"({int(c['go_step'][0]) * cfg.circuit.dt_ms:.0f} ms), {trial.n_steps} steps")

# %% [markdown]
# The circuit's 7 inputs: the target's position and the go cue come from the task; the
# hand's delayed position and velocity come from the plant, so they only exist once the
# circuit runs the loop. Before training the hand drifts wherever the random circuit pushes
# it:

# %%
net0 = nb.RateRNN(cfg.circuit, seed=cfg.seed).eval()
with torch.no_grad():
    roll0 = env.rollout(net0, trial)
untrained = env.evaluate(net0, torch.Generator().manual_seed(123))
print(f"untrained: endpoint error {untrained['endpoint_error_trained_cm']:.1f} cm (trained "
      f"targets), {untrained['endpoint_error_heldout_cm']:.1f} cm (held-out)")
t_ms = cfg.circuit.dt_ms * np.arange(1, trial.n_steps + 1)


def show_inputs(roll, title):
    """The 7 inputs of the first trial of ``roll`` against time."""
    fig, ax = plt.subplots(figsize=(8, 3.2), constrained_layout=True)
    for k, name in enumerate(INPUT_NAMES):
        ax.plot(t_ms, roll.inputs[:, 0, k], lw=1.2, label=name, ls="-" if k < 3 else "--")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("input (units of the radius)")
    ax.set_title(f"inputs of one trial, {title} (dashed: feedback from the hand)", fontsize=9)
    ax.legend(fontsize=7, ncols=4)
    plt.show()


show_inputs(roll0, "untrained circuit")

# %% [markdown]
# ## Training
#
# `fit` calls the env's `training_loss`, which for reaching runs circuit and plant together
# and scores the hand: distance to the target after the go cue, velocity and force while
# holding, stillness before the go cue and on catch trials, and a small effort cost
# (docs/reaching.md, "The loss").

# %%
run = nb.train_run(cfg, WORK / "center_out", progress=False)
net = run.net.cpu().eval()
s = run.summary
print(f"{s['seconds']} s, {s['n_trainable']} learned numbers")
for key in ("endpoint_error_trained_cm", "endpoint_error_heldout_cm", "success_rate_trained",
            "success_rate_heldout", "catch_false_start_rate", "early_start_rate"):
    print(f"  {key:28s} {s[key]:.3f}")

# %%
fig = plot_reaching.reach_learning_curve(run.history)
plt.show()

# %% [markdown]
# The same trial as above, now with the trained circuit: the hand waits for the go cue,
# then moves to the target (x = 1 radius) and settles near it.

# %%
with torch.no_grad():
    show_inputs(env.rollout(net, trial), "trained circuit")

# %% [markdown]
# ## Hand trajectories
#
# Fresh noise-free trials: 4 per trained and per held-out direction, and catch trials
# (`eval_batch`). Trained directions are drawn solid, held-out ones dashed, catch trials
# grey; circles are the 2 cm target windows.

# %%
batch = env.eval_batch(torch.Generator().manual_seed(123))
with torch.no_grad():
    roll = env.rollout(net, batch, return_rates=True)
c = batch.conditions
pos_cm = 100.0 * roll.pos_m.numpy()  # (time, trial, 2), relative to the center
targets_cm = env.target_positions_cm(c["angle_deg"].numpy())
fig = plot_reaching.reach_trajectories(pos_cm, c["angle_deg"], c["heldout"], targets_cm,
                                       env.window_cm, catch=c["catch"],
                                       title="bias-only circuit, point mass")
plt.show()

# %% [markdown]
# Speed aligned on the go cue: a reach learned by a motor system is bell-shaped, with one
# peak (Flash & Hogan 1985).

# %%
reach = ~c["catch"].numpy()
speed = R.speed(pos_cm[:, reach], env.dt_ms)  # (time, trial) cm/s
fig = plot_reaching.speed_profiles(speed, c["go_step"].numpy()[reach],
                                   c["angle_deg"].numpy()[reach], c["heldout"].numpy()[reach],
                                   env.dt_ms)
plt.show()

# %% [markdown]
# ## Reaching metrics
#
# `env.evaluate` scores trials with the functions of `neurobias.analysis.reaching`
# (docs/reaching.md, "Scores"): endpoint error over the hold period, success (inside the
# window from the end of the reach to the end of the trial), false starts on catch trials,
# reaction and movement times from the speed profile, peak speed, deviation from the
# straight path, initial direction error and the share of single-peaked speed profiles.
# Each is also a plain function of hand positions, e.g. the endpoint error per trial:

# %%
scores = env.evaluate(net, torch.Generator().manual_seed(123))
for key, value in scores.items():
    print(f"  {key:28s} {value:8.3f}")
err = R.endpoint_error(pos_cm[:, reach], targets_cm[reach], env.hold)  # (trial,) cm; hold steps
held = c["heldout"].numpy()[reach]
print(f"endpoint error per trial: trained median {np.median(err[~held]):.2f} cm, "
      f"held-out median {np.median(err[held]):.2f} cm")
crit = R.steps_to_criterion(run.history.evals, trained_cm=1.0, heldout_cm=2.0)
print("first evaluation with <= 1 cm trained and <= 2 cm held-out:",
      f"step {crit}" if crit is not None else "not reached")

# %% [markdown]
# ## The activity
#
# The circuit's rates during the reaches, averaged per target direction (over trials with
# different delays, not aligned on the go cue) and projected on their top two principal
# components. There is one tonic-input vector for all targets: the direction reaches the
# circuit through the target inputs and the loop, and the tonic input sets the dynamics
# that turn it into a reach.

# %%
rates = roll.rates.double().numpy()[:, reach]
angle = c["angle_deg"].numpy()[reach]
means, directions = nb.analysis.condition_average(rates, angle)
pc = nb.analysis.pca(means, n_components=3)
cmap = plt.get_cmap("hsv")
fig, ax = plt.subplots(figsize=(4.8, 4.2), constrained_layout=True)
for k, a in enumerate(directions):
    p = pc.transform(means[:, k])
    ax.plot(p[:, 0], p[:, 1], color=cmap((a % 360) / 360.0), lw=1,
            ls="--" if a % 45 else "-")
ax.set_xlabel(f"PC1 ({pc.explained[0]:.0%})")
ax.set_ylabel(f"PC2 ({pc.explained[1]:.0%})")
ax.set_title("mean rates per direction (dashed: held-out)", fontsize=9)
plt.show()

# %%
print(f"endpoint error: trained {s['endpoint_error_trained_cm']:.2f} cm, held-out "
      f"{s['endpoint_error_heldout_cm']:.2f} cm; untrained circuit "
      f"{untrained['endpoint_error_trained_cm']:.2f} cm; catch false starts "
      f"{s['catch_false_start_rate']:.2f}")
