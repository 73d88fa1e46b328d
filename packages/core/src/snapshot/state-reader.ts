/**
 * Validating reader for saved states. `readState(state, type, version)`
 * checks the tag and version and returns a reader whose getters check each
 * field's type and range, naming the full path in the error
 * (`hvsim.lapic: lvt[3] must be ...`). Models use it in `restoreState` so
 * every restore validates the same way.
 */
import { Bitmap } from '../bits/bitmap.js';
import { describeValue } from '../errors/validate.js';
import type { TimeSource } from '../clock/relative-cycles.js';
import { bitmapFromHex, hexToBigint } from './encoding.js';
import { SnapshotError } from './snapshot-error.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads the fields of a saved state, validating each and naming its path on error. */
export class StateReader {
  constructor(
    private readonly obj: Record<string, unknown>,
    /** Path of this object for messages, e.g. `hvsim.lapic` or `hvsim.gic-v3.cpus[2]`. */
    readonly path: string,
  ) {}

  private fail(key: string, expected: string, got: unknown): never {
    throw new SnapshotError('shape', `${this.path}.${key} must be ${expected}, got ${got === undefined ? 'nothing' : describeValue(got)}`);
  }

  /** True when the field is present (for optional parts). */
  has(key: string): boolean {
    return this.obj[key] !== undefined;
  }

  /** The raw field value, unvalidated. */
  raw(key: string): unknown {
    return this.obj[key];
  }

  /** The integer at `key` in `[min, max]`, or a {@link UsageError} naming the key. */
  int(key: string, min: number, max: number): number {
    const v = this.obj[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(key, `an integer in [${min}, ${max}]`, v);
    return v;
  }

  /** The unsigned 32-bit integer at `key`, or a {@link UsageError} naming the key. */
  u32(key: string): number {
    return this.int(key, 0, 0xffff_ffff);
  }

  /** The address (a safe non-negative integer) at `key`, or a {@link UsageError} naming the key. */
  address(key: string): number {
    return this.int(key, 0, Number.MAX_SAFE_INTEGER);
  }

  /** The finite number at `key`, or a {@link UsageError} naming the key. */
  number(key: string): number {
    const v = this.obj[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, 'a finite number', v);
    return v;
  }

  /** The boolean at `key`, or a {@link UsageError} naming the key. */
  bool(key: string): boolean {
    const v = this.obj[key];
    if (typeof v !== 'boolean') this.fail(key, 'a boolean', v);
    return v;
  }

  /** The string at `key`, or a {@link UsageError} naming the key. */
  string(key: string): string {
    const v = this.obj[key];
    if (typeof v !== 'string') this.fail(key, 'a string', v);
    return v;
  }

  /** One of the listed string values. */
  oneOf<T extends string>(key: string, values: readonly T[]): T {
    const v = this.obj[key];
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) this.fail(key, `one of ${values.join(', ')}`, v);
    return v as T;
  }

  /**
   * A cycle saved relative to the clock at save time (see `saveCycle`),
   * turned into an absolute cycle of `clock`. `minRelative` is 0 for a
   * deadline (never saved in the past) and negative for an anchor.
   */
  cycle(key: string, clock: TimeSource, minRelative = -Number.MAX_SAFE_INTEGER): number {
    const saved = this.int(key, minRelative, Number.MAX_SAFE_INTEGER);
    const now = clock.now();
    if (!Number.isSafeInteger(now + saved)) this.fail(key, `a relative cycle that lands in range at cycle ${now}`, saved);
    return now + saved;
  }

  /** A bigint stored as hex (see `bigintToHex`). */
  bigint(key: string, bits = 64): bigint {
    return hexToBigint(this.obj[key], `${this.path}.${key}`, bits);
  }

  /** Loads a hex-encoded bitmap into `into` (its size is the expected size). */
  bitmap(key: string, into: Bitmap): Bitmap {
    return bitmapFromHex(this.obj[key], into, `${this.path}.${key}`);
  }

  /** A nested object, as a reader. */
  object(key: string): StateReader {
    const v = this.obj[key];
    if (!isRecord(v)) this.fail(key, 'an object', v);
    return new StateReader(v, `${this.path}.${key}`);
  }

  /** A plain record of string keys (values unvalidated). */
  record(key: string): Record<string, unknown> {
    const v = this.obj[key];
    if (!isRecord(v)) this.fail(key, 'an object', v);
    return v;
  }

  /** An array of objects, each read by `fn`; `length` fixes the count if given. */
  array<T>(key: string, fn: (item: StateReader, index: number) => T, length?: number): T[] {
    const v = this.obj[key];
    if (!Array.isArray(v) || (length !== undefined && v.length !== length)) {
      this.fail(key, length === undefined ? 'an array' : `an array of ${length}`, v);
    }
    return v.map((item: unknown, i) => {
      if (!isRecord(item)) throw new SnapshotError('shape', `${this.path}.${key}[${i}] must be an object, got ${describeValue(item)}`);
      return fn(new StateReader(item, `${this.path}.${key}[${i}]`), i);
    });
  }

  /** An array of integers in `[min, max]`; `length` fixes the count if given. */
  intArray(key: string, min: number, max: number, length?: number): number[] {
    const v = this.obj[key];
    if (!Array.isArray(v) || (length !== undefined && v.length !== length)) {
      this.fail(key, length === undefined ? 'an array' : `an array of ${length}`, v);
    }
    return v.map((item: unknown, i) => {
      if (typeof item !== 'number' || !Number.isInteger(item) || item < min || item > max) {
        throw new SnapshotError('shape', `${this.path}.${key}[${i}] must be an integer in [${min}, ${max}], got ${describeValue(item)}`);
      }
      return item;
    });
  }
}

/**
 * Checks that `state` is an object made by `type` at `version` and returns a
 * reader over it. Throws `foreign` for another model's state, `version` for
 * an unsupported version, `shape` for anything not an object.
 */
export function readState(state: unknown, type: string, version: number): StateReader {
  if (!isRecord(state)) throw new SnapshotError('shape', `${type}: a saved state must be an object, got ${describeValue(state)}`);
  if (state.type !== type) {
    throw new SnapshotError('foreign', `${type}: cannot restore a state of type ${describeValue(state.type)}`);
  }
  if (state.version !== version) {
    throw new SnapshotError('version', `${type}: state version ${describeValue(state.version)} is not supported (expected ${version})`);
  }
  return new StateReader(state, type);
}
