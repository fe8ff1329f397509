"""Task variance, epoch windows and fractional variance: boundaries, inputs of other types and
the messages for bad input, against values worked out by hand."""

import numpy as np
import pytest
import torch

from neurobias import analysis as A


def test_window_bounds_are_inclusive_at_start_exclusive_at_end():
    win = A.epoch_window([0, 2, -1], [3, 4, 5], 5)
    expected = np.array([[1, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], bool)
    np.testing.assert_array_equal(win, expected)
    # torch tensors are accepted
    np.testing.assert_array_equal(A.epoch_window(torch.tensor([0, 2, -1]),
                                                 torch.tensor([3, 4, 5]), 5), expected)


def test_task_variance_by_hand_with_a_window_and_torch_input():
    # one unit, context 0: three trials; context 1: two trials
    r = np.array([[1.0, 2.0, 6.0, 0.0, 4.0],
                  [3.0, 3.0, 3.0, 1.0, 1.0],
                  [0.0, 5.0, 9.0, 7.0, 9.0]])[..., None]  # (time 3, trial 5, unit 1)
    ctx = np.array([0, 0, 0, 1, 1])
    # per step: context 0 variances (ddof 0) 14/3, 0, 122/9; context 1: 4, 0, 1
    tv = A.task_variance(torch.from_numpy(r), torch.from_numpy(ctx))
    np.testing.assert_allclose(tv, [[(14 / 3 + 0 + 122 / 9) / 3, (4 + 0 + 1) / 3]])
    # trial 2 leaves after step 1, trial 4 starts at step 1: steps with fewer than two trials
    # of a context in their window are dropped
    win = np.ones((3, 5), bool)
    win[2, 2] = False
    win[0, 4] = False
    tv = A.task_variance(r, ctx, window_tb=torch.from_numpy(win))
    # context 0: 14/3, 0, var(0, 5) = 6.25; context 1: step 0 has one trial, then 0 and 1
    np.testing.assert_allclose(tv, [[(14 / 3 + 0 + 6.25) / 3, (0 + 1) / 2]])
    # an explicit n_contexts adds a context, which must then have trials
    with pytest.raises(ValueError, match="^context 2 has 0 trials with fewer than two inside"):
        A.task_variance(r, ctx, n_contexts=3)
    assert A.task_variance(r, ctx, n_contexts=2).shape == (1, 2)


@pytest.mark.parametrize("call, message", [
    (lambda r, c: A.task_variance(r[0], c), r"^rates_tbn has 2 dimensions \(shape \(5, 1\)\): "
                                            "expected 3$"),
    (lambda r, c: A.task_variance(r, c[None]), r"^context has 2 dimensions \(shape \(1, 5\)\): "
                                               "expected 1$"),
    (lambda r, c: A.task_variance(r, c - 1), "^context values must be >= 0$"),
    (lambda r, c: A.task_variance(r, c, n_contexts=1),
     "^context reaches 1 but n_contexts=1$"),
    (lambda r, c: A.task_variance(r, c, window_tb=np.ones((2, 5), bool)),
     r"^window_tb has shape \(2, 5\): expected \(3, 5\)$"),
    (lambda r, c: A.task_variance(r, c, window_tb=np.ones(5, bool)),
     r"^window_tb has 1 dimensions \(shape \(5,\)\): expected 2$"),
    (lambda r, c: A.task_variance(np.where(r > 13, np.inf, r), c),
     r"^rates_tbn holds 1 NaN or infinite values: analyses need finite values \(drop or zero "
     r"the padding of short trials first\)$"),
    (lambda r, c: A.epoch_window([0, 1], [2], 3), r"^start \(2,\) and end \(1,\) differ in "
                                                  "shape$"),
    (lambda r, c: A.epoch_window(np.zeros((1, 2)), [2, 2], 3),
     r"^start has 2 dimensions \(shape \(1, 2\)\): expected 1$"),
    (lambda r, c: A.epoch_window([0, 0], np.zeros((1, 2)), 3),
     r"^end has 2 dimensions \(shape \(1, 2\)\): expected 1$"),
    (lambda r, c: A.fractional_variance(np.ones((3, 2)), 0, 2),
     r"^b=2 is not a context: allowed 0\.\.1$"),
    (lambda r, c: A.fractional_variance(np.ones((3, 2)), -1, 1),
     r"^a=-1 is not a context: allowed 0\.\.1$"),
    (lambda r, c: A.fractional_variance(np.ones(3), 0, 1),
     r"^tv_uc has 1 dimensions \(shape \(3,\)\): expected 2$"),
    (lambda r, c: A.task_variance_by_epoch(r[0], c, {}),
     r"^rates_tbn has 2 dimensions \(shape \(5, 1\)\): expected 3$"),
    (lambda r, c: A.task_variance_by_epoch(r, c[None], {}),
     r"^context has 2 dimensions \(shape \(1, 5\)\): expected 1$"),
])
def test_bad_input_messages(call, message):
    r = np.arange(15.0).reshape(3, 5, 1)
    c = np.array([0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match=message):
        call(r, c)


def test_fractional_variance_threshold_is_strict():
    tv = np.array([[0.6, 0.4], [0.5, 0.5], [0.3, 0.0]])
    # the second unit's total equals the threshold: left out; the first exceeds it
    np.testing.assert_allclose(A.fractional_variance(tv, 0, 1, threshold=1.0), [])
    np.testing.assert_allclose(A.fractional_variance(tv, 0, 1, threshold=0.99), [0.2, 0.0])
    np.testing.assert_allclose(A.fractional_variance(tv, 1, 0, threshold=0.2), [-0.2, 0, -1])


def test_epochs_per_context_with_explicit_contexts():
    rng = np.random.default_rng(0)
    r = rng.standard_normal((6, 8, 2))
    ctx = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    start, end = np.full(8, 1), np.full(8, 4)
    out = A.task_variance_by_epoch(torch.from_numpy(r), ctx, {"stim": (start, end)},
                                   n_contexts=3)
    assert out["stim"].shape == (2, 3) and np.isnan(out["stim"][:, 2]).all()
    for c in (0, 1):
        sel = r[1:4, ctx == c]
        np.testing.assert_allclose(out["stim"][:, c], sel.var(1).mean(0))
    # default: as many contexts as the largest index + 1
    assert A.task_variance_by_epoch(r, ctx, {"stim": (start, end)})["stim"].shape == (2, 2)
    # an epoch two trials of a context share at one step only still counts
    s2 = np.array([0, 5, 5, 5, 0, 0, 5, 5])
    e2 = np.array([6, 6, 6, 6, 1, 1, 6, 6])
    out = A.task_variance_by_epoch(r, ctx, {"e": (s2, e2)})["e"]
    np.testing.assert_allclose(out[:, 1], (r[0, [4, 5]].var(0) + r[5, [6, 7]].var(0)) / 2)


def test_tensors_that_require_grad_are_detached():
    r = torch.arange(12.0).reshape(2, 6, 1).requires_grad_()
    ctx = torch.tensor([0, 0, 0, 1, 1, 1])
    tv = A.task_variance(r, ctx)
    np.testing.assert_allclose(tv, [[2 / 3, 2 / 3]])


def test_an_epoch_whose_trials_never_overlap_is_nan():
    # context 0's two trials are in the epoch at different steps: never two at once
    r = np.arange(8.0).reshape(4, 2, 1)
    out = A.task_variance_by_epoch(r, np.array([0, 0]), {"e": (np.array([0, 2]),
                                                               np.array([1, 3]))})
    assert np.isnan(out["e"]).all()
