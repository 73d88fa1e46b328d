/**
 * Register map of one VT-d remapping hardware unit (VT-d 11.4 "Register
 * Descriptions", Table 11-2 "Format of Remapping Hardware Registers") and the
 * fields this model implements. Offsets are from the unit's 4 KiB register
 * page; 64-bit registers are also reachable as two 32-bit halves.
 */
import { bitFlag, bitRange } from '@hvsim/core';

/** Register offsets (VT-d 11.4). IVA/IOTLB and FRCD sit where ECAP.IRO and CAP.FRO say. */
export const VTD_REG = {
  VER_REG: 0x00,
  CAP_REG: 0x08,
  ECAP_REG: 0x10,
  GCMD_REG: 0x18,
  GSTS_REG: 0x1c,
  RTADDR_REG: 0x20,
  CCMD_REG: 0x28,
  FSTS_REG: 0x34,
  FECTL_REG: 0x38,
  FEDATA_REG: 0x3c,
  FEADDR_REG: 0x40,
  FEUADDR_REG: 0x44,
  AFLOG_REG: 0x58,
  PMEN_REG: 0x64,
  PLMBASE_REG: 0x68,
  PLMLIMIT_REG: 0x6c,
  PHMBASE_REG: 0x70,
  PHMLIMIT_REG: 0x78,
  IQH_REG: 0x80,
  IQT_REG: 0x88,
  IQA_REG: 0x90,
  ICS_REG: 0x9c,
  IECTL_REG: 0xa0,
  IEDATA_REG: 0xa4,
  IEADDR_REG: 0xa8,
  IEUADDR_REG: 0xac,
  IQERCD_REG: 0xb0,
  IRTA_REG: 0xb8,
  /** Invalidate Address register: ECAP.IRO * 16 (VT-d 11.4.8.2). */
  IVA_REG: 0x100,
  /** IOTLB Invalidate register: IVA_REG + 8 (VT-d 11.4.8.1). */
  IOTLB_REG: 0x108,
  /** First Fault Recording register: CAP.FRO * 16 (VT-d 11.4.14), 16 bytes each. */
  FRCD_REG: 0x200,
} as const;

/** Size of the register page. */
export const VTD_REG_PAGE_SIZE = 0x1000;
/** Number of Fault Recording registers (CAP.NFR + 1). */
export const VTD_FAULT_RECORDING_REGISTERS = 8;

/** VER_REG: architecture version 1.0 (Max 7:4, Min 3:0), as real VT-d units with posting report. */
export const VTD_VERSION = 0x10;

/** GCMD_REG command bits and the matching GSTS_REG status bits share positions (VT-d 11.4.4, 11.4.5). */
export const GCMD = {
  /** Translation Enable / TES. */
  TE: 0x8000_0000,
  /** Set Root Table Pointer / RTPS (one-shot). */
  SRTP: 1 << 30,
  /** Set Fault Log / FLS (one-shot, deprecated; CAP.AFL = 0 here). */
  SFL: 1 << 29,
  /** Enable Advanced Fault Logging / AFLS (CAP.AFL = 0 here). */
  EAFL: 1 << 28,
  /** Write Buffer Flush / WBFS (one-shot; CAP.RWBF = 0 here). */
  WBF: 1 << 27,
  /** Queued Invalidation Enable / QIES. */
  QIE: 1 << 26,
  /** Interrupt Remapping Enable / IRES. */
  IRE: 1 << 25,
  /** Set Interrupt Remap Table Pointer / IRTPS (one-shot). */
  SIRTP: 1 << 24,
  /** Compatibility Format Interrupt / CFIS. */
  CFI: 1 << 23,
} as const;

/** One-shot commands: writing 1 performs them; their status bits stay set after completion. */
export const GCMD_ONE_SHOT = (GCMD.SRTP | GCMD.SFL | GCMD.WBF | GCMD.SIRTP) >>> 0;
/** Enable commands: the written value is compared with the status (VT-d 11.4.4). */
export const GCMD_ENABLES = (GCMD.TE | GCMD.EAFL | GCMD.QIE | GCMD.IRE | GCMD.CFI) >>> 0;

/** FSTS_REG fields (VT-d 11.4.6). */
export const FSTS = {
  PFO: 1 << 0,
  PPF: 1 << 1,
  AFO: 1 << 2,
  APF: 1 << 3,
  IQE: 1 << 4,
  ICE: 1 << 5,
  ITE: 1 << 6,
  FRI: bitRange(15, 8),
} as const;
/** FSTS bits software clears by writing 1 (RW1CS). PPF and FRI are read-only. */
export const FSTS_RW1C = FSTS.PFO | FSTS.AFO | FSTS.APF | FSTS.IQE | FSTS.ICE | FSTS.ITE;
/**
 * FSTS fields whose setting is a fault-event interrupt condition (VT-d 11.4.7.1
 * FECTL.IP: PPF, APF, IQE, ICE, ITE). PFO and AFO are not: an overflow raises
 * no event of its own and does not stop a later condition from raising one.
 */
export const FSTS_STATUS = FSTS.PPF | FSTS.APF | FSTS.IQE | FSTS.ICE | FSTS.ITE;

/** FECTL_REG / IECTL_REG fields (VT-d 11.4.7.1, 11.4.9.2). */
export const EVENT_CTL = {
  IM: 0x8000_0000,
  IP: 1 << 30,
} as const;
/** Reset value of FECTL and IECTL: interrupt masked. */
export const EVENT_CTL_RESET = EVENT_CTL.IM >>> 0;

/** RTADDR_REG fields (VT-d 11.4.6 "Root Table Address Register"). */
export const RTADDR = {
  TTM: bitRange(11, 10),
  RTA: bitRange(63, 12),
} as const;

/** CCMD_REG fields, high dword relative (VT-d 11.4.7 "Context Command Register"). */
export const CCMD = {
  DID: bitRange(15, 0),
  SID: bitRange(31, 16),
  /** Bits 33:32: in the high dword, bits 1:0. */
  FM_HI: bitRange(1, 0),
  /** Bits 60:59: CAIG, high dword 28:27. */
  CAIG_HI: bitRange(28, 27),
  /** Bits 62:61: CIRG, high dword 30:29. */
  CIRG_HI: bitRange(30, 29),
  /** Bit 63: ICC, high dword bit 31. */
  ICC_HI: bitFlag(31),
} as const;

/** IOTLB_REG fields, high dword relative (VT-d 11.4.8.1). */
export const IOTLB = {
  /** Bits 47:32. */
  DID_HI: bitRange(15, 0),
  DW_HI: bitFlag(16),
  DR_HI: bitFlag(17),
  /** Bits 58:57. */
  IAIG_HI: bitRange(26, 25),
  /** Bits 61:60. */
  IIRG_HI: bitRange(29, 28),
  /** Bit 63. */
  IVT_HI: bitFlag(31),
} as const;

/** IVA_REG fields (VT-d 11.4.8.2). */
export const IVA = {
  AM: bitRange(5, 0),
  IH: bitFlag(6),
} as const;

/** IQA_REG fields (VT-d 11.4.9.3). */
export const IQA = {
  QS: bitRange(2, 0),
  DW: bitFlag(11),
} as const;

/** IRTA_REG fields (VT-d 11.4.10.1). */
export const IRTA = {
  S: bitRange(3, 0),
  EIME: bitFlag(11),
} as const;

/** Invalidation Queue Error Information codes in IQERCD_REG.IQEI (VT-d 11.4.9.8). */
export const IQEI = {
  INFO_NOT_AVAILABLE: 0,
  INVALID_TAIL_POINTER: 1,
  DESCRIPTOR_FETCH_ERROR: 2,
  INVALID_DESCRIPTOR_TYPE: 3,
  RESERVED_FIELD: 4,
  INVALID_DESCRIPTOR_WIDTH: 5,
  TAIL_MISALIGNED: 6,
  INVALID_TTM: 7,
} as const;

/** Fields of one Fault Recording register, by 32-bit word (VT-d 11.4.14). */
/**
 * Word 0 holds FI bits 31:12 and word 1 FI bits 63:32 (for interrupt faults
 * FI[63:48], word 1 bits 31:16, is the interrupt index).
 */
export const FRCD = {
  /** Word 2 (bits 79:64): source ID. */
  SID: bitRange(15, 0),
  /** Word 3 (bits 127:96). */
  FR: bitRange(7, 0),
  AT: bitRange(29, 28),
  /** Type bit 1: 1 = read request, 0 = write request (interrupts are writes). */
  T1: bitFlag(30),
  F: bitFlag(31),
} as const;
