#!/bin/bash
# each of the three failing tasks alone, bias-only, N = 512, the multitask recipe
cd /work/main
for t in yang19.dm1-v0 yang19.ctxdm1-v0 yang19.dms-v0; do
  OMP_NUM_THREADS=1 nice -n 5 .venv/bin/neurobias train tasks/multitask.toml --out runs/diag/$t \
    --set "env.tasks=[\"$t\"]" --threads 1 --resume --no-progress > runs/diag/$t.log 2>&1
done
echo done > runs/diag/DONE
