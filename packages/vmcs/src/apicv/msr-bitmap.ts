/**
 * MSR bitmaps (SDM 3C "MSR-Bitmap Address"; "Instructions That Cause VM
 * Exits Conditionally": RDMSR, WRMSR): four 1-KByte bitmaps in one 4-KByte
 * page — read-low (MSRs 0-1FFFH) at 0, read-high (C0000000H-C0001FFFH) at
 * 400H, write-low at 800H, write-high at C00H. A set bit means the access
 * exits; an MSR outside both ranges always exits.
 */
import type { PhysicalMemory } from '@hvsim/core';

/** Byte offsets of the four bitmaps. */
export const MSR_BITMAP_OFFSET = { READ_LOW: 0x000, READ_HIGH: 0x400, WRITE_LOW: 0x800, WRITE_HIGH: 0xc00 } as const;

/** True when RDMSR (`write` false) or WRMSR of `msr` exits according to the bitmaps at `bitmap`. */
export function msrBitmapExits(memory: PhysicalMemory, bitmap: number, msr: number, write: boolean): boolean {
  let index = msr >>> 0;
  let offset: number;
  if (index <= 0x1fff) offset = write ? MSR_BITMAP_OFFSET.WRITE_LOW : MSR_BITMAP_OFFSET.READ_LOW;
  else if (index >= 0xc000_0000 && index <= 0xc000_1fff) {
    index -= 0xc000_0000;
    offset = write ? MSR_BITMAP_OFFSET.WRITE_HIGH : MSR_BITMAP_OFFSET.READ_HIGH;
  } else return true;
  return ((memory.read8(bitmap + offset + (index >>> 3)) >>> (index & 7)) & 1) === 1;
}

/** Sets or clears the bitmap bit of `msr` for reads and/or writes (a VMM-side helper). */
export function setMsrIntercept(memory: PhysicalMemory, bitmap: number, msr: number, access: { read?: boolean; write?: boolean }): void {
  let index = msr >>> 0;
  let high = false;
  if (index >= 0xc000_0000 && index <= 0xc000_1fff) {
    index -= 0xc000_0000;
    high = true;
  } else if (index > 0x1fff) return; // outside the bitmaps: always exits
  const put = (base: number, on: boolean): void => {
    const a = bitmap + base + (index >>> 3);
    const b = memory.read8(a);
    memory.write8(a, on ? b | (1 << (index & 7)) : b & ~(1 << (index & 7)));
  };
  if (access.read !== undefined) put(high ? MSR_BITMAP_OFFSET.READ_HIGH : MSR_BITMAP_OFFSET.READ_LOW, access.read);
  if (access.write !== undefined) put(high ? MSR_BITMAP_OFFSET.WRITE_HIGH : MSR_BITMAP_OFFSET.WRITE_LOW, access.write);
}
