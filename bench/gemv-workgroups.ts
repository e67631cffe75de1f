// Decode GEMV workgroup shapes and occupancy (BENCH_SUITES=gemvwg): gemv_units.wgsl with 256, 512 and 1024
// invocations per workgroup and 8, 16 or 32 lanes per row (ROWS = WG / LANES rows per workgroup), and two
// register-saving variants at 256; int4, int3 and nf4 G64, M = 1, over the three benchmark shapes, and int4 over
// row counts from 2 to 4 workgroups of 32 rows per SM of an H100 (132 SMs). Timed like the suite (clock ramp, a
// stream of launches over weight copies that do not fit in L2); each variant's output is checked against the
// default's (MISMATCH in its name otherwise).
import type { Runtime, Step } from '../src/gpu';
import { gemvParams, gemvSource } from '../src/ops/matmul';
import { codeLevels, freeQuantized, type QuantSpec } from '../src/quant';
import { gemvUnitsSource, unitsPerLane } from '../src/quant/matmul';
import { result, seededUniforms, substitute, type BenchResult } from './harness';
import { checkedStreamTime, collector, packedBytes, randomWeight } from './quant-suite';

const WG_LINE = 'const WG = 256u;';
// Register-saving variants, by text substitution: no next-unit request (the unit's codes and statistics loaded
// where it is decoded); statistics requested with the current unit only.
const PREFETCH = `      if (k + 1u < UPL) {
        cNext = unitCodes(row, min(u + LANES, units - 1u), units);
        stNext = unitStats(row, min(u + LANES, units - 1u), groups);
      }`;
const DECODE = '      if (u < units) { unitRows(c, st,';
const LOAD_HERE = '      if (k > 0u) {\n        c = unitCodes(row, min(u, units - 1u), units);\n        st = unitStats(row, min(u, units - 1u), groups);\n      }\n';
const STATS_HERE = '      if (k > 0u) { st = unitStats(row, min(u, units - 1u), groups); }\n';
const VARIANTS: [string, [string, string][]][] = [
  ['', []],
  [', no prefetch', [[PREFETCH, ''], [DECODE, LOAD_HERE + DECODE]]],
  [', codes prefetched, stats not', [[PREFETCH, '      if (k + 1u < UPL) { cNext = unitCodes(row, min(u + LANES, units - 1u), units); }'], [DECODE, STATS_HERE + DECODE]]],
];

export async function runGemvWorkgroups(rt: Runtime, copyGBs: number | null, log: (r: BenchResult) => void) {
  const { results, add } = collector(log);
  const maxInvocations = rt.device.limits.maxComputeInvocationsPerWorkgroup;
  const specs: QuantSpec[] = [{ codebook: 'int', bits: 4, groupSize: 64 }, { codebook: 'int', bits: 3, groupSize: 64 }, { codebook: 'nf', bits: 4, groupSize: 64 }];
  const shapes: [number, number, QuantSpec[]][] = rt.isCpuAdapter ? [[64, 4096, specs]] : [
    [4096, 4096, specs], [11008, 4096, specs], [4096, 11008, specs],
    ...[8448, 9216, 12288, 13056, 13824, 16896].map((n): [number, number, QuantSpec[]] => [n, 4096, specs.slice(0, 1)]),
  ];
  // Larger workgroups only for the kernel as it is; the variants at 256 invocations.
  const configs = (variant: string): [number, number][] => (variant ? [[256, 8], [256, 16]] : [[256, 8], [256, 16], [512, 8], [512, 16], [512, 32], [1024, 16], [1024, 32]]);
  for (const [out, inF, formats] of shapes) {
    for (const spec of formats) {
      const bytes = packedBytes({ out, inFeatures: inF, spec });
      const ws = Array.from({ length: rt.isCpuAdapter ? 1 : Math.ceil((256 * 2 ** 20) / bytes) + 1 }, (_, i) => randomWeight(rt, out, inF, spec, 40 + i));
      const levels = rt.constant(`levels-${spec.codebook}${spec.bits}`, () => codeLevels(spec));
      const x = rt.upload(seededUniforms(inF, 9, -1, 1), [1, inF], 'x');
      const ys = ws.map(() => rt.tensor([1, out], 'f32', 'y'));
      let reference: Float32Array | null = null;
      for (const [variant, cuts] of VARIANTS) for (const [wg, lanes] of configs(variant)) {
        if (wg > maxInvocations) continue;
        const subgroups = rt.subgroupMinSize >= lanes;
        const upl = unitsPerLane(rt, { inFeatures: inF }, 1, lanes, subgroups, undefined, 'gemvwg');
        const values = { BITS: spec.bits, GROUP: 64, NF: +(spec.codebook === 'nf'), DQ: 0, CODES4: 1, LANES: lanes, MR: 1, SUBGROUPS: +subgroups, UPL: upl };
        const code = substitute(gemvSource('gemv_units', gemvUnitsSource, values), [[WG_LINE, `const WG = ${wg}u;`], ...cuts], 'gemvwg');
        const kernel = await rt.kernel({ shader: `gemvwg ${spec.codebook}${spec.bits} ${wg} ${lanes} ${upl}${variant}`, code, entryPoint: 'main' });
        const groups = Math.ceil(out / (wg / lanes));
        const record = (step: Step, i: number) => step.dispatch(kernel, gemvParams({ M: 1, N: out, K: inF }), [x, ws[i].codes, ys[i], ws[i].stats, levels], [groups]);
        // Correctness: the first weight's output against the default configuration's.
        const { y, note, t } = await checkedStreamTime(rt, record, ws.length, ys[0], reference, 1e-5);
        reference ??= Float32Array.from(y);
        add({ ...result(`gemv ${spec.codebook}${spec.bits} G64 M=1 workgroup ${wg}, ${lanes} lanes/row, ${upl} units/lane, stream${variant}${note}`, `${out}×${inF}`, bytes / t.seconds / 1e9, 'GB/s', copyGBs, t.seconds, t.timing), wallSeconds: t.wall });
      }
      ws.forEach((w) => freeQuantized(rt, w));
      rt.free(x, ...ys);
    }
  }
  return results;
}
