// Benchmark entry for Node.js + Dawn: the lent H100 (bundled by scripts/bench-gpu.sh) or this machine's
// SwiftShader. Usage: node <bundle> [out.json]. Prints a table and writes the JSON report.
import { writeFileSync } from 'node:fs';
import { Runtime, setNodeDawnFlags } from '../src/gpu';
import type { BenchReport } from './harness';
import { selfCheck } from './selfcheck';
import { formatRow, runSuite } from './suite';

declare const __COMMIT__: string;

// Unquantized timestamps, and matrix-unit features visible where the driver has them.
setNodeDawnFlags(['enable-dawn-features=allow_unsafe_apis', 'disable-dawn-features=timestamp_quantization']);

const out = process.argv[2];
const rt = await Runtime.create({ onDeviceLost: (e) => console.error(String(e)) });
const info = rt.adapterInfo;
const isCpu = /swiftshader|llvmpipe|lavapipe/i.test(`${info.architecture} ${info.description}`);
console.log(`adapter: ${info.vendor} / ${info.architecture} / ${info.device} / ${info.description}`);
console.log(`features: ${[...rt.features].sort().join(', ')}`);
const checks = await selfCheck(rt);
const failed = checks.filter((c) => !c.pass);
console.log(`self-check: ${checks.length - failed.length}/${checks.length} kernel variants match the reference`);
for (const c of failed) console.log(`  FAIL ${c.name}: relative error ${c.relativeError}`);
const results = await runSuite(rt, isCpu ? 'cpu' : 'gpu', (r) => console.log(formatRow(r)));
const report: BenchReport = {
  device: `node ${process.version} + dawn (webgpu npm)`,
  adapter: info,
  date: new Date().toISOString(),
  commit: typeof __COMMIT__ === 'string' ? __COMMIT__ : 'unknown',
  results,
  checks,
};
if (out) writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
rt.dispose();
if (failed.length) process.exitCode = 1;
