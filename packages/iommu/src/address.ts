/**
 * 64-bit addresses held in two 32-bit words, as registers, table entries and
 * descriptors store them. Addresses stay below 2^53 (host address width 48).
 */
import { joinU53 } from '@hvsim/core';

/** The 4 KiB-aligned address in `lo` bits 31:12 and `hi` (bits 11:0 of `lo` are flags or reserved). */
export function pageAddress(lo: number, hi: number): number {
  return joinU53(lo & 0xffff_f000, hi);
}
