"""Analyse a trained run: the stage between ``export`` and the figures.

``analyze_run(RUN_DIR)`` reads the run's exported activity (``RUN_DIR/run.h5``, exported first
if missing), computes

* task variance per unit and task, over the whole trial after the initial fixation epoch and
  per epoch (Yang et al. 2019), on fresh noise-free, fixed-timing test trials where the env
  makes them (NeuroGym: ``NeuroGymEnv.fixed_batch``), else on the exported trials;
* selectivity clusters (k-means, k by silhouette);
* the Spearman correlation of each unit's learned tonic input with its task variance, per task
  and per cluster, against a shuffled-unit null (Williams et al. 2025, Fig. 1C);
* per-task accuracy with each cluster silenced (NeuroGym envs);
* the fixed points of every context, under that context's fixation-period input, with their
  stability (Sussillo & Barak 2013);
* PCA of condition-averaged activity per context, its participation ratio, and the Jacobian
  spectrum along one trial;

and writes them into the file's ``/analysis`` group (the layout is in docs/hdf5.md). The file is
rewritten through a temporary copy and renamed, so a crash leaves the previous file intact.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from . import analysis as A
from ._atomic import atomic_path
from .errors import ConfigError
from .io.hdf5 import RunFileError, _ascii, _dataset, _text, export
from .io.hdf5 import load as load_file
from .progress import Progress
from .run import Run, load_run

__all__ = ["RunAnalysis", "analyze_run", "task_variances", "variance_trials",
           "write_analysis"]


@dataclass
class RunAnalysis:
    """Everything ``analyze_run`` computed; arrays are numpy, (unit, task) etc."""

    tasks: list[str]
    task_variance: np.ndarray  # (unit, task)
    task_variance_epochs: dict[str, np.ndarray]  # epoch -> (unit, task)
    clustering: A.SelectivityClustering | None
    bias_variance: A.BiasVariance | None
    biases: np.ndarray  # (context, unit) learned tonic inputs
    lesions: A.LesionResult | None
    fixed_points: dict[str, A.FixedPoints]
    pca_all: A.PCA  # of the condition-averaged rates of every task together
    pca_tasks: dict[str, A.PCA]
    trajectories: dict[str, np.ndarray]  # task -> (time, condition, unit) mean rates
    jacobian_spectrum: np.ndarray  # (time, unit) complex, one trial of the first task
    spectrum_steps: np.ndarray  # the time steps of those rows
    notes: list[str] = field(default_factory=list)


def _trial_window(cond: dict[str, np.ndarray], n_steps: int, n_trials: int) -> np.ndarray:
    """(time, trial): after the initial fixation epoch (when known) and before the trial end."""
    start = cond.get("end_fixation", np.zeros(n_trials, np.int64)).astype(np.int64)
    start = np.where(start < 0, 0, start)
    end = cond.get("length", np.full(n_trials, n_steps)).astype(np.int64)
    return A.epoch_window(start, end, n_steps)


def variance_trials(net, env, n_per_task: int, seed: int
                    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None:
    """Rates of noise-free, fixed-timing test trials, for task variance.

    Args:
        net: the circuit (run noise-free, on its own device).
        env: an env with ``fixed_batch`` (NeuroGym); others return None.
        n_per_task: trials per task.
        seed: seeds the draws of the trials' conditions.

    Returns:
        (rates (time, trial, unit) float64, task (trial,), conditions name -> (trial,)), or
        None when the env cannot make such trials.
    """
    if not hasattr(env, "fixed_batch"):
        return None
    gen = torch.Generator().manual_seed(seed)
    batch = env.fixed_batch(n_per_task * env.n_tasks, gen)
    device = net.W_rec.device
    with torch.no_grad():
        rates = net(batch.inputs.to(device), batch.context.to(device)).rates
    cond = {k: v.cpu().numpy() for k, v in batch.conditions.items()}
    return rates.double().cpu().numpy(), cond["task"].astype(np.int64), cond


def task_variances(rates_tbn: np.ndarray, task: np.ndarray, cond: dict[str, np.ndarray],
                   n_tasks: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Task variance over the trial after the initial fixation epoch, and per epoch.

    The window of trial k is [end_fixation[k], length[k]) (steps; from 0 where there is no
    fixation epoch): the variance across a task's trials at each step of it, averaged over its
    steps (see ``analysis.task_variance``). Epochs are every ``start_E``/``end_E`` condition
    pair but fixation.

    Returns:
        ((unit, task) task variance, epoch -> (unit, task)).
    """
    n_t, n_b, _ = rates_tbn.shape
    tv = A.task_variance(rates_tbn, task, n_tasks, _trial_window(cond, n_t, n_b))
    epochs = sorted(k[len("start_"):] for k in cond if k.startswith("start_")
                    and f"end_{k[len('start_'):]}" in cond and k != "start_fixation")
    tv_epochs = A.task_variance_by_epoch(
        rates_tbn, task, {e: (cond[f"start_{e}"], cond[f"end_{e}"]) for e in epochs}, n_tasks)
    return tv, tv_epochs


def analyze_run(run_dir: str | Path, *, n_trials: int = 256, fixed_point_starts: int = 64,
                fixed_point_iters: int = 1000, fixed_point_max: int = 8, slow_tol: float = 0.1,
                n_shuffles: int = 1000, k_range: tuple[int, int] = (2, 20),
                threshold: float = 1e-3, lesions: bool = True, seed: int = 0,
                progress: bool | None = None, variance_trials_per_task: int = 64
                ) -> RunAnalysis:
    """Analyse a run folder (see the module docstring).

    A run in env ``recording`` (a circuit fitted to recorded activity) gets its own analysis
    instead: ``analyze_fit.fit_analysis`` (fit scores and current decomposition) returns a
    ``FitAnalysis``, which ``write_analysis`` stores under /analysis/fit and /analysis/currents.

    Args:
        run_dir: a folder written by ``train_run``; ``run.h5`` in it is read, or exported with
            ``n_trials`` trials if missing.
        n_trials: trials to export when there is no run.h5 yet.
        fixed_point_starts: starting states per context for the fixed-point search.
        fixed_point_iters: descent iterations of that search.
        fixed_point_max: distinct points kept per context (lowest q first).
        slow_tol: q under which a point that is not fixed is kept as a slow point (q is
            1/2 ||tau F||^2, in units of x squared).
        n_shuffles: size of the shuffled-unit null of the bias-variance correlation.
        k_range: cluster numbers tried.
        threshold: summed task variance below which a unit is not clustered.
        lesions: silence each cluster and score the tasks (NeuroGym runs only).
        seed: seed of k-means, the null, and the fixed-point starts.
        progress: report the stages on stderr (``neurobias.progress``): a bar on a terminal
            or in Jupyter, else one plain line per stage done; False: nothing; None: auto.
        variance_trials_per_task: noise-free, fixed-timing test trials per task that task
            variance is taken on (NeuroGym runs; others use the exported trials).
    """
    run_dir = Path(run_dir)
    run: Run = load_run(run_dir)
    h5 = run_dir / "run.h5"
    if not h5.exists():
        export(run, h5, n_trials=n_trials, progress=progress, device="cpu")
    rf = load_file(h5)
    net, env = run.net.cpu().eval(), run.env
    for name, t in net.state_dict().items():
        if not torch.equal(t, rf.net.state_dict()[name]):
            raise RunFileError(f"{str(h5)!r} holds another circuit than {str(run_dir)!r} "
                               f"({name} differs): export the run again with --force")
    if run.config.env.kind == "recording":  # a circuit fitted to recorded activity
        from .analyze_fit import fit_analysis

        return fit_analysis(net, env)
    bar = Progress(6, "analyze", "stage", progress, stage="next: task variance")
    notes = []
    rates = rf.activity("rates").transpose(1, 0, 2).astype(np.float64)  # (time, trial, unit)
    n_t, n_b, _ = rates.shape
    cond = rf.conditions
    ctx = rf.trials["context"].astype(np.int64)
    task = cond["task"].astype(np.int64) if "task" in cond else ctx
    tasks = list(getattr(env, "task_names", env.context_names))
    win = _trial_window(cond, n_t, n_b)

    # task variance, whole trial and per epoch, on noise-free fixed-timing trials if possible
    fresh = variance_trials(net, env, variance_trials_per_task, seed)
    if fresh is None:
        counts = np.bincount(task, minlength=len(tasks))
        if counts.min() < 2:
            few = ", ".join(f"{tasks[k]} {counts[k]}" for k in range(len(tasks))
                            if counts[k] < 2)
            raise ConfigError(f"{str(rf.path)!r} has too few trials for task variance ({few}): "
                              "need at least two per context; export more (--trials)")
        tv, tv_epochs = task_variances(rates, task, cond, len(tasks))
        notes.append("task variance on the exported trials (the env makes no fixed-timing "
                     "trials)")
    else:
        tv, tv_epochs = task_variances(*fresh, len(tasks))
    bar.update(stage="task variance done; next: clusters")

    # clusters
    clustering = None
    if len(tasks) < 2:
        notes.append("clustering skipped: selectivity needs at least two tasks")
    else:
        try:
            clustering = A.SelectivityClustering(threshold, k_range, seed=seed).fit(tv)
        except ValueError as err:
            notes.append(f"clustering skipped: {err}")
    bar.update(stage="clusters done; next: tonic input vs variance")

    # learned tonic input against task variance (one bias row per task: bias-learning runs)
    biases = net.biases.detach().double().numpy()
    bias_var = None
    if biases.shape[0] == len(tasks) and len(tasks) >= 2:
        bias_var = A.bias_variance_correlation(
            biases, tv, labels=clustering.labels_ if clustering else None,
            units=tv.sum(1) > threshold, n_shuffles=n_shuffles, seed=seed)
    elif len(tasks) < 2:
        notes.append("bias-variance correlation skipped: it needs at least two tasks")
    else:
        notes.append("bias-variance correlation skipped: the circuit has "
                     f"{biases.shape[0]} tonic-input rows for {len(tasks)} tasks (rule inputs)")
    bar.update(stage="tonic input vs variance done; next: lesions")

    # lesions
    lesion = None
    if lesions and clustering is not None and hasattr(env, "task_names") \
            and not getattr(env, "regression", False):  # scored by accuracy
        lesion = A.lesion_clusters(net, env, clustering.labels_, seed=run.config.seed)
    bar.update(stage="lesions done; next: fixed points")

    # fixed points per context, from the states of that context's trials, under its
    # fixation-period input (the input at the first step)
    inputs_tbi = torch.from_numpy(rf.trials["inputs"].transpose(1, 0, 2))
    with torch.no_grad():
        states = net(inputs_tbi, torch.from_numpy(ctx), return_states=True).states.double()
    fps = {}
    for k, name in enumerate(tasks):
        sel = np.flatnonzero(task == k)
        c = int(ctx[sel[0]])
        lengths = cond["length"][sel] if "length" in cond else np.full(len(sel), n_t)
        inside = torch.from_numpy(np.arange(n_t)[:, None] < lengths[None, :])  # no padding
        pool = states[:, torch.from_numpy(sel)][inside]
        fps[name] = A.find_fixed_points(net, c, inputs=inputs_tbi[0, sel[0]], states=pool,
                                        n_starts=fixed_point_starts, keep_slow=True,
                                        slow_tol=slow_tol, max_iters=fixed_point_iters,
                                        max_points=fixed_point_max, seed=seed)
    bar.update(stage="fixed points done; next: population")

    # population structure
    labels = cond.get("ground_truth", np.zeros(n_b))
    trajectories, pcas = {}, {}
    for k, name in enumerate(tasks):
        sel = task == k
        means, _ = A.condition_average(rates[:, sel], labels[sel], win[:, sel])
        trajectories[name] = means
        pcas[name] = A.pca(means, n_components=10)
    pca_all = A.pca(np.concatenate([m.reshape(-1, m.shape[-1]) for m in
                                    trajectories.values()]), n_components=10)
    first = int(np.flatnonzero(task == 0)[0])
    end = int(cond["length"][first]) if "length" in cond else n_t
    steps = np.arange(0, end, max(1, end // 25))
    spectrum = A.jacobian_spectrum(net, states[steps, first], int(ctx[first])).numpy()
    bar.update(stage="population done")
    bar.close()
    return RunAnalysis(tasks, tv, tv_epochs, clustering, bias_var, biases, lesion, fps, pca_all,
                       pcas, trajectories, spectrum, steps, notes)


def write_analysis(result: RunAnalysis, path: str | Path) -> Path:
    """Write ``result`` into ``/analysis`` of the run file at ``path`` (replacing what was there).

    The file is copied to a temporary name, updated, flushed and renamed over the original.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as f:
            if "analysis" in f:
                del f["analysis"]
            if hasattr(result, "psth_recorded"):  # FitAnalysis (env kind recording)
                from .analyze_fit import write_fit

                write_fit(f.create_group("analysis"), result)
            else:
                _write(f.create_group("analysis"), result)
    return path


def _strings(values) -> np.ndarray:
    return np.array([_ascii(str(v)) for v in values])


def _write(g: h5py.Group, r: RunAnalysis) -> None:
    g.attrs["tasks"] = _strings(r.tasks)
    g.attrs["note"] = _ascii("written by neurobias analyze; see docs/hdf5.md")
    if r.notes:
        g.attrs["notes"] = _strings(r.notes)
    _dataset(g, "task_variance", r.task_variance, "unit,task")
    ep = g.create_group("task_variance_epochs")
    for name, tv in r.task_variance_epochs.items():
        _dataset(ep, name, tv, "unit,task")
    if r.clustering is not None:
        c = g.create_group("clusters")
        clu = r.clustering
        _dataset(c, "labels", clu.labels_, "unit")
        _dataset(c, "k_values", clu.k_values_, "k")
        _dataset(c, "silhouette_scores", clu.silhouette_scores_, "k")
        _dataset(c, "preferred_task", clu.preferred_, "cluster")
        _dataset(c, "order", clu.order_, "unit")
        c.attrs["n_clusters"] = clu.n_clusters_
        c.attrs["silhouette"] = clu.silhouette_
        c.attrs["threshold"] = clu.threshold
    if r.bias_variance is not None:
        b = g.create_group("bias_variance")
        bv = r.bias_variance
        for name, dims in (("rho_context", "task"), ("p_context", "task"),
                           ("p_shuffle_context", "task"), ("rho_unit", "unit"),
                           ("rho_cluster", "cluster"), ("p_shuffle_cluster", "cluster"),
                           ("n_cluster", "cluster"), ("units", "unit")):
            _dataset(b, name, getattr(bv, name), dims)
        b.attrs["n_shuffles"] = bv.n_shuffles
    if r.lesions is not None:
        le = g.create_group("lesions")
        _dataset(le, "accuracy", r.lesions.accuracy, "group,task")
        _dataset(le, "n_silenced", r.lesions.n_silenced, "group")
        le.attrs["groups"] = _strings(r.lesions.groups)
    fp = g.create_group("fixed_points")
    for name, pts in r.fixed_points.items():
        h = fp.create_group(name)
        _dataset(h, "x", pts.x.cpu().numpy(), "point,unit")
        _dataset(h, "q", pts.q.cpu().numpy(), "point")
        _dataset(h, "eigenvalues", pts.eigenvalues.cpu().numpy(), "point,eigenvalue")
        _dataset(h, "stable", pts.stable.cpu().numpy(), "point")
        _dataset(h, "stable_discrete", pts.stable_discrete.cpu().numpy(), "point")
        _dataset(h, "slow", pts.slow.cpu().numpy(), "point")
        _dataset(h, "inputs", pts.inputs.cpu().numpy(), "input")
        h.attrs["context"] = pts.context
        h.attrs["n_starts"] = pts.n_starts
    pop = g.create_group("population")
    _dataset(pop, "components", r.pca_all.components, "component,unit")
    _dataset(pop, "mean", r.pca_all.mean, "unit")
    _dataset(pop, "explained", r.pca_all.explained, "component")
    pop.attrs["participation_ratio"] = r.pca_all.participation_ratio
    for name, p in r.pca_tasks.items():
        h = pop.create_group(name)
        _dataset(h, "explained", p.explained, "component")
        h.attrs["participation_ratio"] = p.participation_ratio
    js = _dataset(g, "jacobian_spectrum", r.jacobian_spectrum, "time,eigenvalue")
    js.attrs["steps"] = r.spectrum_steps
    js.attrs["units"] = _ascii("per ms; the Euler map's eigenvalues are 1 + dt_ms * lambda")


def read_analysis(path: str | Path) -> dict:
    """The /analysis group of a run file as nested dicts of numpy arrays (attrs under '@')."""
    def walk(group):
        out = {"@": {k: (_text(v) if isinstance(v, bytes) else v) for k, v in
                     group.attrs.items()}}
        for key, obj in group.items():
            out[key] = walk(obj) if isinstance(obj, h5py.Group) else obj[()]
        return out

    with h5py.File(path, "r") as f:
        if "analysis" not in f or "task_variance" not in f["analysis"]:
            raise RunFileError(f"{str(path)!r} holds no analysis: run `neurobias analyze` first")
        return walk(f["analysis"])
