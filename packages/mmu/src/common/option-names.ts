/**
 * Option-name checks for the constructors of @hvsim/mmu (issue 12 "nothing
 * escapes", host side): a misspelled option (`{ tbl: ... }`) is an error
 * naming it, never a setting silently ignored (docs/conventions.md
 * "Errors": an unknown name is a `UsageError` of kind `'unknown-name'`).
 */
import { describeValue } from '@hvsim/core';
import { MmuUsageError } from './mmu-error.js';

/** The time options every model takes (`now` deprecated). */
export const TIME_OPTION_NAMES = ['clock', 'now'] as const;

/**
 * Throws unless `options` is undefined or an object whose own keys are all
 * in `known`: `'bad-argument'` for a non-object, `'unknown-name'` for a key
 * it does not know, naming the key and the known ones.
 */
export function checkOptionNames(options: unknown, known: readonly string[], what: string): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new MmuUsageError('bad-argument', `${what} options must be an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new MmuUsageError('unknown-name', `${what} has no option ${JSON.stringify(key)} (known: ${known.join(', ')})`);
  }
}

/**
 * The `cpu` option of a model that emits trace events: the number of the
 * CPU the events concern, in the host's own numbering (docs/conventions.md
 * "Tracing"); undefined leaves `cpu` out of the events. Throws a
 * `'bad-argument'` UsageError unless it is a non-negative integer.
 */
export function cpuOption(cpu: unknown, what: string): number | undefined {
  if (cpu === undefined) return undefined;
  if (typeof cpu !== 'number' || !Number.isSafeInteger(cpu) || cpu < 0) throw new MmuUsageError('bad-argument', `${what} cpu must be a non-negative integer, got ${describeValue(cpu)}`);
  return cpu;
}
