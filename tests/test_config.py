import pytest

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
