// A character-level tokenizer.json for the tiny fixture models (vocab 256): <pad> <s> </s> <unk> at 0–3, printable
// ASCII at 4–98, newline at 99; BOS added by the post-processor, pieces joined back with no spaces (Fuse). Built here
// (not downloaded) so that text-level tests can run on the committed fixtures.
export function tinyTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = { '<pad>': 0, '<s>': 1, '</s>': 2, '<unk>': 3 };
  for (let c = 32; c < 127; c++) vocab[String.fromCharCode(c)] = c - 28;
  vocab['\n'] = 99;
  const special = Object.keys(vocab).slice(0, 4);
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: special.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null, pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'Fuse' },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  };
}

/** tokenizer.json and tokenizer_config.json as Blobs, to add to a fixture model's files. */
export function tinyTokenizerFiles(): Record<string, Blob> {
  return {
    'tokenizer.json': new Blob([JSON.stringify(tinyTokenizerJson())]),
    'tokenizer_config.json': new Blob([JSON.stringify({ bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>' })]),
  };
}
