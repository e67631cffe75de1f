// Hardware ceilings for the ratios in bench results. Only devices we have measured are listed;
// elsewhere the ratio is left empty rather than guessed.
export interface Ceilings {
  /** Bytes read + written per second of a large copy (what PyTorch's copy reaches). */
  copyBytesPerSecond: number;
  /** Peak f32 FLOP/s without matrix units. */
  f32FlopsPerSecond: number;
}

const KNOWN: { match: RegExp; ceilings: Ceilings }[] = [
  // H100 80GB HBM3 (SXM): 3.35 TB/s nominal, ~3.0 TB/s measured copies in PyTorch; 67 TFLOP/s f32.
  { match: /h100/i, ceilings: { copyBytesPerSecond: 3.0e12, f32FlopsPerSecond: 67e12 } },
];

export function ceilingsFor(adapterDescription: string): Ceilings | null {
  return KNOWN.find((k) => k.match.test(adapterDescription))?.ceilings ?? null;
}
