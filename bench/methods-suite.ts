// The papers' experiment, small: micro-llama-6m quantized at 2, 3 and 4 bits (nf and int, G64;
// G32 for QA-LoRA too), each method fine-tuned for the same steps and tokens in two settings, validation perplexity
// before and after fine-tuning and after merging. Jobs are independent (one model load each), so several processes
// share the GPU (bench/methods-node.ts claims them from one list).
//   recovery    train on the War and Peace + SOTU train splits (the corpora the model was pretrained on),
//               evaluate on their validation splits: how much of the quantization loss fine-tuning wins back
//   adaptation  train on the Shakespeare train split, evaluate on its validation split
// Splits and metric as metrics.json: the first 90 % of each file (cut at a newline) trains; validation loss is the
// mean over full 256-token windows of each window's mean loss.
import { AdapterConfigError, AdapterSet } from '../src/adapters';
import type { Runtime } from '../src/gpu';
import { LlamaModel, loadTokenizer, mergeAdapters, nodeDirSource, perplexity, type ModelSource } from '../src/model';
import type { Bits, Codebook, GroupSize, QuantSpec } from '../src/quant';
import { textDataset, train, type Dataset } from '../src/train';
import { readCorpus, splitCorpus } from './corpus';

/** The six methods. IR-QLoRA is ICQ + IEC over LoRA; IEC over QA-LoRA ('ir-qa-lora') trains too, but the
 *  device budget leaves it out of the grid (its cost is in the methodcost suite). */
export const METHODS = ['qlora', 'qa-lora', 'ir-qlora', 'q-blora', 'qa-blora', 'qa-blora-authors'] as const;
export type Method = (typeof METHODS)[number] | 'ir-qa-lora';
export type Setting = 'recovery' | 'adaptation';
export const SETTINGS: readonly Setting[] = ['recovery', 'adaptation'];
const CORPORA: Record<Setting, string[]> = { recovery: ['war_and_peace', 'sotu'], adaptation: ['tinyshakespeare'] };
const ALL_CORPORA = ['war_and_peace', 'sotu', 'tinyshakespeare'];

/** The same budget for every method: steps × batch × window tokens. */
export const PROTOCOL = {
  // (a smoke test on a CPU adapter overrides steps and validTokens)
  validTokens: Infinity,
  steps: 200, batchSize: 8, window: 256, schedule: 'cosine' as const, warmupSteps: 10, weightDecay: 0, maxGradNorm: 1,
  rank: 16, alpha: 16, dropout: 0.05, sweepLrs: [1e-3, 3e-3, 1e-2], sweepBase: { codebook: 'nf' as Codebook, bits: 3 as Bits }, seeds: [0, 1],
};

/** One run. `method` 'float' and 'rtn'/'icq' (phase 'base') only evaluate: the model before fine-tuning. */
export interface MethodsJob {
  id: string;
  phase: 'base' | 'sweep' | 'grid';
  method: Method | 'float' | 'rtn' | 'icq';
  setting: Setting | null;
  codebook: Codebook | null;
  bits: Bits | null;
  groupSize: GroupSize | null;
  lr: number | null;
  seed: number | null;
}

export interface MethodsRow extends MethodsJob {
  /** Validation loss per corpus (mean of window means). */
  loss: Record<string, number>;
  /** After merging the adapter into the quantized offsets (mergeable methods). */
  mergedLoss?: Record<string, number>;
  /** Why a mergeable method's merge was refused on this shape (IEC's r chunks not whole groups). */
  mergeError?: string;
  /** Training loss every 10 steps. */
  curve?: number[];
  trainSeconds?: number;
  error?: string;
  seconds: number;
}

const usesIcq = (m: MethodsJob['method']) => m === 'ir-qlora' || m === 'ir-qa-lora' || m === 'icq';
export const MERGEABLE: readonly string[] = ['qa-lora', 'ir-qa-lora', 'qa-blora'];

function job(j: Omit<MethodsJob, 'id'>): MethodsJob {
  const id = [j.phase, j.method, j.setting, j.codebook && `${j.codebook}${j.bits}`, j.groupSize && `g${j.groupSize}`, j.lr && `lr${j.lr}`, j.seed !== null && `s${j.seed}`]
    .filter(Boolean).join('-');
  return { id, ...j };
}

/** The evaluation-only rows: the float model, and every base with round-to-nearest and with ICQ. */
export function baseJobs(): MethodsJob[] {
  const jobs = [job({ phase: 'base', method: 'float', setting: null, codebook: null, bits: null, groupSize: null, lr: null, seed: null })];
  for (const groupSize of [64, 32] as GroupSize[]) {
    for (const codebook of ['nf', 'int'] as Codebook[]) {
      for (const bits of [2, 3, 4] as Bits[]) {
        for (const method of ['rtn', 'icq'] as const) jobs.push(job({ phase: 'base', method, setting: null, codebook, bits, groupSize, lr: null, seed: null }));
      }
    }
  }
  return jobs;
}

/** The learning-rate sweep: every method and setting at the sweep base (3-bit nf G64), seed 0. */
export function sweepJobs(): MethodsJob[] {
  const { codebook, bits } = PROTOCOL.sweepBase;
  return SETTINGS.flatMap((setting) => METHODS.flatMap((method) => PROTOCOL.sweepLrs.map((lr) =>
    job({ phase: 'sweep', method, setting, codebook, bits, groupSize: 64, lr, seed: 0 }))));
}

/** A setting's summary loss: the mean over its corpora. */
export function settingLoss(loss: Record<string, number>): number {
  const v = Object.values(loss);
  return v.reduce((a, b) => a + b, 0) / v.length;
}

/** The sweep's best learning rate per method and setting (lowest validation loss; a diverged run loses). */
export function bestLrs(sweep: MethodsRow[]): Map<string, number> {
  const best = new Map<string, { lr: number; loss: number }>();
  for (const r of sweep) {
    if (r.phase !== 'sweep' || r.error || r.lr === null) continue;
    const key = `${r.method}/${r.setting}`;
    const loss = settingLoss(r.loss);
    if (!(loss >= (best.get(key)?.loss ?? Infinity))) best.set(key, { lr: r.lr, loss });
  }
  return new Map([...best].map(([k, v]) => [k, v.lr]));
}

/** Every method on every base at its best learning rate, seed by seed (seed 0 first: a cut-short run still has one
 *  full seed); QA-LoRA also at G32. */
export function gridJobs(lrs: Map<string, number>): MethodsJob[] {
  const jobs: MethodsJob[] = [];
  for (const seed of PROTOCOL.seeds) {
    for (const bits of [2, 3, 4] as Bits[]) {
      for (const codebook of ['nf', 'int'] as Codebook[]) {
        for (const setting of SETTINGS) {
          for (const method of METHODS) {
            const lr = lrs.get(`${method}/${setting}`);
            if (lr === undefined) continue;
            const groups: GroupSize[] = method === 'qa-lora' ? [64, 32] : [64];
            for (const groupSize of groups) jobs.push(job({ phase: 'grid', method, setting, codebook, bits, groupSize, lr, seed }));
          }
        }
      }
    }
  }
  return jobs;
}

/** What every job of one process shares: the model's files and the tokenized splits. */
export interface MethodsContext {
  source: ModelSource;
  valid: Record<string, number[]>;
  train: Record<Setting, Dataset>;
}

export async function methodsContext(modelDir: string, dataDir: string): Promise<MethodsContext> {
  const source = await nodeDirSource(modelDir);
  const tokenizer = await loadTokenizer(source);
  const valid: Record<string, number[]> = {};
  const trainText: Record<string, string> = {};
  for (const corpus of ALL_CORPORA) {
    const { train, validation } = splitCorpus(readCorpus(dataDir, corpus));
    valid[corpus] = tokenizer.encode(validation).slice(0, PROTOCOL.validTokens);
    trainText[corpus] = train;
  }
  const seqLen = PROTOCOL.window;
  return {
    source, valid,
    train: {
      recovery: textDataset(tokenizer, [trainText.war_and_peace, trainText.sotu], { seqLen, name: 'war_and_peace + sotu train' }),
      adaptation: textDataset(tokenizer, trainText.tinyshakespeare, { seqLen, name: 'tinyshakespeare train' }),
    },
  };
}

async function validationLoss(model: LlamaModel, ids: number[]): Promise<number> {
  const r = await perplexity(model, ids, { window: PROTOCOL.window, fullWindowsOnly: true });
  return r.windows.reduce((a, w) => a + w.loss / w.tokens, 0) / r.windows.length;
}

async function losses(model: LlamaModel, ctx: MethodsContext, corpora: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const c of corpora) out[c] = await validationLoss(model, ctx.valid[c]);
  return out;
}

function adaptersFor(model: LlamaModel, j: MethodsJob): AdapterSet {
  const rt = model.rt;
  const linears = model.adaptableLinears();
  const lora = { rank: PROTOCOL.rank, alpha: PROTOCOL.alpha, dropout: PROTOCOL.dropout, seed: j.seed ?? 0 };
  const groupSize = j.groupSize ?? 64;
  switch (j.method) {
    case 'qlora': return AdapterSet.lora(rt, linears, lora);
    case 'ir-qlora': return AdapterSet.lora(rt, linears, { ...lora, iec: true });
    case 'qa-lora': return AdapterSet.qaLora(rt, linears, { ...lora, groupSize });
    case 'ir-qa-lora': return AdapterSet.qaLora(rt, linears, { ...lora, groupSize, iec: true });
    case 'q-blora': return AdapterSet.blora(rt, linears, { ...lora, form: 'q-blora' });
    case 'qa-blora': return AdapterSet.blora(rt, linears, { ...lora, form: 'qa-blora', groupSize });
    case 'qa-blora-authors': return AdapterSet.blora(rt, linears, { ...lora, form: 'qa-blora-authors' });
    default: throw new Error(`${j.method} trains no adapter`);
  }
}

export async function runMethodsJob(rt: Runtime, ctx: MethodsContext, j: MethodsJob): Promise<MethodsRow> {
  const t0 = performance.now();
  const quant: QuantSpec | null = j.codebook && j.bits && j.groupSize
    ? { codebook: j.codebook, bits: j.bits, groupSize: j.groupSize, calibrate: usesIcq(j.method) ? 'icq' : 'none' }
    : null;
  const model = await LlamaModel.load(rt, ctx.source, { quant });
  let adapters: AdapterSet | null = null;
  const row: MethodsRow = { ...j, loss: {}, seconds: 0 };
  try {
    if (j.phase === 'base' || !j.setting) {
      row.loss = await losses(model, ctx, ALL_CORPORA);
      return row;
    }
    const corpora = CORPORA[j.setting];
    adapters = adaptersFor(model, j);
    const t1 = performance.now();
    const result = await train(model, adapters, ctx.train[j.setting], {
      steps: PROTOCOL.steps, batchSize: PROTOCOL.batchSize, lr: j.lr ?? 1e-3, schedule: PROTOCOL.schedule,
      warmupSteps: PROTOCOL.warmupSteps, weightDecay: PROTOCOL.weightDecay, maxGradNorm: PROTOCOL.maxGradNorm, seed: j.seed ?? 0,
    });
    row.trainSeconds = (performance.now() - t1) / 1e3;
    row.curve = result.steps.filter((s) => s.step % 10 === 0).map((s) => Number(s.loss.toFixed(4)));
    model.adapters = adapters;
    row.loss = await losses(model, ctx, corpora);
    if (MERGEABLE.includes(j.method)) {
      try {
        await mergeAdapters(model, adapters);
        row.mergedLoss = await losses(model, ctx, corpora);
      } catch (e) {
        if (!(e instanceof AdapterConfigError)) throw e;
        row.mergeError = e.message;
      }
    }
  } catch (e) {
    row.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  } finally {
    model.adapters = null;
    adapters?.dispose();
    model.dispose();
    row.seconds = (performance.now() - t0) / 1e3;
  }
  return row;
}
