"""Gain sensitivity of bias-only learning on Van der Pol generation (Williams et al. 2025).

Trains tasks/vanderpol.toml at recurrent gains 0.5 and 1.0, bias-only (N=512, 514 learned
numbers) and fully trained at a matched number of learned parameters (N=21: 527), then writes
runs/vanderpol_gain/table.csv and gain.png.

    python analyses/vanderpol_gain.py [--steps 4000]
"""

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import neurobias as nb  # noqa: E402
from neurobias.config import apply_overrides, config_from_dict  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--out", default=str(ROOT / "runs" / "vanderpol_gain"))
    args = parser.parse_args()
    import tomllib

    spec = tomllib.loads((ROOT / "tasks" / "vanderpol.toml").read_text())
    out = Path(args.out)
    rows = []
    for mode, n_units in (("bias", 512), ("full", 21)):
        for gain in (0.5, 1.0):
            cfg = config_from_dict(apply_overrides(spec, [
                f"circuit.mode={mode}", f"circuit.n_units={n_units}", f"circuit.gain={gain}",
                f"train.steps={args.steps}"]))
            run = nb.train_run(cfg, out / f"{mode}_g{gain}", force=True, progress=False)
            rows.append({"mode": mode, "n_units": n_units, "gain": gain,
                         "n_trainable": run.net.n_trainable(), "r2": run.summary["r2"],
                         "seconds": run.summary["seconds"]})
            print(rows[-1], flush=True)
    with open(out / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    fig, ax = plt.subplots(figsize=(4.5, 3.2), constrained_layout=True)
    for mode, color in (("bias", "tab:blue"), ("full", "tab:orange")):
        pts = [r for r in rows if r["mode"] == mode]
        ax.plot([r["gain"] for r in pts], [r["r2"] for r in pts], "o-", color=color,
                label=f"{mode} (N={pts[0]['n_units']}, {pts[0]['n_trainable']} learned)")
    ax.set_xlabel("recurrent gain g")
    ax.set_ylabel("R$^2$ (Van der Pol)")
    ax.set_xticks([0.5, 1.0])
    ax.legend(fontsize=8)
    fig.savefig(out / "gain.png", dpi=120)


if __name__ == "__main__":
    main()
