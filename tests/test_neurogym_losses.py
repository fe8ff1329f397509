"""NeuroGym losses and scores against values computed by hand: the squared-error loss, the
regression envs (continuous action space), and the psychometric grouping by condition."""

import warnings

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import neurobias as nb
from neurobias.envs.neurogym import NeuroGymEnv

REGRESSION = ("ReachingDelayResponse-v0", "SpatialSuppressMotion-v0")


def gen(seed):
    return torch.Generator().manual_seed(seed)


class _Replay(nb.RateRNN):
    """Outputs ``self.outputs_for(batch)`` for the batch it was given, whatever the inputs: a
    circuit whose outputs are known in advance."""

    def forward(self, inputs, context, **kw):
        assert torch.equal(inputs, self.batch.inputs)  # the batch the test prepared
        return nb.Rollout(self.outputs, None, None)


def _replay(env, batch, outputs):
    net = _Replay(nb.CircuitConfig(n_units=4, n_inputs=env.n_inputs, n_outputs=env.n_outputs,
                                   n_contexts=env.n_contexts), seed=0)
    net.batch, net.outputs = batch, outputs
    return net


def test_mse_loss_against_one_hot_targets():
    env = NeuroGymEnv(tasks=("PerceptualDecisionMaking-v0",), loss="mse", decision_weight=3.0)
    assert env.loss_kind == "mse"
    batch = env.batch_for_task(0, 6, gen(0))
    y = torch.randn(batch.n_steps, 6, 3, generator=gen(1))
    gt = batch.targets[..., 0].numpy().astype(int)
    w = batch.mask[..., 0].numpy()
    assert set(np.unique(w)) == {1.0, 3.0}  # decision steps weigh 3
    total = 0.0
    for t in range(batch.n_steps):
        for k in range(6):
            onehot = np.eye(3)[gt[t, k]]
            total += w[t, k] * np.mean((y[t, k].numpy() - onehot) ** 2)
    assert env.loss(y, batch).item() == pytest.approx(total / w.sum(), rel=1e-5)
    # cross-entropy would be another number
    ce = NeuroGymEnv(tasks=("PerceptualDecisionMaking-v0",), decision_weight=3.0)
    assert ce.loss(y, batch).item() != pytest.approx(total / w.sum(), rel=1e-2)
    # a perfect one-hot output has zero squared error
    assert env.loss(F.one_hot(batch.targets[..., 0].long(), 3).float(), batch).item() == 0.0


def test_mse_recipe_trains(tmp_path):
    env = NeuroGymEnv(tasks=("PerceptualDecisionMaking-v0",), loss="mse", eval_trials=8)
    net = nb.RateRNN(nb.CircuitConfig(n_units=32, n_inputs=env.n_inputs,
                                      n_outputs=env.n_outputs), seed=0)
    hist = nb.fit(net, env, nb.TrainConfig(steps=15, batch_size=8, lr=0.05, eval_every=0),
                  progress=False)
    assert np.mean(hist.loss[-3:]) < np.mean(hist.loss[:3])
    assert "accuracy/PerceptualDecisionMaking" in hist.final


@pytest.mark.parametrize("env_id", REGRESSION)
def test_regression_envs_loss_and_r2(env_id):
    env = NeuroGymEnv(tasks=(env_id,), eval_trials=5, decision_weight=2.0)
    assert env.regression and env.loss_kind == "mse"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import neurogym
        space = neurogym.make(env_id).unwrapped.action_space
    assert env.n_outputs == space.shape[0]  # one output per action dimension
    batch = env.batch_for_task(0, 5, gen(2))
    assert batch.targets.shape[2] == env.n_outputs == batch.mask.shape[2]
    # the loss: per-step mean over channels of the squared error, weighted by the mask
    y = torch.randn(batch.targets.shape, generator=gen(3))
    w = batch.mask[..., 0].numpy()
    err = ((y.numpy() - batch.targets.numpy()) ** 2).mean(-1)
    assert env.loss(y, batch).item() == pytest.approx((err * w).sum() / w.sum(), rel=1e-5)
    # evaluate: r2 and loss, no accuracy; outputs equal to the targets score R^2 = 1, loss 0
    eval_batch = env.batch_for_task(0, 5, gen(4))
    scores = env.evaluate(_replay(env, eval_batch, eval_batch.targets.clone()), gen(4))
    name = env.task_names[0]
    assert set(scores) == {f"r2/{name}", "loss"}
    assert scores[f"r2/{name}"] == pytest.approx(1.0) and scores["loss"] == 0.0
    # half the targets: R^2 = 1 - sum w (t/2)^2 / sum w (t - mean)^2 (mean per channel)
    t, m = eval_batch.targets.double().numpy(), eval_batch.mask.double().numpy()
    mean = (m * t).sum((0, 1)) / m.sum((0, 1))
    r2 = 1 - (m * (t / 2) ** 2).sum() / (m * (t - mean) ** 2).sum()
    scores = env.evaluate(_replay(env, eval_batch, eval_batch.targets / 2), gen(4))
    assert scores[f"r2/{name}"] == pytest.approx(r2, rel=1e-6)


def test_regression_and_classification_envs_do_not_mix():
    with pytest.raises(ValueError, match="mixes classification and regression envs: "
                                         "ReachingDelayResponse-v0"):
        NeuroGymEnv(tasks=("PerceptualDecisionMaking-v0", "ReachingDelayResponse-v0"))


def test_psychometric_groups_trials_by_their_condition():
    env = NeuroGymEnv(tasks=("PerceptualDecisionMaking-v0",))
    batch = env.batch_for_task(0, 240, gen(9))
    coh = batch.conditions["coh"].numpy()
    # correct on strong-coherence trials and on every third trial; elsewhere the circuit holds
    # fixation through the decision (a wrong choice, but no fixation break)
    right = (coh >= 12.8) | (np.arange(240) % 3 == 0)
    logits = F.one_hot(batch.targets[..., 0].long(), 3).float() * 10
    logits[:, ~torch.from_numpy(right)] = torch.tensor([10.0, 0.0, 0.0])
    levels, acc, n = env.psychometric(_replay(env, batch, logits), 0, gen(9), n_trials=240)
    expected_levels = sorted(set(coh.tolist()))
    assert len(expected_levels) == 5  # 0, 6.4, 12.8, 25.6, 51.2 (percent coherence)
    np.testing.assert_allclose(levels, expected_levels)
    for lv, a, count in zip(levels, acc, n, strict=True):
        trials = [k for k in range(240) if coh[k] == lv]
        assert count == len(trials)
        assert a == pytest.approx(sum(right[k] for k in trials) / len(trials))
    assert acc[levels >= 12.8].tolist() == [1.0, 1.0, 1.0]
    assert 0.2 < acc[0] < 0.5  # every third trial
    with pytest.raises(ValueError, match="has no condition 'speed': available: .*coh"):
        env.psychometric(_replay(env, batch, logits), 0, gen(9), n_trials=240,
                         condition="speed")


def test_a_response_inside_the_decision_period_is_not_a_fixation_break():
    # GoNogo: on a no-go trial the answer is to keep fixating through the decision period; a
    # brief "go" at the first decision step is a wavering answer, not a broken fixation, and the
    # choice is read at the last decision step
    env = NeuroGymEnv(tasks=("GoNogo-v0",))
    batch = env.batch_for_task(0, 16, gen(3))
    start = batch.conditions["decision_start"]
    end = batch.conditions["decision_end"]
    truth = batch.targets[end - 1, torch.arange(16), 0].long()
    nogo = int((truth == 0).nonzero()[0])
    logits = F.one_hot(batch.targets[..., 0].long(), 2).float() * 10
    logits[int(start[nogo]), nogo] = torch.tensor([0.0, 10.0])
    s = env.score(logits, batch)
    assert not s["fix_break"].any() and s["correct"].all()
    assert torch.equal(s["truth"], truth) and torch.equal(s["choice"], truth)
    # the same "go" one step earlier breaks fixation
    logits[int(start[nogo]) - 1, nogo] = torch.tensor([0.0, 10.0])
    s = env.score(logits, batch)
    assert s["fix_break"].tolist() == [k == nogo for k in range(16)]
    assert s["correct"].tolist() == [k != nogo for k in range(16)]


def test_every_regression_task_is_scored():
    env = NeuroGymEnv(tasks=REGRESSION, eval_trials=3)
    net = nb.RateRNN(nb.CircuitConfig(n_units=8, n_inputs=env.n_inputs, n_outputs=env.n_outputs,
                                      n_contexts=2), seed=0)
    scores = env.evaluate(net, gen(0))
    assert set(scores) == {"r2/ReachingDelayResponse", "r2/SpatialSuppressMotion", "loss"}


def test_mse_one_hot_spans_every_output_of_a_multitask_env():
    # GoNogo answers 0 or 1, but next to PerceptualDecisionMaking the circuit has 3 outputs
    env = NeuroGymEnv(tasks=("PerceptualDecisionMaking-v0", "GoNogo-v0"), loss="mse")
    batch = env.batch_for_task(1, 4, gen(0))
    assert int(batch.targets.max()) == 1 and env.n_outputs == 3
    y = torch.randn(batch.n_steps, 4, 3, generator=gen(1))
    onehot = F.one_hot(batch.targets[..., 0].long(), 3).float()
    w = batch.mask[..., 0]
    expected = (((y - onehot) ** 2).mean(-1) * w).sum() / w.sum()
    assert env.loss(y, batch).item() == pytest.approx(expected.item(), rel=1e-6)
