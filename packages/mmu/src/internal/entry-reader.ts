/**
 * Reads 64-bit paging-structure entries as two 32-bit halves (`lo`, `hi`)
 * through core's allocation-free `PhysicalMemory.read64Halves`, so walkers
 * test entry bits with numbers, never bigint. Core's page cache keeps the few
 * pages a walk touches hot.
 */
import type { PhysicalMemory, U64Halves } from '@hvsim/core';

export class EntryReader implements U64Halves {
  /** Bits 31:0 of the last entry read. */
  lo = 0;
  /** Bits 63:32 of the last entry read. */
  hi = 0;

  constructor(private readonly memory: PhysicalMemory) {}

  /** Reads the 8-byte entry at `address` into `lo`/`hi`. */
  read(address: number): void {
    this.memory.read64Halves(address, this);
  }
}
