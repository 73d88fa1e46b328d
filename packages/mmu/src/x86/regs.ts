/**
 * x86-64 paging-structure entry formats, control-register bits used by
 * paging, and the page-fault error code. SDM 3A 4.5 "4-Level Paging and
 * 5-Level Paging" (Tables 4-15 to 4-20, entry formats), 4.6 "Access Rights",
 * 4.7 "Page-Fault Exceptions".
 *
 * Entries are read as two 32-bit halves: `lo` = bits 31:0, `hi` = bits 63:32.
 * The `*_LO`/`*_HI` masks are the hot-path view of the same fields.
 */
import { bitFlag, bitRange } from '@hvsim/core';

/** Fields of a 64-bit paging-structure entry (SDM 3A 4.5, Tables 4-15..4-20). */
export const X86_PTE = {
  /** Present. */
  P: bitFlag(0),
  /** Read/write: 0 = writes not allowed to the region this entry controls. */
  RW: bitFlag(1),
  /** User/supervisor: 0 = user-mode accesses not allowed. */
  US: bitFlag(2),
  /** Page-level write-through: memory type of the page or the next table (SDM 3A 4.9). */
  PWT: bitFlag(3),
  /** Page-level cache disable: memory type of the page or the next table (SDM 3A 4.9). */
  PCD: bitFlag(4),
  /** Accessed. */
  A: bitFlag(5),
  /** Dirty (leaf entries only). */
  D: bitFlag(6),
  /** Page size in a PDPTE or PDE; PAT in a PTE. */
  PS: bitFlag(7),
  /** Global (leaf entries only, when CR4.PGE = 1). */
  G: bitFlag(8),
  /** PAT of a 2 MiB or 1 GiB leaf. */
  PAT_LARGE: bitFlag(12),
  /** Physical address bits (M-1):12. */
  ADDRESS: bitRange(51, 12),
  /** Protection key of a leaf (CR4.PKE / CR4.PKS). */
  PKEY: bitRange(62, 59),
  /** Execute-disable (when IA32_EFER.NXE = 1; reserved otherwise). */
  XD: bitFlag(63),
} as const;

/** Low-half masks of entry bits (hot path). */
export const PTE_LO = {
  /** `0x1` */
  P: 0x1,
  /** `0x2` */
  RW: 0x2,
  /** `0x4` */
  US: 0x4,
  /** `0x8` */
  PWT: 0x8,
  /** `0x10` */
  PCD: 0x10,
  /** `0x20` */
  A: 0x20,
  /** `0x40` */
  D: 0x40,
  /** `0x80` */
  PS: 0x80,
  /** `0x100` */
  G: 0x100,
  /** Address bits 31:12. Value `0xfffff000`. */
  ADDRESS: 0xffff_f000,
  /** Reserved bits 29:13 of a PDPTE that maps a 1 GiB page (bit 12 is PAT). Value `0x3fffe000`. */
  RSVD_1G: 0x3fff_e000,
  /** Reserved bits 20:13 of a PDE that maps a 2 MiB page (bit 12 is PAT). Value `0x001fe000`. */
  RSVD_2M: 0x001f_e000,
} as const;

/** High-half masks of entry bits (hot path; bit n of the entry is bit n-32 here). */
export const PTE_HI = {
  /** XD, bit 63. Value `0x80000000`. */
  XD: 0x8000_0000,
  /** Protection key bits 62:59 start at hi bit 27. */
  PKEY_SHIFT: 27,
} as const;

/** Paging levels, named as in the SDM (level 1 holds 4 KiB PTEs). */
export const X86_LEVEL = {
  /** Level 1: page table, 4 KiB PTEs. */
  PT: 1,
  /** Level 2: page directory (PDEs; PS = 1 maps 2 MiB). */
  PD: 2,
  /** Level 3: page-directory-pointer table (PDPTEs; PS = 1 maps 1 GiB). */
  PDPT: 3,
  /** Level 4: PML4 table (the root with 4-level paging). */
  PML4: 4,
  /** Level 5: PML5 table (the root with CR4.LA57 = 1). */
  PML5: 5,
} as const;

/** Names of the paging structures by level, for messages and traces. */
export const X86_LEVEL_NAME: readonly string[] = ['', 'PTE', 'PDE', 'PDPTE', 'PML4E', 'PML5E'];

/** Control-register bits that paging reads (SDM 3A 2.5 "Control Registers", 2.2.1 IA32_EFER). */
export const X86_CONTROL = {
  /** CR0.WP, bit 16: write protect for supervisor-mode writes. */
  CR0_WP: bitFlag(16),
  /** CR0.PG, bit 31: paging enabled. */
  CR0_PG: bitFlag(31),
  /** CR4.PSE, bit 4: page size extensions (32-bit paging). */
  CR4_PSE: bitFlag(4),
  /** CR4.PAE, bit 5: physical address extension (required by 4- and 5-level paging). */
  CR4_PAE: bitFlag(5),
  /** CR4.PGE, bit 7: global pages. */
  CR4_PGE: bitFlag(7),
  /** CR4.LA57, bit 12: 5-level paging. */
  CR4_LA57: bitFlag(12),
  /** CR4.PCIDE, bit 17: process-context identifiers. */
  CR4_PCIDE: bitFlag(17),
  /** CR4.SMEP, bit 20: supervisor-mode execution prevention. */
  CR4_SMEP: bitFlag(20),
  /** CR4.SMAP, bit 21: supervisor-mode access prevention. */
  CR4_SMAP: bitFlag(21),
  /** CR4.PKE, bit 22: protection keys for user-mode pages. */
  CR4_PKE: bitFlag(22),
  /** CR4.PKS, bit 24: protection keys for supervisor-mode pages. */
  CR4_PKS: bitFlag(24),
  /** IA32_EFER.LME, bit 8: IA-32e mode enable. */
  EFER_LME: bitFlag(8),
  /** IA32_EFER.LMA, bit 10: IA-32e mode active. */
  EFER_LMA: bitFlag(10),
  /** IA32_EFER.NXE, bit 11: execute-disable (XD) enabled. */
  EFER_NXE: bitFlag(11),
  /** RFLAGS.AC, bit 18: alignment check / SMAP override. */
  RFLAGS_AC: bitFlag(18),
  /** CR3 bits 11:0: the PCID when CR4.PCIDE = 1. */
  CR3_PCID: bitRange(11, 0),
  /** CR3 bits (M-1):12: the root paging structure. */
  CR3_ADDRESS: bitRange(51, 12),
  /** MOV to CR3 source bit 63: do not invalidate the new PCID (CR4.PCIDE = 1). */
  CR3_NOFLUSH: bitFlag(63),
} as const;

/**
 * Page-fault error code bits (SDM 3A 4.7, Figure 4-12). The access-type bits
 * W, U and I/D double as the access argument of a walk.
 */
export const PFEC = {
  /** 0: non-present page; 1: protection violation (or reserved bit). Value `0x1`. */
  P: 0x1,
  /** Write access. Value `0x2`. */
  W: 0x2,
  /** User-mode access (CPL 3, not an implicit supervisor access). Value `0x4`. */
  U: 0x4,
  /** A reserved bit was set in some paging-structure entry. Value `0x8`. */
  RSVD: 0x8,
  /** Instruction fetch (only reported when NXE or SMEP is enabled). Value `0x10`. */
  ID: 0x10,
  /** Protection-key violation. Value `0x20`. */
  PK: 0x20,
  /** Shadow-stack access. Value `0x40`. */
  SS: 0x40,
  /** SGX-specific access-control violation. Value `0x8000`. */
  SGX: 0x8000,
} as const;

/**
 * The access an x86 walk (`X86PageWalker`, `NestedWalker`, `X86Mmu`,
 * `ShadowMmu`) checks, as flags ORed together. The encoding is the #PF error
 * code's (SDM 3A 4.7): WRITE, USER and FETCH sit at the positions of W
 * (bit 1), U/S (bit 2) and I/D (bit 4), so a fault's error code is built by
 * masking, and READ is 0 (a supervisor data read has no bit in the error
 * code). IMPLICIT (bit 16, outside the error code) marks a supervisor-mode
 * access the CPU makes on its own behalf (GDT, IDT, TSS): SMAP ignores
 * RFLAGS.AC for it (SDM 3A 4.6). WRITE with FETCH is refused (`UsageError`).
 * The EPT and Arm walkers take their own architecture's encoding
 * ({@link EPT_ACCESS}, `S1_ACCESS`, `S2_ACCESS`): see the README, "Access kinds".
 */
export const ACCESS = {
  /** A supervisor-mode data read (no flag). Value `0`. */
  READ: 0,
  /** A write (error-code W, bit 1). Value `0x2`. */
  WRITE: PFEC.W,
  /** A user-mode access (CPL 3; error-code U/S, bit 2). Value `0x4`. */
  USER: PFEC.U,
  /** An instruction fetch (error-code I/D, bit 4). Value `0x10`. */
  FETCH: PFEC.ID,
  /** `0x10000` */
  IMPLICIT: 0x1_0000,
} as const;

/** All bits {@link ACCESS} flags may use. */
export const ACCESS_MASK = ACCESS.WRITE | ACCESS.USER | ACCESS.FETCH | ACCESS.IMPLICIT;
