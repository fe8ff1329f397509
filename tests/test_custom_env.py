"""An env of one's own, named in a spec by import path, through the whole command line."""

import os
import sys
from pathlib import Path

import pytest
from conftest import cli_ok

import neurobias as nb
from neurobias.cli import main
from neurobias.config import ConfigError, config_from_dict, env_class

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"
KIND = "mylab.tasks:ContextSwitch"
SPEC = f"""name = "context_switch"
seed = 0
[circuit]
n_units = 32
[env]
kind = "{KIND}"
pulse_ms = 100.0
[train]
steps = 20
eval_every = 0
"""


@pytest.fixture
def examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))


def test_a_custom_env_goes_through_train_plot_export_analyze_and_load(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    run = tmp_path / "run"

    def cli(*args):
        return cli_ok(*args, paths=[EXAMPLES, ROOT])

    cli("train", str(spec), "--out", str(run), "--no-progress")
    assert "outputs.png" in cli("plot", str(run))
    cli("export", str(run), "-o", str(run / "run.h5"), "--trials", "6", "--no-progress")
    cli("export", str(run), "-o", str(run / "run.nwb"), "--trials", "6", "--no-progress")
    report = cli("analyze", str(run), "--no-progress")
    # two contexts: a unit's rho over tasks is undefined, and the report says so, not "nan"
    assert "not defined with 2 tasks" in report and "nan" not in report
    assert f"env {KIND}" in cli("info", str(run / "run.h5"))
    # loading the run file in this process re-imports the env by its recorded path
    sys.path.insert(0, str(EXAMPLES))
    try:
        f = nb.io.load(run / "run.h5")
        assert f.config.env.kind == KIND
        assert f.activity().shape == (6, 30, 32)  # 600 ms / 20 ms steps
        loaded = nb.load_run(run)
        assert type(loaded.env).__name__ == "ContextSwitch" and loaded.env.n_pulse == 5
    finally:
        sys.path.remove(str(EXAMPLES))


def test_the_kind_resolves_to_the_class_and_its_arguments_are_checked(examples_on_path):
    from mylab.tasks import ContextSwitch
    assert env_class(KIND) is ContextSwitch
    assert env_class("sine") is nb.envs.SineGenerator
    cfg = config_from_dict({"name": "x", "env": {"kind": KIND, "pulse_ms": 60.0}})
    assert cfg.env.build(20.0).n_pulse == 3
    with pytest.raises(ConfigError, match=r"env.pulse_width is not a parameter of env "
                                          r"'mylab.tasks:ContextSwitch': allowed: "
                                          r"duration_ms, pulse_ms"):
        config_from_dict({"name": "x", "env": {"kind": KIND, "pulse_width": 60.0}})


@pytest.mark.parametrize("kind,match", [
    ("mylab.nothere:Task", "module 'mylab.nothere' does not import"),
    ("mylab.tasks:Missing", "module 'mylab.tasks' has no 'Missing'"),
    ("mylab.tasks:TrialBatch", "'TrialBatch' is not a subclass of neurobias.envs.Env"),
    ("mylab.tasks:", "an import path is 'package.module:EnvClass'"),
    ("sinus", "allowed: lorenz, neurogym"),
])
def test_bad_kinds_are_one_line_exit_2(tmp_path, capsys, examples_on_path, kind, match):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace(KIND, kind))
    assert main(["train", str(spec), "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    assert not (tmp_path / "r").exists()


def test_a_sweep_trains_a_custom_env(tmp_path, examples_on_path, monkeypatch):
    from neurobias.config import load_spec

    # the runs are processes of their own: the module must import there (PYTHONPATH)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(EXAMPLES), str(ROOT)]))
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace("steps = 20", "steps = 4"))
    result = nb.sweep(load_spec(spec), {"circuit.gain": [1.0, 1.5]}, tmp_path / "sw", jobs=1,
                      threads=1, progress=False)
    assert set(result.runs.values()) == {"finished"}, result.errors
    for name in result.runs:
        saved = (tmp_path / "sw" / "runs" / name / "config.json").read_text()
        assert f'"kind": "{KIND}"' in saved
