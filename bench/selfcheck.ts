// Correctness on the benchmarked device itself (CI only ever sees SwiftShader): each kernel variant
// against the float64 reference, on shapes that are and are not multiples of the tile.
import type { Runtime } from '../src/gpu';
import { matmul } from '../src/matmul';
import { dequantize, quantize, unpackCodes, type QuantSpec } from '../src/quant';
import { quantMatmul, quantMatmulBackward } from '../src/matmul';
import { matmulRef } from '../test/matmul/matmul.ref';
import { quantizeRef } from '../test/quant/quantize.ref';

export interface Check {
  name: string;
  relativeError: number;
  pass: boolean;
}

/** ‖got − want‖ / ‖want‖ (NaN differences count as infinite). */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    const d = got[i] - want[i];
    num += Number.isNaN(d) ? Infinity : d * d;
    den += want[i] * want[i];
  }
  return Math.sqrt(num / (den || 1));
}

export async function selfCheck(rt: Runtime): Promise<Check[]> {
  const checks: Check[] = [];
  let seed = 12345;
  const rand = (n: number) =>
    Float32Array.from({ length: n }, () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 4294967296 - 0.5;
    });
  for (const [M, N, K] of [[256, 256, 256], [131, 77, 203], [8, 300, 64]]) {
    for (const [tile, depth] of [[4, 16], [8, 16], [8, 8], [8, 32]] as const) {
      for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]]) {
        const a = rand(M * K);
        const b = rand(K * N);
        const A = rt.upload(a, transA ? [K, M] : [M, K], 'A');
        const B = rt.upload(b, transB ? [N, K] : [K, N], 'B');
        const C = rt.upload(new Float32Array(M * N).fill(NaN), [M, N], 'C');
        const step = rt.step();
        await matmul(rt, step, A, B, C, { transA, transB, tile, depth });
        step.submit();
        const got = await rt.read(C);
        rt.free(A, B, C);
        const e = relativeError(got, matmulRef({ a, b, batch: 1, M, N, K, transA, transB }));
        checks.push({ name: `matmul ${M}x${N}x${K} tA=${+transA} tB=${+transB} tile=${tile} depth=${depth}`, relativeError: e, pass: e < 1e-5 });
      }
    }
  }
  const specs: QuantSpec[] = [
    { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'icq' },
    { codebook: 'nf', bits: 2, groupSize: 128 },
    { codebook: 'int', bits: 3, groupSize: 32, calibrate: 'icq' },
    { codebook: 'int', bits: 4, groupSize: 128, calibrate: 'icq' },
    { codebook: 'nf', bits: 3, groupSize: 32, calibrate: 'icq' },
  ];
  for (const spec of specs) {
    const [out, inF] = [72, 256];
    const w = rand(out * inF).map((v, i) => 0.05 * v + (i % 97 === 0 ? 0.3 : 0));
    const W = rt.upload(w, [out, inF], 'W');
    const q = await quantize(rt, W, spec, 'W');
    const codes = unpackCodes((await rt.read(q.codes)) as Uint32Array, out, inF, spec.bits);
    const stats = (await rt.read(q.stats)) as Float32Array;
    const ref = quantizeRef(w, out, inF, spec);
    let mismatches = 0;
    for (let i = 0; i < codes.length; i++) if (codes[i] !== ref.codes[i]) mismatches++;
    for (let i = 0; i < stats.length; i++) if (stats[i] !== ref.stats[i]) mismatches++;
    const name = `${spec.codebook}${spec.bits} G=${spec.groupSize} ${spec.calibrate ?? 'none'}`;
    checks.push({ name: `quantize ${name}: codes+stats differing from the CPU reference = ${mismatches}`, relativeError: mismatches, pass: mismatches === 0 });
    const dense = dequantize(codes, stats, out, inF, spec);
    for (const M of [1, 7, 100]) {
      const x = rand(M * inF);
      const X = rt.upload(x, [M, inF], 'x');
      const Y = rt.upload(new Float32Array(M * out).fill(NaN), [M, out], 'y');
      const DX = rt.upload(new Float32Array(M * inF).fill(NaN), [M, inF], 'dx');
      // The same weight read as three stacked parts (as q/k/v): each part's outputs a block of their own.
      const parts = [32, 16, 24];
      const YS = rt.upload(new Float32Array(M * out).fill(NaN), [M, out], 'y stacked');
      // At M = 1 both decode kernels by name, whichever the default is (in = 256: one block per invocation).
      const named = M === 1 ? (['units', 'slices'] as const).map((gemv) => ({ gemv, Y: rt.upload(new Float32Array(out).fill(NaN), [1, out], `y ${gemv}`) })) : [];
      // At M = 100 the forward on 128×64 tiles too (its B fetched a 32-code block at a time; 64×64 by default here).
      const YT = M === 100 ? rt.upload(new Float32Array(M * out).fill(NaN), [M, out], 'y 128×64') : null;
      const step = rt.step();
      await quantMatmul(rt, step, X, q, Y);
      await quantMatmulBackward(rt, step, Y, q, DX);
      await quantMatmul(rt, step, X, q, YS, { parts });
      for (const { gemv, Y: YN } of named) await quantMatmul(rt, step, X, q, YN, { gemv });
      if (YT) await quantMatmul(rt, step, X, q, YT, { tile: 8, tileN: 4, depth: 16 });
      step.submit();
      const y = (await rt.read(Y)) as Float32Array;
      const dx = await rt.read(DX);
      const ys = await rt.read(YS);
      rt.free(X, Y, DX, YS);
      const yRef = matmulRef({ a: x, b: dense, batch: 1, M, N: out, K: inF, transB: true });
      const ey = relativeError(y, yRef);
      for (const { gemv, Y: YN } of named) {
        const e = relativeError(await rt.read(YN), yRef);
        rt.free(YN);
        checks.push({ name: `quantMatmul ${name} M=1 gemv=${gemv}`, relativeError: e, pass: e < 1e-5 });
      }
      if (YT) {
        const e = relativeError(await rt.read(YT), yRef);
        rt.free(YT);
        checks.push({ name: `quantMatmul ${name} M=${M} on 128×64 tiles`, relativeError: e, pass: e < 1e-5 });
      }
      const ex = relativeError(dx, matmulRef({ a: y, b: dense, batch: 1, M, N: inF, K: out }));
      checks.push({ name: `quantMatmul ${name} M=${M}`, relativeError: ey, pass: ey < 1e-5 });
      checks.push({ name: `quantMatmulBackward ${name} M=${M}`, relativeError: ex, pass: ex < 1e-5 });
      const blocks = new Float32Array(M * out);
      let start = 0;
      for (const rows of parts) {
        for (let m = 0; m < M; m++) for (let r = 0; r < rows; r++) blocks[M * start + m * rows + r] = y[m * out + start + r];
        start += rows;
      }
      const es = relativeError(ys, blocks);
      checks.push({ name: `quantMatmul ${name} M=${M} as stacked parts [${parts}] against unstacked`, relativeError: es, pass: es === 0 });
    }
    rt.free(W, q.codes, q.stats);
  }
  return checks;
}
