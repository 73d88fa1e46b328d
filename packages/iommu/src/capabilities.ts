/**
 * CAP_REG and ECAP_REG (VT-d 11.4.2 "Capability Register", 11.4.3 "Extended
 * Capability Register"): what this model implements, reported the way an OS
 * driver reads it before programming the unit.
 */
import { bitField, bitFlag, bitRange, joinU64, setField, type BitField } from '@hvsim/core';
import { VTD_FAULT_RECORDING_REGISTERS, VTD } from './regs.js';

/** CAP_REG fields, bit positions within the 64-bit register. */
export const CAP = {
  ND: bitRange(2, 0),
  AFL: bitFlag(3),
  RWBF: bitFlag(4),
  PLMR: bitFlag(5),
  PHMR: bitFlag(6),
  CM: bitFlag(7),
  SAGAW: bitRange(12, 8),
  MGAW: bitRange(21, 16),
  ZLR: bitFlag(22),
  FRO: bitRange(33, 24),
  SLLPS: bitRange(37, 34),
  PSI: bitFlag(39),
  NFR: bitRange(47, 40),
  MAMV: bitRange(53, 48),
  DWD: bitFlag(54),
  DRD: bitFlag(55),
  FL1GP: bitFlag(56),
  PI: bitFlag(59),
  FL5LP: bitFlag(60),
  ESIRTPS: bitFlag(62),
  ESRTPS: bitFlag(63),
} as const;

/** ECAP_REG fields. */
export const ECAP = {
  C: bitFlag(0),
  QI: bitFlag(1),
  DT: bitFlag(2),
  IR: bitFlag(3),
  EIM: bitFlag(4),
  PT: bitFlag(6),
  SC: bitFlag(7),
  IRO: bitRange(17, 8),
  MHMV: bitRange(23, 20),
  SMTS: bitFlag(43),
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
  postedInterrupts: boolean;
  extendedInterruptMode: boolean;
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
