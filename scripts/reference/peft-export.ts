// Step 1 of the PEFT round trip (peft_roundtrip.py is step 2): LoRA r 4 (α 8) on every linear of the tiny 'gqa'
// fixture model, trained three steps on a fixed batch so B is not zero, exported with exportPeft to OUT/ours/, with
// our logits (adapter attached) for the inputs of the model's reference.safetensors (one row left-padded).
// Usage: node peft-export.mjs FIXTURES OUT   (FIXTURES: test/fixtures/llama)
import { mkdirSync, openAsBlob, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdapterSet } from '../../src/adapters';
import { Runtime } from '../../src/gpu';
import { blobSource, exportDense, exportPeft, LlamaModel, floatData, readSafetensors, writeSafetensors } from '../../src/model';
import { tokenizedDataset, train } from '../../src/train';

async function main(fixtures: string, out: string) {
  const dir = join(fixtures, 'gqa');
  const files: Record<string, Blob> = {};
  for (const f of ['config.json', 'model.safetensors']) files[f] = await openAsBlob(join(dir, f));
  const rt = await Runtime.create();
  const model = await LlamaModel.load(rt, blobSource('gqa', files));
  const reference = new Map<string, { shape: number[]; data: Float32Array }>();
  const blob = await openAsBlob(join(dir, 'reference.safetensors'));
  for await (const t of readSafetensors(blob.stream() as ReadableStream<Uint8Array>, 'reference.safetensors', blob.size)) reference.set(t.name, { shape: t.shape, data: floatData(t, 'reference.safetensors') });
  const [B, T] = reference.get('input_ids')!.shape;
  const ids = Array.from(reference.get('input_ids')!.data);
  const mask = Array.from(reference.get('attention_mask')!.data);

  const adapters = AdapterSet.lora(rt, model.adaptableLinears(), { rank: 4, alpha: 8, seed: 5 });
  const rows = Array.from({ length: 4 }, (_, r) => ({ input_ids: Array.from({ length: 16 }, (_, t) => 3 + ((r * 37 + t * 11) % 250)) }));
  await train(model, adapters, tokenizedDataset(rows, { seqLen: 16 }), { steps: 3, batchSize: 4, lr: 5e-2, schedule: 'constant' });
  model.adapters = adapters;
  const cache = model.createCache(B, T);
  const logits = await model.forward({ ids, batch: B, attentionMask: mask }, cache, { logits: 'all' });
  const values = (await rt.read(logits)) as Float32Array;
  const peft = await exportPeft(adapters, { baseModel: 'qlora-web tiny gqa fixture' });
  mkdirSync(join(out, 'ours'), { recursive: true });
  writeFileSync(join(out, 'ours', 'adapter_config.json'), JSON.stringify(peft.config, null, 2) + '\n');
  writeFileSync(join(out, 'ours', 'adapter_model.safetensors'), peft.weights);
  writeFileSync(join(out, 'ours', 'ours-logits.safetensors'), writeSafetensors([
    { name: 'input_ids', shape: [B, T], data: Float32Array.from(ids) },
    { name: 'attention_mask', shape: [B, T], data: Float32Array.from(mask) },
    { name: 'logits', shape: [B, T, model.config.vocabSize], data: values },
  ]));
  console.log(`exported ${adapters.store.names.length} tensors, logits ${values.length}`);

  // The dense export for transformers: the model quantized nf3 G32 with IR-QLoRA (IEC) folded in, in
  // bf16, with our logits from reading those same files back (peft_roundtrip.py loads them with transformers).
  const quantized = await LlamaModel.load(rt, blobSource('gqa', files), { quant: { codebook: 'nf', bits: 3, groupSize: 32, calibrate: 'icq' } });
  const ir = AdapterSet.lora(rt, quantized.adaptableLinears(), { rank: 4, alpha: 8, seed: 6, iec: true });
  await train(quantized, ir, tokenizedDataset(rows, { seqLen: 16 }), { steps: 3, batchSize: 4, lr: 5e-2, schedule: 'constant' });
  quantized.adapters = ir;
  const dense = await exportDense(quantized, { dtype: 'bf16' });
  mkdirSync(join(out, 'dense'), { recursive: true });
  for (const [name, blob] of Object.entries(dense)) writeFileSync(join(out, 'dense', name), new Uint8Array(await blob.arrayBuffer()));
  const reread = await LlamaModel.load(rt, blobSource('dense', dense));
  const denseCache = reread.createCache(B, T);
  const denseLogits = (await rt.read(await reread.forward({ ids, batch: B, attentionMask: mask }, denseCache, { logits: 'all' }))) as Float32Array;
  writeFileSync(join(out, 'dense', 'ours-logits.safetensors'), writeSafetensors([{ name: 'logits', shape: [B, T, model.config.vocabSize], data: denseLogits }]));
  rt.dispose();
}

await main(process.argv[2], process.argv[3]);
