// Benchmark entry for a browser page (driven by scripts/run-bench-chromium.mjs through Playwright).
// Publishes the report as window.__benchReport (or window.__benchError).
import { Runtime } from '../src/gpu';
import type { BenchReport } from './harness';
import { selfCheck } from './selfcheck';
import { formatRow, runSuite } from './suite';

const out = document.getElementById('out')!;
const w = window as unknown as { __benchReport?: BenchReport; __benchError?: string };

try {
  const rt = await Runtime.create();
  const info = rt.adapterInfo;
  const isCpu = rt.isCpuAdapter;
  const lines = [`adapter: ${info.vendor} / ${info.architecture} / ${info.device} / ${info.description}`];
  out.textContent = lines.join('\n');
  const checks = await selfCheck(rt);
  lines.push(`self-check: ${checks.filter((c) => c.pass).length}/${checks.length} kernel variants match the reference`);
  const results = await runSuite(rt, isCpu ? 'cpu' : 'gpu', (r) => {
    lines.push(formatRow(r));
    out.textContent = lines.join('\n');
  });
  w.__benchReport = { device: navigator.userAgent, adapter: info, date: new Date().toISOString(), commit: 'see runner', results, checks };
  rt.dispose();
} catch (e) {
  w.__benchError = `${(e as Error).name}: ${(e as Error).message}`;
  out.textContent = w.__benchError;
}
