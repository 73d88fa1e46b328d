/**
 * The GICv4 redistributor's VLPI_base frame (IHI0069 12.11 "GICv4
 * redistributor registers"): GICR_VPROPBASER, GICR_VPENDBASER and, in
 * GICv4.1, GICR_VSGIR and GICR_VSGIPENDR. The frame sits 128 KiB after
 * RD_base. 64-bit registers are kept as two words; `_HI` tables describe the
 * high word (register bit n = bit n - 32 there).
 */
import { bitFlag, bitRange } from '@hvsim/core';

/** Offset of VLPI_base from RD_base; a GICv4 redistributor spans 256 KiB (IHI0069 12.10). */
export const GICR_VLPI_BASE = 0x20000;
/** Size of the VLPI_base frame (64 KiB). */
export const GICR_VLPI_BASE_SIZE = 0x10000;
/** Redistributor stride with VLPI_base and the reserved frame (GICR_TYPER.VLPIS = 1). */
export const GICR_V4_STRIDE = 0x40000;

/** VLPI_base offsets (IHI0069 Table 12-29). */
export const GICR_VLPI = {
  /** `0x0070` */
  VPROPBASER: 0x0070,
  /** `0x0078` */
  VPENDBASER: 0x0078,
  /** `0x0080` */
  VSGIR: 0x0080,
  /** `0x0088` */
  VSGIPENDR: 0x0088,
} as const;

/** GICv4.0 GICR_VPROPBASER (IHI0069 12.11.39): as GICR_PROPBASER, for the resident vPE's vLPI configuration table. */
export const GICR_VPROPBASER_V40_LO = {
  /** Bits [4:0]: vLPI INTID bits minus one. */
  IDbits: bitRange(4, 0),
  /** Bits [31:12]: configuration table address bits [31:12]. */
  PA: bitRange(31, 12),
} as const;

/** GICv4.1 GICR_VPROPBASER: the vPE table descriptor shared with the ITS (IHI0069 12.11.39, GICv4.1 layout). */
export const GICR_VPROPBASER_V41_LO = {
  /** Bits [6:0]: pages allocated minus one. */
  Size: bitRange(6, 0),
  /** Bits [31:12]: vPE table address bits [31:12]. */
  PA: bitRange(31, 12),
} as const;
/** GICR_VPROPBASER bits 63:32 in the GICv4.1 layout (IHI0069 12.11). */
export const GICR_VPROPBASER_V41_HI = {
  /** Bits [51:32]: vPE table address bits [51:32]. */
  PA: bitRange(19, 0),
  /** Bit 52: the vPE table is known to be zero. */
  Z: bitFlag(20),
  /** Bits [54:53]: 0 = 4 KiB, 1 = 16 KiB, 2 = 64 KiB. */
  Page_Size: bitRange(22, 21),
  /** Bit 55: two-level table. */
  Indirect: bitFlag(23),
  /** Entry size in 8-byte units, minus one (read-only). */
  Entry_Size: bitRange(29, 27),
  /** Bit 63: the vPE table is valid. */
  Valid: bitFlag(31),
} as const;

/** GICR_VPENDBASER high word, both versions (IHI0069 12.11.38). */
export const GICR_VPENDBASER_HI = {
  /** Bits [51:32]: virtual pending table address bits [51:32] (GICv4.0). */
  PA: bitRange(19, 0),
  /** GICv4.1 only. */
  VGrp1En: bitFlag(26),
  /** GICv4.1 only. */
  VGrp0En: bitFlag(27),
  /** Bit 60: the redistributor is still loading or unloading the vPE (read-only). */
  Dirty: bitFlag(28),
  /** Bit 61: the unloaded vPE has pending interrupts (read-only). */
  PendingLast: bitFlag(29),
  /** GICv4.0 IDAI; GICv4.1 DB (request the default doorbell while not resident). */
  IDAI_DB: bitFlag(30),
  /** Bit 63: a vPE is resident. */
  Valid: bitFlag(31),
} as const;

/** GICv4.1 GICR_VPENDBASER low word: the resident vPEID. */
export const GICR_VPENDBASER_V41_LO = {
  /** Bits [15:0]: the resident vPE. */
  vPEID: bitRange(15, 0),
} as const;

/** GICR_VSGIR (GICv4.1, IHI0069 12.11.41). */
export const GICR_VSGIR = {
  /** Bits [15:0]: the vPE whose vSGI pending state to read. */
  vPEID: bitRange(15, 0),
} as const;
/** GICR_VSGIPENDR (GICv4.1, IHI0069 12.11.40). */
export const GICR_VSGIPENDR = {
  /** Bits [15:0]: vSGI pending bits, one per vINTID. */
  Pending: bitRange(15, 0),
  /** Bit 31: the read requested through GICR_VSGIR is in progress. */
  Busy: bitFlag(31),
} as const;

/**
 * Where a GICv4.1 vPE keeps its vSGI configuration: the first 1 KiB of the
 * virtual pending table is IMPLEMENTATION DEFINED (IHI0069 5.1.2 and the GICv4 VPT); this
 * model stores one byte per vSGI at VPT + 0x100 + n: priority[7:4], group
 * bit 1, enable bit 0. The vSGI pending bits are the VPT's bits 0-15.
 */
export const VPT_VSGI_CONFIG_OFFSET = 0x100;
