"""neurobias tune: real Optuna studies over real (tiny) sine trainings."""

import csv
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from conftest import gone_within, ignore_sigint, restore_sigint, stop_and_collect

import neurobias as nb
from neurobias.cli import main
from neurobias.config import apply_overrides, config_from_dict, load_spec, tomllib
from neurobias.tune import STUDY_NAME, parse_space, tune, tune_report

ROOT = Path(__file__).parents[1]
SINE = str(ROOT / "tasks" / "sine.toml")
MULTITASK = str(ROOT / "tasks" / "multitask.toml")
# 24 units, 40 steps, 20-step trials: a run takes a fraction of a second on one thread
FAST = ["circuit.n_units=24", "train.steps=40", "train.eval_every=8", "train.checkpoint_every=0",
        "env.duration_ms=400.0", 'train.lr_schedule="constant"']


def _study(out):
    return optuna.load_study(study_name=STUDY_NAME,
                             storage=optuna.storages.JournalStorage(
                                 optuna.storages.journal.JournalFileBackend(
                                     str(Path(out) / "journal.log"))))


def test_search_finds_the_good_learning_rates_and_prunes_poor_trials(tmp_path, capsys):
    """Adam moves each tonic input by at most about lr per step, so in 40 steps lr <= 1e-4
    cannot fit the sine (R^2 of the untrained circuit, < 0); lr near 1e-2..1e-1 fits it."""
    out = tmp_path / "study"
    space = ["train.lr=1e-5:1:log", "circuit.gain=1.0,1.5"]
    result = tune(load_spec(SINE, FAST), space, out, trials=16, metric="r2", pruner="median",
                  jobs=1, threads=1, progress=False)
    study = _study(out)
    trials = study.get_trials()
    states = [t.state.name for t in trials]
    assert states.count("COMPLETE") + states.count("PRUNED") == 16 == len(trials)
    assert not result.errors and result.counts == {s: states.count(s) for s in set(states)}
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert len(pruned) > 0
    best = study.best_trial
    assert best.value > 0.9 and 3e-3 <= best.params["train.lr"] <= 0.3
    assert result.best["number"] == best.number
    for t in trials:  # the bad end of the range never does well
        if t.params["train.lr"] <= 1e-4:
            assert t.state.name == "PRUNED" or t.value < 0.0
    # the objective is the trial's own run: its summary.json, which a direct run reproduces
    summary = json.loads((out / "trials" / f"{best.number:04d}" / "summary.json").read_text())
    assert summary["r2"] == best.value
    overrides = [f"{k}={json.dumps(v)}" for k, v in best.params.items()]
    direct = nb.train_run(config_from_dict(apply_overrides(load_spec(SINE, FAST), overrides)),
                          tmp_path / "direct", progress=False)
    assert direct.summary["r2"] == pytest.approx(best.value, abs=1e-12)
    # a pruned trial stopped early (no summary) and, trained to the end, does worse than the best
    for t in pruned:
        assert max(t.intermediate_values) < 40
        assert not (out / "trials" / f"{t.number:04d}" / "summary.json").exists()
    worst = pruned[0]
    overrides = [f"{k}={json.dumps(v)}" for k, v in worst.params.items()]
    full = nb.train_run(config_from_dict(apply_overrides(load_spec(SINE, FAST), overrides)),
                        tmp_path / "pruned_full", progress=False)
    assert full.summary["r2"] < best.value - 0.05

    # the report: JSON, table, figures, and the best settings as TOML that reads back exactly
    report = json.loads((out / "tune_report.json").read_text())
    assert report["best"]["number"] == best.number and report["best"]["value"] == best.value
    assert report["counts"]["PRUNED"] == len(pruned)
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["number"]) for r in rows] == list(range(16))
    assert {float(r["train.lr"]) for r in rows} == {t.params["train.lr"] for t in trials}
    assert float(max((r for r in rows if r["state"] == "COMPLETE"),
                     key=lambda r: float(r["value"]))["value"]) == best.value
    assert tomllib.loads(report["best"]["toml"]) == {
        "train": {"lr": best.params["train.lr"]}, "circuit": {"gain": best.params["circuit.gain"]}}
    assert set(report["importances"]) == {"train.lr", "circuit.gain"}
    assert sum(report["importances"].values()) == pytest.approx(1.0)
    for name in ("history.png", "importances.png"):
        assert (out / "figures" / name).stat().st_size > 10_000

    # tune-report regenerates everything from the journal alone
    for name in ("tune_report.json", "trials.csv", "figures/history.png",
                 "figures/importances.png"):
        (out / name).unlink()
    capsys.readouterr()
    assert main(["tune-report", str(out)]) == 0
    text = capsys.readouterr().out
    assert json.loads((out / "tune_report.json").read_text()) == report
    assert (out / "figures" / "importances.png").exists()
    assert f"best: trial {best.number}, r2 = {best.value:.6g}" in text
    assert f"lr = {best.params['train.lr']!r}" in text

    # the same call again: the study is done, nothing runs
    again = tune(load_spec(SINE, FAST), space, out, trials=16, metric="r2", jobs=1, threads=1,
                 progress=False)
    assert again.submitted == [] and len(_study(out).trials) == 16
    # a journal damaged in its middle is one line, exit 2
    import shutil

    shutil.copytree(out, tmp_path / "damaged", ignore=shutil.ignore_patterns("trials"))
    lines = (tmp_path / "damaged" / "journal.log").read_bytes().split(b"\n")
    lines[3] = lines[3][:20]
    (tmp_path / "damaged" / "journal.log").write_bytes(b"\n".join(lines))
    capsys.readouterr()
    assert main(["tune-report", str(tmp_path / "damaged")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "journal.log' is damaged" in err
    # another space in the same folder is refused
    with pytest.raises(nb.ConfigError, match="holds a study of another spec"):
        tune(load_spec(SINE, FAST), ["train.lr=1e-3:1:log"], out, trials=16, metric="r2",
             jobs=1, progress=False)


def test_killed_study_resumes_without_repeating_finished_trials(tmp_path):
    out = tmp_path / "study"
    cmd = [sys.executable, "-m", "neurobias.cli", "tune", SINE, "--out", str(out),
           "--space", "train.lr=1e-3:0.1:log", "--trials", "5", "--metric", "r2",
           "--pruner", "none", "--jobs", "1", "--threads", "1", "--no-progress"]
    for item in FAST + ["train.steps=150", "train.checkpoint_every=10"]:
        cmd += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # two trials done and a third one training
        done = list(out.glob("trials/*/summary.json"))
        busy = [p for p in out.glob("trials/*/checkpoint.pt")
                if not (p.parent / "summary.json").exists()]
        if len(done) >= 2 and busy:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the command and its worker
    proc.wait()
    before = {t.number: t for t in _study(out).trials}
    finished = {n: t.value for n, t in before.items() if t.state.name == "COMPLETE"}
    killed = [n for n, t in before.items() if t.state.name == "RUNNING"]
    assert len(finished) >= 2 and len(killed) == 1, {n: t.state for n, t in before.items()}
    mtimes = {n: (out / "trials" / f"{n:04d}" / "summary.json").stat().st_mtime_ns
              for n in finished}
    assert (out / "trials" / f"{killed[0]:04d}" / "checkpoint.pt").exists()
    with open(out / "journal.log", "ab") as f:  # as if a writer had died mid-line as well
        f.write(b'{"op_code": 5, "worker_id": "dead", "trial_id": 1, "sta')

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    assert f"retried (their workers had stopped): trials {killed[0]}" in rerun.stdout
    after = {t.number: t for t in _study(out).trials}
    for n, value in finished.items():  # finished trials kept, not run again
        assert after[n].state.name == "COMPLETE" and after[n].value == value
        assert (out / "trials" / f"{n:04d}" / "summary.json").stat().st_mtime_ns == mtimes[n]
    assert after[killed[0]].state.name == "FAIL"
    assert after[killed[0]].user_attrs["failure"] == "killed"
    retry = [t for t in after.values() if t.user_attrs.get("retry_of") == killed[0]]
    assert len(retry) == 1 and retry[0].params == before[killed[0]].params
    complete = sorted(n for n, t in after.items() if t.state.name == "COMPLETE")
    assert len(complete) == 5 and set(after) == set(complete) | set(killed)
    # one run folder per completed trial: the killed run continued under its retry's number
    assert sorted(p.name for p in (out / "trials").iterdir()) == [f"{n:04d}" for n in complete]
    # and continued exactly: the same result as the uninterrupted run of those settings
    lr = retry[0].params["train.lr"]
    direct = nb.train_run(config_from_dict(load_spec(SINE, FAST + [
        "train.steps=150", "train.checkpoint_every=10", f"train.lr={lr!r}"])),
        tmp_path / "direct", progress=False)
    assert retry[0].value == pytest.approx(direct.summary["r2"], abs=1e-12)


def _start_endless_study(out, progress: str, preexec):
    """A study of 3 trials that never finish (100000 steps each), one worker, started in its
    own session."""
    cmd = [sys.executable, "-m", "neurobias.cli", "tune", SINE, "--out", str(out),
           "--space", "train.lr=1e-3:0.1:log", "--trials", "3", "--pruner", "none",
           "--jobs", "1", "--threads", "1", progress]
    for item in FAST[:1] + ["train.steps=100000", "train.checkpoint_every=50",
                            "env.duration_ms=400.0"]:
        cmd += ["--set", item]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _wait_for_first_trial(out) -> None:
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "trials" / "0000" / "checkpoint.pt").exists():
        time.sleep(0.1)  # the first trial is training


def test_ctrl_c_stops_a_local_study_in_its_own_words(tmp_path):
    out = tmp_path / "study"
    proc = _start_endless_study(out, "--progress", restore_sigint)
    first_line = proc.stderr.readline()
    _wait_for_first_trial(out)
    rest = stop_and_collect(proc, signal.SIGINT)
    assert first_line.startswith("tune: 0/3 trials (0%)")
    assert proc.returncode == 130, rest
    assert rest.strip().splitlines()[-1] == (
        "neurobias: tune interrupted: finished trials are kept in the study's journal; the same "
        "command resumes it (trials that were running are asked again)")
    assert "Traceback" not in rest
    assert [t.state.name for t in _study(out).trials] == ["RUNNING"]  # asked again next time


def test_sigterm_stops_a_study_started_in_the_background_and_its_worker(tmp_path):
    # a study started as a shell's background job ignores SIGINT, and so do the workers it
    # starts: submitit's cancel (a SIGINT) reaches nothing, and the worker must still stop
    out = tmp_path / "study"
    proc = _start_endless_study(out, "--no-progress", ignore_sigint)
    _wait_for_first_trial(out)
    worker = int(_study(out).trials[0].user_attrs["worker"].rpartition(":")[2])
    rest = stop_and_collect(proc, signal.SIGTERM)
    assert proc.returncode == 143, rest
    assert gone_within(worker)


def test_slurm_jobs_run_trials_against_the_shared_journal(tmp_path, monkeypatch):
    """Without a cluster: fake srun/sbatch on PATH capture what submitit submits."""
    from submitit.core.utils import DelayedSubmission

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    captured = tmp_path / "submitted.sh"
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(f"#!/bin/sh\ncp \"$1\" {captured}\n"
                                    "echo 'Submitted batch job 4242'\n")
    for f in bin_dir.iterdir():
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "study"
    slurm = {"partition": "gpu", "time_min": 120, "gpus": 1, "cpus": 4, "mem_gb": 8,
             "setup": ["source ~/venv/bin/activate"]}
    result = tune(load_spec(SINE, FAST), ["train.lr=1e-4:1:log"], out, trials=20,
                  metric="r2", executor="slurm", jobs=3, slurm=slurm, progress=False)
    assert result.submitted == ["4242_0", "4242_1", "4242_2"]
    script = captured.read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=120", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --mem=8GB", "#SBATCH --array=0-2%3",
                 "#SBATCH --job-name=neurobias", "source ~/venv/bin/activate"):
        assert line in script, line
    assert f"-m submitit.core._submit {out / 'submitit'}" in script
    manifest = json.loads((out / "tune.json").read_text())
    assert [j["job_id"] for j in manifest["jobs"]] == result.submitted
    # every job runs the worker loop on this study folder (its journal) up to 20 trials
    pickles = sorted((out / "submitit").glob("4242_*_submitted.pkl"))
    assert len(pickles) == 3
    for path in pickles:
        job = DelayedSubmission.load(path)
        assert job.function.__name__ == "run_worker" and job.args[0] == str(out)
        assert job.args[1]["trials"] == 20 and job.args[1]["space"] == ["train.lr=0.0001:1:log"]
        assert job.args[2] == 4  # threads: the job's cpus
    assert (out / "journal.log").exists() and not (out / "trials").exists()
    assert len(_study(out).trials) == 0


@pytest.mark.parametrize("args, match", [
    (["--space", "circuit.units=1:3"], "--space circuit.units is not a known setting"),
    (["--space", "circuit.gain=3:1"], "LO must be less than HI"),
    (["--space", "train.lr=0:1:log"], "a log range needs LO > 0"),
    (["--space", "circuit.gain=-1:3"], "circuit.gain=-1.0 is invalid: must be a number >= 0"),
    (["--space", "circuit.mode=bias,weights"], "circuit.mode='weights' is invalid: allowed"),
    (["--space", "circuit.n_units=16:64"], "use circuit.n_units=16:64:int"),
    (["--space", "circuit.n_units=16.5:64:int"], "an integer range needs integer ends"),
    (["--space", "circuit.gain=1"], "expected KEY=LO:HI"),
    (["--space", "circuit.gain=1:3:cubic"], "'cubic' is not a range kind"),
    (["--space", "seed=0:3"], "--space seed is not allowed"),
    (["--space", "env.decision_weight=0.1,0.5"], "env.decision_weight is not a parameter of "
                                                 "env 'sine'"),
    (["--space", "circuit.gain=1:3", "--metric", "accuracy"],
     "--metric 'accuracy' is not a metric of env 'sine': allowed: mse, r2"),
    (["--space", "circuit.gain=1:3", "--set", "train.eval_every=0"],
     "--pruner median needs evaluations during training"),
    (["--space", "circuit.gain=1:3", "--trials", "0"], "--trials=0 is invalid"),
    ([], "a study needs at least one --space"),
])
def test_bad_input_is_one_line_exit_2_before_any_run(tmp_path, capsys, args, match):
    argv = ["tune", SINE, "--out", str(tmp_path / "st"), "--trials", "3", *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err, err
    assert not (tmp_path / "st").exists()


def test_a_neurogym_value_the_env_refuses_is_caught_before_any_run(tmp_path, capsys):
    argv = ["tune", MULTITASK, "--out", str(tmp_path / "st"), "--trials", "3",
            "--space", "circuit.gain=1:3", "--space", "circuit.readout_scale=3:100:log",
            "--space", "env.decision_weight=0,0.5"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "env.decision_weight=0" in err and "must be > 0" in err
    assert not (tmp_path / "st").exists()


def test_space_strings_round_trip():
    items = ["circuit.gain=1:3", "circuit.readout_scale=3:100:log", "circuit.n_units=16:64:int",
             'env.decision_weight=0.1,0.2,0.5', 'circuit.mode="bias","full"']
    space = parse_space(items)
    assert [p.kind for p in space.values()] == ["float", "log", "int", "categorical",
                                                "categorical"]
    assert space["circuit.mode"].choices == ("bias", "full")
    assert parse_space([p.text() for p in space.values()]) == space
    with pytest.raises(nb.ConfigError, match="is not a study folder"):
        tune_report("/nonexistent")


def test_local_workers_are_spread_over_this_commands_gpus(tmp_path, monkeypatch):
    from submitit.core.utils import DelayedSubmission
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    out = tmp_path / "study"
    result = tune(load_spec(SINE, FAST), ["train.lr=1e-3:1:log"], out, trials=2, metric="r2",
                  jobs=2, threads=1, progress=False)
    handed = [DelayedSubmission.load(out / "submitit" / f"{job}_submitted.pkl").args[3]
              for job in result.submitted]
    assert sorted(handed) == ["4", "6"]
    assert len(_study(out).trials) == 2
    # the worker itself sets the device it is handed (the study is done: it returns at once)
    from neurobias.tune.worker import run_worker
    settings = DelayedSubmission.load(out / "submitit" /
                                      f"{result.submitted[0]}_submitted.pkl").args[1]
    run_worker(str(out), settings, 1, "6")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "6"
