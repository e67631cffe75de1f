#!/usr/bin/env bash
# Fills .device/ for the device scripts (train-on-device.sh, methods-on-device.sh, run-on-device.sh): the bench
# bundles (node, webgpu, bench.mjs, methods.mjs, dequantize.mjs) plus the real model
# and corpora of the data directory $QLORA_DATA_DIR (never committed; carried to the GPU machine only).
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${QLORA_DATA_DIR:?set QLORA_DATA_DIR to the folder holding models/micro-llama-6m and data/*.txt}
bash scripts/bench-gpu.sh
mkdir -p .device/ref/micro-llama-6m
rm -f .device/ref/*.gz .device/ref/*.xz .device/ref/micro-llama-6m/*
# The model's weights and the corpora xz-compressed (unpack-ref.sh restores them there): with Node, webgpu and the
# working tree, plain files would make what is copied to the GPU machine large.
for f in "$shared"/models/micro-llama-6m/*; do
  case "$f" in
    *.safetensors) xz -9 -c "$f" > ".device/ref/micro-llama-6m/$(basename "$f").xz" ;;
    *) cp "$f" .device/ref/micro-llama-6m/ ;;
  esac
done
for f in "$shared"/data/*.txt; do xz -9 -c "$f" > ".device/ref/$(basename "$f").xz"; done
chmod -R u+w .device/ref
du -sh .device
