#!/bin/bash
# Each of the three failing tasks alone, bias-only, N = 512, the multitask recipe (one thread).
cd "$(dirname "$0")/../../.."
for t in yang19.dm1-v0 yang19.ctxdm1-v0 yang19.dms-v0; do
  neurobias train tasks/multitask.toml --out runs/diag/$t --set "env.tasks=[\"$t\"]" \
    --threads 1 --resume --no-progress
done
# dm1 and ctxdm1 alone at N = 1024, ctxdm1 at 2048: add --set circuit.n_units=1024 (or 2048)
# (runs/diag/yang19.dm1-v0_N1024, runs/diag/yang19.ctxdm1-v0_N1024, ..._N2048)
# dms alone with the trials it gets among eight tasks (batch 8 = its share of a batch of 64), and
# the eight tasks with mixed batches of 512 (64 trials of each task per step, dms's budget alone):
# neurobias sweep tasks/multitask.toml --out data/recipe/diagnosis/dms_alone_batch8 \
#     --set 'env.tasks=["yang19.dms-v0"]' --grid train.batch_size=8 --seeds 3 --jobs 2 --threads 1
# neurobias sweep tasks/multitask.toml --out data/recipe/diagnosis/mt_mixed_64_per_task \
#     --set env.mixed_batches=true --grid train.batch_size=512 --seeds 1 --jobs 1 --threads 1
