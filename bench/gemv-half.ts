// Decode GEMV, int codes decoded two at a time (BENCH_SUITES=gemvhalf): gemv_units.wgsl as committed, where one
// shift and one AND-OR place two codes at the top of the mantissas of two packed f16 1.0s (each exactly
// 1 + q / 2^BITS) and unpack2x16float widens both, against session 8's decoding, restored by text substitution: one
// code at a time at the top of an f32 1.0's mantissa, a shift and an AND-OR per code. int2/3/4 G64, M = 1, over the
// three benchmark shapes; the two kernels alternated (a, b, b, a). Also int4 at three shapes of the same bytes:
// 4224×4096, 8448×2048, 16896×1024 (1, 2 and 4 workgroups of 32 rows per SM of 132, with 4, 2 and 1 units per
// invocation): whether an SM's workgroups overlap. And for nf4: a table of level pairs, subgroup shuffles, and
// gemv-probe.ts's timing-only "X read half as often" (below). Each variant's output is checked against the
// committed kernel's (MISMATCH in its name otherwise).
import type { Runtime, Step } from '../src/gpu';
import { gemvParams, gemvSource } from '../src/ops/matmul';
import { codeLevels, freeQuantized, type QuantSpec } from '../src/quant';
import { gemvUnitsSource, unitsPerLane } from '../src/quant/matmul';
import { between, result, seededUniforms, substitute, type BenchResult } from './harness';
import { checkedStreamTime, collector, packedBytes, randomWeight } from './quant-suite';
import { X_READ, X_READ_HALF } from './gemv-probe';

const UNIT_FLOATS = `fn unitFloats(bits: vec4<u32>) -> vec4<f32> {
  return bitcast<vec4<f32>>((bits & vec4<u32>(((1u << BITS) - 1u) << (23u - BITS))) | vec4<u32>(0x3F800000u));
}
`;
const WORD4_F32 = `  quadInto(unitFloats(vec4<u32>(w) << vec4<u32>(19u, 15u, 11u, 7u)), xv, j, r);
  quadInto(unitFloats(vec4<u32>(w << 3u, w >> 1u, w >> 5u, w >> 9u)), xv, j + 1u, r);
`;
const WORD2_F32 = `fn quad2(w: u32, hi: u32, i: u32) -> vec4<f32> {
  let s = vec4<i32>(i32(23u - BITS - 8u * i)) - vec4<i32>(0, 2, 4, 6);
  let low = (vec4<u32>(w) << vec4<u32>(max(s, vec4<i32>(0)))) >> vec4<u32>(max(-s, vec4<i32>(0)));
  if (BITS == 2u) { return unitFloats(low); }
  let third = vec4<u32>(hi) << (vec4<u32>(22u, 21u, 20u, 19u) - 4u * i);
  return bitcast<vec4<f32>>((low & vec4<u32>(0x300000u)) | (third & vec4<u32>(0x400000u)) | vec4<u32>(0x3F800000u));
}
fn word2(w: u32, hi: u32, xv: u32, j: u32, r: ptr<function, Quads>) {
  quadInto(quad2(w, hi, 0u), xv, j, r);
  quadInto(quad2(w, hi, 1u), xv, j + 1u, r);
  quadInto(quad2(w, hi, 2u), xv, j + 2u, r);
  quadInto(quad2(w, hi, 3u), xv, j + 3u, r);
}
`;
// The rendered int kernel's f16 decoding, swapped for session 8's.
function f32Decoding(code: string, bits: number): string {
  const out = code.replace('const F16_ONES', `${UNIT_FLOATS}const F16_ONES`);
  if (bits === 4) return out.replace(between(out, '  let f = wordFloats4(w);', '}\n', 'gemvhalf'), WORD4_F32);
  return out.replace(between(out, 'fn word2(', 'fn block2(', 'gemvhalf'), WORD2_F32);
}

// nf4: a byte's two codes looked up at once in a 256-entry table of level pairs (one 8-byte workgroup load per two
// codes instead of a 4-byte one per code), built by the workgroup's 256 invocations.
const NF_WORD4 = `  let f = wordFloats4(w);
  quadInto(f[0], xv, j, r);
  quadInto(f[1], xv, j + 1u, r);`;
const NF_WORD4_PAIRS = `  let bytes = (vec4<u32>(w) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u);
  quadInto(vec4<f32>(pairs[bytes.x], pairs[bytes.y]), xv, j, r);
  quadInto(vec4<f32>(pairs[bytes.z], pairs[bytes.w]), xv, j + 1u, r);`;
const NF_TABLE = 'var<workgroup> levels: array<f32, 16>;';
const NF_FILL = '  if (lid < (1u << BITS)) { levels[lid] = levelTable[lid]; }';

const levelPairs = (code: string) =>
  substitute(code, [
    [NF_WORD4, NF_WORD4_PAIRS],
    [NF_TABLE, `${NF_TABLE}\nvar<workgroup> pairs: array<vec2<f32>, 256>;`],
    [NF_FILL, '  pairs[lid] = vec2<f32>(levelTable[lid & 15u], levelTable[lid >> 4u]);'],
  ], 'gemvhalf');

// nf4: each code's level taken from the lane that holds it (lane l of a subgroup keeps level l % 16 in a register),
// by subgroupShuffle: no address arithmetic, one shuffle per code instead of one workgroup load. Assumes subgroups of
// 32 consecutive invocations, all active (NVIDIA at these shapes); SwiftShader's are smaller, so MISMATCH there.
function levelShuffles(code: string): string {
  const shuffled = substitute(code, [
    ['return vec4<f32>(levels[q.x], levels[q.y], levels[q.z], levels[q.w]);', 'return vec4<f32>(subgroupShuffle(lv, q.x), subgroupShuffle(lv, q.y), subgroupShuffle(lv, q.z), subgroupShuffle(lv, q.w));'],
    [NF_TABLE, `${NF_TABLE}\nvar<private> lv: f32;`],
    [NF_FILL, `${NF_FILL}\n  lv = levelTable[lid % 16u];`],
  ], 'gemvhalf');
  return `${code.includes('enable subgroups;') ? '' : 'enable subgroups;\n'}diagnostic(off, subgroup_uniformity);\n${shuffled}`;
}

// And gemv-probe.ts's timing-only cut: X read half as often (MISMATCH expected).
const xHalf = (code: string) => substitute(code, [[X_READ, X_READ_HALF]], 'gemvhalf');

const variants = (nf: boolean, bits: number): [string, (code: string) => string][] =>
  nf
    ? [['', (code) => code], [', X read half as often (timing only)', xHalf], [', levels by subgroup shuffle', levelShuffles], [', level-pair table', levelPairs]]
    : [['', (code) => code], [', one code at a time in f32 (session 8)', (code) => f32Decoding(code, bits)]];

export async function runGemvHalf(rt: Runtime, copyGBs: number | null, log: (r: BenchResult) => void) {
  const { results, add } = collector(log);
  // Widths: 2, 3, 4 int; 0 stands for nf4.
  const spec = (bits: number): QuantSpec => (bits ? { codebook: 'int', bits: bits as 2 | 3 | 4, groupSize: 64 } : { codebook: 'nf', bits: 4, groupSize: 64 });
  const shapes: [number, number, number[], boolean][] = rt.isCpuAdapter ? [[64, 4096, [2, 3, 4, 0], true], [64, 1024, [4], false]] : [
    [4096, 4096, [4, 3, 2, 0], true], [11008, 4096, [4, 3, 2, 0], true], [4096, 11008, [4, 3, 2], true],
    [4224, 4096, [4], false], [8448, 2048, [4], false], [16896, 1024, [4], false],
  ];
  for (const [out, inF, widths, both] of shapes) {
    for (const bits of widths) {
      const s = spec(bits);
      const bytes = packedBytes({ out, inFeatures: inF, spec: s });
      const ws = Array.from({ length: rt.isCpuAdapter ? 1 : Math.ceil((256 * 2 ** 20) / bytes) + 1 }, (_, i) => randomWeight(rt, out, inF, s, 40 + i));
      const levels = rt.constant(`levels-${s.codebook}${s.bits}`, () => codeLevels(s));
      const x = rt.upload(seededUniforms(inF, 9, -1, 1), [1, inF], 'x');
      const ys = ws.map(() => rt.tensor([1, out], 'f32', 'y'));
      let reference: Float32Array | null = null;
      const subgroups = rt.subgroupMinSize >= 8;
      const upl = unitsPerLane(rt, { inFeatures: inF }, 1, 8, subgroups, undefined, 'gemvhalf');
      const values = { BITS: s.bits, GROUP: 64, NF: +!bits, DQ: 0, CODES4: 1, LANES: 8, MR: 1, SUBGROUPS: +subgroups, UPL: upl };
      const kernels = [];
      for (const [variant, change] of variants(!bits, bits).slice(0, both ? undefined : 1)) {
        const code = change(gemvSource('gemv_units', gemvUnitsSource, values));
        kernels.push({ variant, kernel: await rt.kernel({ shader: `gemvhalf ${s.codebook}${s.bits} ${upl}${variant}`, code, entryPoint: 'main' }) });
      }
      const order = [...kernels.keys(), ...[...kernels.keys()].reverse()].slice(0, kernels.length > 1 ? undefined : 1); // a, b, …, b, a
      for (const [round, index] of order.entries()) {
        const { variant, kernel } = kernels[index];
        const record = (step: Step, i: number) => step.dispatch(kernel, gemvParams({ M: 1, N: out, K: inF }), [x, ws[i].codes, ys[i], ws[i].stats, levels], [Math.ceil(out / 32)]);
        const { y, note, t } = await checkedStreamTime(rt, record, ws.length, ys[0], reference, 1e-6);
        reference ??= Float32Array.from(y);
        add({ ...result(`gemv ${s.codebook}${s.bits} G64 M=1, ${upl} units/lane, stream${variant} (round ${round + 1})${note}`, `${out}×${inF}`, bytes / t.seconds / 1e9, 'GB/s', copyGBs, t.seconds, t.timing), wallSeconds: t.wall });
      }
      ws.forEach((w) => freeQuantized(rt, w));
      rt.free(x, ...ys);
    }
  }
  return results;
}
