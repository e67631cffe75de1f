// A quantized table's rows picked by ids (src/matmul/gather.ts), against the CPU's dequantized table: every bit width,
// both codebooks, plain and 8-bit statistics, repeated and out-of-order ids.
import { describe, expect, it } from 'vitest';
import { quantGather } from '../../src/matmul';
import { freeQuantized, type QuantSpec } from '../../src/quant';
import { poison, testRuntime } from '../helpers/gpu';
import { makeWeight } from '../helpers/quant-weight';
import { Rng } from '../helpers/rng';

describe('quantized gather', () => {
  const specs: QuantSpec[] = [
    { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'icq' },
    { codebook: 'int', bits: 3, groupSize: 32 },
    { codebook: 'nf', bits: 2, groupSize: 128, doubleQuant: true },
    { codebook: 'int', bits: 4, groupSize: 32, doubleQuant: true },
  ];
  for (const [i, spec] of specs.entries()) {
    it(`${spec.codebook}${spec.bits} G${spec.groupSize}${spec.doubleQuant ? ' DQ' : ''}: the rows named, dequantized exactly`, async () => {
      const rt = await testRuntime();
      const [vocab, hidden, tokens] = [53, 256, 29];
      const { qw, dense } = makeWeight(rt, vocab, hidden, spec, 70 + i);
      const rng = new Rng(80 + i);
      const ids = Uint32Array.from({ length: tokens }, (_, t) => (t === 3 ? 0 : t === 4 ? vocab - 1 : rng.int(0, vocab - 1)));
      ids[7] = ids[2]; // a repeated id
      const I = rt.upload(ids, [tokens], 'ids');
      const O = rt.upload(poison(tokens * hidden), [tokens, hidden], 'out');
      const step = rt.step();
      await quantGather(rt, step, I, qw, O);
      step.submit();
      const got = await rt.read(O);
      const want = new Float32Array(tokens * hidden);
      for (let t = 0; t < tokens; t++) want.set(dense.subarray(ids[t] * hidden, (ids[t] + 1) * hidden), t * hidden);
      // The kernel computes s·level + o in f32 as the reference does: the same values up to one rounding.
      let worst = 0;
      for (let j = 0; j < want.length; j++) worst = Math.max(worst, Math.abs(got[j] - want[j]) / (Math.abs(want[j]) + 1e-6));
      expect(worst).toBeLessThan(1e-6);
      rt.free(I, O);
      freeQuantized(rt, qw);
    });
  }
});
