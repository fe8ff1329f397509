"""neurobias compare: two activity sets matched on conditions and time."""

import json

import numpy as np
import pytest

import neurobias as nb
from neurobias.cli import main
from neurobias.compare import CompareError, compare
from neurobias.config import config_from_dict
from neurobias.io import export_nwb


@pytest.fixture(scope="module")
def two_task_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cmp")
    cfg = config_from_dict({
        "name": "two", "seed": 1, "circuit": {"n_units": 12},
        "env": {"kind": "neurogym", "tasks": ["yang19.dm1-v0", "yang19.dms-v0"],
                "eval_trials": 4},
        "train": {"steps": 2, "batch_size": 4, "eval_every": 0}})
    return nb.train_run(cfg, folder / "run", progress=False)


def _npz(path, activity, condition, dt_ms=20.0):
    np.savez(path, activity=activity, condition=np.asarray(condition), dt_ms=dt_ms,
             unit="a.u.")
    return path


def test_a_run_against_its_own_nwb_export_is_identical(two_task_run, tmp_path, capsys):
    run = two_task_run
    nwb = export_nwb(run, tmp_path / "r.nwb", n_trials=8, progress=False)
    # the run folder gets its run.h5 exported with the same trials (first 8 of the stream)
    nb.io.export(run, run.path / "run.h5", n_trials=8, progress=False, force=True)
    comp = compare(run.path, nwb)
    assert comp.conditions == ("yang19.dm1", "yang19.dms")
    s = comp.similarity
    assert s.procrustes == pytest.approx(0.0, abs=1e-3)
    assert s.cka == pytest.approx(1.0, abs=1e-6)
    assert s.rsa == pytest.approx(1.0, abs=1e-6) and s.unit_variance_r == pytest.approx(1.0)
    fig = tmp_path / "c.png"
    assert main(["compare", str(run.path), str(nwb), "--figure", str(fig),
                 "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "linear CKA" in out and "2 conditions (yang19.dm1, yang19.dms)" in out
    assert fig.stat().st_size > 10_000
    assert json.loads((tmp_path / "c.json").read_text())["cka"] == pytest.approx(1.0, abs=1e-6)


def test_condition_averages_of_rotated_recordings_have_the_same_shape(tmp_path):
    rng = np.random.default_rng(0)
    cond = np.repeat(["left", "right", "up"], 10)
    latent = rng.normal(size=(3, 1, 25, 4)) + rng.normal(size=(3, 10, 25, 4)) * 0.3
    act = np.tanh(latent.reshape(30, 25, 4) @ rng.normal(size=(4, 6)))
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    a = _npz(tmp_path / "a.npz", act, cond)
    b = _npz(tmp_path / "b.npz", 2.0 * act @ q, cond)  # B: A rotated, reflected and scaled
    comp = compare(a, b, dt_ms=20.0)
    assert comp.similarity.procrustes == pytest.approx(0.0, abs=1e-3)  # a linear map commutes
    assert comp.similarity.cka == pytest.approx(1.0, abs=1e-5)           # with averaging
    # the condition means by hand
    np.testing.assert_allclose(comp.a[:, 1], act[cond == "right"].mean(0), rtol=1e-5,
                               atol=1e-6)
    # shuffled condition labels in B: no longer the same shape
    c = _npz(tmp_path / "c.npz", 2.0 * act @ q, rng.permutation(cond))
    assert compare(a, c, dt_ms=20.0).similarity.procrustes > 0.2


def test_bad_pairs_are_one_line_exit_2(two_task_run, tmp_path, capsys):
    rng = np.random.default_rng(1)
    act = rng.normal(size=(8, 20, 5))
    a = _npz(tmp_path / "a.npz", act, ["x"] * 4 + ["y"] * 4)
    other = _npz(tmp_path / "o.npz", act, ["x"] * 4 + ["z"] * 4)
    short = _npz(tmp_path / "s.npz", act[:, :15], ["x"] * 4 + ["y"] * 4)
    cases = [([str(a), str(other), "--dt-ms", "20"], "different conditions: only in A: y; "
                                                       "only in B: z"),
             ([str(a), str(short), "--dt-ms", "20"], "lasts 20 steps in A and 15 in B"),
             ([str(a), str(short)], "--dt-ms"),
             ([str(a), str(tmp_path / "missing.h5"), "--dt-ms", "20"], "does not exist"),
             ([str(a), str(a), "--dt-ms", "-1"], "--dt-ms=-1.0 is invalid")]
    for argv, message in cases:
        assert main(["compare", *argv, "--figure", str(tmp_path / "f.png")]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)
    assert not (tmp_path / "f.png").exists()
    # a run file without activity
    bare = nb.io.export(two_task_run, tmp_path / "bare.h5", n_trials=2, activity=False,
                        progress=False)
    with pytest.raises(CompareError, match="without /activity/rates"):
        compare(bare, bare)
