/**
 * LVT entries (SDM 3A 11.5.1, Figure 11-8): which bits each entry has, and
 * the rules that decide how an entry's interrupt is signalled.
 */
import { DELIVERY_MODE, fieldMask } from '@hvsim/core';
import { LVT_FIELD, LVT_INDEX, LVT_OFFSETS } from './regs.js';

const VECTOR = fieldMask(LVT_FIELD.VECTOR);
const DELIVERY_MODE_BITS = fieldMask(LVT_FIELD.DELIVERY_MODE);
const POLARITY = fieldMask(LVT_FIELD.POLARITY);
const TRIGGER = fieldMask(LVT_FIELD.TRIGGER);
const MASK = fieldMask(LVT_FIELD.MASK);
const TIMER_MODE_BITS = fieldMask(LVT_FIELD.TIMER_MODE);
/** Delivery status (bit 12): read-only. */
export const LVT_STATUS_BITS = fieldMask(LVT_FIELD.DELIVERY_STATUS);
/** Remote IRR (bit 14, LINT entries): read-only. */
export const LVT_REMOTE_IRR = fieldMask(LVT_FIELD.REMOTE_IRR);
/** Mask (bit 16). */
export const LVT_MASK = MASK;

/** Software-writable bits of each LVT entry, indexed by LVT_INDEX. */
export const LVT_WRITABLE: readonly number[] = [
  VECTOR | DELIVERY_MODE_BITS | MASK, // CMCI
  VECTOR | MASK | TIMER_MODE_BITS, // timer
  VECTOR | DELIVERY_MODE_BITS | MASK, // thermal
  VECTOR | DELIVERY_MODE_BITS | MASK, // performance counters
  VECTOR | DELIVERY_MODE_BITS | POLARITY | TRIGGER | MASK, // LINT0
  VECTOR | DELIVERY_MODE_BITS | POLARITY | TRIGGER | MASK, // LINT1
  VECTOR | MASK, // error
];

/** Bits of each entry that are read-only rather than reserved (status; remote IRR on LINT). */
export const LVT_READ_ONLY: readonly number[] = [
  LVT_STATUS_BITS,
  LVT_STATUS_BITS,
  LVT_STATUS_BITS,
  LVT_STATUS_BITS,
  LVT_STATUS_BITS | LVT_REMOTE_IRR,
  LVT_STATUS_BITS | LVT_REMOTE_IRR,
  LVT_STATUS_BITS,
];

/** Delivery mode of an entry: timer and error are always fixed (SDM 3A 11.5.1). */
export function lvtDeliveryMode(index: number, entry: number): number {
  if (index === LVT_INDEX.TIMER || index === LVT_INDEX.ERROR) return DELIVERY_MODE.FIXED;
  return (entry >>> 8) & 7;
}

/** LVT delivery modes 001b, 011b and 110b are reserved (SDM 3A 11.5.1): such an entry signals nothing. */
export function isReservedLvtDeliveryMode(mode: number): boolean {
  return mode === 1 || mode === 3 || mode === 6;
}

/**
 * True when an entry's interrupt is level-triggered: only LINT0/LINT1 in fixed
 * mode with the trigger bit set (SDM 3A 11.5.1: NMI, SMI and INIT are always
 * edge; ExtINT always level but is not held in IRR; timer and error are edge).
 */
export function lvtIsLevel(index: number, entry: number): boolean {
  return (index === LVT_INDEX.LINT0 || index === LVT_INDEX.LINT1) && ((entry >>> 8) & 7) === DELIVERY_MODE.FIXED && (entry & TRIGGER) !== 0;
}

/** LINT input polarity: bit 13 set = active low. */
export function lvtActiveLow(entry: number): boolean {
  return (entry & POLARITY) !== 0;
}

/** LVT index of each register (offset >> 4), or -1 for registers that are not LVT entries. */
const LVT_BY_REGISTER = new Int8Array(64).fill(-1);
LVT_OFFSETS.forEach((offset, index) => {
  LVT_BY_REGISTER[offset >>> 4] = index;
});

/** The LVT_INDEX of the register at xAPIC `offset` (a multiple of 16 below 0x400), or -1 when it is not an LVT entry. */
export function lvtIndexOf(offset: number): number {
  return LVT_BY_REGISTER[offset >>> 4]!;
}
