// The f16 matrix path against PyTorch's gradients (BENCH_SUITES=gradparity): the committed training fixtures
// (test/fixtures/train/*-nf4-icq, float64 from the formulas on the NF4 G64 ICQ base) through this runtime's path,
// the loss and every LoRA gradient's relative error, beside the f32 path's (test/train/parity.test.ts holds that one
// to 1e-3 on SwiftShader).
import type { Runtime } from '../src/gpu';
import { LlamaModel } from '../src/runtime';
import { readFixture } from '../test/helpers/fixture-file';
import { fixtureSource } from '../test/helpers/model-files';
import { importFixtureAdapter, lossAndGradients } from '../test/helpers/training-parity';
import { relativeError } from './selfcheck';

export interface GradientParityRow {
  model: string;
  path: string;
  lossRelativeError: number;
  /** The worst LoRA gradient's ‖got − PyTorch‖ / ‖PyTorch‖. */
  worstGradientError: number;
}

export async function gradientParity(rt: Runtime): Promise<GradientParityRow[]> {
  const rows: GradientParityRow[] = [];
  for (const name of ['gqa', 'tied', 'llama3']) {
    const fx = await readFixture(`test/fixtures/train/${name}-nf4-icq.safetensors`);
    const model = await LlamaModel.load(rt, await fixtureSource(name), { quant: { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'icq' } });
    const set = await importFixtureAdapter(model, fx);
    model.adapters = set;
    const { loss, grads } = await lossAndGradients(rt, model, set, fx, false);
    let worst = 0;
    for (const [key, g] of grads) worst = Math.max(worst, relativeError(g, fx.get(`${key}.grad`)!.data));
    const want = fx.get('loss')!.data[0];
    rows.push({ model: name, path: rt.capabilities.matmul.kind, lossRelativeError: Math.abs(loss - want) / want, worstGradientError: worst });
    set.dispose();
    model.dispose();
  }
  return rows;
}
