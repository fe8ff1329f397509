"""analyses/reevaluate.py: a trained run scored again on many trials from an unused stream.

The known answer: asked for the run's own evaluation trials (stream "eval", eval_trials of
them), the script must give back the run's final evaluation exactly, as training wrote it."""

import importlib.util
import json
from pathlib import Path

import pytest

import neurobias as nb
from neurobias.config import config_from_dict

_spec = importlib.util.spec_from_file_location(
    "reevaluate", Path(__file__).resolve().parents[1] / "analyses" / "reevaluate.py")
rv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rv)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    cfg = config_from_dict({
        "name": "two", "circuit": {"n_units": 32, "gain": 1.0, "mode": "full"},
        "env": {"kind": "neurogym", "tasks": ["PerceptualDecisionMaking-v0", "GoNogo-v0"],
                "eval_trials": 24, "decision_weight": 0.2},
        "train": {"steps": 300, "batch_size": 16, "eval_every": 100, "lr": 1e-2}})
    # 300 steps: a circuit between chance and perfect on the first task (0.83 on its own 24
    # evaluation trials, 0.81 on the next 16), so that miscounted trials change the answer
    out = tmp_path_factory.mktemp("rv") / "sweep" / "runs" / "seed=0"
    nb.train_run(cfg, out, progress=False)
    return out


def test_own_trials_repeat_the_final_evaluation(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    again = rv.reevaluate(run_dir, 24, stream="eval")
    for task in ("PerceptualDecisionMaking", "GoNogo"):
        assert again[f"accuracy/{task}"] == summary[f"accuracy/{task}"]
    assert again["accuracy_mean"] == pytest.approx(summary["accuracy_mean"])


def test_chunks_continue_the_stream_and_are_weighted_by_size(run_dir, monkeypatch):
    # 40 trials in chunks of 24 and 16 from stream "eval": the first chunk is the run's own 24
    # evaluation trials (the summary), the second the next 16 trials of the same stream
    from neurobias.seeding import generator

    monkeypatch.setattr(rv, "CHUNK", 24)
    summary = json.loads((run_dir / "summary.json").read_text())
    run = nb.load_run(run_dir)
    gen = generator(run.config.seed, "eval")
    run.env.evaluate(run.net, gen)  # the 24 trials of the summary
    run.env.eval_trials = 16
    second = run.env.evaluate(run.net, gen)
    got = rv.reevaluate(run_dir, 40, stream="eval")
    assert 0.0 < second["accuracy/PerceptualDecisionMaking"] < 1.0
    for task in ("PerceptualDecisionMaking", "GoNogo"):
        key = f"accuracy/{task}"
        assert got[key] == pytest.approx((24 * summary[key] + 16 * second[key]) / 40)
    # the loss is continuous: a chunk drawn again from the stream's start would change it
    assert got["loss"] == pytest.approx((24 * summary["loss"] + 16 * second["loss"]) / 40)


def test_sweep_folder_skips_unfinished_runs(run_dir, tmp_path):
    unfinished = run_dir.parent / "seed=1"
    unfinished.mkdir(exist_ok=True)
    (unfinished / "config.json").write_text((run_dir / "config.json").read_text())
    found, skipped = rv.run_folders([str(run_dir.parent.parent)])
    assert found == [run_dir] and skipped == 1
    out = tmp_path / "table"
    rv.main([str(run_dir.parent.parent), "--trials", "24", "--stream", "eval", "--out", str(out)])
    text = (out / "table.md").read_text()
    assert "1 finished runs, 1 unfinished skipped" in text
    assert "Runs with every task >= 0.75 and accuracy_mean >= 0.9: " in text
    # one run has no spread: no "mean ± SD" row claiming an SD of 0
    assert "mean ± SD |" not in text
    rv.main([str(run_dir), str(run_dir), "--trials", "24", "--stream", "eval", "--out", str(out)])
    mean = json.loads((run_dir / "summary.json").read_text())["accuracy_mean"]
    assert f"| mean ± SD | {mean:.3f} ± 0.000 |" in (out / "table.md").read_text()


def test_bad_input_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        rv.main([str(tmp_path), "--out", str(tmp_path / "o")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "neither a run folder" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as stop:
        rv.main([str(tmp_path), "--trials", "0", "--out", str(tmp_path / "o")])
    assert stop.value.code == 2 and "--trials=0 is invalid" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
