// Typed errors across the worker boundary. Comlink's own handler turns every thrown error into a plain Error; this
// one sends the class name, message, stack and the error's own fields (file, tensor, url, status, bytes, …), and
// rebuilds an instance of the same class on the other side, so `e instanceof SourceError` and `e.url` work on the
// page as in the worker. Both sides install it (the worker's entry and createFinetuner).
import * as Comlink from 'comlink';
import { AdapterConfigError } from '../adapters';
import { DeviceLostError, LimitError, MissingFeatureError, ShaderError, ShapeError, WebGPUUnavailableError } from '../gpu';
import { ModelFormatError, SourceError, UnsupportedModelError } from '../model';
import { QuantFormatError } from '../quant';
import { StorageError, StorageQuotaError } from '../storage';
import { DatasetError, TrainingError } from '../train';

/** A request the finetuner cannot serve in its state (e.g. train before load), or a bad argument to it. */
export class FinetunerError extends Error {
  override name = 'FinetunerError';
}

const CLASSES: Record<string, new (...args: never[]) => Error> = {
  AdapterConfigError, DatasetError, DeviceLostError, FinetunerError, LimitError, MissingFeatureError, ModelFormatError, QuantFormatError,
  ShaderError, ShapeError, SourceError, StorageError, StorageQuotaError, TrainingError, UnsupportedModelError, WebGPUUnavailableError,
  Error, TypeError, RangeError, SyntaxError,
};

interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  fields: Record<string, unknown>;
}

/** Own fields that survive structured cloning (plain data); functions and the like are left out. */
function plainFields(e: Error): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'name' || k === 'message' || k === 'stack') continue;
    try {
      fields[k] = structuredClone(v);
    } catch {
      // not cloneable: left out
    }
  }
  return fields;
}

export function serializeError(value: unknown): SerializedError {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack, fields: plainFields(value) };
  return { name: 'Error', message: String(value), fields: {} };
}

/** The same class when this library knows it (AbortError comes back as a DOMException), else an Error with its name. */
export function deserializeError(s: SerializedError): Error {
  if (s.name === 'AbortError') return new DOMException(s.message, 'AbortError');
  const Class = CLASSES[s.name] ?? Error;
  const e = Object.create(Class.prototype) as Error;
  Object.defineProperties(e, {
    message: { value: s.message, writable: true, configurable: true },
    stack: { value: s.stack, writable: true, configurable: true },
  });
  Object.assign(e, s.fields, { name: s.name });
  return e;
}

let installed = false;

/** Replaces comlink's 'throw' handler with the typed one (idempotent). */
export function installErrorTransfer(): void {
  if (installed) return;
  installed = true;
  const base = Comlink.transferHandlers.get('throw')!;
  Comlink.transferHandlers.set('throw', {
    canHandle: base.canHandle,
    serialize(obj: unknown) {
      const { value } = obj as { value: unknown };
      return [{ isError: true, value: serializeError(value) }, []];
    },
    deserialize(serialized: unknown) {
      const { value } = serialized as { value: SerializedError };
      throw deserializeError(value);
    },
  } as Comlink.TransferHandler<unknown, unknown>);
}
