// Benchmark entry for Node.js + Dawn: a GPU machine (bundled by scripts/bench-gpu.sh) or this machine's
// SwiftShader. Usage: node <bundle> [out.json]. Prints a table and writes the JSON report.
// BENCH_SUITES picks suites (comma-separated; default kernels,model,micro): kernels (self-check, kernels,
// quantization, fidelity), model (TinyLlama-shaped decode/prefill), micro (micro-llama-6m's validation loss; needs
// MICRO_LLAMA_DIR and CORPUS_DIR); selfcheck (the kernels suite's self-check alone); and for tuning: gemv (the kernels
// suite's decode GEMV rows alone), quanttune (quantized-GEMM tile depths), gemm (quantized GEMM
// int2/3/4 and nf4 against f32 at M = 2048), gemmtiles (128×64 and 64×128 GEMM tiles), gemvtune (decode GEMV
// variants), gemvrows (the decode GEMV at M = 2…8), quantize (quantization alone, plain and ICQ, three formats per codebook), fidelity (the
// kernels suite's fidelity rows alone, and the real model's per linear: needs MODEL_SAFETENSORS), train (LoRA training
// tokens/s and peak GPU bytes, TinyLlama shape), finetune (micro-llama-6m on Shakespeare; FINETUNE_STEPS, default 400;
// FINETUNE_VALID_TOKENS cuts the validation split short for a smoke test), methodcost (each adapter method's step
// time and peak bytes on the TinyLlama shape: the cost of IEC and pooling), peers (onnxruntime-web's 4-bit
// MatMulNBits beside our int4 G64 matmul on the same shapes; ORT_DIR holds its WebGPU bundle and wasm, default
// .device/ort), sizes (SmolLM2-135M to Llama-3.1-8B shapes written as bf16 checkpoints and loaded, trained and decoded:
// bench/sizes-suite.ts; BENCH_SIZES picks them).
import { writeFileSync } from 'node:fs';
import { Runtime, setNodeDawnFlags, type Precision } from '../src/gpu';
import { matrixSelfCheck, runMatrixGemm, type MatrixCheck } from './matrix-suite';
import { gradientParity, type GradientParityRow } from './gradient-parity';
import { DEFAULT_MATRIX_TILES, type MatrixTiles } from '../src/matmul';
import type { BenchReport, BenchResult } from './harness';
import { selfCheck } from './selfcheck';
import { existsSync } from 'node:fs';
import { fidelity, formatFidelity, type FidelityRow } from './fidelity';
import { runGemmComparison, runGemmTiles, runGemvRows, runGemvSuite, runGemvTuning, runQuantizeSuite, runQuantSuite, runQuantTuning } from './quant-suite';
import { readSafetensors } from './safetensors-read';
import { copyBench, formatRow, runSuite } from './suite';
import { microLlamaLoss, runModelSuite, type CorpusLoss } from './model-suite';
import { formatPeerRow, peerCases, runMatMulNBitsPeer, type PeerRow } from './peers/matmulnbits-peer';
import { loadOrtNode } from './peers/ort-node';
import { runMethodsCost, runMicroFinetune, runTrainingBench, type FinetuneReport } from './train-suite';
import { runSizesSuite, type SizeRow } from './sizes-suite';

declare const __COMMIT__: string;

// Unquantized timestamps, and matrix-unit features visible where the driver has them.
// BENCH_DAWN_ENABLE replaces the enabled Dawn toggles, for diagnostics (e.g. allow_unsafe_apis,disable_robustness:
// what Dawn's bounds clamping costs; a browser always has it).
const dawnFlags = [`enable-dawn-features=${process.env.BENCH_DAWN_ENABLE ?? 'allow_unsafe_apis'}`, 'disable-dawn-features=timestamp_quantization'];
setNodeDawnFlags(dawnFlags);

const out = process.argv[2];
// BENCH_MATRIX=1: Dawn with the toggles that offer the f16 matrix units (NODE_MATRIX_TOGGLES); BENCH_PRECISION picks
// the runtime's precision (default 'auto').
const rt = await Runtime.create({
  onDeviceLost: (e) => console.error(String(e)), nodeMatrixUnits: process.env.BENCH_MATRIX === '1',
  precision: (process.env.BENCH_PRECISION ?? 'auto') as Precision,
});
const info = rt.adapterInfo;
const isCpu = rt.isCpuAdapter;
console.log(`adapter: ${info.vendor} / ${info.architecture} / ${info.device} / ${info.description}`);
console.log(`features: ${[...rt.features].sort().join(', ')}`);
console.log(`matmul path: ${JSON.stringify(rt.capabilities.matmul)}`);
const suites = new Set((process.env.BENCH_SUITES ?? 'kernels,model,micro').split(','));
const scale = isCpu ? 'cpu' : 'gpu';
const log = (r: BenchResult) => console.log(formatRow(r));
const checks = suites.has('kernels') || suites.has('selfcheck') ? await selfCheck(rt) : [];
const failed = checks.filter((c) => !c.pass);
if (checks.length) console.log(`self-check: ${checks.length - failed.length}/${checks.length} kernel variants match the reference`);
for (const c of failed) console.log(`  FAIL ${c.name}: relative error ${c.relativeError}`);
const results: BenchResult[] = [];
if (suites.has('kernels')) results.push(...(await runSuite(rt, scale, log)));
else {
  results.push(await copyBench(rt, scale));
  log(results[0]);
}
const copy = results.find((r) => r.name.startsWith('copy'));
if (suites.has('kernels')) results.push(...(await runQuantSuite(rt, scale, copy ? copy.value : null, log)));
if (suites.has('gemv')) results.push(...(await runGemvSuite(rt, scale, copy ? copy.value : null, log)));
if (suites.has('quantize')) results.push(...(await runQuantizeSuite(rt, log)));
if (suites.has('quanttune')) results.push(...(await runQuantTuning(rt, log)));
if (suites.has('gemvtune')) results.push(...(await runGemvTuning(rt, copy ? copy.value : null, log)));
if (suites.has('gemvrows')) results.push(...(await runGemvRows(rt, copy ? copy.value : null, log)));
if (suites.has('gemm')) results.push(...(await runGemmComparison(rt, log)));
if (suites.has('gemmtiles')) results.push(...(await runGemmTiles(rt, log)));
if (suites.has('model')) results.push(...(await runModelSuite(rt, scale, copy ? copy.value : null, log)));
let peers: PeerRow[] | null = null;
if (suites.has('peers')) {
  const { ort, why } = await loadOrtNode(process.env.ORT_DIR ?? '.device/ort', dawnFlags);
  peers = await runMatMulNBitsPeer(rt, ort, peerCases(!isCpu), (r) => console.log(formatPeerRow(r)), why);
}
let matrixChecks: MatrixCheck[] = [];
if (suites.has('matrix') || suites.has('matrixcheck')) {
  matrixChecks = await matrixSelfCheck(rt, (c) => console.log(`${c.pass ? 'ok  ' : 'FAIL'} ${c.name}: ${c.worstOverBound.toFixed(3)} of the f16 bound (relative ${c.worstRelative.toExponential(2)})`));
  console.log(`matrix self-check: ${matrixChecks.filter((c) => c.pass).length}/${matrixChecks.length} within the f16 bound`);
}
if (suites.has('matrix')) {
  // BENCH_MATRIX_TILES: a JSON list of MatrixTiles to time beside the default; BENCH_MATRIX_QUICK=1: two shapes.
  const tilings: MatrixTiles[] = process.env.BENCH_MATRIX_TILES ? JSON.parse(process.env.BENCH_MATRIX_TILES) : [DEFAULT_MATRIX_TILES];
  results.push(...(await runMatrixGemm(rt, log, tilings, process.env.BENCH_MATRIX_QUICK === '1')));
}
let gradients: GradientParityRow[] | null = null;
if (suites.has('gradparity')) {
  gradients = await gradientParity(rt);
  for (const g of gradients) console.log(`gradients vs PyTorch, ${g.model} nf4 G64 ICQ on the ${g.path} path: loss ${g.lossRelativeError.toExponential(2)}, worst LoRA gradient ${g.worstGradientError.toExponential(2)} relative`);
}
const microDir = process.env.MICRO_LLAMA_DIR;
const corpusDir = process.env.CORPUS_DIR;
const microLoss: CorpusLoss[] = suites.has('micro') && microDir && corpusDir ? await microLlamaLoss(rt, microDir, corpusDir) : [];
const training = suites.has('train') ? await runTrainingBench(rt, scale, log) : null;
const methodsCost = suites.has('methodcost') ? await runMethodsCost(rt, scale, log) : null;
const sizes: SizeRow[] | null = suites.has('sizes') ? await runSizesSuite(rt, scale, log) : null;
const finetune: FinetuneReport | null = suites.has('finetune') && microDir && corpusDir
  ? await runMicroFinetune(rt, microDir, corpusDir, Number(process.env.FINETUNE_STEPS ?? (isCpu ? 4 : 400)), Number(process.env.FINETUNE_VALID_TOKENS ?? Infinity))
  : null;

// Fidelity: a seeded normal matrix, and the real model's linear weights when its file is at hand.
const normal = { shape: [isCpu ? 64 : 1024, 1024], data: new Float32Array(isCpu ? 64 * 1024 : 1024 * 1024) };
{
  let s = 2024;
  for (let i = 0; i < normal.data.length; i += 2) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = (s + 1) / 4294967297;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const r = Math.sqrt(-2 * Math.log(u));
    normal.data[i] = 0.02 * r * Math.cos((2 * Math.PI * s) / 4294967296);
    normal.data[i + 1] = 0.02 * r * Math.sin((2 * Math.PI * s) / 4294967296);
  }
}
const sources: { name: string; tensors: { name?: string; shape: number[]; data: Float32Array }[] }[] = [{ name: `normal(0, 0.02) ${normal.shape.join("×")}`, tensors: [normal] }];
const modelPath = process.env.MODEL_SAFETENSORS;
if (modelPath && existsSync(modelPath)) {
  const linear = /\.(q|k|v|o|gate|up|down)_proj\.weight$/;
  const tensors = [...readSafetensors(modelPath)].filter(([name]) => linear.test(name)).map(([name, t]) => ({ ...t, name }));
  sources.push({ name: `micro-llama-6m (${tensors.length} linears)`, tensors });
}
const perLinear: FidelityRow[] = [];
const fidelityRows: FidelityRow[] = suites.has('kernels') || suites.has('fidelity')
  ? await fidelity(rt, sources, (r) => console.log(formatFidelity(r)), (r) => perLinear.push(r))
  : [];
const report: BenchReport = {
  device: `node ${process.version} + dawn (webgpu npm)`,
  adapter: info,
  date: new Date().toISOString(),
  commit: typeof __COMMIT__ === 'string' ? __COMMIT__ : 'unknown',
  results,
  checks,
  fidelity: fidelityRows,
  fidelityPerLinear: perLinear,
  microLlamaLoss: microLoss,
  training,
  methodsCost,
  sizes,
  finetune,
  peers,
  capabilities: rt.capabilities,
  matrixChecks,
  gradients,
};
if (out) writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
rt.dispose();
if (failed.length || matrixChecks.some((c) => !c.pass)) process.exitCode = 1;
