// What the page remembers of each training run across reloads (localStorage): its method, planned steps, the model
// it trained on and its loss curve so far, so that a resumed run continues its chart and a stored checkpoint is
// listed by name. The adapters themselves live in the library's checkpoint (IndexedDB).
import type { MethodName } from '../src';
import type { LossPoint } from './chart';

export interface RunRecord {
  method: MethodName;
  steps: number;
  /** The fields it was started with (the ids of their inputs), shown again when it resumes. */
  settings?: { rank: number; lr: number; batch: number; seqlen: number };
  /** The loaded model's cache key when it started: the run resumes on that model only. */
  model: string;
  startedAt: string;
  lastStep: number;
  finished: boolean;
  losses: LossPoint[];
  evals: LossPoint[];
}

const KEY = 'qlora-web-demo:runs';

function all(): Record<string, RunRecord> {
  try {
    const parsed = JSON.parse(localStorage.getItem(KEY) ?? '{}') as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, RunRecord>) : {};
  } catch {
    return {};
  }
}

export function getRun(id: string): RunRecord | null {
  return all()[id] ?? null;
}

export function putRun(id: string, run: RunRecord): void {
  const runs = all();
  runs[id] = run;
  try {
    localStorage.setItem(KEY, JSON.stringify(runs));
  } catch {
    // Storage full or off: the chart of a resumed run then starts empty, nothing else is lost.
  }
}

export function forgetRun(id: string): void {
  const runs = all();
  delete runs[id];
  localStorage.setItem(KEY, JSON.stringify(runs));
}

/** A new run's id: sortable and readable ('run-20261207-131502'). */
export function newRunId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `run-${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
}
