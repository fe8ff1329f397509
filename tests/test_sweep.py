import csv
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import gone_within, ignore_sigint, restore_sigint, stop_and_collect

import neurobias as nb
from neurobias.cli import main
from neurobias.config import apply_overrides, config_from_dict, load_spec
from neurobias.sweep import parse_grid, parse_time_min, sweep, sweep_report

ROOT = Path(__file__).parents[1]
SINE = str(ROOT / "tasks" / "sine.toml")
FAST = ["circuit.n_units=24", "train.steps=15", "train.eval_every=0", "train.checkpoint_every=5",
        "env.duration_ms=400.0"]


def spec():
    return load_spec(SINE, FAST)


def test_local_grid_finishes_and_report_is_right(tmp_path):
    grid = {"circuit.n_units": [128, 16], "circuit.mode": ["bias", "full"]}
    result = sweep(spec(), grid, tmp_path, seeds=2, jobs=2, progress=False)
    assert len(result.runs) == 8 and set(result.runs.values()) == {"finished"}
    assert len(result.submitted) == 8 and not result.errors
    rows, text, figure = sweep_report(tmp_path)
    assert len(rows) == 8 and figure.exists()
    with open(tmp_path / "report.csv") as f:
        table = list(csv.DictReader(f))
    assert {(r["circuit.n_units"], r["circuit.mode"], r["seed"]) for r in table} == {
        (n, m, s) for n in ("16", "128") for m in ("bias", "full") for s in ("0", "1")}
    # numeric grid values are ordered as numbers (16 before 128), in the table and the text
    assert [r["circuit.n_units"] for r in table] == ["16"] * 4 + ["128"] * 4
    assert [line.split(",")[0].split() for line in text.splitlines()[1:]] == \
        [["circuit.n_units=16"]] * 2 + [["circuit.n_units=128"]] * 2
    # a row's value is that run's own result, which a direct run of the same settings reproduces
    row = next(r for r in table if r["circuit.n_units"] == "16" and r["circuit.mode"] == "full"
               and r["seed"] == "1")
    cfg = config_from_dict(apply_overrides(spec(), ["circuit.n_units=16", "circuit.mode=\"full\"",
                                                    "seed=1"]))
    direct = nb.train_run(cfg, tmp_path / "direct", progress=False)
    assert float(row["r2"]) == pytest.approx(direct.summary["r2"], abs=1e-12)
    assert int(row["n_trainable"]) == direct.summary["n_trainable"]
    # the text summary averages over seeds
    pair = [float(r["r2"]) for r in table if r["circuit.n_units"] == "128"
            and r["circuit.mode"] == "bias"]
    assert f"{sum(pair) / 2:.4f} ±" in text.splitlines()[3]
    # running it again submits nothing
    again = sweep(spec(), grid, tmp_path, seeds=2, progress=False)
    assert again.submitted == [] and len(again.skipped) == 8


def test_killed_sweep_resumes_only_missing_runs(tmp_path):
    out = tmp_path / "sw"
    cmd = [sys.executable, "-m", "neurobias.cli", "sweep", SINE, "--out", str(out),
           "--grid", "circuit.n_units=16,24", "--grid", "circuit.gain=1.0,1.5", "--seeds", "2",
           "--jobs", "1", "--no-progress"]
    for item in FAST:
        cmd += ["--set", item]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if len(list(out.glob("runs/*/summary.json"))) >= 2:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and the run it was running
    proc.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("runs/*/summary.json")}
    assert 2 <= len(finished) < 8
    grid = parse_grid(["circuit.n_units=16,24", "circuit.gain=1.0,1.5"])
    result = sweep(spec(), grid, out, seeds=2, jobs=2, progress=False)
    assert sorted(result.skipped) == sorted(finished)
    assert sorted(result.submitted) == sorted(set(result.runs) - set(finished))
    assert set(result.runs.values()) == {"finished"}
    for name, mtime in finished.items():  # finished runs were not touched
        assert (out / "runs" / name / "summary.json").stat().st_mtime_ns == mtime
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(e["state"] == "finished" for e in manifest["runs"].values())


def test_slurm_sbatch_script(tmp_path, monkeypatch):
    """Without a cluster: fake srun/sbatch on PATH capture what submitit submits."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    captured = tmp_path / "submitted.sh"
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(f"#!/bin/sh\ncp \"$1\" {captured}\n"
                                    "echo 'Submitted batch job 4242'\n")
    for f in bin_dir.iterdir():
        f.chmod(f.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    grid = {"circuit.n_units": [16, 24], "circuit.mode": ["bias", "full"]}
    slurm = {"partition": "gpu", "time_min": parse_time_min("1:30:00"), "gpus": 1, "cpus": 4,
             "mem_gb": 8, "setup": ["source ~/venv/bin/activate"]}
    result = sweep(spec(), grid, tmp_path / "sw", seeds=2, executor="slurm", jobs=3,
                   slurm=slurm, progress=False)
    assert len(result.submitted) == 8
    script = captured.read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=90", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --mem=8GB", "#SBATCH --array=0-7%3",
                 "#SBATCH --job-name=neurobias", "source ~/venv/bin/activate"):
        assert line in script, line
    assert f"-m submitit.core._submit {tmp_path / 'sw' / 'submitit'}" in script
    manifest = json.loads((tmp_path / "sw" / "manifest.json").read_text())
    ids = sorted(e["job_id"] for e in manifest["runs"].values())
    assert ids == [f"4242_{k}" for k in range(8)]
    assert all(e["state"] == "submitted" for e in manifest["runs"].values())
    # each array task has its pickled run waiting
    pickles = list((tmp_path / "sw" / "submitit").glob("4242_*_submitted.pkl"))
    assert len(pickles) == 8


@pytest.mark.parametrize("grid, match", [
    (["circuit.units=1,2"], "--grid circuit.units is not a known setting"),
    (["circuit.n_units="], "--grid circuit.n_units has no values"),
    (["circuit.n_units=16,abc"], "circuit.n_units='abc' is invalid: must be an integer"),
    (["circuit.mode=bias,weights"], "circuit.mode='weights' is invalid: allowed: bias"),
    (["circuit.n_units"], "expected KEY=V1,V2"),
    (["seed=1,2"], "--grid seed is not allowed: use --seeds"),
])
def test_bad_grid_one_line_nothing_submitted(tmp_path, capsys, grid, match):
    argv = ["sweep", SINE, "--out", str(tmp_path / "sw")]
    for item in grid:
        argv += ["--grid", item]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err, err
    assert not (tmp_path / "sw").exists()


def test_other_errors(tmp_path, capsys):
    sweep(spec(), {"circuit.n_units": [16]}, tmp_path, progress=False)
    with pytest.raises(nb.ConfigError, match="holds a sweep of another spec"):
        sweep(spec(), {"circuit.n_units": [24]}, tmp_path, progress=False)
    with pytest.raises(nb.ConfigError, match="--metric 'accuracy' is not in the summaries"):
        sweep_report(tmp_path, metric="accuracy")
    with pytest.raises(nb.ConfigError, match="--slurm-time='soon' is invalid"):
        parse_time_min("soon")
    assert parse_time_min("1-00:00:00") == 1440 and parse_time_min("45") == 45
    assert parse_time_min("30:00") == 30 and parse_time_min("1:30:00") == 90
    assert parse_time_min("1-12") == 2160 and parse_time_min("2-01:30") == 2970
    assert parse_time_min("10:30") == 11  # minutes:seconds, rounded up
    assert main(["sweep-report", str(tmp_path / "nothing")]) == 2
    assert "is not a sweep folder" in capsys.readouterr().err


def test_ctrl_c_stops_a_local_sweep_in_its_own_words(tmp_path):
    out = tmp_path / "sw"
    cmd = [sys.executable, "-m", "neurobias.cli", "sweep", SINE, "--out", str(out),
           "--grid", "circuit.n_units=16,24", "--seeds", "2", "--jobs", "1", "--progress"]
    for item in FAST[:-1] + ["train.steps=100000", "env.duration_ms=400.0"]:
        cmd += ["--set", item]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=restore_sigint,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    first_line = proc.stderr.readline()
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("runs/*/checkpoint.pt")):
        time.sleep(0.1)  # the first run is training
    rest = stop_and_collect(proc, signal.SIGINT)
    assert first_line.startswith("sweep: 0/4 runs (0%)")
    assert proc.returncode == 130, rest
    assert rest.strip().splitlines()[-1] == (
        "neurobias: sweep interrupted: the runs started here were stopped; finished runs and "
        "checkpoints are kept; the same command continues the sweep")
    assert "Traceback" not in rest
    manifest = json.loads((out / "manifest.json").read_text())
    assert not any(e.get("state") == "finished" for e in manifest["runs"].values())


@pytest.mark.parametrize("n_runs,jobs,threads,cores,expected", [
    (6, None, None, 2, (2, 1)),    # default: one run per core, one thread each
    (6, 1, None, 2, (1, 2)),       # one run at a time gets every core
    (6, None, 1, 16, (6, 1)),      # one thread each: as many runs as there are runs left
    (6, None, 2, 2, (1, 2)),       # two threads each on two cores: one run at a time
    (6, None, 4, 16, (4, 4)),
    (1, None, None, 16, (1, 16)),  # a lone run gets every core
    (6, 1, 1, 2, (1, 1)),          # asked for: kept
])
def test_local_plan_never_oversubscribes(n_runs, jobs, threads, cores, expected):
    from neurobias.sweep import plan_local
    got = plan_local(n_runs, jobs, threads, cores)
    assert got == expected
    if jobs is None:
        assert got[0] * got[1] <= cores


@pytest.mark.parametrize("jobs,threads,match", [(2, 2, "oversubscribe"),
                                                (None, 3, "--threads=3 is more than the 2 cores"),
                                                (3, None, "--jobs=3 is more than the 2 cores")])
def test_oversubscribing_jobs_and_threads_are_refused(tmp_path, jobs, threads, match):
    from neurobias.sweep import plan_local
    with pytest.raises(nb.ConfigError, match=match):
        plan_local(6, jobs, threads, 2)


def test_threads_reach_the_runs_and_the_cli_refuses_bad_ones(tmp_path, capsys, monkeypatch):
    import torch

    from neurobias.sweep import run_point
    result = sweep(spec(), {"circuit.n_units": [16]}, tmp_path / "s", seeds=2, jobs=1,
                   threads=1, progress=False)
    assert set(result.runs.values()) == {"finished"}
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert [e["threads"] for e in manifest["runs"].values()] == [1, 1]
    before = torch.get_num_threads()
    try:  # a run sets the threads it is given in its own process
        cfg = config_from_dict(apply_overrides(spec(), ["circuit.n_units=16"]))
        torch.set_num_threads(2)
        run_point(json.loads(json.dumps(cfg.to_dict())), str(tmp_path / "one"), 1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    monkeypatch.setattr(sys.modules["neurobias.sweep"], "available_cores", lambda: 2)
    capsys.readouterr()
    for argv in (["--jobs", "2", "--threads", "2"], ["--threads", "0"]):
        code = main(["sweep", str(SINE), "--grid", "circuit.n_units=16", "--out",
                     str(tmp_path / "bad"), "--no-progress", *argv])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and "--threads" in err
        assert not (tmp_path / "bad").exists()
    code = main(["train", str(SINE), "--out", str(tmp_path / "t"), "--threads", "0"])
    assert code == 2 and "--threads" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_more_seeds_add_runs_to_a_finished_sweep(tmp_path, capsys, monkeypatch):
    grid = {"circuit.gain": [1.0, 1.5]}
    first = sweep(spec(), grid, tmp_path, seeds=1, jobs=1, threads=1, progress=False)
    assert sorted(first.submitted) == ["circuit.gain=1.0__seed=0", "circuit.gain=1.5__seed=0"]
    # one seed per point: no SD is claimed, in the text or the figure
    sw = sys.modules["neurobias.sweep"]  # the package exports the function of that name
    drawn = []
    monkeypatch.setattr(sw, "save_figure_atomic",
                        lambda fig, path, dpi: drawn.append(fig) or Path(path))
    _, text, _ = sweep_report(tmp_path)
    assert [line.split()[-5:] for line in text.splitlines()[1:]] == \
        [["(one", "seed:", "no", "SD)", "(n=1)"]] * 2
    assert "±" not in text.split("\n", 1)[1]
    ax = drawn[0].axes[0]
    rings = [ln for ln in ax.get_lines() if ln.get_marker() == "s"]
    assert [list(ln.get_xdata()) for ln in rings] == [[1.0, 1.5]]
    assert ax.get_legend_handles_labels()[1] == ["one seed (no SD)"]
    mtimes = {p.parent.name: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/summary.json")}
    more = sweep(spec(), grid, tmp_path, seeds=2, jobs=1, threads=1, progress=False)
    assert sorted(more.skipped) == sorted(first.submitted)
    assert sorted(more.submitted) == ["circuit.gain=1.0__seed=1", "circuit.gain=1.5__seed=1"]
    assert set(more.runs.values()) == {"finished"} and len(more.runs) == 4
    for name, mtime in mtimes.items():  # the first seed's runs were not touched
        assert (tmp_path / "runs" / name / "summary.json").stat().st_mtime_ns == mtime
    assert json.loads((tmp_path / "manifest.json").read_text())["seeds"] == 2
    drawn.clear()
    rows, text, _ = sweep_report(tmp_path)
    assert sorted(r["seed"] for r in rows) == [0, 0, 1, 1]
    body = text.split("\n", 1)[1]  # the lines after the header
    assert "one seed" not in body and body.count("±") == 2  # two seeds: an SD each
    assert not [ln for ln in drawn[0].axes[0].get_lines() if ln.get_marker() == "s"]
    # fewer seeds than the folder holds: one line, exit 2, nothing run
    cmd = ["sweep", SINE, "--out", str(tmp_path), "--grid", "circuit.gain=1.0,1.5",
           "--seeds", "1", "--no-progress"]
    for item in FAST:
        cmd += ["--set", item]
    assert main(cmd) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a sweep of 2 seeds; give --seeds 2 or more" in err[0]


def test_sigterm_stops_a_local_sweep_and_its_runs(tmp_path):
    # kill (SIGTERM) is how a session, a script or a scheduler stops a command: the sweep
    # stops the run it started instead of leaving it to train on alone
    out = tmp_path / "sw"
    cmd = [sys.executable, "-m", "neurobias.cli", "sweep", SINE, "--out", str(out),
           "--grid", "circuit.n_units=16,24", "--jobs", "1", "--threads", "1", "--no-progress"]
    for item in FAST[:-1] + ["train.steps=100000", "env.duration_ms=400.0"]:
        cmd += ["--set", item]
    # started as a shell's background job: submitit's cancel (a SIGINT) then reaches nothing
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True,
                            preexec_fn=ignore_sigint)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("runs/*/checkpoint.pt")):
        time.sleep(0.1)  # the first run is training
    locks = list(out.glob("runs/*/running.pid"))
    run_pid = int(locks[0].read_text().rsplit(":", 1)[1]) if locks else None
    rest = stop_and_collect(proc, signal.SIGTERM)
    assert run_pid is not None, "no run started"
    assert proc.returncode == 143, rest
    assert rest.strip().splitlines()[-1] == (
        "neurobias: sweep terminated (SIGTERM): the runs started here were stopped; finished "
        "runs and checkpoints are kept; the same command continues the sweep")
    assert gone_within(run_pid)


def test_local_runs_and_workers_see_this_commands_gpus(tmp_path, monkeypatch):
    import torch
    from submitit import LocalExecutor

    from neurobias.sweep import least_busy, local_gpus, see_gpu
    for visible, seen in (("3, GPU-5f2e", ["3", "GPU-5f2e"]), ("", []), ("-1", []),
                          ("0,-1,1", ["0"]), ("MIG-a1,x,2", ["MIG-a1"])):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
        assert local_gpus() == seen, visible
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert local_gpus() == [str(i) for i in range(torch.cuda.device_count())]
    with monkeypatch.context() as m:  # unset: every device torch counts, by index
        m.setattr(torch.cuda, "device_count", lambda: 2)
        assert local_gpus() == ["0", "1"]
    assert least_busy(["0", "1"], ["0", None]) == "1"
    assert least_busy(["0", "1"], ["1", "1", "0"]) == "0"
    assert least_busy(["0", "1"], ["0", "1"]) == "0"  # a tie goes to the first
    assert least_busy([], ["0"]) is None
    # three runs, two at a time, on the two devices this command sees: one each, then the third
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7,9")
    result = sweep(spec(), {"circuit.n_units": [16]}, tmp_path / "s", seeds=3, jobs=2,
                   threads=1, progress=False)
    assert set(result.runs.values()) == {"finished"}
    runs = json.loads((tmp_path / "s" / "manifest.json").read_text())["runs"]
    gpus = [runs[name]["gpu"] for name in result.submitted]
    assert sorted(gpus[:2]) == ["7", "9"] and len(gpus) == 3
    from submitit.core.utils import DelayedSubmission
    for name, gpu in zip(result.submitted, gpus, strict=True):  # what each job was handed
        call = DelayedSubmission.load(tmp_path / "s" / "submitit" /
                                      f"{runs[name]['job_id']}_submitted.pkl")
        assert call.function.__name__ == "run_point" and call.args[3] == gpu
    # runs kept on the CPU are handed no device and leave none in the manifest
    cpu_spec = apply_overrides(spec(), ['train.device="cpu"'])
    sweep(cpu_spec, {"circuit.n_units": [16]}, tmp_path / "c", seeds=1, jobs=1, threads=1,
          progress=False)
    entry = next(iter(json.loads((tmp_path / "c" / "manifest.json").read_text())["runs"].values()))
    assert "gpu" not in entry and entry["state"] == "finished"
    call = DelayedSubmission.load(tmp_path / "c" / "submitit" / f"{entry['job_id']}_submitted.pkl")
    assert call.args[3] == ""
    # a run sets the device it is handed in its own process before it asks for CUDA (seen by
    # the device choice itself); None keeps the variable
    from neurobias.sweep import run_point
    cfg = json.loads(json.dumps(config_from_dict(apply_overrides(
        spec(), ["circuit.n_units=8", "train.steps=2"])).to_dict()))
    asked = []
    real = torch.cuda.is_available
    monkeypatch.setattr(torch.cuda, "is_available",
                        lambda: asked.append(os.environ.get("CUDA_VISIBLE_DEVICES")) or real())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7,9")
    run_point(cfg, str(tmp_path / "one"), 1, "9")
    assert asked and set(asked) == {"9"}
    asked.clear()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7,9")
    run_point(cfg, str(tmp_path / "two"), 1)
    assert asked and set(asked) == {"7,9"}
    # why it is needed: submitit's local executor starts every job with no GPU visible; a job
    # that is handed its device sees it
    ex = LocalExecutor(folder=tmp_path / "ex")
    ex.update_parameters(timeout_min=5)
    plain = ex.submit(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
    handed = ex.submit(lambda g: (see_gpu(g), os.environ.get("CUDA_VISIBLE_DEVICES"))[1], "9")
    kept = ex.submit(lambda: (see_gpu(None), os.environ.get("CUDA_VISIBLE_DEVICES"))[1])
    assert plain.result() == "" and handed.result() == "9" and kept.result() == ""


def test_a_run_another_sweep_started_meanwhile_is_not_started_again(tmp_path):
    # one job at a time over two seeds: while seed 0 trains, another process (here a live
    # `sleep`, standing in for a second sweep's job) takes seed 1's lock; when seed 0 is done
    # this sweep must leave seed 1 alone, not train it a second time beside the other
    import threading

    from neurobias.sweep import RunLocked, take_lock

    out = tmp_path / "sw"
    holder = subprocess.Popen(["sleep", "300"])
    seed0, seed1 = (out / "runs" / f"circuit.n_units=24__seed={k}" for k in (0, 1))
    grid = {"circuit.n_units": [24]}

    def grab():
        deadline = time.time() + 120
        while time.time() < deadline and not (seed0 / "running.pid").exists():
            time.sleep(0.01)
        seed1.mkdir(parents=True, exist_ok=True)
        (seed1 / "running.pid").write_text(f"{os.uname().nodename}:{holder.pid}")

    thread = threading.Thread(target=grab)
    thread.start()
    try:
        result = sweep(spec(), grid, out, seeds=2, jobs=1, progress=False)
        thread.join()
        assert result.runs == {seed0.name: "finished", seed1.name: "running"}
        assert result.submitted == [seed0.name]
        assert not (seed1 / "summary.json").exists() and not (seed1 / "checkpoint.pt").exists()
        # and a job started on it anyway (two sweeps racing) refuses in one line
        with pytest.raises(RunLocked, match=f"already being trained by process .*:{holder.pid}"):
            take_lock(seed1 / "running.pid")
        assert (seed1 / "running.pid").read_text().endswith(f":{holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    # once its holder is gone the lock is stale: the next sweep takes the run over
    again = sweep(spec(), grid, out, seeds=2, jobs=1, progress=False)
    assert again.submitted == [seed1.name] and again.runs[seed1.name] == "finished"
    assert not (seed1 / "running.pid").exists()


def test_two_sweeps_on_one_folder_keep_each_others_records(tmp_path):
    # sweep A (seeds 0, 1) starts; while its seed 0 is held stopped, sweep B (seeds 0, 1, 2) runs
    # on the same folder: it must leave seed 0 to A and train 1 and 2. Each command rewrites
    # the manifest as it goes; when both are done the file must say what happened to every run
    # (all finished, 3 seeds), whichever of them wrote last
    out = tmp_path / "sw"
    seed0, seed1 = (out / "runs" / f"circuit.n_units=24__seed={k}" for k in (0, 1))
    script = ("import sys; from neurobias.config import load_spec; from neurobias.sweep import "
              "sweep; sweep(load_spec(sys.argv[1], sys.argv[3:]), {'circuit.n_units': [24]}, "
              "sys.argv[2], seeds=2, jobs=1, threads=1, progress=False)")
    def appears(path, seconds=120):
        deadline = time.time() + seconds  # and has its content (host:pid)
        while time.time() < deadline and not (path.exists() and ":" in path.read_text()):
            time.sleep(0.01)
        return path.exists()

    a = subprocess.Popen([sys.executable, "-c", script, SINE, str(out), *FAST])
    try:
        assert appears(seed0 / "running.pid")
        worker = int((seed0 / "running.pid").read_text().rsplit(":", 1)[1])
        os.kill(worker, signal.SIGSTOP)  # A's seed 0 stays "being trained" while B starts
        b_result = {}

        def run_b():
            b_result["r"] = sweep(spec(), {"circuit.n_units": [24]}, out, seeds=3, jobs=1,
                                  threads=1, progress=False)

        import threading

        b = threading.Thread(target=run_b)
        b.start()
        assert appears(seed1 / "running.pid")
        os.kill(worker, signal.SIGCONT)
        b.join(300)
        assert a.wait(300) == 0
    finally:
        if a.poll() is None:
            a.kill()
    assert sorted(b_result["r"].submitted) == [f"circuit.n_units=24__seed={k}" for k in (1, 2)]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seeds"] == 3
    assert {name: e["state"] for name, e in manifest["runs"].items()} == {
        f"circuit.n_units=24__seed={k}": "finished" for k in range(3)}
    assert sorted(p.parent.name for p in out.glob("runs/*/summary.json")) == sorted(
        manifest["runs"])


def _record_runs(manifest_path, first, count):
    from neurobias.sweep import _save_runs

    mine = json.loads(Path(manifest_path).read_text())
    for k in range(first, first + count):
        mine["runs"][f"run{k}"] = {"state": "finished"}
        _save_runs(mine, Path(manifest_path), [f"run{k}"])


def test_manifest_writes_of_concurrent_sweeps_merge(tmp_path):
    import multiprocessing

    from neurobias.sweep import _save_runs

    path = tmp_path / "manifest.json"
    base = {"format": "neurobias-sweep/1", "spec_hash": "h", "seeds": 3, "runs": {}}
    path.write_text(json.dumps(base))
    # a command that read the file before another added seeds writes last: the file keeps 3 seeds
    # and the other's run, and this command's copy learns of that run
    stale = json.loads(json.dumps(base))
    stale["seeds"] = 2
    stale["runs"]["a"] = {"state": "finished"}
    other = json.loads(json.dumps(base))
    other["runs"]["b"] = {"state": "running"}
    _save_runs(other, path, ["b"])
    _save_runs(stale, path, ["a"])
    on_disk = json.loads(path.read_text())
    assert on_disk["seeds"] == 3
    assert on_disk["runs"] == {"a": {"state": "finished"}, "b": {"state": "running"}}
    assert stale["runs"]["b"] == {"state": "running"} and stale["seeds"] == 2
    # four processes recording 40 runs each at once: none of the 160 records is lost
    path.write_text(json.dumps(base))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_record_runs, args=(str(path), 40 * k, 40)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert sorted(json.loads(path.read_text())["runs"]) == sorted(f"run{k}" for k in range(160))
