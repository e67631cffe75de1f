#!/usr/bin/env bash
# The f16 matrix path's measurements on the GPU machine (BENCHMARKS.md, "Matrix units"), in two device calls:
#   kernels   the randomized self-check of every matrix kernel variant (matrixcheck.json), the quantized GEMMs'
#             TFLOP/s on both paths and the matrix tilings (matrix.json; matrix-norobust.json without Dawn's bounds
#             clamping, which a browser always has), the loss and LoRA gradients against PyTorch's fixtures on both
#             paths (gradients-f16.json, gradients-f32.json), and cuBLAS on the same GEMM shapes (cublas.json)
#   training  the TinyLlama-shape training step on both paths (train-f16.json, train-f32.json), eager PyTorch's
#             (pytorch-train.json), and micro-llama-6m fine-tuned on both paths (finetune-f16.json, finetune-f32.json)
# Here: QLORA_DATA_DIR=… bash scripts/reference/pack.sh   There: bash scripts/matrix-on-device.sh kernels|training
set -uo pipefail
source .device/setup.sh >/dev/null
out=${OUT:?set OUT to the folder the results go to}
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$out/gpu.txt"
bench() { # bench NAME ENV... : one bench process (a crash loses only its own results)
  local name=$1; shift
  env "$@" timeout 400 node .device/bench.mjs "$out/$name.json" 2>&1 | grep -v XDG_RUNTIME > "$out/$name.log"
  echo "$name: exit ${PIPESTATUS[0]}" | tee -a "$out/exits.txt"
}
case ${1:?kernels or training} in
  kernels)
    bench matrixcheck BENCH_MATRIX=1 BENCH_SUITES=matrixcheck
    bench matrix BENCH_MATRIX=1 BENCH_SUITES=matrix BENCH_MATRIX_TILES="${MATRIX_TILES:-[{\"FM\":4,\"FN\":4,\"WM\":2,\"WN\":2,\"BK\":32}]}"
    bench matrix-norobust BENCH_MATRIX=1 BENCH_SUITES=matrix BENCH_DAWN_ENABLE=allow_unsafe_apis,disable_robustness
    bench gradients-f16 BENCH_MATRIX=1 BENCH_SUITES=gradparity
    bench gradients-f32 BENCH_MATRIX=1 BENCH_PRECISION=f32 BENCH_SUITES=gradparity
    timeout 120 python3 scripts/reference/bench_gemm.py "$out/cublas.json" > "$out/cublas.log" 2>&1
    ;;
  training)
    bash scripts/reference/unpack-ref.sh
    bench train-f16 BENCH_MATRIX=1 BENCH_SUITES=train
    bench train-f32 BENCH_MATRIX=1 BENCH_PRECISION=f32 BENCH_SUITES=train
    timeout 200 python3 scripts/reference/bench_training.py "$out/pytorch-train.json" > "$out/pytorch-train.log" 2>&1
    for p in f16 f32; do
      bench "finetune-$p" BENCH_MATRIX=1 BENCH_PRECISION=$([ $p = f16 ] && echo f16 || echo f32) BENCH_SUITES=finetune \
        MICRO_LLAMA_DIR=.device/ref/micro-llama-6m CORPUS_DIR=.device/ref
    done
    ;;
esac
grep -h -E "self-check|TFLOP|tokens/s|gradients vs|valid|rc=" "$out"/*.log | grep -v "^ok " | cut -c1-220 | tail -150
