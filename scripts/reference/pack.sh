#!/usr/bin/env bash
# Fills .device/ for run-on-device.sh: the bench bundle step (node, webgpu, dequantize.mjs) plus the real
# model and corpora from ../shared (never committed; carried to the device only).
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${SHARED_DIR:-../shared}
bash scripts/bench-gpu.sh
mkdir -p .device/ref
cp -r "$shared/models/micro-llama-6m" .device/ref/
cp "$shared"/data/*.txt .device/ref/
du -sh .device
