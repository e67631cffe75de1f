// Decode GEMV with X held in registers (BENCH_SUITES=gemvslices): gemv_slices.wgsl at 16 and 32 rows per workgroup
// (and 2 blocks per invocation at K = 11008), and with its codes not decoded (timing only), against gemv_units.wgsl,
// M = 1, int2/3/4, nf2/3/4, int4 and nf4 with DQ statistics, G64, over the three benchmark shapes; the kernels
// alternated (a, b, …, b, a) in one process. Each variant's output is checked against gemv_units' (MISMATCH in its
// name otherwise; expected for the timing-only cuts). BENCH_SUITES=gemvslicesprobe: int4 and nf4, the default shape
// with one part cut out at a time (where its time goes).
import type { Kernel, Runtime, Step } from '../src/gpu';
import { variantName } from '../src/gpu';
import { gemvParams, gemvSource } from '../src/ops/matmul';
import { codeLevels, freeQuantized, type QuantSpec } from '../src/quant';
import { type SlicesShape, formatValues, gemvSlicesSource, gemvUnitsSource, slicesValues, unitsPerLane } from '../src/quant/matmul';
import { between, result, seededUniforms, substitute, type BenchResult } from './harness';
import { checkedStreamTime, collector, packedBytes, randomWeight } from './quant-suite';

// Timing-only cuts (wrong outputs): the text between `from` and the next line that closes a function, replaced.
const cutBody = (code: string, from: string, body: string) => substitute(code, [[between(code, from, '\n}\n', 'gemvslices'), `${from}\n${body}`]], 'gemvslices');
const CUTS: [string, (code: string) => string][] = [
  // The codes XORed together instead of decoded.
  ['codes not decoded', (code) => cutBody(code, 'fn blockDot(c: vec4<u32>, x: XBlock) -> f32 {', '  return bitcast<f32>((c.x ^ c.y ^ c.z ^ c.w) & 0x3FFFFFFFu) * x.v[0].x;')],
  // X not read from global memory (still staged through workgroup memory).
  ['X not loaded', (code) => cutBody(code, 'fn xAt(first: u32, i: u32) -> vec4<f32> {', '  _ = X[0]; // still bound\n  return vec4<f32>(f32(first + i));')],
  // Each 4 rows' sums not reduced across the subgroup.
  ['no subgroup sums', (code) => cutBody(code, 'fn subgroupSum4(d: vec4<f32>, lane: u32, size: u32) -> f32 {', '  return (d.x + d.y) + (d.z + d.w) + f32(lane + size);')],
  // The statistics not loaded (made from the index instead: constants would let the compiler drop the decoding).
  ['statistics not loaded', (code) => substitute(code, [['return Slice(c, fetchStats(i * 32u / GROUP));', '_ = stats[0]; // still bound\n  return Slice(c, vec2<f32>(f32(i) * 1e-9, 1.0));']], 'gemvslices')],
  // The codes not loaded (made from the index instead; int4 and nf4 only).
  ['codes not loaded', (code) => substitute(code, [['    c = codes[i];', '    _ = codes[0]; // still bound\n    c = vec4<u32>(i, i * 3u, i * 5u, i * 7u);']], 'gemvslices')],
];

/** probe: int4 and nf4 only, the default shape and its timing-only cuts (BENCH_SUITES=gemvslicesprobe). */
export async function runGemvSlices(rt: Runtime, copyGBs: number | null, log: (r: BenchResult) => void, probe = false) {
  const { results, add } = collector(log);
  const allSpecs: QuantSpec[] = [
    { codebook: 'int', bits: 4, groupSize: 64 }, { codebook: 'int', bits: 3, groupSize: 64 }, { codebook: 'int', bits: 2, groupSize: 64 },
    { codebook: 'nf', bits: 4, groupSize: 64 }, { codebook: 'nf', bits: 3, groupSize: 64 }, { codebook: 'nf', bits: 2, groupSize: 64 },
    { codebook: 'int', bits: 4, groupSize: 64, doubleQuant: true }, { codebook: 'nf', bits: 4, groupSize: 64, doubleQuant: true },
  ];
  const specs = probe ? [allSpecs[0], allSpecs[3]] : allSpecs;
  const shapes: [number, number][] = rt.isCpuAdapter ? [[64, 1024], [40, 9600]] : [[4096, 4096], [11008, 4096], [4096, 11008]];
  const rowCounts = [16, 32];
  const { maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupStorageSize } = rt.device.limits;
  console.log(`gemvslices: ${maxComputeInvocationsPerWorkgroup} invocations, ${maxComputeWorkgroupStorageSize} bytes of workgroup memory per workgroup`);
  for (const [out, inF] of shapes) {
    for (const s of specs) {
      const bytes = packedBytes({ out, inFeatures: inF, spec: s });
      const ws = Array.from({ length: rt.isCpuAdapter ? 1 : Math.ceil((256 * 2 ** 20) / bytes) + 1 }, (_, i) => randomWeight(rt, out, inF, s, 40 + i));
      const levels = rt.constant(`levels-${s.codebook}${s.bits}`, () => codeLevels(s));
      const x = rt.upload(seededUniforms(inF, 9, -1, 1), [1, inF], 'x');
      const ys = ws.map(() => rt.tensor([1, out], 'f32', 'y'));
      const subgroups = rt.subgroupMinSize >= 8;
      const upl = unitsPerLane(rt, { inFeatures: inF }, 1, 8, subgroups, undefined, 'gemvslices');
      const kernels: { variant: string; kernel: Kernel; rows: number }[] = [];
      const unitsValues = { ...formatValues(ws[0]), CODES4: 1, LANES: 8, MR: 1, SUBGROUPS: +subgroups, UPL: upl };
      kernels.push({ variant: `units (8 lanes/row, ${upl} units/lane)`, rows: 32, kernel: await rt.kernel({ shader: variantName('gemvslices units', unitsValues), code: gemvSource('gemv_units', gemvUnitsSource, unitsValues), entryPoint: 'main' }) });
      // Rows per workgroup at the default blocks per invocation (and 2 blocks where that is 1 at K = 11008), and the
      // default shape with the codes not decoded; probe: the default shape and each cut.
      const variants: (SlicesShape & { cut?: number })[] = probe ? [{}, ...CUTS.map((_, i) => ({ cut: i }))] : rowCounts.map((rows) => ({ rows }));
      if (!probe && inF / 32 > 256) variants.push({ rows: 32, blocksPerInvocation: 2 });
      if (!probe) variants.push({ cut: 0 });
      for (const v of variants) {
        const shape = slicesValues(rt, out, inF, 1, v);
        if ('why' in shape) {
          console.log(`gemvslices: ${JSON.stringify(v)}: ${shape.why}`);
          continue;
        }
        const rows = 4 * shape.values.RI;
        const values: Record<string, number> = { ...formatValues(ws[0], true), ...shape.values };
        const rendered = gemvSource('gemv_slices', gemvSlicesSource, values);
        const [cutName, cut] = v.cut === undefined ? ['', (code: string) => code] : CUTS[v.cut];
        const variant = `slices (${rows} rows/workgroup, ${values.WG} invocations, ${values.SPL} blocks each)${cutName ? `, ${cutName} (timing only)` : ''}`;
        kernels.push({ variant, rows, kernel: await rt.kernel({ shader: `${variantName('gemvslices', values)} ${cutName}`, code: cut(rendered), entryPoint: 'main' }) });
      }
      let reference: Float32Array | null = null;
      const order = [...kernels.keys(), ...[...kernels.keys()].reverse()]; // a, b, …, b, a
      for (const [round, index] of order.entries()) {
        const { variant, kernel, rows } = kernels[index];
        const bindings = (i: number) => [x, ws[i].codes, ys[i], ws[i].stats, levels, ...(ws[i].statBlocks ? [ws[i].statBlocks!] : [])];
        const record = (step: Step, i: number) => step.dispatch(kernel, gemvParams({ M: 1, N: out, K: inF }), bindings(i), [Math.ceil(out / rows)]);
        const { y, note, t } = await checkedStreamTime(rt, record, ws.length, ys[0], reference, 1e-5);
        reference ??= Float32Array.from(y);
        const name = `gemv ${s.codebook}${s.bits} G64${s.doubleQuant ? ' DQ' : ''} M=1, stream, ${variant} (round ${round + 1})${note}`;
        add({ ...result(name, `${out}×${inF}`, bytes / t.seconds / 1e9, 'GB/s', copyGBs, t.seconds, t.timing), wallSeconds: t.wall });
      }
      ws.forEach((w) => freeQuantized(rt, w));
      rt.free(x, ...ys);
    }
  }
  return results;
}
