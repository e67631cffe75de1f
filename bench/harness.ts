// Kernel timing: warm up, run many iterations, take the median. GPU timestamps (one pass per
// dispatch) where the adapter has them; wall-clock over a whole submitted step as a cross-check and
// as the fallback. Wall-clock includes launch overhead, so for short kernels it is an upper bound.
import type { Runtime, Step } from '../src/gpu';

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
  microLlamaLoss?: unknown[];
}

export type Record = (step: Step) => Promise<void>;

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

/** Median wall seconds per iteration of `iters` launches recorded into one step. */
export async function wallSeconds(rt: Runtime, record: Record, iters: number, reps: number): Promise<number> {
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const step = rt.step();
    for (let i = 0; i < iters; i++) await record(step);
    await rt.sync();
    const t0 = now();
    step.submit();
    await rt.sync();
    samples.push((now() - t0) / 1000 / iters);
  }
  return median(samples);
}

/** Median GPU seconds of one launch, from timestamps around each dispatch. */
export async function timestampSeconds(rt: Runtime, record: Record, iters: number): Promise<number> {
  const step = rt.step({ profile: true });
  for (let i = 0; i < iters; i++) await record(step);
  step.submit();
  const timings = await step.timings();
  await rt.sync();
  return median(timings.map((t) => t.ns / 1e9));
}

/** Minimum wall time of back-to-back launches before a measurement. An idle or CPU-bound GPU drops its
 *  clocks, and a µs-scale kernel then measures 2–4× slower (seen on the H100: 21 µs vs 51–82 µs). */
const WARM_MS = 200;

/** Times `record` (one launch per call): ~200 ms of the same launches, then the median per launch. */
export async function timeLaunch(
  rt: Runtime,
  record: Record,
  { iters = 20, reps = 5 }: { iters?: number; reps?: number } = {},
): Promise<{ seconds: number; wall: number; timing: 'timestamp' | 'wall' }> {
  const t0 = now();
  do await wallSeconds(rt, record, iters, 1);
  while (now() - t0 < WARM_MS);
  const wall = await wallSeconds(rt, record, iters, reps);
  if (!rt.canProfile) return { seconds: wall, wall, timing: 'wall' };
  const ts = await timestampSeconds(rt, record, iters * reps);
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
