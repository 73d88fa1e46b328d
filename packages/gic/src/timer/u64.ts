/**
 * Unsigned 64-bit arithmetic on 32-bit halves held in numbers, for the
 * counter, CVAL and CNTVOFF arithmetic of the generic timer (Arm ARM D11.2:
 * the counter and the compare values are 64-bit, and the virtual count is
 * the physical count minus CNTVOFF_EL2 modulo 2^64). Hot paths use these
 * instead of bigint; results go into a caller-owned {@link U64}, so nothing
 * allocates.
 */

/** A 64-bit value as unsigned 32-bit halves. */
export interface U64 {
  lo: number;
  hi: number;
}

/** 2^32. */
export const TWO_32 = 4294967296;

/** Largest `hi` half of a value below 2^53 (a safe integer). */
const SAFE_HI = 0x1f_ffff;

/** `out` = `value` (a non-negative safe integer) split into halves. */
export function fromNumber(value: number, out: U64): U64 {
  const hi = Math.floor(value / TWO_32);
  out.hi = hi;
  out.lo = value - hi * TWO_32;
  return out;
}

/** The value of `hi:lo` as a number, or -1 when it is 2^53 or more. */
export function toSafeNumber(lo: number, hi: number): number {
  return hi > SAFE_HI ? -1 : hi * TWO_32 + lo;
}

/** `out` = (a + b) mod 2^64. */
export function add64(aLo: number, aHi: number, bLo: number, bHi: number, out: U64): U64 {
  let lo = aLo + bLo;
  let carry = 0;
  if (lo >= TWO_32) {
    lo -= TWO_32;
    carry = 1;
  }
  out.lo = lo;
  out.hi = (aHi + bHi + carry) >>> 0;
  return out;
}

/** `out` = (a - b) mod 2^64. */
export function sub64(aLo: number, aHi: number, bLo: number, bHi: number, out: U64): U64 {
  let lo = aLo - bLo;
  let borrow = 0;
  if (lo < 0) {
    lo += TWO_32;
    borrow = 1;
  }
  out.lo = lo;
  out.hi = (aHi - bHi - borrow) >>> 0;
  return out;
}

/** True when a >= b as unsigned 64-bit values. */
export function geU64(aLo: number, aHi: number, bLo: number, bHi: number): boolean {
  return aHi > bHi || (aHi === bHi && aLo >= bLo);
}

/** The halves of a 64-bit bigint. */
export function fromBigint(value: bigint, out: U64): U64 {
  out.lo = Number(value & 0xffff_ffffn);
  out.hi = Number((value >> 32n) & 0xffff_ffffn);
  return out;
}

/** `hi:lo` as a bigint. */
export function toBigint(lo: number, hi: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * floor(x / y) for non-negative safe integers, exact: the double division
 * can round across an integer when x is near 2^53, so the quotient is
 * corrected with exact products.
 */
export function floorDiv(x: number, y: number): number {
  let q = Math.floor(x / y);
  if (q * y > x) q--;
  else if ((q + 1) * y <= x) q++;
  return q;
}
