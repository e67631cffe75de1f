// The sizes people pick (BENCH_SUITES=sizes): each model shape written to disk as Hugging Face bf16 safetensors with
// seeded random weights (its real config.json; shards of at most 5 GB with an index above that, as transformers
// saves them), then loaded through LlamaModel.load from that folder as a user would: nf4 G64 linears, the
// embedding quantized (a tied head reads it), an untied head quantized. Per size: load time, peak host memory while
// loading (VmHWM), GPU bytes of the weights, the cache entry (exportQuantized's files) against the estimate, peak GPU
// buffer bytes of a training step at batch 1 × 512 with and without checkpointing, training and decode tokens/s.
// BENCH_SIZES picks sizes by name (comma-separated); SIZES_DIR is where the files go (default the OS's temp folder);
// SIZES_JSONL, a file each size's row is appended to as soon as it is measured (a later size that runs out of time
// loses only itself).
import { appendFileSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdapterSet } from '../src/adapters';
import type { Runtime } from '../src/gpu';
import { estimateModelSize, exportQuantized, generateTokens, LlamaModel, nodeDirSource, parseLlamaConfig, type LlamaConfig } from '../src/model';
import { safetensorsHeader } from '../src/model/safetensors-write';
import { expectedTensors } from '../src/model/weights';
import type { QuantSpec } from '../src/quant';
import { train } from '../src/train';
import type { BenchResult } from './harness';
import { randomRows } from './train-suite';

const LLAMA3_ROPE = { rope_type: 'llama3', low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };

/** The config.json of each model (shapes, tying and RoPE as published). */
export const SIZES: Record<string, Record<string, unknown>> = {
  'SmolLM2-135M': {
    model_type: 'llama', vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9,
    num_key_value_heads: 3, rms_norm_eps: 1e-5, max_position_embeddings: 8192, rope_theta: 100000, tie_word_embeddings: true,
  },
  'SmolLM2-360M': {
    model_type: 'llama', vocab_size: 49152, hidden_size: 960, intermediate_size: 2560, num_hidden_layers: 32, num_attention_heads: 15,
    num_key_value_heads: 5, rms_norm_eps: 1e-5, max_position_embeddings: 8192, rope_theta: 100000, tie_word_embeddings: true,
  },
  'TinyLlama-1.1B': {
    model_type: 'llama', vocab_size: 32000, hidden_size: 2048, intermediate_size: 5632, num_hidden_layers: 22, num_attention_heads: 32,
    num_key_value_heads: 4, rms_norm_eps: 1e-5, max_position_embeddings: 2048, rope_theta: 10000, tie_word_embeddings: false,
  },
  'Llama-3.2-1B': {
    model_type: 'llama', vocab_size: 128256, hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32,
    num_key_value_heads: 8, head_dim: 64, rms_norm_eps: 1e-5, max_position_embeddings: 131072, rope_theta: 500000,
    rope_scaling: { ...LLAMA3_ROPE, factor: 32 }, tie_word_embeddings: true,
  },
  'Llama-3.2-3B': {
    model_type: 'llama', vocab_size: 128256, hidden_size: 3072, intermediate_size: 8192, num_hidden_layers: 28, num_attention_heads: 24,
    num_key_value_heads: 8, head_dim: 128, rms_norm_eps: 1e-5, max_position_embeddings: 131072, rope_theta: 500000,
    rope_scaling: { ...LLAMA3_ROPE, factor: 32 }, tie_word_embeddings: true,
  },
  'Llama-3.1-8B': {
    model_type: 'llama', vocab_size: 128256, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32,
    num_key_value_heads: 8, rms_norm_eps: 1e-5, max_position_embeddings: 131072, rope_theta: 500000,
    rope_scaling: { ...LLAMA3_ROPE, factor: 8 }, tie_word_embeddings: false,
  },
  /** A tiny shape for a CPU adapter (a smoke test of the suite). */
  tiny: {
    model_type: 'llama', vocab_size: 512, hidden_size: 128, intermediate_size: 256, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, rms_norm_eps: 1e-5, max_position_embeddings: 256, rope_theta: 10000, tie_word_embeddings: false,
  },
};

const SHARD_BYTES = 5e9;

/** bf16 patterns of uniform values in [lo, hi): a pool that tensors are cut from at seeded offsets, so writing many
 *  GB runs at the disk's speed (the values repeat across tensors, which neither timing nor memory can tell). */
function bf16Pool(n: number, seed: number, lo: number, hi: number): Uint16Array {
  const f = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    f[i] = lo + ((hi - lo) * s) / 4294967296;
  }
  const words = new Uint32Array(f.buffer);
  return Uint16Array.from(words, (w) => w >>> 16);
}

/** Writes `config` as a Hugging Face checkpoint in `dir` (config.json, model.safetensors or shards and their index),
 *  bf16, seeded: linears and the embedding uniform with std 0.02, norms in 1 ± 0.1. Returns the weights' bytes. */
export function writeRandomModel(dir: string, config: Record<string, unknown>, seed = 1): number {
  const c = parseLlamaConfig(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const tensors = [...expectedTensors(c)].map(([name, shape]) => ({ name, shape, bytes: 2 * shape.reduce((a, d) => a * d, 1) }));
  const shards: (typeof tensors)[] = [[]];
  let inShard = 0;
  for (const t of tensors) {
    if (inShard > 0 && inShard + t.bytes > SHARD_BYTES) (shards.push([]), (inShard = 0));
    shards[shards.length - 1].push(t);
    inShard += t.bytes;
  }
  const weights = bf16Pool(1 << 22, seed, -0.0346, 0.0346);
  const norms = bf16Pool(1 << 16, seed + 1, 0.9, 1.1);
  const names = shards.length === 1 ? ['model.safetensors'] : shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  const weightMap: Record<string, string> = {};
  let s = seed >>> 0;
  shards.forEach((shard, i) => {
    for (const t of shard) weightMap[t.name] = names[i];
    const head = safetensorsHeader(shard.map((t) => ({ name: t.name, shape: t.shape, dtype: 'BF16' as const })), { format: 'pt' });
    const fd = openSync(join(dir, names[i]), 'w');
    try {
      writeSync(fd, head);
      for (const t of shard) {
        const pool = t.shape.length === 1 ? norms : weights;
        for (let left = t.bytes / 2; left > 0;) {
          s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
          const start = s % (pool.length >> 1);
          const n = Math.min(left, pool.length - start);
          writeSync(fd, pool.subarray(start, start + n));
          left -= n;
        }
      }
    } finally {
      closeSync(fd);
    }
  });
  const total = tensors.reduce((a, t) => a + t.bytes, 0);
  if (shards.length > 1) writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  return total;
}

/** The process's peak resident memory since the last reset (Linux: VmHWM, reset by writing 5 to clear_refs);
 *  null elsewhere. */
function peakRss(reset = false): number | null {
  try {
    if (reset) writeFileSync('/proc/self/clear_refs', '5');
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return kb ? Number(kb[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export interface SizeRow {
  model: string;
  /** Why this size stopped, where it did (the step it reached is the last non-null field). */
  error: string | null;
  checkpointBytes: number;
  shards: number;
  loadSeconds: number | null;
  /** Peak host RSS while loading, and what the process held before it. */
  loadPeakRss: number | null;
  rssBefore: number | null;
  largestShardBytes: number;
  weightGpuBytes: number | null;
  estimatedBytes: number;
  cacheBytes: number | null;
  train: { checkpointing: boolean; tokensPerSecond: number; peakBytes: number }[];
  decodeTokensPerSecond: number | null;
}

const GiB = 2 ** 30;

/** One size end to end; the folder is removed afterwards whatever happens. */
async function measureSize(rt: Runtime, name: string, config: Record<string, unknown>, root: string, seq: number, log: (r: BenchResult) => void): Promise<SizeRow> {
  const c: LlamaConfig = parseLlamaConfig(config);
  const quant: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'none' };
  const options = { quant, embedding: 'quantized' as const, quantizeLmHead: true };
  const dir = mkdtempSync(join(root, 'size-'));
  const row: SizeRow = {
    model: name, error: null, checkpointBytes: 0, shards: 0, loadSeconds: null, loadPeakRss: null, rssBefore: null, largestShardBytes: 0,
    weightGpuBytes: null, estimatedBytes: estimateModelSize(c, options).weightBytes, cacheBytes: null, train: [], decodeTokensPerSecond: null,
  };
  let model: LlamaModel | null = null;
  try {
    const t0 = performance.now();
    row.checkpointBytes = writeRandomModel(dir, config);
    const source = await nodeDirSource(dir);
    console.log(`${name}: wrote ${(row.checkpointBytes / 1e9).toFixed(2)} GB of bf16 in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
    rt.pool.trim();
    const before = rt.pool.stats.bytesInUse;
    row.rssBefore = peakRss(true);
    const t1 = performance.now();
    const shardSizes = new Map<string, number>();
    model = await LlamaModel.load(rt, source, { ...options, onProgress: (p) => { if (p.phase === 'download' && p.total) shardSizes.set(p.file, p.total); } });
    row.loadSeconds = (performance.now() - t1) / 1e3;
    row.loadPeakRss = peakRss();
    row.shards = shardSizes.size;
    row.largestShardBytes = Math.max(...shardSizes.values());
    row.weightGpuBytes = rt.pool.stats.bytesInUse - before;
    console.log(`${name}: loaded in ${row.loadSeconds.toFixed(1)} s, ${(row.weightGpuBytes / GiB).toFixed(3)} GiB on the GPU (estimate ${(row.estimatedBytes / GiB).toFixed(3)}), peak RSS ${((row.loadPeakRss ?? 0) / GiB).toFixed(2)} GiB (before ${((row.rssBefore ?? 0) / GiB).toFixed(2)}; largest shard ${(row.largestShardBytes / GiB).toFixed(2)} GiB)`);
    const exported = await exportQuantized(model);
    row.cacheBytes = Object.values(exported).reduce((a, b) => a + b.size, 0);
    console.log(`${name}: cache entry ${(row.cacheBytes / GiB).toFixed(3)} GiB`);
    model.ropeFor(seq);
    for (const checkpointing of [false, true]) {
      rt.pool.trim();
      const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 16, alpha: 16 });
      const timed = 3;
      const data = { name: 'random', examples: randomRows(timed + 2, seq, c.vocabSize, 7), dropped: 0 };
      const result = await train(model, adapters, data, { steps: timed + 2, batchSize: 1, lr: 1e-4, checkpointing });
      const ms = (result.steps[result.steps.length - 1].elapsedMs - result.steps[1].elapsedMs) / timed;
      adapters.dispose();
      model.adapters = null;
      const r = { checkpointing, tokensPerSecond: seq / (ms / 1e3), peakBytes: rt.pool.stats.bytesAllocated };
      row.train.push(r);
      log({
        name: `sizes ${name} nf4 G64, LoRA r16 all linears${checkpointing ? ', checkpointing' : ''}; peak GPU buffers ${(r.peakBytes / GiB).toFixed(3)} GiB`,
        shape: `1x${seq}`, value: r.tokensPerSecond, unit: 'tokens/s', ceiling: null, ratio: null, seconds: ms / 1e3, timing: 'wall',
      });
    }
    rt.pool.trim();
    const prompt = Array.from({ length: 16 }, (_, i) => (i * 37) % c.vocabSize);
    const run = async (n: number) => {
      const t = performance.now();
      await generateTokens(model!, prompt, { maxNewTokens: n, stopTokenIds: [] });
      return (performance.now() - t) / 1e3;
    };
    await run(4);
    const steps = 32;
    const perToken = (Math.min(await run(8 + steps), await run(8 + steps)) - Math.min(await run(8), await run(8))) / steps;
    row.decodeTokensPerSecond = 1 / perToken;
    log({ name: `sizes ${name} generateTokens greedy`, shape: 'batch 1', value: 1 / perToken, unit: 'tokens/s', ceiling: null, ratio: null, seconds: perToken, timing: 'wall' });
  } catch (e) {
    row.error = `${(e as Error).name}: ${(e as Error).message}`;
    console.log(`${name}: stopped: ${row.error}`);
  } finally {
    model?.dispose();
    rt.pool.trim();
    rmSync(dir, { recursive: true, force: true });
  }
  return row;
}

export async function runSizesSuite(rt: Runtime, scale: 'gpu' | 'cpu', log: (r: BenchResult) => void): Promise<SizeRow[]> {
  const names = process.env.BENCH_SIZES?.split(',') ?? (scale === 'gpu' ? Object.keys(SIZES).filter((n) => n !== 'tiny') : ['tiny']);
  const root = process.env.SIZES_DIR ?? tmpdir();
  const rows: SizeRow[] = [];
  for (const name of names) {
    const config = SIZES[name];
    if (!config) throw new Error(`BENCH_SIZES: no size '${name}' (${Object.keys(SIZES).join(', ')})`);
    const row = await measureSize(rt, name, config, root, scale === 'gpu' ? 512 : 32, log);
    rows.push(row);
    if (process.env.SIZES_JSONL) appendFileSync(process.env.SIZES_JSONL, JSON.stringify(row) + '\n');
  }
  return rows;
}
