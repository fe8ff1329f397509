"""Figures of training runs: learning curves, outputs against targets, per-task curves,
psychometric curves; ``run_figures`` saves a run's PNGs (reaching runs: see ``plot.reaching``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .._atomic import save_figure_atomic
from ._common import _np, _save, plt

__all__ = ["learning_curve", "outputs_vs_targets", "task_learning_curves", "psychometric_curves",
           "run_figures"]


def learning_curve(history, metric: str | None = None):
    """Training loss against step (log scale), with an evaluation metric on a second axis.

    Args:
        history: a ``History``.
        metric: name of an evaluation metric to overlay (default: "r2" or "accuracy_mean").
    """
    fig, ax = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
    steps = np.asarray(history.step[: len(history.loss)])
    loss = np.asarray(history.loss)
    ax.semilogy(steps, loss, color="0.8", lw=0.6, label="loss")
    window = max(1, len(loss) // 60)
    if window > 1:  # running mean: batches of different tasks have very different losses
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax.semilogy(steps[window - 1:], smooth, color="0.2", lw=1.4,
                    label=f"running mean ({window} steps)")
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss")
    evals = history.evals
    if metric is None and evals:
        metric = next((m for m in ("r2", "accuracy_mean") if m in evals[-1]), None)
    if metric and evals:
        ax2 = ax.twinx()
        ax2.plot([e["step"] for e in evals], [e[metric] for e in evals], "o-", color="tab:red",
                 ms=3, label=metric)
        ax2.set_ylabel(f"evaluation {metric}", color="tab:red")
        ax2.tick_params(axis="y", labelcolor="tab:red")
    ax.set_title("learning curve")
    return fig


def outputs_vs_targets(outputs_tbo, targets_tbo, dt_ms: float, mask_tbo=None, trial: int = 0,
                       names=None, title: str = ""):
    """Circuit outputs (solid) against targets (dashed) for one trial, one panel per channel.

    Args:
        outputs_tbo: (time, trial, channel) outputs.
        targets_tbo: same shape, targets.
        dt_ms: time step (ms) for the time axis.
        mask_tbo: loss mask; steps where it is 0 are shaded.
    """
    out = _np(outputs_tbo)[:, trial]
    tgt = _np(targets_tbo)[:, trial]
    n_t, n_o = out.shape
    t_ms = dt_ms * np.arange(1, n_t + 1)
    fig, axes = plt.subplots(n_o, 1, figsize=(7, 1.1 + 1.6 * n_o), sharex=True, squeeze=False,
                             constrained_layout=True)
    for k, ax in enumerate(axes[:, 0]):
        ax.plot(t_ms, tgt[:, k], "--", color="0.5", lw=1.5, label="target")
        ax.plot(t_ms, out[:, k], color="tab:blue", lw=1.2, label="circuit")
        if mask_tbo is not None:
            off = _np(mask_tbo)[:, trial, k] == 0
            if off.any():
                ax.fill_between(t_ms, 0, 1, where=off, color="0.9",
                                transform=ax.get_xaxis_transform(), label="not scored")
        ax.set_ylabel(names[k] if names else f"output {k}")
    axes[0, 0].legend(loc="upper right", fontsize=8, ncols=3)
    axes[-1, 0].set_xlabel("time (ms)")
    if title:
        axes[0, 0].set_title(title)
    return fig


def task_learning_curves(history, task_names, metric: str = "accuracy"):
    """Per-task evaluation accuracy against training step, with the mean across tasks in black.

    Args:
        history: a ``History`` whose evals hold ``<metric>/<task>`` entries.
        task_names: the tasks, in context order.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    evals = [e for e in history.evals if f"{metric}/{task_names[0]}" in e]
    steps = [e["step"] for e in evals]
    cmap = plt.get_cmap("tab20" if len(task_names) > 10 else "tab10")
    for k, name in enumerate(task_names):
        ax.plot(steps, [e[f"{metric}/{name}"] for e in evals], color=cmap(k), lw=1.2,
                label=name)
    if f"{metric}_mean" in (evals[0] if evals else {}):
        ax.plot(steps, [e[f"{metric}_mean"] for e in evals], color="k", lw=2.5, label="mean")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"{metric} (fixation held, right choice)")
    ax.legend(fontsize=7, ncols=2, loc="lower right")
    ax.set_title("learning curves per task")
    return fig


def psychometric_curves(curves: dict[str, tuple], condition: str = "stimulus coherence (%)"):
    """Fraction correct against a stimulus condition, one line per task.

    Args:
        curves: task name -> (levels, accuracy, n) as returned by ``NeuroGymEnv.psychometric``.
        condition: the x-axis label, with its unit (NeuroGym's coherence ``coh`` is in
            percent: 0, 6.4, ..., 51.2 in PerceptualDecisionMaking).
    """
    fig, ax = plt.subplots(figsize=(4.8, 3.6), constrained_layout=True)
    for name, (levels, acc, n) in curves.items():
        err = np.sqrt(np.clip(acc * (1 - acc), 0, None) / np.maximum(n, 1))
        ax.errorbar(levels, acc, yerr=err, marker="o", capsize=3, label=name)
    ax.axhline(0.5, color="0.6", ls=":", lw=1, label="chance (2 choices)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(condition)
    ax.set_ylabel("fraction correct")
    ax.legend(fontsize=8)
    ax.set_title("psychometric curves")
    return fig


@torch.no_grad()
def run_figures(run, folder: str | Path) -> list[Path]:
    """Save a run's learning curve and its outputs on an evaluation trial as PNGs."""
    from ..seeding import generator
    from .reaching import reaching_figures

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    fig = learning_curve(run.history)
    paths.append(folder / "learning_curve.png")
    save_figure_atomic(fig, paths[-1], dpi=120)
    plt.close(fig)
    if hasattr(run.env, "rollout"):  # closed-loop reaching
        return paths + reaching_figures(run, folder)
    if hasattr(run.env, "cosmoothing_readout"):  # a circuit fitted to a recording
        from .fitting import fit_run_figures

        return paths + fit_run_figures(run, folder)
    if hasattr(run.env, "task_names"):  # NeuroGym tasks
        names = run.env.task_names
        _save(task_learning_curves(run.history, names), folder / "task_learning_curves.png",
              paths)
        curves = {}
        for k, name in enumerate(names):
            try:
                curves[name] = run.env.psychometric(run.net, k, generator(run.config.seed,
                                                                          "eval"))
            except ValueError:  # a task without a coherence condition
                continue
        if curves:
            _save(psychometric_curves(curves), folder / "psychometric.png", paths)
        return paths
    batch = run.env.eval_batch(generator(run.config.seed, "eval"))
    out = run.net(batch.inputs, batch.context).outputs
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in run.summary.items()
                        if k.startswith("r2") and isinstance(v, float))
    fig = outputs_vs_targets(out, batch.targets, run.config.circuit.dt_ms, batch.mask,
                             names=run.env.output_names,
                             title=f"{run.config.name} ({run.config.circuit.mode}) {metrics}")
    paths.append(folder / "outputs.png")
    save_figure_atomic(fig, paths[-1], dpi=120)
    plt.close(fig)
    if hasattr(run.env, "closed_loop"):
        closed = run.env.closed_loop(run.net, batch)
        mask = torch.zeros_like(batch.mask)
        mask[run.env.warmup_steps:] = 1
        fig = outputs_vs_targets(closed, batch.targets, run.config.circuit.dt_ms, mask,
                                 names=run.env.output_names,
                                 title=f"{run.config.name}: output fed back as input after the "
                                       "shaded warm-up")
        paths.append(folder / "closed_loop.png")
        save_figure_atomic(fig, paths[-1], dpi=120)
        plt.close(fig)
    return paths
