/**
 * Guest code lives at guest-virtual addresses, as real code does: a program
 * maps each entry address (the value an IDT gate or a vector table holds) to
 * the generator function that runs there. A CPU that transfers control to an
 * address fetches from it through the MMU (so a not-present or no-execute
 * code page faults) and starts the function registered there.
 */
import { UsageError, describeValue } from '@hvsim/core';
import type { Op } from './ops.js';

/** The generator a piece of guest code is: it yields operations and is resumed with their results. */
export type GuestRoutine = Generator<Op, void, number>;

/**
 * A piece of guest code. Handlers entered through an IDT gate or a vector
 * get the vector and (x86) the error code (-1 when the event has none).
 */
export type GuestCode<G> = (g: G, vector: number, errorCode: number) => GuestRoutine;

/** One entry point of a program. */
export interface CodeEntry<G> {
  readonly address: number;
  readonly name: string;
  readonly code: GuestCode<G>;
}

/** The guest code of one VM or machine, by entry address (see the file comment). */
export class GuestProgram<G> {
  private readonly entries = new Map<number, CodeEntry<G>>();

  /** Places `code` at guest-virtual `address` (its entry point); returns the address. */
  define(address: number, code: GuestCode<G>, name = code.name || `code@0x${address.toString(16)}`): number {
    if (!Number.isSafeInteger(address) || address < 0) throw new UsageError('bad-argument', `code address must be a non-negative safe integer, got ${describeValue(address)}`);
    if (typeof code !== 'function') throw new UsageError('bad-argument', `code at 0x${address.toString(16)} must be a generator function, got ${describeValue(code)}`);
    const known = this.entries.get(address);
    if (known) throw new UsageError('bad-argument', `0x${address.toString(16)} already holds ${known.name}`);
    this.entries.set(address, Object.freeze({ address, name, code }));
    return address;
  }

  /** The code whose entry point is `address`, if any. */
  at(address: number): CodeEntry<G> | undefined {
    return this.entries.get(address);
  }

  /** Every entry point, by address. */
  list(): CodeEntry<G>[] {
    return [...this.entries.values()].sort((a, b) => a.address - b.address);
  }
}
