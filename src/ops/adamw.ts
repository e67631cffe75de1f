// One AdamW step over flat parameter buffers, with the gradient clipped to a global norm, all on the GPU
// (shaders/adamw.wgsl). The norm, the clip coefficient and the loss land in a small `report` tensor the caller
// reads back whenever it likes; a non-finite norm or loss sets a sticky `health` flag that stops every later update.
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, numel, Uniforms } from '../gpu';
import kernelCode from '../../shaders/adamw.wgsl?raw';
import { grid1d } from './grid';
import { opsKernel } from './wgsl';

const code = opsKernel('adamw', kernelCode);
/** Workgroups of the norm's first pass (each folds a strided share); the second pass sums their partials. */
const NORM_WORKGROUPS = 256;

export interface AdamWSettings {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip the gradient to this global L2 norm; 0 turns clipping off (the norm is still reported). */
  maxGradNorm: number;
  /** 1-based optimizer step, for bias correction. */
  step: number;
}

export interface AdamWBuffers {
  params: Tensor;
  grads: Tensor;
  m: Tensor;
  v: Tensor;
  /** f32 [4]: [0] holds the step's loss sum on entry; [1] ← grad norm, [2] ← clip coefficient. */
  report: Tensor;
  /** f32 [1]: 0 while every step was finite; set to 1 (and kept) by a non-finite norm or loss. */
  health: Tensor;
  /** f32 [NORM_WORKGROUPS] scratch. */
  partials: Tensor;
}

export function adamwPartialsShape(): [number] {
  return [NORM_WORKGROUPS];
}

export async function adamwStep(rt: Runtime, step: Step, b: AdamWBuffers, s: AdamWSettings) {
  const n = numel(b.params.shape);
  for (const t of [b.grads, b.m, b.v]) expectShape(t, b.params.shape, 'adamw');
  expectShape(b.report, [4], 'adamw');
  expectShape(b.health, [1], 'adamw');
  expectShape(b.partials, [NORM_WORKGROUPS], 'adamw');
  for (const [k, v] of Object.entries(s)) if (!Number.isFinite(v)) throw new RangeError(`adamw: ${k} must be finite, got ${v}`);
  if (!(s.step >= 1)) throw new RangeError(`adamw: step counts from 1, got ${s.step}`);
  const params = new Uniforms(12)
    .u32(n).u32(NORM_WORKGROUPS).f32(s.maxGradNorm).f32(s.lr)
    .f32(s.beta1).f32(s.beta2).f32(s.eps).f32(s.weightDecay)
    .f32(1 - s.beta1 ** s.step).f32(Math.sqrt(1 - s.beta2 ** s.step)).u32(0).u32(0).bytes;
  const kernel = (entryPoint: string) => rt.kernel({ shader: 'adamw', code, entryPoint });
  step.dispatch(await kernel('sumsq_partial'), params, [b.grads, b.partials], [NORM_WORKGROUPS], 'grad norm partials');
  step.dispatch(await kernel('finalize'), params, [b.partials, b.report, b.health], [1], 'grad norm');
  const groups = grid1d(Math.ceil(n / 256), rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(await kernel('update'), params, [b.grads, b.report, b.health, b.params, b.m, b.v], groups, `adamw ${n}`);
}
