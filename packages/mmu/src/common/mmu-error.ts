/**
 * The error @hvsim/mmu throws for host misuse. The project has one scheme
 * (docs/conventions.md "Errors"): misuse is core's `UsageError` with kind
 * `'bad-argument' | 'bad-state' | 'unknown-name'` and a message naming the
 * bad value. This package's errors are `UsageError`s whose `name` is
 * `'MmuError'`, so the older `instanceof MmuError` checks keep working.
 * Architectural outcomes of a walk (page faults, EPT violations, stage 1/2
 * faults) are never thrown: they are results.
 */
import { UsageError } from '@hvsim/core';
import type { UsageErrorKind } from '@hvsim/core';

/** The `UsageError` subclass @hvsim/mmu throws (exported as the deprecated `MmuError`). */
export class MmuUsageError extends UsageError {
  constructor(kind: UsageErrorKind, message: string, options?: { cause?: unknown }) {
    super(kind, message, options);
    this.name = 'MmuError';
  }
}

/**
 * A caller misused an @hvsim/mmu API; the message names the bad value. It
 * is core's `UsageError` (this class extends it): catch that.
 *
 * @deprecated Use `UsageError` from `@hvsim/core`; kept so that existing
 * `instanceof MmuError` checks keep working.
 */
export const MmuError: typeof MmuUsageError = MmuUsageError;
/** @deprecated Use `UsageError` from `@hvsim/core`. */
export type MmuError = MmuUsageError;

/**
 * Kinds of {@link MmuError}: core's `UsageErrorKind`. The old kinds map onto
 * them: `'bad-option'` became `'unknown-name'` (an option name the
 * constructor does not know) or `'bad-argument'` (a bad option value);
 * `'out-of-shadow-pages'` became `'bad-state'`; `'memslot-overlap'` is gone
 * (memslots throw core's `MemoryError`).
 *
 * @deprecated Use `UsageErrorKind` from `@hvsim/core`.
 */
export type MmuErrorKind = UsageErrorKind;
