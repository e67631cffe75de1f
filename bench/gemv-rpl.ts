// Decode GEMV with one or two rows of W per invocation (BENCH_SUITES=gemvrpl): gemv_units.wgsl with RPL = 1 and
// RPL = 2 (each invocation decodes a block of both rows before the next, so an X vec4 read from workgroup memory can
// serve both), int2/3/4 and nf4 G64, M = 1, the three benchmark shapes, alternated a, b, b, a. (Its session-10 run
// also timed bd9228c's kernel, from a copy of its source, as the first and last rounds.)
import type { Runtime, Step } from '../src/gpu';
import { u32Params } from '../src/gpu';
import { gemvSource } from '../src/ops/matmul';
import { codeLevels, freeQuantized, type QuantSpec } from '../src/quant';
import { unitsPerLane } from '../src/quant/matmul';
import dequantCode from '../shaders/dequant.wgsl?raw';
import storeCode from '../shaders/gemv_store.wgsl?raw';
import unitsCode from '../shaders/gemv_units.wgsl?raw';
import { result, seededUniforms, timeLaunch, type BenchResult } from './harness';
import { collector, packedBytes, randomWeight } from './quant-suite';
import { relativeError } from './selfcheck';

export async function runGemvRpl(rt: Runtime, copyGBs: number | null, log: (r: BenchResult) => void) {
  const { results, add } = collector(log);
  const spec = (bits: number): QuantSpec => (bits ? { codebook: 'int', bits: bits as 2 | 3 | 4, groupSize: 64 } : { codebook: 'nf', bits: 4, groupSize: 64 });
  const shapes: [number, number][] = rt.isCpuAdapter ? [[64, 4096]] : [[4096, 4096], [11008, 4096], [4096, 11008]];
  for (const [out, inF] of shapes) {
    for (const bits of [4, 0, 3, 2]) {
      const s = spec(bits);
      const bytes = packedBytes({ out, inFeatures: inF, spec: s });
      const ws = Array.from({ length: rt.isCpuAdapter ? 1 : Math.ceil((256 * 2 ** 20) / bytes) + 1 }, (_, i) => randomWeight(rt, out, inF, s, 40 + i));
      const levels = rt.constant(`levels-${s.codebook}${s.bits}`, () => codeLevels(s));
      const x = rt.upload(seededUniforms(inF, 9, -1, 1), [1, inF], 'x');
      const ys = ws.map(() => rt.tensor([1, out], 'f32', 'y'));
      const upl = unitsPerLane(rt, { inFeatures: inF }, 1, 8, rt.subgroupMinSize >= 8, undefined, 'gemvrpl');
      const values = { BITS: s.bits, GROUP: 64, NF: +!bits, DQ: 0, CODES4: 1, LANES: 8, MR: 1, SUBGROUPS: +(rt.subgroupMinSize >= 8), UPL: upl };
      const kernels: { variant: string; rpl: number; kernel: Awaited<ReturnType<Runtime['kernel']>> }[] = [];
      for (const [variant, code, rpl] of [['RPL 1', unitsCode, 1], ['RPL 2', unitsCode, 2]] as const) {
        const src = gemvSource('gemv_units', code + storeCode + dequantCode, { ...values, RPL: rpl });
        kernels.push({ variant, rpl, kernel: await rt.kernel({ shader: `gemvrpl ${s.codebook}${s.bits} ${upl} ${variant}`, code: src, entryPoint: 'main' }) });
      }
      let reference: Float32Array | null = null;
      for (const [round, index] of [0, 1, 1, 0].entries()) {
        const { variant, rpl, kernel } = kernels[index];
        const record = (step: Step, i: number) => step.dispatch(kernel, u32Params(1, out, inF, 0, out, out), [x, ws[i].codes, ys[i], ws[i].stats, levels], [Math.ceil(out / (32 * rpl))]);
        const check = rt.step();
        record(check, 0);
        check.submit();
        const y = (await rt.read(ys[0])) as Float32Array;
        let note = '';
        if (!reference) reference = Float32Array.from(y);
        else {
          const rel = relativeError(y, reference);
          if (!(rel < 1e-6)) note = ` MISMATCH rel ${rel.toExponential(2)}`;
        }
        let next = 0;
        const t = await timeLaunch(rt, (step: Step) => {
          record(step, next++ % ws.length);
          return Promise.resolve();
        }, { iters: rt.isCpuAdapter ? 2 : 4 * ws.length, reps: rt.isCpuAdapter ? 1 : 5, stream: true });
        add({ ...result(`gemv ${s.codebook}${s.bits} G64 M=1 stream, ${variant} (round ${round + 1})${note}`, `${out}×${inF}`, bytes / t.seconds / 1e9, 'GB/s', copyGBs, t.seconds, t.timing), wallSeconds: t.wall });
      }
      ws.forEach((w) => freeQuantized(rt, w));
      rt.free(x, ...ys);
    }
  }
  return results;
}
