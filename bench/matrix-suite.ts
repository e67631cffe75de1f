// The f16 matrix path on the benchmarked device (BENCH_SUITES=matrix; needs a runtime on it, BENCH_MATRIX=1 in
// Node): a randomized self-check of every kernel variant against float64, held to the f16 bound
// (src/matmul/matrix-units.ts f16ProductBound), then the quantized GEMMs' TFLOP/s beside the f32 path.
import type { Runtime, Step, Tensor } from '../src/gpu';
import {
  DEFAULT_MATRIX_TILES, freeMatrixRows, prepareMatrixRows, quantMatmul, quantMatmulBackward, recordMatrixGemm, seededCodesWeight,
  worstOverF16Bound, type MatrixTiles,
} from '../src/matmul';
import { freeQuantized, type Bits, type QuantizedWeight, type QuantSpec } from '../src/quant';
import { result, seededUniforms, timeLaunch, type BenchResult } from './harness';
import { collector } from './quant-suite';

export interface MatrixCheck {
  name: string;
  /** The worst output's |got − exact| over its bound (≤ 1 passes). */
  worstOverBound: number;
  /** The worst |got − exact| / Σ|a·ŵ| seen, for the record. */
  worstRelative: number;
  pass: boolean;
}

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

/** A weight of seeded random codes and statistics in pooled tensors, with its float64-exact dense form. */
function randomCodesWeight(rt: Runtime, out: number, inF: number, spec: QuantSpec, seed: number) {
  return seededCodesWeight(out, inF, spec, lcg(seed), (shape, label, data) => rt.upload(data, shape, label));
}

/** Every format (nf/int, 2/3/4 bits, G 32/64/128, with and without DQ statistics), both directions, both epilogues
 *  (store; scale + accumulate), shapes off the tiles, rows from 2^-24 to 2^24 in magnitude. */
export async function matrixSelfCheck(rt: Runtime, log: (c: MatrixCheck) => void): Promise<MatrixCheck[]> {
  const checks: MatrixCheck[] = [];
  let seed = 77;
  for (const codebook of ['nf', 'int'] as const) {
    for (const bits of [2, 3, 4] as Bits[]) {
      for (const groupSize of [32, 64, 128] as const) {
        for (const doubleQuant of [false, true]) {
          const spec: QuantSpec = { codebook, bits, groupSize, doubleQuant };
          for (const direction of ['forward', 'backward'] as const) {
            // Odd M and (forward) odd out; the backward's reduction runs over out, which the kernel takes in fours.
            const [M, out, inF] = seed % 2 ? [77, direction === 'forward' ? 201 : 200, 384] : [300, direction === 'forward' ? 139 : 136, 256];
            const { qw, dense } = randomCodesWeight(rt, out, inF, spec, seed++);
            for (const epilogue of ['store', 'scale+accumulate'] as const) {
              const name = `${codebook}${bits} G${groupSize}${doubleQuant ? ' DQ' : ''} ${direction} ${epilogue} M=${M} ${out}×${inF}`;
              let check: MatrixCheck;
              try {
                const c = await checkOne(rt, qw, dense, M, direction, epilogue, seed++);
                check = { name, ...c, pass: c.worstOverBound <= 1 };
              } catch (e) {
                check = { name: `${name}: ${e instanceof Error ? e.message : String(e)}`, worstOverBound: Infinity, worstRelative: Infinity, pass: false };
              }
              checks.push(check);
              log(check);
            }
            freeQuantized(rt, qw);
          }
        }
      }
    }
  }
  return checks;
}

async function checkOne(
  rt: Runtime, qw: QuantizedWeight, dense: Float32Array, M: number, direction: 'forward' | 'backward', epilogue: 'store' | 'scale+accumulate', seed: number,
) {
  const next = lcg(seed);
  const forward = direction === 'forward';
  const [N, K] = forward ? [qw.out, qw.inFeatures] : [qw.inFeatures, qw.out];
  const a = Float32Array.from({ length: M * K }, (_, i) => (next() - 0.5) * 2 ** ((Math.floor(i / K) % 49) - 24));
  const accumulate = epilogue !== 'store';
  const alpha = accumulate ? 0.625 : 1;
  const c0 = Float32Array.from({ length: M * N }, () => (accumulate ? next() - 0.5 : NaN));
  const A = rt.upload(a, [M, K], 'a');
  const Cg = rt.upload(c0, [M, N], 'c');
  const step = rt.step();
  const options = { matrix: true, scale: alpha, accumulate };
  if (forward) await quantMatmul(rt, step, A, qw, Cg, options);
  else await quantMatmulBackward(rt, step, A, qw, Cg, options);
  step.submit();
  const got = await rt.read(Cg);
  rt.free(A, Cg);
  return worstOverF16Bound(got as Float32Array, { a, w: dense, c0: accumulate ? c0 : null, M, N, K, transB: forward, alpha });
}

/** TFLOP/s of the quantized GEMMs on both paths (and matrix tilings) at M = 512 and 2048; `quick`: two shapes. */
export async function runMatrixGemm(rt: Runtime, log: (r: BenchResult) => void, tilings: MatrixTiles[] = [DEFAULT_MATRIX_TILES], quick = false): Promise<BenchResult[]> {
  const { results, add } = collector(log);
  const shapes: [number, number][] = quick ? [[4096, 4096], [11008, 4096]] : [[4096, 4096], [11008, 4096], [4096, 11008]];
  const specs: QuantSpec[] = [{ codebook: 'nf', bits: 4, groupSize: 64 }, { codebook: 'int', bits: 4, groupSize: 64 }, { codebook: 'int', bits: 2, groupSize: 64 }];
  for (const direction of ['forward', 'backward'] as const) {
    for (const M of [512, 2048]) {
      for (const [out, inF] of shapes) {
        for (const spec of specs.slice(0, !quick && M === 2048 && out === 4096 && inF === 4096 ? 3 : 1)) {
          const { qw } = randomCodesWeight(rt, out, inF, spec, 5);
          const [rows, cols] = direction === 'forward' ? [inF, out] : [out, inF];
          const a = rt.upload(seededUniforms(M * rows, 4), [M, rows], 'a');
          const c = rt.tensor([M, cols], 'f32', 'c');
          const flops = 2 * M * out * inF;
          const label = `${direction === 'forward' ? 'X·Ŵᵀ' : 'dY·Ŵ'} ${spec.codebook}${spec.bits} G${spec.groupSize}`;
          const f32 = await timeLaunch(rt, (step) => run(rt, step, direction, a, qw, c, false), { iters: 10, reps: 3 });
          const base = add(result(`${label} f32 path`, `M=${M} ${out}×${inF}`, flops / f32.seconds / 1e12, 'TFLOP/s', null, f32.seconds, f32.timing));
          for (const tiles of tilings) {
            const t = await timeLaunch(rt, (step) => runTiles(rt, step, direction, a, qw, c, tiles), { iters: 10, reps: 3 });
            add(result(`${label} f16 matrix ${tiles.WM}×${tiles.WN} subgroups of ${tiles.FM}×${tiles.FN} BK ${tiles.BK}${tiles.DB ? ' DB' : ''}${tiles.AGLOBAL ? ' A global' : ''}${tiles.UNROLL === 0 ? ' arrays' : ''} (ratio: vs f32 path)`, `M=${M} ${out}×${inF}`, flops / t.seconds / 1e12, 'TFLOP/s', base.value, t.seconds, t.timing));
          }
          freeQuantized(rt, qw);
          rt.free(a, c);
        }
      }
    }
  }
  return results;
}

function run(rt: Runtime, step: Step, direction: 'forward' | 'backward', a: Tensor, w: QuantizedWeight, c: Tensor, matrix: boolean) {
  return direction === 'forward' ? quantMatmul(rt, step, a, w, c, { matrix }) : quantMatmulBackward(rt, step, a, w, c, { matrix });
}

async function runTiles(rt: Runtime, step: Step, direction: 'forward' | 'backward', a: Tensor, w: QuantizedWeight, c: Tensor, tiles: MatrixTiles) {
  const rows = await prepareMatrixRows(rt, step, a, tiles);
  const forward = direction === 'forward';
  const dims = forward ? { M: a.shape[0], N: w.out, K: w.inFeatures } : { M: a.shape[0], N: w.inFeatures, K: w.out };
  const ok = await recordMatrixGemm(rt, step, dims, w, rows, c, { transB: forward, tiles });
  freeMatrixRows(rt, rows);
  if (!ok) throw new Error(`the matrix path is off: ${rt.capabilities.matmul.why}`);
}
