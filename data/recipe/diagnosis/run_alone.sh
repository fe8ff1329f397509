#!/bin/bash
# Each of the three failing tasks alone, bias-only, N = 512, the multitask recipe (one thread).
cd "$(dirname "$0")/../../.."
for t in yang19.dm1-v0 yang19.ctxdm1-v0 yang19.dms-v0; do
  neurobias train tasks/multitask.toml --out runs/diag/$t --set "env.tasks=[\"$t\"]" \
    --threads 1 --resume --no-progress
done
# dm1 and ctxdm1 alone at N = 1024, ctxdm1 at 2048: add --set circuit.n_units=1024 (or 2048)
# (runs/diag/yang19.dm1-v0_N1024, runs/diag/yang19.ctxdm1-v0_N1024, ..._N2048)
