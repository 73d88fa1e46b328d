/**
 * ITS register map and fields (IHI0069 12.18-12.19, the ITS register map and descriptions).
 * The control frame is at ITS_base, the translation frame (GITS_TRANSLATER)
 * at ITS_base + 64 KiB and, in GICv4.1, the vSGI frame (GITS_SGIR) at
 * ITS_base + 128 KiB. 64-bit registers are kept as two 32-bit words; `_HI`
 * tables describe fields of the high word (bit n of the register is bit
 * n - 32 there).
 */
import { bitFlag, bitRange } from '@hvsim/core';

/** Size of each ITS frame (IHI0069 12.19). */
export const GITS_FRAME_SIZE = 0x10000;
/** Offset of the translation frame from ITS_base. */
export const GITS_TRANSLATION_FRAME = 0x10000;
/** Offset of the GICv4.1 vSGI frame from ITS_base. */
export const GITS_SGI_FRAME = 0x20000;

/** ITS registers, offsets from ITS_base (IHI0069 Table 12-32). */
export const GITS = {
  /** `0x0000` */
  CTLR: 0x0000,
  /** `0x0004` */
  IIDR: 0x0004,
  /** `0x0008` */
  TYPER: 0x0008,
  /** `0x0018` */
  MPIDR: 0x0018,
  /** `0x0040` */
  STATUSR: 0x0040,
  /** `0x0048` */
  UMSIR: 0x0048,
  /** `0x0080` */
  CBASER: 0x0080,
  /** `0x0088` */
  CWRITER: 0x0088,
  /** `0x0090` */
  CREADR: 0x0090,
  /** `0x0100` */
  BASER: 0x0100,
  /** `0xffe8` */
  PIDR2: 0xffe8,
  /** `0x10040` */
  TRANSLATER: 0x10040,
  /** `0x20020` */
  SGIR: 0x20020,
} as const;

/** GITS_CTLR (IHI0069 12.19). */
export const GITS_CTLR = {
  /** Bit 0: the ITS translates and processes commands. */
  Enabled: bitFlag(0),
  /** Bit 1: implementation-defined. */
  ImDe: bitFlag(1),
  /** Bits [7:4]: ITS number for GICv4.1 vPE tables. */
  ITS_Number: bitRange(7, 4),
  /** Bit 31: the ITS is disabled and idle (read-only). */
  Quiescent: bitFlag(31),
} as const;

/** GITS_TYPER low word (IHI0069 12.19). */
export const GITS_TYPER_LO = {
  /** Bit 0: physical LPIs supported. */
  Physical: bitFlag(0),
  /** Bit 1: virtual LPIs and direct injection supported (GICv4). */
  Virtual: bitFlag(1),
  /** Bit 2: cumulative collection tables. */
  CCT: bitFlag(2),
  /** Bits [7:4]: ITT entry bytes minus one. */
  ITT_entry_size: bitRange(7, 4),
  /** Bits [12:8]: EventID bits minus one. */
  ID_bits: bitRange(12, 8),
  /** Bits [17:13]: DeviceID bits minus one. */
  Devbits: bitRange(17, 13),
  /** Bit 18: locally generated SEIs supported. */
  SEIS: bitFlag(18),
  /** Bit 19: target addresses are physical addresses, not processor numbers. */
  PTA: bitFlag(19),
  /** Bits [31:24]: hardware collections without external tables. */
  HCC: bitRange(31, 24),
} as const;
/** GITS_TYPER high word. */
export const GITS_TYPER_HI = {
  /** Bits [35:32]: collection ID bits minus one. */
  CIDbits: bitRange(3, 0),
  /** Bit 36: CIDbits is valid (else 16 bits). */
  CIL: bitFlag(4),
  /** Bit 37: VMOVP needs no ITS list (single VMOVP). */
  VMOVP: bitFlag(5),
  /** Bit 38: MPAM supported. */
  MPAM: bitFlag(6),
  /** Bit 39: GICv4.1 direct vSGI injection supported. */
  VSGI: bitFlag(7),
  /** Bit 40: GICv4.1 VMAPP supported. */
  VMAPP: bitFlag(8),
  /** Bits [42:41]: vPE table sharing with redistributors. */
  SVPET: bitRange(10, 9),
  /** Bit 43: INVDB not supported. */
  nID: bitFlag(11),
} as const;

/** GITS_CBASER (IHI0069 12.19), low and high words. */
export const GITS_CBASER_LO = {
  /** Bits [7:0]: command queue size in 4 KiB pages minus one. */
  Size: bitRange(7, 0),
  /** Bits [11:10]: shareability attributes. */
  Shareability: bitRange(11, 10),
  /** Bits [31:12]: physical address bits [31:12]. */
  PA: bitRange(31, 12),
} as const;
/** GITS_CBASER bits 63:32 (IHI0069 12.19): address high bits, cacheability, Valid. */
export const GITS_CBASER_HI = {
  /** Bits [51:32]: physical address bits [51:32]. */
  PA: bitRange(19, 0),
  /** Bits [55:53]: outer cacheability. */
  OuterCache: bitRange(23, 21),
  /** Bits [61:59]: inner cacheability. */
  InnerCache: bitRange(29, 27),
  /** Bit 63: the command queue is allocated. */
  Valid: bitFlag(31),
} as const;
/** Writable bits of GITS_CBASER (low, high). */
export const GITS_CBASER_MASK = [0xffff_fcff, 0xb8ef_ffff] as const;

/** GITS_CWRITER fields (IHI0069 12.19): Retry and the write offset. */
export const GITS_CWRITER = {
  /** Bit 0: restarts a stalled command queue. */
  Retry: bitFlag(0),
  /** Bits [19:5]: next free command slot, in 32-byte commands. */
  Offset: bitRange(19, 5),
} as const;
/** GITS_CREADR fields (IHI0069 12.19): Stalled and the read offset. */
export const GITS_CREADR = {
  /** Bit 0: command processing stopped on an error. */
  Stalled: bitFlag(0),
  /** Bits [19:5]: next command to process, in 32-byte commands. */
  Offset: bitRange(19, 5),
} as const;

/** GITS_BASER<n> low word (IHI0069 12.19). */
export const GITS_BASER_LO = {
  /** Bits [7:0]: pages allocated minus one. */
  Size: bitRange(7, 0),
  /** Bits [9:8]: 0 = 4 KiB, 1 = 16 KiB, 2 = 64 KiB. */
  Page_Size: bitRange(9, 8),
  /** Bits [11:10]: shareability attributes. */
  Shareability: bitRange(11, 10),
  /** Bits [31:12]: physical address bits [31:12]. */
  PA: bitRange(31, 12),
} as const;
/** GITS_BASER<n> high word. */
export const GITS_BASER_HI = {
  /** Bits [47:32]: physical address bits [47:32]. */
  PA: bitRange(15, 0),
  /** Bits [52:48]: entry bytes minus one (read-only). */
  Entry_Size: bitRange(20, 16),
  /** Bits [55:53]: outer cacheability. */
  OuterCache: bitRange(23, 21),
  /** Bits [58:56]: table type ({@link GITS_BASER_TYPE}, read-only). */
  Type: bitRange(26, 24),
  /** Bits [61:59]: inner cacheability. */
  InnerCache: bitRange(29, 27),
  /** Bit 62: two-level table. */
  Indirect: bitFlag(30),
  /** Bit 63: the table is allocated. */
  Valid: bitFlag(31),
} as const;
/** GITS_BASER<n>.Type values (IHI0069 12.19). */
export const GITS_BASER_TYPE = {
  /** 0: unimplemented. */
  NONE: 0,
  /** 1: Device table. */
  DEVICES: 1,
  /** 2: vPE table. */
  VPES: 2,
  /** 4: Collection table. */
  COLLECTIONS: 4,
} as const;
/** GITS_BASER<n>.Page_Size encodings to bytes. */
export const GITS_PAGE_BYTES = [0x1000, 0x4000, 0x10000] as const;
/** Level-1 entry of a two-level table (IHI0069 5.2.5): Valid (bit 63) and the level-2 page address. */
export const GITS_L1_ENTRY_VALID_HI = bitFlag(31);

/** GITS_SGIR (GICv4.1, IHI0069 12.19): vINTID[3:0], vPEID[47:32]. */
export const GITS_SGIR = {
  /** Bits [3:0]: the vSGI number. */
  vINTID: bitRange(3, 0),
} as const;
/** GITS_SGIR high word. */
export const GITS_SGIR_HI = {
  /** Bits [47:32]: the target vPE. */
  vPEID: bitRange(15, 0),
} as const;

/** GITS_IIDR: Arm (JEP106 0x43B), an ITS product number of this model. */
export const GITS_IIDR_VALUE = 0x0100_043b;
/** GITS_PIDR2.ArchRev: 3 for a GICv3 ITS, 4 for GICv4 (IHI0069 12.1.13). */
export const GITS_PIDR2_V3 = 0x3b;
export const GITS_PIDR2_V4 = 0x4b;

/** Sizes of this model's table entries (IMPLEMENTATION DEFINED formats, see tables.ts). */
export const ITS_ENTRY_BYTES = {
  /** Device table entry (DTE) bytes. */
  device: 16,
  /** Collection table entry (CTE) bytes. */
  collection: 8,
  /** vPE table entry bytes. */
  vpe: 32,
  /** Interrupt translation table entry (ITE) bytes. */
  ite: 16,
} as const;
/** EventID and DeviceID bits this ITS implements (GITS_TYPER.ID_bits + 1, Devbits + 1), and ICID bits. */
export const ITS_EVENT_ID_BITS = 16;
export const ITS_DEVICE_ID_BITS = 16;
export const ITS_ICID_BITS = 16;
/** vPEIDs are 16 bits (IHI0069 5.3: vPEID width is 16). */
export const ITS_VPE_ID_BITS = 16;
/** "No doorbell" pINTID in VMAPTI / VMOVI / VMAPP (IHI0069 5.3 "ITS commands": 1023). */
export const NO_DOORBELL = 1023;
