// Reference optimizer step in float64, as torch.nn.utils.clip_grad_norm_ and torch.optim.AdamW compute it: the
// global gradient norm, the clip coefficient min(1, maxNorm / (norm + 1e-6)) (1 when maxNorm is 0), decoupled weight
// decay, bias-corrected moments. Updates params, m and v in place; returns the norm and the coefficient.
import type { AdamWSettings } from '../../src/ops';

export function adamwRef(params: Float64Array, grads: ArrayLike<number>, m: Float64Array, v: Float64Array, s: AdamWSettings): { norm: number; coef: number } {
  let sumsq = 0;
  for (let i = 0; i < grads.length; i++) sumsq += grads[i] * grads[i];
  const norm = Math.sqrt(sumsq);
  const coef = s.maxGradNorm > 0 ? Math.min(1, s.maxGradNorm / (norm + 1e-6)) : 1;
  const c1 = 1 - s.beta1 ** s.step;
  const c2 = Math.sqrt(1 - s.beta2 ** s.step);
  for (let i = 0; i < params.length; i++) {
    const g = grads[i] * coef;
    m[i] = s.beta1 * m[i] + (1 - s.beta1) * g;
    v[i] = s.beta2 * v[i] + (1 - s.beta2) * g * g;
    params[i] = params[i] * (1 - s.lr * s.weightDecay) - (s.lr / c1) * m[i] / (Math.sqrt(v[i]) / c2 + s.eps);
  }
  return { norm, coef };
}
