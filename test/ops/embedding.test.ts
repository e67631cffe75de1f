// The embedding gather against its reference (embedding.ref.ts), random ids over an odd-sized table.
import { describe, expect, it } from 'vitest';
import { embeddingForward } from '../../src/ops';
import { poison, testRuntime } from '../helpers/gpu';
import { Rng } from '../helpers/rng';
import { embeddingRef } from './embedding.ref';

describe('embedding', () => {
  it('embedding gathers the rows named by the ids', async () => {
    const rt = await testRuntime();
    const rng = new Rng(1);
    const [vocab, hidden, tokens] = [37, 19, 23];
    const table = rng.normals(vocab * hidden);
    const ids = Uint32Array.from({ length: tokens }, () => rng.int(0, vocab - 1));
    const T = rt.upload(table, [vocab, hidden], 'table');
    const I = rt.upload(ids, [tokens], 'ids');
    const O = rt.upload(poison(tokens * hidden), [tokens, hidden], 'out');
    const step = rt.step();
    await embeddingForward(rt, step, I, T, O);
    step.submit();
    expect(await rt.read(O)).toEqual(embeddingRef(ids, table, hidden));
    rt.free(T, I, O);
  });
});
