// Where the quantized backward's per-tile fetch gets its group statistics, A/B in one process (BENCH_SUITES=gemmstats,
// bench/gemm-variants.ts): matmul.wgsl with SHAREDSTATS = 0 (every B slot loads its group's statistics every K tile)
// against 1 (each statistic the tile needs loaded once, by one invocation, into workgroup memory) and against SGSTATS = 1
// (loaded by the first lane of each run of slots that share it, the others take it by subgroupShuffle), alternated
// a, b, c, c, b, a.
// src/quant/matmul.ts's backwardSharedStats picks from these rows. (65927b1's suite also ran the forward that way,
// slower everywhere: h200-gemm-stats.json.)
import type { Runtime } from '../src/gpu';
import type { QuantSpec } from '../src/quant';
import type { BenchResult } from './harness';
import { runGemmVariants, type GemmCase, type GemmVariant } from './gemm-variants';

export async function runGemmStats(rt: Runtime, log: (r: BenchResult) => void) {
  const int = (bits: 2 | 3 | 4, doubleQuant = false): QuantSpec => ({ codebook: 'int', bits, groupSize: 64, doubleQuant });
  const nf4: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64 };
  const [sq, tall, wide]: [number, number][] = [[4096, 4096], [11008, 4096], [4096, 11008]];
  const all = [int(2), int(3), int(4), nf4, int(4, true)];
  const c = (M: number, shapes: [number, number][], specs: QuantSpec[], tiling = {}): GemmCase => ({ M, shapes, specs, tiling, direction: 'backward' });
  const cases = rt.isCpuAdapter
    ? [c(64, [[128, 256]], [int(3), int(4, true)])]
    : [
      // At the default tilings: M = 2048 on 128×128 tiles at K-depth 8, M = 512 on 128×64 at 16, M = 256 on 64×64
      // (4096²). (addc25f's suite also ran M = 1024, G = 32 and 128, and M = 2048 forced to 128×64 tiles and to
      // K-depth 16, at SHAREDSTATS 0 and 1: h200-gemm-stats.json, run 2.)
      c(2048, [sq, tall, wide], all), c(512, [sq, tall, wide], all), c(256, [sq], all),
    ];
  const variants: GemmVariant[] = [
    { name: 'statistics per slot (SHAREDSTATS 0)', values: () => ({ SHAREDSTATS: 0 }) },
    { name: 'statistics per tile, shared (SHAREDSTATS 1)', values: () => ({ SHAREDSTATS: 1 }) },
    { name: 'statistics per run of lanes, shuffled (SGSTATS 1)', values: () => ({ SGSTATS: 1 }) },
  ];
  return runGemmVariants(rt, log, cases, rt.subgroupMinSize ? variants : variants.slice(0, 2));
}
