/**
 * 64-bit addresses held in two 32-bit words, as registers, table entries and
 * descriptors store them. The host address width is 48 bits
 * (`HOST_ADDRESS_WIDTH`), so every address this unit uses stays below 2^48;
 * a register that names an address above it (its high dword at or above
 * 2^16) names no memory, and hardware reports an access error there.
 */
import { joinU53 } from '@hvsim/core';

/** Latched pointer value for an address beyond the host address width: every access through it faults. */
export const BEYOND_HOST_ADDRESS_WIDTH = -1;

/** High-dword limit of a 48-bit address. */
const HIGH_LIMIT = 0x1_0000;

/** The 4 KiB-aligned address in `lo` bits 31:12 and `hi` (bits 11:0 of `lo` are flags or reserved). */
export function pageAddress(lo: number, hi: number): number {
  return joinU53(lo & 0xffff_f000, hi);
}

/**
 * The 4 KiB-aligned address in `lo` bits 31:12 and `hi`, or
 * {@link BEYOND_HOST_ADDRESS_WIDTH} when bits 63:48 are not all zero
 * (so the result is always a safe integer; VT-d 7.1.3 access errors).
 */
export function hostPageAddress(lo: number, hi: number): number {
  return hi >>> 0 >= HIGH_LIMIT ? BEYOND_HOST_ADDRESS_WIDTH : joinU53(lo & 0xffff_f000, hi);
}

/** The byte address `lo | hi << 32` (low bits kept), or {@link BEYOND_HOST_ADDRESS_WIDTH} above the host address width. */
export function hostAddress(lo: number, hi: number): number {
  return hi >>> 0 >= HIGH_LIMIT ? BEYOND_HOST_ADDRESS_WIDTH : joinU53(lo, hi);
}
