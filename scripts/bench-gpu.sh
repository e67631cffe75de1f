#!/usr/bin/env bash
# Prepares the GPU benchmark for a GPU machine without Node or network (docs/gpu-benchmarks.md): fills .device/
# through $GPU_PACK_DIR/pack.sh (Node, the Vulkan loader, webgpu trimmed to linux-x64, setup.sh) and bundles
# bench/node.ts into .device/bench.mjs. There: source .device/setup.sh && node .device/bench.mjs out.json
set -euo pipefail
cd "$(dirname "$0")/.."
pack=${GPU_PACK_DIR:?set GPU_PACK_DIR to the folder whose pack.sh provides Node and the Vulkan loader (docs/gpu-benchmarks.md)}
bash "$pack/pack.sh"
# Each build adds hashed chunks under .device/assets; old ones would pile up in what is copied to the GPU machine.
rm -rf .device/assets
npx vite build --config scripts/vite.bench.config.ts
# The peer (BENCH_SUITES=peers): onnxruntime-web's WebGPU bundle and its wasm, read by bench/peers/ort-node.ts.
# The wasm goes gzipped (29 MB → 7 MB) to keep what is copied to the GPU machine small.
rm -rf .device/ort && mkdir -p .device/ort
cp node_modules/onnxruntime-web/dist/ort.webgpu.bundle.min.mjs .device/ort/
gzip -c node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm > .device/ort/ort-wasm-simd-threaded.asyncify.wasm.gz
ls -la .device/*.mjs
