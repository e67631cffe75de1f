// Where the quantized GEMM's time goes against the f32 kernel (BENCH_SUITES=gemmprobe): matmul.wgsl's quantized
// variant (default tiling, as recordGemm picks it) with parts of dequant.wgsl cut out or changed by text
// substitution, and as is in the other workgroup order (MGROUP), forward and backward-input, next to the f32 matmul
// on the same shape. Timing only: the cut variants compute wrong numbers on purpose.
import type { Runtime, Step } from '../src/gpu';
import { renderWgsl, Uniforms } from '../src/gpu';
import { GEMM_VARIANT_DEFAULTS, gemmTiling } from '../src/ops/matmul';
import { codeLevels, freeQuantized, type Bits, type QuantSpec } from '../src/quant';
import { BACKWARD_MGROUP } from '../src/quant/matmul';
import dequantCode from '../shaders/dequant.wgsl?raw';
import matmulCode from '../shaders/matmul.wgsl?raw';
import { result, seededUniforms, timeLaunch, type BenchResult } from './harness';
import { collector, f32Baseline, randomWeight } from './quant-suite';

// Cut strings for dequant.wgsl before session 7 (dbe6504), at 5dbf3c2 and now, so the probe runs on a bundle of any
// of them (h100-gemm-probe.json's first run is dbe6504's); a variant none of whose cuts applies is skipped.
const OLD_STATS = '  let so = groupStats(r * (inFeatures / GROUP) + c / GROUP);';
const CONST_STATS = '  let so = vec2<f32>(0.01, f32(c & 7u));\n  _ = stats[0];';
const STATS: [string, string][] = [
  [OLD_STATS, CONST_STATS],
  ['  return QuantFetch(words, groupStats(r * (inFeatures / GROUP) + c / GROUP), j);', '  _ = stats[0];\n  return QuantFetch(words, vec2<f32>(0.01, f32(c & 7u)), j);'],
  ['  return QuantFetch(words, fetchStats(r * (inFeatures / GROUP) + c / GROUP), j);', '  _ = stats[0];\n  return QuantFetch(words, vec2<f32>(0.01, f32(c & 7u)), j);'],
];
const CUTS: [string, [string, string][]][] = [
  ['as is', []],
  ['statistics not loaded (constants)', STATS],
  ['codes and statistics not loaded (codes from the indices)', [
    ...STATS,
    ['    bits = vec2<u32>(codes[word0 + j / 8u] >> (4u * (j % 8u)), 0u);', '    bits = vec2<u32>((r * 2654435761u) ^ c, 0u);\n    _ = codes[0];'],
    ['    bits = vec2<u32>(codes[word0 + j / 16u] >> (2u * (j % 16u)), 0u);', '    bits = vec2<u32>((r * 2654435761u) ^ c, 0u);'],
    ['    bits = vec2<u32>(codes[word0 + j / 16u] >> (2u * (j % 16u)), codes[word0 + 2u] >> j);', '    bits = vec2<u32>((r * 2654435761u) ^ c, r ^ (c * 7u));'],
    ['    words = vec2<u32>(codes[word0 + j / 8u], 0u);', '    words = vec2<u32>((r * 2654435761u) ^ c, 0u);\n    _ = codes[0];'],
    ['    words = vec2<u32>(codes[word0 + j / 16u], 0u);', '    words = vec2<u32>((r * 2654435761u) ^ c, 0u);'],
    ['    words = vec2<u32>(codes[word0 + j / 16u], codes[word0 + 2u]);', '    words = vec2<u32>((r * 2654435761u) ^ c, r ^ (c * 7u));'],
  ]],
];

export async function runGemmProbe(rt: Runtime, log: (r: BenchResult) => void) {
  const { results, add } = collector(log);
  // [direction, M, out, in, bits, double-quantized statistics (timed as is only)]
  const cases: [('forward' | 'backward'), number, number, number, Bits, boolean?][] = rt.isCpuAdapter
    ? [['backward', 64, 128, 256, 4], ['forward', 64, 128, 256, 3], ['forward', 64, 128, 256, 4, true]]
    : [
      ['backward', 2048, 4096, 4096, 4], ['backward', 2048, 4096, 4096, 3], ['backward', 512, 4096, 11008, 4],
      ['backward', 2048, 11008, 4096, 4], ['backward', 2048, 4096, 11008, 4], ['forward', 2048, 4096, 4096, 4], ['forward', 2048, 4096, 4096, 3],
      ['forward', 2048, 11008, 4096, 3], ['forward', 512, 11008, 4096, 4],
      ['forward', 2048, 4096, 4096, 4, true], ['forward', 2048, 11008, 4096, 4, true], ['backward', 2048, 4096, 4096, 4, true],
      ['backward', 512, 4096, 11008, 4, true], ['forward', 512, 11008, 4096, 4, true],
    ];
  for (const [direction, M, out, inF, bits, dq = false] of cases) {
    const [K, N] = direction === 'forward' ? [inF, out] : [out, inF];
    const shape = `M=${M} ${out}×${inF}`;
    const a = rt.upload(seededUniforms(M * K, 4), [M, K], 'a');
    const c = rt.tensor([M, N], 'f32', 'c');
    const opts = { iters: rt.isCpuAdapter ? 1 : 10, reps: rt.isCpuAdapter ? 1 : 3 };
    const flops = 2 * M * out * inF;
    const base = add(await f32Baseline(rt, M, out, inF, direction)).value;
    const spec: QuantSpec = { codebook: 'int', bits, groupSize: 64, doubleQuant: dq };
    const w = randomWeight(rt, out, inF, spec, 3);
    const levels = rt.constant(`levels-int${bits}`, () => codeLevels(spec));
    const { tile: TM, tileN: TN, depth: BK } = gemmTiling({ M, N, batch: 1 }, true);
    // The library's tile order (quantMatmulBackward: groups of BACKWARD_MGROUP M-blocks), and the other one, as is.
    const mgroup = direction === 'backward' ? BACKWARD_MGROUP : 0;
    // B fetched a code word and statistics per tile (BLOCKB 0; the cuts are written against fetchQuant4): the
    // library's forward on 128×128 tiles, not on 128×64 ones (bench/gemm-block.ts compares the two).
    const values = { TM, TN, BK, TRANS_A: 0, VEC4: 1, TRANS_B: +(direction === 'forward'), QUANT: 1, BITS: bits, GROUP: 64, NF: 0, DQ: +dq, CODES4: 0, ...GEMM_VARIANT_DEFAULTS, MGROUP: mgroup };
    const params = new Uniforms(8).u32(M).u32(N).u32(K).f32(1).u32(0).u32(M * K).u32(0).u32(M * N).bytes;
    const other = mgroup ? 0 : BACKWARD_MGROUP;
    const orders: [string, [string, string][], number][] = [[`workgroups ${other ? `in groups of ${other} M-blocks` : 'in grid order'} (MGROUP ${other}), as is`, [], other]];
    const variants: [string, [string, string][], number][] = [...(dq ? CUTS.slice(0, 1) : CUTS).map(([what, cuts]): [string, [string, string][], number] => [what, cuts, mgroup]), ...orders];
    for (const [what, cuts, order] of variants) {
      const source = renderWgsl('matmul', matmulCode + dequantCode, { ...values, MGROUP: order });
      let code = source;
      for (const [from, to] of cuts) code = code.replace(from, to);
      if (cuts.length && code === source) {
        console.log(`gemm probe '${what}': no cut applies to this bundle's kernel, skipped`);
        continue;
      }
      const kernel = await rt.kernel({ shader: `gemm-probe ${direction} ${bits}${dq ? " DQ" : ""} ${TM}x${TN}x${BK} ${what}`, code, entryPoint: 'main' });
      const t = await timeLaunch(rt, (step: Step) => {
        step.dispatch(kernel, params, [a, w.codes, c, w.stats, levels, ...(w.statBlocks ? [w.statBlocks] : [])], [Math.ceil(N / (16 * TN)), Math.ceil(M / (16 * TM)), 1]);
        return Promise.resolve();
      }, opts);
      add(result(`gemm probe int${bits} G64${dq ? ' DQ' : ''} ${direction} ${16 * TM}×${16 * TN}×${BK}: ${what} (ratio: vs f32)`, shape, flops / t.seconds / 1e12, 'TFLOP/s', base, t.seconds, t.timing));
    }
    freeQuantized(rt, w);
    rt.free(a, c);
  }
  return results;
}
