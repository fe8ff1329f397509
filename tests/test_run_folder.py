"""A run folder made from Python is complete; a finished run can be extended; an env whose
trials have the wrong shapes is refused before training."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import neurobias as nb
from neurobias.cli import main
from neurobias.envs import Env, TrialBatch

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"


def _net(n_inputs=1, n_contexts=1, seed=0):
    return nb.RateRNN(nb.CircuitConfig(n_units=16, n_inputs=n_inputs, n_outputs=1,
                                       n_contexts=n_contexts, readout_scale=5.0), seed=seed)


def test_fit_with_out_dir_writes_a_run_folder_every_stage_reads(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from mylab.tasks import ContextSwitch

    env = ContextSwitch(dt_ms=20.0, pulse_ms=60.0)
    net = _net(n_contexts=2, seed=3)
    cfg = nb.TrainConfig(steps=6, eval_every=3, batch_size=4)
    nb.fit(net, env, cfg, out_dir=tmp_path, progress=False)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["env"] == {"kind": "mylab.tasks:ContextSwitch", "pulse_ms": 60.0}
    assert saved["seed"] == 3 and saved["circuit"]["n_contexts"] == 2
    assert saved["train"]["steps"] == 6
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 6 and set(summary) >= {"r2", "mse", "seconds", "n_trainable"}
    assert json.loads((tmp_path / "history.json").read_text())["step"] == [1, 2, 3, 4, 5, 6]
    run = nb.load_run(tmp_path)
    assert run.env.n_pulse == 3
    assert torch.equal(run.net.biases, net.biases.detach().cpu())
    env_vars = {**os.environ, "OMP_NUM_THREADS": "1",
                "PYTHONPATH": os.pathsep.join([str(EXAMPLES), str(ROOT)])}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "neurobias.cli", *args], env=env_vars,
                              capture_output=True, text=True, timeout=300)

    for args in (["export", str(tmp_path), "-o", str(tmp_path / "run.h5"), "--trials", "1",
                  "--no-progress"], ["plot", str(tmp_path)]):
        done = cli(*args)
        assert done.returncode == 0, (args, done.stderr)
    # one trial cannot give a variance across trials: one line, exit 2
    done = cli("analyze", str(tmp_path), "--no-progress")
    assert done.returncode == 2
    assert re.fullmatch(r"neurobias: error: '.*run.h5' has too few trials for task variance "
                        r"\((follow 1, flip 0|follow 0, flip 1)\): need at least two per "
                        r"context; export more \(--trials\)\n", done.stderr), done.stderr
    done = cli("export", str(tmp_path), "-o", str(tmp_path / "run.h5"), "--trials", "16",
               "--force", "--no-progress")
    assert done.returncode == 0, done.stderr
    done = cli("analyze", str(tmp_path), "--no-progress")
    assert done.returncode == 0, done.stderr


def test_an_env_a_spec_cannot_name_warns_and_writes_no_config(tmp_path):
    class Local(nb.envs.SineGenerator):
        pass

    Local.__module__ = "__main__"
    with pytest.warns(UserWarning, match="no config.json: env class Local is defined in "
                                         "__main__"):
        nb.fit(_net(n_inputs=1), Local(dt_ms=20.0, duration_ms=200.0),
               nb.TrainConfig(steps=2, eval_every=0), out_dir=tmp_path, progress=False)
    assert not (tmp_path / "config.json").exists()
    assert (tmp_path / "summary.json").exists() and (tmp_path / "checkpoint.pt").exists()
    with pytest.raises(nb.ConfigError, match="is not a run folder: it has no config.json"):
        nb.load_run(tmp_path)


def test_env_spec_rebuilds_the_env():
    env = nb.config.EnvConfig(kind="vanderpol", params={"mu": 2.0}).build(10.0)
    assert env.spec() == {"kind": "vanderpol", "params": {"mu": 2.0}}
    again = nb.config.EnvConfig(**env.spec()).build(10.0)
    assert again.dt_ms == 10.0 and torch.equal(again.target_to, env.target_to)
    assert not torch.equal(again.target_to, nb.envs.VanDerPol(dt_ms=10.0).target_to)


SINE = {"circuit": {"n_units": 16, "readout_scale": 5.0},
        "env": {"kind": "sine", "duration_ms": 200.0},
        "train": {"steps": 20, "eval_every": 0, "batch_size": 4, "lr": 0.02}}


def _spec(steps, **train):
    return nb.config.config_from_dict({**SINE, "train": {**SINE["train"], "steps": steps,
                                                         **train}})


def test_extending_a_finished_run_equals_training_longer(tmp_path):
    # constant learning rate: 20 steps then 10 more is the same computation as 30 steps
    nb.train_run(_spec(20), tmp_path / "a", progress=False)
    extended = nb.train_run(_spec(30), tmp_path / "a", resume=True, progress=False)
    straight = nb.train_run(_spec(30), tmp_path / "b", progress=False)
    assert extended.history.step == list(range(1, 31))
    assert extended.history.loss == straight.history.loss
    assert torch.equal(extended.net.biases, straight.net.biases)
    assert json.loads((tmp_path / "a" / "config.json").read_text())["train"]["steps"] == 30
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["steps"] == 30


def test_an_extension_keeps_the_schedule_horizon(tmp_path):
    # cosine from 0.02 to 0.002 over 20 steps; the 10 steps added run at lr_final
    first = nb.train_run(_spec(20, lr_schedule="cosine", lr_final=0.002), tmp_path,
                         progress=False)
    more = nb.train_run(_spec(30, lr_schedule="cosine", lr_final=0.002), tmp_path, resume=True,
                        progress=False)
    assert more.history.lr[:20] == first.history.lr
    expected_10 = 0.002 + 0.018 * 0.5 * (1 + math.cos(math.pi * 10 / 20))
    assert more.history.lr[10] == pytest.approx(expected_10, rel=1e-12)
    assert more.history.lr[20:] == pytest.approx([0.002] * 10, rel=1e-12)


def test_fewer_steps_than_the_checkpoint_is_refused(tmp_path, capsys):
    nb.train_run(_spec(20), tmp_path / "run", progress=False)
    spec = tmp_path / "spec.toml"
    spec.write_text('[circuit]\nn_units = 16\nreadout_scale = 5.0\n[env]\n'
                    'kind = "sine"\nduration_ms = 200.0\n[train]\nsteps = 10\neval_every = 0\n'
                    'batch_size = 4\nlr = 0.02\n')
    assert main(["train", str(spec), "--out", str(tmp_path / "run"), "--resume",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is at step 20: train.steps=10 would go back" in err[0]


class _Bad(Env):
    """An env whose trials are wrong in the way ``what`` says."""

    n_inputs, n_outputs = 1, 1

    def __init__(self, dt_ms: float = 20.0, what: str = "inputs"):
        self.dt_ms, self.what = dt_ms, what

    def sample(self, batch_size, generator):
        t = 5
        inputs = torch.zeros(t, batch_size, 2 if self.what == "inputs" else 1)
        targets = torch.zeros(t, batch_size, 3 if self.what == "targets" else 1)
        context = torch.zeros(batch_size, dtype=torch.long)
        if self.what == "context":
            context = context + 1
        if self.what == "float_context":
            context = context.float()
        if self.what == "raises":
            raise IndexError("list index out of range")
        return TrialBatch(inputs, targets, torch.ones_like(targets), context)


@pytest.mark.parametrize("what,message", [
    ("inputs", "env _Bad: sample(2) returned inputs of shape (5, 2, 2): expected (T, 2, 1), "
               "(time, trial, circuit.n_inputs)"),
    ("targets", "env _Bad: sample(2) returned targets of shape (5, 2, 3): expected (5, 2, 1), "
                "(time, trial, circuit.n_outputs)"),
    ("context", "env _Bad: sample() returned context [1, 1] (torch.int64): expected int64 "
                "indices in 0..0 (its context_names ['default'])"),
    ("float_context", "env _Bad: sample() returned context [0.0, 0.0] (torch.float32)"),
    ("raises", "env _Bad: sample(2, generator) failed: IndexError: list index out of range"),
])
def test_wrong_trial_shapes_are_refused_before_training(what, message, tmp_path):
    with pytest.raises(nb.ConfigError) as err:
        nb.fit(_net(), _Bad(what=what), nb.TrainConfig(steps=2), out_dir=tmp_path,
               progress=False)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_spec_naming_an_env_with_wrong_shapes_is_one_line_exit_2(tmp_path, capsys,
                                                                   monkeypatch):
    (tmp_path / "badlab.py").write_text(
        "import torch\n"
        "from neurobias.envs import Env, TrialBatch\n\n"
        "class Wide(Env):\n"
        "    n_inputs, n_outputs = 1, 1\n\n"
        "    def __init__(self, dt_ms: float = 20.0):\n"
        "        self.dt_ms = dt_ms\n\n"
        "    def sample(self, batch_size, generator):\n"
        "        x = torch.zeros(10, batch_size, 3)  # three inputs, not one\n"
        "        y = torch.zeros(10, batch_size, 1)\n"
        "        return TrialBatch(x, y, torch.ones_like(y),\n"
        "                          torch.zeros(batch_size, dtype=torch.long))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = tmp_path / "spec.toml"
    spec.write_text('[circuit]\nn_units = 8\n[env]\nkind = "badlab:Wide"\n')
    assert main(["train", str(spec), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["neurobias: error: env Wide: sample(2) returned inputs of shape (10, 2, 3): "
                   "expected (T, 2, 1), (time, trial, circuit.n_inputs)"]
    assert not (tmp_path / "run").exists()  # nothing written
