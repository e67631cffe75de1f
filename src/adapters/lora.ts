// LoRA (Hu et al.; QLoRA's adapter): y = Ŵx + s·B·A·x with A [r, in], B [out, r], s = α/r (rsLoRA: α/√r),
// A Kaiming-uniform as PEFT initialises it (bound 1/√in), B zero, dropout on the adapter's input.
//   forward   H = drop(x)·Aᵀ [N, r];  y += s·H·Bᵀ
//   backward  dB = s·dyᵀ·H;  dH = s·dy·B;  dA = dHᵀ·drop(x);  dx += drop'(dH·A)
// With IEC (IR-QLoRA, DESIGN.md §8): H = A·x + βA·poolr(x) (x averaged over r chunks of in/r), and
// y += s·(B·H + βB·repeat(H)) (component i repeated over the i-th chunk of out/r outputs), βA and βB learnable scalars
// initialised to 0; their gradients are pooled dot products (src/ops/iec.ts).
// The products into or out of rank r (H, dH, dA, dB) take the split-K kernels of src/ops/lora.ts where r fits them
// (a multiple of 4 up to 64), the f32 matmul otherwise; the two with r as the inner dimension take the matmul.
import type { Tensor } from '../gpu';
import {
  iecExpandAdd, iecPooledDot, iecPoolAdd, loraDown, loraGradA, loraGradB, loraUpBackward, lowRankKernelFits, matmul,
} from '../ops';
import { InputDropout, type AdapterModule, type AdapterPass, type AdapterSaved } from './adapter';
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

/** The key of an IEC scalar, beside the LoRA tensors (PEFT has none). */
export function iecKey(target: string, which: 'A' | 'B'): string {
  return `base_model.model.${target}.iec_beta_${which}`;
}

/** βA and βB, initialised to 0. */
export function iecParamSpecs(target: string): ParamSpec[] {
  return [{ name: iecKey(target, 'A'), shape: [1], init: new Float32Array(1) }, { name: iecKey(target, 'B'), shape: [1], init: new Float32Array(1) }];
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
  }

  private param(buffer: 'params' | 'grads', which: 'A' | 'B'): Tensor {
    return this.store.view(buffer, loraKey(this.target, which));
  }

  private beta(buffer: 'params' | 'grads', which: 'A' | 'B'): Tensor {
    return this.store.view(buffer, iecKey(this.target, which));
  }



  async forward(pass: AdapterPass, x: Tensor, y: Tensor): Promise<AdapterSaved | null> {
    const { rt, step } = pass;
    const N = x.shape[0];
    const h = rt.tensor([N, this.hyper.rank], 'f32', `${this.target} lora H`); // [N, r]
    const { xin, owned } = await this.dropout.apply(pass, x);
    try {
      if (this.splitK) await loraDown(rt, step, xin, this.param('params', 'A'), h);
      else await matmul(rt, step, xin, this.param('params', 'A'), h, { transB: true });
      if (this.hyper.iec) await iecPoolAdd(rt, step, xin, h, this.beta('params', 'A'), this.hyper.rank / this.inFeatures);
      await matmul(rt, step, h, this.param('params', 'B'), y, { transB: true, accumulate: true, alpha: this.scale });
      if (this.hyper.iec) await iecExpandAdd(rt, step, h, y, this.beta('params', 'B'), this.scale);
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
      if (this.hyper.iec) {
        await iecPooledDot(rt, step, h, dy, this.beta('grads', 'B'), this.scale, accumulate);
        await iecPoolAdd(rt, step, dy, dh, this.beta('params', 'B'), this.scale);
      }
      const { xin, owned: dropped } = await this.dropout.apply(pass, x);
      if (dropped) owned.push(xin);
      if (this.hyper.iec) await iecPooledDot(rt, step, dh, xin, this.beta('grads', 'A'), this.hyper.rank / this.inFeatures, accumulate);
      if (this.splitK) await loraGradA(rt, step, dh, xin, this.param('grads', 'A'), accumulate);
      else await matmul(rt, step, dh, xin, this.param('grads', 'A'), { transA: true, accumulate });
      if (dropped) {
        const g = rt.tensor(x.shape, 'f32', `${this.target} lora dx`);
        owned.push(g);
        await matmul(rt, step, dh, this.param('params', 'A'), g);
        if (this.hyper.iec) await iecExpandAdd(rt, step, dh, g, this.beta('params', 'A'), this.hyper.rank / this.inFeatures);
        await this.dropout.backwardAdd(pass, g, dx);
      } else {
        await matmul(rt, step, dh, this.param('params', 'A'), dx, { accumulate: true });
        if (this.hyper.iec) await iecExpandAdd(rt, step, dh, dx, this.beta('params', 'A'), this.hyper.rank / this.inFeatures);
      }
    } finally {
      rt.free(...owned);
    }
  }
}
