// Where model files come from: a Hugging Face id, any base URL with the same layout, or local Blobs/Files.
// A source answers null for a file it does not have, so loaders can try alternatives (sharded or not).
import { ModelFormatError, SourceError } from './errors';

export interface SourceFile {
  /** Bytes, when known before reading (Content-Length, Blob size). */
  size: number | null;
  stream(): ReadableStream<Uint8Array>;
  text(): Promise<string>;
}

export interface ModelSource {
  /** For messages and cache keys, e.g. the model id or the directory name. */
  readonly name: string;
  file(path: string): Promise<SourceFile | null>;
}

/** Files under a base URL, e.g. `https://huggingface.co/{id}/resolve/{revision}`. 404 → null. A body cut off mid-file
 *  (a dropped connection) is resumed with an HTTP Range request from the byte where it stopped, up to `retries` times
 *  (default 3) in a row; If-Range with the first answer's ETag makes sure the rest is of the same file. */
export function urlSource(baseUrl: string, init: RequestInit = {}, options: { retries?: number } = {}): ModelSource {
  const base = baseUrl.replace(/\/+$/, '');
  const retries = options.retries ?? 3;
  return {
    name: base,
    async file(path) {
      const url = `${base}/${path}`;
      const response = await fetchChecked(url, init);
      // A single-page-app server (Vite's dev server among them) answers a missing path with its index.html: no model
      // file is HTML, so that is a missing file too.
      if (response.status === 404 || /^text\/html/i.test(response.headers.get('content-type') ?? '')) {
        await response.body?.cancel();
        return null;
      }
      if (!response.body) throw new SourceError(url, response.status, `HTTP ${response.status} with no body`);
      const length = response.headers.get('content-length');
      const size = length === null ? null : Number(length);
      let used = false;
      const body = () => {
        if (used) throw new Error(`${path}: a fetched body can be read once`);
        used = true;
        return resumingBody(url, init, response, size, retries);
      };
      return { size, stream: body, text: () => new Response(body()).text() };
    },
  };
}

/** fetch, with 401/403, 5xx and network failures turned into SourceErrors that say what to do (404 is returned). */
export async function fetchChecked(url: string, init: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new SourceError(url, null, `the request failed before any answer (${(e as Error).message}): check the URL and the connection; a server on another origin must allow it (CORS: Access-Control-Allow-Origin)`);
  }
  if (response.status === 401 || response.status === 403) {
    throw new SourceError(url, response.status, `HTTP ${response.status}: the model is gated or private; accept its terms on its Hugging Face page and pass a token (init: { headers: { Authorization: 'Bearer hf_…' } })`);
  }
  if (!response.ok && response.status !== 404) throw new SourceError(url, response.status, `HTTP ${response.status} ${response.statusText}`);
  return response;
}

/** The response's body; where it breaks before `size` bytes, the rest is fetched with Range and read on. */
function resumingBody(url: string, init: RequestInit, first: Response, size: number | null, retries: number): ReadableStream<Uint8Array> {
  const etag = first.headers.get('etag');
  let reader = first.body!.getReader();
  let received = 0;
  let failures = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            if (size !== null && received < size) throw new Error(`the body ended after ${received} of ${size} bytes`);
            controller.close();
            return;
          }
          received += value.byteLength;
          failures = 0;
          controller.enqueue(value);
          return;
        } catch (e) {
          if ((e as Error).name === 'AbortError' || init.signal?.aborted) throw e;
          if (size === null || ++failures > retries) {
            throw new SourceError(url, null, `the download broke off after ${received}${size === null ? '' : ` of ${size}`} bytes (${(e as Error).message})${size === null ? ' and cannot resume (no Content-Length)' : `, ${retries} resumes failed`}`);
          }
          const headers = new Headers(init.headers);
          headers.set('Range', `bytes=${received}-`);
          if (etag) headers.set('If-Range', etag);
          const again = await fetchChecked(url, { ...init, headers });
          if (again.status !== 206 || !again.body) {
            // 200: the server ignores Range, or the file changed (If-Range): the bytes already read cannot be trusted.
            await again.body?.cancel();
            throw new SourceError(url, again.status, `the download broke off after ${received} bytes and the server answered the resume with HTTP ${again.status}${etag ? ' (the file changed, or ranges are not served)' : ' (ranges are not served)'}; load again`);
          }
          const range = again.headers.get('content-range');
          if (range && !range.startsWith(`bytes ${received}-`)) throw new SourceError(url, 206, `asked for bytes ${received}- and got ${range}`);
          reader = again.body.getReader();
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** A model on the Hugging Face hub by id, e.g. 'HuggingFaceTB/SmolLM2-135M'; `init` carries a token for gated models. */
export function hubSource(id: string, revision = 'main', init: RequestInit = {}): ModelSource {
  return { ...urlSource(hubUrl(id, revision), init), name: `${id}@${revision}` };
}

/** The base URL of a hub model's files at a revision. */
export function hubUrl(id: string, revision = 'main'): string {
  return `https://huggingface.co/${id}/resolve/${revision}`;
}

/** What nodeDirSource uses of node:fs (typed here: the browser build has no Node types). */
interface NodeFs {
  readdirSync(dir: string, options: { withFileTypes: true }): { name: string; isFile(): boolean }[];
  openAsBlob(path: string): Promise<Blob>;
  statSync(path: string): { size: number };
}

/** A directory on disk (Node only): every file in it, opened lazily as a Blob. The sizes come from stat: Node 20's
 *  openAsBlob reports a file past 4 GiB (a 5 GB shard) at its size modulo 2^32, though its stream is whole. */
export async function nodeDirSource(dir: string): Promise<ModelSource> {
  // Built so that bundlers for the browser leave node:fs alone.
  const fs = (await import(/* @vite-ignore */ ['node', 'fs'].join(':'))) as NodeFs;
  const files = new Map<string, { blob: Blob; size: number }>();
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isFile()) files.set(entry.name, { blob: await fs.openAsBlob(path), size: fs.statSync(path).size });
  }
  return {
    name: dir,
    async file(path) {
      const f = files.get(path);
      if (!f) return null;
      return { size: f.size, stream: () => f.blob.stream() as ReadableStream<Uint8Array>, text: () => f.blob.text() };
    },
  };
}

/** The files of a directory the user picked in the browser (showDirectoryPicker, or the origin-private file system),
 *  by name (File objects: read lazily). */
export async function directoryFiles(handle: FileSystemDirectoryHandle): Promise<Record<string, File>> {
  const files: Record<string, File> = {};
  const entries = (handle as unknown as { values(): AsyncIterable<FileSystemHandle> }).values();
  for await (const entry of entries) {
    if (entry.kind === 'file') files[entry.name] = await (entry as FileSystemFileHandle).getFile();
  }
  return files;
}

/** A directory the user picked in the browser as a source. */
export async function directorySource(handle: FileSystemDirectoryHandle): Promise<ModelSource> {
  return blobSource(handle.name || 'directory', await directoryFiles(handle));
}

/** Local files (a directory picked in the browser, or Node's fs.openAsBlob), keyed by their file name. */
export function blobSource(name: string, files: Record<string, Blob>): ModelSource {
  return {
    name,
    async file(path) {
      const blob = files[path];
      if (!blob) return null;
      return { size: blob.size, stream: () => blob.stream() as ReadableStream<Uint8Array>, text: () => blob.text() };
    },
  };
}

/** A JSON file of the source, parsed; null when the source lacks it. Malformed JSON is a ModelFormatError. */
export async function readJson(source: ModelSource, path: string): Promise<Record<string, unknown> | null> {
  const f = await source.file(path);
  if (!f) return null;
  try {
    return JSON.parse(await f.text());
  } catch (e) {
    throw new ModelFormatError(path, `not valid JSON (${(e as Error).message})`);
  }
}

/** The files besides the weights that describe a model: an export copies those its source has. */
export const MODEL_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'];

/** The named files the source has, as Blobs (those it lacks are left out). */
export async function copyFiles(source: ModelSource, names: readonly string[]): Promise<Record<string, Blob>> {
  const out: Record<string, Blob> = {};
  for (const name of names) {
    const f = await source.file(name);
    if (f) out[name] = new Blob([await new Response(f.stream()).arrayBuffer()]);
  }
  return out;
}
