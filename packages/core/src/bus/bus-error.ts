import { HvsimError } from '../errors/hvsim-error.js';

/** Kinds of {@link BusError}. */
export type BusErrorKind = 'overlap' | 'empty-range' | 'not-mapped' | 'unclaimed' | 'crosses-range' | 'no-64-bit-access' | 'bad-argument';

/** A bus mapping or dispatch that cannot be done; `address` names where. */
export class BusError extends HvsimError<BusErrorKind> {
  /** The address, port or MSR number the failed mapping or access named. */
  readonly address: number;

  constructor(kind: BusErrorKind, address: number, message: string) {
    super(kind, message);
    this.address = address;
  }
}
