"""NeuroGym cognitive tasks as trial batches, alone or as a multitask set.

Any supervised NeuroGym env (one whose trials carry a ground-truth action per step, ``gt``) is
turned into time-major trial batches: inputs, targets, a loss mask over valid steps (zero on the
padding of shorter trials), the trial's context and per-trial conditions. A list of envs (or the
collection name ``"yang19"``) becomes one env with a shared input and output space and one
context per task, so that each task is learned through its own tonic-input vector (Williams et
al., ICLR 2025) or, with ``rule_input=True``, through a one-hot rule input with shared biases
(Yang et al., Nat. Neurosci. 2019).

Trials are built by ``new_trial()`` of the task's outermost NeuroGym trial wrapper (yang19's
schedule over two stimulus modalities, ibl20's blocks) and copied: ``neurogym.Dataset`` returns
views that are overwritten later and ignores seeds. Every batch reseeds the task from
the torch generator it is given, so batches are reproducible from one seed.

Scores follow how neuroscientists score a trial: it is correct when the circuit holds fixation
(output 0 is the largest) wherever the ground truth asks for fixation outside the answer periods,
and its choice at the last step of each answer period (the periods where the ground truth ever
asks for an action; usually the decision period) equals the ground truth; in timing tasks
(ReadySetGo, MotorTiming, OneTwoThreeGo) the first response must fall within the env's own
tolerance of the target time. An env whose ground truth changes inside an answer period, and is
not a known timing task, is refused: no single step would hold its answer.

``timing`` and ``env_kwargs`` are checked against what each env really has (its period names,
its constructor's arguments, the env ids of ``tasks``): a name that does not exist is an error,
never silently ignored. ``fixed_batch`` makes the noise-free, fixed-timing test trials analyses
compare step by step.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
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


# Timing tasks (Jazayeri & Shadlen 2010; Egger et al. 2019): the answer is *when* the circuit
# first leaves fixation inside the response window, not which output it holds at one step.
# class name -> the periods that form the response window
_TIMING_TASKS = {"ReadySetGo": ("production",), "MotorTiming": ("production",),
                 "OneTwoThreeGo": ("interval3", "response")}
# durations that are drawn in the trial itself and define its condition (an interval to
# reproduce or compare): fixed-timing trials leave them as they are
_CONDITION_PERIODS = {"ReadySetGo": ("measure",), "OneTwoThreeGo": ("interval1",),
                      "IntervalDiscrimination": ("stim1", "stim2"),
                      "HierarchicalReasoning": ("delay",)}
# constructor arguments that NeuroGym's factory functions overwrite after taking the user's
_FACTORY_SETS = {"yang19.go-v0": ("anti",), "yang19.anti-v0": ("anti",),
                 "yang19.dlygo-v0": ("anti",), "yang19.dlyanti-v0": ("anti",),
                 "yang19.rtgo-v0": ("anti", "reaction"), "yang19.rtanti-v0": ("anti", "reaction")}
# the attributes NeuroGym envs scale their stimulus noise by (Annubes: noise_factor)
_NOISE = ("sigma", "noise_factor")
_PROBE_TRIALS = 20
_NUMBER = (int, float, np.integer, np.floating)


def _trial_source(env):
    """What makes an env's trials: the outermost NeuroGym TrialWrapper, which changes them
    (yang19's schedule over stimulus modalities, ibl20's blocks), or the task itself; gymnasium's
    bookkeeping wrappers (and wrappers that act only in ``step``) are passed over."""
    from neurogym.core import TrialWrapper

    obj = env
    while not isinstance(obj, TrialWrapper) and obj is not obj.unwrapped and hasattr(obj, "env"):
        obj = obj.env
    return obj


def _is_schedule(source) -> bool:
    from neurogym.wrappers.block import ScheduleEnvs

    return isinstance(source, ScheduleEnvs)


def _base_envs(source) -> list:
    """Every task env behind a trial source (one per env of a ScheduleEnvs)."""
    return [e.unwrapped for e in source.envs] if _is_schedule(source) else [source.unwrapped]


def _current_base(source):
    """The task env that made the last trial of ``source`` (a ScheduleEnvs switches among its
    envs from trial to trial)."""
    return source.env.unwrapped if _is_schedule(source) else source.unwrapped


def _constructor(env_id: str):
    """The registered entry point of ``env_id`` (a class or a factory function)."""
    import gymnasium
    from gymnasium.envs.registration import load_env_creator

    entry = gymnasium.spec(env_id).entry_point
    return load_env_creator(entry) if isinstance(entry, str) else entry


def _check_period_value(name: str, value: Any) -> None:
    """A period duration NeuroGym can sample: ms, a list to draw from, or [dist, args]."""
    def ms(v):
        return isinstance(v, _NUMBER) and not isinstance(v, bool) and np.isfinite(v) and v >= 0

    ok = ms(value)
    if isinstance(value, (list, tuple)) and value:
        dist, args = (value if len(value) == 2 and isinstance(value[0], str) else (None, None))
        if dist is None:
            ok = all(ms(v) for v in value)
        elif dist == "constant":
            ok = ms(args)
        elif isinstance(args, (list, tuple)) and all(ms(v) for v in args):
            ok = (dist == "uniform" and len(args) == 2 and args[0] <= args[1]) or \
                (dist == "choice" and len(args) > 0) or \
                (dist == "truncated_exponential" and 1 <= len(args) <= 3)
    if not ok:
        raise ValueError(f"{name}={value!r} is invalid: a period lasts a number of ms >= 0, a "
                         "list of ms to draw from, or [\"uniform\", [low, high]]")


def _mean_duration(value: Any, rng: np.random.RandomState) -> float:
    """The mean of a NeuroGym period duration (numbers, lists, [dist, args], callables)."""
    if isinstance(value, _NUMBER):
        return float(value)
    if callable(value):  # a lambda or TruncExp: the mean of many draws from a fixed seed
        if hasattr(value, "seed"):
            value.seed(0)
        return float(np.mean([value() for _ in range(4000)]))
    if isinstance(value[0], _NUMBER):
        return float(np.mean(value))
    dist, args = value
    if dist == "uniform":
        return float(np.mean(args))
    if dist == "choice":
        return float(np.mean(args))
    if dist == "constant":
        return float(args)
    from neurogym.utils.ngym_random import trunc_exp

    return float(np.mean([trunc_exp(rng, *args) for _ in range(4000)]))


@dataclass
class _Trial:
    ob: np.ndarray  # (time, n_obs)
    gt: np.ndarray  # (time,) int or (time, k) float
    dec_start: int
    dec_end: int  # exclusive
    info: dict[str, Any]
    periods: dict[str, tuple[int, int]]  # period name -> (first step, end step exclusive)


class _Task:
    """One NeuroGym env, checked to be supervised, with how its trials are scored.

    ``answer_periods`` are the periods whose ground truth holds an answer (found on probe
    trials: every period where gt is ever not fixation, and ``decision``); in each, the answer
    is read at the period's last step. Timing tasks (``timing_task``) are scored instead by the
    time of the first response inside the window those periods form.
    """

    def __init__(self, env_id: str, dt_ms: float, timing, kwargs, *, fixed=None,
                 noise_free: bool = False):
        neurogym, _, _ = _ngym()
        self.env_id = env_id
        self.dt_ms = float(dt_ms)
        kwargs = dict(kwargs or {})
        timing = dict(timing or {})
        for bad in ("dt", "timing"):
            if bad in kwargs:
                where = "circuit.dt_ms" if bad == "dt" else f'env.timing."{env_id}"'
                raise ValueError(f'env.env_kwargs."{env_id}".{bad} is not allowed: set it with '
                                 f"{where}")
        creator = _constructor(env_id)

        def make(with_kwargs=True, periods=None):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    top = _trial_source(neurogym.make(
                        env_id, dt=self.dt_ms, **({"timing": dict(periods)} if periods else {}),
                        **(kwargs if with_kwargs else {})))
            except TypeError as err:
                if "missing" not in str(err):
                    raise ValueError(f"NeuroGym env {env_id!r} refused env.env_kwargs: "
                                     f"{err}") from None
                raise ValueError(f"NeuroGym env {env_id!r} needs arguments: {err}; pass them "
                                 "in env.env_kwargs") from None
            self._source = top
            self.bases = _base_envs(top)
            if periods:  # some factories (yang19 dlygo, dlyanti) replace the timing passed in
                for base in self.bases:
                    base.timing.update(periods)
            return top.unwrapped

        if kwargs:  # names checked against the constructor before anything is built
            cls = creator if isinstance(creator, type) else type(make(with_kwargs=False))
            params = inspect.signature(cls.__init__).parameters
            if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                allowed = sorted(k for k in params if k not in ("self", "dt", "timing"))
                for key in kwargs:
                    if key in _FACTORY_SETS.get(env_id, ()):
                        raise ValueError(f'env.env_kwargs."{env_id}".{key} cannot be set: '
                                         f"NeuroGym's {env_id} sets it itself (it would be "
                                         "ignored)")
                    if key not in allowed:
                        raise ValueError(f'env.env_kwargs."{env_id}".{key} is not an argument '
                                         f"of {env_id}: allowed: " + ", ".join(allowed))
        self.env = make()
        self.periods_allowed = tuple(sorted(getattr(self.env, "timing", {}) or {}))
        for key, value in timing.items():
            if key not in self.periods_allowed:
                raise ValueError(f'env.timing."{env_id}".{key} is not a period of {env_id}: '
                                 "allowed: " + ", ".join(self.periods_allowed))
            _check_period_value(f'env.timing."{env_id}".{key}', value)
        self.timing = timing
        self.kwargs = kwargs
        self.kind = type(self.env).__name__
        if fixed is not None:  # every drawn duration fixed to the given or mean value
            timing = {**timing, **fixed}
        self._make = lambda: make(periods=timing)
        # checks run on a probe copy, so that the env used for trials starts fresh (some tasks
        # keep block or trial counters that seeding does not reset)
        self.env = self._make()
        self.seed(0)
        self._trial()
        gt = getattr(_current_base(self._source), "gt", None)
        ob = getattr(_current_base(self._source), "ob", None)
        if gt is None or ob is None:
            raise ValueError(f"NeuroGym env {env_id!r} has no supervised ground truth (no "
                             "per-step gt): it is a reinforcement-learning task, and neurobias "
                             "trains on supervised envs only")
        space = self.env.action_space
        self.regression = not hasattr(space, "n")
        self.n_actions = int(space.shape[0]) if self.regression else int(space.n)
        self.n_obs = int(np.prod(self.env.observation_space.shape))
        self.timing_task = self.kind in _TIMING_TASKS and not self.regression
        self.prod_margin = float(getattr(self.env, "prod_margin", 0.0))
        self.answer_periods: tuple[str, ...] = ()
        if not self.regression:
            self._find_answers([self.new_trial() for _ in range(_PROBE_TRIALS)])
        self.env = self._make()
        for name in _NOISE if noise_free else ():
            for base in self.bases:
                if hasattr(base, name):
                    setattr(base, name, 0.0)

    def _find_answers(self, probes: list[_Trial]) -> None:
        top = max(int(np.max(tr.gt)) for tr in probes)
        if top >= self.n_actions:
            raise ValueError(f"NeuroGym env {self.env_id!r} is not supervised by actions: its "
                             f"ground truth reaches {top} but it has {self.n_actions} "
                             "actions (gt is not an action index)")
        if self.timing_task:
            self.answer_periods = _TIMING_TASKS[self.kind]
            return
        answers = {"decision"} & set(probes[0].periods)
        for tr in probes:
            answers |= {p for p, (a, b) in tr.periods.items() if b > a and tr.gt[a:b].any()}
        if not answers:  # fixation is always right: the last period is where it is read
            answers = {max(probes[0].periods, key=lambda k: probes[0].periods[k][0])}
        for tr in probes:
            for p in answers:
                a, b = tr.periods.get(p, (0, 0))
                if b > a and (tr.gt[a:b] != tr.gt[b - 1]).any():
                    raise ValueError(f"NeuroGym env {self.env_id!r} cannot be scored: its "
                                     f"ground truth changes within the {p!r} period, so no "
                                     "single step holds the answer")
        self.answer_periods = tuple(sorted(answers, key=lambda k: probes[0].periods[k][0]))

    def fixed_timing(self, timing: dict | None = None) -> dict[str, float]:
        """Each drawn period duration fixed: to ``timing`` where given, else to its mean (ms).

        Durations that define a trial's condition (the interval of a timing task) stay drawn.
        """
        timing = dict(timing or {})
        for key, value in timing.items():
            if key not in self.periods_allowed:
                raise ValueError(f"timing {key!r} is not a period of {self.env_id}: allowed: "
                                 + ", ".join(self.periods_allowed))
            _check_period_value(f"timing.{key}", value)
        rng = np.random.RandomState(0)
        out = {}
        base = self._make().timing
        keep = _CONDITION_PERIODS.get(self.kind, ())
        for key, value in base.items():
            if key in timing:
                out[key] = float(timing[key])
            elif key not in keep and not isinstance(value, _NUMBER):
                out[key] = _mean_duration(value, rng)
        return out

    def seed(self, seed: int) -> None:
        """Seed the task's draws (every env behind a schedule, and the schedule)."""
        with warnings.catch_warnings():  # gymnasium warns on seed() through a wrapper
            warnings.simplefilter("ignore")
            self._source.seed(seed)
        if _is_schedule(self._source):  # the schedule's choice for the next trial
            self._source.next_i_env = self._source.schedule()
        for base in self.bases:
            if isinstance(getattr(base, "_rng", None), np.random.Generator):
                base._rng = np.random.default_rng(seed)  # Annubes draws its stimuli from its own

    def _trial(self):
        with warnings.catch_warnings():  # NeuroGym's wrappers read attributes through others
            warnings.simplefilter("ignore")
            return self._source.new_trial()

    def new_trial(self) -> _Trial:
        info = self._trial()
        env = _current_base(self._source)  # the env that made this trial
        ob = np.array(env.ob, dtype=np.float32, copy=True).reshape(len(env.ob), -1)
        gt = np.array(env.gt, copy=True)
        starts, ends = env.start_ind, env.end_ind
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
        timing: per-task period durations (ms), {env id or short name: {period: ms}},
            overriding the env's defaults; a value is ms, a list of ms to draw from, or
            ["uniform", [low, high]]. Unknown env ids or period names raise ValueError.
        task_weights: probability of each task per training batch (default uniform); with
            ``mixed_batches``, each task's share of the trials in every batch.
        mixed_batches: every training batch holds trials of every task (``batch_size`` split
            by ``task_weights``; a task's count is the floor or the ceiling of its share, drawn
            so that the mean is the share) instead of one task drawn per batch as in Yang et
            al. (2019). Where each task has its own bias row, a one-task batch updates one row
            per step; a mixed batch updates every row at every step.
        rule_input: tell the circuit the task by a one-hot rule input (appended to the inputs)
            with one bias row shared by all tasks, instead of a bias row per task.
        decision_weight: loss weight of decision-period steps (other valid steps weigh 1).
        loss: "ce" (cross-entropy over valid steps) or "mse" (Yang et al. 2019 style squared
            error against one-hot targets).
        eval_trials: held-out trials per task for ``evaluate``.
        env_kwargs: extra keyword arguments for the NeuroGym constructors, {env id: {...}};
            names the constructor does not take raise ValueError (``dt`` and ``timing`` are
            set through ``dt_ms`` and ``timing``).
    """

    def __init__(self, dt_ms: float = 20.0,
                 tasks: str | tuple[str, ...] = ("PerceptualDecisionMaking-v0",),
                 timing: dict | None = None, task_weights: tuple[float, ...] | None = None,
                 rule_input: bool = False, decision_weight: float = 1.0, loss: str = "ce",
                 eval_trials: int = 128, env_kwargs: dict | None = None,
                 mixed_batches: bool = False):
        if loss not in LOSSES:
            raise ValueError(f"env.loss={loss!r} is invalid: allowed: " + ", ".join(LOSSES))
        if not decision_weight > 0:
            raise ValueError(f"env.decision_weight={decision_weight!r} is invalid: must be > 0")
        if not (isinstance(eval_trials, int) and eval_trials >= 1):
            raise ValueError(f"env.eval_trials={eval_trials!r} is invalid: must be >= 1")
        self.dt_ms = float(dt_ms)
        self.task_ids = _expand(tasks)
        timing = self._per_task("timing", timing)
        env_kwargs = self._per_task("env_kwargs", env_kwargs)
        self.tasks = [_Task(t, self.dt_ms, timing.get(t), env_kwargs.get(t))
                      for t in self.task_ids]
        self._fixed: dict[tuple, list[_Task]] = {}
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
        if not isinstance(mixed_batches, bool):
            raise ValueError(f"env.mixed_batches={mixed_batches!r} is invalid: must be true or "
                             "false")
        self.mixed_batches = mixed_batches
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

    def _per_task(self, name: str, table) -> dict[str, dict]:
        """``{env id or short name: {...}}`` checked against env.tasks, keyed by env id."""
        if table is None:
            return {}
        example = f'e.g. [env.{name}."{self.task_ids[0]}"]'
        if not isinstance(table, Mapping):
            raise ValueError(f"env.{name}={table!r} is invalid: it maps each env id to a table "
                             f"of settings, {example}")
        names = {t: t for t in self.task_ids} | {task_name(t): t for t in self.task_ids}
        out: dict[str, dict] = {}
        for key, value in table.items():
            if key not in names:
                raise ValueError(f"env.{name}: {key!r} is not one of env.tasks: allowed: "
                                 + ", ".join(self.task_ids) + f" ({example}; quote ids that "
                                 "contain dots)")
            if not isinstance(value, Mapping):
                raise ValueError(f"env.{name}.{key}={value!r} is invalid: it must be a table "
                                 f"of settings, {example}")
            if names[key] in out:
                raise ValueError(f"env.{name} names {names[key]!r} twice (by its id and its "
                                 "short name)")
            out[names[key]] = dict(value)
        return out

    # ------------------------------------------------------------------ batches

    def batch_for_task(self, task: int, batch_size: int, generator: torch.Generator
                       ) -> TrialBatch:
        """``batch_size`` trials of task index ``task``, reseeded from ``generator``."""
        t = self.tasks[task]
        t.seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        return self._collate([t.new_trial() for _ in range(batch_size)], [task] * batch_size)

    def sample(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """One training batch: a task drawn by ``task_weights``, then its trials; with
        ``mixed_batches``, trials of every task (``task_counts``), the longest first."""
        if not self.mixed_batches:
            task = int(torch.multinomial(self.task_weights, 1, generator=generator))
            return self.batch_for_task(task, batch_size, generator)
        counts = self.task_counts(batch_size, generator)
        per = {k: self.batch_for_task(k, n, generator) for k, n in enumerate(counts) if n}
        keys = list(per)
        # longest trials first: the circuit then skips the padding without reordering the batch
        order = sorted(((j, i) for j, k in enumerate(keys) for i in range(counts[k])),
                       key=lambda ji: -int(per[keys[ji[0]]].conditions["length"][ji[1]]))
        return _merge([per[k] for k in keys], order, self.n_outputs)

    def task_counts(self, batch_size: int, generator: torch.Generator) -> list[int]:
        """Trials of each task in a mixed batch of ``batch_size``: ``batch_size`` times each
        task's share of ``task_weights``, rounded down or up by systematic sampling (one
        uniform draw u; task k gets floor(B c_k + u) - floor(B c_(k-1) + u) trials, with c the
        cumulative shares), so the counts sum to ``batch_size`` and their mean is the share."""
        drawn = self.task_weights > 0  # tasks of weight 0 get no trials, whatever the rounding
        shares = self.task_weights[drawn] / self.task_weights[drawn].sum()
        u = float(torch.rand((), generator=generator, dtype=torch.float64))
        edges = torch.floor(torch.cumsum(shares, 0) * batch_size + u).long().clamp(0, batch_size)
        edges[-1] = batch_size  # exactly, whatever the rounding of the cumulative sum
        counts = torch.zeros(self.n_tasks, dtype=torch.long)
        counts[drawn] = torch.diff(edges, prepend=torch.zeros(1, dtype=torch.long))
        return [int(c) for c in counts]

    def test_batch(self, batch_size: int, generator: torch.Generator) -> TrialBatch:
        """Held-out trials of every task in turn (trial k is of task k mod n_tasks)."""
        per = [self.batch_for_task(k, -(-batch_size // self.n_tasks), generator)
               for k in range(self.n_tasks)]
        order = [(k, i) for i in range(-(-batch_size // self.n_tasks))
                 for k in range(self.n_tasks)][:batch_size]
        return _merge(per, order, self.n_outputs)

    def fixed_batch(self, batch_size: int, generator: torch.Generator,
                    timing: dict | None = None, noise_free: bool = True) -> TrialBatch:
        """Test trials with fixed epoch durations and, by default, no stimulus noise.

        For task variance and other analyses that compare trials step by step (Yang et al.,
        Nat. Neurosci. 2019, analyse noise-free test trials of fixed timing). Each task's
        stimulus noise (``sigma``; Annubes: ``noise_factor``) is set to 0 where it has one;
        every period whose duration is drawn per trial is fixed to ``timing[env id][period]``
        where given, else to the mean of its distribution (then floored to a multiple of dt by
        NeuroGym). Durations that are a trial's condition (the interval of ReadySetGo,
        OneTwoThreeGo, IntervalDiscrimination, the delay of HierarchicalReasoning) stay drawn.
        Two trials of the same condition then have identical inputs and, in most tasks, the same
        length.

        Args:
            batch_size: trials in all; trial k is of task k mod n_tasks (as ``test_batch``).
            generator: seeds the tasks' draws of conditions.
            timing: {env id or short name: {period: ms}}, durations to fix instead of means.
            noise_free: set the stimulus noise to 0.

        Returns:
            A TrialBatch like ``test_batch``'s.
        """
        table = self._per_task("timing", timing)
        key = (tuple(sorted((t, tuple(sorted(v.items()))) for t, v in table.items())),
               bool(noise_free))
        if key not in self._fixed:
            self._fixed[key] = [
                _Task(t.env_id, self.dt_ms, t.timing, t.kwargs,
                      fixed=t.fixed_timing(table.get(t.env_id)), noise_free=noise_free)
                for t in self.tasks]
        tasks, self.tasks = self.tasks, self._fixed[key]
        try:
            return self.test_batch(batch_size, generator)
        finally:
            self.tasks = tasks

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

    def training_loss(self, net, batch: TrialBatch,
                      noise: torch.Generator | None = None) -> torch.Tensor:
        """``loss`` of the circuit's open-loop outputs, each trial simulated only up to its own
        length (steps past it are padding, weighted 0 by the loss)."""
        out = net(batch.inputs, batch.context, noise=noise, lengths=batch.conditions["length"])
        return self.loss(out.outputs, batch)

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
        """Per-trial correctness, fixation breaks, choice and truth: each (trial,).

        A task's answer periods are where its ground truth ever asks for something other than
        fixation (and ``decision``); every other valid step whose ground truth is fixation
        (action 0) requires fixation. The choice at a step is the largest output.

        * fix_break: at some step that requires fixation the choice is not fixation.
        * correct, choice tasks: no fixation break, and in every answer period the choice at
          its last step equals the ground truth there (Yang et al. 2019 read the last step);
          a no-go or non-match trial's answer is fixation.
        * correct, timing tasks (ReadySetGo, MotorTiming, OneTwoThreeGo): no fixation break,
          and the first step inside the response window where the choice is not fixation lies
          within the env's tolerance of the target step (the first step whose ground truth is
          not fixation): ``prod_margin * T + 25`` ms, T the target's time from the window's
          start, as in NeuroGym's own reward.

        ``choice`` and ``truth`` are read at the last answer step (timing tasks: the choice at
        the first response, 0 when there is none, and the ground truth at the target).
        """
        choice_t = outputs.argmax(-1)  # (time, trial)
        dev = outputs.device
        gt = batch.targets[..., 0].long().to(dev)
        n_t, b = choice_t.shape
        steps = torch.arange(n_t, device=dev)[:, None]
        valid = batch.mask[..., 0].to(dev) > 0
        cond = batch.conditions
        task = cond["task"].to(dev)
        window = torch.zeros(n_t, b, dtype=torch.bool, device=dev)  # inside answer periods
        read = torch.zeros(n_t, b, dtype=torch.bool, device=dev)  # the steps answers are read
        timed = torch.zeros(b, dtype=torch.bool, device=dev)
        margin = torch.zeros(b, dtype=torch.float64, device=dev)
        for k, t in enumerate(self.tasks):
            sel = task == k
            if not bool(sel.any()):
                continue
            for p in t.answer_periods:
                if f"start_{p}" not in cond:
                    continue
                first = cond[f"start_{p}"].to(dev)
                end = cond[f"end_{p}"].to(dev)
                ok = sel & (first >= 0) & (end > first)
                window |= (steps >= first) & (steps < end) & ok
                if not t.timing_task:
                    read |= (steps == end - 1) & ok
            if t.timing_task:
                timed |= sel
                margin[sel] = t.prod_margin
        # a choice trial without any answer step is read at the last decision step
        legacy = ~timed & ~read.any(0)
        last_dec = (cond["decision_end"].to(dev) - 1).clamp_min(0)
        read |= (steps == last_dec[None, :]) & legacy
        fix_break = (valid & ~window & (gt == 0) & (choice_t != 0)).any(0)
        read_ok = ((choice_t == gt) | ~read).all(0)
        last_read = torch.where(read, steps, -1).max(0).values.clamp_min(0)
        choice = choice_t.gather(0, last_read[None, :])[0]
        truth = gt.gather(0, last_read[None, :])[0]
        correct = read_ok
        if bool(timed.any()):
            big = torch.tensor(n_t, device=dev)
            response = window & (choice_t != 0)
            first_resp = torch.where(response, steps, big).min(0).values
            target = torch.where(window & (gt != 0), steps, big).min(0).values
            start = torch.where(window, steps, big).min(0).values
            tol_ms = margin * (target - start).double() * self.dt_ms + 25.0
            on_time = response.any(0) & \
                ((first_resp - target).abs().double() * self.dt_ms <= tol_ms)
            correct = torch.where(timed, on_time, read_ok)
            at = first_resp.clamp_max(n_t - 1)
            choice = torch.where(timed, torch.where(response.any(0), choice_t.gather(
                0, at[None, :])[0], 0), choice)
            truth = torch.where(timed, gt.gather(0, target.clamp_max(n_t - 1)[None, :])[0],
                                truth)
        return {"correct": correct & ~fix_break, "fix_break": fix_break,
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
