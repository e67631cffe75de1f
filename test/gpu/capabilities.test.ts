// The choice of matmul path from what an adapter reports (src/gpu/capabilities.ts), on made-up adapters, and the
// runtime's precision option on this machine's (which has no matrix units).
import { describe, expect, it } from 'vitest';
import { matmulPathFor, MissingFeatureError, pickMatrixConfig, Runtime, settleMatmulPath, withMatrixToggles, type AdapterMatrixFacts, type SubgroupMatrixConfig } from '../../src/gpu';

const f16 = (M: number, N: number, K: number, result = 'f32'): SubgroupMatrixConfig => ({ componentType: 'f16', resultComponentType: result, M, N, K });
const H100_CONFIGS = [f16(16, 16, 16, 'f16'), f16(16, 8, 16, 'f16'), f16(16, 16, 16), f16(16, 8, 16), f16(16, 8, 8), { componentType: 'i8', resultComponentType: 'i32', M: 16, N: 16, K: 32 }];
const facts = (over: Partial<AdapterMatrixFacts> = {}): AdapterMatrixFacts => ({
  features: new Set(['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix']), configs: H100_CONFIGS,
  subgroupMaxSize: 32, maxInvocations: 1024, ...over,
});

describe('the matmul path', () => {
  it('picks the largest f16 → f32 configuration the kernel can tile (16×16×16 on an H100)', () => {
    expect(pickMatrixConfig(H100_CONFIGS)).toEqual(f16(16, 16, 16));
    expect(pickMatrixConfig([f16(8, 8, 8), f16(16, 8, 8)])).toEqual(f16(16, 8, 8)); // Metal's is 8×8×8
    expect(pickMatrixConfig([f16(16, 16, 16, 'f16'), f16(32, 32, 16), f16(16, 16, 48)])).toBeUndefined();
  });

  it("'auto' takes the matrix path unchecked where everything is offered, f32 with the reason where not", () => {
    expect(matmulPathFor(facts(), 'auto')).toMatchObject({ kind: 'f16-matrix', checked: false, config: f16(16, 16, 16) });
    const noF16 = matmulPathFor(facts({ features: new Set(['subgroups', 'chromium-experimental-subgroup-matrix']) }), 'auto');
    expect(noF16).toMatchObject({ kind: 'f32', checked: true });
    expect('why' in noF16 && noF16.why).toMatch(/'shader-f16'.*nodeMatrixUnits/);
    const int8Only = matmulPathFor(facts({ configs: H100_CONFIGS.slice(-1) }), 'auto');
    expect('why' in int8Only && int8Only.why).toMatch(/no f16 × f16 → f32 configuration.*i8→i32 16×16×32/);
    const wide = matmulPathFor(facts({ subgroupMaxSize: 512 }), 'auto');
    expect('why' in wide && wide.why).toMatch(/largest subgroup \(512\)/);
  });

  it("'f16' names what is missing; 'f32' never takes the matrix path", () => {
    expect(matmulPathFor(facts({ features: new Set(['shader-f16', 'subgroups']) }), 'f16')).toMatchObject({ missing: 'chromium-experimental-subgroup-matrix' });
    expect(matmulPathFor(facts({ configs: [] }), 'f16')).toMatchObject({ missing: 'chromium-experimental-subgroup-matrix' });
    expect(matmulPathFor(facts(), 'f32')).toMatchObject({ kind: 'f32', checked: true });
  });

  it('a self-check that fails turns the path to f32 for good, with a warning; passes mark it checked', () => {
    const chosen = matmulPathFor(facts(), 'auto');
    if ('missing' in chosen) throw new Error('expected a path');
    const passed = settleMatmulPath(chosen, true, 'nf4 G64 forward: worst error 0.4 of the f16 bound');
    expect(passed).toMatchObject({ warning: null, path: { kind: 'f16-matrix', checked: true } });
    const failed = settleMatmulPath(passed.path, false, 'int3 G32 backward: worst error 3.1 of the f16 bound');
    expect(failed.path).toMatchObject({ kind: 'f32', checked: true });
    expect(failed.warning).toMatch(/failed its self-check, f32 instead: int3 G32 backward: worst error 3\.1/);
    expect(settleMatmulPath(failed.path, true, 'later')).toEqual({ path: failed.path, warning: null });
  });

  it('adds the Dawn toggles to an existing enable list, or makes one', () => {
    expect(withMatrixToggles([])).toEqual(['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia']);
    expect(withMatrixToggles(['enable-dawn-features=allow_unsafe_apis,disable_robustness', 'disable-dawn-features=timestamp_quantization']))
      .toEqual(['enable-dawn-features=allow_unsafe_apis,disable_robustness,vulkan_enable_f16_on_nvidia', 'disable-dawn-features=timestamp_quantization']);
  });
});

describe('the precision option on an adapter without matrix units', () => {
  it("'f16' is a MissingFeatureError naming the feature; a value outside the three is a RangeError", async () => {
    const failed = await Runtime.create({ precision: 'f16' }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(MissingFeatureError);
    expect((failed as MissingFeatureError).feature).toBe('shader-f16');
    expect(String(failed)).toMatch(/precision 'f16'/);
    await expect(Runtime.create({ precision: 'bf16' as never })).rejects.toThrow(/precision must be one of auto, f16, f32, got bf16/);
  });

  it('nodeMatrixUnits creates Dawn with the toggles (in Node; nothing in a browser) and still runs f32 here', async () => {
    const rt = await Runtime.create({ nodeMatrixUnits: true });
    expect(rt.capabilities.matmul).toMatchObject({ kind: 'f32', checked: true });
    expect(rt.capabilities.subgroupMatrixConfigs).toEqual([]);
    rt.dispose();
  });

  it("'f32' and 'auto' both run f32 here, and say so", async () => {
    for (const precision of ['f32', 'auto'] as const) {
      const rt = await Runtime.create({ precision });
      expect(rt.capabilities.matmul.kind).toBe('f32');
      expect(rt.capabilities.shaderF16).toBe(false);
      rt.dispose();
    }
  });
});
