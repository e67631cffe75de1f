// The PEFT round trip against Python PEFT 0.21 (scripts/reference/peft_roundtrip.py, run on an H200 host): a LoRA
// made and saved by PEFT imports here and gives PEFT's logits; our exported adapter, loaded there by
// PeftModel.from_pretrained, gave logits that match ours (test/fixtures/peft/ours/peft-logits.safetensors). The dense
// export (test/fixtures/peft/dense/: nf3 G32 + IR-QLoRA folded into bf16 weights by exportDense, on an H100 host) was
// loaded by LlamaForCausalLM.from_pretrained; its logits there (transformers-logits.safetensors) match ours here.
import { describe, expect, it } from 'vitest';
import { exportPeft, importPeft, LlamaModel } from '../../src/runtime';
import { fixtureBlob, readFixture } from '../helpers/fixture-file';
import { relativeError, testRuntime } from '../helpers/gpu';
import { fixtureDirSource, fixtureSource } from '../helpers/model-files';


/** Logits of the real (unpadded) positions, with the model's adapters. */
async function maskedLogits(model: LlamaModel, ids: Float32Array, mask: Float32Array, [B, T]: number[]): Promise<Float32Array> {
  const cache = model.createCache(B, T);
  const logits = await model.forward({ ids: Array.from(ids), batch: B, attentionMask: Array.from(mask) }, cache, { logits: 'all' });
  const all = (await model.rt.read(logits)) as Float32Array;
  model.rt.free(logits);
  model.freeCache(cache);
  return keepReal(all, mask, model.config.vocabSize);
}

function keepReal(logits: Float32Array, mask: Float32Array, vocab: number): Float32Array {
  const rows = Array.from(mask).flatMap((m, i) => (m ? [i] : []));
  return Float32Array.from(rows.flatMap((i) => Array.from(logits.subarray(i * vocab, (i + 1) * vocab))));
}

describe('PEFT round trip with Python PEFT', () => {
  it("a PEFT-made adapter imported here gives PEFT's logits (≤ 1e-4 relative)", async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'));
    model.adapters = await importPeft(model, await fixtureDirSource('test/fixtures/peft/peft-made'));
    const ref = await readFixture('test/fixtures/peft/peft-made/reference.safetensors');
    const ids = ref.get('input_ids')!;
    const got = await maskedLogits(model, ids.data, ref.get('attention_mask')!.data, ids.shape);
    expect(relativeError(got, keepReal(ref.get('logits')!.data, ref.get('attention_mask')!.data, model.config.vocabSize))).toBeLessThan(1e-4);
    model.adapters.dispose();
    model.dispose();
  });

  it("our exported adapter, loaded by PEFT, gave our logits (≤ 1e-4 relative), and exports again byte for byte", async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureSource('gqa'));
    const source = await fixtureDirSource('test/fixtures/peft/ours');
    const adapters = await importPeft(model, source);
    model.adapters = adapters;
    const ours = await readFixture('test/fixtures/peft/ours/ours-logits.safetensors');
    const peft = await readFixture('test/fixtures/peft/ours/peft-logits.safetensors');
    const ids = ours.get('input_ids')!;
    const mask = ours.get('attention_mask')!.data;
    const got = await maskedLogits(model, ids.data, mask, ids.shape);
    expect(relativeError(got, keepReal(peft.get('logits')!.data, mask, model.config.vocabSize))).toBeLessThan(1e-4);
    expect(relativeError(keepReal(ours.get('logits')!.data, mask, model.config.vocabSize), keepReal(peft.get('logits')!.data, mask, model.config.vocabSize))).toBeLessThan(1e-4);
    const again = await exportPeft(adapters, { baseModel: 'qlora-web tiny gqa fixture' });
    const original = new Uint8Array(await (await fixtureBlob('test/fixtures/peft/ours/adapter_model.safetensors')).arrayBuffer());
    expect(again.weights).toEqual(original);
    adapters.dispose();
    model.dispose();
  });

  it("our dense export (IR-QLoRA folded into bf16), loaded by transformers, gave the logits our loader gives (≤ 1e-4 relative)", async () => {
    const rt = await testRuntime();
    const model = await LlamaModel.load(rt, await fixtureDirSource('test/fixtures/peft/dense'));
    const ref = await readFixture('test/fixtures/peft/dense/transformers-logits.safetensors');
    const ids = ref.get('input_ids')!;
    const mask = ref.get('attention_mask')!.data;
    const got = await maskedLogits(model, ids.data, mask, ids.shape);
    expect(relativeError(got, keepReal(ref.get('logits')!.data, mask, model.config.vocabSize))).toBeLessThan(1e-4);
    model.dispose();
  });
});
