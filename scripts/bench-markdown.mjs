// Markdown tables of an `npm run bench` report (bench/results/local.json): the kernel suites in the page beside the
// same suites in a worker, the onnxruntime-web MatMulNBits peer, and the end-to-end rows.
// Also a command: node scripts/bench-markdown.mjs bench/results/local.json
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const fmt = (v) => (v === null || v === undefined ? '—' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
const us = (s) => (s === null || s === undefined ? '—' : (s * 1e6).toFixed(1));

/** A markdown row of a peer comparison (bench/peers/matmulnbits-peer.ts' PeerRow), with a `where` column if given. */
export function peerRow(p, where) {
  const cells = [p.what, p.shape, ...(where ? [where] : []), us(p.ours), us(p.peer), p.ratio === null ? '—' : p.ratio.toFixed(2),
    p.peerError === null ? '—' : p.peerError.toExponential(1), p.note ?? ''];
  return `| ${cells.join(' | ')} |`;
}

export function markdown(report) {
  const lines = [];
  const { page, worker } = report;
  const first = page ?? worker;
  if (first) {
    const a = first.adapter;
    lines.push(`${a.description || a.device || a.vendor} · ${report.device} · ${report.date} · commit ${report.commit}`, '');
    for (const [where, r] of [['page', page], ['worker', worker]]) {
      if (r) lines.push(`Self-check in the ${where}: ${r.checks.filter((c) => c.pass).length}/${r.checks.length} kernel variants match the reference.`);
    }
    lines.push('', '| benchmark | shape | page | worker | unit | ceiling | page ratio |', '| --- | --- | --- | --- | --- | --- | --- |');
    const inWorker = new Map((worker?.results ?? []).map((r) => [`${r.name}|${r.shape}`, r]));
    for (const r of first.results) {
      const p = page ? r : null;
      const w = inWorker.get(`${r.name}|${r.shape}`);
      lines.push(`| ${r.name} | ${r.shape} | ${fmt(p?.value)} | ${fmt(w?.value)} | ${r.unit} | ${fmt(r.ceiling)} | ${p?.ratio == null ? '' : p.ratio.toFixed(3)} |`);
    }
    lines.push('', `Peer: onnxruntime-web ${first.ortVersion ?? '(not loaded)'} MatMulNBits (WebGPU EP) on the same device; wall µs per launch, one launch per submission.`, '');
    lines.push('| kernel | shape | where | ours µs | onnxruntime-web µs | peer / ours | peer error | note |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const [where, r] of [['page', page], ['worker', worker]]) {
      for (const p of r?.peers ?? []) {
        lines.push(peerRow(p, where));
      }
    }
  }
  if (report.e2e?.length) {
    lines.push('', 'End to end: the demo model (5.25M parameters) through createFinetuner, NF4 G64, QLoRA r 8, wall clock.', '');
    lines.push('| where | cold load s | warm load s | tokens/step | s/step | train tokens/s | loss first → last | decode tokens/s | perplexity pass tokens/s |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const e of report.e2e) {
      lines.push(`| ${e.where} | ${e.coldLoadSeconds.toFixed(1)} | ${e.warmLoadSeconds.toFixed(1)} | ${e.tokensPerStep} | ${e.secondsPerStep.toFixed(3)} | ${fmt(e.trainTokensPerSecond)} | ${e.firstLoss.toFixed(3)} → ${e.lastLoss.toFixed(3)} | ${fmt(e.decodeTokensPerSecond)} | ${fmt(e.evalTokensPerSecond)} |`);
    }
  }
  for (const e of report.errors ?? []) lines.push('', `**Failed:** ${e}`);
  return lines.join('\n') + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(markdown(JSON.parse(readFileSync(process.argv[2] ?? 'bench/results/local.json', 'utf8'))));
}
