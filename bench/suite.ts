// The benchmark suite of the GPU runtime: copy bandwidth, f32 matmul throughput, launch overhead.
// `scale` picks shapes: 'gpu' for a real GPU, 'cpu' for SwiftShader (CPU timings of WGSL mean little).
import type { Runtime } from '../src/gpu';
import { copy4, scale } from '../src/ops';
import { matmul } from '../src/matmul';
import { ceilingsFor } from './ceilings';
import { result, seededUniforms, timeLaunch, type BenchResult } from './harness';

export type SuiteScale = 'gpu' | 'cpu';


export async function copyBench(rt: Runtime, scaleName: SuiteScale): Promise<BenchResult> {
  const floats = scaleName === 'gpu' ? 64 * 1024 * 1024 : 4 * 1024 * 1024;
  const src = rt.upload(seededUniforms(floats, 1), [floats], 'copy-src');
  const dst = rt.tensor([floats], 'f32', 'copy-dst');
  const t = await timeLaunch(rt, (step) => copy4(rt, step, src, dst), { iters: 20, reps: 5 });
  rt.free(src, dst);
  const bytes = 2 * 4 * floats;
  const ceil = ceilingsFor(rt.adapterInfo.device + ' ' + rt.adapterInfo.description);
  return result('copy (vec4)', `${(4 * floats) / 2 ** 20} MiB`, bytes / t.seconds / 1e9, 'GB/s', ceil ? ceil.copyBytesPerSecond / 1e9 : null, t.seconds, t.timing);
}

async function matmulBench(rt: Runtime, n: number, transB: boolean, tile?: 4 | 8, depth?: 8 | 16 | 32): Promise<BenchResult> {
  const A = rt.upload(seededUniforms(n * n, 2), [n, n], 'A');
  const B = rt.upload(seededUniforms(n * n, 3), [n, n], 'B');
  const C = rt.tensor([n, n], 'f32', 'C');
  const iters = n >= 4096 ? 10 : 20;
  const t = await timeLaunch(rt, (step) => matmul(rt, step, A, B, C, { transB, tile, depth }), { iters, reps: 3 });
  rt.free(A, B, C);
  const ceil = ceilingsFor(rt.adapterInfo.device + ' ' + rt.adapterInfo.description);
  const config = tile ? ` tile ${16 * tile}×${16 * tile}×${depth ?? (tile === 8 ? 8 : 16)}` : ' (default tiling)';
  const name = `matmul f32 ${transB ? 'A·Bᵀ' : 'A·B'}${config}`;
  return result(name, `${n}³`, (2 * n ** 3) / t.seconds / 1e12, 'TFLOP/s', ceil ? ceil.f32FlopsPerSecond / 1e12 : null, t.seconds, t.timing);
}

/** Launch overhead: trivial dispatches recorded into one step, and one-dispatch steps each submitted. */
async function overheadBench(rt: Runtime): Promise<BenchResult[]> {
  const x = rt.upload(seededUniforms(64, 4), [64], 'x');
  const y = rt.tensor([64], 'f32', 'y');
  await rt.sync();
  const dispatches = 5000;
  let t0 = performance.now();
  const step = rt.step();
  for (let i = 0; i < dispatches; i++) await scale(rt, step, x, 1.0001, y);
  step.submit();
  await rt.sync();
  const inStep = (performance.now() - t0) / 1000;
  const steps = 1000;
  t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const s = rt.step();
    await scale(rt, s, x, 1.0001, y);
    s.submit();
  }
  await rt.sync();
  const perSubmit = (performance.now() - t0) / 1000;
  // The GPU side alone: the same trivial kernel, timed like every other kernel.
  const gpu = await timeLaunch(rt, (s) => scale(rt, s, x, 1.0001, y), { iters: 200, reps: 5 });
  // Back to back in one pass, each writing y (so a barrier between launches, as in a forward's dependent chain).
  const chain = await timeLaunch(rt, (s) => scale(rt, s, x, 1.0001, y), { iters: 200, reps: 5, stream: true });
  rt.free(x, y);
  return [
    { ...result('trivial dispatch, GPU time', '64 floats', gpu.seconds * 1e6, 'µs', null, gpu.seconds, gpu.timing), wallSeconds: gpu.wall },
    { ...result('trivial dispatch, GPU time in a dependent chain', '200 × 64 floats', chain.seconds * 1e6, 'µs', null, chain.seconds, chain.timing), wallSeconds: chain.wall },
    result('trivial dispatches in one step', `${dispatches} × 64 floats`, dispatches / inStep, 'dispatches/s', null, inStep / dispatches, 'wall'),
    result('one-dispatch steps, each submitted', `${steps} × 64 floats`, steps / perSubmit, 'steps/s', null, perSubmit / steps, 'wall'),
  ];
}

export async function runSuite(rt: Runtime, scaleName: SuiteScale, log: (r: BenchResult) => void = () => {}): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const add = (r: BenchResult) => {
    results.push(r);
    log(r);
  };
  add(await copyBench(rt, scaleName));
  const sizes = scaleName === 'gpu' ? [1024, 2048, 4096] : [128, 256];
  for (const n of sizes) add(await matmulBench(rt, n, false));
  for (const n of sizes) add(await matmulBench(rt, n, true));
  // The tilings the default chooses between, on the shapes where the choice matters.
  for (const n of sizes.slice(0, 2)) {
    add(await matmulBench(rt, n, false, 4, 16));
    add(await matmulBench(rt, n, false, 8, 8));
  }
  const big = sizes[sizes.length - 1];
  for (const depth of [16, 32] as const) add(await matmulBench(rt, big, false, 8, depth));
  for (const r of await overheadBench(rt)) add(r);
  return results;
}

export function formatRow(r: BenchResult): string {
  const ratio = r.ratio === null ? '' : ` (${(100 * r.ratio).toFixed(1)} % of ${r.ceiling} ${r.unit})`;
  const wall = r.wallSeconds === undefined ? '' : `, wall ${(r.wallSeconds * 1e6).toFixed(1)} µs`;
  return `${r.name.padEnd(40)} ${r.shape.padEnd(20)} ${r.value.toPrecision(4).padStart(10)} ${r.unit}${ratio}  [${(r.seconds * 1e6).toFixed(1)} µs, ${r.timing}${wall}]`;
}
