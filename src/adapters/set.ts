// The adapters of one model: a module per adapted linear, all parameters in one ParamStore.
import { bufferLimit, type Runtime } from '../gpu';
import type { AdapterModule } from './adapter';
import { AdapterConfigError } from './errors';
import { iecParamSpecs } from './iec';
import { loraParamSpecs, loraScale, LoraModule, type LoraShape } from './lora';
import { AUTHORS_QA_BLORA, AuthorsQaBloraModule, authorsQaBloraParamSpecs, PooledLoraModule, pooledParamSpecs, type Pooling } from './pooled';
import { ParamStore, type ParamSpec } from './params';

/** The linear layers LoRA can adapt, by the names PEFT's target_modules uses. */
export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface LoraOptions {
  /** r, default 16. */
  rank?: number;
  /** α, default 16 (scale α/r = 1 at the default rank). */
  alpha?: number;
  /** Which linears of every layer to adapt (PEFT's target_modules), default all seven. */
  targets?: readonly LoraTarget[];
  /** rsLoRA: scale α/√r instead of α/r. Default false. */
  rslora?: boolean;
  /** Dropout on the adapter's input while training, default 0 (PEFT's default; QLoRA used 0.05 or 0.1). */
  dropout?: number;
  /** Seed of A's initialisation, default 0. */
  seed?: number;
  /** IR-QLoRA's elastic connection (IEC) around each adapter: needs the rank to divide each adapted linear's input
   *  and output sizes. Default false. */
  iec?: boolean;
}

export type LoraConfig = Required<LoraOptions>;

/** The adapter methods an AdapterSet holds. */
export type AdapterMethod = 'lora' | 'qa-lora' | 'q-blora' | 'qa-blora' | 'qa-blora-authors';

/** An adaptable linear of the model: its transformers name and shape. */
export interface AdaptableLinear extends LoraShape {
  /** The PEFT target it answers to, e.g. 'q_proj'. */
  kind: LoraTarget;
}

/** IEC pools the input and repeats the output in r equal chunks: r must divide both sizes of every adapted linear. */
function checkIec(linears: readonly LoraShape[], rank: number) {
  for (const l of linears) {
    for (const [what, size] of [['inputs', l.inFeatures], ['outputs', l.outFeatures]] as const) {
      if (size % rank !== 0) throw new AdapterConfigError('iec', `${l.target} has ${size} ${what}, not ${rank} equal chunks (IEC needs the rank to divide them)`);
    }
  }
}

/** Refuses adapters whose flat parameter buffer (`counts`: each parameter's values) could not be one GPU buffer,
 *  before any initial values are made: a rank of 10⁹ is an error here, not an allocation failure later. */
function checkParamBytes(rt: Runtime, counts: number[], rank: number) {
  const align = rt.device.limits.minStorageBufferOffsetAlignment / 4;
  const bytes = counts.reduce((a, n) => a + Math.ceil(n / align) * align, 0) * 4;
  const limit = bufferLimit(rt);
  if (bytes > limit) throw new AdapterConfigError('rank', `rank ${rank} needs ${bytes} bytes of parameters, more than one GPU buffer holds here (${limit})`);
}

export function loraConfig(options: LoraOptions): LoraConfig {
  const c: LoraConfig = {
    rank: options.rank ?? 16, alpha: options.alpha ?? 16, targets: options.targets ?? LORA_TARGETS,
    rslora: options.rslora ?? false, dropout: options.dropout ?? 0, seed: options.seed ?? 0, iec: options.iec ?? false,
  };
  if (!(Number.isInteger(c.rank) && c.rank >= 1)) throw new AdapterConfigError('rank', `must be a positive integer, got ${c.rank}`);
  // α/r scales the adapter's output in f32: it must neither overflow nor round to 0 there.
  const scale = Math.fround(loraScale(c));
  if (!(Number.isFinite(c.alpha) && c.alpha > 0 && Number.isFinite(scale) && scale > 0)) {
    throw new AdapterConfigError('alpha', `must be a positive number whose scale α/r is a positive f32, got ${c.alpha}`);
  }
  if (!(typeof c.dropout === 'number' && c.dropout >= 0 && c.dropout < 1)) throw new AdapterConfigError('dropout', `must be a number in [0, 1), got ${JSON.stringify(c.dropout)}`);
  for (const flag of ['rslora', 'iec'] as const) {
    if (typeof c[flag] !== 'boolean') throw new AdapterConfigError(flag, `must be true or false, got ${JSON.stringify(c[flag])}`);
  }
  if (!Number.isInteger(c.seed)) throw new AdapterConfigError('seed', `must be an integer, got ${c.seed}`);
  if (!Array.isArray(c.targets) || c.targets.length === 0) throw new AdapterConfigError('targets', 'must name at least one linear');
  for (const t of c.targets) {
    if (!(LORA_TARGETS as readonly string[]).includes(t)) {
      throw new AdapterConfigError('targets', `'${t}' is not a linear of a LLaMA layer (${LORA_TARGETS.join(', ')})`);
    }
  }
  return c;
}

export class AdapterSet {
  private readonly modules = new Map<string, AdapterModule>();
  /** The fingerprint of the base these adapters were trained on (train() sets it, importAdapter restores it); merging
   *  or training them on another base is refused. Null before any training. */
  base: string | null = null;
  /** Optimizer steps taken so far (train() advances it; importAdapter restores it with the moments), where a resumed
   *  train({ startStep }) continues. */
  trainedSteps = 0;

  private constructor(
    readonly method: AdapterMethod,
    readonly config: LoraConfig,
    readonly store: ParamStore,
    modules: AdapterModule[],
    /** QA-LoRA: the inputs pooled per group (the base's quantization group size). */
    readonly groupSize: number | null = null,
  ) {
    for (const m of modules) this.modules.set(m.target, m);
  }

  /** LoRA on every linear of `linears` whose kind the config targets, initialised as PEFT does. */
  static lora(rt: Runtime, linears: readonly AdaptableLinear[], options: LoraOptions = {}): AdapterSet {
    const config = loraConfig(options);
    const chosen = linears.filter((l) => config.targets.includes(l.kind));
    for (const l of chosen) {
      if (config.rank > Math.max(l.inFeatures, l.outFeatures)) {
        throw new AdapterConfigError('rank', `${config.rank} is more than both sizes of ${l.target} [${l.outFeatures}, ${l.inFeatures}]; a rank above min(in, out) adds no capacity`);
      }
    }
    checkParamBytes(rt, chosen.flatMap((l) => [config.rank * l.inFeatures, l.outFeatures * config.rank]), config.rank);
    if (config.iec) checkIec(chosen, config.rank);
    const specs: ParamSpec[] = chosen.flatMap((l, i) => [
      ...loraParamSpecs(l, config.rank, (config.seed * 1000003 + i) >>> 0), ...(config.iec ? iecParamSpecs(l.target) : []),
    ]);
    const store = new ParamStore(rt, specs);
    return new AdapterSet('lora', config, store, chosen.map((l, i) => new LoraModule(store, l, config, i)));
  }

  /** QA-LoRA on every targeted linear: the input sum-pooled over groups of `groupSize` (the base's quantization
   *  group, so the adapter merges into its offsets), A [r, in/G] Xavier-uniform, B zero. */
  static qaLora(rt: Runtime, linears: readonly AdaptableLinear[], options: LoraOptions & { groupSize: number }): AdapterSet {
    return AdapterSet.pooled(rt, linears, options, 'qa-lora', { groupSize: options.groupSize, mean: false, repeat: 1 }, 1);
  }

  /** BLoRA's simplified input and output with twice the rank (docs/methods.md): 'q-blora' averages adjacent input pairs
   *  and repeats each output twice; 'qa-blora' (ours) sums each quantization group of `groupSize` inputs instead, so
   *  it merges into the base's offsets like QA-LoRA. The scale stays α/r with the nominal r. */
  static blora(rt: Runtime, linears: readonly AdaptableLinear[], options: LoraOptions & { form: 'q-blora' | 'qa-blora' | 'qa-blora-authors'; groupSize?: number }): AdapterSet {
    if (options.form === 'qa-blora-authors') return AdapterSet.authorsQaBlora(rt, linears, options);
    if (options.form === 'q-blora') return AdapterSet.pooled(rt, linears, options, 'q-blora', { groupSize: 2, mean: true, repeat: 2 }, 2);
    if (options.form !== 'qa-blora') throw new AdapterConfigError('form', `must be 'q-blora', 'qa-blora' or 'qa-blora-authors', got ${JSON.stringify(options.form)}`);
    return AdapterSet.pooled(rt, linears, options, 'qa-blora', { groupSize: options.groupSize ?? Number.NaN, mean: false, repeat: 2 }, 2);
  }

  /** QA-BLoRA as its authors coded it (pooled.ts): not mergeable, kept to compare with ours. */
  private static authorsQaBlora(rt: Runtime, linears: readonly AdaptableLinear[], options: LoraOptions): AdapterSet {
    const config = loraConfig(options);
    if (config.iec) throw new AdapterConfigError('iec', 'qa-blora-authors with IEC is not built');
    const { inputGroup: groupSize, outputRepeat: R } = AUTHORS_QA_BLORA;
    const chosen = linears.filter((l) => config.targets.includes(l.kind));
    for (const l of chosen) {
      if (l.inFeatures % groupSize !== 0 || l.outFeatures % R !== 0) {
        throw new AdapterConfigError('form', `${l.target} is [${l.outFeatures}, ${l.inFeatures}]: qa-blora-authors needs outputs divisible by ${R} and inputs by ${groupSize}`);
      }
    }
    const store = new ParamStore(rt, chosen.flatMap((l) => authorsQaBloraParamSpecs(l)));
    const modules = chosen.map((l, i) => new AuthorsQaBloraModule(store, l, config.dropout, loraScale(config), i));
    return new AdapterSet('qa-blora-authors', config, store, modules, groupSize);
  }

  private static pooled(rt: Runtime, linears: readonly AdaptableLinear[], options: LoraOptions, method: AdapterMethod, pooling: Pooling, rankFactor: number): AdapterSet {
    const config = loraConfig(options);
    const groupSize = pooling.groupSize;
    if (!Number.isInteger(groupSize) || groupSize < 1) throw new AdapterConfigError('groupSize', `must be a positive integer, got ${groupSize}`);
    const rank = config.rank * rankFactor;
    if (rank % 4 !== 0 || rank > 64) throw new AdapterConfigError('rank', `${method}'s kernels take real ranks that are multiples of 4 up to 64, got ${rank}`);
    if (config.iec && method !== 'qa-lora') throw new AdapterConfigError('iec', `${method} with IEC is not built (QA-LoRA and plain LoRA take it)`);
    const chosen = linears.filter((l) => config.targets.includes(l.kind));
    if (config.iec) checkIec(chosen, rank);
    for (const l of chosen) {
      if (l.inFeatures % groupSize !== 0) throw new AdapterConfigError('groupSize', `${l.target} has ${l.inFeatures} inputs, not whole groups of ${groupSize}`);
      if (l.outFeatures % pooling.repeat !== 0) throw new AdapterConfigError('form', `${l.target} has ${l.outFeatures} outputs, not whole repeats of ${pooling.repeat}`);
    }
    checkParamBytes(rt, chosen.flatMap((l) => [rank * (l.inFeatures / groupSize), (l.outFeatures / pooling.repeat) * rank]), rank);
    const specs: ParamSpec[] = chosen.flatMap((l, i) => [
      ...pooledParamSpecs(l, rank, pooling, (config.seed * 1000003 + i) >>> 0), ...(config.iec ? iecParamSpecs(l.target) : []),
    ]);
    const store = new ParamStore(rt, specs);
    const hyper = { ...config, rank };
    const modules = chosen.map((l, i) => new PooledLoraModule(store, l, hyper, loraScale(config), pooling, i));
    return new AdapterSet(method, config, store, modules, groupSize);
  }

  /** The module adapting the linear named `target` ('model.layers.0.self_attn.q_proj'), if any. A disposed set
   *  still attached to a model refuses here, before its freed buffers reach a submit. */
  get(target: string): AdapterModule | undefined {
    if (this.disposed) throw new AdapterConfigError('adapters', 'this adapter set was disposed: detach it (model.adapters = null) or attach another before running the model');
    return this.modules.get(target);
  }

  get targets(): string[] {
    return [...this.modules.keys()];
  }

  /** True once dispose() has freed the set's buffers. */
  disposed = false;

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.store.dispose();
  }
}
