// LoRA (Hu et al.; QLoRA's adapter): y = Ŵx + s·B·A·x with A [r, in], B [out, r], s = α/r (rsLoRA: α/√r),
// A Kaiming-uniform as PEFT initialises it (bound 1/√in), B zero, dropout on the adapter's input.
//   forward   H = drop(x)·Aᵀ [N, r];  y += s·H·Bᵀ
//   backward  dB = s·dyᵀ·H;  dH = s·dy·B;  dA = dHᵀ·drop(x);  dx += drop'(dH·A)
// With IEC (IR-QLoRA, src/adapters/iec.ts): H += βA·poolr(x) and y += s·βB·repeat(H), βA and βB learnable from 0.
// The products into or out of rank r (H, dH, dA, dB) take the split-K kernels of src/ops/lora.ts where r fits them
// (a multiple of 4 up to 64), the f32 matmul otherwise; the two with r as the inner dimension take the matmul.
import type { Tensor } from '../gpu';
import { loraDown, loraGradA, loraGradB, loraUpBackward, lowRankKernelFits } from '../ops';
import { matmul } from '../matmul';
import { InputDropout, type AdapterModule, type AdapterPass, type AdapterSaved } from './adapter';
import { ElasticConnection } from './iec';
import type { ParamSpec, ParamStore } from './params';
import { seededRandom } from '../gpu';

export interface LoraShape {
  target: string;
  inFeatures: number;
  outFeatures: number;
}

export interface LoraHyper {
  rank: number;
  alpha: number;
  /** rsLoRA scaling α/√r instead of α/r. */
  rslora: boolean;
  dropout: number;
  /** IR-QLoRA's elastic connection around the adapter. */
  iec: boolean;
}

/** PEFT's key of a LoRA tensor. */
export function loraKey(target: string, which: 'A' | 'B'): string {
  return `base_model.model.${target}.lora_${which}.weight`;
}


export function loraScale(h: Pick<LoraHyper, 'rank' | 'alpha' | 'rslora'>): number {
  return h.rslora ? h.alpha / Math.sqrt(h.rank) : h.alpha / h.rank;
}

/** A and B with PEFT's initialisation: A ~ U(−1/√in, 1/√in) (kaiming_uniform_ with a = √5), B = 0. */
export function loraParamSpecs(shape: LoraShape, rank: number, seed: number): ParamSpec[] {
  const random = seededRandom(seed);
  const bound = 1 / Math.sqrt(shape.inFeatures);
  const a = Float32Array.from({ length: rank * shape.inFeatures }, () => (2 * random() - 1) * bound);
  return [
    { name: loraKey(shape.target, 'A'), shape: [rank, shape.inFeatures], init: a },
    { name: loraKey(shape.target, 'B'), shape: [shape.outFeatures, rank], init: new Float32Array(shape.outFeatures * rank) },
  ];
}

export class LoraModule implements AdapterModule {
  readonly target: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  private readonly scale: number;
  private readonly splitK: boolean;
  private readonly dropout: InputDropout;
  private readonly iec: ElasticConnection | null;

  constructor(
    private readonly store: ParamStore,
    shape: LoraShape,
    private readonly hyper: LoraHyper,
    /** Distinguishes this module's dropout masks from the others' in one pass. */
    index: number,
  ) {
    this.target = shape.target;
    this.inFeatures = shape.inFeatures;
    this.outFeatures = shape.outFeatures;
    this.scale = loraScale(hyper);
    this.splitK = lowRankKernelFits(hyper.rank);
    this.dropout = new InputDropout(hyper.dropout, index, shape.target);
    this.iec = hyper.iec ? new ElasticConnection(store, shape.target, hyper.rank, shape.inFeatures, this.scale) : null;
  }

  private param(buffer: 'params' | 'grads', which: 'A' | 'B'): Tensor {
    return this.store.view(buffer, loraKey(this.target, which));
  }

  async forward(pass: AdapterPass, x: Tensor, y: Tensor): Promise<AdapterSaved | null> {
    const { rt, step } = pass;
    const N = x.shape[0];
    const h = rt.tensor([N, this.hyper.rank], 'f32', `${this.target} lora H`); // [N, r]
    const { xin, owned } = await this.dropout.apply(pass, x);
    try {
      if (this.splitK) await loraDown(rt, step, xin, this.param('params', 'A'), h);
      else await matmul(rt, step, xin, this.param('params', 'A'), h, { transB: true });
      await this.iec?.intoRank(pass, xin, h);
      await matmul(rt, step, h, this.param('params', 'B'), y, { transB: true, accumulate: true, alpha: this.scale });
      await this.iec?.intoOutput(pass, h, y);
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
    const accumulate = !pass.firstMicroBatch;
    const dh = rt.tensor([N, this.hyper.rank], 'f32', `${this.target} lora dH`);
    const owned: Tensor[] = [h, dh];
    try {
      if (this.splitK) {
        await loraGradB(rt, step, dy, h, this.param('grads', 'B'), this.scale, accumulate);
        await loraUpBackward(rt, step, dy, this.param('params', 'B'), dh, this.scale);
      } else {
        await matmul(rt, step, dy, h, this.param('grads', 'B'), { transA: true, alpha: this.scale, accumulate });
        await matmul(rt, step, dy, this.param('params', 'B'), dh, { alpha: this.scale });
      }
      await this.iec?.backwardOutput(pass, h, dy, dh, accumulate);
      const { xin, owned: dropped } = await this.dropout.apply(pass, x);
      if (dropped) owned.push(xin);
      await this.iec?.gradBetaA(pass, dh, xin, accumulate);
      if (this.splitK) await loraGradA(rt, step, dh, xin, this.param('grads', 'A'), accumulate);
      else await matmul(rt, step, dh, xin, this.param('grads', 'A'), { transA: true, accumulate });
      if (dropped) {
        const g = rt.tensor(x.shape, 'f32', `${this.target} lora dx`);
        owned.push(g);
        await matmul(rt, step, dh, this.param('params', 'A'), g);
        await this.iec?.backwardInput(pass, dh, g);
        await this.dropout.backwardAdd(pass, g, dx);
      } else {
        await matmul(rt, step, dh, this.param('params', 'A'), dx, { accumulate: true });
        await this.iec?.backwardInput(pass, dh, dx);
      }
    } finally {
      rt.free(...owned);
    }
  }
}
