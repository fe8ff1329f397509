import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neurobias.progress import Progress, progress_mode

ROOT = Path(__file__).parents[1]
SINE = str(ROOT / "tasks" / "sine.toml")


def test_plain_lines_every_five_percent():
    out = io.StringIO()
    with Progress(200, "export", "trial", True, stream=out) as p:
        for _ in range(200):
            p.update(1)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    # a line at the start, at every 5% (10 trials), none repeated at the end
    done = [int(line.split()[1].split("/")[0]) for line in lines]
    assert done == list(range(0, 201, 10))
    assert lines[-1].startswith("export: 200/200 trials (100%) | ")


def test_lines_show_what_set_adds_and_close_reports_a_change():
    out = io.StringIO()
    p = Progress(4, "train", "step", True, stream=out, every=0.5)
    p.update(2, loss=0.25)
    p.set(eval="r2 0.5 @ step 2")
    p.update(2, loss=0.125)
    p.set(eval="r2 0.75 @ step 4")  # the final evaluation comes after the last step
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("train: 2/4 steps (50%) | loss 0.25 | ")
    assert "loss 0.125 | eval r2 0.5 @ step 2" in lines[2]
    assert "eval r2 0.75 @ step 4" in lines[3] and len(lines) == 4
    p.close()  # closing twice writes nothing more
    assert len(out.getvalue().splitlines()) == 4


def test_modes(tmp_path):
    log = open(tmp_path / "log.txt", "w")
    assert progress_mode(None, log) == "lines"  # a job's log file
    assert progress_mode(False, log) == "off"
    with open(os.devnull, "w") as null:
        assert progress_mode(None, null) == "off"  # nobody reads /dev/null
        assert progress_mode(True, null) == "lines"
    primary, secondary = os.openpty()
    with os.fdopen(secondary, "w") as tty:
        assert progress_mode(None, tty) == "bar" and progress_mode(True, tty) == "bar"
        assert progress_mode(False, tty) == "off"
    os.close(primary)
    log.close()
    with pytest.raises(ValueError, match="progress='yes' is invalid"):
        progress_mode("yes")
    silent = io.StringIO()
    with Progress(10, "x", "y", False, stream=silent) as p:
        p.update(10)
    assert silent.getvalue() == ""


FAST = ["--set", "circuit.n_units=16", "--set", "train.steps=100", "--set",
        "train.eval_every=50", "--set", "train.checkpoint_every=50"]


def test_training_writes_plain_lines_into_a_pipe(tmp_path, capfd):
    """stderr a pipe (a cluster job's log): plain lines with the step, the loss and the latest
    evaluation; --no-progress: none."""
    from neurobias.cli import main

    cmd = [sys.executable, "-m", "neurobias.cli", "train", SINE, "--out", str(tmp_path / "r"),
           *FAST]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    err = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stderr
    assert "\r" not in err and "\x1b" not in err
    lines = err.splitlines()
    steps = [int(line.split()[1].split("/")[0]) for line in lines]
    # a line at the start and every 5% of the 100 steps (the loss is read every 25 steps or
    # at an evaluation), then the final evaluation
    assert steps == [0, 25, 50, 75, 100, 100], err
    assert all(line.startswith("train: ") for line in lines)
    assert all(" | loss " in line for line in lines[1:])
    assert "eval r2" not in lines[2] and "eval r2 " in lines[3] and "@ step 50" in lines[3]
    assert "@ step 100" in lines[-1]
    # in this process, stderr a file (pytest's capture): the same lines, and none when asked
    assert main(["train", SINE, "--out", str(tmp_path / "r"), "--force", *FAST]) == 0
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) == 6 and all(line.startswith("train: ") for line in lines)
    assert main(["train", SINE, "--out", str(tmp_path / "r"), "--force", "--no-progress",
                 *FAST]) == 0
    assert capfd.readouterr().err == ""
