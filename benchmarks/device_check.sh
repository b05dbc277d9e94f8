#!/usr/bin/env bash
# One short accelerator check of the scoring and generation benchmarks, on whatever device JAX sees (CPU, GPU, TPU).
# Usage: bash benchmarks/device_check.sh [DATA_DIR]     (a few minutes; nothing else depends on it)
# Record its output in benchmarks/RESULTS.md next to the CPU figures, with the machine and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-${TINYJAX_SHARED_DATA:-../shared/data}}"
date -u
python -c 'import jax; print("jax", jax.__version__, jax.devices())'
python benchmarks/bench_scoring.py --quick --repeats 2
TORCH=""
python -c 'import torch, transformers' 2>/dev/null || TORCH="--no-torch"
python benchmarks/bench_generate.py --quick --data "$DATA" $TORCH
python benchmarks/bench_generate.py --new-tokens 128 --configs small --data "$DATA" $TORCH
