// Where the quantized GEMM's per-tile fetch gets its group statistics, A/B in one process (BENCH_SUITES=gemmstats,
// bench/gemm-variants.ts): matmul.wgsl with SHAREDSTATS = 0 (every B slot loads its group's statistics every K tile)
// against 1 (each statistic the tile needs loaded once, by one invocation, into workgroup memory) and, forward only,
// 2 (those reloaded only where a K tile starts a group). src/quant/matmul.ts picks from these rows.
import type { Runtime } from '../src/gpu';
import type { QuantSpec } from '../src/quant';
import type { BenchResult } from './harness';
import { runGemmVariants, type GemmCase, type GemmVariant } from './gemm-variants';

export async function runGemmStats(rt: Runtime, log: (r: BenchResult) => void) {
  const int = (bits: 2 | 3 | 4, doubleQuant = false, groupSize: 32 | 64 | 128 = 64): QuantSpec => ({ codebook: 'int', bits, groupSize, doubleQuant });
  const nf4: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64 };
  const groups = [int(4, false, 32), int(4, false, 128), { ...nf4, groupSize: 32 }, { ...nf4, groupSize: 128 }] satisfies QuantSpec[];
  const [sq, tall, wide]: [number, number][] = [[4096, 4096], [11008, 4096], [4096, 11008]];
  const all = [int(2), int(3), int(4), nf4, int(4, true)];
  const c = (direction: GemmCase['direction'], M: number, shapes: [number, number][], specs: QuantSpec[], tiling = {}): GemmCase => ({ M, shapes, specs, tiling, direction });
  const variant = (v: number): GemmVariant => ({ name: `statistics ${['per slot', 'per tile, shared', 'per group, shared'][v]} (SHAREDSTATS ${v})`, values: () => ({ SHAREDSTATS: v }) });
  const [forward, backward] = rt.isCpuAdapter
    ? [[c('forward', 64, [[128, 256]], [int(3), int(4, true)])], [c('backward', 64, [[128, 256]], [int(3), int(4, true)])]]
    : [
      // At the default tilings: forward M = 2048 on 128×128 tiles, M = 256 and 128 on 64×64 (DQ there, and M = 512's
      // 128×64, fetch per 32-code block: BLOCKB); backward M = 2048 on 128×128, M = 1024 and 512 on 128×64 (G = 32 and
      // 128 too: 2 and 1 groups per tile row), M = 256 on 64×64; and backward M = 2048 on 128×64 tiles and at K-depth 16.
      [c('forward', 2048, [sq, tall, wide], all), c('forward', 256, [sq], all.slice(0, 4)), c('forward', 128, [tall], all.slice(0, 4))],
      [
        c('backward', 2048, [sq, tall, wide], all), c('backward', 1024, [sq, wide], all), c('backward', 512, [sq, tall, wide], all),
        c('backward', 512, [sq], groups), c('backward', 256, [sq, wide], all),
        c('backward', 2048, [sq, tall, wide], all, { tile: 8, tileN: 4, depth: 16 }), c('backward', 2048, [sq], [int(4)], { tile: 8, depth: 16 }),
      ],
    ];
  return [
    ...(await runGemmVariants(rt, log, forward, [variant(0), variant(1), variant(2)])),
    ...(await runGemmVariants(rt, log, backward, [variant(0), variant(1)])),
  ];
}
