from pathlib import Path

import pytest
import torch

import neurobias as nb
from neurobias.circuit import TRAINABLE
from neurobias.train import CHECKPOINT, load_checkpoint


def small(mode="bias", **kw):
    if mode == "mask":
        kw.setdefault("mask_init", 0.5)  # every unit on at the start
    base = dict(n_units=32, n_inputs=1, n_outputs=1, gain=1.0, mode=mode, bias_init_std=0.1,
                readout_scale=5.0)
    cfg = nb.CircuitConfig(**{**base, **kw})
    return nb.RateRNN(cfg, seed=0)


ENV = nb.envs.SineGenerator(period_ms=400, duration_ms=400)
# a small env with a real input, so that W_in receives a gradient
LORENZ = nb.envs.LorenzForecast(n_samples=3000, trial_steps=40, washout_steps=5, warmup_steps=10,
                                horizon=5)


@pytest.mark.parametrize("mode", list(TRAINABLE))
def test_only_the_modes_tensors_move(mode):
    net = small(mode)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    mse0 = LORENZ.evaluate(net.eval(), torch.Generator().manual_seed(0))["mse"]
    nb.fit(net, LORENZ, nb.TrainConfig(steps=15, batch_size=16, lr=1e-2, eval_every=0),
           progress=False)
    assert LORENZ.evaluate(net, torch.Generator().manual_seed(0))["mse"] < mse0
    after = net.state_dict()
    for name, value in before.items():
        if name == "mask_beta":
            continue
        if name in TRAINABLE[mode]:
            assert not torch.equal(after[name], value), f"{name} did not learn in {mode} mode"
        else:
            assert torch.equal(after[name], value), f"{name} changed in {mode} mode"


def test_same_seed_same_losses_bitwise():
    cfg = nb.TrainConfig(steps=20, batch_size=4, lr=1e-2, eval_every=0)
    runs = []
    for _ in range(2):
        net = small(noise_rec=0.1)
        runs.append((nb.fit(net, ENV, cfg, progress=False).loss, net.biases.clone()))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    other = small(noise_rec=0.1)
    loss_other = nb.fit(other, ENV, nb.TrainConfig(steps=20, batch_size=4, lr=1e-2, seed=7,
                                                   eval_every=0), progress=False).loss
    assert loss_other != runs[0][0]  # another noise stream, other losses


class _Interrupting(nb.envs.SineGenerator):
    """Raises KeyboardInterrupt when asked for trial batch number ``stop_at`` (1-based)."""

    def __init__(self, stop_at, **kw):
        super().__init__(**kw)
        self.stop_at, self.calls = stop_at, 0

    def sample(self, batch_size, generator):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return super().sample(batch_size, generator)


def test_interrupted_run_resumes_to_the_same_parameters(tmp_path):
    cfg = nb.TrainConfig(steps=30, batch_size=2, lr=1e-2, eval_every=10, checkpoint_every=10,
                         lr_schedule="cosine")
    full = small(noise_rec=0.05)
    full_hist = nb.fit(full, ENV, cfg, progress=False)
    cut = small(noise_rec=0.05)
    with pytest.raises(KeyboardInterrupt):
        nb.fit(cut, _Interrupting(25, period_ms=400, duration_ms=400), cfg, out_dir=tmp_path,
               progress=False)
    assert load_checkpoint(tmp_path / CHECKPOINT)["step"] == 20
    resumed = small(noise_rec=0.05)
    hist = nb.fit(resumed, ENV, cfg, out_dir=tmp_path, resume=True, progress=False)
    for name, value in full.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name
    assert hist.loss == full_hist.loss


def test_divergence_stops_and_keeps_last_good(tmp_path, caplog):
    net = small("full", activation="linear", gain=0.9)
    cfg = nb.TrainConfig(steps=300, batch_size=2, lr=0.2, grad_clip=0.0, eval_every=0,
                         checkpoint_every=5)
    with caplog.at_level("WARNING", logger="neurobias"):
        hist = nb.fit(net, nb.envs.SineGenerator(period_ms=400, duration_ms=4000), cfg,
                      out_dir=tmp_path, progress=False)
    assert hist.diverged
    assert "diverged" in hist.message and "last good checkpoint" in hist.message
    assert len(caplog.records) == 1 and "\n" not in caplog.records[0].getMessage()
    assert all(torch.isfinite(p).all() for p in net.parameters())
    state = load_checkpoint(tmp_path / CHECKPOINT)
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert state["step"] % 5 == 0 and state["step"] < 200


def test_mismatched_resume_is_refused(tmp_path):
    nb.fit(small(), ENV, nb.TrainConfig(steps=3, eval_every=0), out_dir=tmp_path, progress=False)
    with pytest.raises(nb.train.CheckpointError, match="was made with train.lr=0.01"):
        nb.fit(small(), ENV, nb.TrainConfig(steps=3, lr=0.5, eval_every=0), out_dir=tmp_path,
               resume=True, progress=False)


def test_damaged_checkpoint_is_named(tmp_path):
    (tmp_path / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(nb.train.CheckpointError, match="is damaged or not a checkpoint"):
        load_checkpoint(tmp_path / CHECKPOINT)


def test_mask_mode_anneals_and_learns():
    net = small("mask")
    hist = nb.fit(net, ENV, nb.TrainConfig(steps=20, batch_size=2, lr=5e-2, eval_every=0,
                                           mask_beta_start=1.0, mask_beta_end=20.0),
                  progress=False)
    assert float(net.mask_beta) == pytest.approx(20.0)
    assert hist.loss[-1] < hist.loss[0]
    assert not net.training  # fit leaves the circuit in eval mode: hard masks


def test_resuming_a_finished_run_changes_nothing(tmp_path):
    cfg = nb.TrainConfig(steps=6, batch_size=2, eval_every=3, checkpoint_every=3)
    first = nb.fit(small(), ENV, cfg, out_dir=tmp_path, progress=False)
    again = nb.fit(small(), ENV, cfg, out_dir=tmp_path, resume=True, progress=False)
    assert [e["step"] for e in again.evals] == [3, 6] == [e["step"] for e in first.evals]
    assert again.loss == first.loss
    with pytest.raises(ValueError, match="resume=True needs out_dir"):
        nb.fit(small(), ENV, cfg, resume=True, progress=False)


def test_a_refused_resume_leaves_the_run_folder_as_it_was(tmp_path):
    from neurobias.config import config_from_dict

    spec = {"circuit": {"n_units": 16}, "env": {"kind": "sine", "duration_ms": 200.0},
            "train": {"steps": 4, "eval_every": 0}}
    nb.train_run(config_from_dict(spec), tmp_path, progress=False)
    before = (tmp_path / "config.json").read_text()
    spec["train"]["lr"] = 0.5
    with pytest.raises(nb.train.CheckpointError, match="was made with train.lr=0.01"):
        nb.train_run(config_from_dict(spec), tmp_path, resume=True, progress=False)
    assert (tmp_path / "config.json").read_text() == before


class _Stop(Exception):
    pass


def test_fit_calls_on_eval_at_each_periodic_evaluation_and_it_can_stop_training(tmp_path):
    cfg = nb.TrainConfig(steps=15, batch_size=1, lr=1e-2, eval_every=5, checkpoint_every=5)
    seen = []
    history = nb.fit(small(), ENV, cfg, progress=False,
                     on_eval=lambda step, m: seen.append((step, dict(m))))
    # evaluations at steps 5 and 10; the final one (step 15) is history.final, not a callback
    assert [s for s, _ in seen] == [5, 10]
    assert [m for _, m in seen] == [{k: v for k, v in e.items() if k not in ("step", "seconds")}
                                    for e in history.evals[:2]]
    assert history.evals[-1]["step"] == 15 and len(history.evals) == 3
    assert set(seen[0][1]) == {"r2", "mse"}  # metrics only

    def stop(step, metrics):
        if step == 10:
            raise _Stop

    with pytest.raises(_Stop):  # through train_run as well: no summary is written
        nb.train_run(nb.load_config(Path(__file__).parents[1] / "tasks" / "sine.toml", [
            "circuit.n_units=24", "env.duration_ms=400.0", "train.steps=15", "train.eval_every=5",
            "train.checkpoint_every=5"]), tmp_path / "b", progress=False, on_eval=stop)
    # stopped right after the evaluation at step 10: the checkpoint of step 5 is the last one
    assert load_checkpoint(tmp_path / "b" / CHECKPOINT)["step"] == 5
    assert not (tmp_path / "b" / "summary.json").exists()


def test_each_evaluation_records_the_wall_time_of_the_run_when_it_began(tmp_path, monkeypatch):
    # a clock that advances 1 s per call makes the times exact: evaluations read the clock
    # once each, so the second evaluation is later than the first by the clock calls between
    import neurobias.train as train_mod

    ticks = iter(range(10_000))
    monkeypatch.setattr(train_mod.time, "perf_counter", lambda: float(next(ticks)))
    cfg = nb.TrainConfig(steps=10, batch_size=1, eval_every=5, checkpoint_every=0)
    history = nb.fit(small(), ENV, cfg, progress=False)
    secs = [e["seconds"] for e in history.evals]
    assert [e["step"] for e in history.evals] == [5, 10]
    assert 0 < secs[0] < secs[1] <= history.seconds
    assert secs[1] == history.seconds  # the final record: the run's whole time
