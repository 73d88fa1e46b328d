/** Writes a 1-, 2-, 4- or 8-byte little-endian value (8 bytes as two halves) to physical memory. */
import type { Memory } from '@hvsim/core';

export function writeSized(memory: Memory, address: number, size: number, lo: number, hi: number): void {
  switch (size) {
    case 1:
      memory.write8(address, lo & 0xff);
      return;
    case 2:
      memory.write16(address, lo & 0xffff);
      return;
    case 4:
      memory.write32(address, lo >>> 0);
      return;
    default:
      memory.write32(address, lo >>> 0);
      memory.write32(address + 4, hi >>> 0);
  }
}
