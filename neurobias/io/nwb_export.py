"""NWB export (pynwb): a run's test trials and the circuit's activity in the field's format.

The same trials and activity as the HDF5 export (the ``export`` random stream, the same chunks),
laid out as NWB expects (docs/hdf5.md, "NWB"):

- trials back to back on one clock: trial i covers ``[start_time, stop_time)`` of the trials
  table, its ``length`` steps of ``dt_ms``, sample t at ``start_time + t * dt`` (the bin of the
  t-th Euler step; the value is the state at that bin's end);
- ``processing/misc`` (the schema's module for data of no recording modality; the inspector
  accepts it): TimeSeries ``rates`` (and ``states``), ``outputs``, ``targets``,
  ``target_mask``, and the circuit as DynamicTables ``circuit_units`` (one row per unit:
  ``W_rec`` row, ``W_in`` row, the tonic input of each context, ``x0``, mask scores),
  ``circuit_readout`` (one row per output) and ``provenance`` (key, JSON value: config,
  versions, summary, channel names, the training history's end);
- ``stimulus/inputs``: the circuit's inputs u (absent when it has no input channels);
- reaching only, ``processing/behavior``: ``Position/hand_position`` (SpatialSeries, cm) and
  ``BehavioralTimeSeries/hand_velocity`` (cm/s);
- the trials table: start and stop times, ``context`` and ``context_name``, and every trial
  condition as a column.

Streaming: the file's structure is written first with empty, chunked datasets (hdmf
``H5DataIO(shape=, dtype=)``), then the trials are simulated ``chunk_trials`` at a time and
written into them, so only one chunk of activity is in memory. The file is written under a
temporary name and renamed when complete.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
import warnings
from pathlib import Path

import numpy as np
import torch

from .._atomic import atomic_path
from ..progress import Progress
from ..seeding import generator as make_generator
from ._simulate import channel_names, is_reaching, simulate
from .hdf5 import _InterruptGuard, _remove_stale_temporaries, _versions, prepare_export

__all__ = ["export_nwb", "trial_column", "NWB_MODULE"]

NWB_MODULE = "misc"  # the processing module of the rates (schema name; inspector-approved)
# NCBI taxon 32630, "synthetic construct": the species of a model (the inspector asks for one)
SYNTHETIC_SPECIES = "http://purl.obolibrary.org/obo/NCBITaxon_32630"


def export_nwb(run, path: str | Path, *, n_trials: int = 256, dtype: str = "float32",
               activity: bool = True, states: bool = False, compression: str = "gzip",
               force: bool = False, progress: bool | None = None, device: str | None = None,
               chunk_trials: int | None = None) -> Path:
    """Write a run's test trials and the circuit's activity on them to an NWB file.

    Arguments as for ``neurobias.io.export`` (the HDF5 export); the trials, and the activity
    on every trial's valid steps, are the same as in that file.

    Args:
        run: a ``Run`` or the path of a run folder.
        path: the ``.nwb`` file to write.
        n_trials: trials to simulate and store.
        dtype: "float32" or "float16" for the rates and states.
        activity: must be True: an NWB export is the circuit's activity.
        states: also store ``processing/misc/states``, the pre-activation x.
        compression: "gzip" (level 1), "lzf" or "none".
        force: overwrite an existing file.
        progress: progress bar over trials (None: when stderr is a terminal).
        device: where to simulate (default: CUDA when available).
        chunk_trials: trials simulated and written per chunk.

    Returns:
        The path written.

    Raises:
        RunFileError: ``path`` is a folder, or exists and ``force`` is not set.
        ValueError: an argument is out of range (``activity=False`` included).
    """
    from pynwb import NWBHDF5IO

    if not activity:
        raise ValueError("activity=False is invalid for an NWB export: the NWB file is the "
                         "circuit's activity (leave out --no-activity, or export to .h5)")
    path, run, net, per_chunk = prepare_export(run, path, n_trials=n_trials, dtype=dtype,
                                               compression=compression, force=force,
                                               device=device, chunk_trials=chunk_trials,
                                               example="run.nwb")
    dev = net.W_rec.device
    env = run.env
    config = run.config
    dt_ms = float(config.circuit.dt_ms)

    # pass 1: the trials alone (cheap), to lay out the clock and the trials table
    probe = env.test_batch(1, make_generator(config.seed, "export"))
    sizes = [min(per_chunk, n_trials - a) for a in range(0, n_trials, per_chunk)]
    gen = make_generator(config.seed, "export")
    lengths, contexts, conds = [], [], {}
    for k in sizes:
        b = env.test_batch(k, gen)
        lengths.append(_lengths(b))
        contexts.append(b.context.cpu().numpy())
        for key, value in b.conditions.items():
            conds.setdefault(key, []).append(value.cpu().numpy())
    lengths = np.concatenate(lengths)
    contexts = np.concatenate(contexts)
    conds = {k: np.concatenate(v) for k, v in conds.items()}
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    n_samples = int(lengths.sum())

    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    widths = {"inputs": probe.inputs.shape[2], "outputs": config.circuit.n_outputs,
              "targets": probe.targets.shape[2], "target_mask": probe.targets.shape[2]}
    series_dtype = {"rates": dtype, "states": dtype}
    with _InterruptGuard(path) as guard, Progress(n_trials, "export", "trial", progress) as bar, \
            atomic_path(path) as tmp:
        nwb, data = _build_file(run, net, env, n_samples, dt_ms, widths, states, dtype,
                                compression, lengths, first, contexts, conds)
        with warnings.catch_warnings():
            # pynwb warns that the temporary name does not end in .nwb
            warnings.simplefilter("ignore")
            io = NWBHDF5IO(str(tmp), "w")
        with io:
            io.write(nwb)
            dsets = {name: d.dataset for name, d in data.items()}
            # pass 2: simulate and fill, one chunk of trials at a time
            gen = make_generator(config.seed, "export")
            done = 0
            with torch.no_grad():
                for k in sizes:
                    guard.check()
                    batch = env.test_batch(k, gen)
                    sl = slice(done, done + k)
                    if not np.array_equal(_lengths(batch), lengths[sl]):
                        raise RuntimeError("the env drew different trials from the same "
                                           "random stream: its test_batch is not "
                                           "deterministic")
                    dev_batch = batch.to(dev)
                    roll, extras = simulate(env, net, dev_batch, states)
                    valid = np.arange(batch.n_steps)[None, :] < lengths[sl][:, None]
                    rows = slice(int(first[done]), int(first[done] + lengths[sl].sum()))
                    values = {"inputs": dev_batch.inputs, "outputs": roll.outputs,
                              "targets": dev_batch.targets, "target_mask": dev_batch.mask,
                              "rates": roll.rates, **extras}
                    if states:
                        values["states"] = roll.states
                    for name, value in values.items():
                        if value.shape[-1] == 0:  # no channels (a circuit without inputs)
                            continue  # and no series in the file
                        ds = dsets[name]
                        block = value.transpose(0, 1).to(
                            "cpu", getattr(torch, series_dtype.get(name, "float32"))).numpy()
                        ds[rows] = block[valid]
                    done += k
                    bar.update(k)
        guard.check()  # before the rename
    guard.finish()
    return path


def _lengths(batch) -> np.ndarray:
    """Valid steps of each trial (the ``length`` condition, else every step)."""
    if "length" in batch.conditions:
        return batch.conditions["length"].cpu().numpy().astype(np.int64)
    return np.full(batch.n_trials, batch.n_steps, dtype=np.int64)


def _build_file(run, net, env, n_samples, dt_ms, widths, states, dtype, compression, lengths,
                first, contexts, conds):
    """The NWBFile with every small part written and the per-step series as empty datasets.

    Returns ``(nwbfile, {series name: H5DataIO})``; after ``io.write`` each H5DataIO's
    ``dataset`` is the h5py dataset to fill, (samples, channels).
    """
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBFile, TimeSeries
    from pynwb.behavior import BehavioralTimeSeries, Position, SpatialSeries
    from pynwb.file import Subject

    from .. import __version__

    config = run.config
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    nwb = NWBFile(
        session_description=(f"Simulated activity of a rate circuit with fixed random "
                             f"connectivity ({config.circuit.n_units} units, mode "
                             f"{config.circuit.mode}) on held-out trials of the env "
                             f"{config.env.kind}, noise-free; run {config.name!r}, "
                             f"seed {config.seed}."),
        identifier=str(uuid.uuid4()),
        session_start_time=now,
        session_id=f"{config.name}-seed{config.seed}".replace("/", "-"),
        source_script=f"neurobias {__version__} (neurobias export)",
        source_script_file_name="neurobias/io/nwb_export.py",
        notes=("A model, not an animal: the circuit's weights, tonic inputs (biases), spec and "
               "versions are in processing/misc (circuit_units, circuit_readout, "
               "provenance)."),
        keywords=["recurrent neural network", "model", "simulation", "tonic input",
                  "bias learning"],
        experiment_description=(f"Trials of the env {config.env.kind} ({env.describe()}) "
                                "given to a trained rate circuit; see processing/misc."),
        subject=Subject(
            subject_id=f"circuit-{config.name}-seed{config.seed}".replace("/", "-"),
            description=(f"A simulated rate circuit of {config.circuit.n_units} units "
                         "(a model, not an animal); age: its training's wall time."),
            species=SYNTHETIC_SPECIES, sex="U",
            age=f"PT{max(1, round(run.history.seconds))}S"),
    )
    rate = 1000.0 / dt_ms
    opts = {} if compression == "none" else (
        {"compression": "gzip", "compression_opts": 1} if compression == "gzip"
        else {"compression": "lzf"})

    def empty(width, dt):
        chunk_rows = int(max(1, min(n_samples, (1 << 20) // max(4 * width, 1))))
        return H5DataIO(shape=(n_samples, width), dtype=np.dtype(dt),
                        chunks=(chunk_rows, width), **opts)

    data = {}
    n_in, n_out = widths["inputs"], widths["outputs"]
    in_names = channel_names(env, "input", n_in)
    out_names = channel_names(env, "output", n_out)
    misc = nwb.create_processing_module(
        NWB_MODULE, "A simulated rate circuit: its activity, outputs and targets on the exported "
                    "trials, and the circuit itself (weights, tonic inputs, spec).")
    n_units = net.n_units
    data["rates"] = empty(n_units, dtype)
    misc.add(TimeSeries(
        name="rates", data=data["rates"], unit="a.u.", starting_time=0.0, rate=rate,
        description=(f"Rates r = phi(x) of the {n_units} circuit units (columns, in the order of "
                     "circuit_units), dimensionless; sample t of a trial is the state after "
                     "t + 1 Euler steps of dt from trial onset."),
        comments="Simulated noise-free (model output, not a recording)."))
    if states:
        data["states"] = empty(n_units, dtype)
        misc.add(TimeSeries(
            name="states", data=data["states"], unit="a.u.", starting_time=0.0, rate=rate,
            description="States x (pre-activation) of the circuit units, dimensionless."))
    for name, width, text in (
            ("outputs", n_out, "Readout y = W_out r + b_out, one column per output channel: "
             + ", ".join(out_names) + " (logits for classification tasks)."),
            ("targets", widths["targets"], "Training target of each step: values, or for "
             "classification tasks (NeuroGym) the index of the correct output."),
            ("target_mask", widths["targets"], "Loss weight of each step; 0: not scored.")):
        if width:
            data[name] = empty(width, "float32")
            misc.add(TimeSeries(name=name, data=data[name], unit="a.u.", starting_time=0.0,
                                rate=rate, description=text))
    if n_in:
        data["inputs"] = empty(n_in, "float32")
        nwb.add_stimulus(TimeSeries(
            name="inputs", data=data["inputs"], unit="a.u.", starting_time=0.0, rate=rate,
            description="Inputs u to the circuit, one column per channel: "
                        + ", ".join(in_names) + "."))
    if is_reaching(env):
        behavior = nwb.create_processing_module(
            "behavior", "The simulated hand of the closed-loop reaching task.")
        data["hand_position_cm"] = empty(2, "float32")
        data["hand_velocity_cm_s"] = empty(2, "float32")
        behavior.add(Position(spatial_series=SpatialSeries(
            name="hand_position", data=data["hand_position_cm"], unit="centimeters",
            reference_frame="the center of the workspace (the start position); x right, y up",
            starting_time=0.0, rate=rate, description="Hand position (x, y) after each step.")))
        behavior.add(BehavioralTimeSeries(time_series=TimeSeries(
            name="hand_velocity", data=data["hand_velocity_cm_s"], unit="cm/s",
            starting_time=0.0, rate=rate, description="Hand velocity (vx, vy) after each step.")))

    misc.add(_circuit_units(net, env, DynamicTable, VectorData))
    misc.add(_circuit_readout(net, out_names, DynamicTable, VectorData))
    misc.add(_provenance(run, env, in_names, out_names, DynamicTable, VectorData))
    _trials_table(nwb, env, lengths, first, dt_ms, contexts, conds)
    return nwb, data


def _circuit_units(net, env, DynamicTable, VectorData):
    state = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    cols = [
        VectorData(name="W_rec", data=state["W_rec"],
                   description="Row i: recurrent weights onto unit i from every unit j "
                               "(W_rec[i, j], post, pre)."),
        VectorData(name="biases", data=np.ascontiguousarray(state["biases"].T),
                   description="Tonic input of unit i in each context (columns: "
                               + ", ".join(env.context_names) + "), units of x."),
        VectorData(name="x0", data=state["x0"], description="Initial state of unit i."),
    ]
    if state["W_in"].shape[1]:
        cols.insert(1, VectorData(name="W_in", data=state["W_in"],
                                  description="Row i: input weights onto unit i."))
    if "mask_logits" in state:
        cols.append(VectorData(name="mask_logits", data=np.ascontiguousarray(
            state["mask_logits"].T), description="Mask score of unit i in each context (on "
                                                 "when > 0)."))
    return DynamicTable(name="circuit_units", description="The circuit's units: their weights, "
                        "tonic inputs and initial state, one row per unit (the columns of "
                        "rates).", columns=cols)


def _circuit_readout(net, out_names, DynamicTable, VectorData):
    state = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    return DynamicTable(name="circuit_readout", description="The readout, one row per output "
                        "channel (the columns of outputs).", columns=[
                            VectorData(name="channel", data=list(out_names),
                                       description="Name of the output channel."),
                            VectorData(name="W_out", data=state["W_out"],
                                       description="Readout weights from every unit."),
                            VectorData(name="b_out", data=state["b_out"],
                                       description="Readout bias.")])


def _provenance(run, env, in_names, out_names, DynamicTable, VectorData):
    c = run.config.circuit
    circuit = {"tau_ms": c.tau_ms, "dt_ms": c.dt_ms, "activation": c.activation,
               "mode": c.mode, "weights": c.weights, "gain": c.gain, "seed": run.net.seed,
               "trainable": list(run.net.trainable_names)}
    import hdmf
    import pynwb

    versions = {**_versions(), "pynwb": pynwb.__version__, "hdmf": hdmf.__version__}
    items = {"config": json.loads(run.config.to_json()), "versions": versions,
             "summary": run.summary, "circuit": circuit,
             "contexts": list(env.context_names), "input_names": list(in_names),
             "output_names": list(out_names),
             "history": {"steps": len(run.history.loss), "final": run.history.final,
                         "diverged": bool(run.history.diverged),
                         "seconds": float(run.history.seconds)}}
    flat = _flatten(items)
    keys = list(flat)
    values = [json.dumps(flat[k], default=str) for k in keys]
    return DynamicTable(name="provenance", description="Where the data came from: the "
                        "experiment spec (config.*), package versions (versions.*), final "
                        "metrics (summary.*), the circuit's settings (circuit.*), contexts and "
                        "channel names; one row per leaf, its dotted key and its JSON value.",
                        columns=[
                            VectorData(name="key", data=keys, description="What the row is."),
                            VectorData(name="value", data=values, description="JSON text.")])


def _flatten(tree: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (the inspector wants no dictionaries in tables);
    an empty dictionary becomes ``None``."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = None if isinstance(value, dict) else value
    return out


def trial_column(condition: str) -> str:
    """The trials-table column of a trial condition: its name, except ``start`` and ``end``
    (pynapple's names for the interval bounds) become ``condition_start``/``condition_end``."""
    return f"condition_{condition}" if condition in ("start", "end") else condition


def _trials_table(nwb, env, lengths, first, dt_ms, contexts, conds) -> None:
    dt_s = dt_ms / 1000.0
    nwb.add_trial_column("context", "Context index of the trial (row of the tonic inputs).")
    nwb.add_trial_column("context_name", "Context name of the trial.")
    nwb.add_trial_column("length", "Valid steps of the trial (samples of dt).")
    conds = {trial_column(k): v for k, v in conds.items() if k != "length"}
    for key in conds:
        nwb.add_trial_column(key, f"Trial condition {key.removeprefix('condition_')!r} (as in "
                                  "the HDF5 export's /trials/conditions).")
    names = env.context_names
    for i in range(len(lengths)):
        row = {key: (v[i].item() if hasattr(v[i], "item") else v[i]) for key, v in conds.items()}
        nwb.add_trial(start_time=float(first[i] * dt_s),
                      stop_time=float((first[i] + lengths[i]) * dt_s),
                      context=int(contexts[i]), context_name=str(names[int(contexts[i])]),
                      length=int(lengths[i]), **row)
