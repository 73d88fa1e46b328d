/**
 * The one error class of @hvsim/mmu for API misuse (a bad option, a bad
 * EPTP handed to a walker, a memslot overlap). Architectural outcomes of a
 * walk (page faults, EPT violations) are never thrown: they are results.
 */
import { HvsimError } from '@hvsim/core';

/** Kinds of {@link MmuError}. */
export type MmuErrorKind = 'bad-option' | 'bad-argument' | 'memslot-overlap' | 'out-of-shadow-pages';

/** A caller misused an @hvsim/mmu API; the message names the value. */
export class MmuError extends HvsimError<MmuErrorKind> {
  constructor(kind: MmuErrorKind, message: string) {
    super(kind, message);
  }
}
