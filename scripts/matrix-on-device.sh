#!/usr/bin/env bash
# The f16 matrix path's measurements on the GPU machine (BENCHMARKS.md, "Matrix units"), in two device calls:
#   kernels   the randomized self-check of every matrix kernel variant (matrixcheck.json), the quantized GEMMs'
#             TFLOP/s on both paths and the matrix tilings (matrix.json; matrix-norobust.json without Dawn's bounds
#             clamping, which a browser always has), the loss and LoRA gradients against PyTorch's fixtures on both
#             paths (gradients-f16.json, gradients-f32.json), and cuBLAS on the same GEMM shapes (cublas.json)
#   training  the TinyLlama-shape training step on both paths (train-f16.json, train-f32.json), eager PyTorch's
#             (pytorch-train.json), and micro-llama-6m fine-tuned on both paths (finetune-f16.json, finetune-f32.json)
#   quick     one call's worth when time on the GPU is short: the self-check, the gradients, the training step on both
#             paths and PyTorch's, the GEMM timings on two shapes
#   step      less still: the gradients on the matrix path, the training step on both paths and PyTorch's
# MATRIX_TILES: a JSON list of matrix tilings (src/matmul/matrix-units.ts MatrixTiles) the GEMM timings compare.
# Here: QLORA_DATA_DIR=… bash scripts/reference/pack.sh   There: bash scripts/matrix-on-device.sh kernels|training|quick
set -uo pipefail
source .device/setup.sh >/dev/null
out=${OUT:?set OUT to the folder the results go to}
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$out/gpu.txt"
bench() { # bench NAME SECONDS ENV... : one bench process (a crash or a timeout loses only its own results)
  local name=$1 limit=$2; shift 2
  env "$@" timeout "$limit" node .device/bench.mjs "$out/$name.json" 2>&1 | grep -v XDG_RUNTIME > "$out/$name.log"
  echo "$name: exit ${PIPESTATUS[0]}" | tee -a "$out/exits.txt"
}
tiles=${MATRIX_TILES:-[{\"FM\":4,\"FN\":4,\"WM\":2,\"WN\":2,\"BK\":32,\"DB\":0,\"AGLOBAL\":0}]}
case ${1:?kernels, training, quick or step} in
  kernels)
    bench matrixcheck 120 BENCH_MATRIX=1 BENCH_SUITES=matrixcheck
    bench matrix 400 BENCH_MATRIX=1 BENCH_SUITES=matrix BENCH_MATRIX_TILES="$tiles"
    bench matrix-norobust 150 BENCH_MATRIX=1 BENCH_SUITES=matrix BENCH_DAWN_ENABLE=allow_unsafe_apis,disable_robustness
    bench gradients-f16 60 BENCH_MATRIX=1 BENCH_SUITES=gradparity
    bench gradients-f32 60 BENCH_MATRIX=1 BENCH_PRECISION=f32 BENCH_SUITES=gradparity
    timeout 120 python3 scripts/reference/bench_gemm.py "$out/cublas.json" > "$out/cublas.log" 2>&1
    ;;
  training)
    bash scripts/reference/unpack-ref.sh
    bench train-f16 200 BENCH_MATRIX=1 BENCH_SUITES=train
    bench train-f32 200 BENCH_MATRIX=1 BENCH_PRECISION=f32 BENCH_SUITES=train
    timeout 200 python3 scripts/reference/bench_training.py "$out/pytorch-train.json" > "$out/pytorch-train.log" 2>&1
    for p in f16 f32; do
      bench "finetune-$p" 120 BENCH_MATRIX=1 BENCH_PRECISION=$p BENCH_SUITES=finetune MICRO_LLAMA_DIR=.device/ref/micro-llama-6m CORPUS_DIR=.device/ref
    done
    ;;
  quick) # what fits one call without the model and corpora: the self-check, the gradients, the training step on both
         # paths and PyTorch's, the GEMM timings, cuBLAS
    bench matrixcheck 50 BENCH_MATRIX=1 BENCH_SUITES=matrixcheck
    bench gradients-f16 30 BENCH_MATRIX=1 BENCH_SUITES=gradparity
    bench train-f16 70 BENCH_MATRIX=1 BENCH_SUITES=train
    bench train-f32 70 BENCH_MATRIX=1 BENCH_PRECISION=f32 BENCH_SUITES=train
    timeout 80 python3 scripts/reference/bench_training.py "$out/pytorch-train.json" > "$out/pytorch-train.log" 2>&1
    bench matrix 120 BENCH_MATRIX=1 BENCH_SUITES=matrix BENCH_MATRIX_QUICK=1 BENCH_MATRIX_TILES="$tiles"
    bench gradients-f32 25 BENCH_MATRIX=1 BENCH_PRECISION=f32 BENCH_SUITES=gradparity
    ;;
  step) # the least that answers "how fast does training run on the matrix path": the gradients on it, the training
        # step on both paths and PyTorch's
    bench gradients-f16 30 BENCH_MATRIX=1 BENCH_SUITES=gradparity
    bench train-f16 70 BENCH_MATRIX=1 BENCH_SUITES=train
    bench train-f32 70 BENCH_MATRIX=1 BENCH_PRECISION=f32 BENCH_SUITES=train
    timeout 80 python3 scripts/reference/bench_training.py "$out/pytorch-train.json" > "$out/pytorch-train.log" 2>&1
    ;;
esac
grep -h -E "self-check|TFLOP|tokens/s|gradients vs|valid|FAIL|rror" "$out"/*.log | grep -v "^ok " | sed -E "s/ \\(ratio: vs f32 path\\)//; s/\\[[0-9. ]+µs, timestamp\\]//" | cut -c1-200 | tail -150
