/**
 * What the vGIC devices (vGICv3, vITS) share: `struct kvm_device_attr`
 * (api.rst 4.80), VGIC_ADDR_UNDEF and the u64 an attribute's `addr` points to.
 */
import { fail } from '../generic/errors.js';

/** `struct kvm_device_attr` (api.rst 4.80): `attr` is 64-bit; `value` stands for what `addr` points to. */
export interface KvmDeviceAttr {
  group: number;
  attr: bigint | number;
  /** The u32 or u64 the attribute's `addr` points to (setAttr). */
  value?: bigint | number;
  flags?: number;
}

/** VGIC_ADDR_UNDEF: an address not yet set reads as all ones. */
export const VGIC_ADDR_UNDEF = 0xffff_ffff_ffff_ffffn;

/** The u64 an attribute's `addr` points to: EINVAL beyond 64 bits, EFAULT for something that is no integer. */
export function toBig(value: unknown, what: string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value >= 2n ** 64n) fail('EINVAL', `${what} ${String(value)} is not a 64-bit value`);
    return value;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  fail('EFAULT', `${what} must be a non-negative integer or bigint, got ${String(value)}`);
}
