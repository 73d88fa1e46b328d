/**
 * The error an ioctl of this KVM returns: a typed error carrying the errno
 * name and number the real ioctl answers with (Linux's `-EINVAL`, ...).
 * Nothing is accepted half done: every call checks all of its input before
 * it changes anything.
 */
import { HvsimError } from '@hvsim/core';

/** The errnos KVM's ioctls return (asm-generic/errno-base.h, errno.h). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  ENOSYS: 38,
  EOPNOTSUPP: 95,
} as const;

/** The name of an errno (`'EINVAL'`...). */
export type ErrnoName = keyof typeof ERRNO;

/** A KVM ioctl failed: `kind` is the errno name, `errno` its number. */
export class KvmError extends HvsimError<ErrnoName> {
  /** The errno number (positive; the ioctl returned its negation). */
  readonly errno: number;

  constructor(kind: ErrnoName, message: string) {
    super(kind, `${kind}: ${message}`);
    this.errno = ERRNO[kind];
  }
}

/** Throws a {@link KvmError}. */
export function fail(kind: ErrnoName, message: string): never {
  throw new KvmError(kind, message);
}

/** `0x…` for messages. */
export function hex(value: number | bigint): string {
  return `0x${value.toString(16)}`;
}

/** An unsigned integer field of an ioctl argument, or EINVAL naming it. */
export function u32(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff) fail('EINVAL', `${name} must be a 32-bit unsigned integer, got ${String(value)}`);
  return value;
}

/** A 64-bit address field (below 2^53 in this model), or EINVAL naming it. */
export function u64(value: unknown, name: string): number {
  if (typeof value === 'bigint') {
    if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) fail('EINVAL', `${name} ${hex(value)} is not an address this model can hold (below 2^53)`);
    return Number(value);
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail('EINVAL', `${name} must be a non-negative integer below 2^53, got ${String(value)}`);
  return value;
}
