"""The reaching numbers docs/reaching.md quotes, from the shipped specs (`make test-slow`)."""

import pytest

import neurobias as nb
from neurobias.analysis.reaching import steps_to_criterion
from neurobias.config import load_config

# the numbers in docs/reaching.md were measured with one torch thread
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def test_bias_only_point_mass_reaches_and_generalises(tmp_path):
    cfg = load_config("tasks/center_out.toml")
    assert cfg.circuit.mode == "bias" and cfg.env.params["plant"] == "point_mass"
    run = nb.train_run(cfg, tmp_path, progress=False)
    s = run.summary
    assert s["endpoint_error_trained_cm"] <= 1.0
    assert s["endpoint_error_heldout_cm"] <= 2.0
    assert s["catch_false_start_rate"] <= 0.05
    assert s["single_peak_fraction"] >= 0.5  # per trial; the mean profile is checked below
    assert s["seconds"] <= 15 * 60
    # the speed profile averaged over trained targets has one peak, after the go cue
    import numpy as np

    from neurobias.analysis.reaching import single_peaked, speed
    from neurobias.seeding import generator

    batch = run.env.eval_batch(generator(cfg.seed, "eval"))
    roll = run.env.rollout(run.net, batch)
    reach = ~batch.conditions["catch"]
    go = batch.conditions["go_step"][reach].numpy()
    sp = speed(100 * roll.pos_m.detach().numpy()[:, reach.numpy()], run.env.dt_ms)
    aligned = np.stack([sp[g - 5:g + 40, k] for k, g in enumerate(go)], 1).mean(1)
    assert single_peaked(aligned[:, None], np.array([0]))[0]
    assert aligned.argmax() > 5


def test_full_training_reaches_the_same_error_in_fewer_steps(tmp_path):
    full = nb.train_run(load_config("tasks/center_out_full.toml"), tmp_path / "full",
                        progress=False)
    bias = nb.train_run(load_config("tasks/center_out.toml"), tmp_path / "bias", progress=False)
    assert full.summary["endpoint_error_trained_cm"] <= 1.0
    assert full.summary["endpoint_error_heldout_cm"] <= 2.0
    assert full.summary["catch_false_start_rate"] <= 0.05
    n_full = steps_to_criterion(full.history.evals)
    n_bias = steps_to_criterion(bias.history.evals)
    assert n_full is not None and n_bias is not None
    assert n_bias > n_full
