// One worker of the methods experiment (bench/methods-suite.ts) on Node + Dawn. Several run at once on one GPU
// (scripts/methods-on-device.sh): each claims jobs from the shared list by creating `<out>/claims/<id>` exclusively
// and appends its rows to METHODS_ROWS (one file all workers share, a line per write) or `<out>/rows-<worker>.jsonl`,
// so a run cut short keeps every finished row.
// Usage: node .device/methods.mjs <out dir> <phases: base,sweep | grid>
// Env: MICRO_LLAMA_DIR, CORPUS_DIR; METHODS_SMOKE=1 (2 steps, one validation window: a check on a CPU adapter); METHODS_ONLY (a regex
// on job ids); METHODS_WORKER (a name); METHODS_DEADLINE (epoch ms: no job starts within 40 s
// of it); METHODS_DONE (a folder of an earlier run's rows: their jobs are skipped, their sweep rows count).
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { Runtime, setNodeDawnFlags } from '../src/gpu';
import { baseJobs, bestLrs, gridJobs, methodsContext, PROTOCOL, runMethodsJob, sweepJobs, type MethodsJob, type MethodsRow } from './methods-suite';

setNodeDawnFlags(['enable-dawn-features=allow_unsafe_apis']);
const [out, phaseList] = process.argv.slice(2);
const modelDir = process.env.MICRO_LLAMA_DIR;
const dataDir = process.env.CORPUS_DIR;
if (!out || !phaseList || !modelDir || !dataDir) throw new Error('usage: MICRO_LLAMA_DIR=… CORPUS_DIR=… node methods.mjs <out dir> <base,sweep|grid>');
const worker = process.env.METHODS_WORKER ?? String(process.pid);
const deadline = Number(process.env.METHODS_DEADLINE ?? Infinity);
mkdirSync(`${out}/claims`, { recursive: true });
if (process.env.METHODS_SMOKE) Object.assign(PROTOCOL, { steps: 2, validTokens: 257 });

function rowsOf(file: string): MethodsRow[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as MethodsRow) : [];
}

function rowsIn(dir: string | undefined): MethodsRow[] {
  if (!dir || !existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.jsonl')).flatMap((f) => rowsOf(`${dir}/${f}`));
}

const rowsFile = process.env.METHODS_ROWS ?? `${out}/rows-${worker}.jsonl`;

const earlier = rowsIn(process.env.METHODS_DONE);
const done = new Set(earlier.filter((r) => !r.error).map((r) => r.id));
const phases = new Set(phaseList.split(','));
const jobs: MethodsJob[] = [];
if (phases.has('base')) jobs.push(...baseJobs());
if (phases.has('sweep')) jobs.push(...sweepJobs());
if (phases.has('grid')) jobs.push(...gridJobs(bestLrs([...earlier, ...rowsIn(out), ...(process.env.METHODS_ROWS ? rowsOf(rowsFile) : [])])));

const rt = await Runtime.create({ onDeviceLost: (e) => console.error(String(e)) });
const ctx = await methodsContext(modelDir, dataDir);
const only = new RegExp(process.env.METHODS_ONLY ?? '');
for (const j of jobs) {
  if (done.has(j.id) || !only.test(j.id)) continue;
  if (Date.now() + 40_000 > deadline) break;
  try {
    closeSync(openSync(`${out}/claims/${j.id}`, 'wx'));
  } catch {
    continue; // another worker has it
  }
  const row = await runMethodsJob(rt, ctx, j);
  appendFileSync(rowsFile, JSON.stringify(row) + '\n');
  const loss = Object.entries(row.loss).map(([c, v]) => `${c} ${v.toFixed(4)}`).join(', ');
  console.log(`${j.id}: ${row.error ?? loss}${row.mergedLoss ? ` (merged ${Object.values(row.mergedLoss).map((v) => v.toFixed(4)).join(', ')})` : ''} in ${row.seconds.toFixed(1)} s`);
}
rt.dispose();
