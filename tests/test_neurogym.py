import warnings

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import neurobias as nb
from neurobias.envs.neurogym import NeuroGymEnv, supervised_env_ids

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import neurogym

SUPERVISED = supervised_env_ids()
EIGHT = ("PerceptualDecisionMaking-v0", "GoNogo-v0", "DelayMatchSample-v0", "yang19.go-v0",
         "yang19.anti-v0", "yang19.dm1-v0", "yang19.dms-v0", "yang19.ctxdm1-v0")


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_every_yang19_and_most_native_envs_are_accepted():
    yang = [e for e in SUPERVISED if e.startswith("yang19.")]
    assert len(yang) == 20
    native = [e for e in SUPERVISED if not e.startswith("yang19.")]
    assert len(native) >= 24
    assert "PerceptualDecisionMaking-v0" in native and "ReachingDelayResponse-v0" in native


@pytest.mark.parametrize("env_id", SUPERVISED)
def test_adapter_matches_neurogym_and_runs_forward(env_id):
    env = NeuroGymEnv(tasks=(env_id,), eval_trials=4)
    batch = env.batch_for_task(0, 3, gen(5))
    # the same trials straight from neurogym, seeded as the adapter seeds them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = neurogym.make(env_id, dt=20).unwrapped
    ref.seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen(5))))
    for i in range(3):
        ref.new_trial()
        n = len(ref.gt)
        assert int(batch.conditions["length"][i]) == n
        ob = torch.from_numpy(np.asarray(ref.ob, dtype=np.float32)).reshape(n, -1)
        torch.testing.assert_close(batch.inputs[:n, i, : ob.shape[1]], ob, rtol=0, atol=0)
        gt = torch.from_numpy(np.asarray(ref.gt, dtype=np.float32)).reshape(n, -1)
        torch.testing.assert_close(batch.targets[:n, i, : gt.shape[1]], gt, rtol=0, atol=0)
        assert (batch.mask[:n, i] > 0).all() and (batch.mask[n:, i] == 0).all()
    net = nb.RateRNN(nb.CircuitConfig(n_units=16, n_inputs=env.n_inputs,
                                      n_outputs=env.n_outputs, n_contexts=env.n_contexts),
                     seed=0)
    out = net(batch.inputs, batch.context).outputs
    loss = env.loss(out, batch)
    assert out.shape == (batch.n_steps, 3, env.n_outputs) and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(net.biases.grad).all() and net.biases.grad.abs().sum() > 0


@pytest.mark.parametrize("env_id", ["Bandit-v0", "DawTwoStep-v0", "EconomicDecisionMaking-v0",
                                    "Null-v0"])
def test_unsupervised_envs_are_refused_with_the_reason(env_id):
    with pytest.raises(ValueError, match="has no supervised ground truth .* reinforcement"):
        NeuroGymEnv(tasks=(env_id,))


def test_envs_needing_arguments():
    with pytest.raises(ValueError, match="'AnnubesEnv-v0' needs arguments: .*env.env_kwargs"):
        NeuroGymEnv(tasks=("AnnubesEnv-v0",))
    env = NeuroGymEnv(tasks=("AnnubesEnv-v0",), env_kwargs={
        "AnnubesEnv-v0": {"session": {"v": 0.5, "a": 0.5}, "catch_prob": 0.5}})
    assert env.sample(2, gen(0)).n_trials == 2
    with pytest.raises(ValueError, match="'NoSuchTask' is not a NeuroGym env or collection"):
        NeuroGymEnv(tasks=("NoSuchTask",))


def test_same_seed_same_batch_other_seed_differs_and_batches_are_copies():
    env = NeuroGymEnv(tasks=EIGHT)
    a, b, c = env.sample(16, gen(1)), env.sample(16, gen(1)), env.sample(16, gen(2))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not (a.inputs.shape == c.inputs.shape and torch.equal(a.inputs, c.inputs))
    kept = a.inputs.clone()
    g = gen(1)
    env.sample(16, g)
    for _ in range(3):
        env.sample(16, g)  # more trials from the same task objects
    assert torch.equal(a.inputs, kept)


def test_multitask_spaces_contexts_and_rule_inputs():
    env = NeuroGymEnv(tasks=EIGHT)
    assert (env.n_inputs, env.n_outputs, env.n_contexts) == (33, 17, 8)
    t = env.test_batch(16, gen(0))
    assert t.context.tolist() == list(range(8)) * 2
    # PerceptualDecisionMaking has 3 inputs: the other 30 columns are padding
    assert t.inputs[:, 0, 3:].abs().sum() == 0
    rule = NeuroGymEnv(tasks=EIGHT, rule_input=True)
    assert (rule.n_inputs, rule.n_contexts) == (41, 1)
    r = rule.test_batch(8, gen(0))
    assert r.context.tolist() == [0] * 8
    length = r.conditions["length"]
    for i in range(8):
        onehot = r.inputs[: length[i], i, 33:]
        assert (onehot[:, i] == 1).all() and onehot.sum() == length[i]
    collection = NeuroGymEnv(tasks=("yang19",))
    assert collection.n_tasks == 20 and collection.context_names[0] == "yang19.anti"
    with pytest.raises(ValueError, match="env.task_weights"):
        NeuroGymEnv(tasks=EIGHT, task_weights=(1.0, 2.0))
    weighted = NeuroGymEnv(tasks=EIGHT, task_weights=(0, 0, 0, 1, 0, 0, 0, 0))
    assert {int(weighted.sample(4, gen(s)).context[0]) for s in range(10)} == {3}


def _perfect_logits(batch, n_out):
    return F.one_hot(batch.targets[..., 0].long(), n_out).float() * 10


def test_scores_known_answers():
    env = NeuroGymEnv(tasks=("PerceptualDecisionMaking-v0",), decision_weight=0.2)
    batch = env.batch_for_task(0, 32, gen(0))
    logits = _perfect_logits(batch, env.n_outputs)
    s = env.score(logits, batch)
    assert s["correct"].all() and not s["fix_break"].any()
    # breaking fixation at one early step of trial 0 makes it wrong
    broken = logits.clone()
    broken[2, 0] = torch.tensor([0.0, 10.0, 0.0])
    s = env.score(broken, batch)
    assert s["fix_break"].tolist() == [True] + [False] * 31 and not s["correct"][0]
    # a wrong choice at the last decision step of trial 1
    wrong = logits.clone()
    last = int(batch.conditions["decision_end"][1]) - 1
    truth = int(batch.targets[last, 1, 0])
    wrong[last, 1] = F.one_hot(torch.tensor(3 - truth), 3).float() * 10
    s = env.score(wrong, batch)
    assert not s["correct"][1] and not s["fix_break"][1] and s["correct"][2:].all()
    # the decision weight is in the mask, and the loss is the mask-weighted cross-entropy
    cond = batch.conditions
    dec = slice(int(cond["decision_start"][0]), int(cond["decision_end"][0]))
    assert (batch.mask[dec, 0] == 0.2).all() and batch.mask[0, 0] == 1.0
    y = torch.randn_like(logits)
    ce = F.cross_entropy(y.permute(1, 2, 0), batch.targets[..., 0].long().T, reduction="none").T
    w = batch.mask[..., 0]
    assert env.loss(y, batch).item() == pytest.approx(((ce * w).sum() / w.sum()).item(), rel=1e-6)


def test_psychometric_and_evaluate_with_a_perfect_readout():
    class Oracle(nb.RateRNN):
        """Outputs the ground truth: scores must be perfect."""

        def forward(self, inputs, context, **kw):
            batch = self.batch
            return nb.Rollout(_perfect_logits(batch, 3), None, None)

    env = NeuroGymEnv(tasks=("PerceptualDecisionMaking-v0",))
    oracle = Oracle(nb.CircuitConfig(n_units=4, n_inputs=3, n_outputs=3), seed=0)
    oracle.batch = env.batch_for_task(0, 200, gen(9))
    levels, acc, n = env.psychometric(oracle, 0, gen(9), n_trials=200)
    assert n.sum() == 200 and np.all(acc == 1.0)
    np.testing.assert_array_equal(levels, np.unique(oracle.batch.conditions["coh"].numpy()))


def test_multitask_run_summary_export_and_figures(tmp_path):
    from neurobias import io, plot
    from neurobias.config import config_from_dict

    cfg = config_from_dict({
        "name": "two", "circuit": {"n_units": 32, "gain": 2.0, "readout_scale": 30.0},
        "env": {"kind": "neurogym", "tasks": ["PerceptualDecisionMaking-v0", "yang19.go-v0"],
                "eval_trials": 16, "decision_weight": 0.2},
        "train": {"steps": 6, "batch_size": 8, "eval_every": 3}})
    run = nb.train_run(cfg, tmp_path / "run", progress=False)
    for key in ("accuracy/PerceptualDecisionMaking", "accuracy/yang19.go", "accuracy_mean",
                "fixation_break_mean", "steps", "seconds", "n_trainable"):
        assert key in run.summary, key
    assert run.summary["n_trainable"] == 2 * 32 + 17
    assert run.summary["accuracy_mean"] == pytest.approx(
        (run.summary["accuracy/PerceptualDecisionMaking"] + run.summary["accuracy/yang19.go"]) / 2)
    back = io.load(io.export(run, tmp_path / "run.h5", n_trials=6, progress=False))
    assert back.trials["context"].tolist() == [0, 1, 0, 1, 0, 1]
    assert back.trials["outputs"].shape[2] == 17 and back.trials["targets"].shape[2] == 1
    assert back.history.evals == run.history.evals
    paths = plot.run_figures(run, tmp_path / "figures")
    assert {p.name for p in paths} == {"learning_curve.png", "task_learning_curves.png",
                                       "psychometric.png"}
