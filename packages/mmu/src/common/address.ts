/**
 * Helpers for 64-bit linear addresses kept as two unsigned 32-bit halves on
 * the hot path (a number holds only 53 bits exactly, and a 5-level linear
 * address has 57).
 */
import { MmuUsageError } from './mmu-error.js';
import { describeValue } from '@hvsim/core';

/** 2^32: joins a high half to a low half in a number. */
export const TWO_32 = 0x1_0000_0000;

/**
 * Physical address bits 51:12 of a 64-bit x86 paging-structure or EPT entry
 * given as halves (the formats share it: SDM 3A 4.5, SDM 3C 28.2.2). Walkers
 * mask it to MAXPHYADDR on their hot path themselves.
 */
export function entryAddress(lo: number, hi: number): number {
  return (hi & 0xfffff) * TWO_32 + ((lo & 0xffff_f000) >>> 0);
}

/** The frame number (address / 4096) held by an entry: {@link entryAddress} >> 12. */
export function entryFrame(lo: number, hi: number): number {
  return (hi & 0xfffff) * 0x10_0000 + (lo >>> 12);
}

/** Bits 63:32 of a non-negative integer number (below 2^53). */
export function highHalf(value: number): number {
  // The literal, not TWO_32: a module constant is loaded at every use, and a constant power of two divides as a multiply.
  return Math.floor(value / 0x1_0000_0000) >>> 0;
}

/** Joins halves into a number; exact while the value is below 2^53. */
export function joinHalves(hi: number, lo: number): number {
  return (hi >>> 0) * TWO_32 + (lo >>> 0);
}

/** Splits a 64-bit bigint address into `[hi, lo]`. */
export function splitAddress(address: bigint): [number, number] {
  if (address < 0n || address > 0xffff_ffff_ffff_ffffn) {
    throw new MmuUsageError('bad-argument', `linear address must be an unsigned 64-bit value, got ${describeValue(address)}`);
  }
  return [Number(address >> 32n), Number(address & 0xffff_ffffn)];
}

/** Joins halves into a 64-bit bigint. */
export function addressToBigint(hi: number, lo: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/**
 * True when a linear address is canonical (SDM 3A 3.3.7.1, "Canonical
 * Addressing"): bits 63:47 (4-level) or 63:56 (5-level, LA57) all equal.
 */
export function isCanonical(hi: number, _lo: number, la57: boolean): boolean {
  const top = la57 ? 24 : 15; // bits 63:56 are hi bits 31:24; bits 63:47 are hi bits 31:15
  const ext = hi >> top; // arithmetic: all ones or all zeros when canonical
  return ext === 0 || ext === -1;
}

/**
 * Throws unless `hi` and `lo` are the unsigned 32-bit halves of a 64-bit
 * address. Kept tiny (the throw lives elsewhere) so it inlines into hot
 * paths; `typeof` first, since `>>>` on a bigint would throw a TypeError.
 */
export function checkHalves(hi: number, lo: number, what: string): void {
  if (typeof hi !== 'number' || typeof lo !== 'number' || hi >>> 0 !== hi || lo >>> 0 !== lo) badHalves(hi, lo, what);
}

function badHalves(hi: unknown, lo: unknown, what: string): never {
  throw new MmuUsageError('bad-argument', `${what} halves must be unsigned 32-bit integers, got hi ${describeValue(hi)}, lo ${describeValue(lo)}`);
}

/** Throws unless `value` is an integer address in [0, 2^53). */
export function checkAddress(value: number, what: string): void {
  // Kept tiny (the throw lives elsewhere) so it inlines into hot paths.
  if (!Number.isSafeInteger(value) || value < 0) badAddress(value, what);
}

function badAddress(value: number, what: string): never {
  throw new MmuUsageError('bad-argument', `${what} must be a non-negative safe integer, got ${describeValue(value)}`);
}
