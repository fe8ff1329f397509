import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import restore_sigint

from neurobias.cli import main
from neurobias.train import CHECKPOINT, load_checkpoint

ROOT = Path(__file__).parents[1]
SINE = str(ROOT / "tasks" / "sine.toml")
FAST = ["circuit.n_units=32", "train.steps=20", "train.eval_every=10",
        "train.checkpoint_every=10"]


def sets(items):
    out = []
    for item in items:
        out += ["--set", item]
    return out


def one_line_error(capsys, argv, match):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    assert match in err, err


def test_train_writes_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", SINE, "--out", str(out), "--no-progress"] + sets(FAST)) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads((out / "summary.json").read_text())
    assert json.loads(last) == summary
    assert summary["steps"] == 20 and "r2" in summary and summary["seconds"] >= 0
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 20
    assert load_checkpoint(out / CHECKPOINT)["step"] == 20
    # a second train into the same folder is refused without --resume or --force
    one_line_error(capsys, ["train", SINE, "--out", str(out)] + sets(FAST), "already holds a run")
    # plot draws the figures
    assert main(["plot", str(out)]) == 0
    assert (out / "figures" / "outputs.png").stat().st_size > 1000


@pytest.mark.parametrize("overrides, match", [
    (["circuit.activation=elu"], "circuit.activation='elu' is invalid: allowed: relu"),
    (["circuit.tau_ms=0"], "circuit.tau_ms=0.0 is invalid: must be a number > 0"),
    (["circuit.tau_ms=-1"], "circuit.tau_ms=-1.0 is invalid"),
    (["circuit.dt_ms=500"], "circuit.dt_ms=500.0 is invalid: must be <= tau_ms"),
    (["circuit.n_units=0"], "circuit.n_units=0 is invalid: must be an integer >= 1"),
    (["train.bogus=1"], "--set train.bogus is not a known setting"),
    (["nothing.here=1"], "--set nothing.here is not a known setting"),
    (["env.period=3"], "env.period is not a parameter of env 'sine'"),
])
def test_bad_values_one_line_exit_2(tmp_path, capsys, overrides, match):
    one_line_error(capsys, ["train", SINE, "--out", str(tmp_path / "r")] + sets(overrides), match)
    assert not (tmp_path / "r").exists()


def test_bad_files_one_line_exit_2(tmp_path, capsys):
    one_line_error(capsys, ["train", str(tmp_path / "nope.toml"), "--out", str(tmp_path)],
                   "does not exist")
    bad = tmp_path / "bad.toml"
    bad.write_text("[circuit]\nn_units = = 3\n")
    one_line_error(capsys, ["train", str(bad), "--out", str(tmp_path / "r")], "is not valid TOML")
    one_line_error(capsys, ["plot", str(tmp_path)], "is not a run folder")
    one_line_error(capsys, ["train"], "the following arguments are required")


def test_console_script_error_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "neurobias.cli", "train", SINE, "--out",
                           str(tmp_path), "--set", "circuit.activation=elu"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("neurobias: error: circuit.activation='elu'")
    assert len(proc.stderr.strip().splitlines()) == 1


def _train_cmd(out, steps):
    return [sys.executable, "-m", "neurobias.cli", "train", SINE, "--out", str(out),
            "--no-progress"] + sets(["circuit.n_units=256", f"train.steps={steps}",
                                     "train.eval_every=0", "train.checkpoint_every=20",
                                     "circuit.noise_rec=0.05", "train.batch_size=4"])


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    steps = 300
    full = tmp_path / "full"
    subprocess.run(_train_cmd(full, steps), check=True, capture_output=True, env=env)
    cut = tmp_path / "cut"
    proc = subprocess.Popen(_train_cmd(cut, steps), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once a checkpoint beyond the first exists
        ckpt = cut / CHECKPOINT
        # checkpoints are renamed into place, so a reader never sees half of one
        if ckpt.exists() and load_checkpoint(ckpt)["step"] >= 40:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(cut / CHECKPOINT)["step"]  # never half-written
    assert 0 < killed_at < steps, "the run finished before it could be killed"
    subprocess.run(_train_cmd(cut, steps) + ["--resume"], check=True, capture_output=True,
                   env=env)
    a = load_checkpoint(full / CHECKPOINT)
    b = load_checkpoint(cut / CHECKPOINT)
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name
    assert a["history"]["loss"] == b["history"]["loss"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "r"
    one_line_error(capsys, ["train", SINE, "--out", str(out), "--device", "cuda"],
                   "--device='cuda' is invalid: no CUDA device is available")
    one_line_error(capsys, ["train", SINE, "--out", str(out), "--set", "train.device=cuda"],
                   "train.device='cuda' is invalid: no CUDA device is available")
    one_line_error(capsys, ["sweep", SINE, "--out", str(out), "--grid",
                            "train.device=cpu,cuda"], "train.device='cuda' is invalid")
    assert not out.exists()  # not even config.json
    assert main(["train", SINE, "--out", str(out), "--no-progress"] + sets(FAST)) == 0
    capsys.readouterr()
    one_line_error(capsys, ["export", str(out), "--device", "cuda"], "--device='cuda'")
    assert not (out / "run.h5").exists()


def test_out_naming_a_file_is_one_line(tmp_path, capsys):
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me")
    one_line_error(capsys, ["train", SINE, "--out", str(afile)] + sets(FAST),
                   f"--out {str(afile)!r} is a file: give a folder")
    one_line_error(capsys, ["sweep", SINE, "--out", str(afile), "--grid", "seed=1"],
                   "is a file: give a folder")
    one_line_error(capsys, ["train", SINE, "--out", str(afile / "run")] + sets(FAST),
                   "a file stands in its path")
    assert afile.read_text() == "keep me"


def _tiny_two_task_run(tmp_path):
    from neurobias.config import config_from_dict
    from neurobias.run import train_run

    cfg = config_from_dict({
        "circuit": {"n_units": 24},
        "env": {"kind": "neurogym", "tasks": ["yang19.go-v0", "yang19.anti-v0"],
                "eval_trials": 8},
        "train": {"steps": 2, "batch_size": 4, "eval_every": 0}})
    return train_run(cfg, tmp_path / "run", progress=False).path


def test_ctrl_c_during_analyze_says_nothing_was_written(tmp_path):
    """A real SIGINT while the shuffled-unit null runs: exit 130, analyze's own words, no
    /analysis results and no figures."""
    import h5py

    run_dir = _tiny_two_task_run(tmp_path)
    cmd = [sys.executable, "-m", "neurobias.cli", "analyze", str(run_dir), "--trials", "16",
           "--starts", "4", "--shuffles", "10000000", "--no-lesions", "--progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=restore_sigint,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    for line in proc.stderr:  # the null is the stage after clustering
        if "clusters done" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 130, rest
    assert rest.strip().splitlines()[-1] == (
        "neurobias: analyze interrupted: nothing written; /analysis in run.h5 and the figures "
        "are as they were")
    assert "Traceback" not in rest and "checkpoint" not in rest
    with h5py.File(run_dir / "run.h5") as f:  # exported before the analysis began; complete
        assert "task_variance" not in f["analysis"] and "rates" in f["activity"]
    assert not (run_dir / "figures").exists()


def test_ctrl_c_during_train_keeps_the_checkpoint_and_says_so(tmp_path):
    out = tmp_path / "r"
    cmd = [sys.executable, "-m", "neurobias.cli", "train", SINE, "--out", str(out),
           "--progress"] + sets(["circuit.n_units=16", "train.steps=1000000",
                                 "train.eval_every=0", "train.checkpoint_every=20"])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=restore_sigint,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and not (out / CHECKPOINT).exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == (
        f"neurobias: train interrupted: the last checkpoint in {str(out)!r} is kept; continue "
        "with --resume")
    assert "Traceback" not in err
    assert load_checkpoint(out / CHECKPOINT)["step"] % 20 == 0


def test_version_names_the_package_version(capsys):
    import re

    from neurobias.cli import main
    init_py = (Path(__file__).parents[1] / "neurobias" / "__init__.py").read_text()
    expected = re.search(r'__version__ = "([^"]+)"', init_py).group(1)
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"neurobias {expected}"
