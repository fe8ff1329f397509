"""Figures of center-out reaching runs: trajectories, speed profiles, learning curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ._common import _np, _save, plt

__all__ = ["reach_trajectories", "speed_profiles", "reach_learning_curve", "reaching_figures"]


def reach_trajectories(pos_tb2_cm, angles_deg, heldout, targets_cm, window_cm: float,
                       catch=None, title: str = ""):
    """Hand paths coloured by target direction: trained targets solid, held-out dashed, catch
    trials grey; target windows as circles.

    Args:
        pos_tb2_cm: (time, trial, 2) hand positions (cm) relative to the center.
        angles_deg: (trial,) target direction of each trial.
        heldout: (trial,) bool.
        targets_cm: (trial, 2) target positions.
        window_cm: target window radius.
        catch: (trial,) bool, catch trials (drawn in grey).
    """
    pos = _np(pos_tb2_cm)
    angles, held = _np(angles_deg), _np(heldout).astype(bool)
    tgt = _np(targets_cm)
    catch = np.zeros(len(angles), bool) if catch is None else _np(catch).astype(bool)
    cmap = plt.get_cmap("hsv")
    fig, ax = plt.subplots(figsize=(5.2, 5.2), constrained_layout=True)
    for b in np.argsort(catch)[::-1]:
        if catch[b]:
            ax.plot(pos[:, b, 0], pos[:, b, 1], color="0.6", lw=0.8)
            continue
        color = cmap((angles[b] % 360) / 360.0)
        ax.plot(pos[:, b, 0], pos[:, b, 1], color=color, lw=1.0, ls="--" if held[b] else "-")
    seen = set()
    for b in range(len(angles)):
        key = (round(float(tgt[b, 0]), 3), round(float(tgt[b, 1]), 3))
        if catch[b] or key in seen:
            continue
        seen.add(key)
        ax.add_patch(plt.Circle(key, window_cm, fill=False, lw=0.8,
                                color=cmap((angles[b] % 360) / 360.0),
                                ls="--" if held[b] else "-"))
    ax.add_patch(plt.Circle((0, 0), window_cm, fill=False, lw=0.8, color="k"))
    ax.plot([], [], "k-", label="trained targets")
    ax.plot([], [], "k--", label="held-out targets")
    ax.plot([], [], color="0.6", label="catch trials")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_aspect("equal")
    lim = 1.25 * max(np.abs(tgt).max(), 1e-3)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("x (cm)")
    ax.set_ylabel("y (cm)")
    ax.set_title(title or "hand trajectories", fontsize=10)
    return fig


def speed_profiles(speed_tb_cm_s, go_step, angles_deg, heldout, dt_ms: float,
                   before_ms: float = 200.0, after_ms: float = 1000.0, title: str = ""):
    """Hand speed aligned on the go cue: per target the mean over its trials, then the mean
    +- SD across targets, for trained and held-out targets.

    Args:
        speed_tb_cm_s: (time, trial) speed of reach trials (no catch trials).
        go_step: (trial,) sample of the go cue.
        angles_deg: (trial,) target direction (deg).
        heldout: (trial,) held-out flag.
        dt_ms: sampling interval.
    """
    sp = _np(speed_tb_cm_s)
    go, angles, held = _np(go_step).astype(int), _np(angles_deg), _np(heldout).astype(bool)
    k0, k1 = int(round(before_ms / dt_ms)), int(round(after_ms / dt_ms))
    lags = np.arange(-k0, k1 + 1)
    fig, ax = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    for name, sel, color in (("trained", ~held, "tab:blue"), ("held-out", held, "tab:orange")):
        per_target = []
        for a in np.unique(angles[sel]):
            rows = []
            for b in np.nonzero(sel & (angles == a))[0]:
                idx = go[b] + lags
                ok = (idx >= 0) & (idx < sp.shape[0])
                row = np.full(len(lags), np.nan)
                row[ok] = sp[idx[ok], b]
                rows.append(row)
            per_target.append(np.nanmean(rows, 0))
        if not per_target:
            continue
        per_target = np.asarray(per_target)
        mean, sd = np.nanmean(per_target, 0), np.nanstd(per_target, 0)
        t_ms = lags * dt_ms
        ax.plot(t_ms, mean, color=color, lw=1.6, label=f"{name} targets (n={len(per_target)})")
        ax.fill_between(t_ms, mean - sd, mean + sd, color=color, alpha=0.25, lw=0)
    ax.axvline(0, color="0.4", ls=":", lw=1)
    ax.text(0, 1.0, " go", transform=ax.get_xaxis_transform(), va="top", fontsize=8,
            color="0.3")
    ax.set_xlabel("time from go cue (ms)")
    ax.set_ylabel("hand speed (cm/s)")
    ax.legend(fontsize=8)
    ax.set_title(title or "speed profiles (mean ± SD across targets)")
    return fig


def reach_learning_curve(history):
    """Training loss, and endpoint error on trained and held-out targets, against step."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    steps = np.asarray(history.step[: len(history.loss)])
    loss = np.asarray(history.loss)
    ax.semilogy(steps, loss, color="0.75", lw=0.6, label="loss")
    window = max(1, len(loss) // 60)
    if window > 1:
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax.semilogy(steps[window - 1:], smooth, color="0.2", lw=1.4,
                    label=f"running mean ({window} steps)")
    ax.set_xlabel("training step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=8)
    evals = [e for e in history.evals if "endpoint_error_trained_cm" in e]
    s = [e["step"] for e in evals]
    for key, name, color in (("endpoint_error_trained_cm", "trained", "tab:blue"),
                             ("endpoint_error_heldout_cm", "held-out", "tab:orange")):
        ax2.semilogy(s, [e[key] for e in evals], "o-", ms=3, color=color, label=name)
    ax2.axhline(1.0, color="tab:blue", ls=":", lw=1)
    ax2.axhline(2.0, color="tab:orange", ls=":", lw=1)
    ax2.set_xlabel("training step")
    ax2.set_ylabel("endpoint error (cm)")
    ax2.legend(fontsize=8)
    fig.suptitle("learning curve")
    return fig


@torch.no_grad()
def reaching_figures(run, folder: str | Path) -> list[Path]:
    """Trajectories, speed profiles and the learning curve of a reaching run, as PNGs."""
    from ..analysis.reaching import speed
    from ..seeding import generator

    folder = Path(folder)
    env, paths = run.env, []
    batch = env.eval_batch(generator(run.config.seed, "eval"))
    roll = env.rollout(run.net, batch)
    c = batch.conditions
    pos = 100.0 * roll.pos_m.cpu().numpy()
    targets = env.target_positions_cm(c["angle_deg"].numpy())
    s = run.summary
    title = (f"{run.config.name} ({run.config.circuit.mode}, {env.plant_name})\nendpoint error "
             f"{s.get('endpoint_error_trained_cm', float('nan')):.2f} cm trained, "
             f"{s.get('endpoint_error_heldout_cm', float('nan')):.2f} cm held-out")
    _save(reach_trajectories(pos, c["angle_deg"], c["heldout"], targets, env.window_cm,
                             catch=c["catch"], title=title), folder / "trajectories.png", paths)
    reach = ~c["catch"].numpy()
    sp = speed(pos[:, reach], env.dt_ms)
    _save(speed_profiles(sp, c["go_step"].numpy()[reach], c["angle_deg"].numpy()[reach],
                         c["heldout"].numpy()[reach], env.dt_ms),
          folder / "speed_profiles.png", paths)
    _save(reach_learning_curve(run.history), folder / "reach_learning_curve.png", paths)
    return paths
