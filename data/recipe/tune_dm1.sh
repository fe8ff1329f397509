#!/bin/bash
# Recipe search for yang19.dm1 alone (bias-only, N = 256, 1000 steps): the settings that could
# let tonic inputs alone solve the comparison task. Resumable: run it again.
cd "$(dirname "$0")/../.."
NB=${NB:-neurobias}
$NB tune tasks/multitask.toml --out data/recipe/tune_dm1 \
    --set 'env.tasks=["yang19.dm1-v0"]' --set circuit.n_units=256 --set train.steps=1000 \
    --set train.eval_every=250 --set train.checkpoint_every=250 \
    --space circuit.gain=1:3 --space circuit.tau_ms=50:400:log \
    --space circuit.readout_scale=10:100:log --space circuit.input_scale=0.5:5:log \
    --space env.decision_weight=0.1:1:log --space train.lr=3e-3:3e-2:log \
    --trials 16 --pruner median --jobs 1 --threads 1 --no-progress
