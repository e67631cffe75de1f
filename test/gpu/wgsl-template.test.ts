import { describe, expect, it } from 'vitest';
import { includeWgsl, renderWgsl, ShaderError, variantName } from '../../src/gpu';

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

  it('brings in included files before the values: nested, each file once, inside a branch or not', () => {
    const library = { 'a.wgsl': 'fn a() {}\n//#include "c.wgsl"\n', 'b.wgsl': 'fn b() {}\n//#include "c.wgsl"', 'c.wgsl': 'const C = {{C}}u;\n' };
    expect(includeWgsl('k', 'main\n//#include "a.wgsl"\n//#include "b.wgsl"', library)).toBe('main\nfn a() {}\nconst C = {{C}}u;\nfn b() {}\n');
    const kernel = 'main\n//#if Q\n//#include "a.wgsl"\n//#endif';
    expect(renderWgsl('k', kernel, { Q: 1, C: 3 }, library)).toBe('main\nfn a() {}\nconst C = 3u;');
    expect(renderWgsl('k', kernel, { Q: 0 }, library)).toBe('main');
    expect(() => includeWgsl('k', '//#include "d.wgsl"', library)).toThrow(/includes 'd.wgsl', which is not in its library/);
  });

  it('names variants by their sorted values', () => {
    expect(variantName('matmul', { TN: 8, TM: 4 })).toBe('matmul[TM=4,TN=8]');
  });
});
