// The adapters of one model: a module per adapted linear, all parameters in one ParamStore.
import type { Runtime } from '../gpu';
import type { AdapterModule } from './adapter';
import { AdapterConfigError } from './errors';
import { iecParamSpecs, loraParamSpecs, LoraModule, type LoraShape } from './lora';
import { QaLoraModule, qaLoraParamSpecs } from './qalora';
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
export type AdapterMethod = 'lora' | 'qa-lora';

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

export function loraConfig(options: LoraOptions): LoraConfig {
  const c: LoraConfig = {
    rank: options.rank ?? 16, alpha: options.alpha ?? 16, targets: options.targets ?? LORA_TARGETS,
    rslora: options.rslora ?? false, dropout: options.dropout ?? 0, seed: options.seed ?? 0, iec: options.iec ?? false,
  };
  if (!Number.isInteger(c.rank) || c.rank < 1) throw new AdapterConfigError('rank', `must be a positive integer, got ${c.rank}`);
  if (!(Number.isFinite(c.alpha) && c.alpha > 0)) throw new AdapterConfigError('alpha', `must be a positive number, got ${c.alpha}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new AdapterConfigError('dropout', `must be in [0, 1), got ${c.dropout}`);
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
    const config = loraConfig(options);
    const G = options.groupSize;
    if (!Number.isInteger(G) || G < 1) throw new AdapterConfigError('groupSize', `must be a positive integer, got ${G}`);
    if (config.rank % 4 !== 0 || config.rank > 64) throw new AdapterConfigError('rank', `QA-LoRA's kernels take ranks that are multiples of 4 up to 64, got ${config.rank}`);
    const chosen = linears.filter((l) => config.targets.includes(l.kind));
    for (const l of chosen) {
      if (l.inFeatures % G !== 0) throw new AdapterConfigError('groupSize', `${l.target} has ${l.inFeatures} inputs, not whole groups of ${G}`);
    }
    const specs: ParamSpec[] = chosen.flatMap((l, i) => qaLoraParamSpecs(l, config.rank, G, (config.seed * 1000003 + i) >>> 0));
    const store = new ParamStore(rt, specs);
    return new AdapterSet('qa-lora', config, store, chosen.map((l, i) => new QaLoraModule(store, l, config, G, i)), G);
  }

  /** The module adapting the linear named `target` ('model.layers.0.self_attn.q_proj'), if any. */
  get(target: string): AdapterModule | undefined {
    return this.modules.get(target);
  }

  get targets(): string[] {
    return [...this.modules.keys()];
  }

  dispose(): void {
    this.store.dispose();
  }
}
