// Training data: rows of token ids with per-token labels (−100 = not scored, as Hugging Face datasets carry them),
// made from plain text (packed), Alpaca-style instruction JSONL (loss on the response only), chat JSONL (loss on
// the assistant turns only) or pre-tokenized rows; a seeded split and shuffle; and the batches the model trains on.
import { seededRandom } from '../gpu';
import type { ChatMessage, TextTokenizer } from '../model';
import { IGNORE_TARGET } from '../ops';
import { DatasetError } from './errors';

/** Label of a token that is not scored. */
export const IGNORE_LABEL = -100;

export interface Example {
  ids: number[];
  /** labels[t] is what position t is scored against after the shift (transformers' convention: the model at
   *  position t predicts labels[t + 1]); IGNORE_LABEL where not scored. Same length as ids. */
  labels: number[];
}

export interface Dataset {
  /** For messages: a file name or a description. */
  name: string;
  examples: Example[];
  /** Rows dropped because nothing in them was scored (a prompt that filled the whole sequence). */
  dropped: number;
}

export interface RowOptions {
  /** Longest row in tokens; longer rows are cut (truncation, the default) or refused. */
  seqLen: number;
  truncation?: boolean;
  name?: string;
}

function checkSeqLen(seqLen: number): void {
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new DatasetError('options', 'seqLen', `must be an integer ≥ 2, got ${seqLen}`);
}

function scored(e: Example): boolean {
  // A label at position ≥ 1 is scored (position 0 has nothing before it).
  for (let t = 1; t < e.labels.length; t++) if (e.labels[t] !== IGNORE_LABEL) return true;
  return false;
}

function finish(name: string, rows: Example[], options: RowOptions, where: (i: number) => string): Dataset {
  const examples: Example[] = [];
  let dropped = 0;
  rows.forEach((e, i) => {
    if (e.ids.length > options.seqLen) {
      if (options.truncation === false) throw new DatasetError(where(i), null, `${e.ids.length} tokens exceed seqLen ${options.seqLen} (truncation is off)`);
      e = { ids: e.ids.slice(0, options.seqLen), labels: e.labels.slice(0, options.seqLen) };
    }
    if (scored(e)) examples.push(e);
    else dropped++;
  });
  if (!examples.length) throw new DatasetError(name, null, `no row has a trainable token (${rows.length} rows${dropped ? `, all ${dropped} fully masked` : ''})`);
  return { name, examples, dropped };
}

/** Each non-blank line of JSONL text parsed as an object; a bad line is a DatasetError naming it. */
export function parseJsonl(text: string, name: string): { line: number; row: Record<string, unknown> }[] {
  if (typeof text !== 'string') throw new DatasetError(name, null, `must be JSONL text (a string), got ${kind(text)}`);
  const rows: { line: number; row: Record<string, unknown> }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new DatasetError(`${name} line ${i + 1}`, null, `not valid JSON (${(e as Error).message})`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new DatasetError(`${name} line ${i + 1}`, null, 'must be a JSON object');
    rows.push({ line: i + 1, row: row as Record<string, unknown> });
  });
  if (!rows.length) throw new DatasetError(name, null, 'is empty');
  return rows;
}

/** What a value is, for a message: 'null', 'an array', 'number 42'. */
function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'number' || typeof v === 'boolean' ? `${typeof v} ${v}` : typeof v;
}

function stringField(row: Record<string, unknown>, field: string, where: string, required: boolean): string {
  const v = row[field];
  if (v === undefined || v === null) {
    if (required) throw new DatasetError(where, field, 'is missing');
    return '';
  }
  if (typeof v !== 'string') throw new DatasetError(where, field, `must be a string, got ${typeof v}`);
  return v;
}

/**
 * Plain text packed into rows of seqLen tokens: each document encoded (with the tokenizer's special tokens, e.g.
 * BOS), EOS between documents, every token scored. A last row shorter than 2 tokens is dropped.
 */
export function textDataset(tokenizer: TextTokenizer, text: string | string[], options: { seqLen: number; name?: string }): Dataset {
  checkSeqLen(options.seqLen);
  const name = options.name ?? 'text';
  if (typeof text !== 'string' && !Array.isArray(text)) throw new DatasetError(name, null, `must be a string or a list of strings, got ${kind(text)}`);
  const docs = typeof text === 'string' ? [text] : text;
  const eos = tokenizer.eosTokenId;
  const stream: number[] = [];
  for (const doc of docs) {
    if (typeof doc !== 'string') throw new DatasetError(name, null, `documents must be strings, got ${typeof doc}`);
    if (!doc.length) continue;
    for (const id of tokenizer.encode(doc)) stream.push(id);
    if (eos !== null) stream.push(eos);
  }
  if (stream.length < 2) throw new DatasetError(name, null, 'has no text to train on');
  const rows: Example[] = [];
  for (let i = 0; i + 1 < stream.length; i += options.seqLen) {
    const ids = stream.slice(i, i + options.seqLen);
    rows.push({ ids, labels: ids.slice() });
  }
  return finish(name, rows, options, (i) => `${name} row ${i}`);
}

const ALPACA_WITH_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. ' +
  'Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n';
const ALPACA_NO_INPUT =
  'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
  '### Instruction:\n{instruction}\n\n### Response:\n';

/** The Alpaca prompt of an instruction (and input), as Stanford Alpaca's training code writes it. */
export function alpacaPrompt(instruction: string, input: string): string {
  return (input ? ALPACA_WITH_INPUT.replace('{input}', input) : ALPACA_NO_INPUT).replace('{instruction}', instruction);
}

/** Alpaca-style JSONL (`instruction`, optional `input`, `output`): prompt, then response + EOS; only the response
 *  and EOS are scored. */
export function alpacaDataset(tokenizer: TextTokenizer, jsonl: string, options: RowOptions): Dataset {
  checkSeqLen(options.seqLen);
  const name = options.name ?? 'alpaca.jsonl';
  const parsed = parseJsonl(jsonl, name);
  const eos = tokenizer.eosTokenId;
  const rows = parsed.map(({ line, row }): Example => {
    const where = `${name} line ${line}`;
    const prompt = tokenizer.encode(alpacaPrompt(stringField(row, 'instruction', where, true), stringField(row, 'input', where, false)));
    const response = tokenizer.encode(stringField(row, 'output', where, true), { addSpecialTokens: false });
    if (eos !== null) response.push(eos);
    return { ids: [...prompt, ...response], labels: [...prompt.map(() => IGNORE_LABEL), ...response] };
  });
  return finish(name, rows, options, (i) => `${name} line ${parsed[i].line}`);
}

/**
 * Chat JSONL (`messages`: [{ role, content }]) through the model's chat template; only assistant turns are scored
 * (their content and the template's end-of-turn tokens, not the header that opens the turn). Turn boundaries come
 * from rendering the conversation up to each turn, which needs a template whose renderings of a conversation's
 * prefixes tokenize to prefixes of the whole (true of common templates; anything else is refused, naming the line).
 */
export function chatDataset(tokenizer: TextTokenizer, jsonl: string, options: RowOptions): Dataset {
  checkSeqLen(options.seqLen);
  const name = options.name ?? 'chat.jsonl';
  const parsed = parseJsonl(jsonl, name);
  const rows = parsed.map(({ line, row }): Example => {
    const where = `${name} line ${line}`;
    const messages = row.messages;
    if (!Array.isArray(messages) || !messages.length) throw new DatasetError(where, 'messages', 'must be a non-empty list');
    const msgs: ChatMessage[] = messages.map((m, i) => {
      if (typeof m !== 'object' || m === null) throw new DatasetError(where, `messages[${i}]`, 'must be an object');
      const { role, content } = m as Record<string, unknown>;
      if (typeof role !== 'string' || typeof content !== 'string') throw new DatasetError(where, `messages[${i}]`, 'needs string role and content');
      return { role, content };
    });
    if (!msgs.some((m) => m.role === 'assistant')) throw new DatasetError(where, 'messages', 'has no assistant turn to train on');
    const encode = (upTo: number, generationPrompt: boolean) =>
      tokenizer.encode(tokenizer.applyChatTemplate(msgs.slice(0, upTo), { addGenerationPrompt: generationPrompt }), { addSpecialTokens: false });
    const ids = encode(msgs.length, false);
    const labels = ids.map(() => IGNORE_LABEL);
    const isPrefix = (p: number[]) => p.length <= ids.length && p.every((id, i) => id === ids[i]);
    msgs.forEach((m, i) => {
      if (m.role !== 'assistant') return;
      const start = encode(i, true);
      const end = encode(i + 1, false);
      if (!isPrefix(start) || !isPrefix(end)) throw new DatasetError(where, 'messages', `the chat template's rendering of turn ${i} does not tokenize to a prefix of the whole conversation`);
      for (let t = start.length; t < end.length; t++) labels[t] = ids[t];
    });
    return { ids, labels };
  });
  return finish(name, rows, options, (i) => `${name} line ${parsed[i].line}`);
}

export interface TokenizedRow {
  input_ids: number[];
  attention_mask?: number[];
  labels?: number[];
}

/** Pre-tokenized rows as Hugging Face datasets carry them (or their JSONL): input_ids, optional attention_mask
 *  (positions with 0 are dropped) and labels (−100 = not scored; default: every token). */
export function tokenizedDataset(rows: TokenizedRow[] | string, options: RowOptions & { vocabSize?: number }): Dataset {
  checkSeqLen(options.seqLen);
  const name = options.name ?? 'rows';
  if (typeof rows !== 'string' && !Array.isArray(rows)) throw new DatasetError(name, null, `must be a list of rows or their JSONL, got ${kind(rows)}`);
  const where = (line: number) => (typeof rows === 'string' ? `${name} line ${line}` : `${name} row ${line - 1}`);
  const parsed = typeof rows === 'string' ? parseJsonl(rows, name) : rows.map((row, i) => {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new DatasetError(where(i + 1), null, `must be an object with input_ids, got ${kind(row)}`);
    return { line: i + 1, row: row as unknown as Record<string, unknown> };
  });
  if (!parsed.length) throw new DatasetError(name, null, 'is empty');
  const intList = (v: unknown, field: string, w: string): number[] => {
    if (!Array.isArray(v)) throw new DatasetError(w, field, 'must be a list of integers');
    v.forEach((x, i) => {
      if (!Number.isInteger(x)) throw new DatasetError(w, `${field}[${i}]`, `must be an integer, got ${JSON.stringify(x)}`);
    });
    return v as number[];
  };
  const out = parsed.map(({ line, row }): Example => {
    const w = where(line);
    const ids = intList(row.input_ids, 'input_ids', w);
    ids.forEach((id, i) => {
      if (id < 0 || (options.vocabSize !== undefined && id >= options.vocabSize)) throw new DatasetError(w, `input_ids[${i}]`, `${id} is outside the vocabulary of ${options.vocabSize ?? 'the model'}`);
    });
    const labels = row.labels === undefined ? ids.slice() : intList(row.labels, 'labels', w);
    if (labels.length !== ids.length) throw new DatasetError(w, 'labels', `holds ${labels.length} values for ${ids.length} input_ids`);
    labels.forEach((l, i) => {
      if (l !== IGNORE_LABEL && (l < 0 || (options.vocabSize !== undefined && l >= options.vocabSize))) throw new DatasetError(w, `labels[${i}]`, `${l} is neither −100 nor a token id`);
    });
    if (row.attention_mask === undefined) return { ids, labels };
    const mask = intList(row.attention_mask, 'attention_mask', w);
    if (mask.length !== ids.length) throw new DatasetError(w, 'attention_mask', `holds ${mask.length} values for ${ids.length} input_ids`);
    const keep = mask.map((m) => m !== 0);
    return { ids: ids.filter((_, i) => keep[i]), labels: labels.filter((_, i) => keep[i]) };
  });
  return finish(name, out, options, (i) => where(parsed[i].line));
}

/** A seeded split: `validation` (a fraction in (0, 1) or a row count) rows held out, the rest for training. */
export function splitDataset(ds: Dataset, validation: number, seed = 0): { train: Dataset; validation: Dataset } {
  const n = ds.examples.length;
  const count = validation < 1 ? Math.round(n * validation) : validation;
  if (!(Number.isInteger(count) && count >= 1 && count < n)) {
    throw new DatasetError(ds.name, 'validation', `${validation} leaves no row for validation or none for training (${n} rows)`);
  }
  const order = shuffled(n, seed);
  const pick = (idx: number[]) => idx.map((i) => ds.examples[i]);
  return {
    train: { name: `${ds.name} (train)`, examples: pick(order.slice(count)), dropped: 0 },
    validation: { name: `${ds.name} (validation)`, examples: pick(order.slice(0, count)), dropped: 0 },
  };
}

/** 0 … n−1 in a seeded Fisher–Yates order. */
export function shuffled(n: number, seed: number): number[] {
  const random = seededRandom(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

export interface CollatedBatch {
  batch: number;
  tokens: number;
  ids: Uint32Array;
  targets: Uint32Array;
  attentionMask: Uint32Array;
  /** Targets that are scored. */
  scored: number;
  /** Real (unpadded) tokens. */
  realTokens: number;
}

/** The longest row's tokens (a loop: spreading 10⁵ rows into Math.max overflows the call stack). */
export function longestRow(examples: readonly Example[]): number {
  let longest = 0;
  for (const e of examples) longest = Math.max(longest, e.ids.length);
  return longest;
}

/** Rows right-padded to the longest (or `tokens`), with the shift applied: target[t] = labels[t + 1]. */
export function collate(examples: readonly Example[], tokens = longestRow(examples)): CollatedBatch {
  const B = examples.length;
  const ids = new Uint32Array(B * tokens);
  const targets = new Uint32Array(B * tokens).fill(IGNORE_TARGET);
  const attentionMask = new Uint32Array(B * tokens);
  let scoredCount = 0;
  let realTokens = 0;
  examples.forEach((e, b) => {
    const n = Math.min(e.ids.length, tokens);
    realTokens += n;
    for (let t = 0; t < n; t++) {
      ids[b * tokens + t] = e.ids[t];
      attentionMask[b * tokens + t] = 1;
      if (t + 1 < n && e.labels[t + 1] !== IGNORE_LABEL) {
        targets[b * tokens + t] = e.labels[t + 1];
        scoredCount++;
      }
    }
  });
  return { batch: B, tokens, ids, targets, attentionMask, scored: scoredCount, realTokens };
}
