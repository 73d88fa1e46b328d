/**
 * @hvsim/mmu: how a guest virtual address becomes a host physical address.
 * x86-64 4-level and 5-level paging with every access-rights and
 * reserved-bit check and A/D updates; EPT with violations, misconfigurations
 * and exit qualifications; the nested (two-dimensional) walk with its
 * reference counts; TLBs tagged by VPID, PCID and EP4TA with the
 * architectural invalidation instructions; a shadow MMU that keeps shadow
 * page tables in sync with the guest's; and Arm VMSAv8-64 stage 1 (EL1&0)
 * and stage 2 translation with an Arm TLB (`ArmMmu`). Walks return their
 * faults as values with the architectural codes and allocate nothing on the fast path.
 *
 * @packageDocumentation
 */

// Common
export {
  /**
   * Core's `UsageError` under this package's old name: every host-misuse error of @hvsim/mmu is one.
   * @deprecated Catch `UsageError` from `@hvsim/core`.
   */
  MmuError,
} from './common/mmu-error.js';
export type {
  /**
   * The class of every host-misuse error @hvsim/mmu throws: core's `UsageError` whose `name` is
   * `'MmuError'` (the deprecated `MmuError` value is this class). Catch `UsageError`.
   */
  MmuUsageError,
  /**
   * Core's `UsageErrorKind` (`'bad-argument' | 'bad-state' | 'unknown-name'`).
   * @deprecated Use `UsageErrorKind` from `@hvsim/core`.
   */
  MmuErrorKind,
} from './common/mmu-error.js';
export {
  /** The reusable result of every walker: a translation or a fault with its architectural code. */
  WalkResult,
} from './common/walk-result.js';
export type {
  /** How a walk ended: `'ok'`, `'page-fault'`, `'ept-violation'`, `'ept-misconfig'`, `'stage2-fault'`, `'no-memslot'`. */
  WalkStatus,
  /** One paging-structure entry a walk read (recorded on request). */
  WalkReference,
  /** Which translation a recorded reference belongs to. */
  WalkReferenceKind,
} from './common/walk-result.js';
export {
  /** A 4 KiB page allocator over one physical range (tables, shadow pages). */
  PageAllocator,
} from './common/page-allocator.js';
export type {
  /** The time options every model here takes: `clock` (a core Clock; `now` is deprecated). */
  TimeOptions,
} from './common/memory-access.js';
export {
  /** True when a 64-bit linear address (as halves) is canonical (SDM 3A 3.3.7.1). */
  isCanonical,
  /** Splits a 64-bit bigint address into `[hi, lo]` halves. */
  splitAddress,
  /** Joins `hi`/`lo` halves into a bigint. */
  addressToBigint,
} from './common/address.js';

// x86-64 paging
export {
  /** Fields of an x86-64 paging-structure entry (SDM 3A 4.5). */
  X86_PTE,
  /** Hot-path masks of an entry's bits 31:0. */
  PTE_LO,
  /** Hot-path masks of an entry's bits 63:32. */
  PTE_HI,
  /** Paging levels (1 = PT ... 5 = PML5). */
  X86_LEVEL,
  /** Names of the paging structures by level. */
  X86_LEVEL_NAME,
  /** Control-register bits that paging uses (CR0, CR3, CR4, IA32_EFER, RFLAGS). */
  X86_CONTROL,
  /** Page-fault error code bits (SDM 3A 4.7). */
  PFEC,
  /** Access flags of an x86 walk, in #PF error-code positions (READ = 0, WRITE, USER, FETCH; IMPLICIT supervisor). */
  ACCESS,
  /** Every bit ACCESS flags may use. */
  ACCESS_MASK,
} from './x86/regs.js';
export {
  /** The paging-relevant processor state of one logical processor. */
  X86PagingContext,
} from './x86/paging-context.js';
export type {
  /** Options of X86PagingContext. */
  X86PagingContextOptions,
} from './x86/paging-context.js';
export {
  /** Walks x86-64 4-level and 5-level paging structures. */
  X86PageWalker,
  /** Index of the entry for a level in a linear address. */
  x86TableIndex,
} from './x86/page-walker.js';
export type {
  /** Options of X86PageWalker. */
  X86PageWalkerOptions,
} from './x86/page-walker.js';
export type {
  /** A second stage for guest walks (memslots, EPT). */
  TableStage,
} from './x86/table-stage.js';
export {
  /** The access-rights check of SDM 3A 4.6; returns 0 or the #PF error code. */
  x86AccessFault,
  /** Builds a #PF error code for an access (SDM 3A 4.7). */
  pageFaultCode,
} from './x86/access-rights.js';
export {
  /** Writes x86-64 paging structures into memory. */
  X86PageTableBuilder,
} from './x86/page-table-builder.js';
export type {
  /** Attributes of a mapping made by X86PageTableBuilder. */
  X86MapOptions,
} from './x86/page-table-builder.js';
export {
  /** TLB plus walker (native or EPT) for one x86 logical processor. */
  X86Mmu,
} from './x86/x86-mmu.js';
export type {
  /** Options of X86Mmu. */
  X86MmuOptions,
  /** Saved state of X86Mmu. */
  X86MmuState,
  /** Counters of X86Mmu. */
  X86MmuStats,
  /** A 64-bit linear address operand: a number, or an unsigned 64-bit bigint for upper-half addresses. */
  LinearAddress,
} from './x86/x86-mmu.js';

// EPT
export {
  /** EPTP fields (SDM 3C 24.6.11). */
  EPTP,
  /** EPT entry fields (SDM 3C 28.2.2). */
  EPT_ENTRY,
  /** Hot-path masks of an EPT entry's bits 31:0. */
  EPTE_LO,
  /** EPT memory types. */
  EPT_MEMORY_TYPE,
  /** EPT-violation exit-qualification bits (SDM 3C Table 27-7). */
  EPT_QUAL,
  /** The access of an EPT walk, as EPT-violation exit-qualification bits 2:0 (READ 1, WRITE 2, FETCH 4). */
  EPT_ACCESS,
} from './ept/regs.js';
export {
  /** Walks EPT: guest-physical to host-physical, with violations and misconfigurations. */
  EptWalker,
  /** Decodes and checks an EPTP. */
  decodeEptp,
} from './ept/ept-walker.js';
export type {
  /** Options (EPT capabilities) of EptWalker. */
  EptWalkerOptions,
  /** Decoded EPTP fields. */
  EptPointerFields,
} from './ept/ept-walker.js';
export {
  /** Writes EPT paging structures and makes their EPTP. */
  EptBuilder,
} from './ept/ept-builder.js';
export type {
  /** Attributes of an EPT mapping. */
  EptMapOptions,
} from './ept/ept-builder.js';

// Nested paging
export {
  /** The two-dimensional walk: guest paging over EPT. */
  NestedWalker,
  /** (n + 1)(m + 1) - 1: most entries an n-level over m-level nested walk reads. */
  nestedWalkMaxReferences,
} from './nested/nested-walker.js';
export type {
  /** Options of NestedWalker. */
  NestedWalkerOptions,
  /** Counters of NestedWalker. */
  NestedWalkerStats,
} from './nested/nested-walker.js';

// TLBs
export {
  /** A set-associative TLB tagged by VPID, PCID and EP4TA. */
  Tlb,
  /** Attribute bits of a TLB entry. */
  TLB_ATTR,
  /** The EP4TA tag of linear (non-EPT) mappings. */
  NO_EP4TA,
} from './tlb/tlb.js';
export {
  /** Paging-structure caches (PDE, PDPTE, PML4E, PML5E) of a Tlb. */
  PagingStructureCache,
} from './tlb/paging-structure-cache.js';
export type {
  /** Options of Tlb. */
  TlbOptions,
  /** Replacement policy of a Tlb. */
  TlbReplacement,
  /** Saved state of a Tlb. */
  TlbState,
} from './tlb/tlb.js';
export {
  /** INVLPG semantics. */
  invlpg,
  /** MOV to CR3 semantics with PCIDs (#GP on reserved bits). */
  movToCr3,
  /** MOV to CR4 invalidation semantics. */
  movToCr4,
  /** INVPCID (types 0-3, #GP cases). */
  invpcid,
  /** INVVPID (types 0-3); returns 0 or VM-instruction error 28. */
  invvpid,
  /** INVEPT (single- and all-context); returns 0 or VM-instruction error 28. */
  invept,
  /** INVPCID types. */
  INVPCID_TYPE,
  /** INVVPID types. */
  INVVPID_TYPE,
  /** INVEPT types. */
  INVEPT_TYPE,
  /** VM-instruction error 28: invalid operand to INVEPT/INVVPID. */
  VM_INSTRUCTION_ERROR_INVALID_INVEPT_INVVPID,
} from './tlb/invalidation.js';

// Shadow paging
export {
  /** Guest-physical to host-physical memory slots. */
  Memslots,
  /** Memslot flag: log the slot's dirty pages (KVM_MEM_LOG_DIRTY_PAGES, api.rst 4.35). */
  KVM_MEM_LOG_DIRTY_PAGES,
  /** Memslot flag: guest writes to the slot exit as MMIO (KVM_MEM_READONLY, api.rst 4.35). */
  KVM_MEM_READONLY,
} from './shadow/memslots.js';
export type {
  /** Anything that maps guest-physical to host-physical addresses. */
  GuestPhysicalMap,
  /** One memory slot. */
  Memslot,
} from './shadow/memslots.js';
export {
  /** Memslots as the second stage of a software guest walk. */
  MemslotStage,
} from './shadow/memslot-stage.js';
export {
  /** The shadow MMU: shadow page tables kept in sync with the guest's. */
  ShadowMmu,
} from './shadow/shadow-mmu.js';
export type {
  /** Options of ShadowMmu. */
  ShadowMmuOptions,
} from './shadow/shadow-mmu.js';
export {
  /** The shadow pages of one VM, shared by its vCPUs' ShadowMmu contexts (found by gfn and role). */
  ShadowPageTables,
  /** MAXPHYADDR (51) of the host processor walking the shadow tables: bit 51 marks MMIO sptes. */
  SHADOW_HOST_MAXPHYADDR,
  /** The guest frame an MMIO spte stands for, or -1 for any other spte. */
  mmioSpteGfn,
} from './shadow/shadow-page-tables.js';
export type {
  /** Options of ShadowPageTables. */
  ShadowPageTablesOptions,
  /** VM-wide counters of ShadowPageTables. */
  ShadowPageTablesStats,
} from './shadow/shadow-page-tables.js';
export {
  /** Bits of a shadow page's role (level, direct, guest paging-mode bits, direct leaf attributes). */
  SHADOW_ROLE,
} from './shadow/shadow-pages.js';
export {
  /** A walk result plus the event a hypervisor saw. */
  ShadowResult,
} from './shadow/shadow-stats.js';
export type {
  /** Counters of ShadowMmu (exits, emulated writes, references ...). */
  ShadowMmuStats,
  /** `'hit'`, `'page-fault-exit'`, `'fixed'`, `'guest-fault'`, `'write-protected'` or `'mmio'`. */
  ShadowEvent,
} from './shadow/shadow-stats.js';

// Arm stage 2
export {
  /** VTCR_EL2 fields. */
  VTCR_EL2,
  /** VTTBR_EL2 fields. */
  VTTBR_EL2,
  /** Output address sizes by VTCR_EL2.PS. */
  PS_BITS,
  /** Stage 2 descriptor fields (4 KiB granule). */
  S2_DESCRIPTOR,
  /** Hot-path masks of a stage 2 descriptor's bits 31:0. */
  S2_LO,
  /** Stage 2 fault status codes (add the level). */
  S2_FAULT_STATUS,
  /** Access flags of a stage 2 walk (READ 1, WRITE 2, EXECUTE 4, EL0, S1PTW; a read is a flag of its own). */
  S2_ACCESS,
  /** ISS bits a stage 2 abort fills (WnR, S1PTW). */
  S2_ISS,
} from './arm/stage2-regs.js';
export {
  /** VMSAv8-64 stage 2 translation, 4 KiB granule. */
  Stage2Walker,
} from './arm/stage2-walker.js';
export type {
  /** Options of Stage2Walker. */
  Stage2WalkerOptions,
} from './arm/stage2-walker.js';
export {
  /** Writes stage 2 tables and the matching VTCR_EL2/VTTBR_EL2. */
  Stage2Builder,
} from './arm/stage2-builder.js';
export type {
  /** Attributes of a stage 2 mapping. */
  Stage2MapOptions,
} from './arm/stage2-builder.js';

// Arm stage 1 and the Arm TLB (issue 11, G9f)
export {
  /** TCR_EL1 fields. */
  TCR_EL1,
  /** TTBR0_EL1/TTBR1_EL1 fields. */
  TTBR_EL1,
  /** The SCTLR_EL1 bits a stage 1 walk uses (M, WXN). */
  SCTLR_EL1,
  /** Stage 1 descriptor fields (4 KiB granule). */
  S1_DESCRIPTOR,
  /** Hot-path masks of a stage 1 descriptor's bits 31:0. */
  S1_LO,
  /** Hot-path masks of a stage 1 descriptor's bits 63:32. */
  S1_HI,
  /** Stage 1 permission bits (EL1/EL0 read, write, execute) of a translation. */
  S1_PERM,
  /** DFSC/IFSC fault status codes (add the level), incl. external aborts on a walk. */
  ARM_FAULT_STATUS,
  /** Access flags of a stage 1 translation (READ 1, WRITE 2, EXECUTE 4, EL0 as in S2_ACCESS; PAN). */
  S1_ACCESS,
  /** Every bit S1_ACCESS flags may use. */
  S1_ACCESS_MASK,
  /** ISS bits of a Data Abort a walk fills (WnR, S1PTW). */
  ARM_ISS,
} from './arm/stage1-regs.js';
export {
  /** TCR_EL1, TTBR0_EL1, TTBR1_EL1 and SCTLR_EL1 of one PE, decoded; `stage2` makes walks guest walks. */
  Stage1Context,
  /** One decoded VA range (TTBR0_EL1 or TTBR1_EL1 region). */
  Stage1Region,
  /** Smallest TnSZ with the 4 KiB granule (no FEAT_LPA2). */
  S1_TNSZ_MIN,
  /** Largest TnSZ (no FEAT_TTST). */
  S1_TNSZ_MAX,
} from './arm/stage1-context.js';
export type {
  /** Options of Stage1Context. */
  Stage1ContextOptions,
  /** Saved state of Stage1Context. */
  Stage1ContextState,
} from './arm/stage1-context.js';
export {
  /** VMSAv8-64 stage 1 translation of the EL1&0 regime, 4 KiB granule, optionally over stage 2. */
  Stage1Walker,
  /** True when a VA lies in the TTBR0_EL1/TTBR1_EL1 range bit 55 selects. */
  stage1InRange,
} from './arm/stage1-walker.js';
export type {
  /** Options of Stage1Walker. */
  Stage1WalkerOptions,
} from './arm/stage1-walker.js';
export {
  /** The S1_PERM bits a stage 1 leaf grants (AP, UXN/PXN, table limits, WXN). */
  stage1Permissions,
  /** True when S1_PERM bits allow an access (with PAN). */
  stage1Allows,
  /** Table-descriptor bits that limit later levels (APTable, UXNTable, PXNTable). */
  S1_TABLE_LIMITS,
} from './arm/stage1-permissions.js';
export {
  /** Writes stage 1 tables and the matching TTBRn_EL1/TCR_EL1. */
  Stage1Builder,
} from './arm/stage1-builder.js';
export type {
  /** Attributes of a stage 1 mapping. */
  Stage1MapOptions,
  /** Hierarchical limits of a stage 1 table descriptor. */
  Stage1TableLimits,
  /** Fields of Stage1Builder.tcr. */
  Stage1TcrOptions,
} from './arm/stage1-builder.js';
export {
  /** An Arm TLB tagged by VMID and ASID with the EL1&0 TLBI operations and an invalidation epoch. */
  ArmTlb,
  /** The TLBI operations ArmTlb.tlbi executes. */
  ARM_TLBI,
  /** Stage 2 permission bits of a combined Arm TLB entry. */
  ARM_TLB_S2,
} from './arm/arm-tlb.js';
export type {
  /** Options of ArmTlb. */
  ArmTlbOptions,
  /** A TLBI operation name. */
  ArmTlbiOp,
  /** Saved state of ArmTlb. */
  ArmTlbState,
} from './arm/arm-tlb.js';
export {
  /** ArmTlb in front of the stage 1 (and stage 2) walk for one PE. */
  ArmMmu,
} from './arm/arm-mmu.js';
export type {
  /** Options of ArmMmu. */
  ArmMmuOptions,
  /** Counters of ArmMmu. */
  ArmMmuStats,
  /** Saved state of ArmMmu. */
  ArmMmuState,
} from './arm/arm-mmu.js';
export type {
  /** Permission changes of Stage2Builder.protect. */
  Stage2ProtectOptions,
  /** A leaf descriptor found by Stage2Builder.leafFor. */
  Stage2Leaf,
} from './arm/stage2-builder.js';
