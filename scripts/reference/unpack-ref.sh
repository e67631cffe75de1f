#!/usr/bin/env bash
# On the GPU machine, after setup.sh: unpacks the xz-compressed model weights and corpora pack.sh carried.
for f in .device/ref/*.xz .device/ref/*/*.xz; do [ -e "$f" ] && xz -d -f "$f"; done
true
