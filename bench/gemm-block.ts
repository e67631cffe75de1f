// The quantized forward GEMM's B fetch, A/B in one process (BENCH_SUITES=gemmblock, bench/gemm-variants.ts):
// matmul.wgsl with BLOCKB = 1 (a slot's 32-code block and statistics loaded once per 32 / BK tiles) against BLOCKB = 0
// (its code word and statistics loaded every tile). src/quant/matmul.ts's forwardFetch picks between them from these rows.
import type { Runtime } from '../src/gpu';
import type { QuantSpec } from '../src/quant';
import { formatValues } from '../src/quant/matmul';
import type { BenchResult } from './harness';
import { intSpec as int, runGemmVariants, SHAPES, type GemmCase } from './gemm-variants';

export async function runGemmBlock(rt: Runtime, log: (r: BenchResult) => void) {
  const nf4: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64 };
  const [sq, tall, wide] = SHAPES;
  const c = (M: number, shapes: [number, number][], specs: QuantSpec[], tiling = {}): GemmCase => ({ M, shapes, specs, tiling, direction: 'forward' });
  const cases = rt.isCpuAdapter
    ? [c(64, [[128, 256]], [int(3), int(4, true)])]
    : [
      // M = 2048 and 1024 at the default tiling (128×128 at K-depth 8 where that makes ≥ 512 workgroups) and on 128×64
      // tiles at K-depth 16; M = 512 (128×64 by default here), M = 256 and 128 (64×64 by default here).
      c(2048, [sq, tall, wide], [int(2), int(3), int(4), nf4, int(4, true)]),
      c(2048, [sq, tall, wide], [int(2), int(3), int(4), nf4, int(4, true)], { tile: 8, tileN: 4, depth: 16 }),
      c(1024, [sq, tall, wide], [int(3), int(4)]),
      c(1024, [sq, tall, wide], [int(3), int(4)], { tile: 8, tileN: 4, depth: 16 }),
      c(512, [sq, tall, wide], [int(2), int(3), int(4), nf4, int(4, true), { ...nf4, doubleQuant: true }]),
      c(256, [sq], [int(2), int(3), int(4), nf4, int(4, true)]),
      c(128, [tall], [int(2), int(3), int(4), nf4, int(4, true)]),
    ];
  return runGemmVariants(rt, log, cases, [
    { name: 'a code word and statistics per tile (BLOCKB 0)', values: () => ({ BLOCKB: 0 }) },
    { name: 'a 32-code block per 32 / BK tiles (BLOCKB 1)', values: (w) => ({ ...formatValues(w, true), BLOCKB: 1 }) },
  ]);
}
