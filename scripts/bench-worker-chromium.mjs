// `node scripts/bench-worker-chromium.mjs [out.json] [steps]` writes a LLaMA of SmolLM2-135M's shape
// with seeded random bf16 weights to a temporary folder (never committed), serves it at /model and the demo's embedded
// model at /demo-model beside bench/ with Vite, opens bench/worker.html in Debian's headless Chromium (Playwright, no browser download) and writes the report.
import { execSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createServer } from 'vite';
import { CHROMIUM_PATH, CHROMIUM_WEBGPU_ARGS } from './chromium.mjs';

const out = process.argv[2] ?? 'bench/results/chromium-worker.json';
const steps = process.argv[3] ?? '20';

const [H, I, L, HEADS, KV, V] = [576, 1536, 30, 9, 3, 49152];
const D = H / HEADS;
const config = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: H, intermediate_size: I, num_hidden_layers: L,
  num_attention_heads: HEADS, num_key_value_heads: KV, head_dim: D, vocab_size: V, max_position_embeddings: 2048,
  rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true, hidden_act: 'silu', bos_token_id: 1, eos_token_id: 2, torch_dtype: 'bfloat16',
};

function tensors() {
  const t = [['model.embed_tokens.weight', [V, H]]];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    t.push([`${p}self_attn.q_proj.weight`, [H, H]], [`${p}self_attn.k_proj.weight`, [KV * D, H]], [`${p}self_attn.v_proj.weight`, [KV * D, H]],
      [`${p}self_attn.o_proj.weight`, [H, H]], [`${p}mlp.gate_proj.weight`, [I, H]], [`${p}mlp.up_proj.weight`, [I, H]], [`${p}mlp.down_proj.weight`, [H, I]],
      [`${p}input_layernorm.weight`, [H]], [`${p}post_attention_layernorm.weight`, [H]]);
  }
  t.push(['model.norm.weight', [H]]);
  return t;
}

/** model.safetensors in bf16: norms 1, every other weight uniform in ±0.035 (std 0.02) from a seeded LCG. */
function writeModel(dir) {
  const list = tensors();
  const header = {};
  let offset = 0;
  for (const [name, shape] of list) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, prefix);
  writeSync(fd, Buffer.from(json));
  let s = 12345;
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (const [name, shape] of list) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Uint16Array(n);
    if (shape.length === 1) data.fill(0x3f80);
    else for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      f[0] = (s / 4294967296 - 0.5) * 0.07;
      data[i] = u[0] >>> 16;
    }
    writeSync(fd, Buffer.from(data.buffer));
  }
  closeSync(fd);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
}

const dir = mkdtempSync(join(tmpdir(), 'qlora-web-135m-'));
const t0 = Date.now();
writeModel(dir);
console.log(`wrote the 135M-shape model to ${dir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

const serveModel = {
  name: 'serve-model',
  configureServer(server) {
    const serve = (root) => (req, res) => {
      const file = join(root, (req.url ?? '/').split('?')[0].replace(/^\/+/, ''));
      let size;
      try {
        size = statSync(file).size;
      } catch {
        res.statusCode = 404;
        return res.end();
      }
      res.setHeader('Content-Length', String(size));
      res.setHeader('ETag', `"${size}"`);
      if (req.method === 'HEAD') return res.end();
      createReadStream(file).pipe(res);
    };
    server.middlewares.use('/model', serve(dir));
    server.middlewares.use('/demo-model', serve(join(process.cwd(), 'demo/public/models/qlora-web-demo-5m')));
  },
};
const server = await createServer({ configFile: false, root: 'bench', plugins: [serveModel], server: { port: 0, host: '127.0.0.1', fs: { allow: [process.cwd()] } }, logLevel: 'error' });
await server.listen();
const url = `${server.resolvedUrls.local[0]}worker.html?steps=${steps}`;
const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_WEBGPU_ARGS, headless: true });
try {
  const page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error('page:', m.text()));
  await page.goto(url);
  let shown = 0;
  for (;;) {
    const state = await page.evaluate(() => ({ done: !!(window.__benchReport || window.__benchError), text: document.getElementById('out')?.textContent ?? '' }));
    const lines = state.text.split('\n');
    for (; shown < lines.length && lines[shown] !== 'running…'; shown++) console.log(lines[shown]);
    if (state.done) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const error = await page.evaluate(() => window.__benchError);
  if (error) throw new Error(error);
  const report = await page.evaluate(() => window.__benchReport);
  report.commit = execSync('git rev-parse --short HEAD').toString().trim();
  report.modelBytes = statSync(join(dir, 'model.safetensors')).size;
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
