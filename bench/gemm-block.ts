// The quantized forward GEMM's B fetch, A/B in one process (BENCH_SUITES=gemmblock): matmul.wgsl with BLOCKB = 1
// (a slot's 32-code block and statistics loaded once per 32 / BK tiles) against BLOCKB = 0 (its code word and
// statistics loaded every tile), alternated a, b, b, a, next to the f32 matmul on the same shape and tiling (a
// forced tiling, or each kernel's default). Outputs of the two are compared (MISMATCH in the name otherwise).
// src/quant/matmul.ts's forwardFetch picks between them from these rows.
import type { Runtime, Step } from '../src/gpu';
import { gemmTiling, recordGemm, type MatmulOptions } from '../src/ops/matmul';
import { codeLevels, freeQuantized, type QuantSpec } from '../src/quant';
import { formatValues } from '../src/quant/matmul';
import dequantCode from '../shaders/dequant.wgsl?raw';
import { result, seededUniforms, timeLaunch, type BenchResult } from './harness';
import { collector, f32Baseline, randomWeight } from './quant-suite';
import { relativeError } from './selfcheck';

const FETCHES = ['a code word and statistics per tile (BLOCKB 0)', 'a 32-code block per 32 / BK tiles (BLOCKB 1)'];

export async function runGemmBlock(rt: Runtime, log: (r: BenchResult) => void) {
  const { results, add } = collector(log);
  const int = (bits: 2 | 3 | 4, doubleQuant = false): QuantSpec => ({ codebook: 'int', bits, groupSize: 64, doubleQuant });
  const nf4: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64 };
  const [sq, tall, wide]: [number, number][] = [[4096, 4096], [11008, 4096], [4096, 11008]];
  // [M, shapes, formats, tiling (default: recordGemm's choice)]
  const cases: [number, [number, number][], QuantSpec[], MatmulOptions][] = rt.isCpuAdapter
    ? [[64, [[128, 256]], [int(3), int(4, true)], {}]]
    : [
      // M = 2048 and 1024 at the default tiling (128×128 at K-depth 8 where that makes ≥ 512 workgroups) and on 128×64
      // tiles at K-depth 16; M = 512 (128×64 by default here), M = 256 and 128 (64×64 by default here).
      [2048, [sq, tall, wide], [int(2), int(3), int(4), nf4, int(4, true)], {}],
      [2048, [sq, tall, wide], [int(2), int(3), int(4), nf4, int(4, true)], { tile: 8, tileN: 4, depth: 16 }],
      [1024, [sq, tall, wide], [int(3), int(4)], {}],
      [1024, [sq, tall, wide], [int(3), int(4)], { tile: 8, tileN: 4, depth: 16 }],
      [512, [sq, tall, wide], [int(2), int(3), int(4), nf4, int(4, true), { ...nf4, doubleQuant: true }], {}],
      [256, [sq], [int(2), int(3), int(4), nf4, int(4, true)], {}],
      [128, [tall], [int(2), int(3), int(4), nf4, int(4, true)], {}],
    ];
  for (const [M, shapes, specs, tiling] of cases) {
    for (const [out, inF] of shapes) {
      const tiles = gemmTiling({ M, N: out, batch: 1 }, true, tiling);
      const tilesName = `${16 * tiles.tile}×${16 * tiles.tileN}×${tiles.depth}`;
      const base = add(await f32Baseline(rt, M, out, inF, 'forward', tiling)).value;
      const x = rt.upload(seededUniforms(M * inF, 4), [M, inF], 'x');
      const y = rt.tensor([M, out], 'f32', 'y');
      for (const spec of specs) {
        const w = randomWeight(rt, out, inF, spec, 3);
        const levels = rt.constant(`levels-${spec.codebook}${spec.bits}`, () => codeLevels(spec));
        const bindings = [x, w.codes, y, w.stats, levels, ...(w.statBlocks ? [w.statBlocks] : [])];
        const record = (f: number) => (step: Step) =>
          recordGemm(rt, step, { M, N: out, K: inF, batch: 1, strideB: 0 }, bindings, { TRANS_B: 1, QUANT: 1, ...formatValues(w, f === 1), BLOCKB: f }, tiling, dequantCode);
        const outputs: Float32Array[] = [];
        for (const f of [0, 1]) {
          const step = rt.step();
          await record(f)(step);
          step.submit();
          outputs.push((await rt.read(y)) as Float32Array);
        }
        const rel = relativeError(outputs[1], outputs[0]);
        const note = rel < 1e-6 ? '' : ` MISMATCH rel ${rel.toExponential(2)}`;
        for (const [round, f] of [0, 1, 1, 0].entries()) {
          const t = await timeLaunch(rt, record(f), { iters: rt.isCpuAdapter ? 1 : 10, reps: rt.isCpuAdapter ? 1 : 3 });
          const name = `X·Ŵᵀ ${spec.codebook}${spec.bits} G=64${spec.doubleQuant ? ' DQ' : ''} ${tilesName}, ${FETCHES[f]}${note} (round ${round + 1}) (ratio: vs f32 matmul)`;
          add(result(name, `M=${M} ${out}×${inF}`, (2 * M * out * inF) / t.seconds / 1e12, 'TFLOP/s', base, t.seconds, t.timing));
        }
        freeQuantized(rt, w);
      }
      rt.free(x, y);
    }
  }
  return results;
}
