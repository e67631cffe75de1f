// QA-LoRA (Xu et al.; DESIGN.md §8): the adapter's input sum-pooled over each quantization group, so its change to
// the weight is constant on every group and folds exactly into the quantized offsets after training.
//   x̄ [N, in/G] = group sums of drop(x);  H = x̄·Aᵀ (A [r, in/G], Xavier-uniform);  y += s·H·Bᵀ (B [out, r], zero)
//   backward  dB = s·dyᵀ·H;  dH = s·dy·B;  dA = dHᵀ·x̄;  dx += drop'(expand(dH·A))
//   merge     offset[o, g] += s·(B·A)[o, g]
// The pooling is fused into the A-side product (src/ops/lora.ts, qGroup); only the backward forms x̄.
import type { Runtime, Step, Tensor } from '../gpu';
import { seededRandom, ShapeError } from '../gpu';
import {
  addToOffsets, dropoutBackwardAdd, dropoutForward, groupExpandAdd, groupSum, loraDown, loraGradA, loraGradB, loraUpBackward,
  lowRankKernelFits, matmul,
} from '../ops';
import type { QuantizedWeight } from '../quant';
import type { AdapterModule, AdapterPass, AdapterSaved } from './adapter';
import { loraKey, loraScale, type LoraHyper, type LoraShape } from './lora';
import type { ParamSpec, ParamStore } from './params';

/** A [r, in/G] Xavier-uniform (bound √(6 / (in/G + r))), B [out, r] zero. */
export function qaLoraParamSpecs(shape: LoraShape, rank: number, groupSize: number, seed: number): ParamSpec[] {
  const cols = shape.inFeatures / groupSize;
  const random = seededRandom(seed);
  const bound = Math.sqrt(6 / (cols + rank));
  return [
    { name: loraKey(shape.target, 'A'), shape: [rank, cols], init: Float32Array.from({ length: rank * cols }, () => (2 * random() - 1) * bound) },
    { name: loraKey(shape.target, 'B'), shape: [shape.outFeatures, rank], init: new Float32Array(shape.outFeatures * rank) },
  ];
}

export class QaLoraModule implements AdapterModule {
  readonly target: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  private readonly scale: number;

  constructor(
    private readonly store: ParamStore,
    shape: LoraShape,
    private readonly hyper: LoraHyper,
    readonly groupSize: number,
    private readonly index: number,
  ) {
    if (!lowRankKernelFits(hyper.rank)) throw new ShapeError(`QA-LoRA on ${shape.target}: rank ${hyper.rank} must be a multiple of 4 up to 64`);
    this.target = shape.target;
    this.inFeatures = shape.inFeatures;
    this.outFeatures = shape.outFeatures;
    this.scale = loraScale(hyper);
  }

  private param(buffer: 'params' | 'grads', which: 'A' | 'B'): Tensor {
    return this.store.view(buffer, loraKey(this.target, which));
  }

  private dropoutSeed(pass: AdapterPass): number {
    return (Math.imul(pass.seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(this.index + 1, 0xc2b2ae35)) >>> 0;
  }

  private async input(pass: AdapterPass, x: Tensor): Promise<{ xin: Tensor; owned: boolean }> {
    if (!pass.training || this.hyper.dropout === 0) return { xin: x, owned: false };
    const xin = pass.rt.tensor(x.shape, 'f32', `${this.target} dropout`);
    await dropoutForward(pass.rt, pass.step, x, xin, this.hyper.dropout, this.dropoutSeed(pass));
    return { xin, owned: true };
  }

  async forward(pass: AdapterPass, x: Tensor, y: Tensor): Promise<AdapterSaved | null> {
    const { rt, step } = pass;
    const h = rt.tensor([x.shape[0], this.hyper.rank], 'f32', `${this.target} qa-lora H`);
    const { xin, owned } = await this.input(pass, x);
    try {
      await loraDown(rt, step, xin, this.param('params', 'A'), h, this.groupSize);
      await matmul(rt, step, h, this.param('params', 'B'), y, { transB: true, accumulate: true, alpha: this.scale });
    } catch (e) {
      rt.free(h);
      throw e;
    } finally {
      if (owned) rt.free(xin);
    }
    if (pass.training) return { tensors: [h] };
    rt.free(h);
    return null;
  }

  async backward(pass: AdapterPass, x: Tensor, dy: Tensor, dx: Tensor, saved: AdapterSaved): Promise<void> {
    const { rt, step } = pass;
    const [h] = saved.tensors;
    const N = x.shape[0];
    const cols = this.inFeatures / this.groupSize;
    const accumulate = !pass.firstMicroBatch;
    const dh = rt.tensor([N, this.hyper.rank], 'f32', `${this.target} qa-lora dH`);
    const xbar = rt.tensor([N, cols], 'f32', `${this.target} pooled input`);
    const owned: Tensor[] = [h, dh, xbar];
    try {
      await loraGradB(rt, step, dy, h, this.param('grads', 'B'), this.scale, accumulate);
      await loraUpBackward(rt, step, dy, this.param('params', 'B'), dh, this.scale);
      const { xin, owned: dropped } = await this.input(pass, x);
      if (dropped) owned.push(xin);
      await groupSum(rt, step, xin, xbar, this.groupSize);
      await loraGradA(rt, step, dh, xbar, this.param('grads', 'A'), accumulate);
      const t = xbar; // x̄ is dead: its buffer takes dH·A [N, in/G]
      await matmul(rt, step, dh, this.param('params', 'A'), t);
      if (dropped) {
        const g = rt.tensor(x.shape, 'f32', `${this.target} qa-lora dx`);
        owned.push(g);
        await step.write(g, new Float32Array(N * this.inFeatures));
        await groupExpandAdd(rt, step, t, g, this.groupSize);
        await dropoutBackwardAdd(rt, step, g, dx, this.hyper.dropout, this.dropoutSeed(pass));
      } else {
        await groupExpandAdd(rt, step, t, dx, this.groupSize);
      }
    } finally {
      rt.free(...owned);
    }
  }

  /** Folds s·B·A into `weight`'s offsets (the base this adapter was trained on): afterwards the weight alone gives
   *  what weight + adapter gave. The caller checks the format (single-quantized f32 statistics, group size G). */
  async merge(rt: Runtime, step: Step, weight: QuantizedWeight): Promise<void> {
    const c = rt.tensor([this.outFeatures, this.inFeatures / this.groupSize], 'f32', `${this.target} merged constants`);
    try {
      await matmul(rt, step, this.param('params', 'B'), this.param('params', 'A'), c, { alpha: this.scale });
      await addToOffsets(rt, step, c, weight.stats);
    } finally {
      rt.free(c);
    }
  }
}
