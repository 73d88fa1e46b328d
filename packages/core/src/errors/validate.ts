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
