"""`neurobias analyze RUN`: results into run.h5 (/analysis) beside everything else, unchanged."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from neurobias.analyze import read_analysis
from neurobias.cli import main

ROOT = Path(__file__).parents[1]
MULTITASK = str(ROOT / "tasks" / "multitask.toml")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mt"
    argv = ["train", MULTITASK, "--out", str(out), "--no-progress"]
    for item in ('env.tasks=["PerceptualDecisionMaking-v0","GoNogo-v0","yang19.go-v0"]',
                 "circuit.n_units=32", "train.steps=15", "train.eval_every=15",
                 "env.eval_trials=16"):
        argv += ["--set", item]
    assert main(argv) == 0
    assert main(["export", str(out), "--trials", "48", "--no-progress"]) == 0
    return out


def test_analyze_writes_analysis_and_keeps_the_rest(small_run, capsys):
    h5 = small_run / "run.h5"
    with h5py.File(h5, "r") as f:
        rates = f["activity/rates"][:]
        names = set()
        f.visit(names.add)
    argv = ["analyze", str(small_run), "--starts", "8", "--shuffles", "50", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "fixed points" in out and "participation ratio" in out
    res = read_analysis(h5)
    tasks = [t.decode() if isinstance(t, bytes) else str(t) for t in res["@"]["tasks"]]
    assert tasks == ["PerceptualDecisionMaking", "GoNogo", "yang19.go"]
    assert res["task_variance"].shape == (32, 3) and np.all(res["task_variance"] >= 0)
    assert set(res["fixed_points"]) - {"@"} == set(tasks)
    assert "lesions" in res and res["lesions"]["accuracy"].shape[1] == 3
    if "clusters" in res:  # an untrained circuit may have too few varying units
        labels = res["clusters"]["labels"]
        assert labels.shape == (32,) and labels.max() + 1 == res["clusters"]["@"]["n_clusters"]
    with h5py.File(h5, "r") as f:  # everything else is untouched
        np.testing.assert_array_equal(f["activity/rates"][:], rates)
        after = set()
        f.visit(after.add)
    assert names - {"analysis"} <= after
    assert not list(small_run.glob(".run.h5.tmp-*"))
    for png in ("fixed_points.png", "jacobian_spectrum.png", "dimensionality.png"):
        assert (small_run / "figures" / png).stat().st_size > 5000
    # info names what the analysis holds in one line
    assert main(["info", str(h5)]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("analysis ")]
    assert len(line) == 1 and "fixed_points" in line[0] and "task_variance" in line[0]
    # a second analysis replaces the first one
    assert main(argv) == 0


def test_analyze_bad_input_is_one_line(tmp_path, capsys):
    assert main(["analyze", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a run folder" in err
    assert main(["analyze", str(tmp_path), "--starts", "0"]) == 2
    assert "--starts=0 is invalid" in capsys.readouterr().err
