// Prints a bench results JSON as markdown tables (for BENCHMARKS.md): node scripts/bench-table.mjs bench/results/h100.json
// An A/B record ({ note, runs: [{ bundle, results, … }] }) prints a table per run.
import { readFileSync } from 'node:fs';
import { peerRow } from './bench-markdown.mjs';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const fmt = (v) => (v === null || v === undefined ? '' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
// A/B files (runs[]) carry the date and commit per run.
const when = report.runs ? '' : ` · ${report.date} · commit ${report.commit}`;
console.log(`${report.adapter.description || report.adapter.device} · ${report.device}${when}\n`);
if (report.checks) console.log(`Self-check on the device: ${report.checks.filter((c) => c.pass).length}/${report.checks.length} kernel variants match the reference.\n`);
if (report.note) console.log(`${report.note}\n`);
const tables = report.runs ?? [report];
for (const run of tables) {
  if (report.runs) console.log(`\n${run.bundle}, ${run.date}${run.note ? `: ${run.note}` : ''}\n`);
  console.log('| benchmark | shape | value | unit | ceiling | ratio | µs | timing |\n| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of run.results) {
    console.log(`| ${r.name} | ${r.shape} | ${fmt(r.value)} | ${r.unit} | ${fmt(r.ceiling)} | ${r.ratio === null ? '' : r.ratio.toFixed(3)} | ${(r.seconds * 1e6).toFixed(1)} | ${r.timing} |`);
  }
}
if (report.peers?.length) {
  console.log('\n| kernel | shape | ours µs | onnxruntime-web µs | peer / ours | peer error | note |\n| --- | --- | --- | --- | --- | --- | --- |');
  for (const p of report.peers) console.log(peerRow(p));
}
if (report.fidelity?.length) {
  console.log('\n| source | format | weights | entropy plain → ICQ (bits) | RMSE plain → ICQ | groups where ICQ entropy < plain |\n| --- | --- | --- | --- | --- | --- |');
  for (const f of report.fidelity) {
    console.log(`| ${f.source} | ${f.spec} | ${f.weights} | ${f.entropyPlain.toFixed(4)} → ${f.entropyIcq.toFixed(4)} | ${f.rmsePlain.toExponential(4)} → ${f.rmseIcq.toExponential(4)} | ${f.groupsIcqLower} / ${f.groups} |`);
  }
}
if (report.microLlamaLoss?.length) {
  console.log('\n| corpus | validation tokens | 256-token windows | loss (mean of window means) | metrics.json | difference | seconds |\n| --- | --- | --- | --- | --- | --- | --- |');
  for (const m of report.microLlamaLoss) {
    console.log(`| ${m.corpus} | ${m.tokens} | ${m.windows} | ${m.meanOfWindowMeans.toFixed(6)} | ${m.reference.toFixed(6)} | ${m.difference.toExponential(2)} | ${m.seconds.toFixed(2)} |`);
  }
}
// The sizes suite (BENCH_SUITES=sizes): one row per model.
if (report.sizes?.length) {
  const gib = (b) => (b === null || b === undefined ? '' : (b / 2 ** 30).toFixed(3));
  const train = (s, c) => s.train.find((t) => t.checkpointing === c);
  console.log('\n| model | checkpoint GiB (bf16) | shards | load s | peak host RSS GiB (before the load) | GPU weights GiB (estimate) | cache entry GiB | step peak GiB, no ckpt / ckpt | train tok/s, no ckpt / ckpt | decode tok/s | stopped |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const s of report.sizes) {
    const [a, b] = [train(s, false), train(s, true)];
    console.log(`| ${s.model} | ${gib(s.checkpointBytes)} | ${s.shards} | ${s.loadSeconds?.toFixed(1) ?? ''} | ${gib(s.loadPeakRss)} (${gib(s.rssBefore)}) | ${gib(s.weightGpuBytes)} (${gib(s.estimatedBytes)}) | ${gib(s.cacheBytes)} | ${gib(a?.peakBytes)} / ${gib(b?.peakBytes)} | ${a?.tokensPerSecond.toFixed(0) ?? ''} / ${b?.tokensPerSecond.toFixed(0) ?? ''} | ${s.decodeTokensPerSecond?.toFixed(1) ?? ''} | ${s.error ?? ''} |`);
  }
}
