"""analyses/hard_tasks_psychometric.py: the direction of a stimulus, and wrong trials sorted by
kind. The known answer for the direction: NeuroGym's own ground truth, which is the stronger
stimulus's direction."""

import importlib.util
from pathlib import Path

import pytest
import torch

import neurobias as nb
from neurobias.config import config_from_dict, load_config

_spec = importlib.util.spec_from_file_location(
    "hard", Path(__file__).resolve().parents[1] / "analyses" / "hard_tasks_psychometric.py")
hard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hard)

ROOT = Path(__file__).resolve().parents[1]


def test_direction_of_the_stronger_stimulus_is_the_ground_truth():
    env = load_config(ROOT / "tasks" / "multitask.toml").env.build(20.0)
    for task in hard.TASKS:
        b = env.batch_for_task(env.task_names.index(task), 200, torch.Generator().manual_seed(3))
        c = b.conditions
        stronger = torch.where(c["coh1_mod1"] > c["coh2_mod1"], hard._direction(c["theta1"]),
                               hard._direction(c["theta2"]))
        last = c["decision_end"] - 1
        truth = b.targets[last, torch.arange(200), 0].long()
        assert torch.equal(stronger, truth)
        # and the weaker stimulus is somewhere else on the ring in most trials
        weaker = torch.where(c["coh1_mod1"] > c["coh2_mod1"], hard._direction(c["theta2"]),
                             hard._direction(c["theta1"]))
        assert (weaker != truth).float().mean() > 0.8


def test_every_wrong_trial_is_counted_once(tmp_path):
    cfg = config_from_dict({
        "name": "hard", "circuit": {"n_units": 32, "gain": 2.0, "readout_scale": 30.0},
        "env": {"kind": "neurogym", "tasks": ["yang19.dm1-v0", "yang19.ctxdm1-v0"],
                "eval_trials": 8, "decision_weight": 0.2},
        "train": {"steps": 2, "batch_size": 4, "eval_every": 2}})
    nb.train_run(cfg, tmp_path / "run", progress=False)
    errors: dict[str, int] = {}
    tally = hard.by_evidence(tmp_path / "run", "yang19.dm1", 40, errors)
    correct = sum(c for c, _ in tally.values())
    assert sum(t for _, t in tally.values()) == 40
    assert set(tally) <= {0.08, 0.16, 0.32, 0.64}
    assert correct + sum(errors.values()) == 40
    assert set(errors) == set(hard.ERRORS)


def test_error_kinds_on_hand_made_trials():
    t = torch.tensor
    # trials: right; fixation break; the other stimulus (9); one step each way, and across the
    # ring's seam (truth 1, choice 16); two steps off; fixation at the answer without a break
    # (also when the truth is direction 1, next to fixation's index 0)
    truth = t([3, 3, 3, 3, 3, 1, 3, 3, 1])
    choice = t([3, 0, 9, 4, 2, 16, 5, 0, 0])
    other = t([9, 9, 9, 9, 9, 9, 9, 9, 9])
    correct = t([True] + [False] * 8)
    fix_break = t([False, True] + [False] * 7)
    kinds = hard.error_kinds(correct, fix_break, choice, truth, other)
    assert [int(kinds["fixation break"][i]) for i in range(9)] == [0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert [int(kinds["the other stimulus"][i]) for i in range(9)] == [0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert [int(kinds["a neighbouring direction"][i]) for i in range(9)] == \
        [0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert [int(kinds["elsewhere"][i]) for i in range(9)] == [0, 0, 0, 0, 0, 0, 1, 1, 1]


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    for argv, says in ((["x=" + str(tmp_path), "--out", str(tmp_path / "o")], "LABEL=RUN_DIR"),
                       (["--trials", "0", "x=y", "--out", str(tmp_path / "o")], "--trials=0")):
        with pytest.raises(SystemExit) as stop:
            hard.main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and says in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
