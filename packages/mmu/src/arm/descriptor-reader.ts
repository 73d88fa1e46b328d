/**
 * Reads Arm translation table descriptors as two 32-bit halves through
 * core's allocation-free `Memory.read64Halves`. A descriptor no memory backs
 * is a Synchronous External abort on the translation table walk (Arm ARM
 * D8.15, DFSC 0b0101xx): `read` returns false, it never lets core's
 * `MemoryError` escape. The check costs nothing until a read fails.
 */
import type { Memory, U64Halves } from '@hvsim/core';

/** Reads descriptors into `lo`/`hi`. */
export class DescriptorReader implements U64Halves {
  /** Bits 31:0 of the last descriptor read. */
  lo = 0;
  /** Bits 63:32 of the last descriptor read. */
  hi = 0;

  constructor(private readonly memory: Memory) {}

  /** Reads the descriptor at `address`; false (an external abort) when nothing backs it. */
  read(address: number): boolean {
    try {
      this.memory.read64Halves(address, this);
      return true;
    } catch (e) {
      if (this.memory.isBacked(address, 8)) throw e;
      return false;
    }
  }

  /** Writes bits 31:0 of a descriptor (hardware Access flag / dirty state update); false when no writable memory backs it. */
  writeLow(address: number, lo: number): boolean {
    if (!this.memory.isWritable(address, 4)) return false;
    this.memory.write32(address, lo >>> 0);
    return true;
  }
}
