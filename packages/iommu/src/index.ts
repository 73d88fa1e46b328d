/**
 * @hvsim/iommu: an Intel VT-d remapping hardware unit — DMA remapping,
 * interrupt remapping and posted interrupts, programmed through its real
 * registers and in-memory tables.
 *
 * @packageDocumentation
 */
export {
  /** One VT-d remapping hardware unit: registers (MmioDevice), DMA remapping, interrupt remapping and posting. */
  IntelIommu,
} from './iommu.js';
export type {
  /** Wiring and options of an IntelIommu. */
  IntelIommuOptions,
  /** Counters of what the unit did. */
  IommuStats,
} from './iommu.js';
export type {
  /** Saved state of an IntelIommu. */
  IntelIommuState,
} from './state.js';
export type {
  /** Saved features in force, every default applied (IntelIommuState.features). */
  ResolvedFeatures as ResolvedIommuFeatures,
} from './capabilities.js';
export type {
  /** Saved fault recording registers and FSTS (IntelIommuState.faults). */
  FaultRecorderState,
} from './faults/fault-recorder.js';
export type {
  /** Saved registers of the fault event or invalidation event interrupt (IntelIommuState.faultEvent, .invalidationEvent). */
  EventInterruptState,
} from './faults/event-interrupt.js';
export type {
  /** Saved invalidation queue registers (IntelIommuState.queue). */
  InvalidationQueueState,
} from './qi/invalidation-queue.js';
export type {
  /** Saved context cache, one row per cached source ID (IntelIommuState.contextCache). */
  ContextCacheState,
} from './dma/context-cache.js';
export type {
  /** Saved IOTLB, one row per valid entry (IntelIommuState.iotlbEntries). */
  IotlbState,
} from './dma/iotlb.js';
export type {
  /** Saved interrupt entry cache, one row per cached IRTE (IntelIommuState.interruptEntryCache). */
  InterruptEntryCacheState,
} from './interrupts/interrupt-entry-cache.js';
export type {
  /** Where remapped interrupts and notification events go. */
  IommuInterruptTarget,
} from './target.js';
export {
  /** Adapts an ApicBus into an IommuInterruptTarget that also carries 32-bit x2APIC destinations. */
  apicBusTarget,
} from './apic-bus-target.js';
export type {
  /** The part of ApicBus that apicBusTarget uses. */
  ApicBusLike,
} from './apic-bus-target.js';
export type {
  /** Result of dmaRead / dmaWrite. */
  DmaResult,
  /** How a DMA request ended. */
  DmaStatus,
  /** Result of sendMsi. */
  MsiResult,
  /** How an interrupt request ended. */
  MsiOutcome,
} from './results.js';
export type {
  /** Optional features of the modelled unit. */
  IommuFeatures,
} from './capabilities.js';
export {
  /** CAP_REG field descriptors (VT-d 11.4.2). */
  CAP,
  /** ECAP_REG field descriptors (VT-d 11.4.3). */
  ECAP,
} from './capabilities.js';
export {
  /** Register offsets by the spec's mnemonics without `_REG` (VT-d 11.4, Table 11-2): `VTD.GCMD`, `VTD.IQT`. */
  VTD,
  /**
   * Register offsets under their `_REG` names.
   * @deprecated Use `VTD` (`VTD.GCMD` for `VTD_REG.GCMD_REG`).
   */
  VTD_REG,
  /** GCMD/GSTS bits (VT-d 11.4.4-5). */
  GCMD,
  /** FSTS bits (VT-d 11.4.6). */
  FSTS,
  /** FECTL/IECTL bits. */
  EVENT_CTL,
  /** Invalidation queue error codes (IQERCD.IQEI). */
  IQEI,
  /** Number of Fault Recording registers. */
  VTD_FAULT_RECORDING_REGISTERS,
  /** Size of the register page (4 KiB). */
  VTD_REG_PAGE_SIZE,
  /** VER_REG value. */
  VTD_VERSION,
  /** RTADDR_REG fields (TTM, RTA). */
  RTADDR,
  /** CCMD_REG fields, high-dword relative (VT-d 11.4.7). */
  CCMD,
  /** IOTLB_REG fields, high-dword relative (VT-d 11.4.8.1). */
  IOTLB,
  /** IVA_REG fields (VT-d 11.4.8.2). */
  IVA,
  /** IQA_REG fields (VT-d 11.4.9.3). */
  IQA,
  /** IRTA_REG fields (S, EIME; VT-d 11.4.10.1). */
  IRTA,
  /** Fault Recording register fields, by 32-bit word (VT-d 11.4.14). */
  FRCD,
} from './regs.js';
export {
  /** VT-d fault reason codes (FRCD.FR). */
  VTD_FAULT_REASON,
  /** Name of a fault reason code. */
  faultReasonName,
} from './faults/fault-reason.js';
export type {
  /** A fault reason code. */
  VtdFaultReason,
} from './faults/fault-reason.js';
export type {
  /** A decoded Fault Recording register. */
  FaultRecord,
} from './faults/fault-recorder.js';
export {
  /** Invalidation descriptor types (VT-d 6.5.2). */
  DESCRIPTOR_TYPE,
  /** Context-cache invalidate descriptor fields (VT-d 6.5.2.1). */
  CC_DSC,
  /** IOTLB invalidate descriptor fields (VT-d 6.5.2.3). */
  IOTLB_DSC,
  /** Interrupt entry cache invalidate descriptor fields (VT-d 6.5.2.7). */
  IEC_DSC,
  /** Invalidation wait descriptor fields (VT-d 6.5.2.8). */
  WAIT_DSC,
  /** Encodes a context-cache invalidate descriptor (VT-d 6.5.2.1). */
  contextCacheInvalidateDescriptor,
  /** Encodes an IOTLB invalidate descriptor (VT-d 6.5.2.3). */
  iotlbInvalidateDescriptor,
  /** Encodes an interrupt entry cache invalidate descriptor (VT-d 6.5.2.7). */
  iecInvalidateDescriptor,
  /** Encodes an invalidation wait descriptor (VT-d 6.5.2.8). */
  invalidationWaitDescriptor,
} from './qi/descriptors.js';
export type {
  /** Four 32-bit words of a 128-bit invalidation descriptor. */
  Descriptor128,
} from './qi/descriptors.js';
export {
  /** Root-entry fields (VT-d 9.1). */
  ROOT_ENTRY,
  /** Context-entry fields (VT-d 9.3). */
  CONTEXT_ENTRY,
  /** Context-entry Translation Type values. */
  TRANSLATION_TYPE,
  /** Second-level paging-entry fields (VT-d 9.8). */
  SL_ENTRY,
} from './dma/tables.js';
export {
  /** IRTE fields, by 32-bit word (VT-d 9.10, 9.11). */
  IRTE,
  /** IRTE source validation types (SVT). */
  SOURCE_VALIDATION,
  /** IRTE size in bytes (16). */
  IRTE_SIZE,
  /** Encodes a remapped-format IRTE (VT-d 9.10) as four 32-bit words. */
  encodeRemappedIrte,
  /** Encodes a posted-format IRTE (VT-d 9.11) as four 32-bit words. */
  encodePostedIrte,
} from './interrupts/irte.js';
export type {
  /** Four 32-bit words of a 128-bit entry, word 0 = bits 31:0. */
  Words128,
  /** SVT/SQ/SID/FPD fields common to both IRTE formats. */
  IrteSourceValidation,
  /** Fields of a remapped-format IRTE. */
  RemappedIrteFields,
  /** Fields of a posted-format IRTE. */
  PostedIrteFields,
} from './interrupts/irte.js';
export {
  /** Builds a PCI source ID from bus, device, function. */
  sourceId,
  /** Formats a source ID as bb:dd.f. */
  formatSourceId,
} from './source-id.js';
export {
  /** A host driver for one VT-d unit (Linux intel-iommu / VFIO / KVM IRQ bypass style): tables, mappings, IRTEs, invalidation. */
  VtdDriver,
} from './driver/vtd-driver.js';
export type {
  /** Wiring and choices of a VtdDriver. */
  VtdDriverOptions,
  /** The register interface a VtdDriver programs (IntelIommu has it). */
  VtdRegisterPort,
  /** Options of VtdDriver.enableInterruptRemapping. */
  InterruptRemappingOptions,
} from './driver/vtd-driver.js';
export {
  /** Builds VT-d second-level page tables (VT-d 3.7, 9.8): map, mapRange, unmap, lookup. */
  SecondLevelTableBuilder,
  /** Second-level page sizes: 4 KiB, 2 MiB, 1 GiB. */
  SL_PAGE_SIZE,
} from './driver/second-level-builder.js';
export type {
  /** Options of SecondLevelTableBuilder.map. */
  SecondLevelMapOptions,
  /** A mapping found by SecondLevelTableBuilder.lookup. */
  SecondLevelMapping,
} from './driver/second-level-builder.js';
export {
  /** Builds the root table and context tables (VT-d 9.1, 9.3). */
  ContextTableBuilder,
} from './driver/context-table-builder.js';
export type {
  /** What a context entry says about one source ID. */
  ContextEntryFields,
} from './driver/context-table-builder.js';
export {
  /** The interrupt remapping table with IRTE allocation (VT-d 9.10-9.11). */
  InterruptRemappingTable,
} from './driver/interrupt-table.js';
export type {
  /** A source of 4 KiB pages for tables (mmu's PageAllocator fits). */
  TablePageSource,
} from './driver/page-source.js';
export {
  /** The register descriptions of a unit with given features (offset, width, reset, defined, writable and W1C bits; VT-d 11.4). */
  registerDescriptions,
} from './register-file.js';
export type {
  /** One register of the page as the model describes it (VT-d 11.4). */
  VtdRegisterInfo,
  /**
   * A register description.
   * @deprecated Use `VtdRegisterInfo`.
   */
  RegisterInfo,
} from './register-file.js';
