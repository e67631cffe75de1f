#!/usr/bin/env bash
# Regenerates test/fixtures/ on the GPU machine (python3 with torch + transformers there).
# Here:   bash scripts/reference/pack.sh          (fills .device/ with node, webgpu, the dequantize bundle,
#                                                  micro-llama-6m and the corpora)
# There (with .device/ and the working tree): bash scripts/reference/run-on-device.sh
# Then unpack the returned fixtures.tar into test/fixtures/ (one archive is easier to copy back than many files).
set -euo pipefail
source .device/setup.sh >/dev/null
bash scripts/reference/unpack-ref.sh
out=${OUT:?set OUT to the folder the results go to}
python3 scripts/reference/make_fixtures.py models "$out/llama"
node .device/dequantize.mjs "$out/llama" "$out/deq"
python3 scripts/reference/make_fixtures.py quantized "$out/llama" "$out/deq"
python3 scripts/reference/make_fixtures.py micro "$out" .device/ref/micro-llama-6m .device/ref
rm -rf "$out/deq"
tar cf "$out/fixtures.tar" -C "$out" llama micro-llama-6m.json && rm -rf "$out/llama" "$out/micro-llama-6m.json"
