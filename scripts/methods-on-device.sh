#!/usr/bin/env bash
# The methods experiment (bench/methods-suite.ts) in one run on the GPU machine: METHODS_WORKERS processes
# (default 10) share the GPU; phase 1 evaluates the bases and sweeps the learning rate, phase 2 runs the grid at the
# best rates. With METHODS_COST=1 the methodcost bench runs first, alone on the GPU → $OUT/methodcost.json.
# Every row lands in $OUT/methods-rows.jsonl as it is done, the logs in $OUT/methods-logs.tar (one archive to copy
# back). A run cut short by METHODS_BUDGET_S (default 540, counted from the start) keeps its rows; the next run, given
# them in .device/methods-done/ (METHODS_DONE), runs only what is missing.
# Here: bash scripts/reference/pack.sh   There (with .device/ and the working tree): bash scripts/methods-on-device.sh
set -uo pipefail
start=$(date +%s%3N)
source .device/setup.sh >/dev/null
bash scripts/reference/unpack-ref.sh
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/gpu.txt"
if [ "${METHODS_COST:-0}" = 1 ]; then
  BENCH_SUITES=methodcost node .device/bench.mjs "$OUT/methodcost.json" 2>&1 | grep -v XDG_RUNTIME | tee "$OUT/methodcost.log"
fi
work=$(mktemp -d)
export MICRO_LLAMA_DIR=.device/ref/micro-llama-6m CORPUS_DIR=.device/ref
export METHODS_DEADLINE=$(( start + ${METHODS_BUDGET_S:-540} * 1000 )) METHODS_ROWS=$OUT/methods-rows.jsonl
[ -d .device/methods-done ] && export METHODS_DONE=.device/methods-done
for phase in base,sweep grid; do
  # Workers are killed 20 s past the deadline at the latest (jobs start only up to 40 s before it), so the logs are packed.
  left=$(( (METHODS_DEADLINE - $(date +%s%3N)) / 1000 + 20 ))
  [ "$left" -gt 60 ] || break
  for i in $(seq 1 "${METHODS_WORKERS:-10}"); do
    METHODS_WORKER=$i timeout -s KILL "$left" node .device/methods.mjs "$work" "$phase" > "$work/log-${phase%%,*}-$i.txt" 2>&1 &
  done
  wait
  echo "after $phase: $(wc -l < "$METHODS_ROWS") rows at $(date +%T)"
done
tar cf "$OUT/methods-logs.tar" -C "$work" $(cd "$work" && ls log-*.txt)
