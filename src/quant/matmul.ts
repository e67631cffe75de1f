// Matmuls with a quantized weight Ŵ [out, in], dequantized inside the kernels, never as a full matrix:
//   forward         Y[M, out] = X[M, in]·Ŵᵀ  — M ≤ 8: gemv.wgsl (its floor: the packed bytes);
//                                              larger M: matmul.wgsl with dequantizing B tiles
//   backward-input  dX[M, in] = dY[M, out]·Ŵ — matmul.wgsl, B untransposed
import type { Runtime, Step, Tensor } from '../gpu';
import { renderWgsl, ShapeError, u32Params, variantName } from '../gpu';
import { recordGemm, type MatmulOptions } from '../ops/matmul';
import dequantCode from '../../shaders/dequant.wgsl?raw';
import gemvCode from '../../shaders/gemv.wgsl?raw';
import { codeLevels } from './format';
import type { QuantizedWeight } from './quantize';

export interface QuantMatmulOptions {
  /** Add into the output instead of overwriting it. */
  accumulate?: boolean;
  /** Tiling of the GEMM path (see MatmulOptions). */
  tile?: MatmulOptions['tile'];
  depth?: MatmulOptions['depth'];
  /** Invocations of the decode GEMV that share one output row; default rt.gemvLanes (32 on GPUs, fastest at 4096² on the H100; 1 on CPU adapters). */
  lanesPerRow?: 1 | 32 | 64 | 128 | 256;
}

/** The largest M the GEMV path takes; above it the tiled GEMM is faster. */
export const GEMV_MAX_ROWS = 8;

/** The level table of a format, uploaded once per runtime. */
function levelTable(rt: Runtime, w: QuantizedWeight): Tensor {
  return rt.constant(`levels-${w.spec.codebook}${w.spec.bits}`, () => codeLevels(w.spec));
}

function rowsOf(t: Tensor, cols: number, what: string, op: string): number {
  const rows = t.shape.length === 2 ? t.shape[0] : -1;
  if (rows < 1 || t.shape[1] !== cols || t.dtype !== 'f32') {
    throw new ShapeError(`${op}: ${what} '${t.label}' is ${t.dtype} [${t.shape}], expected f32 [M, ${cols}]`);
  }
  return rows;
}

function formatValues(w: QuantizedWeight) {
  return { BITS: w.spec.bits, GROUP: w.spec.groupSize, NF: +(w.spec.codebook === 'nf'), DQ: +!!w.statBlocks };
}

/** The weight's tensors at bindings 2, 4, 5 (and 6) of shaders/dequant.wgsl, around the output at 3. */
function weightBindings(rt: Runtime, input: Tensor, w: QuantizedWeight, output: Tensor): Tensor[] {
  return [input, w.codes, output, w.stats, levelTable(rt, w), ...(w.statBlocks ? [w.statBlocks] : [])];
}

/** Y[M, out] = X[M, in]·Ŵᵀ (+ Y). */
export async function quantMatmul(rt: Runtime, step: Step, x: Tensor, w: QuantizedWeight, y: Tensor, options: QuantMatmulOptions = {}) {
  const op = `quantMatmul(${w.name})`;
  const M = rowsOf(x, w.inFeatures, 'input', op);
  if (rowsOf(y, w.out, 'output', op) !== M) throw new ShapeError(`${op}: output '${y.label}' has ${y.shape[0]} rows, input has ${M}`);
  if (M <= GEMV_MAX_ROWS) {
    const lanes = options.lanesPerRow ?? rt.gemvLanes;
    const values = { ...formatValues(w), LANES: lanes, MR: M, DENSE: 0 };
    const kernel = await rt.kernel({ shader: variantName('gemv', values), code: () => renderWgsl('gemv', gemvCode + dequantCode, values), entryPoint: 'main' });
    const params = u32Params(M, w.out, w.inFeatures, options.accumulate ? 1 : 0);
    step.dispatch(kernel, params, weightBindings(rt, x, w, y), [Math.ceil(w.out / (256 / lanes))], `gemv ${w.name} M=${M}`);
    return;
  }
  // K-depth 16 (not the f32 kernel's 8) for 128×128 tiles: measured 0.81 → 0.83 / 0.89 of the f32 matmul at
  // M = 2048 on the H100 (bench/results/h100-quant-tuning.json); the backward keeps 8, where 16 was slower.
  await recordGemm(
    rt, step, { M, N: w.out, K: w.inFeatures, batch: 1, strideB: 0 },
    weightBindings(rt, x, w, y), { TRANS_B: 1, QUANT: 1, ...formatValues(w) }, { ...options, depth: options.depth ?? 16 }, dequantCode,
  );
}

/** dX[M, in] = dY[M, out]·Ŵ (+ dX). */
export async function quantMatmulBackward(rt: Runtime, step: Step, dy: Tensor, w: QuantizedWeight, dx: Tensor, options: QuantMatmulOptions = {}) {
  const op = `quantMatmulBackward(${w.name})`;
  const M = rowsOf(dy, w.out, 'output gradient', op);
  if (rowsOf(dx, w.inFeatures, 'input gradient', op) !== M) throw new ShapeError(`${op}: '${dx.label}' has ${dx.shape[0]} rows, '${dy.label}' has ${M}`);
  await recordGemm(
    rt, step, { M, N: w.inFeatures, K: w.out, batch: 1, strideB: 0 },
    weightBindings(rt, dy, w, dx), { TRANS_B: 0, QUANT: 1, ...formatValues(w) }, options, dequantCode,
  );
}
