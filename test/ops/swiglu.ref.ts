export function swigluRef(gate: Float32Array, up: Float32Array): Float32Array {
  return gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
}

export function swigluBackwardRef(gate: Float32Array, up: Float32Array, dout: Float32Array): { dgate: Float32Array; dup: Float32Array } {
  const sig = (g: number) => 1 / (1 + Math.exp(-g));
  return {
    dgate: gate.map((g, i) => dout[i] * up[i] * sig(g) * (1 + g * (1 - sig(g)))),
    dup: gate.map((g, i) => dout[i] * g * sig(g)),
  };
}
