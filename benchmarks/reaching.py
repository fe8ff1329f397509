"""Closed-loop reaching: the package's batched rollout against a batched plain-PyTorch loop.

One training step's work, forward and backward: a circuit (bias mode, N = 256) drives the plant
for a batch of 256 reaches to all trained targets x 100 steps (2 s at dt = 20 ms), and the
reaching loss is differentiated through circuit and plant. Contenders, same process, same
batch, same weights:

- ``package``: ``CenterOutReach.training_loss(net, batch)`` then ``backward``.
- ``plain loop``: the closed loop as a competent user writes it in plain PyTorch, batched over
  all trials: the weights plain tensors (no gradient), the tonic inputs and readout bias the only
  tensors that learn, the open-loop drive ``W_in u + b`` computed for all steps at once and
  ``unbind``-ed, per step one Euler step of the circuit with the delayed hand feedback, the
  readout and one plant step. For the point mass the plant equations are written inline (the
  exact zero-order-hold update of m dv/dt = F - b v with the env's mass, viscosity and dt); for
  the two-joint arm (Li & Todorov 2004 dynamics, RK4) the loop calls the package's
  ``TwoJointArm.step``, a plain batched torch function, rather than restating it. The loss is
  ``env.reach_loss`` of the resulting trajectory, so both differentiate the same objective.
  The script checks that loss and gradients agree before it times anything.
- ``motornet`` (when ``--motornet-python`` names a venv with MotorNet; GPL-3.0, so run, not
  copied): MotorNet's own point-mass effector (``ReluPointMass24(timestep=0.02)``: a point mass
  pulled by four relu "muscles", dt = 20 ms) driven in closed loop by a relu rate circuit of the
  same size (its own weights, plain tensors, only the biases learn), same batch size and number of
  steps, the loss the squared distance to random targets, forward and backward. Its plant has
  muscles and differs from ours, so its time is a second reference for the cost of a batched
  differentiable plant step, not the same computation; it runs in a child process.

Every repeat runs the contenders in a freshly shuffled order; the table gives min and median
over repeats and the ratio of minima.

    python benchmarks/reaching.py [--plants point_mass arm] [--batch 256] [--n-units 256]
                                  [--repeats 5] [--threads 1]
                                  [--motornet-python /tmp/motornet/bin/python]
                                  [--install-motornet]
                                  [--json data/bench_reaching_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch

import neurobias as nb
from neurobias.envs.reaching import CenterOutReach
from neurobias.envs.reaching.plants import PointMass
from neurobias.envs.reaching.task import VELOCITY_UNIT_S, ReachRollout

N_OPEN = 3  # inputs that do not depend on the hand: target x, target y, go


class PlainLoop:
    """The closed loop written plainly, batched over trials (see the module doc)."""

    def __init__(self, env: CenterOutReach, net: nb.RateRNN):
        self.env = env
        self.a = net.alpha
        self.w_rec = net.W_rec.detach().clone()
        self.w_in = net.W_in.detach().clone()
        self.w_out = net.W_out.detach().clone()
        self.b = net.biases.detach().clone().requires_grad_()
        self.b_out = net.b_out.detach().clone().requires_grad_()
        plant = env.plant
        if isinstance(plant, PointMass):
            m, visc, h = plant.mass_kg, plant.viscosity, plant.dt_s
            e = math.exp(-visc / m * h)
            self.pm = (plant.force_scale, e, (1 - e) / visc, (1 - e) * m / visc,
                       h / visc - (1 - e) * m / visc ** 2)
        else:
            self.pm = None

    def params(self):
        return [self.b, self.b_out]

    def loss(self, batch) -> torch.Tensor:
        env, a = self.env, self.a
        n_b = batch.n_trials
        delay = env.feedback_delay
        radius, v_unit = env.radius_m, env.radius_m / VELOCITY_UNIT_S
        w_fb = self.w_in[:, N_OPEN:]
        drive = batch.inputs[:, :, :N_OPEN] @ self.w_in[:, :N_OPEN].T + self.b[batch.context]
        x = torch.zeros(n_b, self.w_rec.shape[0])
        r = torch.relu(x)
        center = torch.as_tensor(env.center_m, dtype=torch.float32)
        if self.pm is None:
            state = env.plant.initial_state(n_b)
        else:
            pos = torch.zeros(n_b, 2)
            vel = torch.zeros(n_b, 2)
        feedback = [torch.zeros(n_b, 4)]
        positions, velocities, commands = [], [], []
        for d in drive.unbind(0):
            fb = feedback[max(len(feedback) - 1 - delay, 0)]
            x = (1 - a) * x + a * (r @ self.w_rec.T + d + fb @ w_fb.T)
            r = torch.relu(x)
            u = r @ self.w_out.T + self.b_out
            if self.pm is None:
                state = env.plant.step(state, u)
                pos, vel = env.plant.hand(state)
                pos = pos - center
            else:
                scale, e, cv, cx, cf = self.pm
                force = scale * u
                pos, vel = pos + cx * vel + cf * force, e * vel + cv * force
            positions.append(pos)
            velocities.append(vel)
            commands.append(u)
            feedback.append(torch.cat([pos / radius, vel / v_unit], 1))
        roll = ReachRollout(torch.stack(positions), torch.stack(velocities),
                            torch.stack(commands), batch.inputs, None)
        return env.reach_loss(roll, batch)


MOTORNET_CHILD = textwrap.dedent(r"""
    import sys, time, warnings
    warnings.filterwarnings("ignore")
    import torch
    import motornet as mn

    n_b, n_units, n_t, threads = (int(a) for a in sys.argv[1:5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    effector = mn.effector.ReluPointMass24(timestep=0.02)  # dt = 20 ms, as the package's env
    effector.reset(seed=0, options={"batch_size": n_b})
    n_obs = 2 + 4  # target (2), hand position and velocity (4)
    n_act = effector.n_muscles
    gen = torch.Generator().manual_seed(0)
    w_rec = 1.0 * torch.randn(n_units, n_units, generator=gen) / n_units ** 0.5
    w_in = torch.randn(n_units, n_obs, generator=gen)
    w_out = torch.randn(n_act, n_units, generator=gen) / n_units ** 0.5
    b = torch.zeros(n_units, requires_grad=True)
    b_out = torch.zeros(n_act, requires_grad=True)
    opt = torch.optim.Adam([b, b_out], lr=1e-2)
    alpha = 0.2

    def loss_once():
        effector.reset(options={"batch_size": n_b})
        target = effector.joint2cartesian(effector.draw_random_uniform_states(n_b))[:, :2]
        x = torch.zeros(n_b, n_units)
        r = torch.relu(x)
        loss = 0.0
        for _ in range(n_t):
            hand = effector.states["cartesian"]  # (trial, 4): position and velocity
            obs = torch.cat([target, hand], 1)
            x = (1 - alpha) * x + alpha * (r @ w_rec.T + obs @ w_in.T + b)
            r = torch.relu(x)
            act = torch.sigmoid(r @ w_out.T + b_out)
            effector.step(act)
            loss = loss + ((effector.states["cartesian"][:, :2] - target) ** 2).sum(1).mean()
        return loss / n_t

    def step():
        loss = loss_once()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    step()
    assert b.grad is not None and float(b.grad.abs().sum()) > 0, "no gradient through the plant"
    print("ready", mn.__version__, effector.dt, flush=True)
    for line in sys.stdin:
        t0 = time.perf_counter()
        step()
        print(time.perf_counter() - t0, flush=True)
""")


class MotorNet:
    """MotorNet's point-mass effector in closed loop, in a child process of its own venv."""

    def __init__(self, python: str, batch: int, n_units: int, n_t: int, threads: int):
        self.folder = tempfile.TemporaryDirectory()
        script = Path(self.folder.name) / "motornet_child.py"
        script.write_text(MOTORNET_CHILD)
        self.proc = subprocess.Popen([python, str(script), str(batch), str(n_units), str(n_t),
                                      str(threads)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            raise RuntimeError("the MotorNet child did not start")
        self.version, self.dt = line[1], float(line[2])

    def once(self) -> float:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.folder.cleanup()


def motornet_python(path: str | None, install: bool) -> tuple[str | None, str]:
    """The venv's python (made on request with ``install``); (None, why) when it is not there."""
    if not path:
        return None, "no --motornet-python given"
    if install and not Path(path).exists():
        venv = Path(path).parent.parent
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([path, "-m", "pip", "install", "-q", "torch==2.13.0", "motornet"],
                       check=False)
    if not Path(path).exists():
        return None, f"{path} not found"
    probe = subprocess.run([path, "-c", "import motornet; print(motornet.__version__)"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"{path} cannot import motornet: " + \
            (probe.stderr.strip().splitlines() or ["?"])[-1]
    return path, ""


def grads(params) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in params])


def one_plant(plant: str, args, mn_py: str | None) -> dict:
    env = CenterOutReach(dt_ms=20.0, plant=plant)
    cfg = nb.CircuitConfig(n_units=args.n_units, n_inputs=env.n_inputs,
                           n_outputs=env.n_outputs, gain=1.0, readout_scale=10.0)
    net = nb.RateRNN(cfg, seed=0)
    plain = PlainLoop(env, net)
    batch = env.sample(args.batch, torch.Generator().manual_seed(0))
    pkg_params = [net.biases, net.b_out]  # the order of plain.params()
    assert set(net.trainable_names) == {"biases", "b_out"}

    def run_package():
        net.zero_grad(set_to_none=True)
        loss = env.training_loss(net, batch)
        loss.backward()
        return loss.detach()

    def run_plain():
        for p in plain.params():
            p.grad = None
        loss = plain.loss(batch)
        loss.backward()
        return loss.detach()

    loss_p, loss_q = run_package(), run_plain()
    g_p, g_q = grads(pkg_params), grads(plain.params())
    same = bool(torch.allclose(loss_p, loss_q, rtol=1e-4)
                and torch.allclose(g_p, g_q, rtol=1e-3, atol=1e-5 * g_p.abs().max()))
    if not same:
        raise SystemExit(f"{plant}: the package and the plain loop disagree (loss "
                         f"{float(loss_p):.6g} vs {float(loss_q):.6g}): invalid benchmark")
    contenders = {"package": run_package, "plain_loop": run_plain}
    mn = None
    if mn_py and plant == "point_mass":
        mn = MotorNet(mn_py, args.batch, args.n_units, env.trial_steps,
                      torch.get_num_threads())
        contenders["motornet_point_mass"] = mn.once
    times: dict[str, list[float]] = {k: [] for k in contenders}
    rng = random.Random(0)
    for _ in range(args.repeats):
        order = list(contenders)
        rng.shuffle(order)
        for name in order:
            if name == "motornet_point_mass":
                times[name].append(contenders[name]())
            else:
                t0 = time.perf_counter()
                contenders[name]()
                times[name].append(time.perf_counter() - t0)
    if mn is not None:
        mn.close()
    row = {"plant": plant, "batch": args.batch, "time_steps": env.trial_steps,
           "n_units": args.n_units, "threads": torch.get_num_threads(),
           "seconds": {k: {"min": min(v), "median": statistics.median(v), "all": v}
                       for k, v in times.items()},
           "package_over_plain_loop": min(times["package"]) / min(times["plain_loop"]),
           "same_loss_and_gradient": same,
           "max_abs_grad_diff": float((g_p - g_q).abs().max()),
           "cpu": platform.processor() or platform.machine(), "torch": torch.__version__}
    if mn is not None:
        row["motornet_version"] = mn.version
        row["package_over_motornet"] = (min(times["package"])
                                        / min(times["motornet_point_mass"]))
    print(f"{plant}: {args.batch} reaches x {env.trial_steps} steps, N = {args.n_units}, "
          f"forward + backward, s (min / median over {args.repeats}):")
    for k, v in row["seconds"].items():
        print(f"  {k:20s} {v['min']:7.3f} / {v['median']:7.3f}")
    print(f"  package / plain loop {row['package_over_plain_loop']:.2f} (same loss and "
          f"gradient: {same})" + (f"; package / MotorNet {mn.version} point mass "
                                  f"{row['package_over_motornet']:.2f}" if mn else ""),
          flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description="batched closed-loop reaching: package vs a "
                                                 "plain batched loop")
    parser.add_argument("--plants", nargs="+", default=["point_mass", "arm"],
                        choices=["point_mass", "arm"])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--n-units", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--motornet-python", default="/tmp/motornet/bin/python",
                        help="python of a venv with motornet (its point mass is timed too)")
    parser.add_argument("--install-motornet", action="store_true",
                        help="make that venv (pip install torch==2.13.0 motornet) if missing")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if min(args.batch, args.n_units, args.repeats) < 1:
        parser.error("--batch, --n-units and --repeats must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    mn_py, mn_why = motornet_python(args.motornet_python, args.install_motornet)
    if mn_py is None:
        print(f"MotorNet left out: {mn_why}")
    load_before = [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    results = [one_plant(plant, args, mn_py) for plant in args.plants]
    load_after = [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    print(f"{torch.get_num_threads()} thread(s); load average {load_before} before, "
          f"{load_after} after")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"rows": results, "motornet_left_out_because": mn_why or None,
             "load_average_before": load_before, "load_average_after": load_after},
            indent=1))


if __name__ == "__main__":
    main()
