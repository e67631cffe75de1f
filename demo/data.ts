// The demo's data handling, apart from the page: is an uploaded file text, how big is it in words a person reads,
// and which part of the data is held out (by position: the last tenth, never trained on).

/** Why `bytes` is no text file, or null when it is UTF-8 text without binary control bytes. */
export function notText(bytes: Uint8Array): string | null {
  let control = 0;
  for (const b of bytes) {
    if (b === 0) return 'it holds NUL bytes (a binary file)';
    if (b < 9 || (b > 13 && b < 32) || b === 127) control++;
  }
  if (control > Math.max(2, bytes.length * 0.001)) return `it holds ${control} binary control bytes`;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return 'it is not UTF-8 text';
  }
  return null;
}

/** 812 bytes, 4.1 kB, 2.3 MB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} byte${bytes === 1 ? '' : 's'}`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

export type Format = 'text' | 'alpaca' | 'chat';

export interface Split {
  train: string;
  /** The held-out last tenth, or null when the data is too short to spare one. */
  held: string | null;
  /** What was held out, in words. */
  note: string;
}

/** The last tenth of the data held out by position: for text, from the line break (or space) nearest 90 %; for JSONL,
 *  the last tenth of its lines. Too little data to hold out a useful part (under `minHeldChars` characters of text,
 *  or fewer than 10 lines) trains on all of it. */
export function holdOut(data: string, format: Format, minHeldChars: number): Split {
  if (format !== 'text') {
    const lines = data.split('\n').filter((l) => l.trim());
    if (lines.length < 10) return { train: data, held: null, note: `Only ${lines.length} examples: all are trained on, none held out (10 or more hold out the last tenth).` };
    const cut = lines.length - Math.max(1, Math.floor(lines.length / 10));
    return { train: lines.slice(0, cut).join('\n'), held: lines.slice(cut).join('\n'), note: `The last ${lines.length - cut} of ${lines.length} examples are held out for validation, never trained on.` };
  }
  const at = Math.floor(data.length * 0.9);
  const lineBreak = data.indexOf('\n', at);
  const space = data.indexOf(' ', at);
  const cut = lineBreak >= 0 && lineBreak - at < 2000 ? lineBreak + 1 : space >= 0 ? space + 1 : at;
  const held = data.slice(cut);
  if (held.trim().length < minHeldChars) {
    return { train: data, held: null, note: `The text is short (${data.length} characters): all of it is trained on, none held out, so there is no validation loss or held-out perplexity (about ${minHeldChars * 10} characters or more hold out the last tenth).` };
  }
  return { train: data.slice(0, cut), held, note: `The last tenth (${held.length} characters) is held out: validation and perplexity are measured on it, and it is never trained on.` };
}
