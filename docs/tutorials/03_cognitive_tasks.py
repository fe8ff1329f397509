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
# # 3. Eight cognitive tasks in one circuit, and what the circuit does with them
#
# One circuit with fixed random connectivity learns eight cognitive tasks from NeuroGym
# (perceptual decision making, go/no-go, delayed match-to-sample and five tasks of Yang et
# al. 2019). Every task reaches the circuit only as its own tonic-input vector, a row of
# `biases`: the inputs, the recurrent weights and the readout are the same random matrices
# for all eight. Then we ask what the tonic inputs did to the circuit, with the analyses of
# Yang et al. (2019) and Williams et al. (2025): task variance, selectivity clusters, the
# relation between a unit's tonic input and its selectivity, lesions and fixed points.
#
# **Reduced recipe.** The full experiment is `tasks/multitask.toml` (N = 512 units, 3000
# steps; `make demo` trains and analyses it, about 4 minutes on 2 cores, and
# docs/multitask.md and docs/analysis.md give its results). To stay within a few minutes on
# one core this notebook trains the same spec at N = 256 for 1500 steps. That learns the
# easier tasks and part of the harder ones: accuracy_mean 0.62 when we ran it, against 0.78
# for the full recipe (width helps a lot: docs/multitask.md). With
# `NEUROBIAS_TUTORIAL_FAST=1` it trains N = 128 for 300 steps: the analyses run, but on a
# circuit that has learned little.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import neurobias as nb
from neurobias import analysis as A
from neurobias import plot
from neurobias.plot import analysis as plot_analysis

FAST = os.environ.get("NEUROBIAS_TUTORIAL_FAST") == "1"
N_UNITS = 128 if FAST else 256
STEPS = 300 if FAST else 1500
TRIALS_PER_TASK = 16 if FAST else 64  # noise-free test trials per task for the analyses
FP_STARTS = 16 if FAST else 64  # starting states of the fixed-point search, per task
SHUFFLES = 200 if FAST else 1000
REPO = Path(nb.__file__).resolve().parents[1]  # the source checkout: tasks/ lives there
WORK = Path(tempfile.mkdtemp(prefix="neurobias_tutorial_03_"))
print(f"FAST={FAST}: N={N_UNITS}, {STEPS} steps; writing into {WORK}")

# %% [markdown]
# ## The spec, reduced
#
# `load_config` reads the TOML spec; `overrides` take the same `key=value` strings as
# `neurobias train --set`. Everything else stays as in `tasks/multitask.toml`: gain 2, a
# fixed readout of scale 30, biases starting at 0, fixation steps weighted five times the
# decision steps, one task per batch of 64 trials.

# %%
cfg = nb.load_config(REPO / "tasks" / "multitask.toml", overrides=[
    f"circuit.n_units={N_UNITS}", f"train.steps={STEPS}",
    f"train.eval_every={STEPS // 2 if FAST else STEPS // 6}", f"train.checkpoint_every={STEPS}",
    "train.device=cpu"])
print(cfg.env.params["tasks"])
print(cfg.circuit)

# %% [markdown]
# Each task is a stream of inputs (a fixation cue, stimuli in one or two modalities, rule
# cues of the yang19 tasks) and a target: hold fixation (output 0) until the response
# period, then choose. Here is one trial of three of them:

# %%
env = cfg.env.build(cfg.circuit.dt_ms)
batch = env.test_batch(3 * env.n_tasks, torch.Generator().manual_seed(0))
fig, axes = plt.subplots(2, 3, figsize=(12, 4.2), constrained_layout=True, sharex="col",
                         height_ratios=[3, 1])
dt = cfg.circuit.dt_ms
for col, k in enumerate((0, 2, 4)):
    n = int(batch.conditions["length"][k])
    u = batch.inputs[:n, k].numpy()
    axes[0, col].imshow(u.T, aspect="auto", cmap="Greys", interpolation="nearest",
                        vmin=min(0.0, float(u.min())), vmax=float(u.max()),
                        extent=(0, n * dt, env.n_inputs - 0.5, -0.5))
    axes[0, col].set_title(env.task_names[k], fontsize=9)
    gt = batch.targets[:n, k, 0].numpy()  # NeuroGym targets: the index of the right output
    axes[1, col].step(dt * np.arange(1, n + 1), gt, color="tab:red", where="pre")
    axes[1, col].set_ylim(-0.5, max(2.0, float(gt.max())) + 0.5)
    axes[1, col].set_xlabel("time (ms)")
axes[0, 0].set_ylabel("input channel")
axes[1, 0].set_ylabel("target\noutput")
plt.show()

# %% [markdown]
# ## Training
#
# `train_run` trains into a run folder, as `neurobias train` does; `run.net` is the trained
# circuit and `run.summary` its final scores. A trial counts as correct only if the circuit
# held fixation where it had to and chose right at the end of each answer period
# (docs/multitask.md, "How a trial is scored"). This takes a couple of minutes.

# %%
run = nb.train_run(cfg, WORK / "multitask", progress=False)
net, env = run.net.cpu().eval(), run.env
tasks = list(env.task_names)
print(f"{run.summary['seconds']} s, {run.summary['n_trainable']} learned numbers "
      f"(8 x N tonic inputs + 17 output biases)")
for name in tasks:
    print(f"  {name:26s} accuracy {run.summary['accuracy/' + name]:.2f}")
print(f"accuracy_mean {run.summary['accuracy_mean']:.3f}")

# %%
fig = plot.task_learning_curves(run.history, tasks)
plt.show()

# %% [markdown]
# ## Task variance (Yang et al. 2019)
#
# How much does a unit's rate vary across the trials of a task? For each task we simulate
# noise-free trials of fixed timing (`fixed_batch`: only the trial conditions differ), take
# the variance across trials at each step after the initial fixation, and average over
# steps. `neurobias analyze` does the same (docs/analysis.md).

# %%
gen = torch.Generator().manual_seed(0)
fixed = env.fixed_batch(TRIALS_PER_TASK * env.n_tasks, gen)
with torch.no_grad():
    roll = net(fixed.inputs, fixed.context, return_states=True)
rates = roll.rates.double().numpy()  # (time, trial, unit)
task = fixed.conditions["task"].numpy().astype(int)
start = fixed.conditions["end_fixation"].numpy().clip(0)  # the first step after fixation
window = A.epoch_window(start,
                        fixed.conditions["length"].numpy(), rates.shape[0])
tv = A.task_variance(rates, task, env.n_tasks, window_tb=window)  # (unit, task)
print("task variance (unit, task):", tv.shape,
      f"| units varying in some task: {(tv.sum(1) > 1e-3).sum()} of {N_UNITS}")

# %% [markdown]
# ## Selectivity clusters
#
# Units are grouped by their task-variance profile (each unit's profile over its maximum;
# k-means for k = 2 ... 20, the k with the best silhouette wins). Sorted by cluster, the unit
# x task matrix shows which units each task uses.

# %%
clusters = A.SelectivityClustering(seed=0).fit(tv)
print(f"k = {clusters.n_clusters_} clusters, silhouette {clusters.silhouette_:.2f}; "
      f"{(clusters.labels_ >= 0).sum()} units clustered")
fig = plot_analysis.variance_matrix(clusters, tasks)
plt.show()

# %% [markdown]
# ## Tonic input against selectivity
#
# Williams et al. (2025, Fig. 1C) relate a unit's learned bias in a task to how much it
# varies in that task: a higher tonic input lifts a relu unit above threshold, into the
# task's working population. Per task, the Spearman rho over units between b[c, :] and
# TV[:, c]; per cluster, the mean per-unit rho over tasks, against a null that pairs each
# unit's biases with another unit's task variances.

# %%
biases = net.biases.detach().double().numpy()  # (task, unit)
bv = A.bias_variance_correlation(biases, tv, labels=clusters.labels_,
                                 units=tv.sum(1) > 1e-3, n_shuffles=SHUFFLES, seed=0)
for name, rho in zip(tasks, bv.rho_context, strict=True):
    print(f"  {name:26s} rho {rho:+.2f}")
fig = plot_analysis.bias_variance(bv, biases, tv, tasks)
plt.show()

# %% [markdown]
# ## Lesions
#
# Silence each cluster (its rates clamped to 0) and score every task on the same held-out
# trials. At gain 2 the dynamics depend on most units, so lesions are rarely selective for
# the cluster's preferred task (docs/analysis.md).

# %%
lesions = A.lesion_clusters(net, env, clusters.labels_, seed=cfg.seed)
fig = plot_analysis.lesion_matrix(lesions)
plt.show()

# %% [markdown]
# ## Fixed and slow points (Sussillo & Barak 2013)
#
# Where would the circuit come to rest in each task's context if the input stayed at its
# fixation-period value? `find_fixed_points` minimises q(x) = ½‖τF(x)‖² from states the
# circuit visits in that task's trials, polishes candidates with Newton steps and returns
# each point with its Jacobian eigenvalues. Points with q below `slow_tol` that are not
# exact fixed points are kept as *slow points*. The points move with the task's tonic input:
# changing b[c] moves the dynamics, the paper's account of how a tonic input selects a
# computation.

# %%
states = roll.states.double()
lengths = fixed.conditions["length"].numpy()
fixed_points = {}
for k, name in enumerate(tasks):
    sel = np.flatnonzero(task == k)
    inside = torch.from_numpy(np.arange(rates.shape[0])[:, None] < lengths[sel][None, :])
    pool = states[:, torch.from_numpy(sel)][inside]  # (point, unit): states inside the trials
    fixed_points[name] = A.find_fixed_points(
        net, int(fixed.context[sel[0]]), inputs=fixed.inputs[0, sel[0]], states=pool,
        n_starts=FP_STARTS, keep_slow=True, slow_tol=0.1, max_points=8, seed=0)
    fp = fixed_points[name]
    exact = ~fp.slow
    print(f"  {name:26s} {int(exact.sum())} fixed point(s), {int((fp.stable & exact).sum())} "
          f"of them stable; {int(fp.slow.sum())} slow point(s); lowest q "
          f"{float(fp.q.min()) if len(fp) else np.nan:.2g}")

# %% [markdown]
# To draw them, the condition-averaged trajectories of each task (by ground-truth choice)
# and the principal components of all of them together:

# %%
choice = fixed.conditions["ground_truth"].numpy()
trajectories = {}
for k, name in enumerate(tasks):
    sel = task == k
    trajectories[name], _ = A.condition_average(rates[:, sel], choice[sel], window[:, sel])
pca_all = A.pca(np.concatenate([m[np.isfinite(m).all(-1)] for m in trajectories.values()]),
                n_components=10)
print(f"participation ratio of the condition-averaged activity: "
      f"{pca_all.participation_ratio:.1f}")
fig = plot_analysis.fixed_points_pca(fixed_points, trajectories, pca_all, net.phi,
                                     "fixation-period input")
plt.show()

# %% [markdown]
# ## All of it in one call
#
# `neurobias analyze RUN_DIR` (or `neurobias.analyze.analyze_run` from Python) runs every
# analysis above, plus task variance per epoch, the Jacobian spectrum along a trial and
# per-task dimensionality, on a run folder; it writes the results into the run's `run.h5`
# under `/analysis` and draws the figures into `RUN_DIR/figures`. On the full recipe
# (`make demo`) docs/analysis.md reports the numbers.

# %%
n_positive = int((bv.rho_context > 0).sum())
print(f"accuracy_mean {run.summary['accuracy_mean']:.3f}; k = {clusters.n_clusters_} clusters; "
      f"bias-variance rho > 0 in {n_positive} of {len(tasks)} tasks")
