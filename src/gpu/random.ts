// Seeded uniform random numbers (mulberry32) for every layer above: sampling, adapter initialisation, data
// shuffling. Here because it is the lowest layer, not because it touches the GPU.

/** A generator of uniforms in [0, 1) from a 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
