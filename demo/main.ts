// The demo page: qlora-web's public API only (createFinetuner, in a worker). Load a model (the embedded one works
// offline), pick data and a method, fine-tune with a live loss chart, compare generations before and after, export,
// and resume or reuse any stored run after a reload. One task runs at a time; while it runs every control is locked
// except its Stop button. Settings are checked before anything starts, and every message stands beside its section.
import { zipSync } from 'fflate';
import { createFinetuner, type Finetuner, type MethodName, type ModelInfo, type Progress, type TrainData, type TrainRequest, type TrainSummary } from '../src';
import { LossChart } from './chart';
import { formatBytes, holdOut, notText, type Format } from './data';
import { forgetRun, getRun, newRunId, putRun, type RunRecord } from './runs';
import { shipsLog } from './sample';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const value = (id: string) => $<HTMLInputElement | HTMLSelectElement>(id).value;
const EMBEDDED = new URL(`${import.meta.env.BASE_URL}models/qlora-web-demo-5m`, location.href).href;
const MERGEABLE: MethodName[] = ['qa-lora', 'qa-blora'];
const METHOD_NAMES: Record<string, string> = { qlora: 'QLoRA', 'qa-lora': 'QA-LoRA', 'ir-qlora': 'IR-QLoRA', 'q-blora': 'Q-BLoRA', 'qa-blora': 'QA-BLoRA' };

type Section = 'page' | 'model' | 'data' | 'train' | 'compare' | 'export' | 'cache';
type Task = 'load' | 'train' | 'resume' | 'generate' | 'export' | 'cache';

/** What the tests read (window.__demo): the stage reached, the numbers shown, the messages. */
const state = {
  stage: 'starting', busy: null as Task | null, software: false,
  loaded: null as null | { key: string; fromCache: boolean; name: string | null },
  losses: [] as { step: number; loss: number }[], prompt: '', before: '', after: '', pplBefore: NaN, pplAfter: NaN,
  error: '', messages: [] as string[], summary: null as null | Pick<TrainSummary, 'runId' | 'stopped' | 'step' | 'steps' | 'message'>,
  /** When each task began and ended, and each progress report of training (ms since the page loaded). */
  timeline: [] as { t: number; what: string }[],
};
const mark = (what: string) => state.timeline.push({ t: Math.round(performance.now()), what });
(window as unknown as { __demo: typeof state }).__demo = state;

let ft: Finetuner;
let chart: LossChart;
let model: ModelInfo | null = null;
/** The adapter attached now (trained, resumed or reused), or null. */
let adapter: { method: MethodName; step: number; runId: string } | null = null;
/** A run stopped in this page that Resume continues. */
let resumable: string | null = null;
/** The window and held-out text each perplexity was measured on (a change of either makes it stale). */
const measuredOn = { before: '', after: '' };
/** An uploaded file's name, while the text area still holds what it read. */
let upload: { name: string; text: string } | null = null;

// --- messages ---

function say(section: Section, text: string, kind: 'error' | 'info' = 'info'): void {
  const div = document.createElement('div');
  div.className = `banner ${kind}`;
  div.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  const span = document.createElement('span');
  span.textContent = text;
  const close = document.createElement('button');
  close.textContent = '×';
  close.setAttribute('aria-label', 'Dismiss this message');
  close.onclick = () => {
    div.remove();
    if (kind === 'error' && state.error === text) state.error = '';
  };
  div.dataset.text = text;
  div.append(span, close);
  $(`msg-${section}`).prepend(div);
  if (kind === 'error') state.error = text;
  else state.messages.push(text);
}

/** Removes a section's messages (a new attempt at what they were about). */
function clearMessages(section: Section): void {
  for (const b of $(`msg-${section}`).querySelectorAll<HTMLElement>('.banner.error')) if (b.dataset.text === state.error) state.error = '';
  $(`msg-${section}`).textContent = '';
}

function announce(text: string): void {
  $('status').textContent = text;
}

/** The first word before a colon ('train: …', 'generate: …') is the API's, not the user's. */
const plain = (message: string) => message.replace(/^[a-zA-Z]+: /, '');

/** A sentence in the user's words for what went wrong, and whether it is an error at all (Stop is not). */
function explain(e: unknown): { text: string; kind: 'error' | 'info' } {
  const err = (e ?? {}) as Error & { neededBytes?: number };
  const message = plain(String(err.message ?? e));
  switch (err.name) {
    case 'AbortError': return { text: 'Stopped.', kind: 'info' };
    case 'SettingError': return { text: message, kind: 'error' };
    case 'WebGPUUnavailableError': return { text: `WebGPU is not available in this browser (${message}). Use a recent Chrome or Edge, or enable WebGPU in your browser's settings.`, kind: 'error' };
    case 'LimitError': return { text: `This GPU's limits are too small for this model (${message}). Try a smaller model.`, kind: 'error' };
    case 'StorageQuotaError': return { text: `There is not enough storage in this browser to keep the model (${message}). Delete stored entries below, or free disk space.`, kind: 'error' };
    case 'SourceError': return { text: `The model could not be downloaded: ${message}. Check the id or URL, your connection, and (for gated models) the token.`, kind: 'error' };
    case 'ModelFormatError':
    case 'UnsupportedModelError': return { text: `These model files cannot be used: ${message}.`, kind: 'error' };
    case 'DatasetError': return { text: `The data has a problem: ${message}.`, kind: 'error' };
    case 'TrainingError':
      if (/another base model/.test(message)) return { text: 'This run was trained on another model or quantization: load the model it was trained on, then resume it.', kind: 'error' };
      if (/another dataset/.test(message)) return { text: 'This run\'s stored data does not match its checkpoint, so it cannot be resumed. Delete it and train again.', kind: 'error' };
      return { text: `Training cannot go on: ${message}.`, kind: 'error' };
    case 'FinetunerError':
      if (/still running/.test(message)) return { text: 'Another task is still running: wait for it, or press Stop.', kind: 'error' };
      if (/no model is loaded/.test(message)) return { text: 'Load a model first.', kind: 'error' };
      return { text: `${message[0]?.toUpperCase() ?? ''}${message.slice(1)}.`, kind: 'error' };
    default: return { text: `Something went wrong: ${message}.`, kind: 'error' };
  }
}

/** Runs one task: nothing else starts meanwhile (a second click finds its button disabled, and is ignored anyway). */
async function task(name: Task, section: Section, body: () => Promise<void>): Promise<void> {
  if (state.busy) return;
  state.busy = name;
  mark(`${name} begins`);
  clearMessages(section);
  lock();
  try {
    await body();
  } catch (e) {
    const { text, kind } = explain(e);
    say(section, text, kind);
  } finally {
    state.busy = null;
    mark(`${name} ends`);
    lock();
  }
}

/** Every control follows the state: all locked while a task runs (but its Stop), else enabled where they apply. */
function lock(): void {
  const busy = state.busy;
  for (const el of document.querySelectorAll<HTMLInputElement | HTMLButtonElement | HTMLSelectElement | HTMLTextAreaElement>('input, select, textarea, button')) {
    if (el.closest('.banner') || el.classList.contains('stop')) continue;
    el.disabled = busy !== null;
  }
  $<HTMLButtonElement>('stop-load').disabled = busy !== 'load';
  $<HTMLButtonElement>('stop-train').disabled = busy !== 'train' && busy !== 'resume';
  $<HTMLButtonElement>('stop-generate').disabled = busy !== 'generate';
  $('resume').hidden = !resumable;
  if (busy) return;
  const loaded = !!state.loaded;
  $<HTMLButtonElement>('train').disabled = !loaded;
  $<HTMLButtonElement>('resume').disabled = !loaded;
  $<HTMLButtonElement>('generate').disabled = !loaded;
  $<HTMLButtonElement>('export-peft').disabled = adapter?.method !== 'qlora';
  $<HTMLButtonElement>('export-method').disabled = !adapter;
  $<HTMLButtonElement>('export-merged').disabled = !adapter || !MERGEABLE.includes(adapter.method);
  for (const b of document.querySelectorAll<HTMLButtonElement>('#cached button.use')) b.disabled = !loaded;
  $('export-info').textContent = adapter
    ? `The attached adapter: ${METHOD_NAMES[adapter.method] ?? adapter.method}, step ${adapter.step} (run ${adapter.runId}). Files download as one .zip.`
    : 'Train, resume or reuse a run to export its adapter. Files download as one .zip.';
}

// --- settings, checked before anything runs ---

class SettingError extends Error {
  override name = 'SettingError';
}

function wholeNumber(id: string, label: string, min: number, max: number): number {
  const raw = value(id).trim();
  const n = Number(raw);
  if (!raw) throw new SettingError(`${label} is empty: enter a whole number from ${min} to ${max}.`);
  if (!Number.isInteger(n) || n < min || n > max) throw new SettingError(`${label} must be a whole number from ${min} to ${max} (it is ${raw}).`);
  return n;
}

function trainSettings() {
  const maxPositions = model?.maxPositions ?? 4096;
  const steps = wholeNumber('steps', 'Steps', 1, 100_000);
  const batchSize = wholeNumber('batch', 'Batch', 1, 256);
  const seqLen = wholeNumber('seqlen', 'Tokens per row', 8, maxPositions);
  const raw = value('lr').trim();
  const lr = Number(raw);
  if (!raw || !(lr > 0) || !Number.isFinite(lr)) throw new SettingError(`Learning rate must be a number above 0 (it is ${raw || 'empty'}); 1e-4 to 1e-2 is usual.`);
  const text = value('data');
  if (!text.trim()) throw new SettingError('There is no data: paste text, upload a file, or use the sample (section 2).');
  return { steps, batchSize, seqLen, lr, rank: Number(value('rank')), method: value('method') as MethodName, format: value('format') as Format, text };
}

const genTokens = () => wholeNumber('gen-tokens', 'Tokens', 1, 2048);

function wrap(format: Format, text: string): TrainData {
  return format === 'alpaca' ? { alpaca: text } : format === 'chat' ? { chat: text } : { text };
}

// --- progress ---

function duration(seconds: number): string {
  if (seconds < 1) return 'under a second';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function showLoadProgress(p: Progress): void {
  if (p.message) say('model', p.message);
  if (p.phase !== 'download' && p.phase !== 'quantize' && p.phase !== 'cache') return;
  // A sharded download counts every shard on one bar.
  const { loaded, total } = p.phase === 'download' && p.overall ? p.overall : p;
  const bar = $<HTMLProgressElement>(`bar-${p.phase}`);
  bar.max = total ?? 1;
  bar.value = total ? loaded : 0;
  $(`txt-${p.phase}`).textContent = p.phase === 'quantize' ? `${loaded} / ${total} linears` : `${formatBytes(loaded)}${total ? ` / ${formatBytes(total)}` : ''}`;
}

function showEvalProgress(label: string) {
  return (p: Progress) => {
    if (p.phase !== 'eval' || p.step !== undefined) return;
    $('eval-bar').hidden = false;
    const bar = $<HTMLProgressElement>('bar-eval');
    bar.max = p.total ?? 1;
    bar.value = p.loaded;
    $('txt-eval').textContent = `${label}: window ${p.loaded} / ${p.total}`;
  };
}

/** A training run's reports: the bar, the chart (started by the first step, so a run that fails to start keeps the
 *  earlier curve), the stored record of the run. */
function trainProgress(runId: string, record: RunRecord, earlier: boolean) {
  let started = false;
  let announced = -1;
  return (p: Progress) => {
    if ((p.phase === 'train' || p.phase === 'eval') && p.step !== undefined) mark(`${p.phase} ${p.step}`);
    if (p.message) say('train', p.message, 'info');
    if (p.phase === 'eval' && p.step === undefined) return;
    if (!started && (p.phase === 'train' || p.phase === 'eval') && p.step !== undefined) {
      started = true;
      if (p.total) record.steps = p.total;
      state.losses = earlier ? record.losses.filter((l) => l.step < p.step!) : [];
      if (!earlier) {
        record.losses = [];
        record.evals = [];
      }
      chart.start(record.steps, state.losses, earlier ? record.evals.filter((l) => l.step < p.step!) : []);
    }
    if (p.phase === 'train' && p.step !== undefined) {
      const total = p.total ?? record.steps;
      const bar = $<HTMLProgressElement>('bar-train');
      bar.max = total;
      bar.value = p.loaded;
      const pct = Math.floor((100 * p.step) / total);
      const parts = [`step ${p.step} / ${total}`, `${pct} %`];
      if (p.loss !== undefined) parts.push(`loss ${p.loss.toFixed(3)}`);
      if (p.tokensPerSecond !== undefined && Number.isFinite(p.tokensPerSecond)) parts.push(`${Math.round(p.tokensPerSecond).toLocaleString('en')} tokens/s`);
      if (p.etaSeconds !== undefined && p.step < total) parts.push(`about ${duration(p.etaSeconds)} left`);
      $('txt-train').textContent = parts.join(' · ');
      if (p.loss !== undefined) {
        state.losses = [...state.losses.filter((l) => l.step !== p.step), { step: p.step, loss: p.loss }];
        chart.add(p.step, p.loss);
        record.losses = [...record.losses.filter((l) => l.step !== p.step), { step: p.step, loss: p.loss }];
        record.lastStep = p.step;
        putRun(runId, record);
      }
      if (pct >= announced + 10) {
        announced = pct;
        announce(`Training: ${parts.join(', ')}`);
      }
    } else if (p.phase === 'eval' && p.step !== undefined && p.loss !== undefined) {
      chart.add(p.step, null, p.loss);
      record.evals = [...record.evals.filter((l) => l.step !== p.step), { step: p.step, loss: p.loss }];
      putRun(runId, record);
    }
  };
}

// --- the tasks ---

function modelRequest() {
  const choice = value('model');
  const quant = { codebook: value('codebook') as 'nf' | 'int', bits: Number(value('bits')) as 2 | 3 | 4, groupSize: Number(value('group')) as 32 | 64 | 128, calibrate: $<HTMLInputElement>('icq').checked ? 'icq' as const : 'none' as const };
  const token = value('token') || undefined;
  // The token embedding in the same format (one table with a tied head): far less memory for large vocabularies.
  const embedding = $<HTMLInputElement>('embed-quantized').checked ? 'quantized' as const : 'f32' as const;
  if (choice === 'embedded') return { model: EMBEDDED, quant, embedding };
  if (choice === 'custom') {
    const id = value('custom').trim();
    if (!id) throw new SettingError('Enter a Hugging Face id (org/name) or a URL first.');
    return { model: id, quant, token, embedding };
  }
  if (choice === 'files') {
    const files = [...($<HTMLInputElement>('files').files ?? [])];
    if (!files.length) throw new SettingError('Pick the model files first (config.json, *.safetensors, tokenizer.json).');
    return { model: files, quant, embedding };
  }
  return { model: choice, quant, token, embedding };
}

/** Reads settings; a bad one is said beside its section (nothing starts) and gives null. */
function settings<T>(section: Section, read: () => T): T | null {
  try {
    return read();
  } catch (e) {
    clearMessages(section);
    say(section, (e as Error).message, 'error');
    return null;
  }
}

async function load(): Promise<void> {
  const request = settings('model', modelRequest);
  if (!request) return;
  await task('load', 'model', async () => {
    // The engine lets the previous model go as a load starts: so does the page, whatever the outcome.
    state.loaded = null;
    model = null;
    adapter = null;
    resumable = null;
    measuredOn.before = measuredOn.after = '';
    for (const id of ['gen-before', 'gen-after', 'ppl-before', 'ppl-after']) $(id).textContent = '';
    for (const phase of ['download', 'quantize', 'cache']) {
      $<HTMLProgressElement>(`bar-${phase}`).value = 0;
      $(`txt-${phase}`).textContent = '';
    }
    $('model-info').textContent = 'Loading…';
    lock();
    const t0 = performance.now();
    try {
      model = await ft.load(request, showLoadProgress);
    } catch (e) {
      $('model-info').textContent = 'No model is loaded.';
      state.stage = 'load-failed';
      throw e;
    }
    state.loaded = { key: model.key, fromCache: model.fromCache, name: model.name };
    $('model-info').textContent = `${model.name ?? 'Model'}: ${model.layers} layers, hidden ${model.hiddenSize}, vocabulary ${model.vocabSize}` +
      `${model.quant ? `, ${model.quant.codebook}${model.quant.bits} in groups of ${model.quant.groupSize}${model.quant.calibrate === 'icq' ? ' with ICQ' : ''}` : ', f32'}` +
      `${model.embedding === 'quantized' ? ', its embedding too' : ''}; ` +
      `${model.fromCache ? 'read from this browser\'s storage' : 'downloaded and quantized'} in ${duration((performance.now() - t0) / 1000)}` +
      `${model.hasTokenizer ? '' : '. It has no tokenizer.json, which this page needs.'}` +
      `. Matrix multiplies: ${model.matmul.kind === 'f16-matrix' ? 'f16 on the GPU\'s matrix units' : 'f32'} (${model.matmul.why}).`;
    announce(`Model loaded: ${$('model-info').textContent}`);
    state.stage = 'loaded';
    lock();
    await refreshCached();
    if ($<HTMLInputElement>('auto-sample').checked) await generateBoth();
  });
}

/** The same prompt through the model without the adapter and with it. */
async function generateBoth(): Promise<void> {
  const prompt = value('prompt');
  const maxTokens = genTokens();
  state.prompt = prompt;
  const into = async (which: 'before' | 'after') => {
    const out = $(`gen-${which}`);
    out.textContent = '';
    const shown = document.createElement('span');
    shown.className = 'prompt';
    shown.textContent = prompt;
    const text = document.createTextNode('');
    out.append(shown, text);
    const result = await ft.generate(prompt, { maxTokens, temperature: 0, adapters: which === 'after' }, (piece) => (text.data += piece));
    text.data = result;
    state[which] = result;
  };
  await into('before');
  if (adapter) await into('after');
  else {
    $('gen-after').innerHTML = '<span class="placeholder">Train, resume or reuse a run to see the adapted model here.</span>';
    state.after = '';
  }
}

/** Held-out perplexity, with or without the adapter, unless it was measured on this very text already. */
async function perplexity(which: 'before' | 'after', held: string | null): Promise<void> {
  if (!held || value('format') !== 'text') {
    $(`ppl-${which}`).textContent = '';
    return;
  }
  const window = Math.min(256, (Number(value('seqlen')) || 64) * 2, model?.maxPositions ?? 256);
  // The window is part of what was measured: before and after compare only over the same windows.
  const key = `${window}|${held}`;
  if (measuredOn[which] === key) return;
  try {
    const { perplexity: ppl } = await ft.evaluate(held, { window, adapters: which === 'after' }, showEvalProgress(`perplexity ${which} training`));
    $(`ppl-${which}`).textContent = `held-out perplexity ${ppl.toFixed(2)}`;
    state[which === 'before' ? 'pplBefore' : 'pplAfter'] = ppl;
    measuredOn[which] = key;
  } finally {
    $('eval-bar').hidden = true;
  }
}

async function train(): Promise<void> {
  const s = settings('train', trainSettings);
  if (!s) return;
  await task('train', 'train', async () => {
    const split = holdOut(s.text, s.format, s.seqLen * 4);
    $('data-info').textContent = `${upload?.text === s.text ? `${upload.name}, ` : ''}${formatBytes(new TextEncoder().encode(s.text).length)}. ${split.note}`;
    await perplexity('before', split.held);
    const runId = newRunId();
    const record: RunRecord = {
      method: s.method, steps: s.steps, settings: { rank: s.rank, lr: s.lr, batch: s.batchSize, seqlen: s.seqLen }, model: state.loaded!.key,
      startedAt: new Date().toISOString(), lastStep: 0, finished: false, losses: [], evals: [],
    };
    putRun(runId, record);
    const request: TrainRequest = {
      data: wrap(s.format, split.train), validation: split.held ? wrap(s.format, split.held) : undefined,
      dataName: upload?.text === s.text ? upload.name : undefined,
      method: s.method, rank: s.rank, alpha: s.rank, steps: s.steps, lr: s.lr, batchSize: s.batchSize, seqLen: s.seqLen,
      schedule: 'cosine', warmupSteps: Math.min(10, Math.floor(s.steps / 10)), dropout: 0.05,
      evalEvery: s.steps <= 20 ? s.steps : Math.floor(s.steps / 4), runId, checkpointEvery: 10,
    };
    $('txt-train').textContent = 'starting…';
    state.losses = [];
    let summary: TrainSummary;
    try {
      summary = await ft.train(request, trainProgress(runId, record, false));
    } catch (e) {
      if (record.lastStep === 0) forgetRun(runId);
      $('txt-train').textContent = '';
      throw e;
    }
    await finishRun(summary, record, split.held);
  });
}

async function resume(runId: string): Promise<void> {
  await task('resume', 'train', async () => {
    const record: RunRecord = getRun(runId) ?? { method: 'qlora', steps: 1, model: state.loaded!.key, startedAt: '', lastStep: 0, finished: false, losses: [], evals: [] };
    if (record.model !== state.loaded!.key) {
      throw new SettingError(`Run ${runId} was trained on another model or quantization: load that model (${friendlyModel(record.model)}), then resume it.`);
    }
    // The fields show the run's own settings (the run goes on with them, whatever the fields said).
    $<HTMLSelectElement>('method').value = record.method;
    $<HTMLInputElement>('steps').value = String(record.steps);
    for (const [id, v] of Object.entries(record.settings ?? {})) $<HTMLInputElement>(id).value = String(v);
    resumable = null;
    $('txt-train').textContent = `resuming ${runId}…`;
    const summary = await ft.resume(runId, trainProgress(runId, record, true));
    const split = holdOut(value('data'), value('format') as Format, (Number(value('seqlen')) || 64) * 4);
    await finishRun(summary, record, value('data').trim() ? split.held : null);
  });
}

async function finishRun(summary: TrainSummary, record: RunRecord, held: string | null): Promise<void> {
  state.summary = { runId: summary.runId, stopped: summary.stopped, step: summary.step, steps: summary.steps, message: summary.message };
  record.lastStep = summary.step;
  record.finished = summary.stopped === 'completed';
  if (summary.stopped === 'diverged') record.losses = record.losses.filter((l) => l.step <= summary.step);
  putRun(summary.runId, record);
  const took = duration(summary.seconds);
  const bar = $<HTMLProgressElement>('bar-train');
  bar.max = summary.steps;
  bar.value = summary.step;
  const from = (summary.losses[0]?.step ?? 1) - 1;
  if (summary.stopped === 'completed') {
    $('txt-train').textContent = `done: ${summary.step} / ${summary.steps} steps`;
    say('train', !summary.losses.length ? `The adapter of run ${summary.runId} (step ${summary.step}) is attached.`
      : from > 0 ? `Resumed from step ${from} and trained to step ${summary.step} in ${took}.` : `Trained ${summary.step} steps in ${took}.`);
  } else if (summary.stopped === 'aborted' && summary.step === 0) {
    $('txt-train').textContent = 'stopped before the first step';
    say('train', 'Stopped before the first step finished: nothing was trained.');
    forgetRun(summary.runId);
  } else if (summary.stopped === 'aborted') {
    $('txt-train').textContent = `stopped after step ${summary.step} of ${summary.steps}`;
    say('train', `Stopped after step ${summary.step} of ${summary.steps} (the steps already on the GPU finish first). The run is saved: Resume continues it, also after a reload.`);
  } else {
    $('txt-train').textContent = `stopped at step ${summary.step} of ${summary.steps}: diverged`;
    say('train', summary.message ?? 'Training diverged.', 'error');
  }
  resumable = summary.stopped === 'aborted' && summary.step > 0 ? summary.runId : null;
  adapter = summary.step > 0 ? { method: summary.method, step: summary.step, runId: summary.runId } : null;
  state.stage = summary.stopped === 'completed' ? 'trained' : summary.stopped === 'aborted' ? 'stopped' : 'diverged';
  lock();
  await refreshCached();
  measuredOn.after = ''; // another adapter now
  $('ppl-after').textContent = summary.stopped === 'aborted' ? 'held-out perplexity: measured when the run finishes' : '';
  if (adapter) {
    // A stopped run shows what its adapter writes; the held-out perplexity (a pass over the held-out tenth) waits
    // for a run that finished, so that Stop, Resume and Stop again stay quick.
    if (summary.stopped !== 'aborted') {
      await perplexity('before', held); // nothing to do unless the page was reloaded or the data changed since
      await perplexity('after', held);
    }
    await generateBoth();
  }
}

async function download(name: string, files: Record<string, ArrayBuffer>): Promise<void> {
  const zip = zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, new Uint8Array(v)])));
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([zip as BlobPart], { type: 'application/zip' }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

// --- stored entries ---

/** 'http://…/models/qlora-web-demo-5m|nf-4-64-icq-f32-' → 'qlora-web-demo-5m · nf4 G64 ICQ' (a key ending in
 *  '-embed': ', low-bit embedding' after it). */
function friendlyModel(key: string): string {
  const [name, spec = ''] = key.split('|');
  const [codebook, bits, group, calibrate] = spec.split('-');
  const short = name.replace(/^https?:\/\/[^/]+\/(models\/)?/, '').replace(/\/resolve\/.*$/, '');
  const embed = spec.endsWith('-embed') ? ', low-bit embedding' : '';
  return bits ? `${short} · ${codebook}${bits} G${group}${calibrate === 'icq' ? ' ICQ' : ''}${embed}` : short;
}

function friendlyRun(runId: string, run: RunRecord | null): string {
  if (!run) return `run ${runId}`;
  return `${runId} · ${METHOD_NAMES[run.method] ?? run.method} · step ${run.lastStep} of ${run.steps}${run.finished ? ' (finished)' : ''} · on ${friendlyModel(run.model)}`;
}

async function refreshCached(): Promise<void> {
  const body = $('cached');
  const entries = await ft.listCached();
  body.textContent = '';
  for (const entry of entries) {
    const tr = document.createElement('tr');
    const run = entry.kind === 'checkpoint' ? getRun(entry.key) : null;
    const label = entry.kind === 'checkpoint' ? friendlyRun(entry.key, run) : friendlyModel(entry.key);
    for (const text of [label, entry.kind === 'checkpoint' ? 'adapter' : 'model', formatBytes(entry.bytes)]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    const td = document.createElement('td');
    if (entry.kind === 'checkpoint') {
      const use = document.createElement('button');
      use.className = 'secondary use';
      use.textContent = run?.finished ? 'Use' : 'Resume';
      use.setAttribute('aria-label', `${use.textContent} ${label}`);
      use.onclick = () => void resume(entry.key);
      td.append(use, ' ');
    }
    const del = document.createElement('button');
    del.className = 'secondary';
    del.textContent = 'Delete';
    del.setAttribute('aria-label', `Delete ${label}`);
    del.onclick = () => void task('cache', 'cache', async () => {
      await ft.deleteCached(entry.key, entry.kind);
      if (entry.kind === 'checkpoint') forgetRun(entry.key);
      if (resumable === entry.key) resumable = null;
      await refreshCached();
    });
    td.append(del);
    tr.append(td);
    body.append(tr);
  }
  if (!body.children.length) body.innerHTML = '<tr><td colspan="4" class="metric">nothing yet</td></tr>';
  lock();
}

// --- wiring ---

function dataChanged(): void {
  // Perplexities measured on other text no longer describe this one.
  for (const which of ['before', 'after'] as const) {
    if (measuredOn[which]) {
      measuredOn[which] = '';
      $(`ppl-${which}`).textContent = '';
    }
  }
}

async function readUpload(file: File): Promise<void> {
  clearMessages('data');
  const bytes = new Uint8Array(await file.arrayBuffer());
  const why = notText(bytes);
  if (why) {
    $<HTMLInputElement>('data-file').value = '';
    say('data', `${file.name} (${formatBytes(file.size)}) cannot be used: ${why}. Upload a plain-text (.txt) or JSONL (.jsonl) file.`, 'error');
    return;
  }
  const text = new TextDecoder().decode(bytes);
  $<HTMLTextAreaElement>('data').value = text;
  if (/\.jsonl?$/i.test(file.name)) $<HTMLSelectElement>('format').value = /"messages"/.test(text.slice(0, 2000)) ? 'chat' : 'alpaca';
  else $<HTMLSelectElement>('format').value = 'text';
  upload = { name: file.name, text };
  $('data-info').textContent = `${file.name}: ${formatBytes(file.size)}`;
  dataChanged();
}

function methodHint(): void {
  if (value('method') !== 'ir-qlora') return;
  if (model && model.quant?.calibrate !== 'icq') say('train', 'IR-QLoRA expects an ICQ-calibrated base, and the loaded model is not one: tick "ICQ calibration" and load again.');
  else if (!model && !$<HTMLInputElement>('icq').checked) say('train', 'IR-QLoRA expects an ICQ-calibrated base: tick "ICQ calibration" before loading.');
}

function wire(): void {
  $('model').onchange = () => {
    const choice = value('model');
    $('custom-label').hidden = choice !== 'custom';
    $('files-label').hidden = choice !== 'files';
    $('token-label').hidden = !(choice === 'custom' || choice.startsWith('meta-llama/'));
  };
  $('method').onchange = methodHint;
  $('load').onclick = () => void load();
  $('sample').onclick = () => {
    $<HTMLSelectElement>('format').value = 'text';
    $<HTMLTextAreaElement>('data').value = shipsLog();
    $<HTMLInputElement>('prompt').value = 'Day 12.';
    $<HTMLInputElement>('data-file').value = '';
    upload = null;
    $('data-info').textContent = 'A ship\'s log, generated on this page: a form the embedded model has never seen.';
    dataChanged();
  };
  $('data').oninput = () => dataChanged();
  $('format').onchange = () => dataChanged();
  $<HTMLInputElement>('data-file').onchange = (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) void readUpload(file);
  };
  $('train').onclick = () => void train();
  $('resume').onclick = () => resumable && void resume(resumable);
  for (const id of ['stop-load', 'stop-train', 'stop-generate']) $(id).onclick = () => void ft.abort();
  $('generate').onclick = () => {
    if (settings('compare', genTokens) === null) return;
    void task('generate', 'compare', async () => {
      await generateBoth();
      state.stage = state.stage === 'starting' ? 'ready' : state.stage;
    });
  };
  $('export-peft').onclick = () => void task('export', 'export', async () => download('peft-adapter.zip', await ft.exportAdapter()));
  $('export-method').onclick = () => void task('export', 'export', async () => download(`${adapter!.method}-adapter.zip`, await ft.exportAdapter({ optimizer: true })));
  $('export-merged').onclick = () => void task('export', 'export', async () => {
    await download(`${adapter!.method}-merged-model.zip`, await ft.exportMerged());
    adapter = null;
  });
  // Leaving mid-task loses the work since the last checkpoint (training) or the download so far: ask first.
  window.addEventListener('beforeunload', (e) => {
    if (state.busy === 'train' || state.busy === 'resume' || state.busy === 'load') {
      e.preventDefault();
      e.returnValue = '';
    }
  });
}

/** Sizes a software adapter (a CPU implementation of WebGPU) can train in minutes rather than hours. */
function smallDefaults(): void {
  const set = (id: string, v: string) => ($<HTMLInputElement>(id).value = v);
  set('steps', '20');
  set('batch', '1');
  set('seqlen', '32');
  set('gen-tokens', '16');
  set('lr', '0.01');
  $<HTMLInputElement>('icq').checked = false; // ICQ's search costs minutes on a CPU
}

async function describeAdapter(): Promise<boolean> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) {
    say('page', 'This browser has WebGPU but found no GPU adapter for it (a blocklisted driver, or hardware acceleration turned off). Check chrome://gpu, or try another browser.', 'error');
    return false;
  }
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
  state.software = !!info.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe|warp|software/i.test(name);
  $('gpu-info').textContent = `GPU: ${name}` + (state.software
    ? '. This is a software adapter (WebGPU on the CPU): every step takes seconds, so the settings below start small.'
    : '.');
  if (state.software) smallDefaults();
  return true;
}

async function main(): Promise<void> {
  wire();
  chart = new LossChart($('chart-wrap'), $('chart'), $('chart-text'));
  if (!('gpu' in navigator)) {
    say('page', 'This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome or Edge, or enable WebGPU in your browser\'s settings.', 'error');
    state.stage = 'no-webgpu';
    for (const b of document.querySelectorAll('button')) b.disabled = true;
    return;
  }
  if (!(await describeAdapter())) return;
  ft = await createFinetuner();
  await refreshCached();
  lock();
  state.stage = 'ready';
}

main().catch((e) => say('page', explain(e).text, 'error'));
