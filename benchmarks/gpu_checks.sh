#!/usr/bin/env bash
# The GPU checks, as one command on one H100/H200 (README "GPU checks"; about 8 minutes): the CUDA tests, airbench
# with Muon and F-Muon against airbench94_muon.py's time (synthetic CIFAR-10 shapes), the top-k backends and the
# Neon/Fanion step on CUDA. CSVs go to benchmarks/, named by the device; commit them.
set -euo pipefail
cd "$(dirname "$0")/.."
device=$(python -c "import torch; print(torch.cuda.get_device_name().lower().replace('nvidia ', '').split()[0])")
echo "device: $device"
python -m pytest -q -n 0 -m cuda -p no:cacheprovider 2>&1 | tee "benchmarks/cuda_tests_$device.txt"
rm -f "benchmarks/airbench_$device.csv"
python benchmarks/bench_airbench.py --device cuda --lmo muon --seeds 4 --out "benchmarks/airbench_$device.csv"
python benchmarks/bench_airbench.py --device cuda --lmo f-muon --alpha 0.5 --hyper f-muon_v2 --seeds 4 \
    --out "benchmarks/airbench_$device.csv"
python benchmarks/bench_topk.py --device cuda --size 5000 --ks 1 10 100 --reps 3 --out "benchmarks/topk_table_$device.csv"
python benchmarks/bench_topk.py --stacks --device cuda --out "benchmarks/topk_stacks_$device.csv"
