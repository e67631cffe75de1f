// Where model files come from: a Hugging Face id, any base URL with the same layout, or local Blobs/Files.
// A source answers null for a file it does not have, so loaders can try alternatives (sharded or not).
import { ModelFormatError } from './errors';

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

/** Files under a base URL, e.g. `https://huggingface.co/{id}/resolve/{revision}`. 404 → null. */
export function urlSource(baseUrl: string, init: RequestInit = {}): ModelSource {
  const base = baseUrl.replace(/\/+$/, '');
  return {
    name: base,
    async file(path) {
      const response = await fetch(`${base}/${path}`, init);
      if (response.status === 404) return null;
      if (!response.ok || !response.body) throw new Error(`${base}/${path}: HTTP ${response.status} ${response.statusText}`);
      const length = response.headers.get('content-length');
      const body = response.body;
      let used = false;
      return {
        size: length === null ? null : Number(length),
        stream() {
          if (used) throw new Error(`${path}: a fetched body can be read once`);
          used = true;
          return body;
        },
        text: () => new Response(body).text(),
      };
    },
  };
}

/** A model on the Hugging Face hub by id, e.g. 'HuggingFaceTB/SmolLM2-135M'. */
export function hubSource(id: string, revision = 'main'): ModelSource {
  return { ...urlSource(`https://huggingface.co/${id}/resolve/${revision}`), name: `${id}@${revision}` };
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
