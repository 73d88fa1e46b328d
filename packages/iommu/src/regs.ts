/**
 * Register map of one VT-d remapping hardware unit (VT-d 11.4 "Register
 * Descriptions", Table 11-2 "Format of Remapping Hardware Registers") and the
 * fields this model implements. Offsets are from the unit's 4 KiB register
 * page; 64-bit registers are also reachable as two 32-bit halves.
 */
import { bitFlag, bitRange } from '@hvsim/core';

/**
 * Register offsets (VT-d 11.4, Table 11-2), named by the spec's mnemonics
 * without the `_REG` suffix: `VTD.GCMD` is GCMD_REG. IVA/IOTLB and FRCD sit
 * where ECAP.IRO and CAP.FRO say. What each register does is described once
 * in `register-file.ts` (see `registerDescriptions`).
 */
export const VTD = {
  /** Version (VT-d 11.4.1). Value `0x00`. */
  VER: 0x00,
  /** Capability, 64-bit (VT-d 11.4.2). Value `0x08`. */
  CAP: 0x08,
  /** Extended Capability, 64-bit (VT-d 11.4.3). Value `0x10`. */
  ECAP: 0x10,
  /** Global Command (VT-d 11.4.4). Value `0x18`. */
  GCMD: 0x18,
  /** Global Status (VT-d 11.4.5). Value `0x1c`. */
  GSTS: 0x1c,
  /** Root Table Address, 64-bit (VT-d 11.4.6). Value `0x20`. */
  RTADDR: 0x20,
  /** Context Command, 64-bit (VT-d 11.4.7). Value `0x28`. */
  CCMD: 0x28,
  /** Fault Status. Value `0x34`. */
  FSTS: 0x34,
  /** Fault Event Control. Value `0x38`. */
  FECTL: 0x38,
  /** Fault Event Data. Value `0x3c`. */
  FEDATA: 0x3c,
  /** Fault Event Address. Value `0x40`. */
  FEADDR: 0x40,
  /** Fault Event Upper Address. Value `0x44`. */
  FEUADDR: 0x44,
  /** Advanced Fault Log, 64-bit (reserved here: CAP.AFL = 0). Value `0x58`. */
  AFLOG: 0x58,
  /** Protected Memory Enable (reserved here: CAP.PLMR = CAP.PHMR = 0). Value `0x64`. */
  PMEN: 0x64,
  /** Protected Low-Memory Base (reserved here). Value `0x68`. */
  PLMBASE: 0x68,
  /** Protected Low-Memory Limit (reserved here). Value `0x6c`. */
  PLMLIMIT: 0x6c,
  /** Protected High-Memory Base, 64-bit (reserved here). Value `0x70`. */
  PHMBASE: 0x70,
  /** Protected High-Memory Limit, 64-bit (reserved here). Value `0x78`. */
  PHMLIMIT: 0x78,
  /** Invalidation Queue Head, 64-bit. Value `0x80`. */
  IQH: 0x80,
  /** Invalidation Queue Tail, 64-bit. Value `0x88`. */
  IQT: 0x88,
  /** Invalidation Queue Address, 64-bit. Value `0x90`. */
  IQA: 0x90,
  /** Invalidation Completion Status. Value `0x9c`. */
  ICS: 0x9c,
  /** Invalidation Event Control. Value `0xa0`. */
  IECTL: 0xa0,
  /** Invalidation Event Data. Value `0xa4`. */
  IEDATA: 0xa4,
  /** Invalidation Event Address. Value `0xa8`. */
  IEADDR: 0xa8,
  /** Invalidation Event Upper Address. Value `0xac`. */
  IEUADDR: 0xac,
  /** Invalidation Queue Error Record, 64-bit. Value `0xb0`. */
  IQERCD: 0xb0,
  /** Interrupt Remapping Table Address, 64-bit. Value `0xb8`. */
  IRTA: 0xb8,
  /** Invalidate Address, 64-bit: ECAP.IRO * 16 (VT-d 11.4.8.2). Value `0x100`. */
  IVA: 0x100,
  /** IOTLB Invalidate, 64-bit: IVA + 8 (VT-d 11.4.8.1). Value `0x108`. */
  IOTLB: 0x108,
  /** First Fault Recording register: CAP.FRO * 16, 128-bit each. Value `0x200`. */
  FRCD: 0x200,
} as const;

/**
 * Register offsets under their `_REG` names.
 * @deprecated Use {@link VTD}: `VTD.GCMD` for `VTD_REG.GCMD_REG` (docs/conventions.md, "Registers").
 */
export const VTD_REG = {
  /** VER_REG, offset `0x00` ({@link VTD}.VER). */
  VER_REG: VTD.VER,
  /** CAP_REG, offset `0x08` ({@link VTD}.CAP). */
  CAP_REG: VTD.CAP,
  /** ECAP_REG, offset `0x10` ({@link VTD}.ECAP). */
  ECAP_REG: VTD.ECAP,
  /** GCMD_REG, offset `0x18` ({@link VTD}.GCMD). */
  GCMD_REG: VTD.GCMD,
  /** GSTS_REG, offset `0x1c` ({@link VTD}.GSTS). */
  GSTS_REG: VTD.GSTS,
  /** RTADDR_REG, offset `0x20` ({@link VTD}.RTADDR). */
  RTADDR_REG: VTD.RTADDR,
  /** CCMD_REG, offset `0x28` ({@link VTD}.CCMD). */
  CCMD_REG: VTD.CCMD,
  /** FSTS_REG, offset `0x34` ({@link VTD}.FSTS). */
  FSTS_REG: VTD.FSTS,
  /** FECTL_REG, offset `0x38` ({@link VTD}.FECTL). */
  FECTL_REG: VTD.FECTL,
  /** FEDATA_REG, offset `0x3c` ({@link VTD}.FEDATA). */
  FEDATA_REG: VTD.FEDATA,
  /** FEADDR_REG, offset `0x40` ({@link VTD}.FEADDR). */
  FEADDR_REG: VTD.FEADDR,
  /** FEUADDR_REG, offset `0x44` ({@link VTD}.FEUADDR). */
  FEUADDR_REG: VTD.FEUADDR,
  /** AFLOG_REG, offset `0x58` ({@link VTD}.AFLOG). */
  AFLOG_REG: VTD.AFLOG,
  /** PMEN_REG, offset `0x64` ({@link VTD}.PMEN). */
  PMEN_REG: VTD.PMEN,
  /** PLMBASE_REG, offset `0x68` ({@link VTD}.PLMBASE). */
  PLMBASE_REG: VTD.PLMBASE,
  /** PLMLIMIT_REG, offset `0x6c` ({@link VTD}.PLMLIMIT). */
  PLMLIMIT_REG: VTD.PLMLIMIT,
  /** PHMBASE_REG, offset `0x70` ({@link VTD}.PHMBASE). */
  PHMBASE_REG: VTD.PHMBASE,
  /** PHMLIMIT_REG, offset `0x78` ({@link VTD}.PHMLIMIT). */
  PHMLIMIT_REG: VTD.PHMLIMIT,
  /** IQH_REG, offset `0x80` ({@link VTD}.IQH). */
  IQH_REG: VTD.IQH,
  /** IQT_REG, offset `0x88` ({@link VTD}.IQT). */
  IQT_REG: VTD.IQT,
  /** IQA_REG, offset `0x90` ({@link VTD}.IQA). */
  IQA_REG: VTD.IQA,
  /** ICS_REG, offset `0x9c` ({@link VTD}.ICS). */
  ICS_REG: VTD.ICS,
  /** IECTL_REG, offset `0xa0` ({@link VTD}.IECTL). */
  IECTL_REG: VTD.IECTL,
  /** IEDATA_REG, offset `0xa4` ({@link VTD}.IEDATA). */
  IEDATA_REG: VTD.IEDATA,
  /** IEADDR_REG, offset `0xa8` ({@link VTD}.IEADDR). */
  IEADDR_REG: VTD.IEADDR,
  /** IEUADDR_REG, offset `0xac` ({@link VTD}.IEUADDR). */
  IEUADDR_REG: VTD.IEUADDR,
  /** IQERCD_REG, offset `0xb0` ({@link VTD}.IQERCD). */
  IQERCD_REG: VTD.IQERCD,
  /** IRTA_REG, offset `0xb8` ({@link VTD}.IRTA). */
  IRTA_REG: VTD.IRTA,
  /** IVA_REG, offset `0x100` ({@link VTD}.IVA). */
  IVA_REG: VTD.IVA,
  /** IOTLB_REG, offset `0x108` ({@link VTD}.IOTLB). */
  IOTLB_REG: VTD.IOTLB,
  /** FRCD_REG, offset `0x200` ({@link VTD}.FRCD). */
  FRCD_REG: VTD.FRCD,
} as const;

/** Size of the register page. */
export const VTD_REG_PAGE_SIZE = 0x1000;
/** Number of Fault Recording registers (CAP.NFR + 1). */
export const VTD_FAULT_RECORDING_REGISTERS = 8;

/** VER_REG: architecture version 1.0 (Max 7:4, Min 3:0), as real VT-d units with posting report. */
export const VTD_VERSION = 0x10;

/** GCMD_REG command bits and the matching GSTS_REG status bits share positions (VT-d 11.4.4, 11.4.5). */
export const GCMD = {
  /** Translation Enable / TES. Value `0x80000000`. */
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
  /** Bit 0, PFO: primary fault overflow (RW1CS). */
  PFO: 1 << 0,
  /** Bit 1, PPF: primary pending fault, set while any FRCD has F set (read-only). */
  PPF: 1 << 1,
  /** Bit 2, AFO: advanced fault overflow (RW1CS). */
  AFO: 1 << 2,
  /** Bit 3, APF: advanced pending fault (RW1CS). */
  APF: 1 << 3,
  /** Bit 4, IQE: invalidation queue error (RW1CS). */
  IQE: 1 << 4,
  /** Bit 5, ICE: invalidation completion error (RW1CS). */
  ICE: 1 << 5,
  /** Bit 6, ITE: invalidation time-out error (RW1CS). */
  ITE: 1 << 6,
  /** Bits 15:8, FRI: index of the first FRCD with a pending fault. */
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
  /** `0x80000000` */
  IM: 0x8000_0000,
  /** Bit 30, IP: interrupt pending, an event was held back by IM (read-only). */
  IP: 1 << 30,
} as const;
/** Reset value of FECTL and IECTL: interrupt masked. */
export const EVENT_CTL_RESET = EVENT_CTL.IM >>> 0;

/** RTADDR_REG fields (VT-d 11.4.6 "Root Table Address Register"). */
export const RTADDR = {
  /** Bits 11:10, TTM: translation table mode (00b legacy, 01b scalable). */
  TTM: bitRange(11, 10),
  /** Bits 63:12, RTA: root table address, 4 KiB aligned. */
  RTA: bitRange(63, 12),
} as const;

/** CCMD_REG fields, high dword relative (VT-d 11.4.7 "Context Command Register"). */
export const CCMD = {
  /** Bits 15:0, DID: domain ID for domain-selective invalidation. */
  DID: bitRange(15, 0),
  /** Bits 31:16, SID: source ID for device-selective invalidation. */
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
  /** Bit 48, DW: drain writes (high dword bit 16). */
  DW_HI: bitFlag(16),
  /** Bit 49, DR: drain reads (high dword bit 17). */
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
  /** Bits 5:0, AM: address mask, 2^AM pages are invalidated. */
  AM: bitRange(5, 0),
  /** Bit 6, IH: invalidation hint, leaf entries only. */
  IH: bitFlag(6),
} as const;

/** IQA_REG fields (VT-d 11.4.9.3). */
export const IQA = {
  /** Bits 2:0, QS: queue size, 2^QS 4 KiB pages. */
  QS: bitRange(2, 0),
  /** Bit 11, DW: descriptor width (0 128-bit, 1 256-bit). */
  DW: bitFlag(11),
} as const;

/** IRTA_REG fields (VT-d 11.4.10.1). */
export const IRTA = {
  /** Bits 3:0, S: table size, 2^(S+1) entries. */
  S: bitRange(3, 0),
  /** Bit 11, EIME: extended interrupt mode (x2APIC 32-bit destinations). */
  EIME: bitFlag(11),
} as const;

/** Invalidation Queue Error Information codes in IQERCD_REG.IQEI (VT-d 11.4.9.8). */
export const IQEI = {
  /** 0: no information. */
  INFO_NOT_AVAILABLE: 0,
  /** 1: IQT beyond the queue size. */
  INVALID_TAIL_POINTER: 1,
  /** 2: fetching a descriptor failed. */
  DESCRIPTOR_FETCH_ERROR: 2,
  /** 3: a descriptor type is invalid or unsupported. */
  INVALID_DESCRIPTOR_TYPE: 3,
  /** 4: a reserved field of a descriptor is set. */
  RESERVED_FIELD: 4,
  /** 5: descriptor width not supported for the queue (IQA.DW). */
  INVALID_DESCRIPTOR_WIDTH: 5,
  /** 6: IQT bit 4 set with 256-bit descriptors. */
  TAIL_MISALIGNED: 6,
  /** 7: descriptor type not valid for RTADDR.TTM. */
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
  /** Bits 125:124 (word 3 bits 29:28), AT: address type of the faulted request. */
  AT: bitRange(29, 28),
  /** Type bit 1: 1 = read request, 0 = write request (interrupts are writes). */
  T1: bitFlag(30),
  /** Bit 127 (word 3 bit 31), F: fault recorded (RW1CS). */
  F: bitFlag(31),
} as const;
