// Step 2 of the parity fixtures (see make_fixtures.py): for each tiny model under FIXTURES, quantize every
// linear weight of the attention and MLP to NF4 G64 with ICQ through the CPU reference (whose codes the GPU
// kernel reproduces bit for bit), dequantize, and write DEQ/<name>.safetensors in f32 for transformers.
// Usage: node dequantize.mjs FIXTURES DEQ
import { mkdirSync, openAsBlob, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { floatData, readSafetensors } from '../../src/model/safetensors';
import { dequantize, type QuantSpec } from '../../src/quant/format';
import { writeSafetensors, type NamedTensor } from '../../test/helpers/safetensors-write';
import { quantizeRef } from '../../test/quant/quantize.ref';

export const FIXTURE_QUANT: QuantSpec = { codebook: 'nf', bits: 4, groupSize: 64, calibrate: 'icq' };
const LINEAR = /\.(q|k|v|o|gate|up|down)_proj\.weight$/;

async function main(fixtures: string, deqDir: string) {
  mkdirSync(deqDir, { recursive: true });
  for (const name of readdirSync(fixtures)) {
    const file = join(fixtures, name, 'model.safetensors');
    const blob = await openAsBlob(file);
    const tensors: NamedTensor[] = [];
    for await (const t of readSafetensors(blob.stream() as ReadableStream<Uint8Array>, file, blob.size)) {
      let data = floatData(t, file);
      if (LINEAR.test(t.name)) {
        const [out, inFeatures] = t.shape;
        const q = quantizeRef(data, out, inFeatures, FIXTURE_QUANT);
        data = dequantize(q.codes, q.stats, out, inFeatures, FIXTURE_QUANT);
      }
      tensors.push({ name: t.name, shape: t.shape, data });
    }
    writeFileSync(join(deqDir, `${name}.safetensors`), writeSafetensors(tensors));
    console.log(name, tensors.length, 'tensors');
  }
}

await main(process.argv[2], process.argv[3]);
