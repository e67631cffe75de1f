#!/usr/bin/env bash
# The model sizes' table (BENCHMARKS.md, "Model sizes") on the GPU machine: SmolLM2-135M to Llama-3.1-8B shapes
# written as bf16 checkpoints, loaded, trained and decoded (bench/sizes-suite.ts). Each size's row is appended to
# sizes.jsonl as soon as it is measured. Here: bash scripts/bench-gpu.sh   There: bash scripts/sizes-on-device.sh [SIZES]
set -uo pipefail
source .device/setup.sh >/dev/null
out=${OUT:?set OUT to the folder the results go to}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
sizes=${1:-SmolLM2-135M,SmolLM2-360M,TinyLlama-1.1B,Llama-3.2-1B,Llama-3.2-3B,Llama-3.1-8B}
BENCH_SUITES=sizes BENCH_SIZES=$sizes SIZES_JSONL="$out/sizes.jsonl" SIZES_DIR=${SIZES_DIR:-/tmp} \
  timeout "${SIZES_LIMIT:-560}" node .device/bench.mjs "$out/sizes.json" 2>&1 | grep -v XDG_RUNTIME | tee "$out/sizes.log" | grep -E "sizes|wrote|loaded|cache|stopped|rror"
echo "exit ${PIPESTATUS[0]}"
