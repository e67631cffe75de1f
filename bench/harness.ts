// Kernel timing: bring the GPU's clocks up, run many iterations, take the median. GPU timestamps (a pass
// per dispatch, or one pass around a stream of dispatches) where the adapter has them; wall-clock over a
// whole submitted step as a cross-check and as the fallback (an upper bound for short kernels).
import type { Runtime, Step } from '../src/gpu';
import { matmul } from '../src/matmul';

export interface BenchResult {
  name: string;
  shape: string;
  value: number;
  unit: string;
  /** The hardware ceiling in the same unit, when known for this device. */
  ceiling: number | null;
  ratio: number | null;
  /** Median seconds per iteration the value was computed from, and how they were measured. */
  seconds: number;
  timing: 'timestamp' | 'wall';
  /** Median wall seconds per launch over a whole submitted step of launches (the cross-check). */
  wallSeconds?: number;
}

export interface BenchReport {
  device: string;
  adapter: { vendor: string; architecture: string; device: string; description: string };
  date: string;
  commit: string;
  results: BenchResult[];
  checks?: { name: string; relativeError: number; pass: boolean }[];
  fidelity?: unknown[];
  /** The fidelity rows of each of the real model's linears (source: the tensor's name). */
  fidelityPerLinear?: unknown[];
  microLlamaLoss?: unknown[];
  training?: unknown;
  /** The cost of each adapter method (BENCH_SUITES=methodcost). */
  methodsCost?: unknown;
  /** Each model size loaded, trained and decoded (BENCH_SUITES=sizes). */
  sizes?: unknown[] | null;
  finetune?: unknown;
  /** onnxruntime-web's MatMulNBits beside ours (BENCH_SUITES=peers). */
  peers?: unknown;
  /** What the device offers and the paths the runtime took (src/gpu/runtime.ts Capabilities). */
  capabilities?: unknown;
  /** The f16 matrix kernels against float64 (BENCH_SUITES=matrix or matrixcheck). */
  matrixChecks?: unknown[];
  /** The loss and LoRA gradients against PyTorch's fixtures on this runtime's path (BENCH_SUITES=gradparity). */
  gradients?: unknown[] | null;
}

export type Record = (step: Step) => Promise<void>;

/** A kernel's source with each `from` replaced by its `to`, once; a `from` missing from it is an error naming `who`
 *  (the kernel changed under a probe or variant written against its text). */
export function substitute(code: string, changes: readonly (readonly [string, string])[], who: string): string {
  for (const [from, to] of changes) {
    if (!code.includes(from)) throw new Error(`${who}: '${from.slice(0, 40)}…' not in the kernel`);
    code = code.replace(from, to);
  }
  return code;
}

/** The text of a kernel's source from `from` up to (not including) the next `to` after it; missing is an error naming
 *  `who`. */
export function between(code: string, from: string, to: string, who: string): string {
  const a = code.indexOf(from);
  const b = code.indexOf(to, a);
  if (a < 0 || b < 0) throw new Error(`${who}: '${from.slice(0, 40)}…' not in the kernel`);
  return code.slice(a, b);
}

/** Seeded uniform values in [lo, hi) (an LCG): benchmark inputs, where only the speed matters. */
export function seededUniforms(n: number, seed: number, lo = -0.5, hi = 0.5): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 4294967296;
  }
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const now = () => performance.now();

/** GPU seconds per launch of a stream: the timed passes' total over the launches. */
const perLaunch = (timings: { ns: number }[], iters: number) => timings.reduce((a, t) => a + t.ns, 0) / 1e9 / iters;

/**
 * A GPU-saturating load (f32 matmuls) submitted just before every measured step, so the GPU's clocks are at
 * their working level when the step starts. On the H100 the SM clock falls to 345–600 MHz within moments of
 * the GPU idling (nvidia-smi sampled during the bench; 1980 MHz under load), and µs-scale kernels timed after
 * CPU-side work (building the next benchmark's inputs, recording) ran 3–5× slower than the same kernels
 * right after a matmul. The load lasts ≥ 45 ms at full clock.
 */
const ramps = new WeakMap<Runtime, (step: Step) => Promise<void>>();
function clockRamp(rt: Runtime): (step: Step) => Promise<void> {
  let ramp = ramps.get(rt);
  if (!ramp) {
    const n = rt.isCpuAdapter ? 32 : 2048;
    const count = rt.isCpuAdapter ? 1 : 100;
    const A = rt.upload(seededUniforms(n * n, 99), [n, n], 'ramp-A');
    const C = rt.tensor([n, n], 'f32', 'ramp-C');
    ramp = async (step) => {
      for (let i = 0; i < count; i++) await matmul(rt, step, A, A, C, { transB: true });
    };
    ramps.set(rt, ramp);
  }
  return ramp;
}

async function submitRamp(rt: Runtime): Promise<void> {
  const step = rt.step();
  await clockRamp(rt)(step);
  step.submit();
}

/**
 * Times `record` (one launch per call). Each repetition: the clock ramp, then `iters` launches recorded
 * beforehand and submitted as the ramp ends (wall-clock per launch), then the same launches with
 * timestamps, queued behind another ramp: one timed pass per launch (the median over all launches) or,
 * with `stream`, one timed pass around all of them (the median over repetitions of the pass time / iters).
 */
export async function timeLaunch(
  rt: Runtime,
  record: Record,
  { iters = 20, reps = 5, stream = false }: { iters?: number; reps?: number; stream?: boolean } = {},
): Promise<{ seconds: number; wall: number; timing: 'timestamp' | 'wall' }> {
  const walls: number[] = [];
  const stamps: number[] = [];
  for (let r = 0; r < reps; r++) {
    const step = rt.step();
    for (let i = 0; i < iters; i++) await record(step);
    await submitRamp(rt);
    await rt.sync();
    const t0 = now();
    step.submit();
    await rt.sync();
    walls.push((now() - t0) / 1000 / iters);
    if (!rt.canProfile) continue;
    const timed = rt.step({ profile: stream ? 'pass' : 'dispatch' });
    for (let i = 0; i < iters; i++) await record(timed);
    await submitRamp(rt);
    timed.submit();
    const timings = await timed.timings();
    if (stream) stamps.push(perLaunch(timings, iters));
    else stamps.push(...timings.map((t) => t.ns / 1e9));
  }
  await rt.sync();
  const wall = median(walls);
  const ts = stamps.length ? median(stamps) : 0;
  // Timestamps quantized to zero (some browsers) are useless: fall back to wall-clock.
  return ts > 0 ? { seconds: ts, wall, timing: 'timestamp' } : { seconds: wall, wall, timing: 'wall' };
}

export function result(
  name: string,
  shape: string,
  value: number,
  unit: string,
  ceiling: number | null,
  seconds: number,
  timing: 'timestamp' | 'wall',
): BenchResult {
  return { name, shape, value, unit, ceiling, ratio: ceiling ? value / ceiling : null, seconds, timing };
}
