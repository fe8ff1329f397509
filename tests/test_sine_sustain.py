"""analyses/sine_sustain.py: what a trained autonomous circuit does past its trained duration.

Known answer: a relu circuit with W_rec = c I (plus coupling among the units with b < 0 only)
started at its fixed point x* (x* = b / (1 - c) where b > 0, x* = b where b < 0) stays there,
so exactly the units with b > 0 are active at every step, W_rec restricted to them is c I
(largest real part c) while the whole W_rec's is larger, and the output does not move
(peak-to-peak 0 in every segment)."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import neurobias as nb
from neurobias import CircuitConfig, RateRNN
from neurobias.config import config_from_dict

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("sine_sustain",
                                               ROOT / "analyses" / "sine_sustain.py")
ss = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ss)


def test_a_circuit_at_its_fixed_point_stays_there():
    n, c = 10, 0.4
    net = RateRNN(CircuitConfig(n_units=n, n_inputs=1, n_outputs=1, activation="relu"), seed=0)
    b = torch.tensor([1.0, -0.5, 0.3, 2.0, -1.0, 0.7, -0.2, 0.1, -3.0, 0.5])
    off = b < 0
    w = c * torch.eye(n)
    w[off[:, None] & off[None, :]] += 2.0  # coupling among the silent units only: W_rec's
    # largest real part becomes c + 2 x 4, the active units' stays c, and nothing moves
    with torch.no_grad():
        net.W_rec.copy_(w)
        net.biases.copy_(b[None])
        net.x0.copy_(torch.where(b > 0, b / (1 - c), b))
    res = ss.sustain(net, n_trained=7, n_segments=3)
    assert res["active_fraction"] == pytest.approx([0.6] * 7)
    assert res["active_abscissa"] == pytest.approx([c] * 7)
    assert res["w_rec_abscissa"] == pytest.approx(c + 8.0)
    assert len(res["output"]) == 21
    assert res["peak_to_peak"] == pytest.approx([0.0] * 3, abs=1e-6)


def test_an_oscillation_that_dies_shows_in_the_segments():
    # W_rec = 0: x relaxes from x0 to b geometrically, so the output moves in the first segment
    # and (to float precision) not in the last
    n = 6
    net = RateRNN(CircuitConfig(n_units=n, activation="relu", tau_ms=20.0, dt_ms=10.0), seed=1)
    with torch.no_grad():
        net.W_rec.zero_()
        net.biases.copy_(torch.full((1, n), 1.0))
        net.x0.copy_(torch.full((n,), 3.0))
    res = ss.sustain(net, n_trained=40, n_segments=2)
    assert res["peak_to_peak"][0] > 1e-3
    assert res["peak_to_peak"][1] < 1e-6 * max(res["peak_to_peak"][0], 1.0)
    assert res["active_abscissa"] == pytest.approx([0.0] * 40)


def _run(args):
    return subprocess.run([sys.executable, str(ROOT / "analyses" / "sine_sustain.py"), *args],
                          capture_output=True, text=True, cwd=ROOT)


def test_script_on_a_sine_run_and_refuses_other_runs(tmp_path):
    base = {"circuit": {"n_units": 16, "gain": 1.0, "bias_init_std": 0.1},
            "train": {"steps": 5, "eval_every": 5}}
    nb.train_run(config_from_dict({**base, "env": {"kind": "sine", "period_ms": 200.0,
                                                  "duration_ms": 400.0}}),
                 tmp_path / "sine", progress=False)
    proc = _run(["--out", str(tmp_path / "o"), "--run", str(tmp_path / "sine"), "--seconds", "3"])
    assert proc.returncode == 0, proc.stderr
    got = json.loads((tmp_path / "o" / "sustain.json").read_text())
    assert got["trained_steps_per_trial"] == 20 and len(got["output"]) == 60
    # 10 samples per 200 ms period, at phases k x 36 degrees: peaks at +-sin(72 degrees)
    assert got["target_peak_to_peak"] == pytest.approx(2 * math.sin(math.radians(72)), rel=1e-5)
    assert (tmp_path / "o" / "sustain.png").stat().st_size > 0

    nb.train_run(config_from_dict({**base, "env": {"kind": "vanderpol"}}), tmp_path / "vdp",
                 progress=False)
    proc = _run(["--out", str(tmp_path / "p"), "--run", str(tmp_path / "vdp")])
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"sine_sustain: error: {tmp_path / 'vdp'} is not a sine run (env kind 'sine' expected)"]
    assert not (tmp_path / "p").exists()
