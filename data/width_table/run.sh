#!/bin/bash
# The width table of docs/multitask.md: bias-only, bias+readout and full training of the eight
# tasks at N = 128 ... 2048, 3 seeds each, the three sweeps side by side (one run each at a
# time, one torch thread each). Resumable: run it again and finished runs are kept.
# On a machine with a GPU the runs share it (train.device = "auto"; each sweep hands each run
# the device with the fewest of its own runs): give each sweep several runs at once, e.g.
#     ARGS="--jobs 5 --threads 1 --no-progress" data/width_table/run.sh   # 16 cores, 1 GPU
# Without a GPU, N = 2048 in float32 takes hours per run: data/width_table/run_bf16.sh trains that
# width in bf16 in its own folders (these sweeps then only need their N <= 1024 points).
cd "$(dirname "$0")/../.."
NB=${NB:-neurobias}
GRID="--grid circuit.n_units=128,256,512,1024,2048 --seeds 3"
ARGS=${ARGS:---jobs 1 --threads 1 --no-progress}
$NB sweep tasks/multitask.toml --out data/width_table/bias $GRID $ARGS &
$NB sweep tasks/multitask_readout.toml --out data/width_table/readout $GRID $ARGS &
$NB sweep tasks/multitask_full.toml --out data/width_table/full $GRID $ARGS &
wait
