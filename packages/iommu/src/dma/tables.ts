/**
 * Legacy-mode translation structures (VT-d 9.1 "Root Entry", 9.3 "Context
 * Entry", 9.8 "Second-Level Paging Entries"): field positions and the
 * reserved-bit masks this unit checks, as 32-bit words (word 0 = bits 31:0).
 * Host address width is 48 bits, so address bits 51:48 are reserved.
 */
import { bitFlag, bitRange } from '@hvsim/core';

/** Root-entry fields, word 0 (VT-d 9.1). */
export const ROOT_ENTRY = {
  /** Bit 0, P: present (the context-table pointer is valid). */
  P: bitFlag(0),
  /** Bits 11:1 reserved. Value `0x00000ffe`. */
  RESERVED_W0: 0x0000_0ffe,
  /** Context-table pointer bits 51:48 above HAW (word 1 bits 19:16) and bits 63:52 reserved. Value `0xffff0000`. */
  RESERVED_W1: 0xffff_0000,
} as const;

/** Context-entry fields (VT-d 9.3): word 0/1 = low qword, word 2/3 = high qword. */
export const CONTEXT_ENTRY = {
  /** Bit 0, P: present. */
  P: bitFlag(0),
  /** Bit 1, FPD: fault processing disable. */
  FPD: bitFlag(1),
  /** Bits 3:2, TT: translation type. */
  TT: bitRange(3, 2),
  /** Bits 11:4 reserved. Value `0x00000ff0`. */
  RESERVED_W0: 0x0000_0ff0,
  /** SLPTPTR bits above HAW. Value `0xffff0000`. */
  RESERVED_W1: 0xffff_0000,
  /** Word 2: AW bits 2:0. */
  AW: bitRange(2, 0),
  /** Word 2: DID bits 23:8 (bits 87:72). */
  DID: bitRange(23, 8),
  /** Word 2: bit 7 and bits 31:24 reserved; bits 6:3 ignored. Value `0xff000080`. */
  RESERVED_W2: 0xff00_0080,
} as const;

/** Context-entry Translation Type values (VT-d 9.3). */
export const TRANSLATION_TYPE = {
  /** Untranslated requests through the second-level tables. */
  UNTRANSLATED: 0,
  /** Also translated and translation requests (needs ECAP.DT). */
  ALL: 1,
  /** Pass-through (needs ECAP.PT). */
  PASS_THROUGH: 2,
} as const;

/** AW encodings and their page-table depths: 1 = 39-bit 3-level, 2 = 48-bit 4-level. */
export function levelsForAddressWidth(aw: number): number {
  return aw === 1 ? 3 : aw === 2 ? 4 : 0;
}

/** Second-level paging-entry fields (VT-d 9.8). */
export const SL_ENTRY = {
  /** Bit 0, R: read permission. */
  R: bitFlag(0),
  /** Bit 1, W: write permission. */
  W: bitFlag(1),
  /** Bit 2, X: execute permission. */
  X: bitFlag(2),
  /** Page size at the PDPE (1 GiB) and PDE (2 MiB) levels. */
  PS: bitFlag(7),
  /** Bit 11: SNP, reserved when ECAP.SC = 0 (also in non-leaf entries). Value `0x00000800`. */
  RESERVED_W0: 0x0000_0800,
  /** Bit 7 in a PML4E. Value `0x00000080`. */
  RESERVED_PML4E: 0x0000_0080,
  /** Bits 20:12 of a 2 MiB leaf. Value `0x001ff000`. */
  RESERVED_2M: 0x001f_f000,
  /** Bits 29:12 of a 1 GiB leaf. Value `0x3ffff000`. */
  RESERVED_1G: 0x3fff_f000,
  /** Word 1: address bits 51:48 above HAW (bits 63:52 are ignored). Value `0x000f0000`. */
  RESERVED_W1: 0x000f_0000,
} as const;

/** First byte of the interrupt address range 0xFEEx_xxxx (VT-d 3.15). */
export const INTERRUPT_RANGE_FIRST = 0xfee0_0000;
/** Last byte of the interrupt address range. */
export const INTERRUPT_RANGE_LAST = 0xfeef_ffff;
