/**
 * Argument checks shared by every public function. Each throws a
 * {@link UsageError} naming the argument and the value it was given.
 */
import { UsageError } from './hvsim-error.js';

/** Renders a value for an error message without risking a throw. */
export function describeValue(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? `${value} (0x${value.toString(16)})` : String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

/** Throws unless `value` is an integer in `[min, max]`. */
export function assertInteger(value: unknown, what: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError('bad-argument', `${what} must be an integer in [${min}, ${max}], got ${describeValue(value)}`);
  }
}

/** Throws unless `value` is a physical or virtual address: an integer in [0, 2^53). */
export function assertAddress(value: unknown, what = 'address'): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new UsageError('bad-argument', `${what} must be a non-negative safe integer, got ${describeValue(value)}`);
  }
}

/** Throws unless `size` is one of the allowed access sizes in bytes. */
export function assertAccessSize(size: unknown, allowed: readonly number[], what = 'access size'): asserts size is number {
  if (typeof size !== 'number' || !allowed.includes(size)) {
    throw new UsageError('bad-argument', `${what} must be one of ${allowed.join(', ')} bytes, got ${describeValue(size)}`);
  }
}

/** Throws unless `value` is an unsigned 32-bit integer. */
export function assertU32(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || value >>> 0 !== value) {
    throw new UsageError('bad-argument', `${what} must be an unsigned 32-bit integer, got ${describeValue(value)}`);
  }
}

/**
 * Throws unless `options` is undefined or a plain object whose keys are all
 * in `known`: a misspelled option (`priorty`) is an error naming it, not a
 * setting silently ignored. Kind `'unknown-name'` for a key it does not
 * know, `'bad-argument'` when `options` is not an object.
 */
export function assertOptions(options: unknown, known: readonly string[], what: string): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new UsageError('bad-argument', `${what} options must be an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new UsageError('unknown-name', `${what} has no option ${JSON.stringify(key)} (known: ${known.length === 0 ? 'none' : known.join(', ')})`);
    }
  }
}

/**
 * Throws the UsageError for a value of the wrong type where a hot path
 * expected a `number` or `bigint` (a bigint address, a number for a 64-bit
 * value). Hot paths test `typeof` inline and call this only when it fails,
 * so the check costs nothing measurable.
 */
export function wrongType(value: unknown, what: string, expected: 'number' | 'bigint'): never {
  throw new UsageError('bad-argument', `${what} must be a ${expected}, got ${describeValue(value)}`);
}
