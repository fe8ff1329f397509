"""Training-step time of RateRNN (bias mode) against a plain PyTorch loop, same process.

The reference is what a user would write from the equations (as in Yang et al. 2019's code):
every tensor an nn.Parameter, only the biases handed to Adam, the input drive W_in u + b computed
once and indexed inside the time loop, the readout applied at every step. Both start from the
same weights and see the same batches; the script checks that their losses agree to float
tolerance and prints the time ratio reference / RateRNN per width.

    python benchmarks/train_step.py [--sizes 128 512 2048] [--time-steps 100] [--steps 20]
                                    [--device cpu] [--json results.json]

Trials are 100 Euler steps long (2 s at dt = 20 ms), batch 64.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
from torch import nn

import neurobias as nb

N_IN, N_OUT = 3, 2


class Reference(nn.Module):
    """The same equations, written plainly."""

    def __init__(self, net: nb.RateRNN):
        super().__init__()
        self.alpha = net.alpha
        for name in ("W_rec", "W_in", "W_out", "b_out", "biases"):
            setattr(self, name, nn.Parameter(getattr(net, name).detach().clone()))

    def forward(self, u, ctx):
        x = torch.zeros(u.shape[1], self.W_rec.shape[0], device=u.device)
        drive = u @ self.W_in.T + self.biases[ctx]  # (time, trial, unit), computed once
        outs = []
        for t in range(u.shape[0]):
            x = x + self.alpha * (-x + torch.relu(x) @ self.W_rec.T + drive[t])
            outs.append(torch.relu(x) @ self.W_out.T + self.b_out)
        return torch.stack(outs)


def batches(n, batch, n_t, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 2 * math.pi, n_t)
    for _ in range(n):
        u = torch.randn(n_t, batch, N_IN, generator=gen)
        phase = torch.rand(batch, generator=gen) * 2 * math.pi
        y = torch.stack([torch.sin(t[:, None] + phase), torch.cos(t[:, None] + phase)], -1)
        yield u.to(device), y.to(device)


def run(model, params, data, device):
    opt = torch.optim.Adam(params, lr=1e-2)
    ctx = None
    losses = []
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for u, y in data:
        if ctx is None:
            ctx = torch.zeros(u.shape[1], dtype=torch.long, device=device)
        out = model(u, ctx)
        out = out.outputs if isinstance(out, nb.Rollout) else out
        loss = ((out - y) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    sync()
    return time.perf_counter() - t0, torch.stack(losses).cpu()


def main() -> None:
    parser = argparse.ArgumentParser(description="RateRNN training-step speed vs a plain loop")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512, 2048])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--time-steps", type=int, default=100, help="Euler steps per trial")
    parser.add_argument("--steps", type=int, default=20, help="training steps timed")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    device = torch.device(args.device)
    results = []
    for n in args.sizes:
        cfg = nb.CircuitConfig(n_units=n, n_inputs=N_IN, n_outputs=N_OUT, gain=1.5,
                               bias_init_std=0.1)
        net = nb.RateRNN(cfg, seed=0).to(device)
        ref = Reference(net).to(device)
        # warm-up, then alternate the two so that machine noise hits both alike
        run(net, [p for p in net.parameters() if p.requires_grad],
            batches(2, args.batch, args.time_steps, device), device)
        run(ref, [ref.biases, ref.b_out], batches(2, args.batch, args.time_steps, device), device)
        net = nb.RateRNN(cfg, seed=0).to(device)
        ref = Reference(net).to(device)
        t_ref, loss_ref = run(ref, [ref.biases, ref.b_out],
                              batches(args.steps, args.batch, args.time_steps, device), device)
        t_nb, loss_nb = run(net, [p for p in net.parameters() if p.requires_grad],
                            batches(args.steps, args.batch, args.time_steps, device), device)
        same = torch.allclose(loss_nb, loss_ref, rtol=1e-3, atol=1e-5)
        row = {"n_units": n, "batch": args.batch, "time_steps": args.time_steps,
               "steps": args.steps, "device": str(device),
               "ms_per_step_reference": 1e3 * t_ref / args.steps,
               "ms_per_step_neurobias": 1e3 * t_nb / args.steps,
               "speedup": t_ref / t_nb, "same_loss": bool(same),
               "max_rel_loss_diff": float(((loss_nb - loss_ref).abs() / loss_ref).max())}
        results.append(row)
        print(f"N={n:5d}  reference {row['ms_per_step_reference']:8.1f} ms/step  "
              f"neurobias {row['ms_per_step_neurobias']:8.1f} ms/step  "
              f"speed-up {row['speedup']:.2f}x  same loss: {same} "
              f"(max rel diff {row['max_rel_loss_diff']:.1e})", flush=True)
        if not same:
            raise SystemExit("the two loops disagree: the benchmark is invalid")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
