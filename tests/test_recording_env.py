"""The env `recording`: circuits fitted to recorded activity (teacher-student known answers,
held-out trials and neurons, bad input, and the CLI stages on a recording)."""

import dataclasses
import json

import h5py
import numpy as np
import pytest
import torch

import neurobias as nb
from neurobias.analysis import bits_per_spike
from neurobias.cli import main
from neurobias.config import ConfigError, EnvConfig
from neurobias.envs.recording import RecordingEnv
from neurobias.io import recordings
from neurobias.io.recordings import Recording


def teacher_data(n=32, n_cond=4, n_trials=20, n_t=40, seed=0, activation="tanh",
                 bias_std=0.5):
    """A teacher RateRNN with planted per-condition biases driven by random input pulses.

    Returns:
        config, teacher, rates (trial, time, unit), inputs (trial, time, 2), condition (trial,)
    """
    cfg = nb.CircuitConfig(n_units=n, n_inputs=2, n_outputs=n, n_contexts=n_cond, tau_ms=100,
                           dt_ms=20, gain=1.5, activation=activation, mode="bias")
    teacher = nb.RateRNN(cfg, seed=seed)
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        teacher.biases.copy_(bias_std * torch.randn(n_cond, n, generator=g))
    cond = np.repeat(np.arange(n_cond), n_trials)
    u = torch.zeros(n_t, len(cond), 2)
    onset = torch.randint(5, 20, (len(cond),), generator=g)
    amp = torch.randn(len(cond), 2, generator=g)
    for k in range(len(cond)):
        u[onset[k]:onset[k] + 5, k] = amp[k]
    with torch.no_grad():
        rates = teacher(u, torch.from_numpy(cond)).rates
    return cfg, teacher, rates.numpy().transpose(1, 0, 2), u.numpy().transpose(1, 0, 2), cond


def small_recording(n_trials=(10, 7, 3), n_t=12, m=5, seed=0, counts=False, lengths=None):
    rng = np.random.default_rng(seed)
    cond = np.repeat(np.arange(len(n_trials)), n_trials)
    act = rng.poisson(2.0, size=(len(cond), n_t, m)).astype(float) if counts \
        else rng.normal(size=(len(cond), n_t, m))
    if lengths is not None:
        for k, n in enumerate(lengths):
            act[k, n:] = 0
    return Recording.from_arrays(act, dt_ms=20, condition=[f"c{c}" for c in cond],
                                 counts=counts, lengths=lengths)


# ----------------------------------------------------------------------- known answers


def test_known_answer_same_connectivity_recovers_biases():
    """Known answer 1: a bias-only student with the teacher's weights recovers the planted
    biases (Pearson r >= 0.99) and the held-out activity (R^2 >= 0.99)."""
    cfg, teacher, rates, inputs, cond = teacher_data()
    rec = Recording.from_arrays(rates, dt_ms=20, condition=cond, inputs=inputs)
    env = RecordingEnv(dt_ms=20, recording=rec, normalize="none", heldout_trials=0.25)
    student = nb.RateRNN(cfg, seed=0)  # same weights, other (random) initial biases
    assert not torch.allclose(student.biases, teacher.biases)
    hist = nb.fit(student, env, nb.TrainConfig(steps=700, batch_size=32, lr=0.05,
                                               lr_schedule="cosine", lr_final=0.002,
                                               eval_every=0, device="cpu"))
    b_true = teacher.biases.detach().numpy().ravel()
    b_fit = student.biases.detach().numpy().ravel()
    assert np.corrcoef(b_true, b_fit)[0, 1] >= 0.99
    assert hist.final["r2"] >= 0.99
    assert hist.final["pvar"] >= 0.99
    assert torch.equal(student.W_rec, teacher.W_rec)  # only the tonic inputs learned


def test_known_answer_readout_coupling():
    """The recording is a teacher's readout (8 outputs of 32 units): a bias-only student with
    the teacher's weights, coupled through its own (fixed) readout, reproduces the held-out
    trials (R^2 >= 0.98) without changing W_out."""
    cfg, teacher, _, inputs, cond = teacher_data(n_trials=12, n_t=30)
    cfg = dataclasses.replace(cfg, n_outputs=8, readout_scale=3.0)
    readout_teacher = nb.RateRNN(cfg, seed=0)
    with torch.no_grad():
        readout_teacher.biases.copy_(teacher.biases)
        y = readout_teacher(torch.from_numpy(inputs).transpose(0, 1),
                            torch.from_numpy(cond)).outputs.numpy().transpose(1, 0, 2)
    rec = Recording.from_arrays(y, dt_ms=20, condition=cond, inputs=inputs)
    env = RecordingEnv(dt_ms=20, recording=rec, coupling="readout", normalize="none",
                       heldout_trials=0.25)
    student = nb.RateRNN(cfg, seed=0)
    hist = nb.fit(student, env, nb.TrainConfig(steps=300, batch_size=32, lr=0.05,
                                               lr_schedule="cosine", lr_final=0.002,
                                               eval_every=0, device="cpu"))
    assert hist.final["r2"] >= 0.98
    assert torch.equal(student.W_out, readout_teacher.W_out)


@pytest.mark.slow
def test_known_answer_poisson_cobps_matches_teacher():
    """Known answer 3: Poisson spikes from a teacher; the fit's co-bps on held-out neurons is
    positive and within 20% of the teacher's own co-bps on the same neurons and trials."""
    cfg, teacher, rates, inputs, cond = teacher_data(activation="softplus", n_trials=40)
    counts = np.random.default_rng(5).poisson(rates).astype(float)
    rec = Recording.from_arrays(counts, dt_ms=20, condition=cond, inputs=inputs, counts=True)
    env = RecordingEnv(dt_ms=20, recording=rec, loss="poisson", normalize="none",
                       heldout_trials=0.25, heldout_neurons=8)
    student = nb.RateRNN(cfg, seed=0)
    hist = nb.fit(student, env, nb.TrainConfig(steps=600, batch_size=32, lr=0.05,
                                               lr_schedule="cosine", lr_final=0.002,
                                               eval_every=0, device="cpu"))
    valid = env._valid[:, torch.from_numpy(env.test_trials)].numpy()
    sel = np.ix_(env.test_trials, np.arange(counts.shape[1]), env.heldout_neurons)
    teacher_bps = bits_per_spike(rates[sel].transpose(1, 0, 2), counts[sel].transpose(1, 0, 2),
                                 valid)
    assert teacher_bps > 0.05
    assert hist.final["co_bps"] > 0
    assert abs(hist.final["co_bps"] - teacher_bps) <= 0.2 * teacher_bps


# ----------------------------------------------------------------------- splits and batches


def test_heldout_trials_are_stratified_and_disjoint():
    rec = small_recording(n_trials=(10, 7, 3, 1))
    env = RecordingEnv(dt_ms=20, recording=rec, heldout_trials=0.3)
    train, test = set(env.train_trials), set(env.test_trials)
    assert not train & test
    assert train | test == set(range(rec.n_trials))
    per_cond = [int((rec.condition[env.test_trials] == c).sum()) for c in range(4)]
    assert per_cond == [3, 2, 1, 0]  # round(0.3 n), never the last trial of a condition
    assert set(rec.condition[env.train_trials]) == {0, 1, 2, 3}
    # the split follows split_seed alone
    again = RecordingEnv(dt_ms=20, recording=rec, heldout_trials=0.3)
    other = RecordingEnv(dt_ms=20, recording=rec, heldout_trials=0.3, split_seed=1)
    assert np.array_equal(again.test_trials, env.test_trials)
    assert not np.array_equal(other.test_trials, env.test_trials)


def test_batches_draw_from_their_split_and_mask_padding_and_heldout_neurons():
    lengths = np.array([12, 5, 9] + [12] * 17)
    rec = small_recording(lengths=lengths)
    env = RecordingEnv(dt_ms=20, recording=rec, heldout_trials=0.3, heldout_neurons=2)
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(20):
        b = env.sample(8, gen)
        seen |= set(b.conditions["trial"].tolist())
    assert seen <= set(env.train_trials)
    tb = env.test_batch(2 * len(env.test_trials) + 1, gen)
    assert set(tb.conditions["trial"].tolist()) == set(env.test_trials)
    b = env.eval_batch(gen)
    k = b.conditions["trial"]
    assert torch.equal(b.context, torch.from_numpy(rec.condition)[k])
    assert torch.equal(b.targets, torch.from_numpy(rec.rates).transpose(0, 1)[:, k])
    # mask: 0 after each trial's length and on held-out neurons, 1 elsewhere
    m = b.mask.numpy()
    for j, trial in enumerate(k.tolist()):
        n = lengths[trial]
        assert (m[n:, j] == 0).all()
        assert (m[:n, j][:, env.heldout_neurons] == 0).all()
        assert (m[:n, j][:, env.heldin_neurons] == 1).all()


def test_heldout_neurons_do_not_enter_the_loss():
    rec = small_recording()
    env = RecordingEnv(dt_ms=20, recording=rec, heldout_neurons=2, coupling="readout")
    rates = rec.rates.copy()
    rates[..., env.heldout_neurons] += 5.0
    env2 = RecordingEnv(dt_ms=20, recording=Recording.from_arrays(
        rates, dt_ms=20, condition=rec.condition), heldout_neurons=2, coupling="readout",
        normalize="none")
    env1 = RecordingEnv(dt_ms=20, recording=rec, heldout_neurons=2, coupling="readout",
                        normalize="none")
    net = nb.RateRNN(nb.CircuitConfig(n_units=16, n_inputs=0, n_outputs=5, n_contexts=3), 0)
    b1 = env1.sample(6, torch.Generator().manual_seed(0))
    b2 = env2.sample(6, torch.Generator().manual_seed(0))
    assert not torch.equal(b1.targets, b2.targets)
    assert env1.training_loss(net, b1) == env2.training_loss(net, b2)


def test_cosmoothing_readout_never_sees_heldout_trials():
    rec = small_recording(n_trials=(12, 12, 12))
    kw = dict(dt_ms=20, heldout_trials=0.25, heldout_neurons=2)
    env = RecordingEnv(recording=rec, **kw)
    net = nb.RateRNN(nb.CircuitConfig(n_units=16, n_inputs=0, n_outputs=5, n_contexts=3,
                                      activation="tanh", bias_init_std=1.0), 0)
    w, b = env.cosmoothing_readout(net)
    changed = rec.rates.copy()
    changed[env.test_trials] = np.random.default_rng(9).normal(size=changed[env.test_trials]
                                                               .shape) * 10
    env_test = RecordingEnv(recording=Recording.from_arrays(changed, dt_ms=20,
                                                            condition=rec.condition), **kw)
    assert np.array_equal(env_test.test_trials, env.test_trials)
    w2, b2 = env_test.cosmoothing_readout(net)
    assert np.array_equal(w, w2) and np.array_equal(b, b2)
    # control: changing a training trial does change it
    changed = rec.rates.copy()
    changed[env.train_trials[0]] += 3.0
    env_train = RecordingEnv(recording=Recording.from_arrays(changed, dt_ms=20,
                                                             condition=rec.condition), **kw)
    assert not np.allclose(env_train.cosmoothing_readout(net)[1], b)


def test_predictions_in_data_units_for_both_couplings():
    rec = small_recording(counts=True)
    net = nb.RateRNN(nb.CircuitConfig(n_units=8, n_inputs=0, n_outputs=5, n_contexts=3,
                                      activation="softplus"), 0)
    batch = RecordingEnv(dt_ms=20, recording=rec).eval_batch(torch.Generator())
    with torch.no_grad():
        roll = net(batch.inputs, batch.context)
    for loss in ("mse", "poisson"):
        units = RecordingEnv(dt_ms=20, recording=rec, loss=loss)
        readout = RecordingEnv(dt_ms=20, recording=rec, loss=loss, coupling="readout")
        # scale: the largest value on training trials, in target units (counts per bin for
        # the Poisson loss: spikes/s * dt / 1000)
        data = rec.rates[units.train_trials] * (0.02 if loss == "poisson" else 1.0)
        s = torch.from_numpy(np.abs(data).max((0, 1)).astype(np.float32))
        assert torch.allclose(units.scale, s)
        if loss == "mse":
            assert torch.allclose(units.predict(roll), s * roll.rates[..., :5])
            assert torch.allclose(readout.predict(roll), s * roll.outputs)
        else:
            assert torch.allclose(units.predict(roll), s * roll.rates[..., :5])
            assert torch.allclose(readout.predict(roll), s * torch.exp(roll.outputs))
    # run() returns them as the rollout's outputs (what export records)
    env = RecordingEnv(dt_ms=20, recording=rec, heldout_neurons=2)
    with torch.no_grad():
        out = env.run(net, batch).outputs
    hin = env.heldin_neurons
    assert torch.allclose(out[..., hin], env.predict(roll)[..., hin])
    w, b = env.cosmoothing_readout(net)
    assert np.allclose(out[..., env.heldout_neurons].numpy(),
                       roll.rates.numpy() @ w + b, atol=1e-4)


def test_mse_loss_weighs_neurons_by_their_scale():
    # an error of half a neuron's scale everywhere costs 0.25, whatever the scale; padding and
    # held-out neurons are not counted
    rec = small_recording(lengths=np.array([12, 5, 9] + [12] * 17))
    rates = rec.rates * np.array([1, 10, 100, 0.1, 1], np.float32)
    rec = Recording.from_arrays(rates, dt_ms=20, condition=rec.condition, lengths=rec.lengths)
    env = RecordingEnv(dt_ms=20, recording=rec, heldout_neurons=1)
    b = env.eval_batch(torch.Generator())
    wrong = b.targets + 0.5 * env.scale
    wrong[:, :, env.heldout_neurons] += 100.0
    wrong[-1] += 100.0 * (b.conditions["length"] < 12)[:, None]
    assert float(env.loss(wrong, b)) == pytest.approx(0.25, rel=1e-5)


def test_poisson_loss_is_zero_at_the_counts_and_positive_elsewhere():
    rec = small_recording(counts=True)
    env = RecordingEnv(dt_ms=20, recording=rec, loss="poisson")
    b = env.eval_batch(torch.Generator())
    assert float(env.loss(b.targets.clone(), b)) == pytest.approx(0.0, abs=1e-6)
    assert float(env.loss(b.targets + 0.5, b)) > 0


def test_neuron_selection_and_smoothing_of_a_given_recording():
    rec = small_recording()
    env = RecordingEnv(dt_ms=20, recording=rec, neurons=("3", "0"), smooth_ms=40.0)
    assert env.n_outputs == 2 and env.output_names == ("3", "0")
    expected = recordings.gaussian_smooth(rec.rates[..., [3, 0]], 2.0, rec.lengths)
    assert np.array_equal(env.recording.rates, expected)
    assert not np.allclose(expected, rec.rates[..., [3, 0]])
    assert env.recording.neuron_names == RecordingEnv(dt_ms=20, recording=rec,
                                                      neurons=(3, 0)).recording.neuron_names


def test_undefined_scores_are_nan_not_an_error():
    # held-out neurons that never spike on the held-out trials: co-bps is undefined
    rec = small_recording(n_trials=(6, 6, 6), counts=True)
    env = RecordingEnv(dt_ms=20, recording=rec, loss="poisson", heldout_neurons=1)
    counts = rec.counts.copy()
    counts[np.ix_(env.test_trials, np.arange(rec.n_steps), env.heldout_neurons)] = 0
    env = RecordingEnv(dt_ms=20, recording=Recording.from_arrays(
        counts, dt_ms=20, condition=rec.condition, counts=True), loss="poisson",
        heldout_neurons=1)
    net = nb.RateRNN(nb.CircuitConfig(n_units=8, n_inputs=0, n_outputs=5, n_contexts=3,
                                      activation="softplus"), 0)
    scores = env.evaluate(net, torch.Generator())
    assert np.isnan(scores["co_bps"]) and np.isfinite(scores["bps"])


# ----------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, match", [
    (dict(loss="poisson"), "loss='poisson' needs spike counts"),
    (dict(dt_ms=10.0), "bins of 20 ms but the circuit's dt_ms is 10"),
    (dict(loss="l1"), "env.loss='l1' is invalid: allowed: mse, poisson"),
    (dict(coupling="all"), "env.coupling='all' is invalid"),
    (dict(heldout_trials=1.0), "env.heldout_trials=1.0 is invalid"),
    (dict(heldout_neurons=5), "hold out 0..4"),
    (dict(heldout_neurons=1.5), "a fraction must be in"),
    (dict(neurons=(0, 9)), "index 9 is out of range"),
    (dict(context="rule"), "not allowed with recording="),
])
def test_bad_settings_one_line(kwargs, match):
    rec = small_recording()
    kw = dict(dt_ms=20.0, recording=rec) | kwargs
    with pytest.raises(ConfigError, match=match) as err:
        RecordingEnv(**kw)
    assert "\n" not in str(err.value)


def test_unknown_option_and_no_source_one_line():
    with pytest.raises(ConfigError, match="env.smoothing is not a parameter of env 'recording'"):
        EnvConfig(kind="recording", params={"path": "x.npz", "smoothing": 3})
    with pytest.raises(ConfigError, match="exactly one of path"):
        RecordingEnv(dt_ms=20.0)


def test_too_few_units_for_unit_coupling_is_refused_before_training():
    rec = small_recording(m=5)
    env = RecordingEnv(dt_ms=20, recording=rec)
    net = nb.RateRNN(nb.CircuitConfig(n_units=4, n_inputs=0, n_outputs=5, n_contexts=3), 0)
    before = net.biases.detach().clone()
    with pytest.raises(ConfigError, match=r"n_units=4 is too small .* 5 neurons") as err:
        nb.fit(net, env, nb.TrainConfig(steps=2, device="cpu"))
    assert "\n" not in str(err.value)
    assert torch.equal(net.biases, before)
    # a readout needs no unit per neuron
    env = RecordingEnv(dt_ms=20, recording=rec, coupling="readout")
    nb.fit(net, env, nb.TrainConfig(steps=2, eval_every=0, device="cpu"))


# ----------------------------------------------------------------------- the CLI stages


def _npz_reader(path, *, dt_ms, context=None, source="auto", smooth_ms=0.0, neurons=None,
                inputs=()):
    """The `.npz` case of read_recording (branch h12a), for this test until it is merged."""
    d = np.load(path)
    return Recording.from_arrays(d["activity"], dt_ms=float(d["dt_ms"]),
                                 condition=d["condition"], inputs=d["inputs"],
                                 smooth_ms=smooth_ms, source=str(path))


@pytest.fixture
def reader(monkeypatch):
    if not hasattr(recordings, "read_recording"):
        # the file readers come from another branch; this stand-in reads the .npz written
        # below exactly as the interface says, so the stages themselves are tested now
        monkeypatch.setattr(recordings, "read_recording", _npz_reader, raising=False)


def test_cli_train_export_analyze_plot_on_a_recording(tmp_path, capsys, reader):
    _, _, rates, inputs, cond = teacher_data(n=8, n_cond=2, n_trials=8, n_t=20)
    data = tmp_path / "rec.npz"
    np.savez(data, activity=rates, inputs=inputs, condition=np.array(["left", "right"])[cond],
             dt_ms=20.0)
    spec = tmp_path / "fit.toml"
    spec.write_text(f"""name = "fit"
seed = 1
[circuit]
n_units = 16
dt_ms = 20
tau_ms = 100
activation = "tanh"
[env]
kind = "recording"
path = "{data}"
heldout_trials = 0.25
heldout_neurons = 2
[train]
steps = 30
batch_size = 8
eval_every = 10
device = "cpu"
""")
    out = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("r2", "r2_median", "pvar", "psth_r2/left", "psth_r2/right", "psth_r2_mean",
                "r2_heldout_neurons", "loss_test"):
        assert np.isfinite(summary[key]), key
    history = json.loads((out / "history.json").read_text())
    assert [e["step"] for e in history["evals"]] == [10, 20, 30]
    capsys.readouterr()
    assert main(["export", str(out), "--trials", "4", "--no-progress"]) == 0
    with h5py.File(out / "run.h5") as f:
        trials = f["trials/conditions/trial"][()]
        targets = f["trials/targets"][()]
        outputs = f["trials/outputs"][()]
        context = f["trials/context"][()]
    assert targets.shape == (4, 20, 8) and outputs.shape == (4, 20, 8)
    assert np.allclose(targets, rates[trials])  # the recorded activity of those trials
    assert np.array_equal(context, cond[trials])
    run = nb.run.load_run(out)
    assert set(trials) <= set(run.env.test_trials)
    assert main(["analyze", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "share of the drive from the tonic input" in text
    with h5py.File(out / "run.h5") as f:
        r2 = f["analysis/fit/r2"][()]
        share = f["analysis/currents/share_mean"][()]
        assert f["analysis/fit"].attrs["metric:r2"] == pytest.approx(summary["r2"], abs=1e-9)
    assert r2.shape == (8,) and share.shape == (2, 3)
    assert np.allclose(share.sum(1), 1.0)
    for name in ("fit_psths.png", "fit_r2_hist.png", "currents.png"):
        assert (out / "figures" / name).stat().st_size > 10_000
    assert main(["plot", str(out)]) == 0


def test_cli_too_few_units_exit_2_one_line(tmp_path, capsys, reader):
    _, _, rates, inputs, cond = teacher_data(n=8, n_cond=2, n_trials=4, n_t=10)
    data = tmp_path / "rec.npz"
    np.savez(data, activity=rates, inputs=inputs, condition=cond, dt_ms=20.0)
    spec = tmp_path / "fit.toml"
    spec.write_text(f'[circuit]\nn_units = 4\ndt_ms = 20\n[env]\nkind = "recording"\n'
                    f'path = "{data}"\n[train]\nsteps = 3\ndevice = "cpu"\n')
    code = main(["train", str(spec), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "n_units=4 is too small" in err
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_top_neurons_keeps_those_that_vary_in_every_condition():
    # 5 neurons, 2 conditions: neuron 1 is flat in condition 1, neuron 3 is flat everywhere;
    # neuron 4 varies least where it varies (0.5 x); top 3 must be 0, 2, 4 in recording order
    rng = np.random.default_rng(0)
    act = rng.normal(size=(12, 10, 5))
    cond = np.repeat([0, 1], 6)
    act[cond == 1, :, 1] = 2.0
    act[:, :, 3] = 1.0
    act[:, :, 4] *= 0.5
    rec = Recording.from_arrays(act, dt_ms=20, condition=cond)
    env = RecordingEnv(dt_ms=20, recording=rec, top_neurons=3)
    assert env.recording.neuron_names == ("0", "2", "4") and env.n_outputs == 3
    np.testing.assert_array_equal(env.recording.rates, act[:, :, [0, 2, 4]].astype(np.float32))
    with pytest.raises(ConfigError, match=r"env.top_neurons=6 is invalid: .* 5 neurons"):
        RecordingEnv(dt_ms=20, recording=rec, top_neurons=6)


def test_default_cosmoothing_penalty_is_cross_validated_and_predicts_better():
    # 200 units read out from 24 training trials of 20 bins: the smallest penalty overfits
    # the held-out neurons; the default chooses one by cross-validation that predicts the
    # held-out trials better
    teacher = nb.RateRNN(nb.CircuitConfig(n_units=20, n_inputs=2, n_contexts=3,
                                          activation="softplus", bias_init_std=1.0), seed=5)
    rec = nb.io.teacher_recording(teacher, trials_per_condition=10, n_steps=20).recording
    net = nb.RateRNN(nb.CircuitConfig(n_units=200, n_inputs=2, n_outputs=20, n_contexts=3),
                     seed=1)
    scores = {}
    for alpha in (None, 1e-4):
        env = RecordingEnv(dt_ms=20, recording=rec, coupling="readout", heldout_neurons=5,
                           cosmooth_alpha=alpha)
        scores[alpha] = env.evaluate(net, None)["r2_heldout_neurons"]
        if alpha is None:
            assert env.cosmooth_alpha_used > 1e-4
    assert scores[None] > scores[1e-4] + 0.05
