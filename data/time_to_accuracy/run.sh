#!/bin/bash
# Time to accuracy_mean 0.80 of the multitask spec (tasks/multitask.toml, N = 512): float32
# against bfloat16 training, the recipe's 3000 steps against a 1500-step schedule, other batch
# sizes and learning rates, 3 seeds each, two runs at a time with one torch thread each; an
# evaluation every 100 steps records the run's wall time ("seconds" in each history.json
# evaluation). Resumable: run it again and finished runs are kept.
# analyses/time_to_accuracy.py reads the histories.
cd "$(dirname "$0")/../.."
NB=${NB:-neurobias}
$NB sweep tasks/multitask.toml --out data/time_to_accuracy/sweep \
    --grid train.precision=fp32,bf16 --grid train.steps=3000,1500 --seeds 3 \
    --set train.eval_every=100 --set train.checkpoint_every=250 \
    --jobs 2 --threads 1 --no-progress
# The yardstick for "how far do bf16 solutions lie from fp32 ones": the same fp32 runs with
# another trial stream (train.seed), so the weights are the same and only the trials differ.
$NB sweep tasks/multitask.toml --out data/time_to_accuracy/trial_stream \
    --grid train.seed=1000 --seeds 3 \
    --set train.eval_every=100 --set train.checkpoint_every=250 \
    --jobs 2 --threads 1 --no-progress
# Batch size (3 seeds; batch 8 and 16 also with twice the steps) and learning rate (seed 0
# only: both worse, so no more seeds).
$NB sweep tasks/multitask.toml --out data/time_to_accuracy/batch_screen \
    --grid train.batch_size=16,32 --seeds 3 \
    --set train.eval_every=100 --set train.checkpoint_every=250 \
    --jobs 2 --threads 1 --no-progress
$NB sweep tasks/multitask.toml --out data/time_to_accuracy/small_batch_long \
    --grid train.batch_size=8,16 --grid train.steps=6000 --seeds 3 \
    --set train.eval_every=100 --set train.checkpoint_every=250 \
    --jobs 2 --threads 1 --no-progress
$NB sweep tasks/multitask.toml --out data/time_to_accuracy/lr_screen \
    --grid train.lr=0.02,0.04 --seeds 1 \
    --set train.eval_every=100 --set train.checkpoint_every=250 \
    --jobs 2 --threads 1 --no-progress
