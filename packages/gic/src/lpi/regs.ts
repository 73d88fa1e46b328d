/**
 * LPI registers and table formats of a GICv3 redistributor (IHI0069 5.1
 * "LPIs", 12.10 "Redistributor registers"). 64-bit registers are kept as two
 * 32-bit words; fields above bit 31 are described on the high word
 * (`*_HI` tables, bit n of the register = bit n - 32 of the high word).
 */
import { bitFlag, bitRange } from '@hvsim/core';
import { GICR } from '../v3/regs.js';

/** First LPI INTID (IHI0069 5.1). */
export const LPI_FIRST = 8192;
/** Smallest GICR_PROPBASER.IDbits that enables LPIs: 14 ID bits (IHI0069 12.11.33). */
export const LPI_MIN_IDBITS = 13;

/** LPI configuration table entry, one byte per LPI (IHI0069 5.1.1, Figure 5-3). */
export const LPI_CONFIG = {
  /** Bit 0: the LPI is enabled. */
  Enable: bitFlag(0),
  /** RES1 in the architecture (bit 1); software writes 1. */
  RES1: bitFlag(1),
  /** Bits [7:2]: priority bits [7:2]; bits [1:0] read as zero. */
  Priority: bitRange(7, 2),
} as const;

/**
 * RD_base offsets of the LPI registers (IHI0069 12.10, Table 12-27).
 *
 * @deprecated Use {@link GICR} (`GICR.PROPBASER`, ...): the RD_base block's one table.
 */
export const GICR_LPI = {
  /** GICR_CTLR, `0x0000`. */
  CTLR: GICR.CTLR,
  /** GICR_SETLPIR, `0x0040`. */
  SETLPIR: GICR.SETLPIR,
  /** GICR_CLRLPIR, `0x0048`. */
  CLRLPIR: GICR.CLRLPIR,
  /** GICR_PROPBASER, `0x0070`. */
  PROPBASER: GICR.PROPBASER,
  /** GICR_PENDBASER, `0x0078`. */
  PENDBASER: GICR.PENDBASER,
  /** GICR_INVLPIR, `0x00a0`. */
  INVLPIR: GICR.INVLPIR,
  /** GICR_INVALLR, `0x00b0`. */
  INVALLR: GICR.INVALLR,
  /** GICR_SYNCR, `0x00c0`. */
  SYNCR: GICR.SYNCR,
} as const;

/** GICR_CTLR (IHI0069 12.11.2). */
export const GICR_CTLR = {
  /** Bit 0: LPI support enabled. */
  EnableLPIs: bitFlag(0),
  /** Bit 1: clear enable supported (EnableLPIs may be cleared, read-only). */
  CES: bitFlag(1),
  /** Bit 3: register write pending. */
  RWP: bitFlag(3),
} as const;

/** GICR_PROPBASER low word (IHI0069 12.11.33): IDbits, cacheability, PA[31:12]. */
export const GICR_PROPBASER_LO = {
  /** Bits [4:0]: LPI INTID bits minus one. */
  IDbits: bitRange(4, 0),
  /** Bits [9:7]: inner cacheability. */
  InnerCache: bitRange(9, 7),
  /** Bits [11:10]: shareability attributes. */
  Shareability: bitRange(11, 10),
  /** Bits [31:12]: configuration table address bits [31:12]. */
  PA: bitRange(31, 12),
} as const;
/** GICR_PROPBASER high word: PA[51:32] and OuterCache[58:56]. */
export const GICR_PROPBASER_HI = {
  /** Bits [51:32]: configuration table address bits [51:32]. */
  PA: bitRange(19, 0),
  /** Bits [58:56]: outer cacheability. */
  OuterCache: bitRange(26, 24),
} as const;

/** GICR_PENDBASER low word (IHI0069 12.11.32): cacheability, PA[31:16]. */
export const GICR_PENDBASER_LO = {
  /** Bits [9:7]: inner cacheability. */
  InnerCache: bitRange(9, 7),
  /** Bits [11:10]: shareability attributes. */
  Shareability: bitRange(11, 10),
  /** Bits [31:16]: pending table address bits [31:16]. */
  PA: bitRange(31, 16),
} as const;
/** GICR_PENDBASER high word: PA[51:32], OuterCache, PTZ (bit 62). */
export const GICR_PENDBASER_HI = {
  /** Bits [51:32]: pending table address bits [51:32]. */
  PA: bitRange(19, 0),
  /** Bits [58:56]: outer cacheability. */
  OuterCache: bitRange(26, 24),
  /** Bit 62: the pending table is known to be zero (write-only). */
  PTZ: bitFlag(30),
} as const;

/** Writable bits of GICR_PROPBASER (low, high). */
export const GICR_PROPBASER_MASK = [0xffff_ff9f, 0x070f_ffff] as const;
/** Writable bits of GICR_PENDBASER (PTZ is write-only, reads as zero). */
export const GICR_PENDBASER_MASK = [0xffff_0f80, 0x070f_ffff] as const;

/** GICR_INVLPIR / GICR_INVALLR high word (IHI0069 12.11.20, 12.11.19): vPEID[47:32] and V (bit 63), GICv4.1. */
export const GICR_INV_HI = {
  /** Bits [47:32]: the target vPE. */
  vPEID: bitRange(15, 0),
  /** Bit 63: a virtual LPI (vPEID valid). */
  V: bitFlag(31),
} as const;

/** GICR_SYNCR (IHI0069 12.11.36). */
export const GICR_SYNCR = {
  /** Bit 0: a previous write is still in progress. */
  Busy: bitFlag(0),
} as const;

/** Joins a 64-bit address from a register's low and high words and an alignment mask of the low word. */
export function joinAddress(lo: number, hi: number, loMask: number, hiMask = 0xf_ffff): number {
  return (hi & hiMask) * 0x1_0000_0000 + ((lo & loMask) >>> 0);
}
