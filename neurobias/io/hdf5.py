"""HDF5 run files: export a trained run with its activity, load it back.

The layout (schema ``neurobias/1``) is documented field by field in ``docs/hdf5.md``. In short:

    /            attrs: schema, neurobias_version, created, name, seed, env, config, summary,
                        versions (JSON text)
    /circuit     every tensor of the circuit's state (W_rec, W_in, W_out, b_out, biases, x0, ...)
    /trials      inputs, targets, outputs, mask (trial, time, ·), context (trial,),
                 conditions/<name> (trial,)
    /activity    rates and optionally states (trial, time, unit), chunked by trial
    /history     step, loss, lr, evals/<metric>
    /analysis    reserved for analysis results

Inside the library arrays are (time, trial, unit); in the file they are (trial, time, unit). This
module is the only place that transposes. Every dataset has a ``dims`` attribute naming its axes.
String attributes are fixed-length ASCII (readable from MATLAB, h5py, HDFView); JSON attributes
are ASCII JSON.

A file is written to a hidden temporary name beside the target and renamed when complete, so a
crash or a kill leaves either no file or the previous complete one.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
import platform
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from .._atomic import atomic_path
from ..circuit import RateRNN
from ..config import ExperimentConfig, config_from_dict
from ..progress import Progress
from ..seeding import generator as make_generator
from ..train import History
from ._simulate import HAND_SERIES, channel_names, is_reaching, simulate

__all__ = ["SCHEMA", "SCHEMA_VERSION", "RunFile", "RunFileError", "ExportInterrupted", "export",
           "load", "info"]

SCHEMA_VERSION = 1
SCHEMA = f"neurobias/{SCHEMA_VERSION}"
DTYPES = ("float32", "float16")
COMPRESSIONS = ("gzip", "lzf", "none")
# Upper bound on the activity held in memory per chunk of trials (bytes).
CHUNK_BYTES = 64 * 2**20


class RunFileError(ValueError):
    """A run file is missing, damaged, foreign, of a newer schema, or would be overwritten."""


class ExportInterrupted(KeyboardInterrupt):
    """An export stopped by SIGINT (Ctrl-C); no file (and no temporary file) was left."""


class _InterruptGuard:
    """Turn SIGINT into a flag for the length of an export, checked between chunks of trials.

    A KeyboardInterrupt raised at an arbitrary point can land inside h5py or HDF5 code that
    cannot pass it on, where it is printed and dropped and the export carries on; a flag checked
    at known points always stops it. Outside the main thread (where Python allows no signal
    handler) the guard does nothing and SIGINT keeps its usual effect.
    """

    def __init__(self, path: Path):
        self.path = path
        self.hit = False
        self._previous = None

    def __enter__(self) -> _InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.hit = True

    def check(self) -> None:
        """Raise ExportInterrupted if SIGINT arrived since the export began."""
        if self.hit:
            raise ExportInterrupted(f"export interrupted: no file written, {str(self.path)!r} "
                                    "was not created or changed")

    def finish(self) -> None:
        """After the rename: a SIGINT that came while the file was being renamed removes the
        new file again and raises ExportInterrupted."""
        if self.hit:
            self.path.unlink(missing_ok=True)
            self.check()

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# ------------------------------------------------------------------------------------ helpers


def _ascii(text: str) -> np.bytes_:
    """A fixed-length ASCII string attribute (MATLAB reads these without fuss)."""
    return np.bytes_(text.encode("ascii", "backslashreplace"))


def _text(value: Any) -> str:
    return value.decode("ascii") if isinstance(value, (bytes, np.bytes_)) else str(value)


def _dataset(group: h5py.Group, name: str, data, dims: str, **kw) -> h5py.Dataset:
    ds = group.create_dataset(name, data=data, **kw)
    ds.attrs["dims"] = _ascii(dims)
    return ds


def _versions() -> dict[str, str]:
    from .. import __version__

    out = {"neurobias": __version__, "python": platform.python_version(),
           "torch": torch.__version__, "numpy": np.__version__, "h5py": h5py.__version__}
    for name in ("scipy", "neurogym", "gymnasium"):
        try:
            out[name] = importlib.import_module(name).__version__
        except Exception:  # noqa: BLE001 - an optional package may fail to import in many ways
            pass
    return out


def _remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files of earlier exports to ``path`` whose writer no longer runs."""
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        try:
            pid = int(tmp.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except PermissionError:  # alive, someone else's
            pass


def _chunk_trials(n_steps: int, n_units: int, with_states: bool) -> int:
    per_trial = n_steps * n_units * 4 * (2 if with_states else 1)
    return int(max(1, min(1024, CHUNK_BYTES // max(per_trial, 1))))

def prepare_export(run, path, *, n_trials: int, dtype: str, compression: str, force: bool,
                   device, chunk_trials: int | None, example: str):
    """What every export checks and sets up before it writes: the arguments, the target path,
    the run (loaded if given as a folder), the circuit on its device in eval mode, and the
    number of trials simulated per chunk.

    The chunk size decides which trials are drawn, so it depends on the circuit and the env
    only (not on what is stored) and is a multiple of the number of tasks: trial k is of task
    k mod n_tasks in every export of a run, whatever its format.

    Returns:
        (path, run, net, trials per chunk).

    Raises:
        ValueError: an argument is out of range.
        RunFileError: ``path`` is a folder, or exists and ``force`` is not set.
    """
    from ..run import Run, load_run
    from ..train import resolve_device

    path = Path(path)
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is invalid: allowed: " + ", ".join(DTYPES))
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression={compression!r} is invalid: allowed: "
                         + ", ".join(COMPRESSIONS))
    if not (isinstance(n_trials, int) and n_trials >= 1):
        raise ValueError(f"n_trials={n_trials!r} is invalid: must be an integer >= 1")
    if path.is_dir():
        raise RunFileError(f"{str(path)!r} is a folder: give a file name such as {example}")
    if path.exists() and not force:
        raise RunFileError(f"{str(path)!r} already exists: use --force to overwrite it")
    if not isinstance(run, Run):
        run = load_run(run)
    net = run.net.to(resolve_device(device)).eval()
    probe = run.env.test_batch(1, make_generator(run.config.seed, "export"))
    n_tasks = getattr(run.env, "n_tasks", 1)
    per_chunk = chunk_trials or _chunk_trials(probe.n_steps, net.n_units, True)
    return path, run, net, max(n_tasks, per_chunk // n_tasks * n_tasks)



def export(run, path: str | Path, *, n_trials: int = 256, dtype: str = "float32",
           activity: bool = True, states: bool = False, compression: str = "gzip",
           force: bool = False, progress: bool | None = None, device: str | None = None,
           chunk_trials: int | None = None) -> Path:
    """Write a run, fresh test trials and the circuit's activity on them to an HDF5 file.

    Trials are drawn from the env's held-out trials with the run's ``export`` random stream
    and simulated noise-free, ``chunk_trials`` at a time: however many trials are asked for,
    only one chunk of activity (at most ~64 MB per array) is in memory at once.

    Args:
        run: a ``Run`` (from ``train_run`` or ``load_run``) or the path of a run folder.
        path: the ``.h5`` file to write.
        n_trials: trials to simulate and store.
        dtype: "float32" or "float16" for the activity (trials are always float32).
        activity: store /activity/rates (trial, time, unit).
        states: also store /activity/states, the pre-activation x.
        compression: "gzip" (level 1: fast, portable), "lzf" (h5py only) or "none".
        force: overwrite an existing file.
        progress: report the trials done on stderr (``neurobias.progress``): a bar on a
            terminal or in Jupyter, else a plain line every 5%; False: nothing; None: auto.
        device: where to simulate (default: CUDA when available).
        chunk_trials: trials simulated and written per chunk (default from the memory bound;
            rounded down to a multiple of the number of tasks).

    Returns:
        The path written.

    Raises:
        RunFileError: ``path`` exists and ``force`` is not set.
        ValueError: an argument is out of range.
        ExportInterrupted: SIGINT (Ctrl-C) arrived during the export (a KeyboardInterrupt):
            it stops at the next chunk and leaves neither the file nor its temporary.
    """

    path, run, net, per_chunk = prepare_export(run, path, n_trials=n_trials, dtype=dtype,
                                               compression=compression, force=force,
                                               device=device, chunk_trials=chunk_trials,
                                               example="run.h5")
    dev = net.W_rec.device
    env = run.env
    config: ExperimentConfig = run.config
    gen = make_generator(config.seed, "export")
    probe = env.test_batch(1, make_generator(config.seed, "export"))
    n_steps = probe.n_steps
    n_units = net.n_units
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    with _InterruptGuard(path) as guard, Progress(n_trials, "export", "trial", progress) as bar, \
            atomic_path(path) as tmp:
        with h5py.File(tmp, "w", libver=("earliest", "v110")) as f:
            _write_root(f, run)
            _write_circuit(f.create_group("circuit"), net, config, env)
            _write_history(f.create_group("history"), run.history)
            f.create_group("analysis").attrs["note"] = _ascii(
                "reserved for analysis results (neurobias analyze)")
            trials = f.create_group("trials")
            trials.attrs["dt_ms"] = config.circuit.dt_ms
            trials.attrs["noise"] = _ascii("none: simulated noise-free")
            dsets = _create_trial_datasets(trials, probe, n_trials, n_steps,
                                           config.circuit.n_outputs)
            _name_channels(dsets, env)
            if is_reaching(env):
                for name, unit in HAND_SERIES.items():
                    dsets[name] = trials.create_dataset(
                        name, shape=(n_trials, n_steps, 2), dtype="float32",
                        chunks=(1, n_steps, 2), maxshape=(n_trials, None, 2))
                    dsets[name].attrs["dims"] = _ascii("trial,time,xy")
                    dsets[name].attrs["units"] = _ascii(f"{unit}, relative to the center")
            act = f.create_group("activity")
            act.attrs["dt_ms"] = config.circuit.dt_ms
            names = (["rates"] if activity else []) + (["states"] if states else [])
            for name in names:
                dsets[name] = create_activity_dataset(act, name, (n_trials, n_steps, n_units),
                                                      dtype, compression)
            done = 0
            with torch.no_grad():
                while done < n_trials:
                    guard.check()
                    k = min(per_chunk, n_trials - done)
                    batch = env.test_batch(k, gen)
                    if batch.n_steps > n_steps:  # trials of varying length: the time axis grows,
                        n_steps = batch.n_steps  # earlier trials keep zeros (mask 0) as padding
                        for ds in dsets.values():
                            if ds.ndim == 3:
                                ds.resize(n_steps, axis=1)
                    dev_batch = batch.to(dev)
                    roll, extras = simulate(env, net, dev_batch, states)
                    outputs, rates, xs = roll.outputs, roll.rates, roll.states
                    if "length" in batch.conditions:  # zero the padding after each trial's end
                        t = torch.arange(batch.n_steps, device=dev)[:, None]
                        valid = (t < batch.conditions["length"].to(dev)[None, :])[..., None]
                        outputs, rates = outputs * valid, rates * valid
                        xs = xs * valid if xs is not None else None
                    sl = slice(done, done + k)
                    _write_trial_chunk(dsets, sl, dev_batch.to("cpu"), outputs)
                    for name, value in extras.items():
                        dsets[name][sl, :batch.n_steps] = value.transpose(0, 1).to(
                            "cpu", torch.float32).numpy()
                    for name in names:
                        write_activity(dsets[name], sl, rates if name == "rates" else xs)
                    done += k
                    bar.update(k)
        guard.check()  # before the rename
    guard.finish()
    return path


def create_activity_dataset(group: h5py.Group, name: str, shape: tuple[int, int, int],
                            dtype: str, compression: str) -> h5py.Dataset:
    """An empty (trial, time, unit) dataset chunked one trial per chunk."""
    comp = {} if compression == "none" else (
        {"compression": "gzip", "compression_opts": 1} if compression == "gzip"
        else {"compression": "lzf"})
    ds = group.create_dataset(name, shape=shape, dtype=dtype, chunks=(1, *shape[1:]),
                              maxshape=(shape[0], None, shape[2]), **comp)
    ds.attrs["dims"] = _ascii("trial,time,unit")
    ds.attrs["units"] = _ascii("rate r = m * phi(x), dimensionless" if name == "rates"
                               else "state x, dimensionless")
    return ds


def write_activity(dset: h5py.Dataset, trials: slice, values_tbn: torch.Tensor) -> None:
    """Write (time, trial, unit) values into the (trial, time, unit) dataset at ``trials``.

    Fewer time steps than the dataset holds fill its first steps (the rest stays zero).
    """
    dtype = getattr(torch, str(dset.dtype))
    dset[trials, : values_tbn.shape[0]] = values_tbn.transpose(0, 1).to("cpu", dtype)\
        .contiguous().numpy()


def _write_root(f: h5py.File, run) -> None:
    from .. import __version__

    cfg: ExperimentConfig = run.config
    f.attrs["schema"] = _ascii(SCHEMA)
    f.attrs["neurobias_version"] = _ascii(__version__)
    f.attrs["created"] = _ascii(_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    f.attrs["name"] = _ascii(cfg.name)
    f.attrs["seed"] = cfg.seed
    f.attrs["env"] = _ascii(cfg.env.kind)
    f.attrs["config"] = _ascii(cfg.to_json())
    f.attrs["summary"] = _ascii(json.dumps(run.summary, sort_keys=True))
    f.attrs["versions"] = _ascii(json.dumps(_versions(), sort_keys=True))


_CIRCUIT_DIMS = {"W_rec": "unit,unit", "W_in": "unit,input", "W_out": "output,unit",
                 "b_out": "output", "biases": "context,unit", "x0": "unit",
                 "mask_logits": "context,unit", "mask_beta": ""}


def _write_circuit(g: h5py.Group, net: RateRNN, config: ExperimentConfig, env) -> None:
    c = config.circuit
    for name, value in net.state_dict().items():
        _dataset(g, name, value.detach().cpu().numpy(), _CIRCUIT_DIMS.get(name, ""))
    g.attrs["tau_ms"] = c.tau_ms
    g.attrs["dt_ms"] = c.dt_ms
    g.attrs["activation"] = _ascii(c.activation)
    g.attrs["mode"] = _ascii(c.mode)
    g.attrs["weights"] = _ascii(c.weights)
    g.attrs["gain"] = c.gain
    g.attrs["seed"] = net.seed
    g.attrs["contexts"] = np.array([_ascii(n) for n in env.context_names])
    g.attrs["trainable"] = np.array([_ascii(n) for n in net.trainable_names])
    g.attrs["W_rec_convention"] = _ascii("W_rec[i, j]: from unit j to unit i (post, pre)")


def _write_history(g: h5py.Group, history: History) -> None:
    n = len(history.loss)
    _dataset(g, "step", np.asarray(history.step[:n], dtype=np.int64), "step")
    _dataset(g, "loss", np.asarray(history.loss, dtype=np.float64), "step")
    _dataset(g, "lr", np.asarray(history.lr[:n], dtype=np.float64), "step")
    ev = g.create_group("evals")
    if history.evals:
        keys = sorted({k for e in history.evals for k in e})
        for key in keys:
            values = [e.get(key, np.nan) for e in history.evals]
            _dataset(ev, key, np.asarray(values, dtype=np.int64 if key == "step" else np.float64),
                     "eval")
    g.attrs["diverged"] = bool(history.diverged)
    g.attrs["message"] = _ascii(history.message)
    g.attrs["seconds"] = float(history.seconds)
    g.attrs["final"] = _ascii(json.dumps(history.final, sort_keys=True))


def _create_trial_datasets(g: h5py.Group, probe, n_trials: int, n_steps: int,
                           n_outputs: int) -> dict:
    out = {}
    for name, units in (("inputs", "input"), ("targets", "target"), ("outputs", "output"),
                        ("mask", "target")):
        width = {"inputs": probe.inputs.shape[2], "outputs": n_outputs}.get(
            name, probe.targets.shape[2])
        out[name] = g.create_dataset(name, shape=(n_trials, n_steps, width), dtype="float32",
                                     chunks=(1, n_steps, max(width, 1)) if width else None,
                                     maxshape=(n_trials, None, width) if width else None)
        out[name].attrs["dims"] = _ascii(f"trial,time,{units}")
    out["context"] = g.create_dataset("context", shape=(n_trials,), dtype="int64")
    out["context"].attrs["dims"] = _ascii("trial")
    cond = g.create_group("conditions")
    for key, value in probe.conditions.items():
        arr = value.cpu().numpy()
        out[f"conditions/{key}"] = cond.create_dataset(key, shape=(n_trials,), dtype=arr.dtype)
        out[f"conditions/{key}"].attrs["dims"] = _ascii("trial")
    return out


def _name_channels(dsets: dict, env) -> None:
    """Attribute ``names`` of /trials/inputs and /trials/outputs: one name per channel."""
    for name, kind in (("inputs", "input"), ("outputs", "output")):
        ds = dsets[name]
        ds.attrs["names"] = np.array([_ascii(n) for n in channel_names(env, kind,
                                                                       ds.shape[2])])


def _write_trial_chunk(dsets: dict, sl: slice, batch, outputs: torch.Tensor) -> None:
    def tb(x):  # (time, trial, k) -> (trial, time, k), float32 numpy
        return x.transpose(0, 1).to("cpu", torch.float32).numpy()

    n_t = batch.n_steps
    for name, value in (("inputs", batch.inputs), ("targets", batch.targets),
                        ("outputs", outputs), ("mask", batch.mask)):
        if value.shape[2]:
            dsets[name][sl, :n_t] = tb(value)
    dsets["context"][sl] = batch.context.cpu().numpy()
    for key, value in batch.conditions.items():
        dsets[f"conditions/{key}"][sl] = value.cpu().numpy()


# ------------------------------------------------------------------------------------ load


@dataclass
class RunFile:
    """A run file read back: the rebuilt circuit and the small arrays; activity on demand.

    Attributes:
        path: the file.
        attrs: provenance (schema, versions, created, seed, name, ...), JSON decoded.
        config: the experiment spec.
        net: the circuit, with exactly the stored state, in eval mode.
        history: the training history.
        summary: final metrics by name.
        trials: inputs, targets, outputs, mask (trial, time, ·) and context (trial,).
        conditions: per-trial conditions, name -> (trial,).
    """

    path: Path
    attrs: dict[str, Any]
    config: ExperimentConfig
    net: RateRNN
    history: History
    summary: dict[str, Any]
    trials: dict[str, np.ndarray]
    conditions: dict[str, np.ndarray]

    def activity(self, name: str = "rates", trials=slice(None)) -> np.ndarray:
        """Read /activity/<name> for the selected trials: (trial, time, unit)."""
        with _open(self.path) as f:
            if f"activity/{name}" not in f:
                raise RunFileError(f"{str(self.path)!r} holds no /activity/{name} (exported "
                                   "without it)")
            return f["activity"][name][trials]


def _open(path: Path) -> h5py.File:
    path = Path(path)
    if not path.exists():
        raise RunFileError(f"{str(path)!r} does not exist")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        reason = str(err).split("(")[0].strip().rstrip(",")
        raise RunFileError(f"{str(path)!r} is not a readable HDF5 file (damaged or truncated?): "
                           f"{reason}") from None


def _check_schema(f: h5py.File, path: Path) -> None:
    if "schema" not in f.attrs:
        raise RunFileError(f"{str(path)!r} is not a neurobias run file: it has no schema "
                           "attribute")
    schema = _text(f.attrs["schema"])
    family, _, version = schema.partition("/")
    if family != "neurobias" or not version.isdigit():
        raise RunFileError(f"{str(path)!r} is not a neurobias run file (schema {schema!r})")
    if int(version) > SCHEMA_VERSION:
        raise RunFileError(f"{str(path)!r} uses schema {schema}; this neurobias reads up to "
                           f"{SCHEMA}: upgrade neurobias to read it")


def load(path: str | Path, device: str | torch.device = "cpu") -> RunFile:
    """Read a run file written by ``export``; the circuit is rebuilt exactly.

    Raises:
        RunFileError: the file is missing, not HDF5, truncated, foreign, incomplete, or of a
            newer schema; the message names the file and the problem.
    """
    path = Path(path)
    with _open(path) as f:
        _check_schema(f, path)
        try:
            attrs = {k: _text(v) if isinstance(v, (bytes, np.bytes_)) else v
                     for k, v in f.attrs.items()}
            for key in ("config", "summary", "versions"):
                attrs[key] = json.loads(attrs[key])
            config = config_from_dict(attrs["config"])
            net = RateRNN(config.circuit, seed=int(f["circuit"].attrs["seed"]))
            state = {name: torch.from_numpy(np.array(f["circuit"][name]))
                     for name in net.state_dict()}
            net.load_state_dict(state)
            hist = f["history"]
            history = History(
                step=[int(s) for s in hist["step"][()]], loss=[float(v) for v in hist["loss"][()]],
                lr=[float(v) for v in hist["lr"][()]],
                evals=_read_evals(hist["evals"]), final=json.loads(_text(hist.attrs["final"])),
                diverged=bool(hist.attrs["diverged"]), message=_text(hist.attrs["message"]),
                seconds=float(hist.attrs["seconds"]))
            trials = {k: np.array(f["trials"][k]) for k in ("inputs", "targets", "outputs",
                                                            "mask", "context")}
            conditions = {k: np.array(v) for k, v in f["trials"]["conditions"].items()}
        except KeyError as err:
            raise RunFileError(f"{str(path)!r} is incomplete: {err.args[0]}") from None
        except (OSError, ValueError, RuntimeError) as err:
            raise RunFileError(f"{str(path)!r} is damaged: {err}") from None
    net.to(device).eval()
    return RunFile(path, attrs, config, net, history, attrs["summary"], trials, conditions)


def _read_evals(g: h5py.Group) -> list[dict[str, float]]:
    cols: dict[str, np.ndarray] = {}
    g.visititems(lambda name, obj: cols.__setitem__(name, obj[()])
                 if isinstance(obj, h5py.Dataset) else None)
    keys = list(cols)
    if not keys:
        return []
    n = len(cols[keys[0]])
    out = []
    for i in range(n):
        row = {k: float(cols[k][i]) for k in keys}
        row["step"] = int(row["step"])
        out.append(row)
    return out


def info(path: str | Path) -> str:
    """A human summary of a run file: provenance, circuit, contexts, shapes, metrics."""
    path = Path(path)
    lines = []
    with _open(path) as f:
        _check_schema(f, path)
        a = f.attrs
        versions = json.loads(_text(a["versions"]))
        lines.append(f"{path}  ({_text(a['schema'])}, {path.stat().st_size / 2**20:.1f} MiB)")
        lines.append(f"run      {_text(a['name'])}  env {_text(a['env'])}  seed {a['seed']}  "
                     f"created {_text(a['created'])}")
        lines.append("versions " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
        c = f["circuit"]
        n_units = c["W_rec"].shape[0]
        lines.append(f"circuit  N={n_units} mode={_text(c.attrs['mode'])} "
                     f"activation={_text(c.attrs['activation'])} "
                     f"weights={_text(c.attrs['weights'])} gain={c.attrs['gain']:g} "
                     f"tau={c.attrs['tau_ms']:g} ms dt={c.attrs['dt_ms']:g} ms")
        lines.append("contexts " + ", ".join(_text(x) for x in c.attrs["contexts"]))
        lines.append("learned  " + ", ".join(_text(x) for x in c.attrs["trainable"]))

        n_evals = []

        def visit(name, obj):
            if name.startswith("history/evals/") and isinstance(obj, h5py.Dataset):
                n_evals.append(obj.shape[0])
            elif isinstance(obj, h5py.Dataset) and not name.startswith(("circuit", "analysis")):
                dims = _text(obj.attrs.get("dims", b""))
                comp = f" {obj.compression}" if obj.compression else ""
                lines.append(f"  /{name:<28} {str(obj.shape):<22} {obj.dtype}{comp}  ({dims})")

        lines.append("datasets")
        f.visititems(visit)
        if n_evals:
            lines.append(f"  /history/evals/*  {len(n_evals)} metrics x {n_evals[0]} evaluations")
        if "analysis" in f and len(f["analysis"]):
            g = f["analysis"]
            parts = sorted(g)
            if "clusters" in g:
                c = g["clusters"].attrs
                parts[parts.index("clusters")] = (f"clusters (k={int(c['n_clusters'])}, "
                                                  f"silhouette {float(c['silhouette']):.2f})")
            lines.append("analysis " + ", ".join(parts))
        summary = json.loads(_text(a["summary"]))
        lines.append("metrics  " + ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in sorted(summary.items())))
    return "\n".join(lines)
