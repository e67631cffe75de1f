// Diagnostic (BENCH_SUITES=gemmstatsdiag): the backward at M = 512 through quantMatmulBackward (the policy's kernel,
// SHAREDSTATS 1) and through recordGemm with SHAREDSTATS 0 and 1, in one process, rounds p, 0, 1, 1, 0, p, on two
// sets of freshly allocated buffers: does the policy's kernel time like the A/B's SHAREDSTATS 1, and how much do
// buffer placement and the process move these rows?
import type { Runtime, Step } from '../src/gpu';
import { recordGemm } from '../src/ops/matmul';
import { codeLevels, freeQuantized, quantMatmul, quantMatmulBackward, type QuantSpec } from '../src/quant';
import { BACKWARD_MGROUP, formatValues } from '../src/quant/matmul';
import dequantCode from '../shaders/dequant.wgsl?raw';
import { result, seededUniforms, timeLaunch, type BenchResult } from './harness';
import { collector, randomWeight } from './quant-suite';

export async function runGemmStatsDiag(rt: Runtime, log: (r: BenchResult) => void) {
  const { results, add } = collector(log);
  const M = 512;
  const specs: QuantSpec[] = [{ codebook: 'int', bits: 2, groupSize: 64 }, { codebook: 'int', bits: 4, groupSize: 64 }, { codebook: 'nf', bits: 4, groupSize: 64 }];
  for (const [out, inF] of [[4096, 4096], [11008, 4096], [4096, 11008]]) {
    for (const spec of specs) {
      for (const set of [1, 2]) {
        const w = randomWeight(rt, out, inF, spec, 3);
        const a = rt.upload(seededUniforms(M * out, 4), [M, out], 'a');
        const c = rt.tensor([M, inF], 'f32', 'c');
        const levels = rt.constant(`levels-${spec.codebook}${spec.bits}`, () => codeLevels(spec));
        const bindings = [a, w.codes, c, w.stats, levels];
        const gemm = (ss: number) => (step: Step) =>
          recordGemm(rt, step, { M, N: inF, K: out, batch: 1, strideB: 0 }, bindings, { TRANS_B: 0, MGROUP: BACKWARD_MGROUP, QUANT: 1, ...formatValues(w), SHAREDSTATS: ss }, {}, dequantCode);
        const policy = (step: Step) => quantMatmulBackward(rt, step, a, w, c);
        const rounds: [string, (s: Step) => Promise<void>][] = [['policy', policy], ['SS 0', gemm(0)], ['SS 1', gemm(1)], ['SS 1', gemm(1)], ['SS 0', gemm(0)], ['policy', policy]];
        for (const [i, [name, record]] of rounds.entries()) {
          const t = await timeLaunch(rt, record, { iters: 10, reps: 3 });
          add(result(`dY·Ŵ ${spec.codebook}${spec.bits} G=64 buffers ${set}, ${name} (round ${i + 1})`, `M=${M} ${out}×${inF}`, (2 * M * out * inF) / t.seconds / 1e12, 'TFLOP/s', null, t.seconds, t.timing));
        }
        if (spec.bits === 4 && spec.codebook === 'int') {
          const x = rt.upload(seededUniforms(M * inF, 4), [M, inF], 'x');
          const y = rt.tensor([M, out], 'f32', 'y');
          const t = await timeLaunch(rt, (step) => quantMatmul(rt, step, x, w, y), { iters: 10, reps: 3 });
          add(result(`X·Ŵᵀ ${spec.codebook}${spec.bits} G=64 buffers ${set}, policy`, `M=${M} ${out}×${inF}`, (2 * M * out * inF) / t.seconds / 1e12, 'TFLOP/s', null, t.seconds, t.timing));
          rt.free(x, y);
        }
        freeQuantized(rt, w);
        rt.free(a, c);
      }
    }
  }
  return results;
}
