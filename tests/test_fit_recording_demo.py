"""The fitting demo's spec (tasks/fit_recording.toml) and known answer 2 of fitting.

The demo fits a bias-only circuit of another seed to 64 units of the multitask run's export
(runs/multitask/run.h5, made by `make demo`). CI has no runs/ folder: there the spec is read
against a tiny stand-in run file of the same layout (a 512-unit circuit on the same eight tasks,
trained two steps, 32 trials exported), so what is checked is the spec itself: it loads, its
units are the listed ones, the tasks are its contexts, the split holds trials of every task out.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest

import neurobias as nb
from neurobias.config import apply_overrides, config_from_dict, load_spec
from neurobias.run import build

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "tasks" / "fit_recording.toml"
RUN_FILE = ROOT / "runs" / "multitask" / "run.h5"
TASKS = ("PerceptualDecisionMaking", "GoNogo", "DelayMatchSample", "yang19.go", "yang19.anti",
         "yang19.dm1", "yang19.dms", "yang19.ctxdm1")


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory) -> Path:
    """runs/multitask/run.h5 when `make demo` made it, else a stand-in of the same layout."""
    if RUN_FILE.exists():
        return RUN_FILE
    from neurobias.io import export

    tmp = tmp_path_factory.mktemp("standin")
    spec = load_spec(ROOT / "tasks" / "multitask.toml")
    spec = apply_overrides(spec, ["train.steps=2", "train.batch_size=4", "train.eval_every=0",
                                  "train.checkpoint_every=0", "env.eval_trials=8"])
    run = nb.train_run(config_from_dict(spec), tmp / "multitask", progress=False)
    return export(run, tmp / "run.h5", n_trials=32, progress=False)


def _spec_for(run_file: Path) -> dict:
    spec = load_spec(SPEC)
    return apply_overrides(spec, [f'env.path="{run_file}"'])


def test_demo_spec_loads_and_reads_the_listed_units_per_task(recorded_run):
    spec = load_spec(SPEC)
    assert spec["env"]["path"] == "runs/multitask/run.h5"  # what `make demo-fit` reads
    cfg = config_from_dict(_spec_for(recorded_run))
    multitask = load_spec(ROOT / "tasks" / "multitask.toml")
    assert cfg.seed != multitask["seed"]  # another random circuit than the recorded one
    assert cfg.circuit.mode == "bias"
    net, env = build(cfg)
    env.check_circuit(net)  # N >= M for the unit-per-neuron coupling
    assert spec["env"]["top_neurons"] == 64
    neurons = [int(n) for n in env.recording.neuron_names]  # the run file's unit indices
    assert len(set(neurons)) == 64 == env.n_neurons == net.config.n_outputs
    assert tuple(env.context_names) == TASKS  # one tonic-input row per task
    assert net.config.n_contexts == 8
    # the env's activity is the listed units of the run file, trial by trial (read with h5py)
    with h5py.File(recorded_run, "r") as f:
        rates = f["activity/rates"][()]
        task = f["trials/conditions/task"][()]
        inputs = f["trials/inputs"][()]
    rec = env.recording
    np.testing.assert_array_equal(rec.rates, rates[:, :, neurons])
    np.testing.assert_array_equal(rec.condition, task)
    np.testing.assert_array_equal(rec.inputs, inputs)
    # every task keeps trials for training and holds some out
    for k in range(8):
        assert np.isin(np.flatnonzero(task == k), env.test_trials).any()
        assert np.isin(np.flatnonzero(task == k), env.train_trials).any()


def test_demo_units_follow_the_rule(recorded_run):
    """The kept units are the 64 whose least varied task varies most on the training trials
    (computed here with h5py and numpy from the run file); on the real demo run each of them
    varies in every task, so R^2 is defined everywhere."""
    net, env = build(config_from_dict(_spec_for(recorded_run)))
    neurons = [int(n) for n in env.recording.neuron_names]
    with h5py.File(recorded_run, "r") as f:
        rates = f["activity/rates"][()]
        task = f["trials/conditions/task"][()]
        length = f["trials/conditions/length"][()]
    train = np.zeros(len(task), bool)
    train[env.train_trials] = True
    valid = np.arange(rates.shape[1])[None, :] < length[:, None]
    sd = np.stack([rates[((task == k) & train)[:, None] & valid].std(0)
                   for k in range(8)]).min(0)
    assert np.sort(sd)[::-1][63] == pytest.approx(sd[neurons].min())  # the top 64 by the rule
    assert set(neurons) == set(np.argsort(-sd, kind="stable")[:64].tolist())
    if recorded_run == RUN_FILE:
        assert sd[neurons].min() > 0.01


def _fit_width():
    path = ROOT / "analyses" / "fit_width.py"
    mod_spec = importlib.util.spec_from_file_location("fit_width", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_known_answer_2_other_connectivity_fits_heldout_trials(tmp_path):
    """Known answer 2 (analyses/fit_width.py, docs/fitting.md): students of another seed than
    the teacher, fitted through their tonic inputs, predict the teacher's held-out trials.
    Thresholds sit just under the measured values at N = 4M (seed 0: bias+readout 0.987, bias
    0.506; seeds 0-2: 0.985-0.987 and 0.506-0.552): bias-only far above R^2 0 and below the
    trained readout."""
    fw = _fit_width()
    npz = tmp_path / "teacher.npz"
    fw.make_teacher(npz)
    base = fw.spec(npz, "readout", 1500)
    r2 = {}
    for mode in ("bias", "bias+readout"):
        cfg = config_from_dict(apply_overrides(base, [f"circuit.n_units={4 * fw.M}",
                                                      f'circuit.mode="{mode}"', "seed=0"]))
        run = nb.train_run(cfg, tmp_path / mode, progress=False)
        r2[mode] = run.summary["r2"]
        assert not run.summary["diverged"]
    assert r2["bias+readout"] >= 0.97
    assert 0.45 <= r2["bias"] < r2["bias+readout"]


@pytest.mark.slow
def test_known_answer_2_tonic_conditions_are_fitted_by_tonic_inputs_alone(tmp_path):
    """Known answer 2 as the issue states it: when the teacher's conditions differ only by their
    tonic inputs (no per-trial inputs), a bias-only student of another seed, N = 16M, fits the
    held-out trials to R^2 >= 0.95 (measured: 0.989, seed 0, 1500 steps; data/fit_width_in0)."""
    fw = _fit_width()
    npz = tmp_path / "teacher.npz"
    fw.make_teacher(npz, n_inputs=0)
    cfg = config_from_dict(apply_overrides(fw.spec(npz, "readout", 1500),
                                           [f"circuit.n_units={16 * fw.M}", "seed=0"]))
    assert cfg.circuit.mode == "bias"
    run = nb.train_run(cfg, tmp_path / "bias", progress=False)
    assert run.summary["r2"] >= 0.95
