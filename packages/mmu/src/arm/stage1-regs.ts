/**
 * VMSAv8-64 stage 1 formats of the EL1&0 translation regime with the 4 KiB
 * granule (Arm ARM DDI 0487 D8: D8.1 translation controls, D8.2 translation
 * process, D8.3 descriptor formats, D8.4 memory access control, D8.15/D8.16
 * faults), the TCR_EL1, TTBR0_EL1/TTBR1_EL1 and SCTLR_EL1 fields a walk uses
 * (the register pages, D19/D23), and the fault status codes of
 * ESR_ELx.ISS.DFSC/IFSC shared with stage 2.
 */
import { bitFlag, bitRange } from '@hvsim/core';

/** TCR_EL1 fields (register page "TCR_EL1, Translation Control Register (EL1)"). */
export const TCR_EL1 = {
  /** Size offset of the TTBR0_EL1 region: 2^(64 - T0SZ) bytes. */
  T0SZ: bitRange(5, 0),
  /** 1: a TLB miss in the TTBR0_EL1 region is a Translation fault (no walk). */
  EPD0: bitFlag(7),
  /** Inner cacheability of TTBR0_EL1 table walks. */
  IRGN0: bitRange(9, 8),
  /** Outer cacheability of TTBR0_EL1 table walks. */
  ORGN0: bitRange(11, 10),
  /** Shareability of TTBR0_EL1 table walks. */
  SH0: bitRange(13, 12),
  /** TTBR0_EL1 granule: 0b00 4 KiB, 0b01 64 KiB, 0b10 16 KiB. */
  TG0: bitRange(15, 14),
  /** Size offset of the TTBR1_EL1 region. */
  T1SZ: bitRange(21, 16),
  /** 1: TTBR1_EL1.ASID is the current ASID; 0: TTBR0_EL1.ASID. */
  A1: bitFlag(22),
  /** 1: a TLB miss in the TTBR1_EL1 region is a Translation fault (no walk). */
  EPD1: bitFlag(23),
  /** Inner cacheability of TTBR1_EL1 table walks. */
  IRGN1: bitRange(25, 24),
  /** Outer cacheability of TTBR1_EL1 table walks. */
  ORGN1: bitRange(27, 26),
  /** Shareability of TTBR1_EL1 table walks. */
  SH1: bitRange(29, 28),
  /** TTBR1_EL1 granule: 0b10 4 KiB, 0b01 16 KiB, 0b11 64 KiB. */
  TG1: bitRange(31, 30),
  /** Intermediate physical (output) address size: 0 32, 1 36, 2 40, 3 42, 4 44, 5 48, 6 52 bits. */
  IPS: bitRange(34, 32),
  /** ASID size: 0 8 bits, 1 16 bits. */
  AS: bitFlag(36),
  /** Top Byte Ignored for the TTBR0_EL1 region. */
  TBI0: bitFlag(37),
  /** Top Byte Ignored for the TTBR1_EL1 region. */
  TBI1: bitFlag(38),
  /** Hardware update of the Access flag (FEAT_HAFDBS). */
  HA: bitFlag(39),
  /** Hardware update of dirty state through DBM (FEAT_HAFDBS, needs HA). */
  HD: bitFlag(40),
  /** Hierarchical permissions disabled for the TTBR0_EL1 region (FEAT_HPDS). */
  HPD0: bitFlag(41),
  /** Hierarchical permissions disabled for the TTBR1_EL1 region (FEAT_HPDS). */
  HPD1: bitFlag(42),
  /** TBI applies to data accesses only in the TTBR0_EL1 region (FEAT_PAuth). */
  TBID0: bitFlag(51),
  /** TBI applies to data accesses only in the TTBR1_EL1 region (FEAT_PAuth). */
  TBID1: bitFlag(52),
} as const;

/** TTBR0_EL1 / TTBR1_EL1 fields. */
export const TTBR_EL1 = {
  /** Common not Private. */
  CNP: bitFlag(0),
  /** Translation table base address, bits 47:1 (bits below the table size are treated as 0). */
  BADDR: bitRange(47, 1),
  /** ASID (bits 63:56 ignored and treated as 0 when TCR_EL1.AS = 0). */
  ASID: bitRange(63, 48),
} as const;

/** The SCTLR_EL1 bits a stage 1 walk uses. */
export const SCTLR_EL1 = {
  /** Stage 1 translation of the EL1&0 regime enabled. */
  M: bitFlag(0),
  /** Write permission implies execute-never (XN) at the same Exception level. */
  WXN: bitFlag(19),
} as const;

/** Stage 1 descriptor fields, 4 KiB granule (D8.3). */
export const S1_DESCRIPTOR = {
  /** Valid: 0 makes the descriptor fault (Translation fault). */
  VALID: bitFlag(0),
  /** 1: table (levels 0-2) or page (level 3); 0: block (levels 1-2). */
  TABLE_OR_PAGE: bitFlag(1),
  /** Index into MAIR_EL1. */
  ATTR_INDX: bitRange(4, 2),
  /** Non-secure output address (Secure state only; ignored here). */
  NS: bitFlag(5),
  /** AP[2:1]: bit 6 AP[1] (EL0 access), bit 7 AP[2] (read-only). */
  AP: bitRange(7, 6),
  /** Shareability of a block or page. */
  SH: bitRange(9, 8),
  /** Access flag. */
  AF: bitFlag(10),
  /** not Global: the translation is tagged with the current ASID. */
  NG: bitFlag(11),
  /** Next-level table or output address, bits 47:12. */
  ADDRESS: bitRange(47, 12),
  /** Dirty Bit Modifier (FEAT_HAFDBS). */
  DBM: bitFlag(51),
  /** Contiguous hint: one of a run of adjacent entries with the same output (a TLB may cache them as one). */
  CONTIGUOUS: bitFlag(52),
  /** Privileged execute-never. */
  PXN: bitFlag(53),
  /** Unprivileged execute-never. */
  UXN: bitFlag(54),
  /** Table descriptors: PXN for every later level. */
  PXN_TABLE: bitFlag(59),
  /** Table descriptors: UXN for every later level. */
  UXN_TABLE: bitFlag(60),
  /** Table descriptors: APTable[0] (no EL0 access) and APTable[1] (no write) for every later level. */
  AP_TABLE: bitRange(62, 61),
  /** Table descriptors: NS for every later level (Secure state only). */
  NS_TABLE: bitFlag(63),
} as const;

/** Hot-path masks of a stage 1 descriptor's bits 31:0. */
export const S1_LO = {
  /** `0x1` */
  VALID: 0x1,
  /** `0x2` */
  TABLE: 0x2,
  /** `0x1c` */
  ATTR_INDX: 0x1c,
  /** AP[1]: EL0 has data access. Value `0x40`. */
  AP_EL0: 0x40,
  /** AP[2]: read-only. Value `0x80`. */
  AP_RO: 0x80,
  /** `0x400` */
  AF: 0x400,
  /** `0x800` */
  NG: 0x800,
  /** `0xfffff000` */
  ADDRESS: 0xffff_f000,
} as const;

/** Hot-path masks of a stage 1 descriptor's bits 63:32. */
export const S1_HI = {
  /** Output address bits 47:32. Value `0xffff`. */
  ADDRESS: 0xffff,
  /** DBM, bit 51. Value `0x80000`. */
  DBM: 1 << 19,
  /** Contiguous hint, bit 52. Value `0x100000`. */
  CONTIGUOUS: 1 << 20,
  /** PXN, bit 53: no EL1 execution. Value `0x200000`. */
  PXN: 1 << 21,
  /** UXN (XN at EL0), bit 54: no EL0 execution. Value `0x400000`. */
  UXN: 1 << 22,
  /** PXNTable, bit 59: PXN at every later level. Value `0x8000000`. */
  PXN_TABLE: 1 << 27,
  /** UXNTable, bit 60: UXN at every later level. Value `0x10000000`. */
  UXN_TABLE: 1 << 28,
  /** APTable[0]: no EL0 access at later levels. */
  AP_TABLE_NO_EL0: 1 << 29,
  /** APTable[1]: no write access at later levels. */
  AP_TABLE_RO: 1 << 30,
} as const;

/** Permission bits of a stage 1 translation (`WalkResult.permissions`, Arm TLB entries). */
export const S1_PERM = {
  /** EL1 read. Value `0x1`. */
  PR: 0x1,
  /** EL1 write. Value `0x2`. */
  PW: 0x2,
  /** EL1 execute. Value `0x4`. */
  PX: 0x4,
  /** EL0 read. Value `0x8`. */
  UR: 0x8,
  /** EL0 write. Value `0x10`. */
  UW: 0x10,
  /** EL0 execute. Value `0x20`. */
  UX: 0x20,
} as const;

/**
 * Fault status codes of ESR_ELx.ISS.DFSC/IFSC (bits 5:0). Add the level
 * (0-3) to the first five; the others are single codes.
 */
export const ARM_FAULT_STATUS = {
  /** Address size fault: an output or table address beyond the configured size. Add the level. */
  ADDRESS_SIZE: 0b000000,
  /** Translation fault: an invalid descriptor, or a VA outside the TTBR ranges. Add the level. */
  TRANSLATION: 0b000100,
  /** Access flag fault: AF = 0 without hardware update. Add the level. */
  ACCESS_FLAG: 0b001000,
  /** Permission fault: the access is not allowed by the descriptor. Add the level. */
  PERMISSION: 0b001100,
  /** Synchronous External abort on a translation table walk (or hardware update), plus the level. */
  EXTERNAL_ON_WALK: 0b010100,
  /** Synchronous External abort, not on a translation table walk. */
  EXTERNAL: 0b010000,
} as const;

/**
 * The access a stage 1 translation (`Stage1Walker`, `ArmMmu`) checks, as
 * flags: one of READ, WRITE, EXECUTE, plus EL0 (an unprivileged access) and
 * PAN (PSTATE.PAN). READ, WRITE, EXECUTE and EL0 have the values of
 * `S2_ACCESS`, so the stage 2 check of the output IPA takes those bits
 * as they are; the faults are encoded the Arm way (DFSC/IFSC, ISS WnR), not
 * as x86 error-code bits, and READ is a flag of its own (Arm ARM D8.4,
 * D8.15).
 */
export const S1_ACCESS = {
  /** `0x1` */
  READ: 0x1,
  /** `0x2` */
  WRITE: 0x2,
  /** Instruction fetch (Instruction Abort on a fault). Value `0x4`. */
  EXECUTE: 0x4,
  /** Unprivileged access: from EL0, or LDTR/STTR at EL1. Value `0x8`. */
  EL0: 0x8,
  /** PSTATE.PAN = 1: privileged data accesses to EL0-accessible memory fault. Value `0x20`. */
  PAN: 0x20,
} as const;

/** Every bit {@link S1_ACCESS} flags may use. */
export const S1_ACCESS_MASK = 0x2f;

/** ISS bits of a Data Abort that a walk fills (ESR_ELx ISS encoding for an exception from a Data Abort). */
export const ARM_ISS = {
  /** Write not Read. Value `0x40`. */
  WNR: 0x40,
  /** Stage 2 fault on a stage 1 translation table walk. Value `0x80`. */
  S1PTW: 0x80,
} as const;
