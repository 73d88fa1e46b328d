/**
 * Building and reading IOAPIC redirection-table entries (82093AA 3.2.4),
 * in the compatibility format and in the remappable format of VT-d 5.1.5.1
 * (bit 48 set, the interrupt-remapping table index in bits 63:49 and 11),
 * and the MSI an entry sends when the IOAPIC's output goes to an MSI target.
 */
import { DELIVERY_MODE, UsageError, assertInteger, describeValue, type TriggerMode } from '@hvsim/core';
import { isReservedMessageDeliveryMode } from '../bus/apic-message.js';

/** Fields of a compatibility-format redirection entry for {@link encodeRte}. */
export interface RteFields {
  /** Vector, 0x10-0xFE for fixed and lowest-priority entries. */
  vector: number;
  /** Delivery mode (DELIVERY_MODE numbering; default fixed). 3 and 6 are reserved. */
  deliveryMode?: number;
  /** Logical destination mode (default physical). */
  logical?: boolean;
  /** Active-low input (default active high). */
  activeLow?: boolean;
  /** Trigger mode (default edge). */
  trigger?: TriggerMode;
  /** Masked (default false). */
  masked?: boolean;
  /** 8-bit destination: an APIC ID (physical) or a logical destination (logical). */
  destination: number;
}

/** Fields of a remappable-format redirection entry (VT-d 5.1.5.1) for {@link encodeRemappableRte}. */
export interface RemappableRteFields {
  /** Interrupt-remapping table index, 0-0xFFFF. */
  index: number;
  /** Vector the IOAPIC matches EOIs against; the IRTE decides the delivered vector. */
  vector: number;
  /** Active-low input (default active high). */
  activeLow?: boolean;
  /** Trigger mode (default edge); must match the IRTE's. */
  trigger?: TriggerMode;
  /** Masked (default false). */
  masked?: boolean;
}

/** Bit 48 of an entry (bit 16 of the high dword): remappable format (VT-d 5.1.5.1). */
export const RTE_HIGH_REMAPPABLE = 1 << 16;

/** Encodes a compatibility-format entry as the [low, high] dwords written to IOREDTBLn (82093AA 3.2.4). */
export function encodeRte(fields: RteFields): [number, number] {
  const { vector, destination } = fields;
  const mode = fields.deliveryMode ?? DELIVERY_MODE.FIXED;
  assertInteger(vector, 'RTE vector', 0, 0xff);
  assertInteger(destination, 'RTE destination', 0, 0xff);
  assertInteger(mode, 'RTE delivery mode', 0, 7);
  if (isReservedMessageDeliveryMode(mode)) throw new UsageError('bad-argument', `RTE delivery mode ${mode} is reserved (82093AA 3.2.4)`);
  const low = vector | (mode << 8) | (fields.logical === true ? 1 << 11 : 0) | flags(fields.activeLow, fields.trigger, fields.masked);
  return [low >>> 0, (destination << 24) >>> 0];
}

/** Encodes a remappable-format entry (VT-d 5.1.5.1): index[14:0] in bits 63:49, index[15] in bit 11, format bit 48. */
export function encodeRemappableRte(fields: RemappableRteFields): [number, number] {
  const { index, vector } = fields;
  assertInteger(index, 'interrupt-remapping index', 0, 0xffff);
  assertInteger(vector, 'RTE vector', 0, 0xff);
  const low = vector | ((index >>> 15) << 11) | flags(fields.activeLow, fields.trigger, fields.masked);
  return [low >>> 0, (((index & 0x7fff) << 17) | RTE_HIGH_REMAPPABLE) >>> 0];
}

function flags(activeLow: boolean | undefined, trigger: unknown, masked: boolean | undefined): number {
  const t = trigger ?? 'edge';
  if (t !== 'edge' && t !== 'level') throw new UsageError('bad-argument', `RTE trigger must be 'edge' or 'level', got ${describeValue(t)}`);
  return (activeLow === true ? 1 << 13 : 0) | (t === 'level' ? 1 << 15 : 0) | (masked === true ? 1 << 16 : 0);
}

/**
 * The MSI address an entry sends (SDM 3A 11.11.1; VT-d 5.1.5.1 for the
 * remappable format: handle in address bits 19:5 and 2, SHV 0).
 */
export function rteMsiAddress(low: number, high: number): number {
  if ((high & RTE_HIGH_REMAPPABLE) !== 0) {
    const index = ((high >>> 17) & 0x7fff) | (((low >>> 11) & 1) << 15);
    return (0xfee0_0000 | ((index & 0x7fff) << 5) | 0x10 | ((index >>> 15) << 2)) >>> 0;
  }
  return (0xfee0_0000 | ((high >>> 24) << 12) | (((low >>> 11) & 1) << 2)) >>> 0;
}

/** The MSI data an entry sends: vector, delivery mode (000b in the remappable format), trigger, level asserted. */
export function rteMsiData(low: number, high: number): number {
  const level = (low & (1 << 15)) !== 0;
  const mode = (high & RTE_HIGH_REMAPPABLE) !== 0 ? 0 : (low >>> 8) & 7;
  return ((low & 0xff) | (mode << 8) | (level ? 0xc000 : 0)) >>> 0;
}
