// The records this library stores and reads back (a cache entry's manifest, a checkpoint's run.json, a run's request,
// a model's upstream tags) go through one checked reader: a record that is null, cut-short JSON or of the wrong shape
// is a StorageError naming the record and the field, never a TypeError later or a half-read value used as whole.
import { StorageError } from './errors';

/** A test of one field's value and what it must be, in words. */
export type FieldCheck = readonly [test: (v: unknown) => boolean, expected: string];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const field = {
  string: [(v) => typeof v === 'string', 'a string'],
  stringOrNull: [(v) => v === null || typeof v === 'string', 'a string or null'],
  count: [(v) => Number.isSafeInteger(v) && (v as number) >= 0, 'an integer ≥ 0'],
  object: [isObject, 'an object'],
  /** An object whose every value passes `each`. */
  mapOf: (each: FieldCheck): FieldCheck => [(v) => isObject(v) && Object.values(v).every(each[0]), `an object of ${each[1]}`],
  listOf: (each: FieldCheck): FieldCheck => [(v) => Array.isArray(v) && v.every(each[0]), `a list of ${each[1]}`],
  /** Exactly this value (a format version). */
  is: (value: unknown): FieldCheck => [(v) => v === value, JSON.stringify(value)],
  /** A nested record of these fields. */
  record: (fields: Record<string, FieldCheck>): FieldCheck => [(v) => isObject(v) && Object.entries(fields).every(([k, c]) => c[0](v[k])), `{ ${Object.keys(fields).join(', ')} }`],
} satisfies Record<string, FieldCheck | ((...a: never[]) => FieldCheck)>;

/** `value` as a record of `fields` (others are kept as they are), or a StorageError naming `record` and the field. */
export function checkRecord<T>(value: unknown, record: string, fields: Record<string, FieldCheck>): T {
  if (!isObject(value)) throw new StorageError(record, `must hold a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  for (const [name, [test, expected]] of Object.entries(fields)) {
    if (!test(value[name])) throw new StorageError(record, `field '${name}' must be ${expected}, got ${brief(value[name])}`);
  }
  return value as T;
}

/** A stored JSON file read and checked as checkRecord does; a missing file or bad JSON is a StorageError too. */
export async function readRecord<T>(file: Blob | null | undefined, record: string, fields: Record<string, FieldCheck>): Promise<T> {
  if (!file) throw new StorageError(record, 'is missing');
  let value: unknown;
  try {
    value = JSON.parse(await file.text());
  } catch (e) {
    throw new StorageError(record, `is not valid JSON (${(e as Error).message}); it was cut short or overwritten`);
  }
  return checkRecord<T>(value, record, fields);
}

function brief(v: unknown): string {
  if (v === undefined) return 'nothing';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}
