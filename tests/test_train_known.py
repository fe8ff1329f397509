"""fit() details a change would break without the other tests noticing: its messages, the step
at which a divergence is reported, the evaluation stream, the noise switch, the timing, the
checkpoint folder and which settings a resumption compares."""

import time

import pytest
import torch

import neurobias as nb
from neurobias.train import CHECKPOINT, CheckpointError, load_checkpoint, resolve_device

SINE = nb.envs.SineGenerator(period_ms=400, duration_ms=200)


def small(**kw):
    base = dict(n_units=16, n_inputs=1, n_outputs=1, gain=1.0, bias_init_std=0.5,
                readout_scale=5.0)
    return nb.RateRNN(nb.CircuitConfig(**{**base, **kw}), seed=kw.pop("seed", 0))


class _Poisoned(nb.envs.SineGenerator):
    """Records each training loss; from step ``bad`` (1-based) on the loss is NaN."""

    def __init__(self, bad, **kw):
        super().__init__(**kw)
        self.bad, self.losses = bad, []

    def training_loss(self, net, batch, noise=None):
        loss = super().training_loss(net, batch, noise)
        self.losses.append(float(loss.detach()))
        if len(self.losses) >= self.bad:
            loss = loss * float("nan")
        return loss


@pytest.mark.parametrize("bad, every, kept", [
    (13, 5, "the last good checkpoint (step 10)"),
    (4, 5, "the parameters it started from (step 0)"),
])
def test_divergence_names_the_step_and_what_was_kept(bad, every, kept, caplog):
    net = small()
    start = {k: v.clone() for k, v in net.state_dict().items()}
    env = _Poisoned(bad, period_ms=400, duration_ms=200)
    with caplog.at_level("WARNING", logger="neurobias"):
        hist = nb.fit(net, env, nb.TrainConfig(steps=30, batch_size=2, eval_every=0,
                                               checkpoint_every=every), progress=False)
    assert hist.diverged
    assert hist.message == (f"training diverged: non-finite loss or gradient at step {bad}; "
                            f"stopped and kept {kept}")
    assert [r.getMessage() for r in caplog.records] == [hist.message]
    # the final evaluation is of the kept parameters, recorded at their step
    assert hist.evals[-1]["step"] == (bad // every) * every
    if bad < every:
        for k, v in start.items():
            assert torch.equal(net.state_dict()[k], v), k


def test_history_records_the_losses_the_env_computed():
    env = _Poisoned(10**6, period_ms=400, duration_ms=200)
    hist = nb.fit(small(), env, nb.TrainConfig(steps=7, batch_size=2, eval_every=0),
                  progress=False)
    assert hist.loss == pytest.approx(env.losses, rel=1e-6)
    assert hist.message == "trained 7 steps" and not hist.diverged


def test_final_scores_use_the_evaluation_stream():
    from neurobias.seeding import generator

    env = nb.envs.NeuroGymEnv(tasks=("PerceptualDecisionMaking-v0",), eval_trials=8)
    net = nb.RateRNN(nb.CircuitConfig(n_units=16, n_inputs=env.n_inputs,
                                      n_outputs=env.n_outputs), seed=2)
    hist = nb.fit(net, env, nb.TrainConfig(steps=3, batch_size=4, eval_every=0), progress=False)
    assert hist.final == env.evaluate(net, generator(2, "eval"))
    assert [{k: v for k, v in e.items() if k != "seconds"} for e in hist.evals] == \
        [{"step": 3, **hist.final}]
    assert hist.evals[0]["seconds"] == round(hist.seconds, 3)


def test_trial_batches_follow_the_seed():
    env = nb.envs.NeuroGymEnv(tasks=("PerceptualDecisionMaking-v0", "GoNogo-v0"), eval_trials=4)

    def losses(seed):
        net = nb.RateRNN(nb.CircuitConfig(n_units=16, n_inputs=env.n_inputs,
                                          n_outputs=env.n_outputs, n_contexts=2), seed=0)
        return nb.fit(net, env, nb.TrainConfig(steps=4, batch_size=4, eval_every=0, seed=seed),
                      progress=False).loss

    first = losses(1)
    assert losses(1) == first and losses(2) != first


def test_input_noise_alone_makes_training_noisy():
    cfg = dict(steps=4, batch_size=2, eval_every=0)
    a = nb.fit(small(noise_in=0.5), SINE, nb.TrainConfig(**cfg, seed=1), progress=False).loss
    b = nb.fit(small(noise_in=0.5), SINE, nb.TrainConfig(**cfg, seed=2), progress=False).loss
    quiet = nb.fit(small(), SINE, nb.TrainConfig(**cfg, seed=1), progress=False).loss
    assert a != b  # another noise stream, other losses
    assert quiet == nb.fit(small(), SINE, nb.TrainConfig(**cfg, seed=2), progress=False).loss


def test_training_time_is_recorded():
    t0 = time.perf_counter()
    hist = nb.fit(small(), SINE, nb.TrainConfig(steps=3, batch_size=2, eval_every=0),
                  progress=False)
    assert 0 < hist.seconds <= time.perf_counter() - t0


def test_checkpoint_folder_is_created_and_a_run_without_resume_starts_afresh(tmp_path):
    out = tmp_path / "a" / "b"
    cfg = nb.TrainConfig(steps=4, batch_size=2, eval_every=0, checkpoint_every=2)
    first = nb.fit(small(), SINE, cfg, out_dir=out, progress=False)
    assert load_checkpoint(out / CHECKPOINT)["step"] == 4
    again = nb.fit(small(), SINE, cfg, out_dir=out, progress=False)  # resume=False
    assert again.loss == first.loss and len(again.loss) == 4
    # without resume the old checkpoint is neither read nor compared: other settings train
    other = nb.fit(small(), SINE, nb.TrainConfig(steps=4, batch_size=2, eval_every=0, lr=0.05),
                   out_dir=out, progress=False)
    assert other.loss[0] == first.loss[0] and other.loss[1:] != first.loss[1:]
    assert load_checkpoint(out / CHECKPOINT)["settings"]["train.lr"] == 0.05


def test_resume_compares_the_circuit_seed(tmp_path):
    cfg = nb.TrainConfig(steps=2, batch_size=2, eval_every=0)
    nb.fit(small(), SINE, cfg, out_dir=tmp_path, progress=False)
    other = nb.RateRNN(small().config, seed=5)
    path = tmp_path / CHECKPOINT
    with pytest.raises(CheckpointError, match=f"^checkpoint {str(path)!r} was made with "
                                              "circuit.seed=0, not 5: resume with the same "
                                              "settings or a new folder$"):
        nb.fit(other, SINE, cfg, out_dir=tmp_path, resume=True, progress=False)


class _Arbitrary:
    """An object a checkpoint must never unpickle (loading runs with weights_only)."""


def test_checkpoint_errors_name_the_file(tmp_path):
    missing = tmp_path / "none.pt"
    with pytest.raises(CheckpointError, match=f"^checkpoint {str(missing)!r} does not exist$"):
        load_checkpoint(missing)
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(CheckpointError, match=f"^checkpoint {str(other)!r} is not a "
                                              "neurobias-checkpoint/1 file$"):
        load_checkpoint(other)
    listed = tmp_path / "list.pt"
    torch.save([1, 2], listed)
    with pytest.raises(CheckpointError, match="is not a neurobias-checkpoint/1 file"):
        load_checkpoint(listed)
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": "neurobias-checkpoint/1", "x": _Arbitrary()}, pickled)
    with pytest.raises(CheckpointError, match=r"is damaged or not a checkpoint "
                                              r"\(UnpicklingError\)$"):
        load_checkpoint(pickled)
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match=f"^checkpoint {str(damaged)!r} is damaged or not "
                                              r"a checkpoint \(\w+Error\)$"):
        load_checkpoint(damaged)


def test_fit_refuses_what_does_not_fit():
    with pytest.raises(TypeError, match="^net must be a RateRNN, got str$"):
        nb.fit("net", SINE)
    with pytest.raises(ValueError, match="^env has 1 inputs and 1 outputs but the circuit has 2 "
                                         "and 1$"):
        nb.fit(small(n_inputs=2), SINE)
    env = nb.envs.NeuroGymEnv(tasks=("PerceptualDecisionMaking-v0", "GoNogo-v0"))
    net = nb.RateRNN(nb.CircuitConfig(n_units=8, n_inputs=env.n_inputs,
                                      n_outputs=env.n_outputs), seed=0)
    with pytest.raises(ValueError, match="^env has 2 contexts but the circuit only 1$"):
        nb.fit(net, env)
    with pytest.raises(ValueError, match="^resume=True needs out_dir, the folder holding the "
                                         "checkpoint$"):
        nb.fit(small(), SINE, nb.TrainConfig(steps=1), resume=True, progress=False)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():  # pragma: no cover - the CI machine has no GPU
        assert resolve_device("auto").type == "cuda"
        return
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    with pytest.raises(ValueError, match="^device='cuda' was asked for but no CUDA device is "
                                         "available: use 'cpu' or 'auto'$"):
        resolve_device("cuda")
    with pytest.raises(ValueError):
        resolve_device("cuda:0")
