// Diagnostic (BENCH_SUITES=gemmblockdiag): why the block fetch loses on 128×128 tiles. The same kernel with BLOCKB 0,
// BLOCKB 1, and BLOCKB 1 with the block fetched every tile (the skip removed: same loads as per tile, block registers).
import type { Runtime, Step } from '../src/gpu';
import { renderWgsl, Uniforms } from '../src/gpu';
import { codeLevels, freeQuantized, type QuantSpec } from '../src/quant';
import dequantCode from '../shaders/dequant.wgsl?raw';
import matmulCode from '../shaders/matmul.wgsl?raw';
import { result, seededUniforms, substitute, timeLaunch, type BenchResult } from './harness';
import { collector, f32Baseline, randomWeight } from './quant-suite';

export async function runGemmBlockDiag(rt: Runtime, log: (r: BenchResult) => void) {
  const { results, add } = collector(log);
  const M = rt.isCpuAdapter ? 128 : 2048;
  const shapes: [number, number][] = rt.isCpuAdapter ? [[128, 256]] : [[4096, 4096], [11008, 4096]];
  const specs: QuantSpec[] = [{ codebook: 'int', bits: 3, groupSize: 64 }, { codebook: 'int', bits: 4, groupSize: 64 }];
  for (const [out, inF] of shapes) {
    const base = add(await f32Baseline(rt, M, out, inF, 'forward')).value;
    const x = rt.upload(seededUniforms(M * inF, 4), [M, inF], 'x');
    const y = rt.tensor([M, out], 'f32', 'y');
    for (const spec of specs) {
      const w = randomWeight(rt, out, inF, spec, 3);
      const levels = rt.constant(`levels-${spec.codebook}${spec.bits}`, () => codeLevels(spec));
      const values = { TM: 8, TN: 8, BK: 8, TRANS_A: 0, VEC4: 1, TRANS_B: 1, QUANT: 1, BITS: spec.bits, GROUP: 64, NF: 0, DQ: 0, MGROUP: 0 };
      const variants: [string, string][] = [
        ['BLOCKB 0', renderWgsl('matmul', matmulCode + dequantCode, { ...values, BLOCKB: 0, CODES4: 0 })],
        ['BLOCKB 1', renderWgsl('matmul', matmulCode + dequantCode, { ...values, BLOCKB: 1, CODES4: +(spec.bits !== 3) })],
        ['BLOCKB 1, block fetched every tile', substitute(renderWgsl('matmul', matmulCode + dequantCode, { ...values, BLOCKB: 1, CODES4: +(spec.bits !== 3) }), [['  if (k0 % 32u != 0u) { return; } // the blocks in rb serve this tile too\n', '']], 'gemmblockdiag')],
      ];
      const params = new Uniforms(8).u32(M).u32(out).u32(inF).f32(1).u32(0).u32(M * inF).u32(0).u32(M * out).bytes;
      const bindings = [x, w.codes, y, w.stats, levels];
      for (const [round, v] of [0, 1, 2, 2, 1, 0].entries()) {
        const [what, code] = variants[v];
        const kernel = await rt.kernel({ shader: `gemmblockdiag ${spec.bits} ${what}`, code, entryPoint: 'main' });
        const t = await timeLaunch(rt, (step: Step) => {
          step.dispatch(kernel, params, bindings, [Math.ceil(out / 128), Math.ceil(M / 128), 1]);
          return Promise.resolve();
        }, { iters: rt.isCpuAdapter ? 1 : 10, reps: rt.isCpuAdapter ? 1 : 3 });
        add(result(`X·Ŵᵀ int${spec.bits} G=64 128×128×8, ${what} (round ${round + 1}) (ratio: vs f32 matmul)`, `M=${M} ${out}×${inF}`, (2 * M * out * inF) / t.seconds / 1e12, 'TFLOP/s', base, t.seconds, t.timing));
      }
      freeQuantized(rt, w);
    }
    rt.free(x, y);
  }
  return results;
}
