/**
 * Invalidation descriptors (VT-d 6.5.2 "Queued Invalidation"), 128 bits read
 * as four 32-bit words. Fields are word-relative; every bit not named is
 * reserved and checked.
 */
import { bitFlag, bitRange } from '@hvsim/core';

/** Descriptor types (bits 3:0, with bits 11:9 as type bits 6:4). */
export const DESCRIPTOR_TYPE = {
  CONTEXT_CACHE: 1,
  IOTLB: 2,
  DEVICE_TLB: 3,
  INTERRUPT_ENTRY_CACHE: 4,
  INVALIDATION_WAIT: 5,
  PASID_IOTLB: 6,
  PASID_CACHE: 7,
  PASID_DEVICE_TLB: 8,
} as const;

/** Size of a 128-bit descriptor. */
export const DESCRIPTOR_SIZE = 16;

/** Descriptor type of word 0. */
export function descriptorType(w0: number): number {
  return (w0 & 0xf) | ((w0 >>> 5) & 0x70);
}

/** Context-cache invalidate descriptor (VT-d 6.5.2.1). */
export const CC_DSC = {
  G: bitRange(5, 4),
  DID: bitRange(31, 16),
  /** Word 1. */
  SID: bitRange(15, 0),
  FM: bitRange(17, 16),
  RESERVED_W0: 0x0000_f1c0,
  RESERVED_W1: 0xfffc_0000,
} as const;

/** IOTLB invalidate descriptor (VT-d 6.5.2.3). */
export const IOTLB_DSC = {
  G: bitRange(5, 4),
  DW: bitFlag(6),
  DR: bitFlag(7),
  DID: bitRange(31, 16),
  RESERVED_W0: 0x0000_f100,
  /** Word 2: AM 5:0, IH 6, ADDR 31:12 (bits 11:7 reserved); word 3: ADDR 63:32. */
  AM: bitRange(5, 0),
  IH: bitFlag(6),
  RESERVED_W2: 0x0000_0f80,
} as const;

/** Interrupt entry cache invalidate descriptor (VT-d 6.5.2.4). */
export const IEC_DSC = {
  /** 0 global, 1 index-selective. */
  G: bitFlag(4),
  IM: bitRange(31, 27),
  RESERVED_W0: 0x07ff_f1e0,
  /** Word 1. */
  IIDX: bitRange(15, 0),
  RESERVED_W1: 0xffff_0000,
} as const;

/** Invalidation wait descriptor (VT-d 6.5.2.8). */
export const WAIT_DSC = {
  IF: bitFlag(4),
  SW: bitFlag(5),
  FN: bitFlag(6),
  PD: bitFlag(7),
  RESERVED_W0: 0xffff_f100,
  /** Word 1: status data. Word 2 bits 1:0 reserved, status address 63:2. */
  RESERVED_W2: 0x0000_0003,
} as const;

/** Type bits 6:4 (word 0 bits 11:9): must be 0 for the 128-bit legacy descriptors. */
export const TYPE_HIGH_BITS = 0x0000_0e00;
