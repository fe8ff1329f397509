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
    # the same trials straight from neurogym, seeded as the adapter seeds them, made by what
    # neurogym itself calls for a new trial (the task's top wrapper, e.g. yang19's schedule
    # over stimulus modalities)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        top = neurogym.make(env_id, dt=20).unwrapped._top
    top.seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen(5))))
    if hasattr(top, "envs"):  # a schedule: its next env drawn from the seeded schedule
        top.next_i_env = top.schedule()
    for i in range(3):
        top.new_trial()
        ref = top.env.unwrapped if hasattr(top, "envs") else top.unwrapped
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
    # Annubes draws its stimuli from a generator of its own: it follows the seed as well
    a, b = (NeuroGymEnv(tasks=("AnnubesEnv-v0",), env_kwargs=ANNUBES).sample(16, gen(0))
            for _ in range(2))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
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


# ------------------------------------------------------------------ scoring of every env

ANNUBES = {"AnnubesEnv-v0": {"session": {"v": 0.5, "a": 0.5}, "catch_prob": 0.5}}
# every env the adapter accepts alone, the yang19 collection as one multitask env, an env that
# needs arguments, and a mixed set (timing, two-answer and choice tasks in one env)
SCORED = [(e,) for e in SUPERVISED] + [("yang19",), ("AnnubesEnv-v0",),
                                        ("ReadySetGo-v0", "DualDelayMatchSample-v0",
                                         "GoNogo-v0", "yang19.dms-v0")]
# the 7 envs NeuroGym registers that the adapter refuses, with the reason it gives
REFUSED = {"AnnubesEnv-v0": "needs arguments", "Bandit-v0": "no supervised ground truth",
           "DawTwoStep-v0": "no supervised ground truth",
           "EconomicDecisionMaking-v0": "no supervised ground truth",
           "Null-v0": "no supervised ground truth",
           "Reaching1D-v0": "not supervised by actions",
           "Reaching1DWithSelfDistraction-v0": "not supervised by actions"}


class _Recorded(NeuroGymEnv):
    """A NeuroGymEnv that keeps every batch it hands out (for the oracle and the chance)."""

    def batch_for_task(self, task, batch_size, generator):
        batch = super().batch_for_task(task, batch_size, generator)
        self.handed_out = getattr(self, "handed_out", []) + [batch]
        return batch


class _Oracle(nb.RateRNN):
    """Outputs the ground truth of the batch it is given: one-hot logits (or the targets)."""

    def forward(self, inputs, context, **kw):
        batch = next(b for b in self.env.handed_out
                     if b.inputs.shape == inputs.shape and torch.equal(b.inputs, inputs))
        if self.env.regression:
            return nb.Rollout(batch.targets.clone(), None, None)
        return nb.Rollout(_perfect_logits(batch, self.env.n_outputs), None, None)


def _circuits(env):
    cfg = nb.CircuitConfig(n_units=8, n_inputs=env.n_inputs, n_outputs=env.n_outputs,
                           n_contexts=env.n_contexts, readout_scale=0.0)
    oracle = _Oracle(cfg, seed=0)
    oracle.env = env
    fixate = nb.RateRNN(cfg, seed=0)  # W_out = 0: the outputs are b_out, fixation the largest
    with torch.no_grad():
        fixate.b_out[0] = 5.0
    return oracle, fixate


def test_the_registry_is_what_the_scoring_sweep_covers():
    _, native, collections = __import__("neurobias.envs.neurogym", fromlist=["_ngym"])._ngym()
    every = set(native) | set(collections)
    assert len(SUPERVISED) == 45 and set(SUPERVISED) | set(REFUSED) == every
    for env_id, reason in REFUSED.items():
        with pytest.raises(ValueError, match=reason):
            NeuroGymEnv(tasks=(env_id,))


@pytest.mark.parametrize("tasks", SCORED, ids=["+".join(t) for t in SCORED])
def test_oracle_scores_one_and_always_fixate_scores_the_no_response_share(tasks):
    """Chance for always-fixate is the share of trials whose ground truth is fixation at every
    step (no-go, non-match, no-tone trials): there fixating is right, everywhere else a
    response is needed. It is 0 for tasks that always ask for a response (timing tasks too)."""
    env = _Recorded(tasks=tasks, eval_trials=48,
                    env_kwargs=ANNUBES if "AnnubesEnv-v0" in tasks else None)
    oracle, fixate = _circuits(env)
    scores = env.evaluate(oracle, gen(3))
    if env.regression:
        assert all(scores[f"r2/{n}"] == pytest.approx(1.0) for n in env.task_names)
        return
    for name in env.task_names:
        assert scores[f"accuracy/{name}"] == 1.0, name
        assert scores[f"fixation_break/{name}"] == 0.0, name
    env.handed_out = []
    scores = env.evaluate(fixate, gen(3))
    for name, batch in zip(env.task_names, env.handed_out, strict=True):
        asks = ((batch.targets[..., 0] != 0) & (batch.mask[..., 0] > 0)).any(0)
        chance = float((~asks).float().mean())
        assert scores[f"accuracy/{name}"] == pytest.approx(chance), name
        assert scores[f"fixation_break/{name}"] == 0.0, name
        if name in ("ReadySetGo", "MotorTiming", "OneTwoThreeGo"):
            assert chance == 0.0


def _choose(logits, step, trial, action):
    logits[step, trial] = 0.0
    logits[step, trial, action] = 10.0


def test_timing_task_is_scored_by_the_first_response_within_the_envs_tolerance():
    env = NeuroGymEnv(tasks=("ReadySetGo-v0",))
    batch = env.batch_for_task(0, 16, gen(4))
    cond = batch.conditions
    fixate = torch.zeros(batch.n_steps, 16, env.n_outputs)
    fixate[..., 0] = 10.0
    for i in range(16):
        start = int(cond["start_production"][i])
        # the target is production / dt steps into the production period (NeuroGym's gt)
        steps_to_target = int(float(cond["production"][i]) / 20.0)
        target = start + steps_to_target
        assert batch.targets[target, i, 0] == 1 and batch.targets[start:target, i, 0].sum() == 0
        # NeuroGym's reward: |t - target| <= prod_margin (0.2) * production + 25 ms
        late = int((0.2 * steps_to_target * 20.0 + 25.0) // 20.0)
        for shift, ok in ((late, True), (late + 1, False), (-late, True), (-late - 1, False)):
            y = fixate.clone()
            _choose(y, target + shift, i, 1)
            s = env.score(y, batch)
            assert bool(s["correct"][i]) is ok, (i, shift)
            assert not s["fix_break"][i] and s["correct"][torch.arange(16) != i].sum() == 0
        # a response before the production period breaks fixation
        y = fixate.clone()
        _choose(y, target, i, 1)
        _choose(y, start - 1, i, 1)
        s = env.score(y, batch)
        assert s["fix_break"][i] and not s["correct"][i]


def test_every_answer_period_counts_and_fixation_between_them():
    # DualDelayMatchSample answers in test1 and in test2; the old score read only test2
    env = NeuroGymEnv(tasks=("DualDelayMatchSample-v0",))
    batch = env.batch_for_task(0, 8, gen(5))
    cond = batch.conditions
    perfect = _perfect_logits(batch, env.n_outputs)
    assert env.score(perfect, batch)["correct"].all()
    wrong = perfect.clone()
    last1 = int(cond["end_test1"][0]) - 1
    _choose(wrong, last1, 0, 3 - int(batch.targets[last1, 0, 0]))  # the other of actions 1, 2
    s = env.score(wrong, batch)
    assert s["correct"].tolist() == [False] + [True] * 7 and not s["fix_break"].any()
    # answering early in test1 (not at its last step) is neither read nor a fixation break
    early = perfect.clone()
    first1 = int(cond["start_test1"][1])
    _choose(early, first1, 1, 3 - int(batch.targets[first1, 1, 0]))
    assert env.score(early, batch)["correct"].all()
    # leaving fixation in delay2, between the two answers, is a fixation break
    broken = perfect.clone()
    _choose(broken, int(cond["start_delay2"][2]), 2, 1)
    s = env.score(broken, batch)
    assert s["fix_break"].tolist() == [False, False, True] + [False] * 5
    assert s["correct"].tolist() == [True, True, False] + [True] * 5
    # HierarchicalReasoning: the rule reported in rule_target counts as well as the decision
    env = NeuroGymEnv(tasks=("HierarchicalReasoning-v0",))
    batch = env.batch_for_task(0, 4, gen(6))
    wrong = _perfect_logits(batch, env.n_outputs)
    rule = int(batch.conditions["end_rule_target"][3]) - 1
    _choose(wrong, rule, 3, 3 - int(batch.targets[rule, 3, 0]))
    assert env.score(wrong, batch)["correct"].tolist() == [True, True, True, False]


def test_no_go_trials_are_correct_only_when_fixation_is_held_to_the_end():
    env = NeuroGymEnv(tasks=("GoNogo-v0",))
    batch = env.batch_for_task(0, 32, gen(7))
    last = batch.conditions["decision_end"] - 1
    truth = batch.targets[last, torch.arange(32), 0].long()
    assert 0 < int((truth == 0).sum()) < 32
    go = _perfect_logits(batch, 2)
    for i in range(32):  # "go" at the last decision step of every trial
        _choose(go, int(last[i]), i, 1)
    s = env.score(go, batch)
    assert s["correct"].tolist() == (truth == 1).tolist()
    assert s["choice"].tolist() == [1] * 32 and s["truth"].tolist() == truth.tolist()


# ------------------------------------------------------------------ settings that must not vanish

def _steps(env, period, task=0):
    b = env.batch_for_task(task, 1, gen(0))
    return int(b.conditions[f"end_{period}"][0] - b.conditions[f"start_{period}"][0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(timing={"delay": 300}),
     "env.timing: 'delay' is not one of env.tasks: allowed: DelayComparison-v0"),
    (dict(timing={"DelayComparison-v0": {"dleay": 300}}),
     'env.timing."DelayComparison-v0".dleay is not a period of DelayComparison-v0: allowed: '
     "decision, delay, fixation, stimulus1, stimulus2"),
    (dict(timing={"DelayComparisn-v0": {"delay": 300}}),
     "env.timing: 'DelayComparisn-v0' is not one of env.tasks: allowed: DelayComparison-v0"),
    (dict(timing={"DelayComparison": {"delay": -1}}),
     'env.timing."DelayComparison-v0".delay=-1 is invalid: a period lasts a number of ms'),
    (dict(timing={"DelayComparison-v0": {"delay": ["uniform", [100]]}}),
     "delay=['uniform', [100]] is invalid"),
    (dict(timing={"DelayComparison-v0": {"delay": ["gauss", [100, 5]]}}),
     "delay=['gauss', [100, 5]] is invalid"),
    (dict(timing="delay=300"), "env.timing='delay=300' is invalid: it maps each env id"),
    (dict(timing={"DelayComparison": {"delay": 1}, "DelayComparison-v0": {"delay": 2}}),
     "env.timing names 'DelayComparison-v0' twice"),
    (dict(env_kwargs={"DelayComparisn-v0": {"sigma": 0.0}}),
     "env.env_kwargs: 'DelayComparisn-v0' is not one of env.tasks"),
    (dict(env_kwargs={"DelayComparison-v0": {"sigmaa": 0.0}}),
     'env.env_kwargs."DelayComparison-v0".sigmaa is not an argument of DelayComparison-v0: '
     "allowed: rewards, sigma, vpairs"),
    (dict(env_kwargs={"DelayComparison-v0": {"dt": 10}}), "set it with circuit.dt_ms"),
    (dict(env_kwargs={"DelayComparison-v0": {"timing": {}}}),
     'set it with env.timing."DelayComparison-v0"'),
    (dict(env_kwargs={"DelayComparison-v0": 3}),
     "env.env_kwargs.DelayComparison-v0=3 is invalid: it must be a table"),
    (dict(tasks=("yang19.rtgo-v0",), env_kwargs={"yang19.rtgo-v0": {"reaction": False}}),
     "env.env_kwargs.\"yang19.rtgo-v0\".reaction cannot be set: NeuroGym's yang19.rtgo-v0 "
     "sets it itself"),
    (dict(tasks=("yang19.dms-v0",), env_kwargs={"yang19.dms-v0": {"matchto": "category"}}),
     "NeuroGym env 'yang19.dms-v0' refused env.env_kwargs: "),
])
def test_settings_an_env_does_not_have_are_one_line_errors(kwargs, message):
    kwargs = {"tasks": ("DelayComparison-v0",), **kwargs}
    with pytest.raises(ValueError) as err:
        NeuroGymEnv(**kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_timing_and_kwargs_reach_the_env():
    assert _steps(NeuroGymEnv(tasks=("DelayComparison-v0",)), "delay") == 50  # 1000 ms
    for key in ("DelayComparison-v0", "DelayComparison"):
        env = NeuroGymEnv(tasks=("DelayComparison-v0",), timing={key: {"delay": 300}})
        assert _steps(env, "delay") == 15
    # yang19's delayed tasks replace the timing they are given: it is applied after building
    assert _steps(NeuroGymEnv(tasks=("yang19.dlygo-v0",)), "delay") == 25
    env = NeuroGymEnv(tasks=("yang19.dlygo-v0",), timing={"yang19.dlygo-v0": {"delay": 100}})
    assert _steps(env, "delay") == 5
    env = NeuroGymEnv(tasks=("DelayComparison-v0",),
                      timing={"DelayComparison-v0": {"delay": ["uniform", [200, 400]]}})
    cond = env.batch_for_task(0, 64, gen(1)).conditions
    lengths = set((cond["end_delay"] - cond["start_delay"]).tolist())
    assert min(lengths) >= 10 and max(lengths) < 20 and len(lengths) > 3
    quiet = NeuroGymEnv(tasks=("PerceptualDecisionMaking-v0",),
                        env_kwargs={"PerceptualDecisionMaking-v0": {"sigma": 0.0}})
    b = quiet.batch_for_task(0, 64, gen(2))
    stim = b.inputs[int(b.conditions["start_stimulus"][0]), :, 1:3]
    assert torch.equal(stim, b.inputs[int(b.conditions["end_stimulus"][0]) - 1, :, 1:3])


def test_yang19_tasks_present_their_stimulus_in_either_modality():
    # yang19's go, anti and dms schedule two envs, one per stimulus modality (inputs 1-16 and
    # 17-32); trials must come through that schedule, not from the first env alone
    env = NeuroGymEnv(tasks=("yang19.go-v0", "yang19.dms-v0"))
    for task in range(2):
        x = env.batch_for_task(task, 200, torch.Generator().manual_seed(0)).inputs
        mod1 = int((x[:, :, 1:17].abs().sum((0, 2)) > 0).sum())
        mod2 = int((x[:, :, 17:33].abs().sum((0, 2)) > 0).sum())
        assert mod1 + mod2 == 200 and 60 <= mod2 <= 140, (mod1, mod2)


def test_scheduled_tasks_follow_the_batch_seed_whatever_came_before():
    env = NeuroGymEnv(tasks=("yang19.go-v0",))
    first = env.batch_for_task(0, 9, torch.Generator().manual_seed(1))
    env.batch_for_task(0, 3, torch.Generator().manual_seed(7))
    again = env.batch_for_task(0, 9, torch.Generator().manual_seed(1))
    assert torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)


def test_batches_of_wrapped_tasks_raise_no_warnings():
    # every batch reseeds through NeuroGym's wrappers: gymnasium's deprecation warnings about
    # attributes read through wrappers must not flood a training log
    env = NeuroGymEnv(tasks=("yang19.go-v0", "perceptualdecisionmaking.ibl20-v0"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for task in range(2):
            env.batch_for_task(task, 4, gen(0))
    assert not [w for w in caught if issubclass(w.category, UserWarning)]


def test_mixed_batches_hold_every_task_in_its_share():
    env = NeuroGymEnv(tasks=EIGHT, mixed_batches=True)
    b = env.sample(64, gen(0))
    assert torch.bincount(b.context).tolist() == [8] * 8
    assert (b.conditions["length"].diff() <= 0).all()  # longest first
    length = b.conditions["length"]
    assert b.n_steps == int(length.max()) == 160  # padded to the longest (the two dms tasks)
    for i in range(64):  # each trial's own steps carry weight, its padding none
        assert (b.mask[: length[i], i] > 0).all() and (b.mask[length[i]:, i] == 0).all()
    small = [env.task_counts(12, gen(s)) for s in range(400)]
    assert all(sum(c) == 12 and set(c) <= {1, 2} for c in small)
    assert abs(np.mean(small) - 1.5) < 0.05  # 12 trials over 8 tasks: 1.5 each on average
    weighted = NeuroGymEnv(tasks=EIGHT, mixed_batches=True, task_weights=(0, 0, 0, 2, 0, 0, 0, 1))
    counts = np.array([weighted.task_counts(10, gen(s)) for s in range(400)])
    np.testing.assert_allclose(counts.mean(0), [0, 0, 0, 20 / 3, 0, 0, 0, 10 / 3], atol=0.05)
    assert set(weighted.sample(9, gen(1)).context.tolist()) == {3, 7}
    # weights whose cumulative sum rounds below or above 1, then a task of weight 0
    for weights in ((0.1,) * 7 + (0.0,), (0.7, 0.2, 0.1, 0, 0, 0, 0, 0)):
        env_w = NeuroGymEnv(tasks=EIGHT, mixed_batches=True, task_weights=weights)
        for s in range(50):
            c = env_w.task_counts(64, gen(s))
            assert sum(c) == 64 and min(c) >= 0
            assert all(n == 0 for n, w in zip(c, weights, strict=True) if w == 0)
    with pytest.raises(ValueError, match="env.mixed_batches='yes' is invalid"):
        NeuroGymEnv(tasks=EIGHT, mixed_batches="yes")


@pytest.mark.parametrize("mixed", [False, True])
def test_a_mixed_batch_trains_every_tasks_bias_row_at_once(mixed, monkeypatch):
    """One step of fit: a one-task batch moves one bias row, a mixed batch all eight; the
    packed loss (each trial up to its own length) is the loss of the padded forward pass."""
    env = NeuroGymEnv(tasks=EIGHT, mixed_batches=mixed)
    net = nb.RateRNN(nb.CircuitConfig(n_units=32, n_inputs=env.n_inputs,
                                      n_outputs=env.n_outputs, n_contexts=env.n_contexts), seed=0)
    batch = env.sample(16, gen(3))
    padded = env.loss(net(batch.inputs, batch.context).outputs, batch)
    torch.testing.assert_close(env.training_loss(net, batch), padded, rtol=1e-5, atol=0)
    before = net.biases.detach().clone()
    seen = []  # the lengths each forward pass of training got
    forward = net.forward
    monkeypatch.setattr(net, "forward", lambda *a, **k: seen.append(k.get("lengths")) or
                        forward(*a, **k))
    nb.fit(net, env, nb.TrainConfig(steps=1, eval_every=0, checkpoint_every=0), progress=False)
    moved = (net.biases.detach() != before).any(1)
    assert int(moved.sum()) == (8 if mixed else 1)
    # the training step simulated each trial only up to its own length
    trained = [x for x in seen if x is not None]
    assert len(trained) == 1 and trained[0].shape == (64,) and int(trained[0].min()) >= 1


def test_mixed_batches_follow_the_seed_and_training_loss_uses_the_noise():
    env = NeuroGymEnv(tasks=EIGHT, mixed_batches=True)
    a, b, c = env.sample(24, gen(4)), env.sample(24, gen(4)), env.sample(24, gen(5))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.context, b.context)
    assert not (a.inputs.shape == c.inputs.shape and torch.equal(a.inputs, c.inputs))
    for s in range(4):  # 12 trials over 8 tasks: which tasks get 2 follows the seed too
        assert torch.equal(env.sample(12, gen(s)).context, env.sample(12, gen(s)).context)
    net = nb.RateRNN(nb.CircuitConfig(n_units=32, n_inputs=env.n_inputs, n_outputs=env.n_outputs,
                                      n_contexts=env.n_contexts, noise_rec=0.3), seed=0)
    noisy = env.training_loss(net, a, gen(9))
    expected = env.loss(net(a.inputs, a.context, noise=gen(9)).outputs, a)
    torch.testing.assert_close(noisy, expected, rtol=1e-5, atol=0)
    assert not torch.allclose(noisy, env.training_loss(net, a, None))
