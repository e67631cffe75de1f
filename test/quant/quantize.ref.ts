// CPU reference quantizer: round-to-nearest and ICQ for both codebooks, in float32 arithmetic step for
// step as shaders/quantize.wgsl does it (Math.fround after every operation), so codes must be identical.
//   nf:  candidates τ (plain: τ = 0; ICQ: τ = τ0 + f·m, τ0 = lower median, m = max|w − τ0|);
//        x = w − τ, a = max|x|, code = #{i : x > a·mid_i}; stats (a, τ).
//   int: xmin = min(w, 0), xmax = max(w, 0) (both 0 → −1, 1); candidates p (plain: 1);
//        scale = p·(xmax − xmin)·(1/(2^b − 1)), zero = #{j < 2^b−1 : −p·xmin > scale·(j + ½)},
//        code = #{j < 2^b−1 : w > scale·(j + ½ − zero)}; stats (scale, −scale·zero).
//   Of several candidates the first with the smallest S = Σ T[count] (largest code entropy) wins.
import { codeLevels, levelMidpoints, type QuantSpec } from '../../src/quant/format';
import { entropyTable, icqIntFactors, icqNfFactors } from '../../src/quant/icq';

const f = Math.fround;

export interface RefQuantized {
  codes: Uint8Array; // [out, in]
  stats: Float32Array; // [out, in/G, 2]
}

function histogramCost(codes: Uint8Array, levels: number, table: Uint32Array): number {
  const counts = new Uint32Array(levels);
  for (const q of codes) counts[q]++;
  let s = 0;
  for (const c of counts) s += table[c];
  return s;
}

function codesFor(w: Float32Array, shift: number, thresholds: Float32Array): Uint8Array {
  return Uint8Array.from(w, (v) => {
    const x = f(v - shift);
    let q = 0;
    for (const t of thresholds) if (x > t) q++;
    return q;
  });
}

function quantizeGroup(w: Float32Array, spec: QuantSpec, table: Uint32Array): { codes: Uint8Array; s: number; o: number } {
  const icq = spec.calibrate === 'icq';
  const nLevels = 2 ** spec.bits;
  let best: { codes: Uint8Array; s: number; o: number; cost: number } | null = null;
  const consider = (codes: Uint8Array, s: number, o: number) => {
    const cost = histogramCost(codes, nLevels, table);
    if (!best || cost < best.cost) best = { codes, s, o, cost };
  };
  if (spec.codebook === 'nf') {
    const mids = levelMidpoints(codeLevels(spec));
    let tau0 = 0;
    let m = 0;
    if (icq) {
      // Lower median, ties (−0 and +0 among them) in index order as the kernel ranks them: a stable sort by
      // value (Float32Array's sort would put −0 before +0).
      tau0 = Array.from(w).sort((x, y) => x - y)[(w.length - 1) >> 1];
      for (const v of w) m = Math.max(m, Math.abs(f(v - tau0)));
    }
    for (const factor of icq ? icqNfFactors() : [0]) {
      const tau = f(tau0 + f(factor * m));
      let a = 0;
      for (const v of w) a = Math.max(a, Math.abs(f(v - tau)));
      const thresholds = mids.map((mid) => f(a * mid));
      consider(codesFor(w, tau, thresholds), a, tau);
    }
  } else {
    const top = nLevels - 1;
    const invLevels = f(1 / top);
    let xmin = Math.min(0, ...w);
    let xmax = Math.max(0, ...w);
    if (xmin === 0 && xmax === 0) [xmin, xmax] = [-1, 1];
    const range = f(xmax - xmin);
    for (const p of icq ? icqIntFactors() : [1]) {
      const scale = f(f(p * range) * invLevels);
      const negMin = f(p * -xmin);
      let zero = 0;
      for (let j = 0; j < top; j++) if (negMin > f(scale * (j + 0.5))) zero++;
      const thresholds = Float32Array.from({ length: top }, (_, j) => f(scale * (j + 0.5 - zero)));
      consider(codesFor(w, 0, thresholds), scale, f(scale * -zero));
    }
  }
  const { codes, s, o } = best!;
  return { codes, s, o };
}

export function quantizeRef(w: Float32Array, out: number, inFeatures: number, spec: QuantSpec): RefQuantized {
  const G = spec.groupSize;
  const groups = inFeatures / G;
  const codes = new Uint8Array(out * inFeatures);
  const stats = new Float32Array(out * groups * 2);
  const table = entropyTable(G);
  for (let r = 0; r < out; r++) {
    for (let g = 0; g < groups; g++) {
      const start = r * inFeatures + g * G;
      const q = quantizeGroup(w.subarray(start, start + G), spec, table);
      codes.set(q.codes, start);
      stats[2 * (r * groups + g)] = q.s;
      stats[2 * (r * groups + g) + 1] = q.o;
    }
  }
  return { codes, stats };
}
