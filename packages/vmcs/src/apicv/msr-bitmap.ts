/**
 * MSR bitmaps (SDM 3C "MSR-Bitmap Address"; "Instructions That Cause VM
 * Exits Conditionally": RDMSR, WRMSR): four 1-KByte bitmaps in one 4-KByte
 * page — read-low (MSRs 0-1FFFH) at 0, read-high (C0000000H-C0001FFFH) at
 * 400H, write-low at 800H, write-high at C00H. A set bit means the access
 * exits; an MSR outside both ranges always exits. Bitmaps with no memory
 * behind them read as all ones (every access exits).
 */
import type { Memory } from '@hvsim/core';
import { X2APIC_MSR_BASE, X2APIC_MSR_LAST } from '@hvsim/lapic';
import { vmxUsageError } from '../errors.js';
import { readMemory32, readMemory8 } from '../internal/memory-access.js';

// The x2APIC MSR range as lapic describes it (SDM 3A Table 11-6), as constants for the hot path.
const X2APIC_FIRST = X2APIC_MSR_BASE;
const X2APIC_SPAN = X2APIC_MSR_LAST - X2APIC_MSR_BASE;
/** Byte offset of MSR 800H's bit within the low read or write bitmap (one bit per MSR). */
const X2APIC_BITMAP_BYTE = X2APIC_MSR_BASE >>> 3;

/** Byte offsets of the four bitmaps. */
export const MSR_BITMAP_OFFSET = {
  /** Read bitmap for MSRs 00000000H-00001FFFH. */
  READ_LOW: 0x000,
  /** Read bitmap for MSRs C0000000H-C0001FFFH. */
  READ_HIGH: 0x400,
  /** Write bitmap for MSRs 00000000H-00001FFFH. */
  WRITE_LOW: 0x800,
  /** Write bitmap for MSRs C0000000H-C0001FFFH. */
  WRITE_HIGH: 0xc00,
} as const;

/** True when RDMSR (`write` false) or WRMSR of `msr` exits according to the bitmaps at `bitmap`. */
export function msrBitmapExits(memory: Memory, bitmap: number, msr: number, write: boolean): boolean {
  let index = msr >>> 0;
  let offset: number;
  if (index <= 0x1fff) offset = write ? MSR_BITMAP_OFFSET.WRITE_LOW : MSR_BITMAP_OFFSET.READ_LOW;
  else if (index >= 0xc000_0000 && index <= 0xc000_1fff) {
    index -= 0xc000_0000;
    offset = write ? MSR_BITMAP_OFFSET.WRITE_HIGH : MSR_BITMAP_OFFSET.READ_HIGH;
  } else return true;
  return ((readMemory8(memory, bitmap + offset + (index >>> 3)) >>> (index & 7)) & 1) === 1;
}

/** Sets or clears the bitmap bit of `msr` for reads and/or writes (a VMM-side helper; the 4-KByte bitmap page must be writable memory). */
export function setMsrIntercept(memory: Memory, bitmap: number, msr: number, access: { read?: boolean; write?: boolean }): void {
  if (!Number.isSafeInteger(bitmap) || bitmap < 0 || bitmap % 4096 !== 0 || !memory.isWritable(bitmap, 4096)) {
    throw vmxUsageError('bad-argument', `MSR-bitmap address must be a 4-KByte-aligned address of writable memory, got ${String(bitmap)}`);
  }
  if (typeof msr !== 'number' || msr >>> 0 !== msr) throw vmxUsageError('bad-argument', `MSR index must be an unsigned 32-bit integer, got ${String(msr)}`);
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

/** The x2APIC EOI's (MSR 80BH) bit in the x2APIC range's bitmap words. */
const EOI_BIT = 0x0b;

/**
 * The MSR bitmaps of the running VMCS, with the bits of the x2APIC range
 * (800H-8FFH) copied on first use after each VM entry. SDM 3C "Software
 * Access to Related Structures": software must not modify structures a VMCS
 * references (the MSR bitmaps among them) while a logical processor runs with
 * that VMCS in VMX non-root operation, so a copy taken during the run stays
 * exact. Other MSRs are looked up in memory.
 */
export class MsrBitmaps {
  /** Physical address of the bitmaps. */
  private base = 0;
  private loaded = false;
  /** Words 0-7: read bits of 800H-8FFH; words 8-15: write bits. */
  private readonly x2apic = new Uint32Array(16);
  /** The copy's write bit of the x2APIC EOI (80BH), read once per load for the EOI path. */
  private eoiWrite = false;

  constructor(private readonly memory: Memory) {}

  /** Binds to the bitmaps of the VMCS being entered (-1 without "use MSR bitmaps": every access exits). */
  attach(base: number): void {
    this.base = base;
    this.loaded = false;
  }

  /** The bitmaps stay the same; their x2APIC bits are read again at first use (a new VM entry). */
  reload(): void {
    this.loaded = false;
  }

  private load(): void {
    for (let i = 0; i < 8; i++) {
      this.x2apic[i] = readMemory32(this.memory, this.base + MSR_BITMAP_OFFSET.READ_LOW + X2APIC_BITMAP_BYTE + i * 4);
      this.x2apic[8 + i] = readMemory32(this.memory, this.base + MSR_BITMAP_OFFSET.WRITE_LOW + X2APIC_BITMAP_BYTE + i * 4);
    }
    this.eoiWrite = ((this.x2apic[8 + (EOI_BIT >>> 5)]! >>> (EOI_BIT & 31)) & 1) === 1;
    this.loaded = true;
  }

  /** {@link exits} of WRMSR 80BH (the x2APIC EOI of every virtual interrupt), small enough to inline anywhere. */
  eoiWriteExits(): boolean {
    return this.loaded ? this.eoiWrite : this.exitsSlow(X2APIC_FIRST + EOI_BIT, true);
  }

  /** True when RDMSR (`write` false) or WRMSR of `msr` exits. */
  exits(msr: number, write: boolean): boolean {
    // The x2APIC range with the bits copied: small enough to inline into every MSR access.
    const i = msr - X2APIC_FIRST;
    if (this.loaded && i >= 0 && i <= X2APIC_SPAN) return ((this.x2apic[(write ? 8 : 0) + (i >>> 5)]! >>> (i & 31)) & 1) === 1;
    return this.exitsSlow(msr, write);
  }

  /** {@link exits} without the copy: no bitmaps, an MSR outside the x2APIC range, or the first x2APIC access after VM entry. */
  private exitsSlow(msr: number, write: boolean): boolean {
    if (this.base < 0) return true;
    const i = msr - X2APIC_FIRST;
    if (i >= 0 && i <= X2APIC_SPAN) {
      this.load();
      return this.exits(msr, write);
    }
    return msrBitmapExits(this.memory, this.base, msr, write);
  }
}
