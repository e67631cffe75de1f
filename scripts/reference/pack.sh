#!/usr/bin/env bash
# Fills .device/ for run-on-device.sh: the bench bundle step (node, webgpu, dequantize.mjs) plus the real
# model and corpora from ../shared (never committed; carried to the device only).
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${SHARED_DIR:-../shared}
bash scripts/bench-gpu.sh
mkdir -p .device/ref
cp -r "$shared/models/micro-llama-6m" .device/ref/
# The corpora gzipped (readers take .txt or .txt.gz): with Node, webgpu and the model, plain text would push what
# the device tool carries past its 64 MiB.
for f in "$shared"/data/*.txt; do gzip -9 -c "$f" > ".device/ref/$(basename "$f").gz"; done
du -sh .device
