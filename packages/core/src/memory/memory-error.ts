import { HvsimError } from '../errors/hvsim-error.js';

/** Kinds of {@link MemoryError}. */
export type MemoryErrorKind = 'unmapped' | 'read-only' | 'region-overlap' | 'region-not-found' | 'bad-argument';

/** A physical-memory access or region operation that cannot be done. */
export class MemoryError extends HvsimError<MemoryErrorKind> {
  /** The address the failing access or region started at. */
  readonly address: number;

  constructor(kind: MemoryErrorKind, address: number, message: string) {
    super(kind, message);
    this.address = address;
  }
}
