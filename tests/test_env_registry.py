"""How a spec's env.kind finds its class: built-in names, entry points, import paths; and the
env modules are imported only when used."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from conftest import cli_ok

import neurobias as nb
from neurobias.cli import main
from neurobias.envs import registry

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "examples"


def _dist(site: Path, name: str, entry_points: str) -> None:
    """An installed distribution as pip leaves it: a .dist-info folder with entry_points.txt."""
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def _python(code: str, *paths: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([*map(str, paths), str(ROOT)])}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)


def test_importing_the_package_imports_no_env_module():
    done = _python("import sys, neurobias, neurobias.config\n"
                   "mods = sorted(m for m in sys.modules if m.startswith('neurobias.envs.'))\n"
                   "print(mods, 'neurogym' in sys.modules)\n"
                   "neurobias.config.config_from_dict({'env': {'kind': 'sine'}})\n"
                   "print(sorted(m for m in sys.modules if m.startswith('neurobias.envs.')))")
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == "['neurobias.envs.batch', 'neurobias.envs.registry'] False"
    # a sine spec imports the dynamics module, and not NeuroGym or reaching
    assert second == ("['neurobias.envs.batch', 'neurobias.envs.dynamics', "
                      "'neurobias.envs.registry']")


def test_the_lazy_names_are_the_classes_and_envs_maps_every_builtin():
    from neurobias.envs.dynamics import SineGenerator
    from neurobias.envs.reaching.task import CenterOutReach

    assert nb.envs.SineGenerator is SineGenerator and nb.envs.CenterOutReach is CenterOutReach
    assert dict(nb.envs.ENVS.items())["reaching"] is CenterOutReach
    assert sorted(nb.envs.ENVS) == ["lorenz", "neurogym", "reaching", "recording", "sine",
                                    "vanderpol"]
    with pytest.raises(AttributeError, match="has no attribute 'Sine'"):
        nb.envs.Sine  # noqa: B018


def test_an_entry_point_names_an_env_through_every_stage(tmp_path):
    site = tmp_path / "site"
    _dist(site, "mylab", '[neurobias.envs]\ncontext_switch = mylab.tasks:ContextSwitch\n')
    spec = tmp_path / "spec.toml"
    spec.write_text('[circuit]\nn_units = 16\n[env]\nkind = "context_switch"\n'
                    'pulse_ms = 60.0\n[train]\nsteps = 5\neval_every = 0\n')
    run = tmp_path / "run"

    def cli(*args):
        return cli_ok(*args, paths=[site, EXAMPLES, ROOT])

    cli("train", str(spec), "--out", str(run), "--no-progress")
    cli("export", str(run), "-o", str(run / "run.h5"), "--trials", "4", "--no-progress")
    assert "env context_switch" in cli("info", str(run / "run.h5"))
    done = _python("import neurobias as nb, sys\n"
                   f"run = nb.load_run({str(run)!r})\n"
                   "print(run.config.env.kind, type(run.env).__module__, run.env.n_pulse)",
                   site, EXAMPLES)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["context_switch", "mylab.tasks", "3"]
    # without the distribution the name is unknown, and the error lists what is allowed
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(EXAMPLES), str(ROOT)])}
    done = subprocess.run([sys.executable, "-m", "neurobias.cli", "train", str(spec), "--out",
                           str(tmp_path / "r2")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip() == ("neurobias: error: env.kind='context_switch' is invalid: "
                                   "allowed: lorenz, neurogym, reaching, recording, sine, "
                                   "vanderpol, or an import path 'package.module:EnvClass'")


def test_broken_and_shadowing_entry_points_are_named(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _dist(site, "badlab", "[neurobias.envs]\nsine = badlab.x:Y\nbroken = badlab.nothere:Task\n")
    monkeypatch.syspath_prepend(str(site))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = registry.available()
    assert names["sine"] == "neurobias.envs.dynamics:SineGenerator"  # the built-in wins
    assert any("entry point 'sine' = 'badlab.x:Y'" in str(w.message) and "is ignored" in
               str(w.message) for w in caught)
    with pytest.raises(nb.ConfigError, match=r"env.kind='broken' \(entry point "
                                             r"'badlab.nothere:Task'\): module 'badlab.nothere' "
                                             "does not import"):
        registry.env_class("broken")


def test_kind_of_names_builtins_by_name_and_others_by_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from mylab.tasks import ContextSwitch

    assert registry.kind_of(nb.envs.VanDerPol) == "vanderpol"
    assert registry.kind_of(ContextSwitch) == "mylab.tasks:ContextSwitch"


def test_the_gym_env_is_registered_without_importing_reaching():
    done = _python("import sys, gymnasium, neurobias\n"
                   "print('neurobias.envs.reaching' in sys.modules)\n"
                   "env = gymnasium.make('neurobias/CenterOutReach-v0')\n"
                   "print(type(env.unwrapped).__name__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "CenterOutReachGym"]


def test_a_bad_kind_from_the_cli_is_one_line(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text('[env]\nkind = ""\n')
    assert main(["train", str(spec), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "env.kind='' is invalid" in err[0]
