#!/usr/bin/env bash
# The training runs of the GPU machine, in one run:
#   1. the PEFT round trip and the dense export's check (peft-export.mjs, then peft_roundtrip.py) → $OUT/peft.tar,
#      unpacked into test/fixtures/ (peft/ours, peft/peft-made; of peft/dense only config.json, model.safetensors and
#      transformers-logits.safetensors)
#   2. micro-llama-6m fine-tuned on Shakespeare (BENCH_SUITES=finetune) → $OUT/finetune.json, and our training
#      bench (BENCH_SUITES=train) → $OUT/train.json
#   3. the eager-PyTorch training bench (bench_training.py) → $OUT/pytorch-train.json
# Here: bash scripts/reference/pack.sh   There (with .device/ and the working tree): bash scripts/train-on-device.sh
set -uo pipefail
source .device/setup.sh >/dev/null
bash scripts/reference/unpack-ref.sh
out=${OUT:?set OUT to the folder the results go to}
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$out/gpu.txt"
mkdir -p "$out/peft"
node .device/peft-export.mjs test/fixtures/llama "$out/peft" && python3 scripts/reference/peft_roundtrip.py test/fixtures/llama "$out/peft" 2>&1 | tail -5
tar cf "$out/peft.tar" -C "$out" peft && rm -rf "$out/peft"
MICRO_LLAMA_DIR=.device/ref/micro-llama-6m CORPUS_DIR=.device/ref BENCH_SUITES=finetune node .device/bench.mjs "$out/finetune.json" 2>&1 | grep -v XDG_RUNTIME | tee "$out/finetune.log"
BENCH_SUITES=train node .device/bench.mjs "$out/train.json" 2>&1 | grep -v XDG_RUNTIME | tee "$out/train.log"
python3 scripts/reference/bench_training.py "$out/pytorch-train.json" 2>&1 | tee -a "$out/train.log"
