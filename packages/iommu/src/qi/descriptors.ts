/**
 * Invalidation descriptors (VT-d 6.5.2 "Queued Invalidation"), 128 bits read
 * as four 32-bit words. Fields are word-relative; every bit not named is
 * reserved and checked.
 */
import { UsageError, assertAddress, assertInteger, assertU32, bitFlag, bitRange, hi32, lo32, setField } from '@hvsim/core';

/** Descriptor types (bits 3:0, with bits 11:9 as type bits 6:4). */
export const DESCRIPTOR_TYPE = {
  /** 1: context-cache invalidate (VT-d 6.5.2.1). */
  CONTEXT_CACHE: 1,
  /** 2: IOTLB invalidate (VT-d 6.5.2.3). */
  IOTLB: 2,
  /** 3: device-TLB invalidate (VT-d 6.5.2.5). */
  DEVICE_TLB: 3,
  /** 4: interrupt entry cache invalidate (VT-d 6.5.2.7). */
  INTERRUPT_ENTRY_CACHE: 4,
  /** 5: invalidation wait (VT-d 6.5.2.8). */
  INVALIDATION_WAIT: 5,
  /** 6: PASID-based IOTLB invalidate (VT-d 6.5.2.4). */
  PASID_IOTLB: 6,
  /** 7: PASID-cache invalidate (VT-d 6.5.2.2). */
  PASID_CACHE: 7,
  /** 8: PASID-based device-TLB invalidate (VT-d 6.5.2.6). */
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
  /** Bits 5:4, G: granularity (1 global, 2 domain, 3 device). */
  G: bitRange(5, 4),
  /** Bits 31:16, DID: domain ID. */
  DID: bitRange(31, 16),
  /** Word 1. */
  SID: bitRange(15, 0),
  /** Word 1 bits 17:16 (bits 49:48), FM: function mask. */
  FM: bitRange(17, 16),
  /** `0x0000f1c0` */
  RESERVED_W0: 0x0000_f1c0,
  /** `0xfffc0000` */
  RESERVED_W1: 0xfffc_0000,
} as const;

/** IOTLB invalidate descriptor (VT-d 6.5.2.3). */
export const IOTLB_DSC = {
  /** Bits 5:4, G: granularity (1 global, 2 domain, 3 page). */
  G: bitRange(5, 4),
  /** Bit 6, DW: drain writes. */
  DW: bitFlag(6),
  /** Bit 7, DR: drain reads. */
  DR: bitFlag(7),
  /** Bits 31:16, DID: domain ID. */
  DID: bitRange(31, 16),
  /** `0x0000f100` */
  RESERVED_W0: 0x0000_f100,
  /** Word 2: AM 5:0, IH 6, ADDR 31:12 (bits 11:7 reserved); word 3: ADDR 63:32. */
  AM: bitRange(5, 0),
  /** Word 2 bit 6 (bit 70), IH: invalidation hint. */
  IH: bitFlag(6),
  /** `0x00000f80` */
  RESERVED_W2: 0x0000_0f80,
} as const;

/** Interrupt entry cache invalidate descriptor (VT-d 6.5.2.7). */
export const IEC_DSC = {
  /** 0 global, 1 index-selective. */
  G: bitFlag(4),
  /** Bits 31:27, IM: index mask, 2^IM entries from IIDX. */
  IM: bitRange(31, 27),
  /** `0x07fff1e0` */
  RESERVED_W0: 0x07ff_f1e0,
  /** Word 1. */
  IIDX: bitRange(15, 0),
  /** `0xffff0000` */
  RESERVED_W1: 0xffff_0000,
} as const;

/** Invalidation wait descriptor (VT-d 6.5.2.8). */
export const WAIT_DSC = {
  /** Bit 4, IF: raise an invalidation completion interrupt (ICS.IWC). */
  IF: bitFlag(4),
  /** Bit 5, SW: write the status data to the status address. */
  SW: bitFlag(5),
  /** Bit 6, FN: fence, later descriptors wait for this one. */
  FN: bitFlag(6),
  /** Bit 7, PD: page-request drain. */
  PD: bitFlag(7),
  /** `0xfffff100` */
  RESERVED_W0: 0xffff_f100,
  /** Word 1: status data. Word 2 bits 1:0 reserved, status address 63:2. Value `0x00000003`. */
  RESERVED_W2: 0x0000_0003,
} as const;

/** Type bits 6:4 (word 0 bits 11:9): must be 0 for the 128-bit legacy descriptors. */
export const TYPE_HIGH_BITS = 0x0000_0e00;

/** The four 32-bit words of a 128-bit descriptor (word 0 = bits 31:0), as software writes it into the queue. */
export type Descriptor128 = [w0: number, w1: number, w2: number, w3: number];

/** Context-cache invalidate descriptor (VT-d 6.5.2.1): granularity 1 global, 2 domain, 3 device (source ID with function mask). */
export function contextCacheInvalidateDescriptor(granularity: 1 | 2 | 3, did = 0, sid = 0, functionMask = 0): Descriptor128 {
  assertInteger(did, 'domain ID', 0, 0xffff);
  assertInteger(sid, 'source ID', 0, 0xffff);
  assertInteger(functionMask, 'function mask', 0, 3);
  const w0 = setField(setField(DESCRIPTOR_TYPE.CONTEXT_CACHE, CC_DSC.G, granularity), CC_DSC.DID, did);
  return [w0 >>> 0, setField(setField(0, CC_DSC.SID, sid), CC_DSC.FM, functionMask), 0, 0];
}

/** IOTLB invalidate descriptor (VT-d 6.5.2.3): granularity 1 global, 2 domain, 3 page-selective (2^addressMask pages at `address`). */
export function iotlbInvalidateDescriptor(granularity: 1 | 2 | 3, did = 0, address = 0, addressMask = 0): Descriptor128 {
  assertInteger(did, 'domain ID', 0, 0xffff);
  assertAddress(address, 'invalidation address');
  assertInteger(addressMask, 'address mask', 0, 63);
  const w0 = setField(setField(DESCRIPTOR_TYPE.IOTLB, IOTLB_DSC.G, granularity), IOTLB_DSC.DID, did);
  return [w0 >>> 0, 0, ((lo32(address) & 0xffff_f000) | addressMask) >>> 0, hi32(address)];
}

/** Interrupt entry cache invalidate descriptor (VT-d 6.5.2.7): global, or 2^indexMask entries at `index`. */
export function iecInvalidateDescriptor(global: boolean, index = 0, indexMask = 0): Descriptor128 {
  assertInteger(index, 'interrupt index', 0, 0xffff);
  assertInteger(indexMask, 'index mask', 0, 31);
  const w0 = setField(setField(DESCRIPTOR_TYPE.INTERRUPT_ENTRY_CACHE, IEC_DSC.G, global ? 0 : 1), IEC_DSC.IM, indexMask);
  return [w0 >>> 0, setField(0, IEC_DSC.IIDX, index), 0, 0];
}

/** Invalidation wait descriptor (VT-d 6.5.2.8): write `statusData` to `statusAddress` (when given) and/or raise the completion event (`interrupt`). */
export function invalidationWaitDescriptor(options: { statusAddress?: number; statusData?: number; interrupt?: boolean } = {}): Descriptor128 {
  const sw = options.statusAddress !== undefined;
  const address = options.statusAddress ?? 0;
  assertAddress(address, 'status address');
  if (address % 4 !== 0) throw new UsageError('bad-argument', `status address must be 4-byte aligned, got 0x${address.toString(16)}`);
  const data = options.statusData ?? 0;
  assertU32(data, 'status data');
  let w0 = setField(DESCRIPTOR_TYPE.INVALIDATION_WAIT, WAIT_DSC.IF, options.interrupt === true ? 1 : 0);
  w0 = setField(w0, WAIT_DSC.SW, sw ? 1 : 0);
  return [w0 >>> 0, data, lo32(address), hi32(address)];
}
