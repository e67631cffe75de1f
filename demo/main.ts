// Placeholder demo: acquires WebGPU through the public API, runs a 256×256×256 matmul, and compares
// it with a plain JavaScript product. The end-to-end fine-tuning demo replaces this page.
import { matmul, Runtime } from '../src';

const out = document.querySelector<HTMLPreElement>('#out')!;
const button = document.querySelector<HTMLButtonElement>('#run')!;

function reference(a: Float32Array, b: Float32Array, n: number): Float32Array {
  const c = new Float32Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
    }
  return c;
}

async function check(): Promise<string> {
  const rt = await Runtime.create();
  try {
    const n = 256;
    const a = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: n * n }, (_, i) => Math.cos(i));
    const A = rt.upload(a, [n, n], 'A');
    const B = rt.upload(b, [n, n], 'B');
    const C = rt.tensor([n, n], 'f32', 'C');
    const step = rt.step();
    await matmul(rt, step, A, B, C);
    const t0 = performance.now();
    step.submit();
    const got = await rt.read(C);
    const ms = performance.now() - t0;
    const want = reference(a, b, n);
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
    const info = rt.adapterInfo;
    return [
      `adapter: ${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim(),
      `features: ${[...rt.features].sort().join(', ')}`,
      `matmul ${n}³: ${ms.toFixed(1)} ms including readback, max |GPU − JS| = ${maxDiff.toExponential(2)}`,
      maxDiff < 1e-3 ? 'OK' : 'MISMATCH',
    ].join('\n');
  } finally {
    rt.dispose();
  }
}

button.addEventListener('click', async () => {
  button.disabled = true;
  out.className = '';
  out.textContent = 'Running…';
  try {
    out.textContent = await check();
  } catch (e) {
    out.className = 'error';
    out.textContent = `${(e as Error).name}: ${(e as Error).message}`;
  } finally {
    button.disabled = false;
  }
});
