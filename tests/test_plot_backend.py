"""The library leaves the matplotlib backend to its caller; the command line picks Agg.

Importing ``neurobias.plot`` used to call ``matplotlib.use("Agg")``, which turned off inline
figures in Jupyter (and any backend a script had chosen). These tests run fresh interpreters so
that the backend of the test process does not matter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "DISPLAY",
                                                             "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def test_importing_and_using_the_plot_modules_keeps_the_callers_backend(tmp_path):
    script = f"""
import json, matplotlib
matplotlib.use("svg")
import neurobias.plot, neurobias.plot.analysis, neurobias.plot.reaching
import neurobias.plot.fitting, neurobias.plot.compare
from neurobias.sweep import _report_figure
from pathlib import Path
fig = neurobias.plot.learning_curve(type("H", (), dict(step=[1, 2], loss=[1.0, 0.5],
                                                      evals=[]))())
rows = [dict(x=1, r2=0.5), dict(x=2, r2=0.7)]
out = _report_figure(Path({str(tmp_path)!r}), rows, "r2", "x", None)
print(json.dumps([matplotlib.get_backend(), type(fig.canvas).__name__, out.exists()]))
"""
    res = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    backend, canvas, written = json.loads(res.stdout.strip().splitlines()[-1])
    assert backend.lower() == "svg"
    assert canvas == "FigureCanvasSVG"
    assert written


def test_cli_plot_selects_agg_and_draws(tmp_path):
    run = tmp_path / "sine"
    env = _env(OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-m", "neurobias.cli", "train",
                          str(ROOT / "tasks" / "sine.toml"), "--out", str(run), "--no-progress",
                          "--set", "train.steps=3", "--set", "circuit.n_units=16"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    # a caller that had chosen another backend: the command draws its files with Agg
    script = f"""
import matplotlib
matplotlib.use("svg")
from neurobias.cli import main
code = main(["plot", {str(run)!r}])
print(code, matplotlib.get_backend())
"""
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    code, backend = res.stdout.split()[-2:]
    assert code == "0" and backend.lower() == "agg"
    pngs = sorted((run / "figures").glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
