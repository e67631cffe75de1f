/** log Σ exp of a row, in float64. */
function logSumExp(row: Float32Array): number {
  const m = Math.max(...row);
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  return Math.log(s) + m;
}

export function crossEntropyRef(logits: Float32Array, target: ArrayLike<number>, vocab: number): Float32Array {
  const loss = new Float32Array(target.length);
  for (let r = 0; r < target.length; r++) {
    if (target[r] === 0xffffffff) continue;
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    loss[r] = logSumExp(row) - row[target[r]];
  }
  return loss;
}

/** scale · (softmax(logits[r]) − onehot(target[r])), zero on ignored rows, in float64. */
export function crossEntropyGradRef(logits: Float32Array, target: ArrayLike<number>, vocab: number, scale: number): Float32Array {
  const grad = new Float32Array(logits.length);
  for (let r = 0; r < target.length; r++) {
    if (target[r] === 0xffffffff) continue;
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    const lse = logSumExp(row);
    for (let c = 0; c < vocab; c++) grad[r * vocab + c] = scale * (Math.exp(row[c] - lse) - (c === target[r] ? 1 : 0));
  }
  return grad;
}
