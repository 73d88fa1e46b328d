/**
 * Reads 64-bit paging-structure entries as two 32-bit halves (`lo`, `hi`)
 * through core's allocation-free `Memory.read64Halves`, so walkers test
 * entry bits with numbers, never bigint. An entry no memory backs reads as
 * all ones (common/memory-access.ts gives the rule and why); the check costs
 * nothing until a read fails.
 */
import type { Memory, U64Halves } from '@hvsim/core';

export class EntryReader implements U64Halves {
  /** Bits 31:0 of the last entry read. */
  lo = 0;
  /** Bits 63:32 of the last entry read. */
  hi = 0;

  constructor(private readonly memory: Memory) {}

  /** Reads the 8-byte entry at `address` into `lo`/`hi`; all ones when nothing backs it. */
  read(address: number): void {
    try {
      this.memory.read64Halves(address, this);
    } catch (e) {
      if (this.memory.isBacked(address, 8)) throw e;
      this.lo = 0xffff_ffff;
      this.hi = 0xffff_ffff;
    }
  }
}
