// Where the quantized backward's per-tile fetch gets its group statistics, A/B in one process (BENCH_SUITES=gemmstats,
// bench/gemm-variants.ts): matmul.wgsl with SHAREDSTATS = 0 (every B slot loads its group's statistics every K tile)
// against 1 (each statistic the tile needs loaded once, by one invocation, into workgroup memory), alternated 0, 1, 1, 0.
// src/quant/matmul.ts's backwardSharedStats picks from these rows. (65927b1's suite also ran the forward that way,
// slower everywhere: h200-gemm-stats.json.)
import type { Runtime } from '../src/gpu';
import type { QuantSpec } from '../src/quant';
import type { BenchResult } from './harness';
import { intSpec as int, runGemmVariants, SHAPES, type GemmCase, type GemmVariant } from './gemm-variants';

export async function runGemmStats(rt: Runtime, log: (r: BenchResult) => void) {
  const nf4: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64 };
  const groups = [int(4, false, 32), int(4, false, 128), { ...nf4, groupSize: 32 }, { ...nf4, groupSize: 128 }] satisfies QuantSpec[];
  const [sq, tall, wide] = SHAPES;
  const all = [int(2), int(3), int(4), nf4, int(4, true)];
  const c = (M: number, shapes: [number, number][], specs: QuantSpec[], tiling = {}): GemmCase => ({ M, shapes, specs, tiling, direction: 'backward' });
  const cases = rt.isCpuAdapter
    ? [c(64, [[128, 256]], [int(3), int(4, true)])]
    : [
      // At the default tilings: M = 2048 on 128×128 tiles (M = 1024 at 4096×11008 too), M = 1024 at 4096² and M = 512
      // on 128×64 (G = 32 and 128 too: 2 and ½ groups per tile row), M = 256 on 64×64 (4096²) and 128×64 (4096×11008);
      // and M = 2048 forced to 128×64 tiles and to K-depth 16.
      c(2048, [sq, tall, wide], all), c(1024, [sq, wide], all), c(512, [sq, tall, wide], all), c(512, [sq], groups), c(256, [sq, wide], all),
      c(2048, [sq, tall, wide], all, { tile: 8, tileN: 4, depth: 16 }), c(2048, [sq], [int(4)], { tile: 8, depth: 16 }),
    ];
  const variant = (v: number): GemmVariant => ({ name: `statistics ${['per slot', 'per tile, shared'][v]} (SHAREDSTATS ${v})`, values: () => ({ SHAREDSTATS: v }) });
  return runGemmVariants(rt, log, cases, [variant(0), variant(1)]);
}
