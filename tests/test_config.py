import pytest
import torch

from neurobias import CircuitConfig, ConfigError, TrainConfig, load_config
from neurobias.config import apply_overrides, config_from_dict


@pytest.mark.parametrize("kwargs, message", [
    (dict(activation="elu"), "circuit.activation='elu' is invalid: allowed: relu, softplus"),
    (dict(tau_ms=0), "circuit.tau_ms=0 is invalid: must be a number > 0"),
    (dict(tau_ms=-5.0), "circuit.tau_ms=-5.0 is invalid"),
    (dict(dt_ms=200.0), "circuit.dt_ms=200.0 is invalid: must be <= tau_ms (100.0)"),
    (dict(n_units=0), "circuit.n_units=0 is invalid: must be an integer >= 1"),
    (dict(mode="weights"), "circuit.mode='weights' is invalid: allowed: bias, bias+readout"),
    (dict(weights="cauchy"), "circuit.weights='cauchy' is invalid"),
    (dict(sparsity=0.0), "circuit.sparsity=0.0 is invalid: must be in (0, 1]"),
])
def test_circuit_config_errors_name_field_and_allowed(kwargs, message):
    with pytest.raises(ConfigError) as err:
        CircuitConfig(**kwargs)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_train_config_errors():
    with pytest.raises(ConfigError, match="train.steps=0 is invalid"):
        TrainConfig(steps=0)
    with pytest.raises(ConfigError, match="train.lr_schedule='linear' is invalid: allowed"):
        TrainConfig(lr_schedule="linear")


def test_config_is_frozen():
    cfg = CircuitConfig()
    with pytest.raises(AttributeError):
        cfg.n_units = 3


def test_env_fills_dimensions():
    cfg = config_from_dict({"env": {"kind": "vanderpol"}})
    assert (cfg.circuit.n_inputs, cfg.circuit.n_outputs) == (1, 2)
    with pytest.raises(ConfigError, match="circuit.n_outputs=3 does not match env 'vanderpol'"):
        config_from_dict({"env": {"kind": "vanderpol"}, "circuit": {"n_outputs": 3}})


def test_unknown_keys_and_wrong_types():
    with pytest.raises(ConfigError, match="circuit.units is not a known setting"):
        config_from_dict({"circuit": {"units": 3}})
    with pytest.raises(ConfigError, match="env.period is not a parameter of env 'sine'"):
        config_from_dict({"env": {"kind": "sine", "period": 3}})
    with pytest.raises(ConfigError, match="circuit.n_units='many' is invalid: must be an integer"):
        config_from_dict({"circuit": {"n_units": "many"}})
    with pytest.raises(ConfigError,
                       match="env.kind='pong' is invalid: allowed: lorenz, neurogym, .*sine"):
        config_from_dict({"env": {"kind": "pong"}})


def test_overrides():
    data = apply_overrides({"train": {"steps": 5}}, ["train.steps=100", "circuit.mode=full",
                                                     "env.period_ms=250", "seed=3"])
    cfg = config_from_dict(data)
    assert cfg.train.steps == 100 and cfg.circuit.mode == "full" and cfg.seed == 3
    assert cfg.env.params["period_ms"] == 250.0
    with pytest.raises(ConfigError, match="--set train.stepz is not a known setting"):
        apply_overrides({}, ["train.stepz=3"])
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides({}, ["train.steps"])


def test_load_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[circuit\nn_units = 3\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(bad)
    good = tmp_path / "good.toml"
    good.write_text('name = "x"\n[circuit]\nn_units = 32\n[env]\nkind = "sine"\n')
    cfg = load_config(good, ["train.steps=7"])
    assert (cfg.name, cfg.circuit.n_units, cfg.train.steps) == ("x", 32, 7)


@pytest.mark.parametrize("name", ["sine", "vanderpol", "lorenz"])
def test_shipped_specs_load(name):
    from pathlib import Path

    cfg = load_config(Path(__file__).parents[1] / "tasks" / f"{name}.toml")
    assert cfg.env.kind == name


NEUROGYM = {"name": "dc", "circuit": {"n_units": 8},
            "env": {"kind": "neurogym", "tasks": ["DelayComparison-v0", "yang19.go-v0"],
                    "eval_trials": 2,
                    "timing": {"DelayComparison-v0": {"fixation": 200, "delay": 300}}},
            "train": {"steps": 1, "batch_size": 2}}


def test_overrides_reach_into_env_tables():
    data = apply_overrides(NEUROGYM, ["env.timing.DelayComparison-v0.delay=100",
                                      'env.timing."yang19.go-v0".fixation=200',
                                      "env.env_kwargs.DelayComparison-v0.sigma=0"])
    timing = data["env"]["timing"]
    assert timing == {"DelayComparison-v0": {"fixation": 200, "delay": 100},
                      "yang19.go-v0": {"fixation": 200}}
    assert data["env"]["env_kwargs"] == {"DelayComparison-v0": {"sigma": 0}}
    assert NEUROGYM["env"]["timing"]["DelayComparison-v0"]["delay"] == 300  # not mutated
    env = config_from_dict(data).env.build(20.0)
    b = env.batch_for_task(0, 1, torch.Generator().manual_seed(0))
    assert int(b.conditions["end_delay"][0] - b.conditions["start_delay"][0]) == 5  # 100 ms
    assert env.tasks[0].env.sigma == 0
    # a whole table as a TOML inline table or as JSON
    for text in ('{"DelayComparison-v0" = {delay = 100}}',
                 '{"DelayComparison-v0": {"delay": 100}}'):
        data = apply_overrides(NEUROGYM, [f"env.timing={text}"])
        assert data["env"]["timing"] == {"DelayComparison-v0": {"delay": 100}}


@pytest.mark.parametrize("override, message", [
    ("env.timing.DelayComparison-v0.dleay=100",
     'env.timing."DelayComparison-v0".dleay is not a period of DelayComparison-v0: allowed: '
     "decision, delay, fixation, stimulus1, stimulus2"),
    ("env.timing.DelayComparisn-v0.delay=100",
     "env.timing: 'DelayComparisn-v0' is not one of env.tasks: allowed: DelayComparison-v0, "
     "yang19.go-v0"),
    # an env id with dots must be quoted; unquoted, its first part is not a task
    ("env.timing.yang19.go-v0.fixation=100",
     "env.timing: 'yang19' is not one of env.tasks: allowed: DelayComparison-v0, yang19.go-v0 "
     '(e.g. [env.timing."DelayComparison-v0"]; quote ids that contain dots)'),
    ("env.timing={delay=300}", "env.timing: 'delay' is not one of env.tasks"),
    ("env.env_kwargs.DelayComparison-v0.sigmaa=0", "sigmaa is not an argument of "
     "DelayComparison-v0: allowed: rewards, sigma, vpairs"),
    ("env.timing.DelayComparison-v0.delay=soon", "delay='soon' is invalid"),
])
def test_bad_env_table_overrides_are_one_line_errors(override, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict(apply_overrides(NEUROGYM, [override]))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("override, message", [
    ("circuit.n_units.x=3", "--set circuit.n_units.x is not a known setting"),
    ("env.tasks.x=3", "--set env.tasks.x: env.tasks=['DelayComparison-v0', 'yang19.go-v0'] is "
     "not a table"),
    ('env.timing."yang19.go-v0=3', "is not a valid key"),
    ("=3", "expected KEY=VALUE"),
])
def test_bad_override_keys(override, message):
    with pytest.raises(ConfigError) as err:
        apply_overrides(NEUROGYM, [override])
    assert message in str(err.value)


def test_cli_refuses_a_misspelled_period_with_exit_2_and_writes_nothing(tmp_path, capsys):
    from neurobias.cli import main

    spec = tmp_path / "dc.toml"
    spec.write_text('[circuit]\nn_units = 8\n[env]\nkind = "neurogym"\n'
                    'tasks = ["DelayComparison-v0"]\n[env.timing."DelayComparison-v0"]\n'
                    "dleay = 300\n[train]\nsteps = 1\n")
    code = main(["train", str(spec), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "dleay is not a period of DelayComparison-v0: allowed: decision, delay" in err
    assert not (tmp_path / "run").exists()


def test_every_shipped_spec_loads():
    from pathlib import Path

    specs = sorted((Path(__file__).parents[1] / "tasks").glob("*.toml"))
    assert len(specs) >= 14
    for spec in specs:
        if spec.stem == "fit_recording":  # names a recording made by `make demo`
            with pytest.raises(ConfigError, match="run.h5': does not exist"):
                load_config(spec)
            continue
        assert load_config(spec).name == spec.stem


def test_the_2048_recipe_spec_is_the_one_measured():
    # docs/multitask.md reports the runs of data/recipe/candidate_2048 (tasks/multitask.toml
    # with --set overrides); the shipped spec must be those settings, not a retyping of them
    import json
    from pathlib import Path

    root = Path(__file__).parents[1]
    measured = json.loads((root / "data" / "recipe" / "candidate_2048" / "runs"
                           / "circuit.n_units=2048__seed=0" / "config.json").read_text())
    shipped = json.loads(json.dumps(load_config(root / "tasks" / "multitask_2048.toml").to_dict()))
    measured.pop("name"), shipped.pop("name")
    assert shipped == measured
