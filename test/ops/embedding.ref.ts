export function embeddingRef(ids: ArrayLike<number>, table: Float32Array, hidden: number): Float32Array {
  const out = new Float32Array(ids.length * hidden);
  for (let t = 0; t < ids.length; t++) out.set(table.subarray(ids[t] * hidden, (ids[t] + 1) * hidden), t * hidden);
  return out;
}
