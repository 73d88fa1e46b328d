/**
 * Bit-field descriptors and the helpers that read and write them, for 32-bit
 * and wider `number` values (up to 53 bits) and for 64-bit `bigint` values.
 * Register layouts are tables of these descriptors, so field logic lives in
 * one tested place instead of shifts and masks scattered through models.
 */
import { UsageError } from '../errors/hvsim-error.js';
import { describeValue } from '../errors/validate.js';
import type { U64Halves } from '../memory/memory.js';

/** A field of `width` bits starting at bit `lsb` (bit 0 is the least significant). */
export interface BitField {
  /** Bit position of the field's least significant bit (0-63). */
  readonly lsb: number;
  /** Number of bits in the field (1-64). */
  readonly width: number;
}

/**
 * Makes a field descriptor, checking it fits in 64 bits. Use the result with
 * {@link getField} (number, fields ending at or below bit 52) or
 * {@link getField64} (bigint).
 */
export function bitField(lsb: number, width: number): BitField {
  if (!Number.isInteger(lsb) || lsb < 0 || lsb > 63) {
    throw new UsageError('bad-argument', `bit field lsb must be an integer in [0, 63], got ${describeValue(lsb)}`);
  }
  if (!Number.isInteger(width) || width < 1 || lsb + width > 64) {
    throw new UsageError('bad-argument', `bit field width must be in [1, ${64 - lsb}] for lsb ${lsb}, got ${describeValue(width)}`);
  }
  return Object.freeze({ lsb, width });
}

/** A one-bit field at `bit`. */
export function bitFlag(bit: number): BitField {
  return bitField(bit, 1);
}

/** Field from the SDM's `[msb:lsb]` notation, e.g. `bitRange(15, 8)`. */
export function bitRange(msb: number, lsb: number): BitField {
  return bitField(lsb, msb - lsb + 1);
}

const TWO_32 = 0x1_0000_0000;

/** The unshifted mask of a field within 32 bits, as an unsigned number. */
export function fieldMask(f: BitField): number {
  if (f.lsb + f.width > 32) throw new UsageError('bad-argument', `field [${f.lsb + f.width - 1}:${f.lsb}] does not fit a 32-bit mask`);
  return f.width === 32 ? 0xffff_ffff : (((1 << f.width) - 1) << f.lsb) >>> 0;
}

/**
 * Reads a field of a non-negative integer `value`. Fields within bits 0..31
 * use shifts; wider fields (e.g. an address in bits 51:12 of a page-table
 * entry held as a number) use exact arithmetic, valid up to bit 52.
 */
export function getField(value: number, f: BitField): number {
  const end = f.lsb + f.width;
  if (end <= 32) {
    return f.width === 32 ? value >>> 0 : ((value >>> f.lsb) & ((1 << f.width) - 1)) >>> 0;
  }
  return Math.floor(value / 2 ** f.lsb) % 2 ** f.width;
}

/**
 * Returns `value` with field `f` replaced by `fieldValue` (truncated to the
 * field's width). For fields within bits 0..31 the result is an unsigned
 * 32-bit number; wider values must stay below 2^53.
 */
export function setField(value: number, f: BitField, fieldValue: number): number {
  const end = f.lsb + f.width;
  if (end <= 32) {
    const mask = f.width === 32 ? 0xffff_ffff : ((1 << f.width) - 1) << f.lsb;
    return ((value & ~mask) | ((fieldValue << f.lsb) & mask)) >>> 0;
  }
  const unit = 2 ** f.lsb;
  const span = 2 ** f.width;
  const old = Math.floor(value / unit) % span;
  const next = ((fieldValue % span) + span) % span;
  return value + (next - old) * unit;
}

/** True when the one-bit field (or any bit of a wider field) is set. */
export function testField(value: number, f: BitField): boolean {
  return getField(value, f) !== 0;
}

/** Reads a field of a 64-bit bigint value. */
export function getField64(value: bigint, f: BitField): bigint {
  return (value >> BigInt(f.lsb)) & ((1n << BigInt(f.width)) - 1n);
}

/** Returns `value` with field `f` of a 64-bit bigint replaced. */
export function setField64(value: bigint, f: BitField, fieldValue: bigint): bigint {
  const mask = ((1n << BigInt(f.width)) - 1n) << BigInt(f.lsb);
  return (value & ~mask) | ((fieldValue << BigInt(f.lsb)) & mask);
}

/** Mask of bits `[msb:lsb]` of a 64-bit value, as bigint. */
export function mask64(msb: number, lsb: number): bigint {
  return ((1n << BigInt(msb - lsb + 1)) - 1n) << BigInt(lsb);
}

/** Splits a 64-bit bigint into unsigned 32-bit halves (for hot paths). */
export function splitU64(value: bigint): U64Halves {
  return { lo: Number(value & 0xffff_ffffn), hi: Number((value >> 32n) & 0xffff_ffffn) };
}

/** Joins unsigned 32-bit halves into a 64-bit bigint. */
export function joinU64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Joins halves into a number; exact while `hi` < 2^21 (below 2^53). */
export function joinU53(lo: number, hi: number): number {
  return (hi >>> 0) * TWO_32 + (lo >>> 0);
}

/** Low 32 bits of a non-negative integer number below 2^53. */
export function lo32(value: number): number {
  return value >>> 0;
}

/** Bits 63:32 of a non-negative integer number below 2^53. */
export function hi32(value: number): number {
  return Math.floor(value / TWO_32) >>> 0;
}

/** Checks a bigint is an unsigned 64-bit value, naming it in the error. */
export function assertU64(value: unknown, what: string): asserts value is bigint {
  if (typeof value !== 'bigint' || value < 0n || value > 0xffff_ffff_ffff_ffffn) {
    throw new UsageError('bad-argument', `${what} must be an unsigned 64-bit bigint, got ${describeValue(value)}`);
  }
}
