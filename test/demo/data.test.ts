// The demo's data checks: what counts as text, sizes people read, and the held-out tenth (by position).
import { describe, expect, it } from 'vitest';
import { formatBytes, holdOut, notText } from '../../demo/data';

describe('the demo data helpers', () => {
  it('tell text from binary files', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(notText(enc('Day 1. The wind came from the north.\n\tTabs, and ünïcödé too.\r\n'))).toBeNull();
    expect(notText(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]))).toMatch(/NUL bytes/);
    expect(notText(new Uint8Array([0x50, 0x4b, 3, 4, 20, 6, 8, 1, 2, 3, 0x41]))).toMatch(/binary control bytes/);
    expect(notText(new Uint8Array([0x48, 0x69, 0xff, 0xfe, 0x41]))).toMatch(/not UTF-8/);
  });

  it('write sizes a person reads (no "0.0 MB" for a small file)', () => {
    expect([1, 65, 999, 1000, 9_512, 5_200_000, 2.5e9].map(formatBytes)).toEqual(['1 byte', '65 bytes', '999 bytes', '1.0 kB', '9.5 kB', '5.2 MB', '2.50 GB']);
  });

  it('hold out the last tenth by position, at a line break, and never train on it', () => {
    const text = Array.from({ length: 100 }, (_, i) => `Day ${i + 1}. The sea was calm.`).join('\n');
    const split = holdOut(text, 'text', 50);
    expect(split.train + split.held).toBe(text);
    expect(split.held).toMatch(/^Day 9[12]\. /); // from the first line break after 90 % of the characters
    expect(split.train.endsWith('\n')).toBe(true);
    expect(split.note).toMatch(/last tenth .* never trained on/);
    const short = holdOut('A few words only.', 'text', 50);
    expect([short.train, short.held]).toEqual(['A few words only.', null]);
    expect(short.note).toMatch(/all of it is trained on, none held out/);
    const lines = Array.from({ length: 25 }, (_, i) => JSON.stringify({ instruction: `q${i}`, output: `a${i}` })).join('\n');
    const rows = holdOut(lines, 'alpaca', 50);
    expect(rows.held!.split('\n')).toHaveLength(2);
    expect(rows.train.split('\n')).toHaveLength(23);
    expect(holdOut(lines.split('\n').slice(0, 9).join('\n'), 'chat', 50).held).toBeNull();
  });
});
