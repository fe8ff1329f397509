"""Center-out reaching: plants against known physics, the closed loop, the gymnasium env."""

import math

import gymnasium
import numpy as np
import pytest
import torch

import neurobias as nb
from neurobias.config import ConfigError, load_config
from neurobias.envs.reaching import GYM_ID, CenterOutReach, PointMass, TwoJointArm

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------------------- plants


@pytest.mark.parametrize("viscosity", [5.0, 0.0])
def test_point_mass_matches_closed_form_under_constant_force(viscosity):
    plant = PointMass(dt_ms=20.0, mass_kg=0.7, viscosity=viscosity, force_scale=2.0)
    x0 = np.array([[0.01, -0.02], [0.0, 0.0]])
    v0 = np.array([[0.3, 0.1], [-0.2, 0.05]])
    command = np.array([[1.5, -0.5], [0.0, 3.0]])
    state = torch.tensor(np.concatenate([x0, v0], 1))
    for _ in range(37):
        state = plant.step(state, torch.tensor(command))
    x, v = plant.closed_form(x0, v0, 2.0 * command, 37 * 0.020)
    np.testing.assert_allclose(state[:, :2].numpy(), x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(state[:, 2:].numpy(), v, rtol=0, atol=1e-12)
    if viscosity > 0:  # and the velocity tends to F / b
        for _ in range(2000):
            state = plant.step(state, torch.tensor(command))
        np.testing.assert_allclose(state[:, 2:].numpy(), 2.0 * command / viscosity, atol=1e-9)


def test_point_mass_closed_form_is_the_ode_solution():
    """The closed form itself against a fine numerical integration of m v' = F - b v."""
    from scipy.integrate import solve_ivp

    plant = PointMass(dt_ms=10.0, mass_kg=1.3, viscosity=4.0)
    f = np.array([2.0, -1.0])

    def rhs(_t, s):
        return np.concatenate([s[2:], (f - 4.0 * s[2:]) / 1.3])

    sol = solve_ivp(rhs, (0, 0.5), [0.0, 0.1, 0.2, 0.0], rtol=1e-12, atol=1e-12)
    x, v = plant.closed_form([0.0, 0.1], [0.2, 0.0], f, 0.5)
    np.testing.assert_allclose(np.concatenate([x, v]), sol.y[:, -1], atol=1e-9)


def test_frictionless_arm_conserves_energy_with_zero_torque():
    """Tolerance: relative drift of the kinetic energy below 1e-7 over 1 s (RK4, h = 1 ms,
    float64); the joint limits are never reached on this trajectory."""
    arm = TwoJointArm(dt_ms=1.0, muscle_tau_ms=0.0, viscosity_scale=0.0,
                      joint_limits_deg=(-720.0, 720.0, -720.0, 720.0), start_deg=(30.0, 60.0))
    state = arm.initial_state(3, dtype=torch.float64)
    state[:, 2:4] = torch.tensor([[2.0, -3.0], [-1.0, 4.0], [5.0, 0.5]], dtype=torch.float64)
    e0 = arm.energy(state)
    zero = torch.zeros(3, 2, dtype=torch.float64)
    energies = []
    for _ in range(1000):
        state = arm.step(state, zero)
        energies.append(arm.energy(state))
        assert (state[:, :2].abs() < math.radians(719)).all()
    drift = (torch.stack(energies) - e0).abs().max(0).values / e0
    assert drift.max() < 1e-7
    # the motion is not trivial: energy moved between the joints, the elbow turned
    assert (state[:, 1] - math.radians(60.0)).abs().min() > 0.3
    assert (state[:, 2:4] - torch.tensor([[2.0, -3.0], [-1.0, 4.0], [5.0, 0.5]])).abs().max() > 1


def test_arm_with_viscosity_loses_energy_monotonically():
    arm = TwoJointArm(dt_ms=5.0, muscle_tau_ms=0.0, joint_limits_deg=(-720, 720, -170, 170))
    state = arm.initial_state(1, dtype=torch.float64)
    state[:, 2:4] = torch.tensor([[3.0, -2.0]], dtype=torch.float64)
    energies = [arm.energy(state)]
    for _ in range(200):
        state = arm.step(state, torch.zeros(1, 2, dtype=torch.float64))
        energies.append(arm.energy(state))
    e = torch.cat(energies)
    assert (e[1:] < e[:-1]).all() and e[-1] < 0.9 * e[0]


def test_arm_kinematics_round_trip_and_start_posture():
    arm = TwoJointArm(dt_ms=10.0)
    q = np.array([[0.3, 1.2], [-0.2, 0.4], [1.5, 2.5]])
    p = arm.forward_kinematics(torch.tensor(q)).numpy()
    np.testing.assert_allclose(arm.inverse_kinematics(p), q, atol=1e-12)
    # start posture 45 deg / 90 deg: hand at l1 (cos 45, sin 45) + l2 (cos 135, sin 135)
    s = math.sqrt(0.5)
    np.testing.assert_allclose(arm.start_hand_m(), [(0.30 - 0.33) * s, (0.30 + 0.33) * s],
                               atol=1e-12)


def test_arm_joint_limits_hold_under_large_torques_and_nothing_becomes_nan():
    arm = TwoJointArm(dt_ms=20.0, torque_scale=50.0)
    state = arm.initial_state(4)
    command = torch.tensor([[10.0, 10.0], [-10.0, -10.0], [10.0, -10.0], [-10.0, 10.0]])
    for _ in range(200):
        state = arm.step(state, command)
        assert torch.isfinite(state).all()
    lo, hi = np.deg2rad([-30.0, 0.0]), np.deg2rad([150.0, 160.0])
    q = state[:, :2].numpy()
    assert (q >= lo - 1e-6).all() and (q <= hi + 1e-6).all()
    assert np.isclose(q[0, 1], hi[1], atol=1e-6) and np.isclose(q[1, 1], lo[1], atol=1e-6)


def test_arm_step_is_differentiable():
    arm = TwoJointArm(dt_ms=10.0, substeps=2)
    state = arm.initial_state(2, dtype=torch.float64)
    state[:, 2:] = 0.3
    u = torch.randn(2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    u.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda c: arm.step(state, c), (u,))


# ---------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, match", [
    ({"radius_cm": -5.0}, r"env.radius_cm=-5.0 is invalid: must be a number > 0"),
    ({"plant": "arm", "radius_cm": 60.0}, r"env.radius_cm=60.0 is invalid: .*outside the arm"),
    ({"plant": "arm", "muscle_tau_ms": 5.0, "dt_ms": 20.0},
     r"dt_ms=20 is too large for the arm: with substeps=1 RK4 is stable up to dt = 12.5 ms"),
    ({"plant": "tentacle"}, r"env.plant='tentacle' is invalid: allowed: point_mass, arm"),
    ({"delay_min_ms": 500.0, "delay_max_ms": 300.0}, r"env.delay_max_ms=300.0 is invalid"),
    ({"catch_prob": 1.0}, r"env.catch_prob=1.0 is invalid: must be in \[0, 1\)"),
])
def test_bad_reaching_settings_raise_one_line(kwargs, match):
    with pytest.raises(ConfigError, match=match) as err:
        CenterOutReach(**kwargs)
    assert "\n" not in str(err.value)


def test_more_substeps_admit_a_larger_dt():
    with pytest.raises(ConfigError):
        TwoJointArm(dt_ms=20.0, muscle_tau_ms=5.0)
    arm = TwoJointArm(dt_ms=20.0, muscle_tau_ms=5.0, substeps=2)
    state = arm.initial_state(1)
    for _ in range(100):
        state = arm.step(state, torch.ones(1, 2))
    assert torch.isfinite(state).all()


def test_bad_setting_from_the_spec_is_a_config_error():
    with pytest.raises(ConfigError, match="env.radius_cm=-1"):
        load_config("tasks/center_out.toml", ["env.radius_cm=-1"])


# ---------------------------------------------------------------------------------- task


def _net(env, n=64, seed=0, **kw):
    cfg = nb.CircuitConfig(n_units=n, n_inputs=env.n_inputs, n_outputs=env.n_outputs,
                           gain=1.5, readout_scale=1.0, **kw)
    return nb.RateRNN(cfg, seed=seed)


def test_trials_have_the_timeline_and_inputs_of_the_task():
    env = CenterOutReach(dt_ms=20.0, catch_prob=0.5)
    batch = env.sample(64, torch.Generator().manual_seed(1))
    c = batch.conditions
    assert batch.inputs.shape == (env.trial_steps, 64, 7) and env.trial_steps == 100
    assert set(c["angle_deg"].tolist()) <= set(env.train_angles_deg)
    assert c["catch"].any() and (~c["catch"]).any()
    for b in range(64):
        go = int(c["go_step"][b])
        assert 5 + 15 <= go <= 5 + 50
        # target shown from step 5, at the angle of the trial, in units of the radius
        rad = math.radians(float(c["angle_deg"][b]))
        assert torch.allclose(batch.inputs[5:, b, 0], torch.tensor(math.cos(rad)), atol=1e-6)
        assert (batch.inputs[:5, b, :2] == 0).all()
        go_cue = batch.inputs[:, b, 2]
        if c["catch"][b]:
            assert (go_cue == 0).all()
        else:
            assert (go_cue[:go] == 0).all() and (go_cue[go:] == 1).all()
    assert (batch.inputs[:, :, 3:] == 0).all()  # feedback is filled in by the closed loop
    assert env.test_angles_deg == tuple(22.5 + 45 * k for k in range(8))


def test_rollout_is_the_circuit_and_plant_stepped_together():
    """The batched loop equals a plain loop over net.step and plant.step, feeding the hand
    back with the configured delay."""
    env = CenterOutReach(dt_ms=20.0, feedback_delay_ms=60.0)
    net = _net(env)
    batch = env.sample(8, torch.Generator().manual_seed(2))
    roll = env.rollout(net, batch)
    x = net.initial_state(8)
    state = env.plant.initial_state(8)
    hands = [torch.zeros(8, 4)]
    for t in range(batch.n_steps):
        fb = hands[max(t - 3, 0)]
        u = torch.cat([batch.inputs[t, :, :3], fb], 1)
        x = net.step(x, u, batch.context)
        cmd = net.readout(net.rates(x, batch.context))
        state = env.plant.step(state, cmd)
        pos, vel = env.plant.hand(state)
        hands.append(torch.cat([pos / env.radius_m, vel / (env.radius_m / 0.2)], 1))
        torch.testing.assert_close(roll.commands[t], cmd, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(roll.inputs[t], u, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(roll.pos_m[-1], pos, rtol=1e-5, atol=1e-6)


def test_loss_is_zero_for_a_perfect_reach_and_counts_each_term():
    env = CenterOutReach(dt_ms=20.0, w_velocity=0.0, w_force=0.0, w_effort=0.0, w_still=1.0)
    batch = env.sample(4, torch.Generator().manual_seed(0))
    n_t = batch.n_steps
    pos = batch.targets * env.radius_m  # at the target from the go cue on, else at the center
    zeros = torch.zeros(n_t, 4, 2)
    roll = nb.envs.reaching.ReachRollout(pos, zeros, zeros, batch.inputs, None)
    assert float(env.reach_loss(roll, batch)) < 1e-12
    # 1 cm off everywhere: position error (0.1 radius)^2 at every step of every trial
    shifted = roll._replace(pos_m=pos + torch.tensor([0.01, 0.0]))
    assert float(env.reach_loss(shifted, batch)) == pytest.approx(0.01, rel=1e-5)


def test_fit_trains_a_bias_only_circuit_in_the_closed_loop():
    env = CenterOutReach(dt_ms=20.0, delay_min_ms=100.0, delay_max_ms=200.0, reach_ms=400.0,
                         hold_ms=200.0)
    cfg = nb.CircuitConfig(n_units=64, n_inputs=7, n_outputs=2, gain=0.8, readout_scale=10.0)
    net = nb.RateRNN(cfg, seed=0)
    before = {k: v.clone() for k, v in net.named_buffers()}
    untrained = env.evaluate(net, torch.Generator().manual_seed(0))
    history = nb.fit(net, env, nb.TrainConfig(steps=60, batch_size=16, lr=2e-2, eval_every=0),
                     progress=False)
    assert np.mean(history.loss[-10:]) < 0.2 * np.mean(history.loss[:5])
    assert history.final["endpoint_error_trained_cm"] < 0.5 * untrained["endpoint_error_trained_cm"]
    for k, v in net.named_buffers():
        assert torch.equal(v, before[k]), k
    for key in ("endpoint_error_trained_cm", "endpoint_error_heldout_cm", "success_rate_trained",
                "success_rate_heldout", "catch_false_start_rate"):
        assert math.isfinite(history.final[key])


def test_noise_changes_the_rollout_and_is_seeded():
    env = CenterOutReach(dt_ms=20.0)
    net = _net(env, noise_rec=0.1, noise_in=0.1)
    batch = env.sample(4, torch.Generator().manual_seed(0))
    a = env.rollout(net, batch, torch.Generator().manual_seed(5)).pos_m
    b = env.rollout(net, batch, torch.Generator().manual_seed(5)).pos_m
    c = env.rollout(net, batch).pos_m
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_spec_builds_the_reaching_env():
    cfg = load_config("tasks/center_out.toml")
    assert cfg.env.kind == "reaching" and cfg.circuit.mode == "bias"
    assert (cfg.circuit.n_inputs, cfg.circuit.n_outputs) == (7, 2)
    full = load_config("tasks/center_out_full.toml")
    assert full.circuit.mode == "full" and full.circuit.n_units == cfg.circuit.n_units
    assert full.env == cfg.env


# ---------------------------------------------------------------------------------- gymnasium


def test_gym_env_passes_the_checker_and_is_registered():
    from gymnasium.utils.env_checker import check_env

    env = gymnasium.make(GYM_ID)
    check_env(env.unwrapped)
    obs, info = env.reset(seed=3)
    assert obs.shape == (7,) and env.action_space.shape == (2,)
    env.close()
    held = gymnasium.make(GYM_ID, heldout=True).unwrapped
    angles = {float(held.reset(seed=s)[1]["target_cm"] @ [1.0, 0.0]) for s in range(20)}
    trained = {float(v) for v in held.task.target_positions_cm(held.task.train_angles_deg)[:, 0]}
    assert len(angles) > 1 and not any(abs(a - t) < 1e-6 for a in angles for t in trained)


def test_gym_env_shares_the_physics_of_the_batched_path():
    """The same commands through the gymnasium env and the batched plant give the same hand."""
    env = gymnasium.make(GYM_ID, plant="arm").unwrapped
    obs, info = env.reset(seed=0)
    task = env.task
    state = task.plant.initial_state(1, dtype=torch.float64)
    rng = np.random.default_rng(0)
    total = 0.0
    for _ in range(task.trial_steps):
        a = rng.uniform(-0.5, 0.5, 2).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(a)
        state = task.plant.step(state, torch.tensor(a, dtype=torch.float64)[None])
        total += reward
    pos, _ = task.plant.hand(state)
    np.testing.assert_allclose(info["hand_cm"], 100 * (pos[0].numpy() - task.center_m),
                               atol=1e-9)
    assert terminated and total < 0


def test_gym_reward_is_minus_the_loss_terms():
    """Summed over an episode, minus the reward equals the batched loss times the steps."""
    env = gymnasium.make(GYM_ID).unwrapped
    env.reset(seed=4)
    task, batch = env.task, env._trial
    rng = np.random.default_rng(1)
    actions = rng.uniform(-1, 1, (task.trial_steps, 2))
    total = 0.0
    for a in actions:
        total += env.step(a)[1]
    state = task.plant.initial_state(1, dtype=torch.float64)
    pos, vel = [], []
    for a in actions:
        state = task.plant.step(state, torch.tensor(a)[None])
        p, v = task.plant.hand(state)
        pos.append(p)
        vel.append(v)
    roll = nb.envs.reaching.ReachRollout(torch.stack(pos), torch.stack(vel),
                                         torch.tensor(actions)[:, None], batch.inputs, None)
    batch.targets = batch.targets.double()
    loss = float(task.reach_loss(roll, batch))
    assert -total == pytest.approx(loss * task.trial_steps, rel=1e-6)


def test_export_records_the_closed_loop_activity_and_inputs(tmp_path):
    import h5py

    from neurobias.config import config_from_dict

    spec = {"name": "r", "seed": 1,
            "circuit": {"n_units": 32, "gain": 0.8, "readout_scale": 1.0},
            "env": {"kind": "reaching", "delay_min_ms": 100.0, "delay_max_ms": 200.0,
                    "reach_ms": 300.0, "hold_ms": 100.0},
            "train": {"steps": 2, "batch_size": 4, "eval_every": 0}}
    run = nb.train_run(config_from_dict(spec), tmp_path / "run", progress=False)
    path = nb.io.export(run, tmp_path / "run.h5", n_trials=6, progress=False, device="cpu")
    with h5py.File(path) as f:
        inputs = np.array(f["trials/inputs"])  # (trial, time, input)
        outputs = np.array(f["trials/outputs"])
        rates = np.array(f["activity/rates"])
    # the file holds the closed loop: replaying its inputs open loop gives its rates and outputs
    with torch.no_grad():
        roll = run.net(torch.from_numpy(inputs).transpose(0, 1).float(), 0)
    np.testing.assert_allclose(roll.rates.transpose(0, 1).numpy(), rates, atol=1e-5)
    np.testing.assert_allclose(roll.outputs.transpose(0, 1).numpy(), outputs, atol=1e-5)
    assert np.abs(inputs[:, :, 3:]).max() > 0  # the hand feedback is there


def test_cli_bad_reaching_setting_is_one_line_exit_2(tmp_path, capsys):
    from neurobias.cli import main

    code = main(["train", "tasks/center_out.toml", "--out", str(tmp_path / "r"), "--set",
                 "env.radius_cm=-1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "env.radius_cm=-1.0 is invalid: must be a number > 0" in err
    assert not (tmp_path / "r").exists()
    # the arm refuses a dt its integrator cannot take; the point mass has no such limit
    with pytest.raises(ConfigError, match="too large for the arm"):
        load_config("tasks/center_out.toml", ["env.plant=arm", "env.muscle_tau_ms=5"])
    assert load_config("tasks/center_out.toml", ["circuit.dt_ms=50"]).env.kind == "reaching"
