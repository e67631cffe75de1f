// Embedding gather: out[t, :] = table[ids[t], :].
import type { Runtime, Step, Tensor } from '../gpu';
import { expectShape, Uniforms } from '../gpu';
import code from '../../shaders/embedding.wgsl?raw';
import { grid1d } from './grid';

/** Where a row block of a table split by rows starts, and whether it is the last (which takes any id past it). */
export interface RowBlock {
  first: number;
  last: boolean;
}

export const WHOLE: RowBlock = { first: 0, last: true };

/** The first id past the block, or 2^32 − 1 for the last block. */
export function blockEnd(block: RowBlock, rows: number): number {
  return block.last ? 0xffffffff : block.first + rows;
}

/** out [tokens, hidden] = rows of table [vocab, hidden] picked by ids (u32 [tokens]). A row block of a larger table
 *  (`block`: its first id, and whether it is the last) writes only the tokens whose ids fall in it. */
export async function embeddingForward(rt: Runtime, step: Step, ids: Tensor, table: Tensor, out: Tensor, block: RowBlock = WHOLE) {
  const [vocab, hidden] = table.shape;
  expectShape(table, [-1, -1], 'embedding');
  expectShape(ids, [-1], 'embedding', 'u32');
  const tokens = ids.shape[0];
  expectShape(out, [tokens, hidden], 'embedding');
  const kernel = await rt.kernel({ shader: 'embedding', code, entryPoint: 'gather' });
  const groups = grid1d(Math.ceil((tokens * hidden) / 256), rt.device.limits.maxComputeWorkgroupsPerDimension);
  step.dispatch(kernel, new Uniforms(8).u32(tokens).u32(hidden).u32(vocab).u32(block.first).u32(blockEnd(block, vocab)).bytes, [ids, table, out], groups, `embedding ${tokens}x${hidden}`);
}
