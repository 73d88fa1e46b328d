/**
 * CAP_REG and ECAP_REG (VT-d 11.4.2 "Capability Register", 11.4.3 "Extended
 * Capability Register"): what this model implements, reported the way an OS
 * driver reads it before programming the unit.
 */
import { bitField, bitFlag, bitRange, joinU64, setField, type BitField } from '@hvsim/core';
import { VTD_FAULT_RECORDING_REGISTERS, VTD } from './regs.js';

/** CAP_REG fields, bit positions within the 64-bit register. */
export const CAP = {
  /** Bits 2:0, ND: number of domains supported (2^(4+2*ND)). */
  ND: bitRange(2, 0),
  /** Bit 3, AFL: advanced fault logging. */
  AFL: bitFlag(3),
  /** Bit 4, RWBF: required write-buffer flushing. */
  RWBF: bitFlag(4),
  /** Bit 5, PLMR: protected low-memory region. */
  PLMR: bitFlag(5),
  /** Bit 6, PHMR: protected high-memory region. */
  PHMR: bitFlag(6),
  /** Bit 7, CM: caching mode (not-present entries may be cached). */
  CM: bitFlag(7),
  /** Bits 12:8, SAGAW: supported adjusted guest address widths. */
  SAGAW: bitRange(12, 8),
  /** Bits 21:16, MGAW: maximum guest address width minus 1. */
  MGAW: bitRange(21, 16),
  /** Bit 22, ZLR: zero-length read. */
  ZLR: bitFlag(22),
  /** Bits 33:24, FRO: fault-recording register offset in 16-byte units. */
  FRO: bitRange(33, 24),
  /** Bits 37:34, SLLPS: second-level large page support (bit 0 2 MiB, bit 1 1 GiB). */
  SLLPS: bitRange(37, 34),
  /** Bit 39, PSI: page-selective invalidation. */
  PSI: bitFlag(39),
  /** Bits 47:40, NFR: number of fault-recording registers minus 1. */
  NFR: bitRange(47, 40),
  /** Bits 53:48, MAMV: maximum address mask value. */
  MAMV: bitRange(53, 48),
  /** Bit 54, DWD: write draining. */
  DWD: bitFlag(54),
  /** Bit 55, DRD: read draining. */
  DRD: bitFlag(55),
  /** Bit 56, FL1GP: first-level 1 GiB pages. */
  FL1GP: bitFlag(56),
  /** Bit 59, PI: posted interrupts. */
  PI: bitFlag(59),
  /** Bit 60, FL5LP: first-level 5-level paging. */
  FL5LP: bitFlag(60),
  /** Bit 62, ESIRTPS: SIRTP invalidates the interrupt entry cache. */
  ESIRTPS: bitFlag(62),
  /** Bit 63, ESRTPS: SRTP invalidates the context cache, PASID cache and IOTLB. */
  ESRTPS: bitFlag(63),
} as const;

/** ECAP_REG fields. */
export const ECAP = {
  /** Bit 0, C: page-walk coherency. */
  C: bitFlag(0),
  /** Bit 1, QI: queued invalidation. */
  QI: bitFlag(1),
  /** Bit 2, DT: device-TLB. */
  DT: bitFlag(2),
  /** Bit 3, IR: interrupt remapping. */
  IR: bitFlag(3),
  /** Bit 4, EIM: extended interrupt mode (x2APIC). */
  EIM: bitFlag(4),
  /** Bit 6, PT: pass-through. */
  PT: bitFlag(6),
  /** Bit 7, SC: snoop control. */
  SC: bitFlag(7),
  /** Bits 17:8, IRO: IOTLB register offset in 16-byte units. */
  IRO: bitRange(17, 8),
  /** Bits 23:20, MHMV: maximum handle mask value. */
  MHMV: bitRange(23, 20),
  /** Bit 43, SMTS: scalable-mode translation. */
  SMTS: bitFlag(43),
  /** Bit 52, ADMS: abort DMA mode. */
  ADMS: bitFlag(52),
} as const;

/** Number of domain-ID bits for CAP.ND = 6 (16-bit domain IDs). */
export const CAP_ND_VALUE = 6;
/** SAGAW: bit 1 = 39-bit 3-level, bit 2 = 48-bit 4-level second-level tables (VT-d 11.4.2). */
export const CAP_SAGAW_VALUE = 0b00110;
/** MGAW = 48 - 1: 48-bit input (guest) addresses. */
export const CAP_MGAW_VALUE = 47;
/** SLLPS: bit 0 = 2 MiB, bit 1 = 1 GiB second-level pages. */
export const CAP_SLLPS_VALUE = 0b0011;
/** MAMV: page-selective invalidation covers up to 2^18 pages (1 GiB). */
export const CAP_MAMV_VALUE = 18;
/** MHMV: interrupt-entry-cache invalidation index mask up to 2^15 entries. */
export const ECAP_MHMV_VALUE = 15;
/** Host address width (DMAR table HAW): 48 bits; address bits above are reserved in every entry. */
export const HOST_ADDRESS_WIDTH = 48;

/** Optional features of the modelled unit. */
export interface IommuFeatures {
  /** Posted interrupts, CAP.PI (default true). */
  postedInterrupts?: boolean;
  /** x2APIC (32-bit) destinations in IRTEs, ECAP.EIM (default true). */
  extendedInterruptMode?: boolean;
  /** Pass-through context entries (TT = 10b), ECAP.PT (default true). */
  passThrough?: boolean;
}

/** The features in force, all defaults applied. */
export interface ResolvedFeatures {
  /** Posted interrupts, CAP.PI. */
  postedInterrupts: boolean;
  /** x2APIC destinations in IRTEs, ECAP.EIM. */
  extendedInterruptMode: boolean;
  /** Pass-through context entries, ECAP.PT. */
  passThrough: boolean;
}

/** Applies the defaults to `features`. */
export function resolveFeatures(features: IommuFeatures = {}): ResolvedFeatures {
  return {
    postedInterrupts: features.postedInterrupts ?? true,
    extendedInterruptMode: features.extendedInterruptMode ?? true,
    passThrough: features.passThrough ?? true,
  };
}

/** Sets a field of a 64-bit value kept as 32-bit halves. */
function set64(halves: [number, number], f: BitField, value: number): void {
  if (f.lsb >= 32) {
    halves[1] = setField(halves[1], bitField(f.lsb - 32, f.width), value);
  } else if (f.lsb + f.width <= 32) {
    halves[0] = setField(halves[0], f, value);
  } else {
    const lowWidth = 32 - f.lsb;
    halves[0] = setField(halves[0], bitField(f.lsb, lowWidth), value);
    halves[1] = setField(halves[1], bitField(0, f.width - lowWidth), Math.floor(value / 2 ** lowWidth));
  }
}

/** CAP_REG as `[low dword, high dword]`. */
export function capabilityWords(features: ResolvedFeatures): [number, number] {
  const cap: [number, number] = [0, 0];
  set64(cap, CAP.ND, CAP_ND_VALUE);
  set64(cap, CAP.SAGAW, CAP_SAGAW_VALUE);
  set64(cap, CAP.MGAW, CAP_MGAW_VALUE);
  set64(cap, CAP.FRO, VTD.FRCD / 16);
  set64(cap, CAP.SLLPS, CAP_SLLPS_VALUE);
  set64(cap, CAP.PSI, 1);
  set64(cap, CAP.NFR, VTD_FAULT_RECORDING_REGISTERS - 1);
  set64(cap, CAP.MAMV, CAP_MAMV_VALUE);
  // Requests complete synchronously, so draining reads and writes is always done.
  set64(cap, CAP.DWD, 1);
  set64(cap, CAP.DRD, 1);
  if (features.postedInterrupts) set64(cap, CAP.PI, 1);
  return cap;
}

/** ECAP_REG as `[low dword, high dword]`. */
export function extendedCapabilityWords(features: ResolvedFeatures): [number, number] {
  const ecap: [number, number] = [0, 0];
  set64(ecap, ECAP.C, 1);
  set64(ecap, ECAP.QI, 1);
  set64(ecap, ECAP.IR, 1);
  if (features.extendedInterruptMode) set64(ecap, ECAP.EIM, 1);
  if (features.passThrough) set64(ecap, ECAP.PT, 1);
  set64(ecap, ECAP.IRO, VTD.IVA / 16);
  set64(ecap, ECAP.MHMV, ECAP_MHMV_VALUE);
  return ecap;
}

/** A 64-bit register kept as halves, as a bigint (API boundary). */
export function wordsToBigint(words: readonly [number, number]): bigint {
  return joinU64(words[0], words[1]);
}
