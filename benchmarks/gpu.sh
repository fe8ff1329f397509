#!/bin/bash
# The GPU checks in one go, on a machine with one CUDA device, in under 10 minutes:
#   1. tests/test_cuda.py (the CUDA path against the CPU in float64; bf16; fit on cuda; fixed
#      points), then
#   2. benchmarks/gpu_step.py: the card's measured matmul peak (fp32, TF32, bf16), the training
#      step at N = 8192, B = 256 as a fraction of it, and the widest circuit that trains.
# Runs with that machine's own python (its torch has CUDA; set PYTHON to choose another) and
# this checkout on PYTHONPATH; writes logs and data/bench_gpu.json under ${OUT:-data}.
#     bash benchmarks/gpu.sh
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
OUT=${OUT:-data}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
$PY -c "import torch, sys; ok = torch.cuda.is_available(); print('torch', torch.__version__,
      torch.cuda.get_device_name(0) if ok else 'no CUDA device'); sys.exit(0 if ok else 2)" || exit 2
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>/dev/null | tee "$OUT/gpu_info.csv"
timeout 200 $PY -m pytest -q -p no:cacheprovider -o addopts="" tests/test_cuda.py 2>&1 \
    | tee "$OUT/gpu_tests.log"
tests=${PIPESTATUS[0]}
timeout 360 $PY benchmarks/gpu_step.py --json "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/gpu_step.log"
bench=${PIPESTATUS[0]}
echo "tests exit $tests, benchmark exit $bench"
[ "$tests" = 0 ] && [ "$bench" = 0 ]
