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
  Enabled: bitFlag(0),
  ImDe: bitFlag(1),
  ITS_Number: bitRange(7, 4),
  Quiescent: bitFlag(31),
} as const;

/** GITS_TYPER low word (IHI0069 12.19). */
export const GITS_TYPER_LO = {
  Physical: bitFlag(0),
  Virtual: bitFlag(1),
  CCT: bitFlag(2),
  ITT_entry_size: bitRange(7, 4),
  ID_bits: bitRange(12, 8),
  Devbits: bitRange(17, 13),
  SEIS: bitFlag(18),
  PTA: bitFlag(19),
  HCC: bitRange(31, 24),
} as const;
/** GITS_TYPER high word. */
export const GITS_TYPER_HI = {
  CIDbits: bitRange(3, 0),
  CIL: bitFlag(4),
  VMOVP: bitFlag(5),
  MPAM: bitFlag(6),
  VSGI: bitFlag(7),
  VMAPP: bitFlag(8),
  SVPET: bitRange(10, 9),
  nID: bitFlag(11),
} as const;

/** GITS_CBASER (IHI0069 12.19), low and high words. */
export const GITS_CBASER_LO = {
  Size: bitRange(7, 0),
  Shareability: bitRange(11, 10),
  PA: bitRange(31, 12),
} as const;
/** GITS_CBASER bits 63:32 (IHI0069 12.19): address high bits, cacheability, Valid. */
export const GITS_CBASER_HI = {
  PA: bitRange(19, 0),
  OuterCache: bitRange(23, 21),
  InnerCache: bitRange(29, 27),
  Valid: bitFlag(31),
} as const;
/** Writable bits of GITS_CBASER (low, high). */
export const GITS_CBASER_MASK = [0xffff_fcff, 0xb8ef_ffff] as const;

/** GITS_CWRITER fields (IHI0069 12.19): Retry and the write offset. */
export const GITS_CWRITER = { Retry: bitFlag(0), Offset: bitRange(19, 5) } as const;
/** GITS_CREADR fields (IHI0069 12.19): Stalled and the read offset. */
export const GITS_CREADR = { Stalled: bitFlag(0), Offset: bitRange(19, 5) } as const;

/** GITS_BASER<n> low word (IHI0069 12.19). */
export const GITS_BASER_LO = {
  Size: bitRange(7, 0),
  Page_Size: bitRange(9, 8),
  Shareability: bitRange(11, 10),
  PA: bitRange(31, 12),
} as const;
/** GITS_BASER<n> high word. */
export const GITS_BASER_HI = {
  PA: bitRange(15, 0),
  Entry_Size: bitRange(20, 16),
  OuterCache: bitRange(23, 21),
  Type: bitRange(26, 24),
  InnerCache: bitRange(29, 27),
  Indirect: bitFlag(30),
  Valid: bitFlag(31),
} as const;
/** GITS_BASER<n>.Type values (IHI0069 12.19). */
export const GITS_BASER_TYPE = { NONE: 0, DEVICES: 1, VPES: 2, COLLECTIONS: 4 } as const;
/** GITS_BASER<n>.Page_Size encodings to bytes. */
export const GITS_PAGE_BYTES = [0x1000, 0x4000, 0x10000] as const;
/** Level-1 entry of a two-level table (IHI0069 5.2.5): Valid (bit 63) and the level-2 page address. */
export const GITS_L1_ENTRY_VALID_HI = bitFlag(31);

/** GITS_SGIR (GICv4.1, IHI0069 12.19): vINTID[3:0], vPEID[47:32]. */
export const GITS_SGIR = { vINTID: bitRange(3, 0) } as const;
export const GITS_SGIR_HI = { vPEID: bitRange(15, 0) } as const;

/** GITS_IIDR: Arm (JEP106 0x43B), an ITS product number of this model. */
export const GITS_IIDR_VALUE = 0x0100_043b;
/** GITS_PIDR2.ArchRev: 3 for a GICv3 ITS, 4 for GICv4 (IHI0069 12.1.13). */
export const GITS_PIDR2_V3 = 0x3b;
export const GITS_PIDR2_V4 = 0x4b;

/** Sizes of this model's table entries (IMPLEMENTATION DEFINED formats, see tables.ts). */
export const ITS_ENTRY_BYTES = { device: 16, collection: 8, vpe: 32, ite: 16 } as const;
/** EventID and DeviceID bits this ITS implements (GITS_TYPER.ID_bits + 1, Devbits + 1), and ICID bits. */
export const ITS_EVENT_ID_BITS = 16;
export const ITS_DEVICE_ID_BITS = 16;
export const ITS_ICID_BITS = 16;
/** vPEIDs are 16 bits (IHI0069 5.3: vPEID width is 16). */
export const ITS_VPE_ID_BITS = 16;
/** "No doorbell" pINTID in VMAPTI / VMOVI / VMAPP (IHI0069 5.3 "ITS commands": 1023). */
export const NO_DOORBELL = 1023;
