import { describe, expect, it } from 'vitest';
import { argmax, sampleToken, seededRandom } from '../../src/model';
import { Rng } from '../helpers/rng';

describe('sampling', () => {
  const logits = new Rng(3).normals(500, 2);

  it('greedy takes the first index of the largest logit, as torch.argmax', () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(sampleToken(logits, {}, seededRandom(1))).toBe(argmax(logits));
  });

  it('is reproducible for a seed and varies across seeds', () => {
    const draw = (seed: number) => {
      const random = seededRandom(seed);
      return Array.from({ length: 20 }, () => sampleToken(logits, { temperature: 1, topK: 50 }, random));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('top-k = 1 and a tiny top-p reduce to greedy', () => {
    const random = seededRandom(2);
    for (let i = 0; i < 10; i++) {
      expect(sampleToken(logits, { temperature: 1.5, topK: 1 }, random)).toBe(argmax(logits));
      expect(sampleToken(logits, { temperature: 1.5, topP: 1e-6 }, random)).toBe(argmax(logits));
    }
  });

  it('top-k keeps draws among the k largest logits', () => {
    const top = new Set(Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, 5));
    const random = seededRandom(4);
    for (let i = 0; i < 200; i++) expect(top.has(sampleToken(logits, { temperature: 5, topK: 5 }, random))).toBe(true);
  });

  it('rejects a negative temperature and top-p outside (0, 1]', () => {
    expect(() => sampleToken(logits, { temperature: -1 }, Math.random)).toThrow(RangeError);
    expect(() => sampleToken(logits, { temperature: 1, topP: 0 }, Math.random)).toThrow(RangeError);
  });
});
