// Embedding gather: out[t, :] = table[ids[t], :].
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, Uniforms } from '../gpu';
import code from '../../shaders/embedding.wgsl?raw';
import { grid1d } from './grid';

/** out [tokens, hidden] = rows of table [vocab, hidden] picked by ids (u32 [tokens]). */
export async function embeddingForward(rt: Runtime, step: Step, ids: Tensor, table: Tensor, out: Tensor) {
  const [vocab, hidden] = table.shape;
  expectShape(table, [-1, -1], 'embedding');
  expectShape(ids, [-1], 'embedding', 'u32');
  const tokens = ids.shape[0];
  expectShape(out, [tokens, hidden], 'embedding');
  const kernel = await rt.kernel({ shader: 'embedding', code, entryPoint: 'gather' });
  const groups = grid1d(Math.ceil((tokens * hidden) / 256), rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, new Uniforms(3).u32(tokens).u32(hidden).u32(vocab).bytes, [ids, table, out], groups, `embedding ${tokens}x${hidden}`);
}
