// The quantized GEMM with matmul.wgsl template values changed, A/B in one process: each variant's output checked
// against the first's (MISMATCH in the name otherwise), then all timed in rounds a, b, …, b, a, next to the f32
// matmul on the same shape and tiling (a forced tiling, or each kernel's default). The suites gemmblock
// (bench/gemm-block.ts) and gemmstats (bench/gemm-stats.ts) are lists of cases and variants for it.
import type { Runtime, Step } from '../src/gpu';
import { gemmTiling, recordGemm, type MatmulOptions } from '../src/ops/matmul';
import { codeLevels, freeQuantized, type QuantizedWeight, type QuantSpec } from '../src/quant';
import { BACKWARD_MGROUP, formatValues } from '../src/quant/matmul';
import dequantCode from '../shaders/dequant.wgsl?raw';
import { result, seededUniforms, timeLaunch, type BenchResult } from './harness';
import { collector, f32Baseline, randomWeight } from './quant-suite';
import { relativeError } from './selfcheck';

/** The weight shapes [out, in]: 4096², 11008×4096, 4096×11008. */
export const SHAPES: [number, number][] = [[4096, 4096], [11008, 4096], [4096, 11008]];

/** An int format (G = 64 unless given). */
export const intSpec = (bits: 2 | 3 | 4, doubleQuant = false, groupSize: 32 | 64 | 128 = 64): QuantSpec => ({ codebook: 'int', bits, groupSize, doubleQuant });

/** A variant: its name in the results, and its template values beyond the direction's and the format's. */
export interface GemmVariant { name: string; values: (w: QuantizedWeight) => Record<string, number> }

/** A case: M, the weights' [out, in], their formats, the tiling (default: recordGemm's choice), the direction. */
export interface GemmCase { M: number; shapes: [number, number][]; specs: QuantSpec[]; tiling: MatmulOptions; direction: 'forward' | 'backward' }

export async function runGemmVariants(rt: Runtime, log: (r: BenchResult) => void, cases: GemmCase[], variants: GemmVariant[]) {
  const { results, add } = collector(log);
  const rounds = [...variants.keys(), ...[...variants.keys()].reverse()];
  for (const { M, shapes, specs, tiling, direction } of cases) {
    const forward = direction === 'forward';
    for (const [out, inF] of shapes) {
      const [K, N] = forward ? [inF, out] : [out, inF];
      const tiles = gemmTiling({ M, N, batch: 1 }, true, tiling);
      const tilesName = `${16 * tiles.tile}×${16 * tiles.tileN}×${tiles.depth}`;
      const base = add(await f32Baseline(rt, M, out, inF, direction, tiling)).value;
      const x = rt.upload(seededUniforms(M * K, 4), [M, K], 'x');
      const y = rt.tensor([M, N], 'f32', 'y');
      for (const spec of specs) {
        const w = randomWeight(rt, out, inF, spec, 3);
        const levels = rt.constant(`levels-${spec.codebook}${spec.bits}`, () => codeLevels(spec));
        const bindings = [x, w.codes, y, w.stats, levels, ...(w.statBlocks ? [w.statBlocks] : [])];
        const own: Record<string, number> = forward ? { TRANS_B: 1 } : { TRANS_B: 0, MGROUP: BACKWARD_MGROUP };
        const record = (v: number) => (step: Step) =>
          recordGemm(rt, step, { M, N, K, batch: 1, strideB: 0 }, bindings, { ...own, QUANT: 1, ...formatValues(w), ...variants[v].values(w) }, tiling, dequantCode);
        const outputs: Float32Array[] = [];
        for (const v of variants.keys()) {
          const step = rt.step();
          await record(v)(step);
          step.submit();
          outputs.push((await rt.read(y)) as Float32Array);
        }
        const notes = outputs.map((o) => {
          const rel = relativeError(o, outputs[0]);
          return rel < 1e-6 ? '' : ` MISMATCH rel ${rel.toExponential(2)}`;
        });
        for (const [round, v] of rounds.entries()) {
          const t = await timeLaunch(rt, record(v), { iters: rt.isCpuAdapter ? 1 : 10, reps: rt.isCpuAdapter ? 1 : 3 });
          const name = `${forward ? 'X·Ŵᵀ' : 'dY·Ŵ'} ${spec.codebook}${spec.bits} G=${spec.groupSize}${spec.doubleQuant ? ' DQ' : ''} ${tilesName}, ${variants[v].name}${notes[v]} (round ${round + 1}) (ratio: vs f32 matmul)`;
          add(result(name, `M=${M} ${out}×${inF}`, (2 * M * out * inF) / t.seconds / 1e12, 'TFLOP/s', base, t.seconds, t.timing));
        }
        freeQuantized(rt, w);
      }
      rt.free(x, y);
    }
  }
  return results;
}
