// The methods experiment's rows (bench/results/<card>-methods.jsonl, from scripts/methods-on-device.sh) as the
// markdown tables of BENCHMARKS.md and an SVG chart of validation perplexity against bits per method.
// Usage: node scripts/methods-report.mjs bench/results/h100-methods.jsonl bench/results/h100-methods-perplexity.svg
import { readFileSync, writeFileSync } from 'node:fs';

const [input, svgPath] = process.argv.slice(2);
const rows = readFileSync(input, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const METHODS = ['qlora', 'qa-lora', 'ir-qlora', 'q-blora', 'qa-blora', 'qa-blora-authors'];
const NAMES = { qlora: 'QLoRA', 'qa-lora': 'QA-LoRA', 'qa-lora-g32': 'QA-LoRA G32', 'ir-qlora': 'IR-QLoRA', 'q-blora': 'Q-BLoRA', 'qa-blora': 'QA-BLoRA (ours)', 'qa-blora-authors': 'QA-BLoRA (authors)' };
const CORPORA = { recovery: ['war_and_peace', 'sotu'], adaptation: ['tinyshakespeare'] };
const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
/** A setting's loss: the mean of its corpora's losses (each the mean of 256-token window means). */
const settingLoss = (loss, setting) => mean(CORPORA[setting].map((c) => loss[c]));
const ppl = (l) => Math.exp(l);

const base = (method, codebook, bits, groupSize) => rows.find((r) => r.phase === 'base' && r.method === method && r.codebook === codebook && r.bits === bits && r.groupSize === groupSize);
const float = rows.find((r) => r.method === 'float');
const key = (r) => (r.method === 'qa-lora' && r.groupSize === 32 ? 'qa-lora-g32' : r.method);
/** Grid runs of one cell, by seed. */
function cell(setting, method, codebook, bits, field = 'loss') {
  return rows.filter((r) => r.phase === 'grid' && r.setting === setting && key(r) === method && r.codebook === codebook && r.bits === bits && r[field])
    .map((r) => ({ seed: r.seed, loss: settingLoss(r[field], setting) }));
}
const fmtCell = (runs) => {
  if (!runs.length) return '—';
  const p = runs.map((r) => ppl(r.loss));
  const m = mean(p);
  return runs.length > 1 ? `${m.toFixed(2)} ±${((Math.max(...p) - Math.min(...p)) / 2).toFixed(2)}` : `${m.toFixed(2)} (1 seed)`;
};

const out = [];
out.push(`Float model: W&P ${ppl(float.loss.war_and_peace).toFixed(2)}, SOTU ${ppl(float.loss.sotu).toFixed(2)}, Shakespeare ${ppl(float.loss.tinyshakespeare).toFixed(2)} (validation perplexity).\n`);
out.push('### Bases before fine-tuning (validation perplexity: W&P / SOTU / Shakespeare)\n');
out.push('| base | G64 RTN | G64 ICQ | G32 RTN | G32 ICQ |\n| --- | --- | --- | --- | --- |');
for (const codebook of ['nf', 'int']) {
  for (const bits of [2, 3, 4]) {
    const f = (m, g) => {
      const r = base(m, codebook, bits, g);
      return r ? ['war_and_peace', 'sotu', 'tinyshakespeare'].map((c) => ppl(r.loss[c]).toFixed(1)).join(' / ') : '—';
    };
    out.push(`| ${codebook}${bits} | ${f('rtn', 64)} | ${f('icq', 64)} | ${f('rtn', 32)} | ${f('icq', 32)} |`);
  }
}
const lrs = {};
for (const r of rows.filter((r) => r.phase === 'grid')) lrs[`${key(r)}/${r.setting}`] = r.lr;
const columns = [...METHODS.slice(0, 1), 'qa-lora', 'qa-lora-g32', ...METHODS.slice(2)];
for (const setting of ['recovery', 'adaptation']) {
  const what = setting === 'recovery' ? 'War and Peace + SOTU (mean of the two losses)' : 'Shakespeare';
  out.push(`\n### ${setting[0].toUpperCase() + setting.slice(1)}: validation perplexity on ${what}, mean ±half the spread of seeds 0 and 1\n`);
  out.push(`| base | before (RTN G64) | ${columns.map((m) => `${NAMES[m]} (lr ${lrs[`${m}/${setting}`] ?? '—'})`).join(' | ')} | QA-LoRA merged | QA-LoRA G32 merged | QA-BLoRA (ours) merged |`);
  out.push(`| ${Array(columns.length + 5).fill('---').join(' | ')} |`);
  for (const codebook of ['nf', 'int']) {
    for (const bits of [2, 3, 4]) {
      const b = base('rtn', codebook, bits, 64);
      const merged = ['qa-lora', 'qa-lora-g32', 'qa-blora'].map((m) => fmtCell(cell(setting, m, codebook, bits, 'mergedLoss')));
      out.push(`| ${codebook}${bits} | ${ppl(settingLoss(b.loss, setting)).toFixed(2)} | ${columns.map((m) => fmtCell(cell(setting, m, codebook, bits))).join(' | ')} | ${merged.join(' | ')} |`);
    }
  }
}

// The papers' ordering, cell by cell (mean over seeds; lower perplexity is better).
out.push('\n### Does IR-QLoRA ≤ QA-LoRA ≤ QLoRA (perplexity) hold?\n');
out.push('| setting | base | QLoRA | QA-LoRA | IR-QLoRA | IR-QLoRA ≤ QLoRA | QA-LoRA ≤ QLoRA | IR-QLoRA ≤ QA-LoRA |\n| --- | --- | --- | --- | --- | --- | --- | --- |');
const tally = { ir: 0, qa: 0, irqa: 0, n: 0 };
for (const setting of ['recovery', 'adaptation']) {
  for (const codebook of ['nf', 'int']) {
    for (const bits of [2, 3, 4]) {
      const m = (method) => ppl(mean(cell(setting, method, codebook, bits).map((r) => r.loss)));
      const [q, qa, ir] = [m('qlora'), m('qa-lora'), m('ir-qlora')];
      tally.n++;
      tally.ir += ir <= q;
      tally.qa += qa <= q;
      tally.irqa += ir <= qa;
      out.push(`| ${setting} | ${codebook}${bits} | ${q.toFixed(2)} | ${qa.toFixed(2)} | ${ir.toFixed(2)} | ${ir <= q ? 'yes' : 'no'} | ${qa <= q ? 'yes' : 'no'} | ${ir <= qa ? 'yes' : 'no'} |`);
    }
  }
}
out.push(`\nOf ${tally.n} cells: IR-QLoRA ≤ QLoRA in ${tally.ir}, QA-LoRA ≤ QLoRA in ${tally.qa}, IR-QLoRA ≤ QA-LoRA in ${tally.irqa}.`);
const merges = rows.filter((r) => r.mergedLoss);
const worst = Math.max(...merges.map((r) => Math.max(...Object.keys(r.mergedLoss).map((c) => Math.abs(r.mergedLoss[c] - r.loss[c])))));
out.push(`Merging: ${merges.length} merged runs; the largest change of a validation loss on merging is ${worst.toExponential(2)} nats.`);
const missing = [];
for (const seed of [0, 1]) for (const setting of ['recovery', 'adaptation']) for (const codebook of ['nf', 'int']) for (const bits of [2, 3, 4]) for (const m of columns) {
  if (!rows.some((r) => r.phase === 'grid' && r.seed === seed && r.setting === setting && key(r) === m && r.codebook === codebook && r.bits === bits)) missing.push(`${m} ${setting} ${codebook}${bits} seed ${seed}`);
}
out.push(`Grid runs missing (the device budget ran out): ${missing.length ? missing.join('; ') : 'none'}.`);
console.log(out.join('\n'));

// The chart: one panel per setting and codebook, perplexity against bits, a line per method (mean over seeds).
if (svgPath) {
  const colors = { qlora: '#1f77b4', 'qa-lora': '#ff7f0e', 'qa-lora-g32': '#ffbb78', 'ir-qlora': '#2ca02c', 'q-blora': '#9467bd', 'qa-blora': '#8c564b', 'qa-blora-authors': '#e377c2', before: '#7f7f7f' };
  const panels = [['recovery', 'nf'], ['recovery', 'int'], ['adaptation', 'nf'], ['adaptation', 'int']];
  const [W, H, pad] = [330, 260, 46];
  const parts = [];
  panels.forEach(([setting, codebook], i) => {
    const x0 = (i % 2) * (W + 20) + 10;
    const y0 = Math.floor(i / 2) * (H + 30) + 52;
    const series = [['before', [2, 3, 4].map((b) => ppl(settingLoss(base('rtn', codebook, b, 64).loss, setting)))],
      ...columns.map((m) => [m, [2, 3, 4].map((b) => ppl(mean(cell(setting, m, codebook, b).map((r) => r.loss))))])];
    // The range of the fine-tuned lines: the base before fine-tuning (far above at 2 bits) is clipped to the panel.
    const all = series.filter(([m]) => m !== 'before').flatMap(([, v]) => v).filter(Number.isFinite).map(Math.log);
    const [lo, hi] = [Math.min(...all), Math.max(...all)];
    const X = (b) => x0 + pad + ((b - 2) / 2) * (W - pad - 10);
    const Y = (p) => y0 + 10 + (1 - (Math.log(p) - lo) / (hi - lo || 1)) * (H - pad - 10);
    const before = series[0][1].map((p) => p.toFixed(0)).join(' / ');
    parts.push(`<text x="${x0 + W / 2}" y="${y0 - 8}" text-anchor="middle" font-size="12">${setting}, ${codebook} G64 base (before fine-tuning: ${before})</text>`);
    parts.push(`<rect x="${x0 + pad}" y="${y0 + 10}" width="${W - pad - 10}" height="${H - pad - 10}" fill="none" stroke="#ccc"/>`);
    parts.push(`<clipPath id="panel${i}"><rect x="${x0 + pad}" y="${y0 + 10}" width="${W - pad - 10}" height="${H - pad - 10}"/></clipPath>`);
    for (const b of [2, 3, 4]) parts.push(`<text x="${X(b)}" y="${y0 + H - pad + 16}" text-anchor="middle" font-size="11">${b} bits</text>`);
    for (let k = 0; k <= 4; k++) {
      const p = Math.exp(lo + ((hi - lo) * k) / 4);
      parts.push(`<text x="${x0 + pad - 4}" y="${(Y(p) + 4).toFixed(1)}" text-anchor="end" font-size="10">${p.toFixed(p < 100 ? 1 : 0)}</text>`);
    }
    for (const [m, v] of series) {
      const pts = [2, 3, 4].map((b, j) => [X(b), Y(v[j])]).filter(([, y]) => Number.isFinite(y));
      parts.push(`<polyline clip-path="url(#panel${i})" fill="none" stroke="${colors[m]}" stroke-width="${m === 'before' ? 1 : 1.8}"${m === 'before' ? ' stroke-dasharray="4 3"' : ''} points="${pts.map((p) => p.map((c) => c.toFixed(1)).join(',')).join(' ')}"/>`);
    }
  });
  const legend = ['before', ...columns].map((m, j) => `<g transform="translate(${10 + (j % 4) * 170},${2 * (H + 30) + 62 + Math.floor(j / 4) * 16})"><line x1="0" y1="-4" x2="18" y2="-4" stroke="${colors[m]}" stroke-width="2"/><text x="22" y="0" font-size="11">${m === 'before' ? 'before fine-tuning (clipped)' : NAMES[m]}</text></g>`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W + 40}" height="${2 * (H + 30) + 100}" font-family="sans-serif">\n`
    + `<text x="10" y="16" font-size="13">micro-llama-6m, H100: validation perplexity (log scale) after 200 steps × 8 × 256 tokens, mean of 2 seeds</text>\n`
    + parts.join('\n') + '\n' + legend.join('\n') + '\n</svg>\n';
  writeFileSync(svgPath, svg);
}
