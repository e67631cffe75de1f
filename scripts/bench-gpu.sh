#!/usr/bin/env bash
# Prepares the H100 benchmark: fills .device/ (Node, Vulkan loader, webgpu) with ../shared/device/pack.sh
# and bundles bench/node.ts into .device/bench.mjs. Then, with the device tool:
#   run  carry [".device"]  command: source .device/setup.sh && node .device/bench.mjs $OUT/h100.json
# and copy the returned h100.json to bench/results/h100.json.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED_DIR:-../shared}
bash "$shared/device/pack.sh"
# Each build adds hashed chunks under .device/assets; old ones would pile up toward the 64 MiB the device tool carries.
rm -rf .device/assets
npx vite build --config scripts/vite.bench.config.ts
# The peer (BENCH_SUITES=peers): onnxruntime-web's WebGPU bundle and its wasm, read by bench/peers/ort-node.ts.
# The wasm goes gzipped (29 MB → 7 MB) to stay within the device tool's 64 MiB carry.
rm -rf .device/ort && mkdir -p .device/ort
cp node_modules/onnxruntime-web/dist/ort.webgpu.bundle.min.mjs .device/ort/
gzip -c node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm > .device/ort/ort-wasm-simd-threaded.asyncify.wasm.gz
ls -la .device/*.mjs
