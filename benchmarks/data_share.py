"""Share of a multitask training step spent making NeuroGym trials (target <= 20% at N=512).

Times, in the same process, trial generation (``env.sample``) and the rest of the training step
(forward, loss, backward, Adam) for tasks/multitask.toml at the given width.

    python benchmarks/data_share.py [--units 512] [--steps 40]
"""

import argparse
import time

import torch

import neurobias as nb
from neurobias.config import apply_overrides, config_from_dict, load_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--spec", default="tasks/multitask.toml")
    args = parser.parse_args()
    spec = apply_overrides(load_spec(args.spec), [f"circuit.n_units={args.units}"])
    cfg = config_from_dict(spec)
    net, env = nb.run.build(cfg)
    gen = torch.Generator().manual_seed(0)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.train.lr)
    t_data = t_train = 0.0
    for step in range(args.steps + 3):
        t0 = time.perf_counter()
        batch = env.sample(cfg.train.batch_size, gen)
        t1 = time.perf_counter()
        loss = env.loss(net(batch.inputs, batch.context).outputs, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        t2 = time.perf_counter()
        if step >= 3:  # warm-up excluded
            t_data += t1 - t0
            t_train += t2 - t1
    n = args.steps
    print(f"N={args.units}: trials {1e3 * t_data / n:.1f} ms/step, training "
          f"{1e3 * t_train / n:.1f} ms/step, trial generation {t_data / (t_data + t_train):.1%} "
          "of a step")


if __name__ == "__main__":
    main()
