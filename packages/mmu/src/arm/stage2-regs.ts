/**
 * VMSAv8-64 stage 2 formats for the 4 KiB granule (Arm ARM D8, "The AArch64
 * Virtual Memory System Architecture": D8.1 translation controls, D8.3
 * translation table descriptor formats, D8.4 memory access control, D8.5
 * memory region attributes), the VTCR_EL2/VTTBR_EL2 fields a walk uses
 * (D19/D23 system register descriptions) and the fault status codes of
 * ESR_ELx.ISS (DFSC/IFSC).
 */
import { bitFlag, bitRange } from '@hvsim/core';

/** VTCR_EL2 fields. */
export const VTCR_EL2 = {
  /** Size offset: the IPA space is 2^(64 - T0SZ) bytes. */
  T0SZ: bitRange(5, 0),
  /** Starting level (4 KiB granule: 0 -> level 2, 1 -> level 1, 2 -> level 0). */
  SL0: bitRange(7, 6),
  /** Inner cacheability of stage 2 table walks. */
  IRGN0: bitRange(9, 8),
  /** Outer cacheability of stage 2 table walks. */
  ORGN0: bitRange(11, 10),
  /** Shareability of stage 2 table walks. */
  SH0: bitRange(13, 12),
  /** Granule: 0b00 4 KiB, 0b01 64 KiB, 0b10 16 KiB. */
  TG0: bitRange(15, 14),
  /** Physical (output) address size: 0 32, 1 36, 2 40, 3 42, 4 44, 5 48, 6 52 bits. */
  PS: bitRange(18, 16),
  /** 16-bit VMID. */
  VS: bitFlag(19),
  /** Hardware management of the Access flag. */
  HA: bitFlag(21),
  /** Hardware management of dirty state. */
  HD: bitFlag(22),
} as const;

/** VTTBR_EL2 fields. */
export const VTTBR_EL2 = {
  /** Common not private: the tables are shared by the PEs of the domain (no effect here). */
  CNP: bitFlag(0),
  /** Translation table base address, bits 47:1 (the low bits are 0 by alignment). */
  BADDR: bitRange(47, 1),
  /** VMID, bits 63:48 (bits 55:48 with 8-bit VMIDs): tags the stage 1 + stage 2 TLB entries. */
  VMID: bitRange(63, 48),
} as const;

/** Output address sizes by VTCR_EL2.PS. */
export const PS_BITS: readonly number[] = [32, 36, 40, 42, 44, 48, 52];

/** Stage 2 descriptor fields (4 KiB granule). */
export const S2_DESCRIPTOR = {
  /** Valid: 0 makes the descriptor fault (Translation fault). */
  VALID: bitFlag(0),
  /** 1: table (levels 0-2) or page (level 3); 0: block (levels 1-2). */
  TABLE_OR_PAGE: bitFlag(1),
  /** Stage 2 memory attributes. */
  MEMATTR: bitRange(5, 2),
  /** Stage 2 access permissions: bit 6 read, bit 7 write. */
  S2AP: bitRange(7, 6),
  /** Shareability of a block or page. */
  SH: bitRange(9, 8),
  /** Access flag. */
  AF: bitFlag(10),
  /** Next-level table or output address, bits 47:12. */
  ADDRESS: bitRange(47, 12),
  /** Dirty bit modifier. */
  DBM: bitFlag(51),
  /** Contiguous hint: one of a run of adjacent entries with the same output. */
  CONTIGUOUS: bitFlag(52),
  /** Execute-never: bit 54 (bits 54:53 with FEAT_XNX). */
  XN: bitRange(54, 53),
} as const;

/** Hot-path masks of the descriptor's low half. */
export const S2_LO = {
  /** `0x1` */
  VALID: 0x1,
  /** `0x2` */
  TABLE: 0x2,
  /** `0x40` */
  S2AP_READ: 0x40,
  /** `0x80` */
  S2AP_WRITE: 0x80,
  /** `0x400` */
  AF: 0x400,
  /** `0xfffff000` */
  ADDRESS: 0xffff_f000,
} as const;

/** Fault status codes (ESR_ELx.ISS DFSC/IFSC bits 5:0); add the level (0-3). */
export const S2_FAULT_STATUS = {
  /** Address size fault: an IPA beyond the configured size, or an output address beyond PS. Add the level. */
  ADDRESS_SIZE: 0b000000,
  /** Translation fault: an invalid descriptor or an IPA outside the input range. Add the level. */
  TRANSLATION: 0b000100,
  /** Access flag fault: AF = 0 without hardware update. Add the level. */
  ACCESS_FLAG: 0b001000,
  /** Permission fault: S2AP or XN forbids the access. Add the level. */
  PERMISSION: 0b001100,
  /** Synchronous External abort on a translation table walk or hardware update (add the level). */
  EXTERNAL_ON_WALK: 0b010100,
} as const;

/**
 * The access a `Stage2Walker.walk` checks, as flags: one of READ, WRITE,
 * EXECUTE, plus EL0 (FEAT_XNX execute permission) and S1PTW (the access is
 * a stage 1 table walk, reported in ESR ISS.S1PTW). READ, WRITE and EXECUTE
 * follow the stage 2 permission model (S2AP read bit 6, write bit 7, XN):
 * unlike x86 a read is a flag of its own (an IPA may be neither readable
 * nor writable), so 0 is not a valid access (Arm ARM D8.4).
 */
export const S2_ACCESS = {
  /** `0x1` */
  READ: 0x1,
  /** `0x2` */
  WRITE: 0x2,
  /** `0x4` */
  EXECUTE: 0x4,
  /** The access is from EL0 (for FEAT_XNX execute permissions). Value `0x8`. */
  EL0: 0x8,
  /** The access is a stage 1 translation table walk (ESR ISS.S1PTW). Value `0x10`. */
  S1PTW: 0x10,
} as const;

/** ISS bits of a data/instruction abort taken to EL2 that a stage 2 walk fills. */
export const S2_ISS = {
  /** Write not Read. Value `0x40`. */
  WNR: 0x40,
  /** Stage 2 fault on a stage 1 translation table walk. Value `0x80`. */
  S1PTW: 0x80,
} as const;
