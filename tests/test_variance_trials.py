"""Task variance on noise-free, fixed-timing trials: the trials, a planted circuit, the window."""

import numpy as np
import pytest
import torch

import neurobias as nb
from neurobias.analyze import analyze_run, task_variances, variance_trials
from neurobias.config import config_from_dict
from neurobias.envs.neurogym import NeuroGymEnv


def gen(seed):
    return torch.Generator().manual_seed(seed)


TIMES = ("start_", "end_", "decision_", "length", "stim_period")


def _groups(batch):
    """Trials grouped by their conditions (not their epoch times): lists of >= 2 trials."""
    keys = sorted(k for k in batch.conditions if not k.startswith(TIMES))
    rows = zip(*(batch.conditions[k].tolist() for k in keys), strict=True)
    out = {}
    for i, row in enumerate(rows):
        out.setdefault(tuple(row), []).append(i)
    return [g for g in out.values() if len(g) >= 2]


@pytest.mark.parametrize("env_id", ["PerceptualDecisionMaking-v0", "yang19.dm1-v0"])
def test_trials_of_one_condition_have_identical_inputs(env_id):
    env = NeuroGymEnv(tasks=(env_id,))
    fixed = env.fixed_batch(128, gen(0))
    assert len(set(fixed.conditions["length"].tolist())) == 1  # yang19.dm1 draws its timing
    groups = _groups(fixed)
    assert sum(len(g) for g in groups) >= 8
    for g in groups:
        for i in g[1:]:
            assert torch.equal(fixed.inputs[:, i], fixed.inputs[:, g[0]])
    # the ordinary test trials of the same conditions differ (stimulus noise, timing)
    noisy = env.test_batch(128, gen(0))
    g = _groups(noisy)[0]
    n = int(noisy.conditions["length"][g].min())
    assert not torch.equal(noisy.inputs[:n, g[0]], noisy.inputs[:n, g[1]])


def test_fixed_timing_uses_means_given_values_and_keeps_condition_intervals():
    env = NeuroGymEnv(tasks=("yang19.dm1-v0", "ReadySetGo-v0"))
    # yang19.dm1: fixation ~ uniform(200, 500) ms -> 350 ms, floored to 17 steps of 20 ms;
    # stimulus drawn from (200, 400, 600) ms -> 400 ms = 20 steps
    b = env.fixed_batch(8, gen(1))
    dm = b.conditions["task"] == 0
    for period, steps in (("fixation", 17), ("stimulus", 20)):
        d = (b.conditions[f"end_{period}"] - b.conditions[f"start_{period}"])[dm]
        assert d.tolist() == [steps] * 4
    b = env.fixed_batch(8, gen(1), timing={"yang19.dm1": {"stimulus": 600}})
    d = (b.conditions["end_stimulus"] - b.conditions["start_stimulus"])[b.conditions["task"] == 0]
    assert d.tolist() == [30] * 4
    # ReadySetGo's measured interval is its condition: it still varies
    b = env.fixed_batch(32, gen(1))
    rsg = b.conditions["task"] == 1
    assert len(set(b.conditions["measure"][rsg].tolist())) > 3
    with pytest.raises(ValueError, match="timing 'stimuls' is not a period of yang19.dm1-v0"):
        env.fixed_batch(8, gen(1), timing={"yang19.dm1-v0": {"stimuls": 600}})


def _planted(env):
    """A circuit whose rates are its inputs plus its tonic input: r(t) = u(t) + b[c]
    (linear units, no recurrence, W_in = I, dt = tau so alpha = 1)."""
    n = env.n_inputs
    cfg = nb.CircuitConfig(n_units=n, n_inputs=n, n_outputs=env.n_outputs,
                           n_contexts=env.n_contexts, activation="linear", tau_ms=20.0,
                           dt_ms=20.0, bias_init_std=1.0)
    net = nb.RateRNN(cfg, seed=0)
    with torch.no_grad():
        net.W_rec.zero_()
        net.W_in.copy_(torch.eye(n))
    return net


def test_planted_circuit_task_variance_is_the_input_variance_after_fixation():
    env = NeuroGymEnv(tasks=("PerceptualDecisionMaking-v0", "yang19.go-v0"))
    net = _planted(env)
    rates, task, cond = variance_trials(net, env, 32, seed=0)
    tv, epochs = task_variances(rates, task, cond, 2)
    batch = env.fixed_batch(64, gen(0))  # the same trials: same seed, same draws
    inputs = batch.inputs.double().numpy()
    for k in range(2):
        sel = task == k
        start = set(cond["end_fixation"][sel].tolist())
        end = set(cond["length"][sel].tolist())
        assert len(start) == len(end) == 1  # fixed timing: one window for every trial
        first, last = start.pop(), end.pop()
        # by hand: the variance across trials of each input, step by step, after fixation
        hand = inputs[first:last, sel].var(axis=1).mean(axis=0)
        np.testing.assert_allclose(tv[:, k], hand, rtol=1e-5, atol=1e-9)
        # a window from the trial's first step would be another number
        whole = inputs[:last, sel].var(axis=1).mean(axis=0)
        assert np.abs(whole - hand).max() > 1e-2 * hand.max()
        # the stimulus epoch alone, by hand as well
        s0, s1 = int(cond["start_stimulus"][sel][0]), int(cond["end_stimulus"][sel][0])
        np.testing.assert_allclose(epochs["stimulus"][:, k],
                                   inputs[s0:s1, sel].var(axis=1).mean(axis=0), rtol=1e-5,
                                   atol=1e-9)
    assert tv[1:3, 0].min() > 0  # PerceptualDecisionMaking's two stimulus channels vary


def test_analyze_takes_task_variance_on_the_fixed_trials(tmp_path):
    cfg = config_from_dict({
        "name": "tv", "circuit": {"n_units": 16},
        "env": {"kind": "neurogym", "tasks": ["PerceptualDecisionMaking-v0", "yang19.go-v0"],
                "eval_trials": 4},
        "train": {"steps": 2, "batch_size": 4, "eval_every": 2}})
    run = nb.train_run(cfg, tmp_path / "run", progress=False)
    res = analyze_run(tmp_path / "run", n_trials=8, fixed_point_starts=4, fixed_point_iters=20,
                      n_shuffles=10, lesions=False, seed=3, progress=False,
                      variance_trials_per_task=16)
    expected, _ = task_variances(*variance_trials(run.net.cpu(), run.env, 16, 3), 2)
    np.testing.assert_allclose(res.task_variance, expected, rtol=1e-12)


def test_annubes_noise_is_off_in_fixed_trials():
    # one modality at one intensity, no catch trials: every trial is the same condition
    kwargs = {"AnnubesEnv-v0": {"session": {"v": 1.0}, "catch_prob": 0.0,
                                "intensities": [1.0]}}
    env = NeuroGymEnv(tasks=("AnnubesEnv-v0",), env_kwargs=kwargs)
    fixed = env.fixed_batch(8, gen(0))
    assert all(torch.equal(fixed.inputs[:, i], fixed.inputs[:, 0]) for i in range(8))
    noisy = env.test_batch(8, gen(0))
    assert not torch.equal(noisy.inputs[:, 1], noisy.inputs[:, 0])
