/**
 * The x86 MSI address/data format: the compatibility format the local APICs
 * decode (SDM 3A 11.11.1-11.11.2) and the remappable format an interrupt-
 * remapping IOMMU decodes (VT-d 5.1.2.2). Pure functions over numbers, no
 * allocation except the decoded object.
 */
import { UsageError, assertInteger, assertU32, bitFlag, bitRange, describeValue, getField } from '@hvsim/core';

/** Fields of the compatibility-format MSI address (SDM 3A 11.11.1, Figure 11-24). */
export const MSI_ADDRESS_FIELD = {
  /** Must be 0xFEE. */
  BASE: bitRange(31, 20),
  /** Bits 19:12: destination ID (APIC ID or logical destination). */
  DESTINATION_ID: bitRange(19, 12),
  /** Non-architectural extended destination ID (destination bits 14:8) used by KVM/Hyper-V guests. */
  EXTENDED_DESTINATION_ID: bitRange(11, 5),
  /** Interrupt format: 0 compatibility, 1 remappable (VT-d 5.1.2). */
  INTERRUPT_FORMAT: bitFlag(4),
  /** Bit 3, RH: redirection hint (lowest priority among the destinations). */
  REDIRECTION_HINT: bitFlag(3),
  /** Bit 2, DM: destination mode (0 physical, 1 logical). */
  DESTINATION_MODE: bitFlag(2),
} as const;

/** Fields of the remappable-format MSI address (VT-d 5.1.2.2, Figure 5-15). */
export const REMAPPABLE_MSI_ADDRESS_FIELD = {
  /** Bits 19:5: interrupt handle bits 14:0. */
  HANDLE_LOW: bitRange(19, 5),
  /** Bit 4: interrupt format, 1 for remappable. */
  INTERRUPT_FORMAT: bitFlag(4),
  /** Bit 3, SHV: sub-handle valid (data bits 15:0 are added to the handle). */
  SHV: bitFlag(3),
  /** Bit 2: interrupt handle bit 15. */
  HANDLE_15: bitFlag(2),
} as const;

/** Fields of the MSI data register (SDM 3A 11.11.2, Figure 11-25). */
export const MSI_DATA_FIELD = {
  /** Bits 7:0: vector. */
  VECTOR: bitRange(7, 0),
  /** Bits 10:8: delivery mode (000 fixed, 001 lowest priority, 010 SMI, 100 NMI, 101 INIT, 111 ExtINT). */
  DELIVERY_MODE: bitRange(10, 8),
  /** Bit 14: level for level-triggered messages (1 assert). */
  LEVEL: bitFlag(14),
  /** Bit 15: trigger mode (0 edge, 1 level). */
  TRIGGER: bitFlag(15),
  /** Remappable format with SHV = 1: the sub-handle (VT-d 5.1.2.2). */
  SUBHANDLE: bitRange(15, 0),
} as const;

/** 0xFEE00000: the base of the MSI address window. */
export const MSI_ADDRESS_BASE = 0xfee0_0000;
/** Last byte of the MSI address window. */
export const MSI_ADDRESS_LAST = 0xfeef_ffff;

/** A compatibility-format MSI, decoded. */
export interface MsiMessage {
  /** APIC ID (physical) or logical destination (logical); 8 bits, or 15 with the extended destination ID. */
  destinationId: number;
  /** DM, address bit 2: physical APIC ID or logical destination. */
  destinationMode: 'physical' | 'logical';
  /** RH: the message may be redirected to the lowest-priority processor of the destination set. */
  redirectionHint: boolean;
  /** Interrupt vector, data bits 7:0. */
  vector: number;
  /** Delivery mode as in the ICR (0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT). */
  deliveryMode: number;
  /** Trigger mode, data bit 15. */
  trigger: 'edge' | 'level';
  /** Level for level-triggered messages (assert = true). */
  level: boolean;
}

/** Options of {@link decodeMsi} and {@link encodeMsi}. */
export interface MsiFormatOptions {
  /**
   * Use address bits 11:5 as destination ID bits 14:8 (the paravirtual
   * "extended destination ID" of KVM and Hyper-V; not architectural, off by
   * default: then bits 11:5 are reserved and ignored).
   */
  extendedDestinationId?: boolean;
}

/** True when `address` is in the MSI window 0xFEE00000-0xFEEFFFFF (SDM 3A 11.11.1). */
export function isMsiAddress(address: number): boolean {
  return address >= MSI_ADDRESS_BASE && address <= MSI_ADDRESS_LAST && Number.isInteger(address);
}

/** True when the MSI address has Interrupt Format (bit 4) set: the remappable format (VT-d 5.1.2.2). */
export function isRemappableMsi(address: number): boolean {
  return (address & 0x10) !== 0;
}

function checkMsiAddress(address: number): void {
  if (!isMsiAddress(address)) {
    throw new UsageError('bad-argument', `MSI address must be in [0xfee00000, 0xfeefffff], got ${describeValue(address)}`);
  }
}

/**
 * Decodes a compatibility-format MSI (SDM 3A 11.11). Address bit 4 (the
 * interrupt format) is not checked: callers with an IOMMU test
 * {@link isRemappableMsi} first. Data bits 13:11 and 31:16 are reserved and
 * ignored.
 */
export function decodeMsi(address: number, data: number, options?: MsiFormatOptions): MsiMessage {
  checkMsiAddress(address);
  assertU32(data, 'MSI data');
  let destinationId = getField(address, MSI_ADDRESS_FIELD.DESTINATION_ID);
  if (options?.extendedDestinationId === true) destinationId |= getField(address, MSI_ADDRESS_FIELD.EXTENDED_DESTINATION_ID) << 8;
  return {
    destinationId,
    destinationMode: (address & 0x4) !== 0 ? 'logical' : 'physical',
    redirectionHint: (address & 0x8) !== 0,
    vector: getField(data, MSI_DATA_FIELD.VECTOR),
    deliveryMode: getField(data, MSI_DATA_FIELD.DELIVERY_MODE),
    trigger: (data & 0x8000) !== 0 ? 'level' : 'edge',
    level: (data & 0x4000) !== 0,
  };
}

/** Encodes a compatibility-format MSI (SDM 3A 11.11): the address low dword and the data. */
export function encodeMsi(msg: MsiMessage, options?: MsiFormatOptions): {
  /** Message address (0xFEExxxxx). */
  address: number;
  /** Message data. */
  data: number;
} {
  const maxDest = options?.extendedDestinationId === true ? 0x7fff : 0xff;
  assertInteger(msg.destinationId, 'MSI destinationId', 0, maxDest);
  assertInteger(msg.vector, 'MSI vector', 0, 255);
  assertInteger(msg.deliveryMode, 'MSI deliveryMode', 0, 7);
  const mode: unknown = msg.destinationMode;
  const trigger: unknown = msg.trigger;
  if (mode !== 'physical' && mode !== 'logical') {
    throw new UsageError('bad-argument', `MSI destinationMode must be 'physical' or 'logical', got ${describeValue(msg.destinationMode)}`);
  }
  if (trigger !== 'edge' && trigger !== 'level') {
    throw new UsageError('bad-argument', `MSI trigger must be 'edge' or 'level', got ${describeValue(msg.trigger)}`);
  }
  const address =
    (MSI_ADDRESS_BASE |
      ((msg.destinationId & 0xff) << 12) |
      ((msg.destinationId >>> 8) << 5) |
      (msg.redirectionHint ? 0x8 : 0) |
      (msg.destinationMode === 'logical' ? 0x4 : 0)) >>>
    0;
  const data = (msg.vector | (msg.deliveryMode << 8) | (msg.level ? 0x4000 : 0) | (msg.trigger === 'level' ? 0x8000 : 0)) >>> 0;
  return { address, data };
}

/** A remappable-format MSI, decoded (VT-d 5.1.2.2). */
export interface RemappableMsi {
  /** Interrupt handle, 16 bits: address[19:5] with address[2] as bit 15. */
  handle: number;
  /** Sub-handle valid (address bit 3). */
  shv: boolean;
  /** data[15:0]; meaningful only when `shv`. */
  subhandle: number;
}

/**
 * Interrupt handle of a remappable-format MSI address (VT-d 5.1.2.2):
 * address[19:5] with address[2] as bit 15. Allocates nothing and checks
 * nothing, for remapping hardware's hot path.
 */
export function remappableMsiHandle(address: number): number {
  return getField(address, REMAPPABLE_MSI_ADDRESS_FIELD.HANDLE_LOW) | (((address >>> 2) & 1) << 15);
}

/** Decodes a remappable-format MSI (VT-d 5.1.2.2). Data bits 31:16 are returned to the caller to check (fault 0x20 when SHV and non-zero). */
export function decodeRemappableMsi(address: number, data: number): RemappableMsi {
  checkMsiAddress(address);
  assertU32(data, 'MSI data');
  return {
    handle: remappableMsiHandle(address),
    shv: (address & 0x8) !== 0,
    subhandle: data & 0xffff,
  };
}

/** Encodes a remappable-format MSI (VT-d 5.1.2.2): format bit set; data = sub-handle when SHV, else 0. */
export function encodeRemappableMsi(msi: RemappableMsi): {
  /** Message address in the remappable format (0xFEExxxxx, bit 4 set). */
  address: number;
  /** Message data: the sub-handle in bits 15:0 when SHV is set, else 0. */
  data: number;
} {
  assertInteger(msi.handle, 'remappable MSI handle', 0, 0xffff);
  assertInteger(msi.subhandle, 'remappable MSI subhandle', 0, 0xffff);
  const address = (MSI_ADDRESS_BASE | ((msi.handle & 0x7fff) << 5) | 0x10 | (msi.shv ? 0x8 : 0) | ((msi.handle >>> 15) << 2)) >>> 0;
  return { address, data: msi.shv ? msi.subhandle : 0 };
}

/** Interrupt-remapping table index of a remappable MSI: handle + sub-handle when SHV (VT-d 5.1.2.2). */
export function remappableMsiIndex(msi: RemappableMsi): number {
  return msi.shv ? msi.handle + msi.subhandle : msi.handle;
}
