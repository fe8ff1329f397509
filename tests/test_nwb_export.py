"""NWB export: checked by the field's own tools (nwbinspector, pynapple, pynwb) against the HDF5
export of the same run."""

import json
import warnings

import h5py
import numpy as np
import pytest

import neurobias as nb
from neurobias.cli import main
from neurobias.config import config_from_dict
from neurobias.io import export, export_nwb, load, read_recording
from neurobias.io.nwb_export import trial_column

LORENZ = {"kind": "lorenz", "n_samples": 3000, "trial_steps": 40, "washout_steps": 5,
          "warmup_steps": 10, "horizon": 5}


@pytest.fixture(scope="module")
def lorenz(tmp_path_factory):
    cfg = config_from_dict({"name": "tiny", "seed": 3, "env": LORENZ,
                            "circuit": {"n_units": 16, "n_contexts": 1},
                            "train": {"steps": 6, "batch_size": 4, "eval_every": 3}})
    return nb.train_run(cfg, tmp_path_factory.mktemp("run"), progress=False)


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    """Two NeuroGym tasks with trials of different lengths, and their two exports."""
    folder = tmp_path_factory.mktemp("ng")
    cfg = config_from_dict({
        "name": "two", "seed": 1, "circuit": {"n_units": 12},
        "env": {"kind": "neurogym", "tasks": ["yang19.dm1-v0", "yang19.dms-v0"],
                "eval_trials": 4},
        "train": {"steps": 2, "batch_size": 4, "eval_every": 0}})
    run = nb.train_run(cfg, folder / "run", progress=False)
    h5 = export(run, folder / "r.h5", n_trials=9, chunk_trials=2, progress=False)
    nwb = export_nwb(run, folder / "r.nwb", n_trials=9, chunk_trials=2, progress=False)
    return run, h5, nwb


def _inspect(path):
    from nwbinspector import Importance, inspect_nwbfile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        messages = list(inspect_nwbfile(nwbfile_path=str(path)))
    return [m for m in messages if m.importance in (Importance.CRITICAL,
                                                    Importance.BEST_PRACTICE_VIOLATION)]


def _valid_steps(h5_rates, lengths):
    """(trial, time, unit) padded -> (sum of lengths, unit), trial after trial."""
    return np.concatenate([h5_rates[i, :n] for i, n in enumerate(lengths)])


def test_inspector_and_pynapple_agree_with_the_hdf5_export(lorenz, tmp_path):
    import pynapple as nap

    h5 = export(lorenz, tmp_path / "r.h5", n_trials=10, chunk_trials=3, progress=False)
    path = export_nwb(lorenz, tmp_path / "r.nwb", n_trials=10, chunk_trials=3, progress=False)
    assert _inspect(path) == []
    assert list(tmp_path.glob(".r.nwb.tmp-*")) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = nap.load_file(str(path))
        trials = data["trials"]
    rates = data["rates"]
    back = load(h5)
    expected = back.activity().reshape(-1, 16)  # every Lorenz trial has all 40 steps
    np.testing.assert_array_equal(np.asarray(rates.values), expected)
    # sample t of trial i lies at i * 40 * dt + t * dt (s)
    np.testing.assert_allclose(rates.t[:3], [0.0, 0.02, 0.04])
    np.testing.assert_allclose(rates.t[40], 0.8)
    np.testing.assert_array_equal(np.asarray(data["inputs"].values),
                                  back.trials["inputs"].reshape(-1, 1))
    np.testing.assert_array_equal(np.asarray(data["outputs"].values),
                                  back.trials["outputs"].reshape(-1, 1))
    np.testing.assert_allclose(trials.start, np.arange(10) * 0.8)
    # abutting trials: pynapple ends each 1 us early to keep the intervals apart
    np.testing.assert_allclose(trials.end, np.arange(1, 11) * 0.8, atol=2e-6)
    # the Lorenz window start of each trial, renamed apart from pynapple's interval start
    np.testing.assert_array_equal(trials["condition_start"], back.conditions["start"])


def test_trials_of_varying_length_every_condition_and_the_circuit(multi):
    from pynwb import NWBHDF5IO

    run, h5, path = multi
    assert _inspect(path) == []
    back = load(h5)
    lengths = back.conditions["length"]
    assert len(set(lengths.tolist())) > 1
    with NWBHDF5IO(str(path), "r") as io:
        f = io.read()
        misc = f.processing["misc"]
        np.testing.assert_array_equal(misc["rates"].data[:],
                                      _valid_steps(back.activity(), lengths))
        np.testing.assert_array_equal(misc["targets"].data[:],
                                      _valid_steps(back.trials["targets"], lengths))
        np.testing.assert_array_equal(f.stimulus["inputs"].data[:],
                                      _valid_steps(back.trials["inputs"], lengths))
        tr = f.trials.to_dataframe()
        dt_s = run.config.circuit.dt_ms / 1000
        np.testing.assert_allclose(tr["stop_time"] - tr["start_time"], lengths * dt_s)
        np.testing.assert_allclose(tr["start_time"].iloc[1:], tr["stop_time"].iloc[:-1])
        for key, value in back.conditions.items():  # every condition is a column
            np.testing.assert_array_equal(tr[trial_column(key)].to_numpy(), value,
                                          err_msg=key)
        np.testing.assert_array_equal(tr["context"], back.trials["context"])
        assert list(tr["context_name"].iloc[:2]) == ["yang19.dm1", "yang19.dms"]
        units = misc["circuit_units"]
        np.testing.assert_array_equal(units["W_rec"].data[:], back.net.W_rec.numpy())
        np.testing.assert_array_equal(units["biases"].data[:], back.net.biases.detach().numpy().T)
        prov = dict(zip(misc["provenance"]["key"].data[:], misc["provenance"]["value"].data[:],
                        strict=True))
        assert json.loads(prov["config.circuit.n_units"]) == 12
        assert json.loads(prov["config.env.tasks"]) == ["yang19.dm1-v0", "yang19.dms-v0"]
        import pynwb
        import torch

        assert json.loads(prov["versions.pynwb"]) == pynwb.__version__
        assert json.loads(prov["versions.torch"]) == torch.__version__
        assert f.subject.species.endswith("NCBITaxon_32630")


def test_read_recording_reads_the_nwb_export_back(multi):
    _, h5, path = multi
    back = load(h5)
    rec = read_recording(path, dt_ms=20.0, source="timeseries:rates", context="context_name")
    np.testing.assert_array_equal(rec.lengths, back.conditions["length"])
    np.testing.assert_allclose(rec.rates, back.activity(), atol=1e-6)
    assert rec.condition_names == ("yang19.dm1", "yang19.dms")


def test_reaching_hand_and_channel_names_in_both_exports(tmp_path, one_thread):
    cfg = config_from_dict({"name": "reach", "seed": 0, "circuit": {"n_units": 8},
                            "env": {"kind": "reaching", "delay_min_ms": 100.0,
                                    "delay_max_ms": 100.0, "reach_ms": 200.0,
                                    "hold_ms": 100.0},
                            "train": {"steps": 1, "batch_size": 2, "eval_every": 0}})
    run = nb.train_run(cfg, tmp_path / "run", progress=False)
    h5 = export(run, tmp_path / "r.h5", n_trials=3, progress=False)
    path = export_nwb(run, tmp_path / "r.nwb", n_trials=3, progress=False)
    with h5py.File(h5, "r") as f:
        names = [n.decode() for n in f["trials/inputs"].attrs["names"]]
        assert names == ["target x", "target y", "go", "hand x", "hand y", "hand vx", "hand vy"]
        assert [n.decode() for n in f["trials/outputs"].attrs["names"]] == ["command 1",
                                                                          "command 2"]
        pos = f["trials/hand_position_cm"][:]
        vel = f["trials/hand_velocity_cm_s"][:]
        # the hand feedback input is the position in units of the radius (10 cm), delayed
        delay = run.env.feedback_delay
        fb = f["trials/inputs"][:, delay + 1:, 3:5] * 10.0
        np.testing.assert_allclose(fb, pos[:, :-delay - 1], atol=1e-4)
        # the velocity integrates to the position (Euler, dt 20 ms), roughly
        assert np.abs(pos).max() > 0 and np.abs(vel).max() > 0
    assert _inspect(path) == []
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        f = io.read()
        hand = f.processing["behavior"]["Position"]["hand_position"]
        assert hand.unit == "centimeters"
        np.testing.assert_array_equal(hand.data[:], pos.reshape(-1, 2))
        v = f.processing["behavior"]["BehavioralTimeSeries"]["hand_velocity"]
        np.testing.assert_array_equal(v.data[:], vel.reshape(-1, 2))
        assert "hand vx" in f.stimulus["inputs"].description


def test_cli_nwb_by_extension_and_bad_targets(lorenz, tmp_path, capsys):
    out = tmp_path / "a.nwb"
    assert main(["export", str(lorenz.path), "-o", str(out), "--trials", "2",
                 "--no-progress"]) == 0
    with h5py.File(out, "r") as f:
        assert "nwb_version" in f.attrs
    assert main(["export", str(lorenz.path), "-o", str(tmp_path / "b.h5"), "--format", "nwb",
                 "--trials", "2", "--no-progress"]) == 0
    with h5py.File(tmp_path / "b.h5", "r") as f:
        assert "nwb_version" in f.attrs
    capsys.readouterr()
    folder = tmp_path / "dir.nwb"
    folder.mkdir()
    assert main(["export", str(lorenz.path), "-o", str(folder), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a folder" in err
    assert list(folder.iterdir()) == []
    assert main(["export", str(lorenz.path), "-o", str(tmp_path / "c.nwb"), "--no-activity",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--no-activity" in err
    assert not (tmp_path / "c.nwb").exists()
    assert list(tmp_path.glob(".*tmp-*")) == []
    # an existing file is kept without --force
    assert main(["export", str(lorenz.path), "-o", str(out), "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_a_failure_mid_export_leaves_the_previous_file(lorenz, tmp_path, monkeypatch):
    import neurobias.io.nwb_export as mod

    path = export_nwb(lorenz, tmp_path / "r.nwb", n_trials=4, progress=False)
    before = path.read_bytes()
    calls = []
    real = mod.simulate

    def failing(*args, **kw):  # the second chunk of trials fails
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return real(*args, **kw)

    monkeypatch.setattr(mod, "simulate", failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export_nwb(lorenz, path, n_trials=6, chunk_trials=3, force=True, progress=False)
    assert path.read_bytes() == before
    with pytest.raises(RuntimeError, match="simulated crash"):
        calls.clear()
        export_nwb(lorenz, tmp_path / "new.nwb", n_trials=6, chunk_trials=3, progress=False)
    assert not (tmp_path / "new.nwb").exists()
    assert list(tmp_path.glob(".*.tmp-*")) == []


def test_a_circuit_without_inputs_exports_to_nwb(tmp_path):
    """A recording without inputs gives a circuit with 0 input channels: no stimulus series,
    and the rest as in the HDF5 export (the export used to fail on the missing series)."""
    from pynwb import NWBHDF5IO

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "rec.npz", activity=rng.random((8, 10, 3)).astype(np.float32),
             condition=np.repeat(["a", "b"], 4), dt_ms=20.0)
    cfg = config_from_dict({"name": "no_inputs", "seed": 0, "circuit": {"n_units": 8},
                            "env": {"kind": "recording", "path": str(tmp_path / "rec.npz"),
                                    "heldout_trials": 0.25},
                            "train": {"steps": 2, "batch_size": 4, "eval_every": 0}})
    run = nb.train_run(cfg, tmp_path / "run", progress=False)
    assert run.net.config.n_inputs == 0
    h5 = export(run, tmp_path / "r.h5", n_trials=4, progress=False)
    path = export_nwb(run, tmp_path / "r.nwb", n_trials=4, progress=False)
    assert _inspect(path) == []
    back = load(h5)
    with NWBHDF5IO(str(path), "r") as io:
        f = io.read()
        assert "inputs" not in f.stimulus
        np.testing.assert_array_equal(f.processing["misc"]["rates"].data[:],
                                      back.activity().reshape(-1, 8))
        np.testing.assert_array_equal(f.processing["misc"]["targets"].data[:],
                                      back.trials["targets"].reshape(-1, 3))
