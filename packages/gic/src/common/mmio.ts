/**
 * Access-size rules for GIC register frames (IHI0048B 4.1.4, IHI0069 12.1.3):
 * every register supports 32-bit accesses, the byte-per-interrupt arrays also
 * byte accesses, 64-bit registers 64-bit accesses. Other sizes are
 * UNPREDICTABLE; this model answers them as a GIC-500/GIC-400 interconnect
 * does, with a slave error, which the PE takes as a synchronous external
 * abort: a {@link CpuException} with the Data Abort class and DFSC 0x10.
 */
import { ARM64_EXCEPTION_CLASS, CpuException, UsageError, describeValue } from '@hvsim/core';

/** DFSC for a synchronous external abort (Arm ARM D17.2.40 ESR_ELx ISS). */
export const DFSC_EXTERNAL_ABORT = 0x10;

/** The abort an unsupported access raises. */
export function accessAbort(frame: string, offset: number, size: number, write: boolean): CpuException {
  return new CpuException(ARM64_EXCEPTION_CLASS.DATA_ABORT_LOWER, {
    arch: 'arm64',
    errorCode: DFSC_EXTERNAL_ABORT,
    faultAddress: offset,
    detail: `${size}-byte ${write ? 'write to' : 'read of'} ${frame} offset 0x${offset.toString(16)} is not a supported access`,
  });
}

/** Throws the abort unless the access is a naturally aligned 32-bit access. */
export function requireWord(frame: string, offset: number, size: number, write: boolean): void {
  if (size !== 4 || (offset & 3) !== 0) throw accessAbort(frame, offset, size, write);
}

/** Throws the abort unless the access is byte-sized or an aligned word (byte-accessible arrays). */
export function requireByteOrWord(frame: string, offset: number, size: number, write: boolean): void {
  if (size === 1) return;
  requireWord(frame, offset, size, write);
}

/** Access rule of a register array: byte-per-interrupt arrays take bytes or words, the others words only. */
export function requireArraySize(frame: string, bitsPerIrq: number, offset: number, size: number, write: boolean): void {
  if (bitsPerIrq === 8) requireByteOrWord(frame, offset, size, write);
  else requireWord(frame, offset, size, write);
}

/**
 * Host misuse of an MMIO entry point: an offset or value of the wrong type (a
 * bigint where the bus passes numbers, or the reverse for 64-bit accesses),
 * a negative or fractional offset. Callers test the types inline and call
 * this only when a test fails, so the check costs nothing measurable.
 */
export function badMmioArguments(frame: string, offset: unknown, value?: unknown, value64 = false): never {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) {
    throw new UsageError('bad-argument', `${frame} offset must be a non-negative integer number, got ${describeValue(offset)}`);
  }
  throw new UsageError('bad-argument', `${frame} ${value64 ? '64-bit write value must be a bigint' : 'write value must be a number'}, got ${describeValue(value)}`);
}
