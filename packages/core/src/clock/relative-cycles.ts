/**
 * The rule for time in saved states: **saved states hold cycles relative to
 * the clock at save time.** A model saves a deadline or an anchor as
 * `saveCycle(clock, cycle)` (= `cycle - clock.now()`) and restores it as
 * `restoreCycle(clock, saved)` (= `clock.now() + saved`). A state saved at
 * host cycle 1,000 with a timer due at 1,500 holds 500; restored into a host
 * whose clock is at 9,000,000 (a VM migrated into a running host) the timer
 * is due at 9,000,500, and nothing about the host's clock had to be restored
 * (whose queue holds other VMs' events and so cannot be). Only a whole-host
 * restore restores the `Clock` itself, before the models.
 */
import { UsageError } from '../errors/hvsim-error.js';
import { describeValue } from '../errors/validate.js';

/** Anything with a current cycle: a `Clock`, or a model's own time source. */
export interface TimeSource {
  /** The current cycle. */
  now(): number;
}

/**
 * A cycle as a saved state holds it: relative to `clock.now()`. A deadline
 * (not yet due) saves as a count ≥ 0; an anchor in the past (when a count
 * started) saves as a negative count.
 */
export function saveCycle(clock: TimeSource, cycle: number): number {
  if (!Number.isSafeInteger(cycle)) throw new UsageError('bad-argument', `cycle to save must be a safe integer, got ${describeValue(cycle)}`);
  return cycle - clock.now();
}

/**
 * The absolute cycle of a saved relative one, on the clock it is restored
 * into: `clock.now() + saved`. An anchor restored into a clock younger than
 * the anchor's age comes back negative; models compute elapsed time as
 * `now - anchor` and need no special case. Throws `UsageError` when `saved`
 * is not a safe integer or the result is not (callers validate the state
 * with `StateReader.int` first).
 */
export function restoreCycle(clock: TimeSource, saved: number): number {
  const now = clock.now();
  const cycle = now + saved;
  if (!Number.isSafeInteger(saved) || !Number.isSafeInteger(cycle)) {
    throw new UsageError('bad-argument', `saved relative cycle ${describeValue(saved)} cannot be restored at cycle ${now}`);
  }
  return cycle;
}
