// IR-QLoRA's elastic connection (IEC, docs/methods.md) around a rank-r adapter, shared by LoRA and the pooled methods:
//   H += βA·poolr(x)   (x averaged over r chunks of in/r)      y += s·βB·repeat(H)   (H_i over the i-th chunk of out/r)
// βA and βB are learnable scalars from 0; their gradients are pooled dot products (src/ops/iec.ts).
import type { Tensor } from '../gpu';
import { iecExpandAdd, iecPooledDot, iecPoolAdd } from '../ops';
import type { AdapterPass } from './adapter';
import type { ParamSpec, ParamStore } from './params';

/** The key of an IEC scalar, beside the LoRA tensors (PEFT has none). */
export function iecKey(target: string, which: 'A' | 'B'): string {
  return `base_model.model.${target}.iec_beta_${which}`;
}

/** βA and βB, initialised to 0. */
export function iecParamSpecs(target: string): ParamSpec[] {
  return [{ name: iecKey(target, 'A'), shape: [1], init: new Float32Array(1) }, { name: iecKey(target, 'B'), shape: [1], init: new Float32Array(1) }];
}

export class ElasticConnection {
  /** r / in: the mean over one chunk of the input. */
  private readonly chunkMean: number;

  /** `scale`: the adapter's s, which the output path shares. */
  constructor(private readonly store: ParamStore, private readonly target: string, rank: number, inFeatures: number, private readonly scale: number) {
    this.chunkMean = rank / inFeatures;
  }

  private beta(buffer: 'params' | 'grads', which: 'A' | 'B'): Tensor {
    return this.store.view(buffer, iecKey(this.target, which));
  }

  /** βA or βB's trained value ([1]), for a merge. */
  view(which: 'A' | 'B'): Tensor {
    return this.beta('params', which);
  }

  /** Forward, input side: h [N, r] += βA·poolr(x). */
  intoRank(pass: AdapterPass, x: Tensor, h: Tensor): Promise<void> {
    return iecPoolAdd(pass.rt, pass.step, x, h, this.beta('params', 'A'), this.chunkMean);
  }

  /** Forward, output side: y [N, out] += s·βB·repeat(h). */
  intoOutput(pass: AdapterPass, h: Tensor, y: Tensor): Promise<void> {
    return iecExpandAdd(pass.rt, pass.step, h, y, this.beta('params', 'B'), this.scale);
  }

  /** Backward of the output side: βB's gradient, and dh += s·βB·(dy summed over each chunk). */
  async backwardOutput(pass: AdapterPass, h: Tensor, dy: Tensor, dh: Tensor, accumulate: boolean): Promise<void> {
    await iecPooledDot(pass.rt, pass.step, h, dy, this.beta('grads', 'B'), this.scale, accumulate);
    await iecPoolAdd(pass.rt, pass.step, dy, dh, this.beta('params', 'B'), this.scale);
  }

  /** Backward of the input side, βA's gradient (dh complete, x as the forward saw it). */
  gradBetaA(pass: AdapterPass, dh: Tensor, x: Tensor, accumulate: boolean): Promise<void> {
    return iecPooledDot(pass.rt, pass.step, dh, x, this.beta('grads', 'A'), this.chunkMean, accumulate);
  }

  /** Backward of the input side into x: dx += βA·(dh spread over each chunk)/(in/r). */
  backwardInput(pass: AdapterPass, dh: Tensor, dx: Tensor): Promise<void> {
    return iecExpandAdd(pass.rt, pass.step, dh, dx, this.beta('params', 'A'), this.chunkMean);
  }
}
