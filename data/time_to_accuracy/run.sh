#!/bin/bash
# Time to accuracy_mean 0.80 of the multitask spec (tasks/multitask.toml, N = 512): float32
# against bfloat16 training, the recipe's 3000 steps against a 1500-step schedule, other batch
# sizes and learning rates, batches of one task against batches of all eight, 3 seeds each, two runs at a time with one torch thread each; an
# evaluation every 100 steps records the run's wall time ("seconds" in each history.json
# evaluation). Resumable: run it again and finished runs are kept.
# analyses/time_to_accuracy.py reads the histories.
cd "$(dirname "$0")/../.."
NB=${NB:-neurobias}
# one sweep of the spec into data/time_to_accuracy/NAME: its grid and seeds, then the settings
# every run here shares (an evaluation every 100 steps, two one-thread runs at a time)
tta() {
    local name=$1
    shift
    $NB sweep tasks/multitask.toml --out "data/time_to_accuracy/$name" "$@" \
        --set train.eval_every=100 --set train.checkpoint_every=250 \
        --jobs 2 --threads 1 --no-progress
}
tta sweep --grid train.precision=fp32,bf16 --grid train.steps=3000,1500 --seeds 3
# The yardstick for "how far do bf16 solutions lie from fp32 ones": the same fp32 runs with
# another trial stream (train.seed), so the weights are the same and only the trials differ.
tta trial_stream --grid train.seed=1000 --seeds 3
# Batch size (3 seeds; batch 8 and 16 also with twice the steps) and learning rate (seed 0
# only: both worse, so no more seeds).
tta batch_screen --grid train.batch_size=16,32 --seeds 3
tta small_batch_long --grid train.batch_size=8,16 --grid train.steps=6000 --seeds 3
tta lr_screen --grid train.lr=0.02,0.04 --seeds 1
# Every batch drawn from all eight tasks (env.mixed_batches), so every task's bias row learns at
# every step, at three batch sizes.
tta mixed --set env.mixed_batches=true --grid train.batch_size=64,32,16 --seeds 3
# Mixed batches of 32 with shorter schedules (the cosine ends sooner).
tta mixed_short --set env.mixed_batches=true --set train.batch_size=32 \
    --grid train.steps=1000,1500,2000 --seeds 3
