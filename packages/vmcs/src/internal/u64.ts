/**
 * A 64-bit register operand (VMWRITE's source, WRMSR's EDX:EAX) as two
 * 32-bit halves. Shared by the instruction and guest-event paths; not
 * exported from the package.
 */
import type { U64Halves } from '@hvsim/core';
import { vmxUsageError } from '../errors.js';

/**
 * Splits `value` into `out`: a number must be a non-negative safe integer
 * (else a UsageError naming `what` and the value); a bigint is taken modulo 2^64,
 * as a 64-bit register holds it. Allocates nothing for numbers.
 */
export function u64Halves(value: number | bigint, what: string, out: U64Halves): U64Halves {
  if (typeof value === 'number') {
    if (value >>> 0 === value) {
      out.lo = value;
      out.hi = 0;
      return out;
    }
    if (!Number.isSafeInteger(value) || value < 0) throw vmxUsageError('bad-argument', `${what} must be a non-negative safe integer or a bigint, got ${String(value)}`);
    out.lo = value >>> 0;
    out.hi = Math.floor(value / 0x1_0000_0000);
    return out;
  }
  const v = BigInt.asUintN(64, value);
  out.lo = Number(v & 0xffff_ffffn);
  out.hi = Number(v >> 32n);
  return out;
}
