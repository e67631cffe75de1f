// Which matmul path a device gets: the f16 matrix units (WGSL subgroup matrices) where the adapter offers them and
// the caller allows it, else f32 FMA. Pure functions of what the adapter reports, so the choice is testable on any
// machine; the matmul layer confirms a chosen matrix path with a self-check before its first use.

/** One matrix-multiply shape the adapter's matrix units take (GPUSubgroupMatrixConfig): left M×K, right K×N. */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

/** 'auto': the f16 matrix path where the adapter offers it (and it passes its self-check), else f32. 'f16': the
 *  same, but an adapter without the features is a MissingFeatureError. 'f32': f32 FMA everywhere. */
export type Precision = 'auto' | 'f16' | 'f32';

export const PRECISIONS: readonly Precision[] = ['auto', 'f16', 'f32'];

/** The features the f16 matrix path needs. */
export const MATRIX_FEATURES = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'] as const;

/** Dawn toggles that make Node's Dawn offer the matrix path on NVIDIA Vulkan, which it holds back by default:
 *  subgroup matrices are an unsafe (experimental) API, and f16 is off there over conformance failures (the
 *  self-check compares against f32 for that reason). */
export const NODE_MATRIX_TOGGLES = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'] as const;

export interface MatmulPath {
  /** 'f16-matrix': quantized GEMMs (M > 8) on subgroup matrices, f16 operands and f32 accumulation. */
  kind: 'f16-matrix' | 'f32';
  /** The configuration used on the matrix path. */
  config?: SubgroupMatrixConfig;
  /** 'f16-matrix': whether a matrix kernel has run its self-check on this device yet, each kernel passing (a
   *  failure turns the path to 'f32'). Always true for 'f32'. */
  checked: boolean;
  /** Why this path: what was missing, or what the self-check found. */
  why: string;
}

export interface AdapterMatrixFacts {
  features: ReadonlySet<string>;
  configs: readonly SubgroupMatrixConfig[];
  /** The adapter's largest subgroup (0: not reported). */
  subgroupMaxSize: number;
  /** maxComputeInvocationsPerWorkgroup. */
  maxInvocations: number;
}

/** Subgroups per workgroup of the matrix kernel (shaders/matmul/matmul_mma.wgsl WM × WN). */
export const MATRIX_SUBGROUPS = 4;

/** The f16 × f16 → f32 configuration the kernel uses, best first: 16×16×16 (one NVIDIA mma.m16n8k16 pair), then
 *  shapes whose K divides the kernel's 32-deep tiles and whose M and N are 8 or 16; undefined if none. */
export function pickMatrixConfig(configs: readonly SubgroupMatrixConfig[]): SubgroupMatrixConfig | undefined {
  const usable = configs.filter((c) =>
    c.componentType === 'f16' && c.resultComponentType === 'f32' && [8, 16].includes(c.M) && [8, 16].includes(c.N) && 32 % c.K === 0 && c.K >= 8);
  return usable.sort((a, b) => b.M * b.N * b.K - a.M * a.N * a.K)[0];
}

/** The path for a device with these facts under `precision` (unchecked: the matmul layer's self-check settles it),
 *  or, for precision 'f16', the feature that is missing. */
export function matmulPathFor(facts: AdapterMatrixFacts, precision: Precision): MatmulPath | { missing: string; detail: string } {
  if (precision === 'f32') return { kind: 'f32', checked: true, why: "precision 'f32' was asked for" };
  const absent = MATRIX_FEATURES.find((f) => !facts.features.has(f));
  const config = pickMatrixConfig(facts.configs);
  const offered = facts.configs.map((c) => `${c.componentType}→${c.resultComponentType} ${c.M}×${c.N}×${c.K}`).join(', ') || 'none';
  let missing: { missing: string; detail: string } | null = null;
  if (absent) {
    const hint = absent === 'subgroups' ? '' : ' (in Node, create the runtime with { nodeMatrixUnits: true }; in Chrome, enable WebGPU experimental features)';
    missing = { missing: absent, detail: `the f16 matrix path needs it${hint}` };
  } else if (!config) {
    missing = { missing: 'chromium-experimental-subgroup-matrix', detail: `no f16 × f16 → f32 configuration with M, N ∈ {8, 16} and K dividing 32 (offered: ${offered})` };
  } else if (!facts.subgroupMaxSize || MATRIX_SUBGROUPS * facts.subgroupMaxSize > facts.maxInvocations) {
    missing = { missing: 'subgroups', detail: `the adapter's largest subgroup (${facts.subgroupMaxSize || 'not reported'}) times ${MATRIX_SUBGROUPS} exceeds ${facts.maxInvocations} invocations per workgroup` };
  }
  if (missing) return precision === 'f16' ? missing : { kind: 'f32', checked: true, why: `no f16 matrix path: '${missing.missing}' — ${missing.detail}` };
  return { kind: 'f16-matrix', config, checked: false, why: `f16 × f16 → f32 subgroup matrices ${config!.M}×${config!.N}×${config!.K} (offered: ${offered})` };
}

/** The path after one matrix kernel's self-check: a failure turns the runtime to f32 from then on (with the warning to
 *  give), a pass marks the path checked; an f32 path stays as it is. */
export function settleMatmulPath(path: MatmulPath, passed: boolean, why: string): { path: MatmulPath; warning: string | null } {
  if (path.kind !== 'f16-matrix') return { path, warning: null };
  if (!passed) {
    const f32: MatmulPath = { kind: 'f32', checked: true, why: `the f16 matrix path failed its self-check, f32 instead: ${why}` };
    return { path: f32, warning: `qlora-web: ${f32.why}` };
  }
  return { path: path.checked ? path : { ...path, checked: true, why: `${path.why}; self-check passed (${why})` }, warning: null };
}
