// Asserts that building a dataset fails with a DatasetError whose message matches.
import { expect } from 'vitest';
import { DatasetError } from '../../src/train';

export function expectDatasetError(build: () => unknown, message: RegExp): void {
  let error: unknown;
  try {
    build();
  } catch (e) {
    error = e;
  }
  expect(error, String(message)).toBeInstanceOf(DatasetError);
  expect((error as Error).message).toMatch(message);
}
