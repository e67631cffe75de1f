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
ls -la .device/*.mjs
