// Training parity with PyTorch (scripts/reference/make_training_fixtures.py, float64 from the formulas): on three
// tiny seeded LLaMAs (GQA; tied embeddings; llama3 RoPE with one KV head) and a batch with right padding and a
// prompt mask, LoRA r 4 on all seven linears with B ≠ 0: the loss, every LoRA gradient, and the LoRA tensors after
// three AdamW steps with clipping, weight decay and a warmup schedule; and the loss and gradients over a base quantized
// to NF4 G64 with ICQ on load (the fixture computed on the same weights dequantized by our CPU reference).
import { describe, expect, it } from 'vitest';
import { AdapterSet, LlamaModel, train } from '../../src/runtime';
import { HYPER, importFixtureAdapter, lossAndGradients } from '../helpers/training-parity';
import { relativeError, testRuntime } from '../helpers/gpu';
import { fixtureDataset, readFixture } from '../helpers/fixture-file';
import { fixtureSource } from '../helpers/model-files';

describe('training matches PyTorch', () => {
  for (const name of ['gqa', 'tied', 'llama3']) {
    it(`${name}: the loss and every LoRA gradient (≤ 1e-3 relative), with and without checkpointing`, async () => {
      const rt = await testRuntime();
      const fx = await readFixture(`test/fixtures/train/${name}.safetensors`);
      const model = await LlamaModel.load(rt, await fixtureSource(name));
      const set = await importFixtureAdapter(model, fx);
      model.adapters = set;
      model.ropeFor(model.config.maxPositions); // the model's own table, grown once
      const baseline = rt.pool.stats.bytesInUse;
      for (const checkpointing of [false, true]) {
        const { loss, grads } = await lossAndGradients(rt, model, set, fx, checkpointing);
        expect(Math.abs(loss - fx.get('loss')!.data[0]) / fx.get('loss')!.data[0]).toBeLessThan(1e-5);
        let worst = 0;
        for (const [key, g] of grads) worst = Math.max(worst, relativeError(g, fx.get(`${key}.grad`)!.data));
        expect(worst).toBeLessThan(1e-3);
        expect(grads.size).toBe(7 * model.config.layers * 2);
      }
      expect(rt.pool.stats.bytesInUse).toBe(baseline);
      set.dispose();
      model.dispose();
    });

    it(`${name}, NF4 G64 ICQ base: the loss and every LoRA gradient (≤ 1e-3 relative)`, async () => {
      const rt = await testRuntime();
      const fx = await readFixture(`test/fixtures/train/${name}-nf4-icq.safetensors`);
      const model = await LlamaModel.load(rt, await fixtureSource(name), { quant: { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'icq' } });
      const set = await importFixtureAdapter(model, fx);
      model.adapters = set;
      const { loss, grads } = await lossAndGradients(rt, model, set, fx, false);
      expect(Math.abs(loss - fx.get('loss')!.data[0]) / fx.get('loss')!.data[0]).toBeLessThan(1e-5);
      let worst = 0;
      for (const [key, g] of grads) worst = Math.max(worst, relativeError(g, fx.get(`${key}.grad`)!.data));
      expect(worst).toBeLessThan(1e-3);
      set.dispose();
      model.dispose();
    });

    it(`${name}: three AdamW steps with clipping, weight decay and warmup give PyTorch's LoRA tensors (≤ 1e-4 relative)`, async () => {
      const rt = await testRuntime();
      const fx = await readFixture(`test/fixtures/train/${name}.safetensors`);
      const model = await LlamaModel.load(rt, await fixtureSource(name));
      const set = await importFixtureAdapter(model, fx);
      const { B, dataset } = await fixtureDataset(fx);
      const result = await train(model, set, dataset, {
        steps: HYPER.steps, batchSize: B, lr: HYPER.lr, schedule: 'linear', warmupSteps: HYPER.warmupSteps,
        weightDecay: HYPER.weightDecay, eps: HYPER.eps, maxGradNorm: HYPER.maxGradNorm,
      });
      const wantLosses = fx.get('step_losses')!.data;
      const wantNorms = fx.get('step_grad_norms')!.data;
      result.steps.forEach((s, i) => {
        expect(Math.abs(s.loss - wantLosses[i]) / wantLosses[i]).toBeLessThan(1e-5);
        expect(Math.abs(s.gradNorm - wantNorms[i]) / wantNorms[i]).toBeLessThan(1e-4);
      });
      expect(result.steps.map((s) => s.lr)).toEqual([0, HYPER.lr / 2, HYPER.lr]);
      const params = await set.store.read();
      let worst = 0;
      for (const [key, p] of params) worst = Math.max(worst, relativeError(p, fx.get(`${key}.step3`)!.data));
      expect(worst).toBeLessThan(1e-4);
      set.dispose();
      model.dispose();
    });
  }
});
