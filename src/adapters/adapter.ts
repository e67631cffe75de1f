// The interface every adapter method implements (docs/methods.md, "Training"): one module per adapted linear layer, adding its
// output into the frozen layer's output in the forward, and in the backward writing its parameters' gradients and
// adding its share into the layer's input gradient. The trainer, optimizer, checkpointing and export never switch
// on the method.
import type { Runtime, Step, Tensor } from '../gpu';
import { dropoutBackwardAdd, dropoutForward } from '../ops';
import type { QuantizedWeight } from '../quant';

/** One forward (and its backward) of a batch through the model. */
export interface AdapterPass {
  readonly rt: Runtime;
  readonly step: Step;
  /** Training: dropout on, and forward keeps what backward needs. */
  readonly training: boolean;
  /** Seed of this pass (dropout masks); backward sees the same. */
  readonly seed: number;
  /** The first micro-batch of an optimizer step: gradients are written, later ones add to them. */
  readonly firstMicroBatch: boolean;
}

/** What a module's forward keeps for its backward; the backward frees it. */
export interface AdapterSaved {
  readonly tensors: Tensor[];
}

export interface AdapterModule {
  /** The adapted linear, as transformers names it: 'model.layers.0.self_attn.q_proj'. */
  readonly target: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** y [N, out] += the adapter's output for x [N, in]. Returns what backward needs when training, else null. */
  forward(pass: AdapterPass, x: Tensor, y: Tensor): Promise<AdapterSaved | null>;
  /** Given dy [N, out]: writes (or adds, after the first micro-batch) the parameters' gradients and adds the
   *  adapter's share of dx [N, in]. Frees `saved`. */
  backward(pass: AdapterPass, x: Tensor, dy: Tensor, dx: Tensor, saved: AdapterSaved): Promise<void>;
  /** Methods whose change to the weight is constant on each quantization group (QA-LoRA) fold it into the weight's
   *  offsets; the others have no merge. */
  merge?(rt: Runtime, step: Step, weight: QuantizedWeight): Promise<void>;
  /** Why this module's merge could not be exact, when a form has a merge that some shapes rule out; else null. */
  readonly mergeBlocker?: string | null;
}

/** The dropout of one module's input in one pass: its mask seed mixes the pass's seed with the module's index, so the
 *  backward regenerates the forward's mask. */
export class InputDropout {
  constructor(private readonly p: number, private readonly index: number, private readonly label: string) {}

  private seed(pass: AdapterPass): number {
    return (Math.imul(pass.seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(this.index + 1, 0xc2b2ae35)) >>> 0;
  }

  /** Whether this pass drops anything. */
  active(pass: AdapterPass): boolean {
    return pass.training && this.p > 0;
  }

  /** x itself, or x through this pass's mask (a new tensor the caller frees: `owned`). */
  async apply(pass: AdapterPass, x: Tensor): Promise<{ xin: Tensor; owned: boolean }> {
    if (!this.active(pass)) return { xin: x, owned: false };
    const xin = pass.rt.tensor(x.shape, 'f32', `${this.label} dropout`);
    await dropoutForward(pass.rt, pass.step, x, xin, this.p, this.seed(pass));
    return { xin, owned: true };
  }

  /** dx += g through this pass's mask. */
  backwardAdd(pass: AdapterPass, g: Tensor, dx: Tensor): Promise<void> {
    return dropoutBackwardAdd(pass.rt, pass.step, g, dx, this.p, this.seed(pass));
  }
}
