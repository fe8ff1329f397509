import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import restore_sigint

import neurobias as nb
from neurobias.cli import main
from neurobias.config import config_from_dict
from neurobias.io import RunFileError, export, load
from neurobias.seeding import generator

ROOT = Path(__file__).parents[1]
LORENZ = {"kind": "lorenz", "n_samples": 3000, "trial_steps": 40, "washout_steps": 5,
          "warmup_steps": 10, "horizon": 5}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = config_from_dict({"name": "tiny", "seed": 3, "env": LORENZ,
                            "circuit": {"n_units": 16, "n_contexts": 1},
                            "train": {"steps": 6, "batch_size": 4, "eval_every": 3}})
    return nb.train_run(cfg, tmp_path_factory.mktemp("run"), progress=False)


def test_round_trip_bitwise(run, tmp_path):
    path = export(run, tmp_path / "run.h5", n_trials=10, states=True, chunk_trials=3,
                  progress=False)
    back = load(path)
    # the circuit: every tensor bitwise, and bitwise-equal outputs on the same inputs
    for name, value in run.net.state_dict().items():
        assert torch.equal(back.net.state_dict()[name], value.cpu()), name
    u = torch.randn(20, 5, 1)
    ctx = torch.zeros(5, dtype=torch.long)
    with torch.no_grad():
        assert torch.equal(back.net(u, ctx).outputs, run.net(u, ctx).outputs)
    # trials: regenerate the same chunks from the export stream and compare bitwise
    gen = generator(run.config.seed, "export")
    rates, states, inputs, starts = [], [], [], []
    with torch.no_grad():
        for k in (3, 3, 3, 1):
            batch = run.env.test_batch(k, gen)
            roll = run.net(batch.inputs, batch.context, return_states=True)
            rates.append(roll.rates.transpose(0, 1).numpy())
            states.append(roll.states.transpose(0, 1).numpy())
            inputs.append(batch.inputs.transpose(0, 1).numpy())
            starts.append(batch.conditions["start"].numpy())
    np.testing.assert_array_equal(back.activity("rates"), np.concatenate(rates))
    np.testing.assert_array_equal(back.activity("states"), np.concatenate(states))
    np.testing.assert_array_equal(back.trials["inputs"], np.concatenate(inputs))
    np.testing.assert_array_equal(back.conditions["start"], np.concatenate(starts))
    # targets are the inputs `horizon` samples later, in file order (trial, time, 1)
    np.testing.assert_array_equal(back.trials["targets"][:, :-5], back.trials["inputs"][:, 5:])
    # history and provenance
    assert back.history.loss == run.history.loss and back.history.step == run.history.step
    assert back.history.evals == run.history.evals
    assert back.summary == run.summary
    assert back.config == run.config
    assert back.attrs["schema"] == "neurobias/1" and back.attrs["seed"] == 3
    assert back.attrs["versions"]["torch"] == torch.__version__


def test_float16_and_no_activity(run, tmp_path):
    p32 = export(run, tmp_path / "a.h5", n_trials=4, progress=False)
    p16 = export(run, tmp_path / "b.h5", n_trials=4, dtype="float16", compression="none",
                 progress=False)
    r32 = load(p32).activity()
    r16 = load(p16).activity()
    assert r16.dtype == np.float16
    np.testing.assert_array_equal(r16, r32.astype(np.float16))
    p0 = export(run, tmp_path / "c.h5", n_trials=4, activity=False, progress=False)
    with pytest.raises(RunFileError, match="holds no /activity/rates"):
        load(p0).activity()


def test_overwrite_needs_force(run, tmp_path):
    path = export(run, tmp_path / "r.h5", n_trials=2, progress=False)
    with pytest.raises(RunFileError, match="already exists: use --force"):
        export(run, path, n_trials=2, progress=False)
    export(run, path, n_trials=3, force=True, progress=False)
    assert load(path).trials["context"].shape == (3,)


def test_damaged_foreign_and_newer_files(run, tmp_path):
    good = export(run, tmp_path / "good.h5", n_trials=4, progress=False)
    truncated = tmp_path / "truncated.h5"
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(RunFileError, match="truncated.h5' is not a readable HDF5 file"):
        load(truncated)
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(RunFileError, match="is not a readable HDF5 file"):
        load(text)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(RunFileError, match="is not a neurobias run file: it has no schema"):
        load(foreign)
    newer = tmp_path / "newer.h5"
    newer.write_bytes(data)
    with h5py.File(newer, "r+") as f:
        f.attrs["schema"] = np.bytes_(b"neurobias/2")
    with pytest.raises(RunFileError, match="uses schema neurobias/2; this neurobias reads up to "
                                           "neurobias/1: upgrade"):
        load(newer)
    with pytest.raises(RunFileError, match="does not exist"):
        load(tmp_path / "missing.h5")


def test_cli_export_and_info(run, tmp_path, capsys):
    out = tmp_path / "cli.h5"
    assert main(["export", str(run.path), "-o", str(out), "--trials", "5", "--no-progress"]) == 0
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "/activity/rates" in text and "(5, 40, 16)" in text and "contexts default" in text
    assert main(["export", str(run.path), "-o", str(out), "--trials", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err
    assert main(["export", str(run.path), "-o", str(tmp_path / "x.h5"), "--trials", "0"]) == 2
    assert "--trials=0 is invalid" in capsys.readouterr().err
    (tmp_path / "junk.h5").write_text("junk")
    assert main(["info", str(tmp_path / "junk.h5")]) == 2
    assert "is not a readable HDF5 file" in capsys.readouterr().err


def test_docs_example_reads_a_file_without_neurobias(run, tmp_path):
    """The h5py example of docs/hdf5.md runs as written, without importing neurobias."""
    path = export(run, tmp_path / "run.h5", n_trials=6, progress=False)
    doc = (ROOT / "docs" / "hdf5.md").read_text()
    code = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    assert "neurobias" not in code.replace("neurobias/", "")
    script = tmp_path / "read.py"
    script.write_text(code.replace("run.h5", str(path)) +
                      "\nprint(rates.shape, context.tolist(), sorted(conditions))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, check=True)
    last = proc.stdout.strip().splitlines()[-1]
    assert last == "(6, 40, 16) [0, 0, 0, 0, 0, 0] ['start']"


def _export_cmd(run_dir, out, trials, force=False):
    return ([sys.executable, "-m", "neurobias.cli", "export", str(run_dir), "-o", str(out),
             "--trials", str(trials), "--no-progress", "--compression", "gzip"]
            + (["--force"] if force else []))


def _kill_when_temporary_grows(proc, out):
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        tmps = list(out.parent.glob(f".{out.name}.tmp-*"))
        if tmps and tmps[0].stat().st_size > 2_000_000:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the export finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_kill_9_leaves_no_file_or_the_previous_one(run, tmp_path):
    out = tmp_path / "run.h5"
    big = 20000
    proc = subprocess.Popen(_export_cmd(run.path, out, big), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _kill_when_temporary_grows(proc, out)
    assert not out.exists()
    # a complete file, then a killed --force export over it: the complete one survives
    export(run, out, n_trials=7, progress=False)
    before = load(out).activity()
    proc = subprocess.Popen(_export_cmd(run.path, out, big, force=True),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_when_temporary_grows(proc, out)
    np.testing.assert_array_equal(load(out).activity(), before)
    # the next export clears the temporaries the killed writers left
    export(run, out, n_trials=2, force=True, progress=False)
    assert list(tmp_path.glob(".run.h5.tmp-*")) == []
    assert json.loads(json.dumps(load(out).summary)) == run.summary


def test_trials_of_varying_length_are_padded_across_chunks(tmp_path):
    from neurobias.config import config_from_dict

    cfg = config_from_dict({
        "circuit": {"n_units": 16},
        "env": {"kind": "neurogym", "tasks": ["yang19.dm1-v0", "yang19.dms-v0"],
                "eval_trials": 4},
        "train": {"steps": 2, "batch_size": 4, "eval_every": 0}})
    run = nb.train_run(cfg, tmp_path / "run", progress=False)
    back = load(export(run, tmp_path / "r.h5", n_trials=9, chunk_trials=2, progress=False))
    lengths = back.conditions["length"]
    mask = back.trials["mask"][..., 0]
    assert len(set(lengths.tolist())) > 1  # dm1 and dms trials differ in length
    assert back.trials["inputs"].shape[1] == lengths.max()
    for i, n in enumerate(lengths):  # valid steps are scored, the padding is zero
        assert (mask[i, :n] > 0).all() and (mask[i, n:] == 0).all()
        assert np.abs(back.activity()[i, n:]).sum() == 0
        assert np.abs(back.activity()[i, :n]).sum() > 0


def _interrupt_export(run_dir, out):
    """Start a long export with progress lines into a pipe, SIGINT it once it has written a
    chunk, and return (exit code, stderr)."""
    cmd = _export_cmd(run_dir, out, 20000)
    cmd[cmd.index("--no-progress")] = "--progress"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=restore_sigint)
    for line in proc.stderr:
        if line.startswith("export: ") and not line.startswith("export: 0/"):
            break
    assert proc.poll() is None, "the export finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    return proc.returncode, rest


def test_ctrl_c_stops_the_export_and_leaves_no_file(run, tmp_path):
    out = tmp_path / "run.h5"
    code, err = _interrupt_export(run.path, out)
    assert code == 130, err
    assert err.strip().splitlines()[-1] == (
        f"neurobias: export interrupted: no file written, {str(out)!r} was not created or "
        "changed")
    assert "Traceback" not in err and "checkpoint" not in err
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_info_on_a_run_folder_points_to_its_file(run, tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a folder without run.h5" in err
    assert "damaged" not in err
    export(run, tmp_path / "run.h5", n_trials=2, progress=False)
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"neurobias: error: {str(tmp_path)!r} is a run folder, not a run "
                           f"file: use `neurobias info {tmp_path / 'run.h5'}`")
