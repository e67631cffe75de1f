// The dataset builders take what a caller hands them at runtime (JSON, a worker message): a wrong type is a
// DatasetError naming the data and what it got, never a TypeError from deep inside.
import { describe, expect, it } from 'vitest';
import { alpacaDataset, chatDataset, textDataset, tokenizedDataset } from '../../src/train';
import type { TextTokenizer } from '../../src/model';
import { expectDatasetError } from '../helpers/dataset-error';

const tokenizer = { encode: (s: string) => [1, ...[...s].map((c) => 4 + (c.charCodeAt(0) % 90))], eosTokenId: 2 } as unknown as TextTokenizer;

describe('dataset builders given the wrong types', () => {
  it('are DatasetErrors that say what they got', () => {
    expectDatasetError(() => textDataset(tokenizer, null as never, { seqLen: 8 }), /^text: must be a string or a list of strings, got null/);
    expectDatasetError(() => textDataset(tokenizer, 42 as never, { seqLen: 8, name: 'notes.txt' }), /^notes\.txt: must be a string or a list of strings, got number 42/);
    expectDatasetError(() => textDataset(tokenizer, ['fine', 7] as never, { seqLen: 8 }), /documents must be strings, got number/);
    expectDatasetError(() => alpacaDataset(tokenizer, 42 as never, { seqLen: 8 }), /^alpaca\.jsonl: must be JSONL text \(a string\), got number 42/);
    expectDatasetError(() => chatDataset(tokenizer, { messages: [] } as never, { seqLen: 8 }), /must be JSONL text \(a string\), got object/);
    expectDatasetError(() => tokenizedDataset(42 as never, { seqLen: 8 }), /^rows: must be a list of rows or their JSONL, got number 42/);
    expectDatasetError(() => tokenizedDataset([{ input_ids: [3, 4] }, null] as never, { seqLen: 8 }), /^rows row 1: must be an object with input_ids, got null/);
    expectDatasetError(() => tokenizedDataset([[3, 4]] as never, { seqLen: 8 }), /^rows row 0: must be an object with input_ids, got an array/);
    expect(textDataset(tokenizer, 'a few words', { seqLen: 8 }).examples.length).toBeGreaterThan(0);
  });
});
