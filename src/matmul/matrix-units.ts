// The quantized GEMMs on the matrix units (shaders/matmul/matmul_mma.wgsl): f16 operands, f32 accumulation, for
// M > 8 rows where the runtime's matmul path is 'f16-matrix' (src/gpu/capabilities.ts).
// Numerics. Each row of the activations (X forward, dY backward) is scaled by a power of two that puts its largest
// |value| in [2^13, 2^14) before it is rounded to f16 (shaders/f16_scale.wgsl), and the output row is scaled back in
// f32: no row overflows f16's 65504, and no row of small gradients sinks into f16's subnormals, so no loss scaling is
// needed and no step is ever skipped for it. Ŵ is decoded in f32 and rounded to f16 once (LLaMA weights are far
// inside f16's range; a decoded |ŵ| beyond it becomes inf and makes the output non-finite, never silently wrong).
// So each product a·ŵ carries at most two f16 roundings (relative 2^-11 each) and the sum f32's: the bound
// f16ProductBound states, which the self-checks here and on the GPU machine hold the kernel to.
// Every kernel variant passes a self-check on its first use on a device; one that fails turns the runtime to f32.
import type { Runtime, Step, Tensor } from '../gpu';
import { renderWgsl, u32Params, Uniforms, variantName } from '../gpu';
import { rowF16Scale } from '../ops';
import { grid1d } from '../ops/grid';
import { dequantize, dequantizeStats, doubleQuantizeStats, packCodes, type QuantizedWeight, type QuantSpec } from '../quant';
import { formatValues, weightBindings } from './quantized-format';
import { MATMUL_WGSL } from './wgsl';

/** How matmul_mma.wgsl is cut: fragments per subgroup along M and N (FM, FN), subgroups along M and N (WM, WN), the
 *  K-depth of a tile (BK, 32 or 64), two tile buffers or one (DB), A's fragments read from an f16 copy of its
 *  scaled rows (AGLOBAL = 1, where K % BK = 0) or converted into workgroup memory tile by tile (0), and the fragments
 *  as named variables (UNROLL = 1, the default where FN = 4 and FM is 2 or 4) or arrays indexed in loops (0). */
export interface MatrixTiles { FM: number; FN: number; WM: number; WN: number; BK: 32 | 64; DB: 0 | 1; AGLOBAL: 0 | 1; UNROLL?: 0 | 1 }

/** The form measured on an H100 (BENCHMARKS.md, "Matrix units"); UNROLL, DB, AGLOBAL and K-depth 64 are built and
 *  self-checked on first use but not yet timed, so they stay options until they are. */
export const DEFAULT_MATRIX_TILES: MatrixTiles = { FM: 4, FN: 4, WM: 2, WN: 2, BK: 32, DB: 0, AGLOBAL: 0, UNROLL: 0 };

/** The relative bound on |got − exact| / Σ_k |a_k·ŵ_k| for an output of the f16 matrix path with K terms:
 *  two f16 roundings per product (2·2^-11 + 2^-22) and f32 accumulation (K·2^-24, the textbook γ_K). */
export function f16ProductBound(K: number): number {
  return 2 * 2 ** -11 + 2 ** -22 + K * 2 ** -24;
}

/** The worst output of an f16-path GEMM C = alpha·A·B (+ c0) against float64, as a fraction of its bound (≤ 1
 *  passes): f16ProductBound times Σ|a·b| plus the epilogue's own f32 roundings (alpha, the add). B is Ŵᵀ (transB,
 *  w [N, K]) or Ŵ (w [K, N]). Also the worst |got − exact| / Σ|a·b|, for the record. */
export function worstOverF16Bound(
  got: Float32Array, { a, w, c0, M, N, K, transB, alpha }: { a: Float32Array; w: Float32Array; c0: Float32Array | null; M: number; N: number; K: number; transB: boolean; alpha: number },
) {
  let worstOverBound = 0;
  let worstRelative = 0;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let exact = 0;
      let magnitude = 0;
      for (let k = 0; k < K; k++) {
        const wv = transB ? w[n * K + k] : w[k * N + n];
        exact += a[m * K + k] * wv;
        magnitude += Math.abs(a[m * K + k] * wv);
      }
      const want = alpha * exact + (c0 ? c0[m * N + n] : 0);
      const err = Math.abs(got[m * N + n] - want);
      const bound = alpha * magnitude * f16ProductBound(K) + 2 ** -23 * (Math.abs(want) + alpha * magnitude) + 1e-37;
      worstOverBound = Math.max(worstOverBound, Number.isNaN(err) ? Infinity : err / bound);
      worstRelative = Math.max(worstRelative, Number.isNaN(err) ? Infinity : err / (alpha * magnitude || 1));
    }
  }
  return { worstOverBound, worstRelative };
}

/** Whether the quantized GEMM of these shapes takes the matrix path on this runtime. */
export function onMatrixPath(rt: Runtime, M: number, K: number, gemvMaxRows: number): boolean {
  return rt.matmulPath.kind === 'f16-matrix' && M > gemvMaxRows && K % 4 === 0;
}

/** A GEMM input made ready for the matrix kernel: its rows' scales and, for AGLOBAL tilings, its scaled f16 copy. */
export interface MatrixRows {
  a: Tensor;
  scales: Tensor;
  /** [M, K] f16 (bound as u32 words), or null where the kernel converts A itself. */
  a16: Tensor | null;
}

/** Records what the kernel needs of A [M, K] (MatrixRows) into `step`; freeMatrixRows after its last GEMM. `alloc`
 *  makes its tensors (default: from the pool). */
export async function prepareMatrixRows(
  rt: Runtime, step: Step, a: Tensor, tiles: MatrixTiles = DEFAULT_MATRIX_TILES,
  alloc: (shape: number[], dtype: 'f32' | 'u32', label: string) => Tensor = (shape, dtype, label) => rt.tensor(shape, dtype, label),
): Promise<MatrixRows> {
  const [M, K] = a.shape;
  const scales = alloc([M], 'f32', `${a.label} f16 scales`);
  if (!tiles.AGLOBAL || K % tiles.BK !== 0) {
    await rowF16Scale(rt, step, a, scales);
    return { a, scales, a16: null };
  }
  const a16 = alloc([(M * K) / 2], 'u32', `${a.label} f16`);
  const kernel = await rt.kernel({ shader: 'scale_rows_f16', code: () => renderWgsl('scale_rows_f16', MATMUL_WGSL['scale_rows_f16.wgsl'], {}, MATMUL_WGSL), entryPoint: 'main' });
  step.dispatch(kernel, u32Params(M, K), [a, scales, a16], grid1d(M, rt.device.limits.maxComputeWorkgroupsPerDimension), `scale rows f16 ${M}x${K}`);
  return { a, scales, a16 };
}

export function freeMatrixRows(rt: Runtime, rows: MatrixRows): void {
  rt.free(rows.scales, ...(rows.a16 ? [rows.a16] : []));
}

/** matmul_mma.wgsl's template values for this weight, direction and A (LAYOUT set by matrixKernel). */
function matrixValues(rt: Runtime, w: Pick<QuantizedWeight, 'spec' | 'statBlocks'>, transB: boolean, tiles: MatrixTiles, aglobal: boolean) {
  const config = rt.matmulPath.config!;
  const format = formatValues(w, true);
  const unrollable = tiles.FN === 4 && (tiles.FM === 2 || tiles.FM === 4);
  if (tiles.UNROLL && !unrollable) throw new RangeError(`matrix tiling ${JSON.stringify(tiles)}: UNROLL needs FN = 4 and FM 2 or 4`);
  return {
    ...format, SM: config.M, SN: config.N, SK: config.K, ...tiles, AGLOBAL: +aglobal, SG: rt.adapterInfo.subgroupMaxSize,
    TRANS_B: +transB, SCALE_BINDING: 6 + format.DQ, UNROLL: tiles.UNROLL ?? +unrollable, FM4: +(tiles.FM === 4),
  };
}

/** Which spelling of subgroupMatrixLoad/Store this device's WGSL compiler takes, by runtime: the layout as a
 *  template argument (current) where it compiles, else the older bool argument. */
const layouts = new WeakMap<Runtime, 0 | 1>();

async function matrixKernel(rt: Runtime, values: Record<string, number>) {
  const compile = (LAYOUT: 0 | 1) => {
    const v = { ...values, LAYOUT };
    return rt.kernel({ shader: variantName('matmul_mma', v), code: () => renderWgsl('matmul_mma', MATMUL_WGSL['matmul_mma.wgsl'], v, MATMUL_WGSL), entryPoint: 'main' });
  };
  const known = layouts.get(rt);
  if (known !== undefined) return compile(known);
  try {
    const kernel = await compile(1);
    layouts.set(rt, 1);
    return kernel;
  } catch {
    const kernel = await compile(0);
    layouts.set(rt, 0);
    return kernel;
  }
}

/** Records the kernel: C = alpha·A·Ŵᵀ (transB, the forward) or alpha·A·Ŵ (backward-input), (+ C). */
async function dispatchMatrixGemm(
  rt: Runtime, step: Step, { M, N, K }: { M: number; N: number; K: number }, w: QuantizedWeight, rows: MatrixRows, c: Tensor,
  transB: boolean, alpha: number, accumulate: boolean, tiles: MatrixTiles, label: string,
) {
  const values = matrixValues(rt, w, transB, tiles, !!rows.a16);
  const threads = tiles.WM * tiles.WN * values.SG;
  if (threads > rt.device.limits.maxComputeInvocationsPerWorkgroup) {
    throw new RangeError(`matrix tiling ${JSON.stringify(tiles)}: ${threads} invocations per workgroup, the device allows ${rt.device.limits.maxComputeInvocationsPerWorkgroup}`);
  }
  const kernel = await matrixKernel(rt, values);
  const params = new Uniforms(8).u32(M).u32(N).u32(K).f32(alpha).u32(accumulate ? 1 : 0).u32(0).u32(0).u32(0);
  const bindings = weightBindings(rt, rows.a16 ?? rows.a, w, c);
  const [BM, BN] = [tiles.WM * tiles.FM * values.SM, tiles.WN * tiles.FN * values.SN];
  step.dispatch(kernel, params.bytes, [...bindings, rows.scales], [Math.ceil(N / BN), Math.ceil(M / BM)], label);
}

/**
 * Records C = alpha·A·Ŵᵀ (transB, the forward) or alpha·A·Ŵ (the backward-input), (+ C), A's rows prepared by
 * prepareMatrixRows with the same tiling. Runs the variant's self-check first if this device has not run it: false
 * (nothing recorded) when it fails and the runtime has turned to f32.
 */
export async function recordMatrixGemm(
  rt: Runtime, step: Step, dims: { M: number; N: number; K: number }, w: QuantizedWeight, rows: MatrixRows, c: Tensor,
  { transB, alpha = 1, accumulate = false, tiles = DEFAULT_MATRIX_TILES }: { transB: boolean; alpha?: number; accumulate?: boolean; tiles?: MatrixTiles },
): Promise<boolean> {
  if (!(await variantChecked(rt, w.spec, !!w.statBlocks, transB, { ...tiles, AGLOBAL: rows.a16 ? 1 : 0 }))) return false;
  await dispatchMatrixGemm(rt, step, dims, w, rows, c, transB, alpha, accumulate, tiles, `matmul f16 ${dims.M}x${dims.N}x${dims.K}`);
  return true;
}

/** Runs the self-checks of the matrix kernels a weight of this format takes (forward and backward, the default
 *  tiling) now rather than on the first GEMM, so the path is settled before the model is used; nothing on the f32
 *  path. Resolves with the path the runtime is on afterwards. */
export async function prepareMatrixPath(rt: Runtime, w: Pick<QuantizedWeight, 'spec' | 'statBlocks'>) {
  if (rt.matmulPath.kind === 'f16-matrix') {
    for (const transB of [true, false]) await variantChecked(rt, w.spec, !!w.statBlocks, transB, DEFAULT_MATRIX_TILES);
  }
  return rt.capabilities.matmul;
}

const checks = new WeakMap<Runtime, Map<string, Promise<boolean>>>();

/** Whether the variant for this format, direction and tiling passed its self-check on `rt` (run once, on first
 *  use). A failure, or a kernel that does not compile, settles the runtime's path to f32 with the reason. */
function variantChecked(rt: Runtime, spec: QuantSpec, dq: boolean, transB: boolean, tiles: MatrixTiles): Promise<boolean> {
  let byVariant = checks.get(rt);
  if (!byVariant) checks.set(rt, (byVariant = new Map()));
  const key = `${spec.codebook}${spec.bits} G${spec.groupSize}${dq ? ' DQ' : ''} ${transB ? 'forward' : 'backward'} ${JSON.stringify(tiles)}`;
  let check = byVariant.get(key);
  if (!check) {
    check = selfCheck(rt, { ...spec, doubleQuant: dq }, transB, tiles).then(
      (worst) => {
        rt.settleMatmulPath(worst <= 1, `${key}: worst error ${worst.toFixed(3)} of the f16 bound`);
        return worst <= 1;
      },
      (error: unknown) => {
        rt.settleMatmulPath(false, `${key}: ${error instanceof Error ? error.message : String(error)}`);
        return false;
      },
    );
    byVariant.set(key, check);
  }
  return check.then((ok) => ok && rt.matmulPath.kind === 'f16-matrix');
}

/** A weight of seeded random codes and statistics (s ∈ [0.01, 0.05), o ∈ [−0.025, 0.025)), its tensors made by `make`,
 *  with its float64-exact dense form: the matrix kernels' checks, here and on the GPU machine. */
export function seededCodesWeight(
  out: number, inF: number, spec: QuantSpec, next: () => number, make: (shape: number[], label: string, data: Float32Array | Uint32Array) => Tensor, name = 'w',
): { qw: QuantizedWeight; dense: Float32Array } {
  const codes = Uint8Array.from({ length: out * inF }, () => Math.floor(next() * (1 << spec.bits)));
  const groups = (out * inF) / spec.groupSize;
  let stats: Float32Array = Float32Array.from({ length: 2 * groups }, (_, i) => (i % 2 === 0 ? 0.01 + 0.04 * next() : 0.05 * (next() - 0.5)));
  const codesT = make([out, (inF / 32) * spec.bits], `${name} codes`, packCodes(codes, out, inF, spec.bits));
  let qw: QuantizedWeight;
  if (spec.doubleQuant) {
    const dq = doubleQuantizeStats(stats);
    stats = dequantizeStats(dq.packed, dq.blocks, groups);
    qw = {
      name, spec, out, inFeatures: inF, codes: codesT,
      stats: make([dq.packed.length], `${name} stats`, dq.packed), statBlocks: make([dq.blocks.length / 4, 4], `${name} blocks`, dq.blocks),
    };
  } else {
    qw = { name, spec, out, inFeatures: inF, codes: codesT, stats: make([out, inF / spec.groupSize, 2], `${name} stats`, stats) };
  }
  return { qw, dense: dequantize(codes, stats, out, inF, spec) };
}

/** A small seeded problem through one variant, against float64 on the CPU: the worst output's error over its
 *  f16ProductBound (≤ 1 passes). Rows span 2^-20 to 2^20 in magnitude, so the row scaling is part of what is checked;
 *  shapes are not multiples of the tiles, and the epilogue accumulates with alpha ≠ 1. It may run while a training
 *  step is being recorded (a variant's first use), so every tensor it makes is private, never a pooled buffer that
 *  step has released but not yet run. */
async function selfCheck(rt: Runtime, spec: QuantSpec, transB: boolean, tiles: MatrixTiles): Promise<number> {
  const [M, out, inF] = [77, 160, 256];
  let seed = 0x9e3779b9;
  const next = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
  const made: Tensor[] = [];
  const own = (shape: number[], label: string, data?: Float32Array | Uint32Array, dtype: 'f32' | 'u32' = 'f32') => {
    const t = rt.privateTensor(shape, label, data, dtype);
    made.push(t);
    return t;
  };
  try {
    const { qw, dense } = seededCodesWeight(out, inF, spec, next, own, 'self-check');
    const [N, K] = transB ? [out, inF] : [inF, out];
    const a = Float32Array.from({ length: M * K }, (_, i) => (next() - 0.5) * 2 ** ((Math.floor(i / K) % 41) - 20));
    const c0 = Float32Array.from({ length: M * N }, () => next() - 0.5);
    const alpha = 0.75;
    const A = own([M, K], 'self-check A', a);
    const Cout = own([M, N], 'self-check C', c0);
    const step = rt.step();
    const rows = await prepareMatrixRows(rt, step, A, tiles, (shape, dtype, label) => own(shape, label, undefined, dtype));
    await dispatchMatrixGemm(rt, step, { M, N, K }, qw, rows, Cout, transB, alpha, true, tiles, 'matmul f16 self-check');
    step.submit();
    const got = await rt.read(Cout);
    return worstOverF16Bound(got as Float32Array, { a, w: dense, c0, M, N, K, transB, alpha }).worstOverBound;
  } finally {
    rt.destroyPrivate(...made);
  }
}
