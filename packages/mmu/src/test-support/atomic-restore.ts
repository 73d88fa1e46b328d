/** Shared check for issue 12 bug 10: a rejected restore leaves the model exactly as it was. */
import { expect } from 'vitest';

/** A model with snapshots. */
export interface Snapshottable {
  saveState(): unknown;
  restoreState(state: unknown): void;
}

/** Expects `model.restoreState(bad)` to throw `message` and `model.saveState()` to be unchanged by the attempt. */
export function expectAtomicRestore(model: Snapshottable, bad: unknown, message: RegExp): void {
  const before = JSON.stringify(model.saveState());
  expect(() => model.restoreState(bad)).toThrow(message);
  expect(JSON.stringify(model.saveState())).toBe(before);
}

/** A JSON round trip of `model.saveState()`, as a plain mutable record. */
export function savedCopy(model: Snapshottable): Record<string, unknown> {
  return JSON.parse(JSON.stringify(model.saveState())) as Record<string, unknown>;
}
