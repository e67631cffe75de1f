// One Runtime per test file, in Node (Dawn over SwiftShader) or in Chromium (navigator.gpu).
// No adapter is a failure, never a skip.
import { afterAll } from 'vitest';
import { Runtime } from '../../src/gpu';

let shared: Promise<Runtime> | null = null;

/** The file's Runtime, disposed after its last test (Dawn keeps a Node process alive until then). */
export function testRuntime(): Promise<Runtime> {
  if (!shared) {
    shared = Runtime.create();
    afterAll(async () => (await shared)?.dispose());
  }
  return shared;
}

/** ‖got − want‖ / ‖want‖ in float64. */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`length ${got.length} vs ${want.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < got.length; i++) {
    const d = got[i] - want[i];
    num += d * d;
    den += want[i] * want[i];
  }
  return Math.sqrt(num) / Math.sqrt(den || 1);
}

export function poison(n: number): Float32Array {
  return new Float32Array(n).fill(Number.NaN);
}
