"""The numbers the package promises, from the shipped specs (`make test-slow`).

Each threshold sits just below the value the docs report for the same spec and seed, with the
documented spread as the margin: for the multitask recipes the run-to-run spread of one seed is
+-0.01 in accuracy_mean (docs/multitask.md: "Read 0.80 +- 0.01"); where the docs give no spread
(the generators, the analysis) the margin is stated next to the number. The spread between seeds
(+-0.035, docs/multitask.md) does not apply: every test trains its spec's own seed.
"""

import pytest
import torch

import neurobias as nb
from neurobias.config import apply_overrides, config_from_dict, load_config

pytestmark = pytest.mark.slow


def test_sine_bias_only_reaches_r2_0995(tmp_path):
    cfg = load_config("tasks/sine.toml")
    assert cfg.circuit.gain == 1.0 and cfg.circuit.mode == "bias"
    run = nb.train_run(cfg, tmp_path, progress=False)
    # README.md: r2 0.9976 for tasks/sine.toml on 2 cores (noise-free trials: runs differ only
    # by float rounding)
    assert run.summary["r2"] >= 0.995


def test_vanderpol_bias_only_reaches_r2_096(tmp_path):
    cfg = load_config("tasks/vanderpol.toml")
    assert cfg.circuit.gain == 1.0 and cfg.circuit.mode == "bias"
    run = nb.train_run(cfg, tmp_path, progress=False)
    # data/vanderpol_gain.csv (analyses/vanderpol_gain.py at the spec's 4000 steps): bias-only,
    # 512 units, gain 1.0: r2 0.970
    assert run.summary["r2"] >= 0.96


def test_vanderpol_gain_sensitivity_is_specific_to_bias_learning(tmp_path):
    import tomllib

    with open("tasks/vanderpol.toml", "rb") as f:
        spec = tomllib.load(f)
    r2 = {}
    for mode, n_units in (("bias", 512), ("full", 21)):
        for gain in (0.5, 1.0):
            # the spec's 4000 steps, as data/vanderpol_gain.csv was measured
            cfg = config_from_dict(apply_overrides(spec, [
                f"circuit.mode={mode}", f"circuit.n_units={n_units}", f"circuit.gain={gain}"]))
            r2[mode, gain] = nb.train_run(cfg, tmp_path / f"{mode}{gain}",
                                          progress=False).summary["r2"]
    # data/vanderpol_gain.csv: bias-only 0.970 at gain 1.0 against 0.633 at gain 0.5 (a drop
    # of 0.337); fully trained 0.9995 and 0.9997
    assert r2["bias", 1.0] - r2["bias", 0.5] > 0.30
    assert r2["bias", 0.5] < 0.70
    assert abs(r2["full", 1.0] - r2["full", 0.5]) < 0.005
    assert min(r2["full", 0.5], r2["full", 1.0]) > 0.995


def test_readme_example_trains():
    net = nb.RateRNN(nb.CircuitConfig(n_units=512, n_inputs=1, n_outputs=1, tau_ms=100,
                                      dt_ms=20, gain=1.5, weights="gaussian", mode="bias"),
                     seed=0)
    before = net.W_rec.clone()
    history = nb.fit(net, nb.envs.SineGenerator(period_ms=500), nb.TrainConfig(steps=2000),
                     progress=False)
    # docs/training.md: the 2000 ms sine at gain 1.5 "reaches 0.999 quickly"
    assert history.final["r2"] > 0.995
    assert torch.equal(net.W_rec, before)


def test_multitask_bias_only_default_recipe(tmp_path):
    """docs/multitask.md: tasks/multitask.toml, seed 0, with stimuli in both yang19 modalities
    scored accuracy_mean 0.782 (before the modality fix 0.81, 0.795 and 0.793: "read 0.80 +-
    0.01"); GoNogo, DelayMatchSample, yang19.go and yang19.anti 1.00 in every run,
    PerceptualDecisionMaking 0.89 to 0.92; fixation breaks 0.012 to 0.015."""
    cfg = load_config("tasks/multitask.toml")
    assert cfg.circuit.mode == "bias"
    run = nb.train_run(cfg, tmp_path, progress=False)
    s = run.summary
    assert s["accuracy_mean"] >= 0.77  # 0.782 measured after the modality fix, -0.01
    for solved in ("GoNogo", "DelayMatchSample", "yang19.go", "yang19.anti"):
        # 1.00 documented (DelayMatchSample: chance 0.5); 0.03 is 4 of the 128 eval trials
        assert s[f"accuracy/{solved}"] >= 0.97, solved
    assert s["accuracy/PerceptualDecisionMaking"] >= 0.87
    assert s["fixation_break_mean"] <= 0.03
    # the analysis of docs/analysis.md (the demo run, one run per revision, no spread given):
    # k = 8 then 6 after the fixes, silhouette 0.34 / 0.39, seven / six distinct preferred
    # tasks, Spearman rho per task +0.40 to +0.72 / +0.24 to +0.75, per cluster +0.36 to +0.54
    # / +0.44 to +0.54, each at the smallest shuffled p. Margins: k within 2, silhouette 0.05
    # and rho about 0.1 lower.
    from neurobias.analyze import analyze_run

    res = analyze_run(tmp_path, n_shuffles=200, lesions=False, progress=False)
    clu, bv = res.clustering, res.bias_variance
    assert 6 <= clu.n_clusters_ <= 10 and clu.silhouette_ > 0.29
    assert len(set(clu.preferred_.tolist())) >= 6  # clusters prefer different tasks
    # after the modality fix and on fixed-timing trials: +0.24 (GoNogo) to +0.75
    assert (bv.rho_context > 0.15).all()
    # with 200 shuffles the smallest p is 1/201
    assert (bv.rho_cluster > 0.25).all() and (bv.p_shuffle_cluster < 0.01).all()


def test_multitask_trained_readout_reaches_090(tmp_path):
    """docs/multitask.md: tasks/multitask_readout.toml, seed 0: accuracy_mean 0.911 (0.908 at
    readout scale 30), DelayMatchSample 1.00, yang19.dms 0.97 (0.95 at scale 30)."""
    cfg = load_config("tasks/multitask_readout.toml")
    assert cfg.circuit.mode == "bias+readout"
    run = nb.train_run(cfg, tmp_path, progress=False)
    # measured before the modality fix (yang19's dms then showed every stimulus in modality
    # 1); until re-measured the margin is the seed-to-seed spread, 0.035
    assert run.summary["accuracy_mean"] >= 0.875
    assert run.summary["accuracy/DelayMatchSample"] >= 0.97  # chance 0.5
    assert run.summary["accuracy/yang19.dms"] >= 0.90  # chance 0.5


def test_multitask_full_training_at_256(tmp_path):
    cfg = load_config("tasks/multitask_full.toml", ["circuit.n_units=256", "train.steps=2000"])
    run = nb.train_run(cfg, tmp_path, progress=False)
    # docs/multitask.md and data/width_scaling/table.md: full, N = 256, 2000 steps, seed 0: 0.932,
    # measured before the modality fix: the seed-to-seed spread (0.035) is the margin
    assert run.summary["accuracy_mean"] >= 0.895
