// Datasets with micro-llama-6m's tokenizer and chat template (the data directory; Node only): packing, prompt and
// assistant-only masks, pre-tokenized rows, the seeded split, collation, and typed errors naming line and field.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer, nodeDirSource, type TextTokenizer } from '../../src/model';
import { IGNORE_TARGET } from '../../src/ops';
import {
  alpacaDataset, alpacaPrompt, chatDataset, collate, IGNORE_LABEL, splitDataset, textDataset, tokenizedDataset,
} from '../../src/train';
import { expectDatasetError } from '../helpers/dataset-error';
import { DATA_DIR, hasDataDir } from '../helpers/model-files';

let tokenizer: TextTokenizer;
const run = hasDataDir('datasets');
beforeAll(async () => {
  if (!run) return;
  const source = await nodeDirSource(`${DATA_DIR}/models/micro-llama-6m`);
  tokenizer = await loadTokenizer(source);
});

describe.runIf(run)('datasets', () => {
  it('packs plain text into rows of seqLen with EOS between documents, every token scored', () => {
    const docs = ['To be, or not to be, that is the question.', 'Whether tis nobler in the mind to suffer.'];
    const ds = textDataset(tokenizer, docs, { seqLen: 8 });
    const stream = [...tokenizer.encode(docs[0]), tokenizer.eosTokenId!, ...tokenizer.encode(docs[1]), tokenizer.eosTokenId!];
    expect(ds.examples.flatMap((e) => e.ids)).toEqual(stream.slice(0, ds.examples.flatMap((e) => e.ids).length));
    expect(ds.examples.slice(0, -1).every((e) => e.ids.length === 8)).toBe(true);
    expect(ds.examples.every((e) => e.labels.every((l, i) => l === e.ids[i]))).toBe(true);
  });

  it('scores only the response (and EOS) of Alpaca rows', () => {
    const ds = alpacaDataset(tokenizer, '{"instruction":"Name a colour.","input":"","output":"Blue."}\n\n{"instruction":"Add","input":"2 and 3","output":"5"}\n', { seqLen: 256 });
    expect(ds.examples).toHaveLength(2);
    const [first] = ds.examples;
    const prompt = tokenizer.encode(alpacaPrompt('Name a colour.', ''));
    expect(first.ids.slice(0, prompt.length)).toEqual(prompt);
    expect(first.labels.slice(0, prompt.length).every((l) => l === IGNORE_LABEL)).toBe(true);
    expect(first.labels.slice(prompt.length)).toEqual([...tokenizer.encode('Blue.', { addSpecialTokens: false }), tokenizer.eosTokenId]);
  });

  it("scores only the assistant turns of chat rows, not the template's turn header", () => {
    const row = { messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello there' }, { role: 'user', content: 'Bye' }, { role: 'assistant', content: 'Farewell' }] };
    const [e] = chatDataset(tokenizer, JSON.stringify(row), { seqLen: 256 }).examples;
    const scored = tokenizer.decode(e.ids.filter((_, i) => e.labels[i] !== IGNORE_LABEL));
    expect(scored).toBe('Hello there<|im_end|>\nFarewell<|im_end|>\n');
    expect(tokenizer.decode(e.ids)).toBe(tokenizer.applyChatTemplate(row.messages));
  });

  it('takes pre-tokenized rows with attention_mask and labels as Hugging Face datasets carry them', () => {
    const ds = tokenizedDataset([{ input_ids: [5, 6, 7, 0], attention_mask: [1, 1, 1, 0], labels: [-100, 6, 7, -100] }], { seqLen: 8, vocabSize: 2048 });
    expect(ds.examples[0]).toEqual({ ids: [5, 6, 7], labels: [-100, 6, 7] });
  });

  it('collates right-padded rows with the shift applied and counts scored tokens', () => {
    const b = collate([{ ids: [1, 2, 3], labels: [1, 2, 3] }, { ids: [4, 5], labels: [-100, 5] }], 4);
    expect(Array.from(b.ids)).toEqual([1, 2, 3, 0, 4, 5, 0, 0]);
    expect(Array.from(b.attentionMask)).toEqual([1, 1, 1, 0, 1, 1, 0, 0]);
    const I = IGNORE_TARGET;
    expect(Array.from(b.targets)).toEqual([2, 3, I, I, 5, I, I, I]);
    expect([b.scored, b.realTokens]).toEqual([3, 5]);
  });

  it('splits with a seed, the same way every time, and truncates long rows unless told not to', () => {
    const rows = Array.from({ length: 20 }, (_, i) => ({ input_ids: [i + 1, i + 2, i + 3] }));
    const ds = tokenizedDataset(rows, { seqLen: 2 });
    expect(ds.examples.every((e) => e.ids.length === 2)).toBe(true);
    const a = splitDataset(ds, 0.25, 9);
    const b = splitDataset(ds, 0.25, 9);
    expect(a.validation.examples).toHaveLength(5);
    expect(a.validation.examples).toEqual(b.validation.examples);
    expect(() => tokenizedDataset(rows, { seqLen: 2, truncation: false })).toThrow(/3 tokens exceed seqLen 2/);
  });

  it('names the line and field of bad rows, and refuses data with nothing to train on', () => {
    const bad: [() => unknown, RegExp][] = [
      [() => alpacaDataset(tokenizer, '{"instruction":"a","output":"b"}\n{"instruction": oops}', { seqLen: 64, name: 'd.jsonl' }), /d\.jsonl line 2: not valid JSON/],
      [() => alpacaDataset(tokenizer, '{"instruction":"a"}', { seqLen: 64, name: 'd.jsonl' }), /d\.jsonl line 1 'output': is missing/],
      [() => alpacaDataset(tokenizer, '{"instruction":"a","output":5}', { seqLen: 64 }), /'output': must be a string/],
      [() => alpacaDataset(tokenizer, '\n\n', { seqLen: 64, name: 'empty.jsonl' }), /empty\.jsonl: is empty/],
      [() => chatDataset(tokenizer, '{"messages":[{"role":"user","content":"x"}]}', { seqLen: 64 }), /has no assistant turn/],
      [() => chatDataset(tokenizer, '{"messages":"hi"}', { seqLen: 64 }), /'messages': must be a non-empty list/],
      [() => tokenizedDataset([{ input_ids: [1, 2], labels: [-100, -100] }], { seqLen: 8 }), /no row has a trainable token/],
      [() => tokenizedDataset([{ input_ids: [1, 2.5] }], { seqLen: 8 }), /'input_ids\[1\]': must be an integer/],
      [() => tokenizedDataset([{ input_ids: [1, 4000] }], { seqLen: 8, vocabSize: 2048 }), /4000 is outside the vocabulary/],
      [() => textDataset(tokenizer, '', { seqLen: 8 }), /has no text/],
      [() => textDataset(tokenizer, 'abc', { seqLen: 1 }), /seqLen.*must be an integer ≥ 2/],
    ];
    for (const [make, message] of bad) expectDatasetError(make, message);
  });
});
