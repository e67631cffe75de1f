// Correctness on the benchmarked device itself (CI only ever sees SwiftShader): each kernel variant
// against the float64 reference, on shapes that are and are not multiples of the tile.
import type { Runtime } from '../src/gpu';
import { matmul } from '../src/ops';
import { matmulRef } from '../test/ref/matmul';

export interface Check {
  name: string;
  relativeError: number;
  pass: boolean;
}

function rel(got: ArrayLike<number>, want: ArrayLike<number>): number {
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
        const e = rel(got, matmulRef({ a, b, batch: 1, M, N, K, transA, transB }));
        checks.push({ name: `matmul ${M}x${N}x${K} tA=${+transA} tB=${+transB} tile=${tile} depth=${depth}`, relativeError: e, pass: e < 1e-5 });
      }
    }
  }
  return checks;
}
