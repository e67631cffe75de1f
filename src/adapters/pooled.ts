// Adapters over pooled inputs (docs/methods.md): the input pooled over groups of G, the output optionally repeated R
// times, with A [r, in/G] and B [out/R, r]:
//   QA-LoRA (Xu et al.)      G = the quantization group, sums, R = 1: the change to the weight is constant on every
//                            group and folds exactly into the quantized offsets after training
//   Q-BLoRA                  G = 2, means, R = 2, rank 2r (s = α/r with the nominal r)
//   QA-BLoRA (ours)          G = the quantization group, sums, R = 2, rank 2r: mergeable like QA-LoRA
// With x̄ [N, in/G] the group sums of drop(x) and s' = s (sums) or s/G (means):
//   forward   H = x̄·Aᵀ;  y += repeat_R(s'·H·Bᵀ)
//   backward  dȳ = the sums of dy over each R outputs;  dB = s'·dȳᵀ·H;  dH = s'·dȳ·B;  dA = dHᵀ·x̄;
//             dx += drop'(expand_G(dH·A))
//   merge     offset[o, g] += s'·(B·A)[⌊o/R⌋, g]
// With IEC (IR-QLoRA over QA-LoRA, R = 1): H += βA·poolr(x) of the raw x (r chunks of in/r), y += s·βB·repeat(H), as
// around plain LoRA (lora.ts). When every chunk of in/r is whole groups, poolr(x) is (r/in)·(sums of x̄ over the
// chunk's groups), so the adapter is still linear in x̄ and merges as s·B'·A' with B' = B + βB·E (E[o, i] = 1 when
// output o is in chunk i) and A' = A + βA·(r/in)·P (P[i, g] = 1 when group g is in chunk i).
// The pooling is fused into the A-side product (src/ops/lora.ts, qGroup); only the backward forms x̄.
import type { Runtime, Step, Tensor } from '../gpu';
import { seededRandom, ShapeError } from '../gpu';
import { addToOffsets, groupExpandAdd, groupSum, loraDown, loraGradA, loraGradB, loraUpBackward, lowRankKernelFits } from '../ops';
import { matmul } from '../matmul';
import type { QuantizedWeight } from '../quant';
import { InputDropout, type AdapterModule, type AdapterPass, type AdapterSaved } from './adapter';
import { ElasticConnection } from './iec';
import { loraKey, type LoraHyper, type LoraShape } from './lora';
import type { ParamSpec, ParamStore } from './params';

/** How a pooled adapter pools its input and repeats its output. */
export interface Pooling {
  /** Inputs per pooled input. */
  groupSize: number;
  /** Average the group instead of summing it. */
  mean: boolean;
  /** Times each output of B is repeated (repeat_interleave). */
  repeat: number;
}

/** A [r, in/G] Xavier-uniform (bound √(6 / (in/G + r))), B [out/R, r] zero. */
export function pooledParamSpecs(shape: LoraShape, rank: number, pooling: Pooling, seed: number): ParamSpec[] {
  const cols = shape.inFeatures / pooling.groupSize;
  const rows = shape.outFeatures / pooling.repeat;
  const random = seededRandom(seed);
  const bound = Math.sqrt(6 / (cols + rank));
  return [
    { name: loraKey(shape.target, 'A'), shape: [rank, cols], init: Float32Array.from({ length: rank * cols }, () => (2 * random() - 1) * bound) },
    { name: loraKey(shape.target, 'B'), shape: [rows, rank], init: new Float32Array(rows * rank) },
  ];
}

export class PooledLoraModule implements AdapterModule {
  readonly target: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly groupSize: number;
  /** s' = s, or s/G for means. */
  private readonly scale: number;
  private readonly dropout: InputDropout;
  private readonly iec: ElasticConnection | null;
  readonly mergeBlocker: string | null = null;

  /** `hyper.rank` is the real rank (2r for BLoRA); `scale` is s = α/r with the nominal r. */
  constructor(
    private readonly store: ParamStore,
    shape: LoraShape,
    private readonly hyper: LoraHyper,
    scale: number,
    private readonly pooling: Pooling,
    index: number,
  ) {
    if (!lowRankKernelFits(hyper.rank)) throw new ShapeError(`pooled adapter on ${shape.target}: rank ${hyper.rank} must be a multiple of 4 up to 64`);
    this.target = shape.target;
    this.inFeatures = shape.inFeatures;
    this.outFeatures = shape.outFeatures;
    this.groupSize = pooling.groupSize;
    this.scale = pooling.mean ? scale / pooling.groupSize : scale;
    this.dropout = new InputDropout(hyper.dropout, index, shape.target);
    this.iec = hyper.iec ? new ElasticConnection(store, shape.target, hyper.rank, shape.inFeatures, this.scale) : null;
    const chunk = shape.inFeatures / hyper.rank;
    if (this.iec && chunk % pooling.groupSize !== 0) {
      this.mergeBlocker = `IEC averages ${shape.target}'s ${shape.inFeatures} inputs in ${hyper.rank} chunks of ${chunk}, which are not whole groups of ${pooling.groupSize}`;
    }
  }

  private param(buffer: 'params' | 'grads', which: 'A' | 'B'): Tensor {
    return this.store.view(buffer, loraKey(this.target, which));
  }

  async forward(pass: AdapterPass, x: Tensor, y: Tensor): Promise<AdapterSaved | null> {
    const { rt, step } = pass;
    const h = rt.tensor([x.shape[0], this.hyper.rank], 'f32', `${this.target} qa-lora H`);
    const { xin, owned } = await this.dropout.apply(pass, x);
    const R = this.pooling.repeat;
    const yh = R > 1 ? rt.tensor([x.shape[0], this.outFeatures / R], 'f32', `${this.target} pooled output`) : null;
    try {
      await loraDown(rt, step, xin, this.param('params', 'A'), h, this.groupSize);
      await this.iec?.intoRank(pass, xin, h);
      if (yh) {
        await matmul(rt, step, h, this.param('params', 'B'), yh, { transB: true, alpha: this.scale });
        await groupExpandAdd(rt, step, yh, y, R);
      } else {
        await matmul(rt, step, h, this.param('params', 'B'), y, { transB: true, accumulate: true, alpha: this.scale });
        await this.iec?.intoOutput(pass, h, y);
      }
    } catch (e) {
      rt.free(h);
      throw e;
    } finally {
      if (owned) rt.free(xin);
      if (yh) rt.free(yh);
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
      const R = this.pooling.repeat;
      let dyh = dy;
      if (R > 1) {
        dyh = rt.tensor([N, this.outFeatures / R], 'f32', `${this.target} pooled output gradient`);
        owned.push(dyh);
        await groupSum(rt, step, dy, dyh, R);
      }
      await loraGradB(rt, step, dyh, h, this.param('grads', 'B'), this.scale, accumulate);
      await loraUpBackward(rt, step, dyh, this.param('params', 'B'), dh, this.scale);
      await this.iec?.backwardOutput(pass, h, dy, dh, accumulate);
      const { xin, owned: dropped } = await this.dropout.apply(pass, x);
      if (dropped) owned.push(xin);
      await this.iec?.gradBetaA(pass, dh, xin, accumulate);
      await groupSum(rt, step, xin, xbar, this.groupSize);
      await loraGradA(rt, step, dh, xbar, this.param('grads', 'A'), accumulate);
      const t = xbar; // x̄ is dead: its buffer takes dH·A [N, in/G]
      await matmul(rt, step, dh, this.param('params', 'A'), t);
      if (dropped) {
        const g = rt.tensor(x.shape, 'f32', `${this.target} qa-lora dx`);
        owned.push(g);
        step.clear(g);
        await groupExpandAdd(rt, step, t, g, this.groupSize);
        await this.iec?.backwardInput(pass, dh, g);
        await this.dropout.backwardAdd(pass, g, dx);
      } else {
        await groupExpandAdd(rt, step, t, dx, this.groupSize);
        await this.iec?.backwardInput(pass, dh, dx);
      }
    } finally {
      rt.free(...owned);
    }
  }

  /** Folds s·B·A into `weight`'s offsets (the base this adapter was trained on): afterwards the weight alone gives
   *  what weight + adapter gave. The caller checks the format (single-quantized f32 statistics, group size G). */
  async merge(rt: Runtime, step: Step, weight: QuantizedWeight): Promise<void> {
    if (this.mergeBlocker) throw new ShapeError(this.mergeBlocker);
    const R = this.pooling.repeat;
    const c = rt.tensor([this.outFeatures / R, this.inFeatures / this.groupSize], 'f32', `${this.target} merged constants`);
    const owned = [c];
    try {
      let a = this.param('params', 'A');
      let b = this.param('params', 'B');
      if (this.iec) {
        [b, a] = await this.iecFactors(rt, step);
        owned.push(a, b);
      }
      await matmul(rt, step, b, a, c, { alpha: this.scale });
      await addToOffsets(rt, step, c, weight.stats, R);
    } finally {
      rt.free(...owned);
    }
  }

  /** B' = B + βB·E and A' = A + βA·(r/in)·P (the header), formed here from the trained values. */
  private async iecFactors(rt: Runtime, step: Step): Promise<[Tensor, Tensor]> {
    const read = (t: Tensor) => rt.read(t) as Promise<Float32Array>;
    const [a, b] = [await read(this.param('params', 'A')), await read(this.param('params', 'B'))];
    const [betaA, betaB] = [(await read(this.iec!.view('A')))[0], (await read(this.iec!.view('B')))[0]];
    const r = this.hyper.rank;
    const groups = this.inFeatures / this.groupSize;
    const groupsPerChunk = groups / r;
    const outPerChunk = this.outFeatures / r;
    for (let i = 0; i < r; i++) {
      for (let g = i * groupsPerChunk; g < (i + 1) * groupsPerChunk; g++) a[i * groups + g] += (betaA * r) / this.inFeatures;
    }
    for (let o = 0; o < this.outFeatures; o++) b[o * r + Math.floor(o / outPerChunk)] += betaB;
    const aT = rt.tensor([r, groups], 'f32', `${this.target} merged A`);
    const bT = rt.tensor([this.outFeatures, r], 'f32', `${this.target} merged B`);
    step.write(aT, a);
    step.write(bT, b);
    return [bT, aT];
  }
}

/** QA-BLoRA as its authors coded it (docs/methods.md; their README calls the code unfinished): the input averaged over
 *  groups of 4, one matrix A [out/8, in/4] and no B, the output repeated 8 times: y += s·repeat_8(A·pool_4(x)).
 *  Its change to the weight varies inside a quantization group, so it has no merge. Not fixed by the authors, ours:
 *  A starts at zero (the model is unchanged at step 0) and s = α/r with the nominal r. */
export const AUTHORS_QA_BLORA = { inputGroup: 4, outputRepeat: 8 } as const;

export function authorsQaBloraParamSpecs(shape: LoraShape): ParamSpec[] {
  const rows = shape.outFeatures / AUTHORS_QA_BLORA.outputRepeat;
  const cols = shape.inFeatures / AUTHORS_QA_BLORA.inputGroup;
  return [{ name: loraKey(shape.target, 'A'), shape: [rows, cols], init: new Float32Array(rows * cols) }];
}

export class AuthorsQaBloraModule implements AdapterModule {
  readonly target: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** s / 4: the mean over 4 inputs folded into the scale. */
  private readonly scale: number;

  private readonly dropout: InputDropout;

  constructor(private readonly store: ParamStore, shape: LoraShape, dropout: number, scale: number, index: number) {
    this.target = shape.target;
    this.inFeatures = shape.inFeatures;
    this.outFeatures = shape.outFeatures;
    this.scale = scale / AUTHORS_QA_BLORA.inputGroup;
    this.dropout = new InputDropout(dropout, index, shape.target);
  }

  private a(buffer: 'params' | 'grads'): Tensor {
    return this.store.view(buffer, loraKey(this.target, 'A'));
  }

  async forward(pass: AdapterPass, x: Tensor, y: Tensor): Promise<AdapterSaved | null> {
    const { rt, step } = pass;
    const { inputGroup: groupSize, outputRepeat: R } = AUTHORS_QA_BLORA;
    const N = x.shape[0];
    const xbar = rt.tensor([N, this.inFeatures / groupSize], 'f32', `${this.target} pooled input`);
    const yh = rt.tensor([N, this.outFeatures / R], 'f32', `${this.target} pooled output`);
    let xin = x;
    try {
      xin = (await this.dropout.apply(pass, x)).xin;
      await groupSum(rt, step, xin, xbar, groupSize);
      await matmul(rt, step, xbar, this.a('params'), yh, { transB: true, alpha: this.scale });
      await groupExpandAdd(rt, step, yh, y, R);
    } catch (e) {
      rt.free(xbar);
      throw e;
    } finally {
      rt.free(yh);
      if (xin !== x) rt.free(xin);
    }
    if (pass.training) return { tensors: [xbar] };
    rt.free(xbar);
    return null;
  }

  async backward(pass: AdapterPass, x: Tensor, dy: Tensor, dx: Tensor, saved: AdapterSaved): Promise<void> {
    const { rt, step } = pass;
    const { inputGroup: groupSize, outputRepeat: R } = AUTHORS_QA_BLORA;
    const [xbar] = saved.tensors;
    const N = x.shape[0];
    const dyh = rt.tensor([N, this.outFeatures / R], 'f32', `${this.target} pooled output gradient`);
    const t = rt.tensor([N, this.inFeatures / groupSize], 'f32', `${this.target} pooled input gradient`);
    const owned = [xbar, dyh, t];
    try {
      await groupSum(rt, step, dy, dyh, R);
      await matmul(rt, step, dyh, xbar, this.a('grads'), { transA: true, alpha: this.scale, accumulate: !pass.firstMicroBatch });
      await matmul(rt, step, dyh, this.a('params'), t, { alpha: this.scale });
      if (this.dropout.active(pass)) {
        const g = rt.tensor(x.shape, 'f32', `${this.target} dx`);
        owned.push(g);
        step.clear(g);
        await groupExpandAdd(rt, step, t, g, groupSize);
        await this.dropout.backwardAdd(pass, g, dx);
      } else {
        await groupExpandAdd(rt, step, t, dx, groupSize);
      }
    } finally {
      rt.free(...owned);
    }
  }
}
