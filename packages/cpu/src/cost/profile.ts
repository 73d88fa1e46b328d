/**
 * What every architecture's cost profile shares: the common fields (name,
 * clock rate, per-operation, load, store, walk reference and device costs,
 * sources) and the builder that applies checked overrides to a base
 * profile.
 */
import { UsageError, describeValue } from '@hvsim/core';

/** The fields every CPU cost profile has, in cycles (see each field). */
export interface CostProfileBase {
  /** Name shown in reports. */
  readonly name: string;
  /** Core clock rate, for converting cycles to time in reports. */
  readonly clockHz: number;
  /** Every operation's base cost (issue and retire). */
  readonly op: number;
  /** Added for a load that hits the TLB. */
  readonly load: number;
  /** Added for a store that hits the TLB. */
  readonly store: number;
  /** Per paging-structure (descriptor) reference of a walk after a TLB miss. */
  readonly walkReference: number;
  /** Added for an access that reaches a device register (uncached MMIO, Device memory). */
  readonly mmio: number;
  /** Where each number comes from. */
  readonly sources: Readonly<Record<string, string>>;
}

/**
 * Returns `base` with `overrides` applied, frozen: an unknown key, a
 * `numeric` field that is not a finite non-negative number, or a clock rate
 * of 0 is a `UsageError` naming it (`arch` names the profile's kind).
 */
export function buildCostProfile<P extends CostProfileBase>(arch: string, numeric: readonly (keyof P & string)[], overrides: Partial<P>, base: P): P {
  const known = new Set<string>([...numeric, 'name', 'sources']);
  for (const key of Object.keys(overrides)) if (!known.has(key)) throw new UsageError('unknown-name', `unknown ${arch} cost ${describeValue(key)}`);
  const profile: P = { ...base, ...overrides };
  for (const key of numeric) {
    const v = profile[key] as unknown;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new UsageError('bad-argument', `${arch} cost ${key} must be a non-negative number, got ${describeValue(v)}`);
  }
  if (profile.clockHz <= 0) throw new UsageError('bad-argument', `clockHz must be positive, got ${profile.clockHz}`);
  return Object.freeze(profile);
}
