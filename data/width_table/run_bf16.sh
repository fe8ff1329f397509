#!/bin/bash
# The N = 2048 points of the width table on CPUs, trained in bf16 (train.precision = "bf16":
# recurrent matmul operands in bfloat16, states and Adam in float32; about 1.9x faster than
# float32 at this width on a 2-core CPU with AVX-512 BF16, and level with it in accuracy on the
# multitask spec at N = 512, docs/training.md "Precision"). Only on such a CPU (or a GPU): where
# bfloat16 is emulated (AVX2 only) it is far slower than float32, and fit warns; check with
# python benchmarks/bf16_matmul.py first. Kept in their own folders (bias_bf16, ...),
# which analyses/width_scaling.py reads beside the float32 ones and marks as bf16.
# Resumable: run it again and finished runs are kept. Bias-only first: its answer is the one
# the table is for. With a GPU, data/width_table/run.sh trains these widths in float32 instead.
#     data/width_table/run_bf16.sh                       # one run at a time, one thread
#     ARGS="--jobs 2 --threads 1 --no-progress" data/width_table/run_bf16.sh
cd "$(dirname "$0")/../.."
NB=${NB:-neurobias}
GRID="--grid circuit.n_units=2048 --seeds 3"
ARGS=${ARGS:---jobs 1 --threads 1 --no-progress}
BF16=(--set 'train.precision="bf16"')
$NB sweep tasks/multitask.toml --out data/width_table/bias_bf16 "${BF16[@]}" $GRID $ARGS || exit
$NB sweep tasks/multitask_readout.toml --out data/width_table/readout_bf16 "${BF16[@]}" $GRID $ARGS || exit
$NB sweep tasks/multitask_full.toml --out data/width_table/full_bf16 "${BF16[@]}" $GRID $ARGS
