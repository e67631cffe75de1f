// The demo page: qlora-web's public API only (createFinetuner, in a worker). Load a model (the embedded one works
// offline), pick data and a method, fine-tune with a live loss chart, compare generations before and after, export.
import { zipSync } from 'fflate';
import { createFinetuner, type Finetuner, type MethodName, type Progress, type TrainData, type TrainRequest } from '../src';
import { LossChart } from './chart';
import { shipsLog } from './sample';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const value = (id: string) => $<HTMLInputElement | HTMLSelectElement>(id).value;
const num = (id: string) => Number(value(id));
const EMBEDDED = new URL(`${import.meta.env.BASE_URL}models/qlora-web-demo-5m`, location.href).href;
const RUN = 'demo';

/** What the tests read (window.__demo): the stage reached and the numbers shown. */
const state = {
  stage: 'starting', loaded: null as null | { key: string; fromCache: boolean }, losses: [] as { step: number; loss: number }[],
  before: '', after: '', pplBefore: NaN, pplAfter: NaN, error: '', busy: false,
};
(window as unknown as { __demo: typeof state }).__demo = state;

let ft: Finetuner;
let chart: LossChart;
let trained = false;
let method: MethodName = 'qlora';

function message(text: string, kind: 'error' | 'info' = 'info'): void {
  const div = document.createElement('div');
  div.className = `banner ${kind}`;
  div.textContent = text;
  $('messages').prepend(div);
  if (kind === 'error') state.error = text;
}

/** A plain sentence for the errors people meet here. */
function explain(e: unknown): string {
  const err = e as Error & { neededBytes?: number; availableBytes?: number | null; limit?: string };
  switch (err.name) {
    case 'WebGPUUnavailableError': return `WebGPU is not available in this browser: ${err.message}\nUse a recent Chrome or Edge (or Firefox/Safari with WebGPU enabled).`;
    case 'LimitError': return `This GPU's limits are too small for this model: ${err.message}\nTry a smaller model.`;
    case 'StorageQuotaError': return `Not enough storage to cache the model: ${err.message}\nDelete cached entries below, or free disk space.`;
    case 'SourceError': return `Could not download the model: ${err.message}`;
    case 'AbortError': return 'Stopped.';
    default: return `${err.name ?? 'Error'}: ${err.message ?? String(e)}`;
  }
}

async function guarded(stage: string, body: () => Promise<void>): Promise<void> {
  state.busy = true;
  setButtons();
  try {
    await body();
    state.stage = stage;
  } catch (e) {
    message(explain(e), 'error');
  } finally {
    state.busy = false;
    setButtons();
  }
}

function setButtons(): void {
  const busy = state.busy;
  const loaded = !!state.loaded;
  $<HTMLButtonElement>('load').disabled = busy;
  $<HTMLButtonElement>('train').disabled = busy || !loaded;
  $<HTMLButtonElement>('abort').disabled = !busy;
  $<HTMLButtonElement>('generate').disabled = busy || !loaded;
  $<HTMLButtonElement>('export-peft').disabled = busy || !trained || method !== 'qlora';
  $<HTMLButtonElement>('export-method').disabled = busy || !trained;
  $<HTMLButtonElement>('export-merged').disabled = busy || !trained || !(method === 'qa-lora' || method === 'qa-blora');
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function showProgress(p: Progress): void {
  if (p.message) message(p.message);
  if (p.phase === 'download' || p.phase === 'quantize' || p.phase === 'cache') {
    const bar = $<HTMLProgressElement>(`bar-${p.phase}`);
    bar.max = p.total ?? 1;
    bar.value = p.total ? p.loaded : 0;
    const unit = p.phase === 'quantize' ? `${p.loaded} / ${p.total} linears` : `${mb(p.loaded)}${p.total ? ` / ${mb(p.total)}` : ''}`;
    $('txt-' + p.phase).textContent = unit;
  } else if (p.phase === 'train' && p.step !== undefined) {
    const bar = $<HTMLProgressElement>('bar-train');
    bar.max = p.total ?? 1;
    bar.value = p.loaded;
    const eta = p.etaSeconds !== undefined ? `, ${Math.ceil(p.etaSeconds)} s left` : '';
    $('txt-train').textContent = `step ${p.step} / ${p.total}${p.loss !== undefined ? `, loss ${p.loss.toFixed(3)}` : ''}${eta}`;
    if (p.loss !== undefined) {
      state.losses.push({ step: p.step, loss: p.loss });
      chart.add(p.step, p.loss);
    }
  } else if (p.phase === 'eval' && p.step !== undefined && p.loss !== undefined) {
    chart.add(p.step, null, p.loss);
  }
}

function modelRequest() {
  const choice = value('model');
  const quant = { codebook: value('codebook') as 'nf' | 'int', bits: num('bits') as 2 | 3 | 4, groupSize: num('group') as 32 | 64 | 128, calibrate: $<HTMLInputElement>('icq').checked ? 'icq' as const : 'none' as const };
  const token = value('token') || undefined;
  if (choice === 'embedded') return { model: EMBEDDED, quant };
  if (choice === 'custom') return { model: value('custom').trim(), quant, token };
  if (choice === 'files') {
    const files = [...($<HTMLInputElement>('files').files ?? [])];
    if (!files.length) throw new Error('Pick the model files first (config.json, *.safetensors, tokenizer.json).');
    return { model: files, quant };
  }
  return { model: choice, quant, token };
}

async function load(): Promise<void> {
  await guarded('loaded', async () => {
    for (const phase of ['download', 'quantize', 'cache']) {
      $<HTMLProgressElement>(`bar-${phase}`).value = 0;
      $('txt-' + phase).textContent = '';
    }
    const t0 = performance.now();
    const info = await ft.load(modelRequest(), showProgress);
    state.loaded = { key: info.key, fromCache: info.fromCache };
    trained = false;
    $('model-info').textContent = `${info.layers} layers, hidden ${info.hiddenSize}, vocabulary ${info.vocabSize}; ` +
      `${info.fromCache ? 'read from this browser\'s cache' : 'downloaded and quantized'} in ${((performance.now() - t0) / 1000).toFixed(1)} s` +
      `${info.hasTokenizer ? '' : ' — no tokenizer.json: this demo needs one'}`;
    $('gen-after').textContent = '';
    $('ppl-after').textContent = '';
    await refreshCached();
    await compare('before');
  });
}

function trainData(): TrainData {
  const text = value('data');
  if (!text.trim()) throw new Error('Add some data first: paste text, upload a file, or use the sample.');
  const format = value('format');
  return format === 'alpaca' ? { alpaca: text } : format === 'chat' ? { chat: text } : { text };
}

/** The text perplexity is measured on: the last tenth of plain-text data (the model never trains on all of it). */
function heldOut(): string | null {
  if (value('format') !== 'text') return null;
  const text = value('data');
  return text.slice(Math.floor(text.length * 0.9));
}

async function perplexityOf(which: 'before' | 'after'): Promise<void> {
  const held = heldOut();
  if (!held || held.length < 50) return;
  const { perplexity } = await ft.evaluate(held, { window: Math.min(256, num('seqlen') * 2) });
  $(`ppl-${which}`).textContent = `perplexity on the held-out tenth: ${perplexity.toFixed(2)}`;
  state[which === 'before' ? 'pplBefore' : 'pplAfter'] = perplexity;
}

async function compare(which: 'before' | 'after'): Promise<void> {
  const prompt = value('prompt');
  const out = $(`gen-${which}`);
  out.textContent = '';
  const text = await ft.generate(prompt, { maxTokens: num('gen-tokens'), temperature: 0 }, (piece) => (out.textContent += piece));
  out.textContent = prompt + text;
  state[which] = text;
  await perplexityOf(which);
}

async function train(resume = false): Promise<void> {
  await guarded('trained', async () => {
    state.losses = [];
    chart.clear();
    let summary;
    if (resume) summary = await ft.resume(RUN, showProgress);
    else {
      // The data came after the model: measure the untrained model on it first.
      if (!trained && Number.isNaN(state.pplBefore)) await perplexityOf('before');
      method = value('method') as MethodName;
      const steps = num('steps');
      const request: TrainRequest = {
        data: trainData(), method, rank: num('rank'), alpha: num('rank'), steps, lr: num('lr'), batchSize: num('batch'),
        seqLen: num('seqlen'), schedule: 'cosine', warmupSteps: Math.min(10, Math.floor(steps / 10)), dropout: 0.05,
        validation: 0.05, evalEvery: Math.max(5, Math.floor(steps / 4)), runId: RUN, checkpointEvery: 10,
      };
      summary = await ft.train(request, showProgress);
    }
    trained = true;
    message(`${summary.stopped === 'aborted' ? 'Stopped' : 'Trained'} ${summary.step} steps in ${summary.seconds.toFixed(1)} s.` +
      (summary.recoveries.length ? ` The GPU device was lost ${summary.recoveries.length}× and recovered.` : ''));
    $('resume').hidden = summary.stopped !== 'aborted';
    await compare('after');
    await refreshCached();
  });
}

async function download(name: string, files: Record<string, ArrayBuffer>): Promise<void> {
  const zip = zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, new Uint8Array(v)])));
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([zip as BlobPart], { type: 'application/zip' }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** 'http://…/models/qlora-web-demo-5m|nf-4-64-icq-f32-' → 'qlora-web-demo-5m · nf4 G64 ICQ'. */
function friendlyKey(key: string, kind: string): string {
  if (kind !== 'model') return `run '${key}'`;
  const [name, spec = ''] = key.split('|');
  const [codebook, bits, group, calibrate] = spec.split('-');
  const short = name.replace(/^https?:\/\/[^/]+\/(models\/)?/, '').replace(/\/resolve\/.*$/, '');
  return bits ? `${short} · ${codebook}${bits} G${group}${calibrate === 'icq' ? ' ICQ' : ''}` : short;
}

async function refreshCached(): Promise<void> {
  const body = $('cached');
  body.textContent = '';
  for (const entry of await ft.listCached()) {
    const tr = document.createElement('tr');
    const del = document.createElement('button');
    del.className = 'secondary';
    del.textContent = 'Delete';
    del.onclick = async () => {
      await ft.deleteCached(entry.key, entry.kind);
      await refreshCached();
    };
    for (const text of [friendlyKey(entry.key, entry.kind), entry.kind, mb(entry.bytes)]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    const td = document.createElement('td');
    td.append(del);
    tr.append(td);
    body.append(tr);
  }
  if (!body.children.length) body.innerHTML = '<tr><td colspan="4" class="metric">nothing yet</td></tr>';
}

function wire(): void {
  $('model').onchange = () => {
    const choice = value('model');
    $('custom-label').hidden = choice !== 'custom';
    $('files-label').hidden = choice !== 'files';
    $('token-label').hidden = !(choice === 'custom' || choice.startsWith('meta-llama/'));
  };
  $('method').onchange = () => {
    if (value('method') === 'ir-qlora' && !$<HTMLInputElement>('icq').checked) message('IR-QLoRA expects an ICQ-calibrated base: tick "ICQ calibration" and load again.');
  };
  $('load').onclick = () => void load();
  $('sample').onclick = () => {
    $<HTMLSelectElement>('format').value = 'text';
    $<HTMLTextAreaElement>('data').value = shipsLog();
    $<HTMLInputElement>('prompt').value = 'Day 12.';
    $('data-info').textContent = 'A ship\'s log, generated on this page: a form the embedded model has never seen.';
  };
  $<HTMLInputElement>('data-file').onchange = async (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (!file) return;
    const text = await file.text();
    $<HTMLTextAreaElement>('data').value = text;
    if (/\.jsonl?$/i.test(file.name)) $<HTMLSelectElement>('format').value = /"messages"/.test(text.slice(0, 2000)) ? 'chat' : 'alpaca';
    $('data-info').textContent = `${file.name}: ${mb(file.size)}`;
  };
  $('train').onclick = () => void train();
  $('resume').onclick = () => void train(true);
  $('abort').onclick = () => void ft.abort();
  $('generate').onclick = () => void guarded(state.stage, () => compare(trained ? 'after' : 'before'));
  $('export-peft').onclick = () => void guarded(state.stage, async () => download('peft-adapter.zip', await ft.exportAdapter()));
  $('export-method').onclick = () => void guarded(state.stage, async () => download(`${method}-adapter.zip`, await ft.exportAdapter({ optimizer: true })));
  $('export-merged').onclick = () => void guarded(state.stage, async () => {
    await download(`${method}-merged-model.zip`, await ft.exportMerged());
    trained = false;
  });
}

async function main(): Promise<void> {
  wire();
  chart = new LossChart($('chart'));
  if (!('gpu' in navigator)) {
    message('This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome or Edge, or enable WebGPU in your browser\'s settings.', 'error');
    state.stage = 'no-webgpu';
    for (const b of document.querySelectorAll('button')) b.disabled = true;
    return;
  }
  ft = await createFinetuner();
  await refreshCached();
  setButtons();
  state.stage = 'ready';
}

main().catch((e) => message(explain(e), 'error'));
