"""Kinematic scores of reaches on constructed trajectories with known answers."""

import math

import numpy as np
import pytest

from neurobias.analysis import reaching as R

DT = 1.0  # ms


def _straight(angle_deg=30.0, dist=10.0, onset_ms=200.0, dur_ms=500.0, total_ms=1200.0):
    a = math.radians(angle_deg)
    end = dist * np.array([math.cos(a), math.sin(a)])
    return R.minimum_jerk([0.0, 0.0], end, dur_ms, DT, onset_ms, total_ms), end


def test_minimum_jerk_reach_has_the_known_peak_speed_and_timing():
    pos, end = _straight()
    sp = R.speed(pos[:, None], DT)
    timing = R.movement_timing(sp, np.array([100]), DT, threshold=0.1)
    # peak speed 1.875 D / T (Flash & Hogan 1985), at mid-movement
    assert timing.peak_speed[0] == pytest.approx(1.875 * 10.0 / 0.5, rel=1e-3)
    assert timing.peak_index[0] == pytest.approx(200 + 250, abs=1)
    # 30 s^2 (1 - s)^2 / 1.875 = 0.1 at s = tau: onset at 200 + 500 tau, end symmetric
    tau = np.roots([30 / 1.875, -60 / 1.875, 30 / 1.875, 0, -0.1])
    tau = float(min(r.real for r in tau if abs(r.imag) < 1e-9 and 0 < r.real < 0.5))
    assert timing.reaction_ms[0] == pytest.approx(100 + 500 * tau, abs=2 * DT)
    assert timing.movement_ms[0] == pytest.approx(500 * (1 - 2 * tau), abs=2 * DT)


def test_straight_reach_has_no_deviation_nor_direction_error_and_one_peak():
    pos, end = _straight(angle_deg=-120.0)
    p = pos[:, None]
    assert R.max_deviation(p, end[None])[0] == pytest.approx(0.0, abs=1e-9)
    onset = np.array([210.0])
    assert R.initial_direction_error(p, end[None], onset, DT)[0] == pytest.approx(0.0, abs=1e-5)
    assert R.single_peaked(R.speed(p, DT), np.array([0]))[0]
    assert R.endpoint_error(p, end[None], 100)[0] == pytest.approx(0.0, abs=1e-12)


def test_curved_and_two_step_reaches_are_scored_as_such():
    # a reach that first goes 3 cm sideways (perpendicular) and then to the target
    side = R.minimum_jerk([0, 0], [0, 3], 300, DT, 0, 300)
    back = R.minimum_jerk([0, 3], [10, 0], 400, DT, 0, 600)
    p = np.concatenate([side, back])[:, None]
    assert R.max_deviation(p, np.array([[10.0, 0.0]]))[0] == pytest.approx(3.0, abs=1e-6)
    err = R.initial_direction_error(p, np.array([[10.0, 0.0]]), np.array([0.0]), DT, 100.0)
    assert err[0] == pytest.approx(90.0, abs=1e-4)
    # two submovements separated by a stop: two speed peaks
    assert not R.single_peaked(R.speed(p, DT), np.array([0]))[0]


def test_endpoint_error_success_and_false_starts():
    pos, end = _straight(total_ms=1000.0)
    off = pos + np.array([0.0, 1.5])  # 1.5 cm off at the end (and at the start)
    p = np.stack([pos, off], 1)
    targets = np.stack([end, end])
    np.testing.assert_allclose(R.endpoint_error(p, targets, 50), [0.0, 1.5], atol=1e-9)
    ok = R.success(p, targets, np.array([750, 750]), window_cm=1.0)
    assert ok.tolist() == [True, False]
    assert R.success(p, targets, np.array([750, 750]), window_cm=2.0).all()
    # leaving the window after the hold start fails the trial
    late = pos.copy()
    late[900:] += np.array([2.0, 0.0])
    assert not R.success(late[:, None], end[None], np.array([750]), 1.0)[0]
    # false starts: the reach leaves the 2 cm start window; one that starts 1.5 cm off does not
    assert R.false_starts(p, 2.0).tolist() == [True, True]
    assert R.false_starts(p, 2.0, until=np.array([200, 200])).tolist() == [False, False]
    assert R.false_starts(p, 1.0, until=np.array([200, 200])).tolist() == [False, True]


def test_summary_separates_trained_held_out_and_catch_trials():
    reach, end = _straight(angle_deg=0.0, total_ms=1000.0)
    n_t = reach.shape[0]
    still = np.zeros((n_t, 2))
    drift = np.linspace(0, 3.0, n_t)[:, None] * np.array([1.0, 0.0])
    pos = np.stack([reach, reach + [0.0, 0.5], reach, still, drift], 1)
    targets = np.stack([end, end, end + [0.0, 1.0], end, end])
    out = R.summarize_reaches(pos, targets, go_step=np.array([100] * 5),
                              catch=np.array([0, 0, 0, 1, 1], bool),
                              heldout=np.array([0, 0, 1, 0, 0], bool), dt_ms=DT,
                              reach_steps=650, hold_steps=100, window_cm=2.0)
    assert out["endpoint_error_trained_cm"] == pytest.approx(0.25, abs=1e-9)
    assert out["endpoint_error_heldout_cm"] == pytest.approx(1.0, abs=1e-9)
    assert out["success_rate_trained"] == 1.0 and out["success_rate_heldout"] == 1.0
    assert out["catch_false_start_rate"] == 0.5
    assert out["peak_speed_cm_s"] == pytest.approx(37.5, rel=1e-3)
    assert out["single_peak_fraction"] == 1.0


def test_steps_to_criterion_finds_the_first_evaluation_within_both_bounds():
    evals = [{"step": 10, "endpoint_error_trained_cm": 0.9, "endpoint_error_heldout_cm": 2.5},
             {"step": 20, "endpoint_error_trained_cm": 1.2, "endpoint_error_heldout_cm": 1.5},
             {"step": 30, "endpoint_error_trained_cm": 0.8, "endpoint_error_heldout_cm": 1.9},
             {"step": 40, "endpoint_error_trained_cm": 0.5, "endpoint_error_heldout_cm": 1.0}]
    assert R.steps_to_criterion(evals) == 30
    assert R.steps_to_criterion(evals, 0.6, 1.2) == 40
    assert R.steps_to_criterion(evals, 0.1, 0.1) is None
