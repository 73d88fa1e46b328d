/** Test support: expects a KvmError with an errno name and a message. */
import { expect } from 'vitest';
import { KvmError } from '../generic/errors.js';

/** Expects `fn` to throw a KvmError with errno `name` and a message matching `message`. */
export function expectErrno(fn: () => unknown, name: string, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(KvmError);
  expect((caught as KvmError).kind).toBe(name);
  if (message) expect((caught as KvmError).message).toMatch(message);
}
