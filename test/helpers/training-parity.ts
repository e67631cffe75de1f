// Training parity with PyTorch's fixtures (scripts/reference/make_training_fixtures.py): the fixture's adapter on a
// model and one pass's loss and LoRA gradients; shared by test/train/parity.test.ts and the GPU machine's check of
// the f16 matrix path (bench/gradient-parity.ts).
import { collate, blobSource, importPeft, recordTrainingPass, type AdapterSet, type LlamaModel } from '../../src/runtime';
import { writeSafetensors } from '../../src/model';
import type { Runtime } from '../../src/gpu';
import { fixtureDataset, type FixtureTensors } from './fixture-file';

// As make_training_fixtures.py (which says why eps is 1e-6).
export const HYPER = { rank: 4, alpha: 8, lr: 1e-2, weightDecay: 0.01, eps: 1e-6, maxGradNorm: 0.5, warmupSteps: 2, steps: 3 };


/** The fixture's initial LoRA tensors as a PEFT adapter, imported onto the model. */
export async function importFixtureAdapter(model: LlamaModel, fx: FixtureTensors): Promise<AdapterSet> {
  const tensors = [...fx].filter(([n]) => /lora_[AB]\.weight$/.test(n)).map(([name, t]) => ({ name, shape: t.shape, data: t.data }));
  const config = { peft_type: 'LORA', r: HYPER.rank, lora_alpha: HYPER.alpha, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] };
  const source = blobSource('fixture adapter', {
    'adapter_config.json': new Blob([JSON.stringify(config)]),
    'adapter_model.safetensors': new Blob([writeSafetensors(tensors) as Uint8Array<ArrayBuffer>]),
  });
  return importPeft(model, source);
}


export async function lossAndGradients(rt: Runtime, model: LlamaModel, set: AdapterSet, fx: FixtureTensors, checkpointing: boolean) {
  const { T, dataset } = await fixtureDataset(fx);
  const batch = collate(dataset.examples, T);
  const lossSum = rt.tensor([1], 'f32', 'loss sum');
  const step = rt.step();
  await recordTrainingPass(model, step, batch, { backward: true, lossScale: 1 / batch.scored, checkpointing, seed: 0, firstMicroBatch: true, lossSum });
  step.submit();
  const loss = ((await rt.read(lossSum)) as Float32Array)[0] / batch.scored;
  rt.free(lossSum);
  return { loss, grads: await set.store.read('grads') };
}
