// A committed fixture file as a Blob: fetched from the Vite server in Chromium, read from disk in Node.
const inBrowser = typeof window !== 'undefined';

export async function fixtureBlob(path: string): Promise<Blob> {
  if (inBrowser) {
    const response = await fetch(`/${path}`);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.blob();
  }
  const fs = (await import(/* @vite-ignore */ ['node', 'fs'].join(':'))) as typeof import('node:fs');
  return fs.openAsBlob(path);
}
