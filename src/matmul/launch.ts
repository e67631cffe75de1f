// Recording the matmul family's launches, dense and quantized alike: the decode GEMVs (M ≤ 8 rows) and the tiled
// GEMM (shaders/matmul/), their uniforms, tilings and template values. dense.ts and quantized.ts choose; this records.
import type { Runtime, Step, Tensor } from '../gpu';
import { renderWgsl, Uniforms, variantName, type TemplateValues } from '../gpu';
import { MATMUL_WGSL } from './wgsl';

export interface GemmTiles {
  /** Register tile per invocation along M: 8 (128-row workgroup tiles) or 4 (64). Default, with tileN: the
   *  largest of 128×128, 128×64 and 64×64 workgroup tiles that still gives at least 256 workgroups (two waves on a
   *  132-SM H100; 512 for quantized 128×128 tiles; BENCHMARKS.md), else 64×64. */
  tile?: 4 | 8;
  /** Register tile along N. Default: the automatic choice above, or `tile` when that is given. */
  tileN?: 4 | 8;
  /** K-depth of a workgroup tile: 8, 16 or 32. Default: 8 for 128×128 tiles, else 16 (fastest on the H100,
   *  see BENCHMARKS.md). */
  depth?: 8 | 16 | 32;
}

/** The uniform Params of the decode GEMVs (gemv.wgsl, gemv_units.wgsl, gemv_slices.wgsl): M, N, K, whether to add
 *  into Y, where the 2nd and 3rd parts of a stacked weight start (N when it has fewer), and the factor every output
 *  is multiplied by before it is stored. */
export function gemvParams(
  { M, N, K, accumulate = false, part1 = N, part2 = N, scale = 1 }:
  { M: number; N: number; K: number; accumulate?: boolean; part1?: number; part2?: number; scale?: number },
): Uint8Array {
  return new Uniforms(7).u32(M).u32(N).u32(K).u32(accumulate ? 1 : 0).u32(part1).u32(part2).f32(scale).bytes;
}

/** A finite number for alpha / scale, or a RangeError naming the operation. */
export function checkScale(value: number | undefined, what: string, op: string): number {
  if (value === undefined) return 1;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new RangeError(`${op}: ${what} must be a finite number, got ${value}`);
  return value;
}

/** The decode GEMVs, by the kernel file each is. */
export type GemvName = 'gemv' | 'gemv_units' | 'gemv_slices';

/** The source of a decode GEMV (shaders/matmul/<name>.wgsl with what it includes): SUBGROUPS in `values` sums a
 *  row's lanes with subgroup shuffles, which needs the shader to enable the extension. */
export function gemvSource(name: GemvName, values: TemplateValues): string {
  return (values.SUBGROUPS ? 'enable subgroups;\n' : '') + renderWgsl(name, MATMUL_WGSL[`${name}.wgsl`], values, MATMUL_WGSL);
}

export function gemvKernel(rt: Runtime, name: GemvName, values: TemplateValues) {
  return rt.kernel({ shader: variantName(name, values), code: () => gemvSource(name, values), entryPoint: 'main' });
}

export interface GemmDims {
  M: number;
  N: number;
  K: number;
  batch: number;
  /** Elements between batches of B (0: one B shared by every batch). */
  strideB: number;
}

/** The workgroup tiling recordGemm uses: the one given in `options`, or the automatic choice (GemmTiles.tile). */
export function gemmTiling({ M, N, batch }: Pick<GemmDims, 'M' | 'N' | 'batch'>, quantized: boolean, options: GemmTiles = {}) {
  const workgroups = (rows: number, cols: number) => batch * Math.ceil(M / rows) * Math.ceil(N / cols);
  // Quantized 128×128 tiles want 512 workgroups: fewer of them fit an SM than f32 ones (inferred from wave counts),
  // so at 344 (M = 512, N = 11008) a second, mostly empty wave ran; 128×64 tiles took dY·Ŵ there from 21.4 to
  // 25.5 TFLOP/s on the H100 (BENCHMARKS.md, Decisions), while f32 lost 5 % with them.
  const bigTiles = quantized ? 512 : 256;
  const auto: [4 | 8, 4 | 8] = workgroups(128, 128) >= bigTiles ? [8, 8] : workgroups(128, 64) >= 256 ? [8, 4] : [4, 4];
  const given = options.tile !== undefined || options.tileN !== undefined;
  const tile = given ? (options.tile ?? 8) : auto[0];
  const tileN = given ? (options.tileN ?? tile) : auto[1];
  const depth = options.depth ?? (tile === 8 && tileN === 8 ? 8 : 16);
  if ((tile === 4 || tileN === 4) && depth === 8) throw new RangeError('matmul: a register tile of 4 needs depth 16 or 32');
  return { tile, tileN, depth };
}

/** matmul.wgsl's template values that a variant leaves at their plain form unless it names them: workgroups in grid
 *  order, B fetched a tile at a time, statistics loaded per slot. */
export const GEMM_VARIANT_DEFAULTS = { MGROUP: 0, BLOCKB: 0, SHAREDSTATS: 0 };

/**
 * Records one launch of shaders/matmul/matmul.wgsl. `bindings` follow the shader: A, B (or the codes of a
 * quantized B), C, then any extra bindings of the variant; `variant` holds its template values
 * beyond the tiling (TRANS_B, QUANT and the quantized format's; MGROUP, BLOCKB, SHAREDSTATS, default
 * GEMM_VARIANT_DEFAULTS). QUANT = 1 includes the quantized B reader (dequant.wgsl).
 */
export async function recordGemm(
  rt: Runtime,
  step: Step,
  { M, N, K, batch, strideB }: GemmDims,
  bindings: Tensor[],
  variant: Record<string, number>,
  options: GemmTiles & { transA?: boolean; alpha?: number; accumulate?: boolean } = {},
) {
  const { tile, tileN, depth } = gemmTiling({ M, N, batch }, !!variant.QUANT, options);
  const values = {
    TM: tile, TN: tileN, BK: depth, TRANS_A: +!!options.transA,
    VEC4: +(M % 4 === 0 && N % 4 === 0 && K % 4 === 0), ...GEMM_VARIANT_DEFAULTS, ...variant,
  };
  const kernel = await rt.kernel({ shader: variantName('matmul', values), code: () => renderWgsl('matmul', MATMUL_WGSL['matmul.wgsl'], values, MATMUL_WGSL), entryPoint: 'main' });
  const params = new Uniforms(8)
    .u32(M).u32(N).u32(K).f32(options.alpha ?? 1)
    .u32(options.accumulate ? 1 : 0).u32(M * K).u32(strideB).u32(M * N);
  step.dispatch(kernel, params.bytes, bindings, [Math.ceil(N / (16 * tileN)), Math.ceil(M / (16 * tile)), batch], `matmul ${M}x${N}x${K}`);
}
