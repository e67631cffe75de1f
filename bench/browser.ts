// `npm run bench` in a page (driven by scripts/run-bench-chromium.mjs through Playwright): the kernel suites in the
// page, then the same suites in a dedicated worker, then the end-to-end suite through createFinetuner in a worker and
// in the page's thread. Publishes the report as window.__benchReport (or window.__benchError).
// ?suites=kernels,worker,e2e picks parts (peers: the onnxruntime-web rows alone, in the page); ?steps=N sets the end-to-end training steps (default 10).
import { runE2e, type E2eRow } from './e2e-suite';
import { runKernelSuites, type KernelReport } from './kernel-suites';

const out = document.getElementById('out')!;
const w = window as unknown as { __benchReport?: unknown; __benchError?: string };
const params = new URLSearchParams(location.search);
const suites = new Set((params.get('suites') ?? 'kernels,worker,e2e').split(','));
const steps = Number(params.get('steps') ?? 10);
const lines: string[] = [];
const log = (line: string) => {
  lines.push(line);
  out.textContent = lines.join('\n');
};

function inWorker(): Promise<KernelReport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./suites-worker.ts', import.meta.url), { type: 'module' });
    worker.onerror = (e) => reject(new Error(`the bench worker failed: ${e.message}`));
    worker.onmessage = ({ data }) => {
      if (data.line) log(`[worker] ${data.line}`);
      else {
        worker.terminate();
        if (data.error) reject(new Error(data.error));
        else resolve(data.report);
      }
    };
    worker.postMessage('run');
  });
}

try {
  const page = suites.has('kernels') || suites.has('peers') ? await runKernelSuites((l) => log(`[page] ${l}`), !suites.has('kernels')) : null;
  const worker = suites.has('worker') ? await inWorker() : null;
  // An end-to-end failure is reported beside the kernel rows, not instead of them.
  const e2e: E2eRow[] = [];
  const errors: string[] = [];
  for (const where of suites.has('e2e') ? (['worker', 'page'] as const) : []) {
    try {
      e2e.push(await runE2e(where, steps, log));
    } catch (e) {
      errors.push(`e2e in the ${where}: ${(e as Error).name}: ${(e as Error).message}`);
      log(errors.at(-1)!);
    }
  }
  w.__benchReport = { device: navigator.userAgent, date: new Date().toISOString(), commit: 'see runner', page, worker, e2e, errors };
} catch (e) {
  w.__benchError = `${(e as Error).name}: ${(e as Error).message}`;
  log(w.__benchError);
}
