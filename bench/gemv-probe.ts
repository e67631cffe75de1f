// Where the decode GEMV's time goes (BENCH_SUITES=gemvprobe): the 128-weight-unit kernel at int4 G64, M = 1
// (4096², and 11008×4096 in the default configuration), with parts of it cut out or changed by text
// substitution, timed like the suite (clock ramp, stream of back-to-back launches over weight copies that do not
// fit in L2); and the same byte counts read by a plain vec4 sum kernel, for what a launch of that size can reach.
import type { Runtime, Step, Tensor } from '../src/gpu';
import { gemvParams, gemvSource } from '../src/ops/matmul';
import { gemvUnitsSource } from '../src/quant/matmul';
import { codeLevels, freeQuantized, type QuantSpec } from '../src/quant';
import { result, seededUniforms, substitute, timeLaunch, type BenchResult } from './harness';
import { packedBytes, randomWeight } from './quant-suite';

const DECODE = '      if (u < units) { unitRows(c, st, k * LANES + lane, &acc); }';
const STAGE = '      staged[r] = select(vec4<f32>(0.0), X[min(i / (32u * CHUNK), MMAX - 1u) * xRow + min(col, xRow - 1u)], col < xRow);';
const STORE = '      if (i < 32u * CHUNK * MMAX) { xs[((i / (32u * CHUNK)) * CHUNK + v / 32u) * UNIT_X + v % 32u] = staged[r]; }';
const CODES = '    var c = unitCodes(row, min(u, units - 1u), units);\n    var st = unitStats(row, min(u, units - 1u), groups);';
// The lanes of a row read their units' code vec4s lane-interleaved: load b of lane l takes vec4 b·LANES + l of
// the row's LANES units (consecutive lanes, consecutive 16 B) instead of vec4 b of its own unit (lanes 16·BITS B
// apart). Same bytes, wrong pairing with X: timing only, for what a lane-interleaved packing would buy.
const UNIT_CODES = '  let first = (row * units + u) * BITS;\n  var c = array<vec4<u32>, 4>(codes[first], codes[first + 1u], vec4<u32>(0u), vec4<u32>(0u));\n  if (BITS >= 3u) { c[2] = codes[first + 2u]; }\n  if (BITS == 4u) { c[3] = codes[first + 3u]; }';
const INTERLEAVED = '  let lane = u % LANES;\n  let first = (row * units + u - lane) * BITS + lane;\n  var c = array<vec4<u32>, 4>(codes[first], codes[first + LANES], vec4<u32>(0u), vec4<u32>(0u));\n  if (BITS >= 3u) { c[2] = codes[first + 2u * LANES]; }\n  if (BITS == 4u) { c[3] = codes[first + 3u * LANES]; }';
// X read from workgroup memory half as often: quads j and j + 1 (j even) of a block multiply the same X vec4, so the
// compiler can load it once. Wrong sums, timing only: what the decode phase would gain if an X load served two
// rows of W (the 128-bit reads' quarter-warp phases, not the arithmetic, bounding it).
export const X_READ = '  for (var m = 0u; m < MMAX; m++) { (*r)[m] = fma(q, xs[xv + m * XM + j], (*r)[m]); }';
export const X_READ_HALF = '  for (var m = 0u; m < MMAX; m++) { (*r)[m] = fma(q, xs[xv + m * XM + (j & 0xFFFFFFFEu)], (*r)[m]); }';
const CUTS: [string, [string, string][]][] = [
  ['full kernel', []],
  ['X read half as often (timing only)', [[X_READ, X_READ_HALF]]],
  ['codes read lane-interleaved (timing only)', [[UNIT_CODES, INTERLEAVED]]],
  ['X not staged (workgroup memory left as is)', [[STAGE, '      _ = X[0];'], [STORE, '']]],
  ['codes and statistics loaded, nothing decoded', [[DECODE, '      acc[0] += f32((c[0].x ^ c[1].y) ^ (c[2].z ^ c[3].w)) + st[0].x + st[1].y;']]],
  ['codes (lane-interleaved) and statistics loaded, nothing decoded', [
    [UNIT_CODES, INTERLEAVED], [DECODE, '      acc[0] += f32((c[0].x ^ c[1].y) ^ (c[2].z ^ c[3].w)) + st[0].x + st[1].y;'],
  ]],
  ['nothing loaded or decoded (launch, barriers, reduction, store)', [
    [DECODE, '      acc[0] += f32(u + row);'],
    [CODES, '    var c = array<vec4<u32>, 4>(vec4<u32>(u), vec4<u32>(u), vec4<u32>(u), vec4<u32>(u));\n    var st = array<vec2<f32>, 4>();\n    _ = codes[0];\n    _ = stats[0];'],
    ['cNext = unitCodes(row, min(u + LANES, units - 1u), units);', ''], ['stNext = unitStats(row, min(u + LANES, units - 1u), groups);', ''],
    [STAGE, '      _ = X[0];'], [STORE, ''],
  ]],
];

// The same byte counts read by the simplest kernel that reads them: a vec4 sum, PER vec4s per invocation
// (grid-stride), one f32 written per invocation (1/(4·PER) of the bytes read). Launched like the GEMVs (a stream,
// clocks ramped, copies that do not fit in L2): what a launch of this size can reach on this stack.
const READ_SUM = (per: number) => `
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let stride = arrayLength(&dst);
  var s = vec4<f32>(0.0);
  for (var k = 0u; k < ${per}u; k++) {
    let i = g.x + k * stride;
    if (i < arrayLength(&src)) { s += src[i]; }
  }
  if (g.x < stride) { dst[g.x] = (s.x + s.y) + (s.z + s.w); }
}`;

async function readCeiling(rt: Runtime, bytes: number, shape: string, copyGBs: number | null): Promise<BenchResult> {
  const vec4s = Math.ceil(bytes / 16);
  const copies = Math.ceil((256 * 2 ** 20) / bytes);
  const srcs = Array.from({ length: copies }, (_, i) => rt.upload(seededUniforms(vec4s * 4, 60 + i), [vec4s * 4], 'src'));
  let best: { seconds: number; per: number; timing: BenchResult['timing']; wall: number } | null = null;
  for (const per of [4, 8, 16]) {
    const threads = Math.ceil(vec4s / per / 256) * 256;
    const dsts = srcs.map(() => rt.tensor([threads], 'f32', 'dst'));
    const kernel = await rt.kernel({ shader: `read-sum ${per}`, code: READ_SUM(per), entryPoint: 'main' });
    let next = 0;
    const t = await timeLaunch(rt, (step: Step) => {
      const i = next++ % copies;
      step.dispatch(kernel, null, [srcs[i], dsts[i]], [threads / 256]);
      return Promise.resolve();
    }, { iters: 4 * copies, reps: 5, stream: true });
    rt.free(...dsts);
    if (!best || t.seconds < best.seconds) best = { seconds: t.seconds, per, timing: t.timing, wall: t.wall };
  }
  rt.free(...srcs);
  const b = best!;
  return { ...result(`read-only vec4 sum of the same bytes (best of 4/8/16 vec4 per invocation: ${b.per}), stream`, shape, bytes / b.seconds / 1e9, 'GB/s', copyGBs, b.seconds, b.timing), wallSeconds: b.wall };
}

export async function runGemvProbe(rt: Runtime, copyGBs: number | null, log: (r: BenchResult) => void) {
  const results: BenchResult[] = [];
  const spec: QuantSpec = { codebook: 'int', bits: 4, groupSize: 64 };
  const inF = 4096;
  const levels: Tensor = rt.constant('levels-int4', () => codeLevels(spec));
  // Session 3's kernel (16 lanes, a chunk per 16 units, tree sums) and today's default (8 lanes, all of X in one
  // chunk) at 4096², and the default at 11008×4096.
  for (const [out, lanes, subgroups, upl] of [[4096, 16, 0, 1], [4096, 8, 1, 4], [11008, 8, 1, 4]]) {
    const bytes = packedBytes({ out, inFeatures: inF, spec });
    const ws = Array.from({ length: Math.ceil((256 * 2 ** 20) / bytes) + 1 }, (_, i) => randomWeight(rt, out, inF, spec, 40 + i));
    const x = rt.upload(seededUniforms(inF, 9), [1, inF], 'x');
    const ys = ws.map(() => rt.tensor([1, out], 'f32', 'y'));
    for (const [what, cuts] of CUTS) {
      const values = { BITS: 4, GROUP: 64, NF: 0, DQ: 0, CODES4: 1, LANES: lanes, MR: 1, SUBGROUPS: subgroups, UPL: upl };
      const code = substitute(gemvSource('gemv_units', gemvUnitsSource, values), cuts, `gemv probe '${what}'`);
      const kernel = await rt.kernel({ shader: `gemv-probe ${what} ${lanes} ${subgroups} ${upl}`, code, entryPoint: 'main' });
      let next = 0;
      const t = await timeLaunch(rt, (step: Step) => {
        const i = next++ % ws.length;
        const w = ws[i];
        step.dispatch(kernel, gemvParams({ M: 1, N: out, K: inF }), [x, w.codes, ys[i], w.stats, levels], [Math.ceil(out / (256 / lanes))]);
        return Promise.resolve();
      }, { iters: 4 * ws.length, reps: 5, stream: true });
      const r = { ...result(`gemv probe int4 G64 ${lanes} lanes ${upl} units/lane${subgroups ? ' subgroup sums' : ' tree sums'}: ${what}`, `${out}×${inF}`, bytes / t.seconds / 1e9, 'GB/s', copyGBs, t.seconds, t.timing), wallSeconds: t.wall };
      results.push(r);
      log(r);
    }
    ws.forEach((w) => freeQuantized(rt, w));
    rt.free(x, ...ys);
  }
  // int4 G64 packed bytes (codes + f32 stats) of the three benchmark shapes.
  for (const [out, inF] of [[4096, 4096], [11008, 4096], [4096, 11008]]) {
    const r = await readCeiling(rt, packedBytes({ out, inFeatures: inF, spec }), `${out}×${inF} int4 G64 bytes`, copyGBs);
    results.push(r);
    log(r);
  }
  return results;
}
