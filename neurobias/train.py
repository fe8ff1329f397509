"""fit(): train a circuit in an env with Adam; evaluation, checkpoints, resume, divergence stop."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import pickle
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._atomic import atomic_path, write_json_atomic
from .circuit import RateRNN
from .config import ConfigError, EnvConfig, ExperimentConfig, TrainConfig
from .envs.batch import Env, TrialBatch
from .progress import Progress
from .seeding import generator as make_generator

__all__ = ["fit", "History", "resolve_device", "save_atomic", "run_summary", "check_sample",
           "CHECKPOINT", "CheckpointError"]

log = logging.getLogger("neurobias")

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = "neurobias-checkpoint/1"
# Settings that may differ between a run and its resumption without changing the result (the
# device actually used is checked separately, as noise_device).
_RESUME_FREE = {"eval_every", "checkpoint_every", "device"}
# A resumed run may ask for more steps than it was started with (it is extended); the learning
# rate and mask schedules keep the horizon the run started with, saved under this key.
_HORIZON = "schedule_steps"


class CheckpointError(ValueError):
    """A checkpoint is missing, damaged or from other settings."""


_EVAL_KEYS = ("step", "seconds")  # the entries of an evaluation record that are not metrics


@dataclass
class History:
    """What happened during training.

    Attributes:
        step: optimizer step of each recorded loss (1-based).
        loss: training loss after each step's forward pass.
        lr: learning rate used at each step.
        evals: evaluation results, each a dict with "step", "seconds" (wall-clock time of the
            run when the evaluation began, summed over resumptions, earlier evaluations
            included) and the env's metrics.
        final: metrics of the final evaluation.
        diverged: training stopped because the loss or gradient became non-finite.
        message: one line describing how training ended.
        seconds: wall-clock training time in seconds, summed over resumptions.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)
    diverged: bool = False
    message: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls(**data)

    def truncate(self, n_steps: int) -> None:
        """Forget every record after step ``n_steps``."""
        keep = sum(1 for s in self.step if s <= n_steps)
        del self.step[keep:], self.loss[keep:], self.lr[keep:]
        self.evals = [e for e in self.evals if e["step"] <= n_steps]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """'auto' or None: CUDA when available, else CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device='cuda' was asked for but no CUDA device is available: "
                         "use 'cpu' or 'auto'")
    return device


def bf16_is_native(device: str | torch.device) -> bool | None:
    """Whether ``device`` multiplies bfloat16 matrices in hardware.

    CUDA: compute capability 8.0 or later (Ampere on). CPU: the AVX-512 BF16 or AMX
    instructions (x86-64; other CPUs give None). Without them PyTorch emulates bfloat16
    matmuls, and ``train.precision = "bf16"`` is far slower than float32, not faster: on an
    AVX2-only CPU, with 64 trials at N = 2048 and one thread, the forward product of a step
    took 6.7x and the backward product 312x the float32 time (``benchmarks/bf16_matmul.py``;
    docs/training.md, "Precision"). None where this PyTorch or this code cannot tell.
    """
    device = torch.device(device)
    if device.type == "cuda":
        try:
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # PyTorch before 2.3: no emulation to leave out
            return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu" or platform.machine().lower() not in ("x86_64", "amd64"):
        return None  # other CPUs (an ARM with BF16, say): not told apart here
    probes = [getattr(torch.cpu, name, None)
              for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(p is None for p in probes):
        return None
    return any(bool(p()) for p in probes)


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path``.

    A crash at any point leaves either the previous file or the new one, never half of one.
    """
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _lr_lambda(cfg: TrainConfig, horizon: int):
    ratio = cfg.lr_final / cfg.lr
    n = max(horizon, 1)
    if cfg.lr_schedule == "cosine":
        return lambda s: ratio + (1 - ratio) * 0.5 * (1 + math.cos(math.pi * min(s, n) / n))
    if cfg.lr_schedule == "exponential":
        return lambda s: ratio ** (min(s, n) / n)
    return lambda s: 1.0


def _mask_beta(cfg: TrainConfig, step: int, horizon: int) -> float:
    frac = min(step / max(horizon - 1, 1), 1.0)
    return cfg.mask_beta_start * (cfg.mask_beta_end / cfg.mask_beta_start) ** frac


# |beta * s| above this margin: the soft mask sigmoid(beta s) is within 1% of the hard step
MASK_MARGIN = 4.6


def mask_saturation(net: RateRNN) -> dict[str, float]:
    """How settled the masks of a mask-mode circuit are at its current steepness beta.

    Returns:
        ``mask_saturated``: fraction of mask scores s with |beta s| > ``MASK_MARGIN`` (the
        soft mask training saw is within 1% of the hard 0/1 mask evaluation uses; the rest
        differ between training and evaluation); ``mask_on``: fraction of units on (s > 0),
        over all contexts. Empty unless the circuit is in mask mode.
    """
    if net.config.mode != "mask":
        return {}
    s = net.mask_logits.detach()
    beta = float(net.mask_beta)
    return {"mask_saturated": float(((beta * s).abs() > MASK_MARGIN).double().mean()),
            "mask_on": float((s > 0).double().mean())}


def _state(net, opt, sched, gens, history, step, settings) -> dict[str, Any]:
    return {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "settings": settings,
        "model": {k: v.detach().clone() for k, v in net.state_dict().items()},
        "optimizer": copy.deepcopy(opt.state_dict()),
        "scheduler": sched.state_dict(),
        "generators": {k: g.get_state() for k, g in gens.items()},
        "history": copy.deepcopy(history.to_dict()),
    }


def _restore(state, net, opt, sched, gens) -> History:
    net.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    for k, g in gens.items():
        g.set_state(state["generators"][k])
    return History.from_dict(copy.deepcopy(state["history"]))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by fit() (tensors on the CPU); raises CheckpointError naming
    the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        # on the CPU first: generator states must be CPU tensors; load_state_dict moves the rest
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as err:
        raise CheckpointError(f"checkpoint {str(path)!r} is damaged or not a checkpoint "
                              f"({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a {CHECKPOINT_FORMAT} file")
    return state


def fit(net: RateRNN, env: Env, config: TrainConfig | None = None, *,
        out_dir: str | Path | None = None, resume: bool = False, progress: bool | None = None,
        device: str | torch.device | None = None,
        on_eval: Callable[[int, dict[str, float]], None] | None = None) -> History:
    """Train ``net`` in ``env``: Adam on the tensors the circuit's mode makes trainable.

    Trials and noise come from two generators derived from ``config.seed`` (default: the
    circuit's seed), so the same seed gives the same losses bitwise on CPU.

    Args:
        net: the circuit; trained in place and left on ``device``.
        env: where trials come from; its ``training_loss`` (by default ``loss`` of the open-loop
            outputs) is minimised and ``evaluate`` scores.
        config: training settings (default ``TrainConfig()``).
        out_dir: folder for ``checkpoint.pt`` (every ``checkpoint_every`` steps and at the end);
            None keeps nothing on disk.
        resume: continue from ``out_dir/checkpoint.pt`` if it exists.
        progress: report progress on stderr (``neurobias.progress``): a bar on a terminal or
            in Jupyter, else one plain line every 5% of the steps with the step, the loss and
            the latest evaluation; False: nothing; None (default): on unless stderr is
            missing or /dev/null.
        device: "cpu", "cuda" or "auto"; default ``config.device``.
        on_eval: called as ``on_eval(step, metrics)`` after each periodic evaluation (every
            ``eval_every`` steps before the last; not for the final evaluation), with the
            env's metrics by name. An exception it raises stops training and propagates
            (a recipe search prunes a trial this way); checkpoints already written are kept.

    Returns:
        History. If the loss or the gradient becomes non-finite, training stops, the
        parameters of the last good checkpoint are restored and ``history.diverged`` is set.
        The circuit is left in eval mode (noise-free use, hard masks in mask mode).
    """
    cfg = config or TrainConfig()
    if not isinstance(net, RateRNN):
        raise TypeError(f"net must be a RateRNN, got {type(net).__name__}")
    if (env.n_inputs, env.n_outputs) != (net.config.n_inputs, net.config.n_outputs):
        raise ValueError(f"env has {env.n_inputs} inputs and {env.n_outputs} outputs but the "
                         f"circuit has {net.config.n_inputs} and {net.config.n_outputs}")
    if env.n_contexts > net.config.n_contexts:
        raise ValueError(f"env has {env.n_contexts} contexts but the circuit only "
                         f"{net.config.n_contexts}")
    env.check_circuit(net)
    check_sample(env, net)
    dev = resolve_device(device if device is not None else cfg.device)
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir, the folder holding the checkpoint")
    ckpt_path = Path(out_dir) / CHECKPOINT if out_dir is not None else None
    settings = _settings(net, cfg, dev)
    state = None
    if resume and ckpt_path is not None and ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        _check_same_settings(state, settings, ckpt_path)
    horizon = _horizon(state, cfg, ckpt_path)
    settings[_HORIZON] = horizon
    if out_dir is not None:
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        _write_run_config(net, env, cfg, Path(out_dir))
    net.to(dev)
    seed = net.seed if cfg.seed is None else cfg.seed
    gens = {"trials": make_generator(seed, "trials"), "noise": make_generator(seed, "noise", dev)}
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, horizon))
    history = History()
    start = 0
    if state is not None:
        history = _restore(state, net, opt, sched, gens)
        start = state["step"]
        if start >= cfg.steps and history.final:  # finished already: nothing to do
            net.eval()
            return history
        if start > 0 and horizon < cfg.steps and state["settings"].get("train.steps") != \
                cfg.steps:
            log.info("extending the run from %d to %d steps (schedules keep their horizon of "
                     "%d steps)", state["settings"].get("train.steps"), cfg.steps, horizon)
    good = _state(net, opt, sched, gens, history, start, settings)
    noisy = net.config.noise_rec > 0 or net.config.noise_in > 0
    bar = Progress(cfg.steps, "train", "step", progress, initial=start)
    if history.evals:
        bar.set(eval=_headline(history.evals[-1]))
    t0 = time.perf_counter()
    seconds0 = history.seconds
    pending: list[torch.Tensor] = []
    stopped = None
    net.train()
    net.mask_straight_through = cfg.mask_estimator == "straight_through"
    low = torch.bfloat16 if cfg.precision == "bf16" else None
    if low is not None and bf16_is_native(dev) is False:
        warnings.warn(f"train.precision = 'bf16' on a {dev.type} device without bfloat16 "
                      "matmuls in hardware (CPU: AVX-512 BF16 or AMX; GPU: compute capability "
                      "8.0+): they are emulated, far slower than float32; use precision = "
                      "'fp32' here",
                      RuntimeWarning, stacklevel=2)
    step = start
    try:
        for step in range(start + 1, cfg.steps + 1):
            if net.config.mode == "mask":
                net.mask_beta.fill_(_mask_beta(cfg, step - 1, horizon))
            batch = env.sample(cfg.batch_size, gens["trials"]).to(dev)
            net.matmul_dtype = low
            try:
                loss = env.training_loss(net, batch, gens["noise"] if noisy else None)
            finally:
                net.matmul_dtype = None  # evaluation and everything after training: float32
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                gnorm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            else:
                gnorm = torch.stack([p.grad.norm() for p in params if p.grad is not None]).norm()
            history.step.append(step)
            history.lr.append(opt.param_groups[0]["lr"])
            # loss and gradient norm stay on the device until the next flush
            pending.append(torch.stack([loss.detach(), gnorm.detach()]))
            opt.step()
            sched.step()
            at_eval = cfg.eval_every and step % cfg.eval_every == 0
            at_ckpt = cfg.checkpoint_every and step % cfg.checkpoint_every == 0
            if at_eval or at_ckpt or step == cfg.steps or len(pending) >= 25:
                values = torch.stack(pending).cpu()
                pending.clear()
                history.loss.extend(float(v) for v in values[:, 0])
                if not torch.isfinite(values).all():
                    bad = step - len(values) + 1 + int((~torch.isfinite(values)).any(1)
                                                       .nonzero()[0])
                    stopped = bad
                    break
                bar.update(len(values), loss=history.loss[-1])
            if step == cfg.steps:
                break
            if at_eval:
                elapsed = seconds0 + time.perf_counter() - t0
                history.evals.append({"step": step, "seconds": round(elapsed, 3),
                                      **_evaluate(net, env, seed)})
                bar.set(eval=_headline(history.evals[-1]))
                if on_eval is not None:
                    on_eval(step, {k: v for k, v in history.evals[-1].items()
                                   if k not in _EVAL_KEYS})
            if at_ckpt:
                history.seconds = seconds0 + time.perf_counter() - t0
                good = _state(net, opt, sched, gens, history, step, settings)
                if ckpt_path is not None:
                    save_atomic(good, ckpt_path)
    except BaseException:
        bar.close()
        raise
    if stopped is not None:
        history = _restore(good, net, opt, sched, gens)
        history.diverged = True
        kept = (f"the last good checkpoint (step {good['step']})" if good["step"] > start
                else f"the parameters it started from (step {start})")
        history.message = (f"training diverged: non-finite loss or gradient at step {stopped}; "
                           f"stopped and kept {kept}")
        log.warning(history.message)
    else:
        history.seconds = seconds0 + time.perf_counter() - t0
        history.message = f"trained {step} steps"
    done = good["step"] if stopped is not None else step
    try:
        history.final = _evaluate(net, env, seed)
        history.evals = [e for e in history.evals if e["step"] != done]
        history.evals.append({"step": done, "seconds": round(history.seconds, 3),
                              **history.final})
        history.final.update(mask_saturation(net))  # mask mode: settled masks, units on
        bar.set(eval=_headline(history.evals[-1]))
    finally:
        bar.close()
    if ckpt_path is not None and stopped is None:
        save_atomic(_state(net, opt, sched, gens, history, step, settings), ckpt_path)
    if out_dir is not None:
        write_json_atomic(history.to_dict(), Path(out_dir) / "history.json")
        write_json_atomic(run_summary(history, net), Path(out_dir) / "summary.json")
    net.eval()
    return history


def run_summary(history: History, net: RateRNN) -> dict[str, Any]:
    """What a run folder's ``summary.json`` holds: the final evaluation metrics by name, plus
    ``steps``, ``seconds`` (wall time of training), ``diverged`` and ``n_trainable``."""
    return {**history.final,
            "steps": history.step[-1] if history.step else 0,
            "seconds": round(history.seconds, 1),
            "diverged": history.diverged,
            "n_trainable": net.n_trainable()}


def check_sample(env: Env, net: RateRNN) -> None:
    """Draw two trials from ``env`` and check their shapes against the circuit's sizes.

    Raises:
        ConfigError: one line naming the env, what ``sample`` returned and what was expected.
    """
    name = type(env).__name__
    try:
        batch = env.sample(2, torch.Generator().manual_seed(0))
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 - a user's env may fail in any way
        raise ConfigError(f"env {name}: sample(2, generator) failed: {type(err).__name__}: "
                          f"{err}") from None
    if not isinstance(batch, TrialBatch):
        raise ConfigError(f"env {name}: sample() returned {type(batch).__name__}, not a "
                          "neurobias.envs.TrialBatch")
    n_in, n_out = net.config.n_inputs, net.config.n_outputs
    got = tuple(batch.inputs.shape)
    if len(got) != 3 or got[1:] != (2, n_in):
        raise ConfigError(f"env {name}: sample(2) returned inputs of shape {got}: expected "
                          f"(T, 2, {n_in}), (time, trial, circuit.n_inputs)")
    t = got[0]
    got = tuple(batch.targets.shape)
    # the default loss compares outputs with targets element by element; an env with its own
    # loss (class labels, say) may shape its targets otherwise, as long as that loss runs
    default_loss = type(env).loss is Env.loss
    want = (t, 2, n_out) if default_loss else (t, 2)
    if got[:len(want)] != want or (default_loss and len(got) != 3):
        raise ConfigError(f"env {name}: sample(2) returned targets of shape {got}: expected "
                          f"{(t, 2, n_out) if default_loss else (t, 2, '...')}, "
                          "(time, trial, circuit.n_outputs)")
    for field_name in ("inputs", "targets", "mask"):
        if not getattr(batch, field_name).is_floating_point():
            raise ConfigError(f"env {name}: sample() returned {field_name} of dtype "
                              f"{getattr(batch, field_name).dtype}: expected a float tensor")
    if not default_loss:
        try:
            value = env.loss(torch.zeros(t, 2, n_out), batch)
            ok = isinstance(value, torch.Tensor) and value.numel() == 1
        except Exception as err:  # noqa: BLE001 - a user's env may fail in any way
            raise ConfigError(f"env {name}: loss(outputs of shape {(t, 2, n_out)}, sample(2)) "
                              f"failed: {type(err).__name__}: {err}") from None
        if not ok:
            raise ConfigError(f"env {name}: loss() returned {value!r}: expected a scalar "
                              "tensor")
    ctx = batch.context
    if ctx.dtype != torch.long or (ctx.numel() and (int(ctx.min()) < 0 or
                                                    int(ctx.max()) >= env.n_contexts)):
        raise ConfigError(f"env {name}: sample() returned context {ctx.tolist()} "
                          f"({ctx.dtype}): expected int64 indices in 0..{env.n_contexts - 1} "
                          f"(its context_names {list(env.context_names)})")


def _horizon(state: dict[str, Any] | None, cfg: TrainConfig, path: Path | None) -> int:
    """The step count the schedules run over: the run's first ``train.steps``, kept when a
    resumed run is extended. Refuses fewer steps than the checkpoint already made."""
    if state is None:
        return cfg.steps
    saved = state.get("settings", {})
    if cfg.steps < state["step"]:
        raise CheckpointError(f"checkpoint {str(path)!r} is at step {state['step']}: "
                              f"train.steps={cfg.steps} would go back; give at least "
                              f"{state['step']} (more steps extend the run)")
    return int(saved.get(_HORIZON, saved.get("train.steps", cfg.steps)))


def _write_run_config(net: RateRNN, env: Env, cfg: TrainConfig, out: Path) -> None:
    """Write ``out/config.json`` (unless there is one) so that the folder is a run folder the
    stages read; warn, naming why, when the env cannot be described by a spec."""
    path = out / "config.json"
    if path.exists():
        return
    why = None
    spec = env.spec()
    if spec["kind"].startswith("__main__:"):
        why = (f"env class {type(env).__name__} is defined in __main__ (a script or notebook); "
               "define it in an importable module")
    else:
        try:
            experiment = ExperimentConfig(circuit=net.config, env=EnvConfig(**spec),
                                          train=cfg, seed=net.seed)
            data = json.loads(json.dumps(experiment.to_dict()))
        except (ConfigError, TypeError, ValueError) as err:
            why = f"its env cannot be written as a spec ({err})"
    if why is not None:
        warnings.warn(f"{str(out)!r} will hold a checkpoint, history and summary but no "
                      f"config.json: {why}; plot, export and analyze need config.json",
                      stacklevel=3)
        return
    write_json_atomic(data, path)


def _headline(evaluation: dict[str, float]) -> str:
    """The main metric of an evaluation for a progress line: "accuracy_mean 0.91 @ 500"."""
    keys = [k for k in ("accuracy_mean", "accuracy", "r2", "r2_mean") if k in evaluation]
    keys = keys or [k for k in evaluation if k not in _EVAL_KEYS][:1]
    return " ".join(f"{k} {evaluation[k]:.4g}" for k in keys[:1]) + f" @ step {evaluation['step']}"


def _evaluate(net: RateRNN, env: Env, seed: int) -> dict[str, float]:
    was_training = net.training
    net.eval()
    try:
        return env.evaluate(net, make_generator(seed, "eval"))
    finally:
        net.train(was_training)


def _check_same_settings(state, now: dict[str, Any], path: Path) -> None:
    saved = state.get("settings", {})
    for key, value in now.items():
        if key == "train.steps":  # more steps extend the run (see _horizon)
            continue
        if key in saved and saved[key] != value:
            raise CheckpointError(f"checkpoint {str(path)!r} was made with {key}={saved[key]!r}, "
                                  f"not {value!r}: resume with the same settings or a new folder")


def _settings(net: RateRNN, cfg: TrainConfig, device: torch.device) -> dict[str, Any]:
    out = {f"circuit.{k}": v for k, v in dataclasses.asdict(net.config).items()}
    out["circuit.seed"] = net.seed
    # the noise stream lives on the device: CPU and CUDA streams differ
    out["noise_device"] = device.type
    out.update({f"train.{k}": v for k, v in dataclasses.asdict(cfg).items()
                if k not in _RESUME_FREE})
    return out
