/**
 * EPT formats: the EPT pointer, EPT paging-structure entries, memory types
 * and the EPT-violation exit qualification. SDM 3C 24.6.11 "Extended-Page-Table
 * Pointer (EPTP)", 28.2.2 "EPT Translation Mechanism" (Tables 28-1..28-6,
 * entry formats), 28.2.3 "EPT-Induced VM Exits", 28.2.4 "Accessed and Dirty
 * Flags for EPT", 28.2.6 "EPT and Memory Typing", and Table 27-7 "Exit
 * Qualification for EPT Violations" (27.2.1). Numbers are those of the
 * editions where chapter 28 is "VMX Support for Address Translation"; later
 * editions renumber chapters but keep these titles.
 */
import { bitFlag, bitRange } from '@hvsim/core';

/** EPTP fields (SDM 3C 24.6.11, "Extended-Page-Table Pointer (EPTP)"). */
export const EPTP = {
  /** EPT paging-structure memory type: 0 UC or 6 WB. */
  MEMORY_TYPE: bitRange(2, 0),
  /** Page-walk length minus 1: 3 for 4-level, 4 for 5-level EPT. */
  WALK_LENGTH: bitRange(5, 3),
  /** Enable accessed and dirty flags for EPT. */
  AD_ENABLE: bitFlag(6),
  /** Enable enforcement of access rights for supervisor shadow-stack pages. */
  SSS_ENABLE: bitFlag(7),
  /** Reserved bits 11:8. */
  RESERVED: bitRange(11, 8),
  /** Physical address of the EPT PML4 (or PML5) table, bits (N-1):12. */
  ADDRESS: bitRange(51, 12),
} as const;

/** EPT entry fields (SDM 3C 28.2.2, Tables 28-1..28-6). */
export const EPT_ENTRY = {
  /** Read access allowed (bit 0). */
  READ: bitFlag(0),
  /** Write access allowed (bit 1). */
  WRITE: bitFlag(1),
  /** Execute (supervisor-mode execute when mode-based execute control is on). */
  EXECUTE: bitFlag(2),
  /** EPT memory type of a leaf (bits 5:3). */
  MEMORY_TYPE: bitRange(5, 3),
  /** Ignore PAT memory type (leaf). */
  IGNORE_PAT: bitFlag(6),
  /** Maps a page (PDPTE: 1 GiB, PDE: 2 MiB). */
  LARGE: bitFlag(7),
  /** Accessed flag, bit 8 (with EPTP bit 6). */
  ACCESSED: bitFlag(8),
  /** Dirty (leaf). */
  DIRTY: bitFlag(9),
  /** User-mode execute (mode-based execute control only). */
  USER_EXECUTE: bitFlag(10),
  /** Physical address of the next table or of the page, bits (N-1):12. */
  ADDRESS: bitRange(51, 12),
  /** Suppress #VE, bit 63 (leaf entries, EPT-violation #VE). */
  SUPPRESS_VE: bitFlag(63),
} as const;

/** Hot-path low-half masks of EPT entries. */
export const EPTE_LO = {
  /** `0x1` */
  R: 0x1,
  /** `0x2` */
  W: 0x2,
  /** `0x4` */
  X: 0x4,
  /** `0x7` */
  RWX: 0x7,
  /** The EPT memory type (bits 5:3 of a leaf) starts at bit 3. */
  MEMORY_TYPE_SHIFT: 3,
  /** `0x40` */
  IGNORE_PAT: 0x40,
  /** `0x80` */
  LARGE: 0x80,
  /** `0x100` */
  A: 0x100,
  /** `0x200` */
  D: 0x200,
  /** `0xfffff000` */
  ADDRESS: 0xffff_f000,
  /** Bits 7:3 of an EPT PML5E/PML4E are reserved. Value `0xf8`. */
  RSVD_PML4: 0xf8,
  /** Bits 6:3 of a non-leaf PDPTE/PDE are reserved. Value `0x78`. */
  RSVD_NONLEAF: 0x78,
  /** Bits 29:12 of a PDPTE mapping 1 GiB are reserved. Value `0x3ffff000`. */
  RSVD_1G: 0x3fff_f000,
  /** Bits 20:12 of a PDE mapping 2 MiB are reserved. Value `0x001ff000`. */
  RSVD_2M: 0x001f_f000,
} as const;

/** EPT memory types (SDM 3C 28.2.6 "EPT and Memory Typing"). */
export const EPT_MEMORY_TYPE = {
  /** Uncacheable. */
  UC: 0,
  /** Write combining. */
  WC: 1,
  /** Write-through. */
  WT: 4,
  /** Write-protected. */
  WP: 5,
  /** Write-back. */
  WB: 6,
} as const;

/** Bits of the EPT-violation exit qualification (SDM 3C Table 27-7). */
export const EPT_QUAL = {
  /** The access was a data read. Value `0x1`. */
  READ: 0x1,
  /** The access was a data write. Value `0x2`. */
  WRITE: 0x2,
  /** The access was an instruction fetch. Value `0x4`. */
  FETCH: 0x4,
  /** The guest-physical address was readable (AND of bit 0 of the entries used). Value `0x8`. */
  READABLE: 0x8,
  /** ... writable (AND of bit 1). Value `0x10`. */
  WRITABLE: 0x10,
  /** ... executable (AND of bit 2). Value `0x20`. */
  EXECUTABLE: 0x20,
  /** ... user-mode executable (AND of bit 10; mode-based execute control). Value `0x40`. */
  USER_EXECUTABLE: 0x40,
  /** The guest linear-address field is valid. Value `0x80`. */
  LINEAR_VALID: 0x80,
  /** With bit 7: 1 = access to the translated linear address, 0 = access to a guest paging-structure entry. Value `0x100`. */
  FINAL_TRANSLATION: 0x100,
  /** NMI unblocking due to IRET. Value `0x1000`. */
  NMI_UNBLOCKING: 0x1000,
} as const;

/**
 * The access an `EptWalker.walk` checks: exactly one of these. The encoding
 * is the EPT-violation exit qualification's bits 2:0 (SDM 3C Table 27-7:
 * data read, data write, instruction fetch), which is also the order of the
 * R/W/X bits of an EPT entry (28.2.2), so a violation's qualification is
 * the access ORed with the entry permissions shifted to bits 5:3. Nested
 * walks take x86 `ACCESS` flags and derive this from them.
 */
export const EPT_ACCESS = {
  /** A data read. Value `0x1`. */
  READ: EPT_QUAL.READ,
  /** A data write. Value `0x2`. */
  WRITE: EPT_QUAL.WRITE,
  /** An instruction fetch. Value `0x4`. */
  FETCH: EPT_QUAL.FETCH,
} as const;
