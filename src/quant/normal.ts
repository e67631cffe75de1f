// The standard normal CDF and its inverse in float64, for building NF code levels.
// Φ(x) = 1/2 + φ(x)·Σ x^(2n+1)/(2n+1)!!: every term is positive, so the sum is accurate to double
// precision for the |x| < 3 the NF construction needs; the inverse is bisection on it.

export function normalCdf(x: number): number {
  if (x < 0) return 1 - normalCdf(-x);
  const pdf = Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  let term = x;
  let sum = x;
  for (let n = 1; n < 500 && term > 1e-18 * sum; n++) {
    term *= (x * x) / (2 * n + 1);
    sum += term;
  }
  return 0.5 + pdf * sum;
}

export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs 0 < p < 1, got ${p}`);
  if (p < 0.5) return -normalQuantile(1 - p);
  let lo = 0;
  let hi = 8;
  for (let i = 0; i < 200 && hi - lo > 1e-17; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
