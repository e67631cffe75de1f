import { NF_OFFSET } from './format';
import { normalQuantile } from './normal';

// ICQ (IR-QLoRA) candidate tables and the entropy objective, shared by the GPU kernel and the CPU reference.
//
// Entropy of a group's codes, H = log2 G − (1/G)·Σ_c n_c·log2 n_c, is largest where S = Σ_c n_c·log2 n_c
// is smallest. S is summed from a fixed-point table T[n] = round(2^16 · n·log2 n) in u32 arithmetic, so
// the GPU and the CPU choose the same candidate bit for bit (WGSL's log2 is not exact).

/** σ = 1 / Φ⁻¹(0.9677083): the NF4 grid's standard deviation, which scales the τ search range. */
export const ICQ_SIGMA = 1 / normalQuantile(NF_OFFSET);

/** NF variant: f ∈ linspace(−0.1σ, +0.1σ, 103) (tau_range 0.1, tau_n 51); τ = τ0 + f·max|w − τ0|. */
export function icqNfFactors(): Float32Array {
  const n = 103;
  return Float32Array.from({ length: n }, (_, i) => -0.1 * ICQ_SIGMA + (0.2 * ICQ_SIGMA * i) / (n - 1));
}

/** Integer variant: p ∈ {1} ∪ linspace(1, 1.1, 51)[1:] ∪ linspace(1, 0.9, 51)[1:] (101 range factors). */
export function icqIntFactors(): Float32Array {
  const up = Array.from({ length: 50 }, (_, i) => 1 + (0.1 * (i + 1)) / 50);
  const down = Array.from({ length: 50 }, (_, i) => 1 - (0.1 * (i + 1)) / 50);
  return Float32Array.from([1, ...up, ...down]);
}

export const ENTROPY_FIXED_POINT = 65536;

/** T[n] = round(2^16 · n·log2 n) for n = 0..groupSize. */
export function entropyTable(groupSize: number): Uint32Array {
  return Uint32Array.from({ length: groupSize + 1 }, (_, n) => (n < 2 ? 0 : Math.round(ENTROPY_FIXED_POINT * n * Math.log2(n))));
}

/** Shannon entropy in bits of a histogram (float64, for reporting). */
export function entropyBits(counts: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  let h = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] > 0) {
      const p = counts[i] / total;
      h -= p * Math.log2(p);
    }
  }
  return h;
}
