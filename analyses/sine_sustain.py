"""Does the trained sine circuit keep oscillating past the time it was trained for?

Trains tasks/sine.toml (bias-only, gain 1, N = 512; or loads the run given by ``--run``), then
runs the trained circuit on, noise-free and with no input, for ``--seconds`` trained durations,
and reports, for the trained duration:

- the fraction of units above the relu threshold at each step,
- the largest real part of the eigenvalues of W_rec restricted to those units (the recurrent
  part of the linearisation at that step; below 1 it decays, since the Jacobian is
  (-I + W_rec D) / tau with D the active units' 0/1 diagonal),
- the largest real part of the whole W_rec's eigenvalues (every unit active),

and the output's peak-to-peak amplitude in each trained duration, the target's first. Writes
OUT/sustain.json and OUT/sustain.png (output against the target over the whole run).
docs/training.md ("Gain and duration of autonomous trajectories") reads them.

    python analyses/sine_sustain.py --out data/sine_sustain [--run RUN_DIR] [--seconds 4]
"""

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import neurobias as nb  # noqa: E402
from neurobias._atomic import save_figure_atomic, write_json_atomic  # noqa: E402
from neurobias.config import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def sustain(net, n_trained: int, n_segments: int) -> dict:
    """Run ``net`` on for ``n_segments`` x ``n_trained`` steps from its x0 with zero input.

    Returns the per-step active fraction and active-submatrix spectral abscissa over the
    trained steps, W_rec's spectral abscissa, the output (steps,) and its peak-to-peak
    amplitude per segment.
    """
    steps = n_trained * n_segments
    with torch.no_grad():
        ro = net(torch.zeros(steps, 1, net.config.n_inputs), 0, return_states=True)
        x = ro.states[:, 0].double()
        y = ro.outputs[:, 0, 0].double()
        w = net.W_rec.double()
        active = x > 0
        abscissa = []
        for t in range(n_trained):
            idx = active[t].nonzero().squeeze(1)
            sub = w[idx][:, idx]
            abscissa.append(torch.linalg.eigvals(sub).real.max().item() if len(idx) else 0.0)
        whole = torch.linalg.eigvals(w).real.max().item()
    seg = y.reshape(n_segments, n_trained)
    return {"active_fraction": active[:n_trained].double().mean(1).tolist(),
            "active_abscissa": abscissa,
            "w_rec_abscissa": whole,
            "output": y.tolist(),
            "peak_to_peak": (seg.max(1).values - seg.min(1).values).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for sustain.json and sustain.png")
    parser.add_argument("--run", help="a trained run of tasks/sine.toml (default: train one "
                        "into OUT/run)")
    parser.add_argument("--seconds", type=int, default=4,
                        help="trained durations to run for, the first included (4)")
    args = parser.parse_args()
    if args.seconds < 2:
        parser.error(f"--seconds={args.seconds} is invalid: must be >= 2 (the trained "
                     "duration and at least one after it)")
    out = Path(args.out)
    if args.run:
        try:
            run = nb.load_run(args.run)
        except (FileNotFoundError, ValueError) as e:
            print(f"sine_sustain: error: --run {args.run}: {e}", file=sys.stderr)
            raise SystemExit(2) from None
    elif (out / "run" / "summary.json").exists():  # trained by an earlier call
        run = nb.load_run(out / "run")
    else:  # resume=True continues a run an earlier call left unfinished
        run = nb.train_run(load_config(ROOT / "tasks" / "sine.toml"), out / "run", resume=True)
    env = run.env
    if run.config.env.kind != "sine":
        print(f"sine_sustain: error: {args.run} is not a sine run (env kind 'sine' expected)",
              file=sys.stderr)
        raise SystemExit(2)
    target = env.target_to[:, 0].double()
    n_trained = len(target)
    res = sustain(run.net, n_trained, args.seconds)
    dt = run.net.config.dt_ms
    result = {"run": str(args.run or out / "run"), "r2": run.summary.get("r2"),
              "steps_trained": run.summary.get("steps"), "dt_ms": dt,
              "trained_steps_per_trial": n_trained,
              "active_fraction_range": [min(res["active_fraction"]),
                                        max(res["active_fraction"])],
              "active_abscissa_range": [min(res["active_abscissa"]),
                                        max(res["active_abscissa"])],
              "target_peak_to_peak": (target.max() - target.min()).item(), **res}
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(result, out / "sustain.json")

    t_s = [(i + 1) * dt / 1000 for i in range(len(res["output"]))]
    fig, ax = plt.subplots(figsize=(6.5, 2.8), constrained_layout=True)
    ax.plot(t_s[:n_trained], target.tolist(), color="0.6", lw=3, label="target (trained)")
    ax.plot(t_s, res["output"], color="tab:blue", lw=1.3, label="circuit output")
    ax.axvline(n_trained * dt / 1000, color="k", ls=":", lw=1)
    ax.text(n_trained * dt / 1000, ax.get_ylim()[1], " end of training trials", va="top",
            fontsize=8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("output")
    ax.set_title(f"Trained sine circuit run on with no input (N = {run.net.n_units}, "
                 f"gain {run.net.config.gain:g}, R$^2$ {result['r2']:.3f})", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    save_figure_atomic(fig, out / "sustain.png", dpi=120)
    print(f"active units over the trained {n_trained} steps: "
          f"{result['active_fraction_range'][0]:.2f}-{result['active_fraction_range'][1]:.2f}; "
          f"largest real part of the active submatrix's eigenvalues: "
          f"{result['active_abscissa_range'][0]:.2f}-{result['active_abscissa_range'][1]:.2f} "
          f"(whole W_rec: {res['w_rec_abscissa']:.3f})")
    print("peak-to-peak per trained duration: "
          + ", ".join(f"{v:.3f}" for v in res["peak_to_peak"])
          + f" (target {result['target_peak_to_peak']:.3f})")


if __name__ == "__main__":
    main()
