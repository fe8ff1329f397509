"""Kinematic scores of center-out reaches: pure functions, arrays in, numbers out.

Hand trajectories are time-major numpy arrays (time, trial, 2) in cm relative to the center;
times are in ms (``dt_ms`` per sample). Trial t's sample k is the hand after step k + 1.

The scores follow the reaching literature (Georgopoulos et al. 1982): endpoint error, success
(inside a target window through the hold), reaction and movement time from a speed threshold,
peak speed, path straightness (maximum perpendicular deviation from the straight line), initial
direction error and false starts on catch trials. A straight minimum-jerk reach (Flash & Hogan
1985) has peak speed 1.875 D / T and zero deviation, which the tests use as a known answer.

References:
    Flash, T. & Hogan, N. (1985). The coordination of arm movements: an experimentally confirmed
    mathematical model. J Neurosci 5(7), 1688-1703.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["minimum_jerk", "speed", "endpoint_error", "success", "movement_timing",
           "max_deviation", "initial_direction_error", "false_starts", "single_peaked",
           "Timing", "summarize_reaches", "steps_to_criterion"]


def minimum_jerk(start_cm, end_cm, duration_ms: float, dt_ms: float, onset_ms: float = 0.0,
                 total_ms: float | None = None) -> np.ndarray:
    """A straight minimum-jerk reach (Flash & Hogan 1985) sampled every ``dt_ms``.

    x(s) = start + (end - start)(10 s^3 - 15 s^4 + 6 s^5), s = (t - onset) / duration in [0, 1].

    Returns:
        (time, 2) positions in cm at t = dt, 2 dt, ..., total_ms (default onset + duration).
    """
    total = onset_ms + duration_ms if total_ms is None else total_ms
    t = dt_ms * np.arange(1, int(round(total / dt_ms)) + 1)
    s = np.clip((t - onset_ms) / duration_ms, 0.0, 1.0)[:, None]
    start, end = np.asarray(start_cm, float), np.asarray(end_cm, float)
    return start + (end - start) * (10 * s ** 3 - 15 * s ** 4 + 6 * s ** 5)


def speed(pos_cm: np.ndarray, dt_ms: float, start_cm=None) -> np.ndarray:
    """Hand speed (cm/s) by backward differences: (time, trial, 2) -> (time, trial).

    The first sample's speed is measured from ``start_cm`` (trial, 2) (default: the origin).
    """
    pos = np.asarray(pos_cm, float)
    prev0 = np.zeros_like(pos[:1]) if start_cm is None else np.asarray(start_cm, float)[None]
    prev = np.concatenate([prev0, pos[:-1]])
    return np.linalg.norm(pos - prev, axis=-1) / (dt_ms / 1000.0)


def endpoint_error(pos_cm: np.ndarray, target_cm: np.ndarray, n_final: int) -> np.ndarray:
    """Distance (cm) from the target of the hand's mean position over the last ``n_final``
    samples: (time, trial, 2), (trial, 2) -> (trial,)."""
    end = np.asarray(pos_cm, float)[-n_final:].mean(0)
    return np.linalg.norm(end - np.asarray(target_cm, float), axis=-1)


def success(pos_cm: np.ndarray, target_cm: np.ndarray, hold_start: np.ndarray,
            window_cm: float) -> np.ndarray:
    """Whether the hand stays within ``window_cm`` of the target from sample ``hold_start`` (per
    trial) to the end: (trial,) bool."""
    dist = np.linalg.norm(np.asarray(pos_cm, float) - np.asarray(target_cm, float)[None], axis=-1)
    t = np.arange(dist.shape[0])[:, None]
    inside = (dist <= window_cm) | (t < np.asarray(hold_start)[None])
    return inside.all(0)


@dataclass
class Timing:
    """Movement timing per trial (NaN where the hand never crossed the threshold).

    Attributes:
        onset: (trial,) sample index of movement onset.
        reaction_ms: (trial,) onset - go cue, ms.
        movement_ms: (trial,) movement end - onset, ms.
        peak_speed: (trial,) peak speed after the go cue, cm/s.
        peak_index: (trial,) sample index of the peak.
    """

    onset: np.ndarray
    reaction_ms: np.ndarray
    movement_ms: np.ndarray
    peak_speed: np.ndarray
    peak_index: np.ndarray


def movement_timing(speed_cm_s: np.ndarray, go_step: np.ndarray, dt_ms: float,
                    threshold: float = 0.1) -> Timing:
    """Reaction and movement time from a speed threshold.

    Onset is the first sample at or after the go cue whose speed exceeds ``threshold`` times the
    trial's peak speed (after the go cue); the end is the first later sample, after the peak,
    where the speed falls below it again (the last sample if it never does).

    Args:
        speed_cm_s: (time, trial) speed.
        go_step: (trial,) sample index of the go cue.
        dt_ms: sampling interval (ms).
        threshold: fraction of the peak speed, in (0, 1).
    """
    sp = np.asarray(speed_cm_s, float)
    n_t, n_b = sp.shape
    go = np.asarray(go_step, int)
    out = {k: np.full(n_b, np.nan) for k in ("onset", "reaction", "movement", "peak", "ipeak")}
    for b in range(n_b):
        seg = sp[go[b]:, b]
        if seg.size == 0 or seg.max() <= 0:
            continue
        ipk = int(seg.argmax())
        level = threshold * seg[ipk]
        above = np.nonzero(seg[:ipk + 1] > level)[0]
        onset = int(above[0])
        below = np.nonzero(seg[ipk:] < level)[0]
        end = ipk + int(below[0]) if below.size else seg.size - 1
        out["onset"][b] = go[b] + onset
        out["reaction"][b] = onset * dt_ms
        out["movement"][b] = (end - onset) * dt_ms
        out["peak"][b] = seg[ipk]
        out["ipeak"][b] = go[b] + ipk
    return Timing(out["onset"], out["reaction"], out["movement"], out["peak"], out["ipeak"])


def max_deviation(pos_cm: np.ndarray, target_cm: np.ndarray, start_cm=None,
                  begin=None) -> np.ndarray:
    """Maximum perpendicular distance (cm) of the path from the straight line start -> target.

    Args:
        pos_cm: (time, trial, 2).
        target_cm: (trial, 2).
        start_cm: (trial, 2), default the origin.
        begin: (trial,) first sample counted (default 0).

    Returns:
        (trial,) cm.
    """
    pos = np.asarray(pos_cm, float)
    tgt = np.asarray(target_cm, float)
    start = np.zeros_like(tgt) if start_cm is None else np.asarray(start_cm, float)
    d = tgt - start
    unit = d / np.linalg.norm(d, axis=-1, keepdims=True)
    rel = pos - start[None]
    perp = np.abs(rel[..., 0] * unit[None, :, 1] - rel[..., 1] * unit[None, :, 0])
    if begin is not None:
        t = np.arange(pos.shape[0])[:, None]
        perp = np.where(t >= np.asarray(begin)[None], perp, 0.0)
    return perp.max(0)


def initial_direction_error(pos_cm: np.ndarray, target_cm: np.ndarray, onset: np.ndarray,
                            dt_ms: float, after_ms: float = 100.0) -> np.ndarray:
    """Angle (deg, in [0, 180]) between the hand's displacement from its onset position to
    ``after_ms`` later and the direction of the target from the onset position. NaN where the
    onset is NaN. Shapes: (time, trial, 2), (trial, 2), (trial,) -> (trial,)."""
    pos = np.asarray(pos_cm, float)
    n_t, n_b, _ = pos.shape
    k = int(round(after_ms / dt_ms))
    out = np.full(n_b, np.nan)
    for b in range(n_b):
        if not np.isfinite(onset[b]):
            continue
        i0 = int(onset[b])
        i1 = min(i0 + k, n_t - 1)
        move = pos[i1, b] - pos[i0, b]
        want = np.asarray(target_cm, float)[b] - pos[i0, b]
        cos = move @ want / max(np.linalg.norm(move) * np.linalg.norm(want), 1e-12)
        out[b] = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return out


def false_starts(pos_cm: np.ndarray, window_cm: float, until=None) -> np.ndarray:
    """Whether the hand left the start window (radius ``window_cm`` around the origin) before
    sample ``until`` (per trial; default: the whole trial): (trial,) bool."""
    dist = np.linalg.norm(np.asarray(pos_cm, float), axis=-1)
    if until is not None:
        t = np.arange(dist.shape[0])[:, None]
        dist = np.where(t < np.asarray(until)[None], dist, 0.0)
    return (dist > window_cm).any(0)


def single_peaked(speed_cm_s: np.ndarray, begin: np.ndarray, min_fraction: float = 0.2
                  ) -> np.ndarray:
    """Whether each speed profile (from sample ``begin``) has exactly one local maximum above
    ``min_fraction`` of its peak, with the speed falling to below that fraction between any
    two (a bell-shaped, single-peaked profile): (time, trial), (trial,) -> (trial,) bool."""
    sp = np.asarray(speed_cm_s, float)
    out = np.zeros(sp.shape[1], dtype=bool)
    for b in range(sp.shape[1]):
        seg = sp[int(begin[b]):, b]
        if seg.size < 3 or seg.max() <= 0:
            continue
        above = seg > min_fraction * seg.max()
        # count separate excursions above the level
        starts = np.sum(above[1:] & ~above[:-1]) + int(above[0])
        out[b] = starts == 1
    return out


def summarize_reaches(pos_cm: np.ndarray, target_cm: np.ndarray, go_step: np.ndarray,
                      catch: np.ndarray, heldout: np.ndarray, dt_ms: float, reach_steps: int,
                      hold_steps: int, window_cm: float) -> dict[str, float]:
    """The scores ``CenterOutReach.evaluate`` reports, from a batch of reaches.

    Args:
        pos_cm: (time, trial, 2) hand positions relative to the center.
        target_cm: (trial, 2) target positions.
        go_step: (trial,) sample index of the go cue (ignored on catch trials).
        catch: (trial,) bool, catch trials.
        heldout: (trial,) bool, held-out targets.
        dt_ms: sampling interval.
        reach_steps: samples from the go cue to the start of the hold.
        hold_steps: samples at the end over which the endpoint is averaged.
        window_cm: target and start window radius.

    Returns:
        A dict of floats: endpoint_error_{trained,heldout}_cm, success_rate_{trained,heldout},
        catch_false_start_rate, early_start_rate, reaction_time_ms, movement_time_ms,
        peak_speed_cm_s, max_deviation_cm, initial_direction_error_deg,
        single_peak_fraction (means over reach trials; NaN-safe).
    """
    catch, heldout = np.asarray(catch, bool), np.asarray(heldout, bool)
    go = np.asarray(go_step, int)
    reach = ~catch
    out: dict[str, float] = {}
    err = endpoint_error(pos_cm, target_cm, hold_steps)
    ok = success(pos_cm, target_cm, go + reach_steps, window_cm)
    for name, sel in (("trained", reach & ~heldout), ("heldout", reach & heldout)):
        out[f"endpoint_error_{name}_cm"] = float(err[sel].mean()) if sel.any() else float("nan")
        out[f"success_rate_{name}"] = float(ok[sel].mean()) if sel.any() else float("nan")
    fs = false_starts(pos_cm, window_cm)
    out["catch_false_start_rate"] = float(fs[catch].mean()) if catch.any() else float("nan")
    early = false_starts(pos_cm, window_cm, until=go)
    out["early_start_rate"] = float(early[reach].mean()) if reach.any() else float("nan")
    if reach.any():
        p, tg, g = np.asarray(pos_cm, float)[:, reach], np.asarray(target_cm, float)[reach], \
            go[reach]
        sp = speed(p, dt_ms)
        timing = movement_timing(sp, g, dt_ms)
        out["reaction_time_ms"] = float(np.nanmean(timing.reaction_ms))
        out["movement_time_ms"] = float(np.nanmean(timing.movement_ms))
        out["peak_speed_cm_s"] = float(np.nanmean(timing.peak_speed))
        out["max_deviation_cm"] = float(max_deviation(p[:, :], tg, begin=g).mean())
        out["initial_direction_error_deg"] = float(np.nanmean(
            initial_direction_error(p, tg, timing.onset, dt_ms)))
        out["single_peak_fraction"] = float(single_peaked(sp, g).mean())
    return out


def steps_to_criterion(evals, trained_cm: float = 1.0, heldout_cm: float = 2.0) -> int | None:
    """First evaluated training step at which the endpoint error is at most ``trained_cm`` on
    the trained and ``heldout_cm`` on the held-out targets (None if never).

    Args:
        evals: ``History.evals``, dicts with "step" and the reaching scores.
    """
    for e in evals:
        if e["endpoint_error_trained_cm"] <= trained_cm and \
                e["endpoint_error_heldout_cm"] <= heldout_cm:
            return int(e["step"])
    return None
