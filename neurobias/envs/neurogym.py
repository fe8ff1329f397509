"""NeuroGym cognitive tasks as trial batches, alone or as a multitask set.

Any supervised NeuroGym env (one whose trials carry a ground-truth action per step, ``gt``) is
turned into time-major trial batches: inputs, targets, a loss mask over valid steps (zero on the
padding of shorter trials), the trial's context and per-trial conditions. A list of envs (or the
collection name ``"yang19"``) becomes one env with a shared input and output space and one
context per task, so that each task is learned through its own tonic-input vector (Williams et
al., ICLR 2025) or, with ``rule_input=True``, through a one-hot rule input with shared biases
(Yang et al., Nat. Neurosci. 2019).

Trials are built from ``env.unwrapped.new_trial()`` directly and copied: ``neurogym.Dataset``
returns views that are overwritten later and ignores seeds. Every batch reseeds the task from
the torch generator it is given, so batches are reproducible from one seed.

Scores follow how neuroscientists score a trial: it is correct when the circuit holds fixation
(output 0 is the largest) at every step before the decision period and its choice at the last
step of the decision period equals the ground truth.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ..analysis.metrics import r2_score
from .batch import Env, TrialBatch

__all__ = ["NeuroGymEnv", "supervised_env_ids", "task_name"]

COLLECTIONS = ("yang19",)
LOSSES = ("ce", "mse")


def _ngym():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import neurogym
        from neurogym.envs.registration import ALL_COLLECTIONS_ENVS, ALL_NATIVE_ENVS
    return neurogym, ALL_NATIVE_ENVS, ALL_COLLECTIONS_ENVS


def task_name(env_id: str) -> str:
    """Short name of an env id: 'yang19.go-v0' -> 'yang19.go'."""
    return env_id[:-3] if env_id.endswith("-v0") else env_id


def _expand(tasks) -> list[str]:
    _, native, collections = _ngym()
    if isinstance(tasks, str):
        tasks = [tasks]
    out = []
    for t in tasks:
        if t in COLLECTIONS:
            out += sorted(k for k in collections if k.startswith(f"{t}."))
        elif t in native or t in collections:
            out.append(t)
        elif f"{t}-v0" in native or f"{t}-v0" in collections:
            out.append(f"{t}-v0")
        else:
            raise ValueError(f"env.tasks: {t!r} is not a NeuroGym env or collection: e.g. "
                             "'PerceptualDecisionMaking-v0', 'yang19.go-v0' or 'yang19'")
    if not out:
        raise ValueError("env.tasks is empty: name at least one NeuroGym env")
    if len(set(out)) != len(out):
        raise ValueError(f"env.tasks names a task twice: {out}")
    return out


def supervised_env_ids() -> list[str]:
    """Every native and collection NeuroGym env id this adapter accepts without arguments."""
    _, native, collections = _ngym()
    ok = []
    for env_id in sorted(native) + sorted(collections):
        try:
            _Task(env_id, 20.0, None, {})
        except ValueError:
            continue
        ok.append(env_id)
    return ok


@dataclass
class _Trial:
    ob: np.ndarray  # (time, n_obs)
    gt: np.ndarray  # (time,) int or (time, k) float
    dec_start: int
    dec_end: int  # exclusive
    info: dict[str, Any]
    periods: dict[str, tuple[int, int]]  # period name -> (first step, end step exclusive)


class _Task:
    """One NeuroGym env, checked to be supervised."""

    def __init__(self, env_id: str, dt_ms: float, timing, kwargs):
        neurogym, _, _ = _ngym()
        self.env_id = env_id

        def make():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    env = neurogym.make(env_id, dt=dt_ms,
                                        **({"timing": timing} if timing else {}), **kwargs)
            except TypeError as err:
                raise ValueError(f"NeuroGym env {env_id!r} needs arguments: {err}; pass them "
                                 "in env.env_kwargs") from None
            return env.unwrapped

        # checks run on a probe copy, so that the env used for trials starts fresh (some tasks
        # keep block or trial counters that seeding does not reset)
        self.env = make()
        self.env.seed(0)
        self.env.new_trial()
        gt = getattr(self.env, "gt", None)
        ob = getattr(self.env, "ob", None)
        if gt is None or ob is None:
            raise ValueError(f"NeuroGym env {env_id!r} has no supervised ground truth (no "
                             "per-step gt): it is a reinforcement-learning task, and neurobias "
                             "trains on supervised envs only")
        space = self.env.action_space
        self.regression = not hasattr(space, "n")
        self.n_actions = int(space.shape[0]) if self.regression else int(space.n)
        self.n_obs = int(np.prod(self.env.observation_space.shape))
        if not self.regression:
            top = max(int(np.max(self.new_trial().gt)) for _ in range(20))
            if top >= self.n_actions:
                raise ValueError(f"NeuroGym env {env_id!r} is not supervised by actions: its "
                                 f"ground truth reaches {top} but it has {self.n_actions} "
                                 "actions (gt is not an action index)")
        self.env = make()

    def new_trial(self) -> _Trial:
        info = self.env.new_trial()
        ob = np.array(self.env.ob, dtype=np.float32, copy=True).reshape(len(self.env.ob), -1)
        gt = np.array(self.env.gt, copy=True)
        starts, ends = self.env.start_ind, self.env.end_ind
        if "decision" in starts:
            dec = (int(starts["decision"]), int(ends["decision"]))
        else:  # the last period is where the answer is given
            last = max(starts, key=lambda k: starts[k])
            dec = (int(starts[last]), int(ends[last]))
        if dec[1] <= dec[0]:
            dec = (len(gt) - 1, len(gt))
        periods = {str(k): (int(starts[k]), int(ends[k])) for k in starts if k in ends}
        return _Trial(ob, gt, dec[0], dec[1], dict(info or {}), periods)


class NeuroGymEnv(Env):
    """Supervised NeuroGym tasks as one env, one context per task.

    Args:
        dt_ms: time step (ms) every task runs at.
        tasks: NeuroGym env ids (e.g. "yang19.go-v0"), or the collection name "yang19".
        timing: per-task period durations (ms), {env id: {period: ms}}, overriding defaults.
        task_weights: probability of each task per training batch (default uniform).
        rule_input: tell the circuit the task by a one-hot rule input (appended to the inputs)
            with one bias row shared by all tasks, instead of a bias row per task.
        decision_weight: loss weight of decision-period steps (other valid steps weigh 1).
        loss: "ce" (cross-entropy over valid steps) or "mse" (Yang et al. 2019 style squared
            error against one-hot targets).
        eval_trials: held-out trials per task for ``evaluate``.
        env_kwargs: extra keyword arguments for the NeuroGym constructors, {env id: {...}}.
    """

    def __init__(self, dt_ms: float = 20.0,
                 tasks: str | tuple[str, ...] = ("PerceptualDecisionMaking-v0",),
                 timing: dict | None = None, task_weights: tuple[float, ...] | None = None,
                 rule_input: bool = False, decision_weight: float = 1.0, loss: str = "ce",
                 eval_trials: int = 128, env_kwargs: dict | None = None):
        if loss not in LOSSES:
            raise ValueError(f"env.loss={loss!r} is invalid: allowed: " + ", ".join(LOSSES))
        if not decision_weight > 0:
            raise ValueError(f"env.decision_weight={decision_weight!r} is invalid: must be > 0")
        if not (isinstance(eval_trials, int) and eval_trials >= 1):
            raise ValueError(f"env.eval_trials={eval_trials!r} is invalid: must be >= 1")
        self.dt_ms = float(dt_ms)
        self.task_ids = _expand(tasks)
        timing = dict(timing or {})
        env_kwargs = dict(env_kwargs or {})
        self.tasks = [_Task(t, self.dt_ms, timing.get(t) or timing.get(task_name(t)),
                            env_kwargs.get(t, env_kwargs.get(task_name(t), {})))
                      for t in self.task_ids]
        kinds = {t.regression for t in self.tasks}
        if len(kinds) > 1:
            raise ValueError("env.tasks mixes classification and regression envs: "
                             + ", ".join(t.env_id for t in self.tasks if t.regression))
        self.regression = kinds.pop()
        n = len(self.tasks)
        if task_weights is None:
            task_weights = (1.0,) * n
        if len(task_weights) != n or min(task_weights) < 0 or sum(task_weights) <= 0:
            raise ValueError(f"env.task_weights={list(task_weights)!r} is invalid: need {n} "
                             "non-negative weights, not all zero")
        self.task_weights = torch.tensor(task_weights, dtype=torch.float64)
        self.rule_input = bool(rule_input)
        self.decision_weight = float(decision_weight)
        self.loss_kind = "mse" if self.regression else loss
        self.eval_trials = eval_trials
        self.n_obs = max(t.n_obs for t in self.tasks)
        self.n_inputs = self.n_obs + (n if self.rule_input else 0)
        self.n_outputs = max(t.n_actions for t in self.tasks)
        self.task_names = tuple(task_name(t) for t in self.task_ids)
        self.context_names = ("shared",) if self.rule_input else self.task_names

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    # ------------------------------------------------------------------ batches

    def batch_for_task(self, task: int, batch_size: int, generator: torch.Generator
                       ) -> TrialBatch:
        """``batch_size`` trials of task index ``task``, reseeded from ``generator``."""
        t = self.tasks[task]
        t.env.seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        return self._collate([t.new_trial() for _ in range(batch_size)], [task] * batch_size)

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """One training batch: a task drawn by ``task_weights``, then its trials."""
        task = int(torch.multinomial(self.task_weights, 1, generator=generator))
        return self.batch_for_task(task, batch_size, generator)

    def test_batch(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """Held-out trials of every task in turn (trial k is of task k mod n_tasks)."""
        per = [self.batch_for_task(k, -(-batch_size // self.n_tasks), generator)
               for k in range(self.n_tasks)]
        order = [(k, i) for i in range(-(-batch_size // self.n_tasks))
                 for k in range(self.n_tasks)][:batch_size]
        return _merge(per, order, self.n_outputs)

    def _collate(self, trials: list[_Trial], task_idx: list[int]) -> TrialBatch:
        n_t = max(len(tr.gt) for tr in trials)
        b = len(trials)
        inputs = torch.zeros(n_t, b, self.n_inputs)
        width = self.n_outputs if self.regression else 1
        targets = torch.zeros(n_t, b, width)
        mask = torch.zeros(n_t, b, width)
        conditions: dict[str, list[float]] = {"task": [], "decision_start": [],
                                              "decision_end": [], "ground_truth": [],
                                              "length": []}
        numeric: dict[str, list[float]] = {}
        epochs: dict[str, list[int]] = {}
        for i, (tr, task) in enumerate(zip(trials, task_idx, strict=True)):
            length = len(tr.gt)
            inputs[:length, i, : tr.ob.shape[1]] = torch.from_numpy(tr.ob)
            if self.rule_input:
                inputs[:length, i, self.n_obs + task] = 1.0
            gt = torch.from_numpy(np.asarray(tr.gt, dtype=np.float32)).reshape(length, -1)
            targets[:length, i, : gt.shape[1]] = gt
            mask[:length, i] = 1.0
            mask[tr.dec_start: tr.dec_end, i] = self.decision_weight
            conditions["task"].append(task)
            conditions["decision_start"].append(tr.dec_start)
            conditions["decision_end"].append(tr.dec_end)
            conditions["length"].append(length)
            last = tr.gt[tr.dec_end - 1]
            conditions["ground_truth"].append(float(np.asarray(last).reshape(-1)[0]))
            for period, (first, end) in tr.periods.items():  # epoch bounds, -1 where absent
                for key, value in ((f"start_{period}", first), (f"end_{period}", end)):
                    epochs.setdefault(key, [-1] * i).append(value)
            for values in epochs.values():
                if len(values) < i + 1:
                    values.append(-1)
            for key, value in tr.info.items():
                if isinstance(value, (int, float, np.integer, np.floating, bool)) and \
                        key not in conditions:
                    numeric.setdefault(key, [np.nan] * i).append(float(value))
            for values in numeric.values():
                if len(values) < i + 1:
                    values.append(np.nan)
        context = torch.tensor(task_idx, dtype=torch.long)
        if self.rule_input:
            context = torch.zeros(b, dtype=torch.long)
        conds = {k: torch.tensor(v, dtype=torch.long if k != "ground_truth" else torch.float32)
                 for k, v in conditions.items()}
        conds.update({k: torch.tensor(v, dtype=torch.float64) for k, v in numeric.items()})
        conds.update({k: torch.tensor(v, dtype=torch.long) for k, v in epochs.items()})
        return TrialBatch(inputs, targets, mask, context, conds)

    # ------------------------------------------------------------------ loss and scores

    def loss(self, outputs: torch.Tensor, batch: TrialBatch) -> torch.Tensor:
        """Weighted cross-entropy (or squared error) over valid steps."""
        w = batch.mask[..., 0]
        if self.loss_kind == "ce":
            ce = F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]),
                                 batch.targets[..., 0].reshape(-1).long(), reduction="none")
            return (ce * w.reshape(-1)).sum() / w.sum().clamp_min(1e-12)
        if self.regression:
            target = batch.targets
        else:
            target = F.one_hot(batch.targets[..., 0].long(), outputs.shape[-1]).to(outputs.dtype)
        err = ((outputs - target) ** 2).mean(-1)
        return (err * w).sum() / w.sum().clamp_min(1e-12)

    def score(self, outputs: torch.Tensor, batch: TrialBatch) -> dict[str, torch.Tensor]:
        """Per-trial correctness, fixation breaks and choice: each (trial,).

        correct: fixation held before the decision period and the choice (argmax at the last
        decision step) equals the ground truth; fix_break: some step before the decision
        period where fixation (output 0) was required but another output was larger.
        """
        choice_t = outputs.argmax(-1)  # (time, trial)
        gt = batch.targets[..., 0].long()
        n_t, b = choice_t.shape
        steps = torch.arange(n_t, device=outputs.device)[:, None]
        start = batch.conditions["decision_start"].to(outputs.device)[None, :]
        end = batch.conditions["decision_end"].to(outputs.device)
        must_fixate = (steps < start) & (gt == 0) & (batch.mask[..., 0] > 0)
        fix_break = ((choice_t != 0) & must_fixate).any(0)
        last = (end - 1).clamp_min(0)
        choice = choice_t.gather(0, last[None, :])[0]
        truth = gt.gather(0, last[None, :])[0]
        return {"correct": (choice == truth) & ~fix_break, "fix_break": fix_break,
                "choice": choice, "truth": truth}

    @torch.no_grad()
    def evaluate(self, net, generator: torch.Generator) -> dict[str, float]:
        """accuracy/<task>, fixation_break/<task>, their means and the loss, noise-free."""
        device = net.W_rec.device
        out: dict[str, float] = {}
        accs, breaks, losses = [], [], []
        for k, name in enumerate(self.task_names):
            batch = self.batch_for_task(k, self.eval_trials, generator).to(device)
            y = net(batch.inputs, batch.context).outputs
            losses.append(float(self.loss(y, batch)))
            if self.regression:
                out[f"r2/{name}"] = r2_score(y, batch.targets, batch.mask)
                continue
            s = self.score(y, batch)
            out[f"accuracy/{name}"] = float(s["correct"].float().mean())
            out[f"fixation_break/{name}"] = float(s["fix_break"].float().mean())
            accs.append(out[f"accuracy/{name}"])
            breaks.append(out[f"fixation_break/{name}"])
        if accs:
            out["accuracy_mean"] = float(np.mean(accs))
            out["fixation_break_mean"] = float(np.mean(breaks))
        out["loss"] = float(np.mean(losses))
        return out

    @torch.no_grad()
    def psychometric(self, net, task: int, generator: torch.Generator, n_trials: int = 512,
                     condition: str = "coh") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Accuracy against a trial condition (default coherence) for one task.

        Returns:
            (levels, accuracy, n): the distinct values of the condition, the fraction correct
            at each, and the number of trials at each.
        """
        batch = self.batch_for_task(task, n_trials, generator).to(net.W_rec.device)
        if condition not in batch.conditions:
            raise ValueError(f"task {self.task_names[task]!r} has no condition {condition!r}: "
                             "available: " + ", ".join(sorted(batch.conditions)))
        correct = self.score(net(batch.inputs, batch.context).outputs, batch)["correct"].cpu()
        values = batch.conditions[condition].cpu().numpy()
        levels = np.unique(values[~np.isnan(values)])
        acc = np.array([correct.numpy()[values == v].mean() for v in levels])
        n = np.array([(values == v).sum() for v in levels])
        return levels, acc, n


def _merge(batches: list[TrialBatch], order: list[tuple[int, int]], n_out: int) -> TrialBatch:
    """Interleave trials of several batches (padding time to the longest).

    A condition some batches lack is filled with -1 (integer) or NaN (float) for their trials.
    """
    n_t = max(b.n_steps for b in batches)

    def pad(x):
        return F.pad(x, (0, 0, 0, 0, 0, n_t - x.shape[0]))

    inputs = torch.stack([pad(batches[k].inputs)[:, i] for k, i in order], 1)
    targets = torch.stack([pad(batches[k].targets)[:, i] for k, i in order], 1)
    mask = torch.stack([pad(batches[k].mask)[:, i] for k, i in order], 1)
    context = torch.stack([batches[k].context[i] for k, i in order])
    kinds = {}
    for b in batches:
        for key, value in b.conditions.items():
            kinds.setdefault(key, value.dtype)

    def cond(k: int, i: int, key: str) -> torch.Tensor:
        if key in batches[k].conditions:
            return batches[k].conditions[key][i].to(kinds[key])
        fill = -1 if not kinds[key].is_floating_point else float("nan")
        return torch.tensor(fill, dtype=kinds[key])

    conds = {key: torch.stack([cond(k, i, key) for k, i in order]) for key in sorted(kinds)}
    return TrialBatch(inputs, targets, mask, context, conds)
