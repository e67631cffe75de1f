import { describe, expect, it } from 'vitest';
import { renderWgsl, ShaderError, variantName } from '../src/gpu';

describe('WGSL template step', () => {
  const src = ['const T = {{T}}u;', '//#if V', 'a', '//#if W', 'b', '//#else', 'c', '//#endif', '//#else', 'd', '//#endif', 'e'].join('\n');

  it('substitutes values and keeps the taken branches', () => {
    expect(renderWgsl('s', src, { T: 8, V: 1, W: 0 })).toBe('const T = 8u;\na\nc\ne');
    expect(renderWgsl('s', src, { T: 4, V: 0, W: 1 })).toBe('const T = 4u;\nd\ne');
  });

  it('needs no value for a directive inside a dropped region', () => {
    expect(renderWgsl('s', '//#if A\n//#if B\nx\n//#endif\n//#else\ny\n//#endif', { A: 0 })).toBe('y');
  });

  it('names a missing value and unbalanced directives', () => {
    expect(() => renderWgsl('s', src, { T: 1, W: 1 })).toThrow(/template value 'V'/);
    expect(() => renderWgsl('s', '//#if X\na', { X: 1 })).toThrow(ShaderError);
    expect(() => renderWgsl('s', '//#endif', {})).toThrow(/without/);
  });

  it('names variants by their sorted values', () => {
    expect(variantName('matmul', { TN: 8, TM: 4 })).toBe('matmul[TM=4,TN=8]');
  });
});
