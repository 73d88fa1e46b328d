/**
 * A host driver for one VT-d unit, doing what Linux's intel-iommu driver,
 * VFIO and KVM's IRQ bypass do with the hardware, through its registers and
 * in-memory tables only (nothing reaches into the model):
 *
 * - root/context tables and one set of second-level tables per domain;
 *   `mapDma`/`unmapDma` (VFIO_IOMMU_MAP_DMA / UNMAP_DMA) and
 *   `mapGuestPhysical` (a VM's guest-physical range for an assigned device);
 * - the interrupt remapping table with IRTE allocation, `setRemappedIrte`
 *   and `postToVcpu` (KVM's vmx_pi_update_irte: a posted IRTE naming the
 *   vCPU's posted-interrupt descriptor);
 * - invalidation after every change that hardware may have cached: through
 *   the invalidation queue followed by an invalidation wait whose status
 *   write the driver checks (qi_submit_sync), or through CCMD_REG/IOTLB_REG
 *   when queued invalidation is off. The interrupt entry cache can only be
 *   invalidated through the queue (VT-d 6.5.2.7), so interrupt remapping needs it.
 *
 * Not-present → present changes need no invalidation (CAP.CM = 0: faulting
 * lookups are not cached, VT-d 6.1); every other change is followed by one.
 */
import { UsageError, assertInteger, assertOptions, describeValue, type Memory } from '@hvsim/core';
import { encodePostedIrte, encodeRemappedIrte, type PostedIrteFields, type RemappedIrteFields } from '../interrupts/irte.js';
import { contextCacheInvalidateDescriptor, iecInvalidateDescriptor, invalidationWaitDescriptor, iotlbInvalidateDescriptor, type Descriptor128 } from '../qi/descriptors.js';
import { CCMD, FSTS, GCMD, IOTLB, VTD } from '../regs.js';
import { ContextTableBuilder } from './context-table-builder.js';
import { InterruptRemappingTable } from './interrupt-table.js';
import { TABLE_PAGE, type TablePageSource } from './page-source.js';
import { SecondLevelTableBuilder, type SecondLevelMapOptions } from './second-level-builder.js';

/** The register interface the driver programs (an `IntelIommu`, or anything with its 32- and 64-bit MMIO). */
export interface VtdRegisterPort {
  /** Reads the 32-bit register at `offset` in the register page. */
  mmioRead(offset: number, size: 4): number;
  /** Writes the 32-bit register at `offset`. */
  mmioWrite(offset: number, size: 4, value: number): void;
  /** Reads the 64-bit register at `offset`. */
  mmioRead64(offset: number): bigint;
  /** Writes the 64-bit register at `offset`. */
  mmioWrite64(offset: number, value: bigint): void;
}

/** Wiring and choices of a {@link VtdDriver}. */
export interface VtdDriverOptions {
  /** The unit's registers. */
  unit: VtdRegisterPort;
  /** The memory the unit reads its tables from. */
  memory: Memory;
  /** Pages for the root, context and second-level tables, the queue and the wait status. */
  pages: TablePageSource;
  /** Use queued invalidation (default true); false uses CCMD_REG/IOTLB_REG and rules out interrupt remapping. */
  queuedInvalidation?: boolean;
}

/** Options of {@link VtdDriver.enableInterruptRemapping}. */
export interface InterruptRemappingOptions {
  /** IRTEs (power of two, 2-65536; default 256). */
  entries?: number;
  /** Table address (4 KiB aligned); default: pages from the page source, which must then be contiguous. */
  tableAddress?: number;
  /** IRTA.EIME: 32-bit x2APIC destinations (default false). */
  x2apic?: boolean;
  /** GCMD.CFI: let compatibility-format interrupts through (default false, as Linux in x2APIC mode). */
  compatibilityFormat?: boolean;
}

/** Granularities of the invalidation requests (VT-d 6.5.1, 6.5.2). */
const GLOBAL = 1;
const DOMAIN = 2;
const SELECTIVE = 3;
/** Page-selective IOTLB invalidation covers at most 2^MAMV pages (CAP.MAMV = 18). */
const MAX_AM = 18;

/** A host driver for one VT-d remapping unit. */
export class VtdDriver {
  /** Root and context tables. */
  readonly contexts: ContextTableBuilder;
  /** Whether invalidations go through the queue. */
  readonly queuedInvalidation: boolean;
  private readonly unit: VtdRegisterPort;
  private readonly memory: Memory;
  private readonly pages: TablePageSource;
  private readonly domains = new Map<number, SecondLevelTableBuilder>();
  /** Domain ID of each attached source ID. */
  private readonly attached = new Map<number, number>();
  private irt: InterruptRemappingTable | undefined;
  private queueBase = 0;
  private queueEntries = 0;
  private statusAddress = 0;
  private statusData = 0;

  /** Builds the root table, latches it (SRTP) and, by default, enables queued invalidation. */
  constructor(options: VtdDriverOptions) {
    assertOptions(options, ['unit', 'memory', 'pages', 'queuedInvalidation'], 'VtdDriver');
    if (typeof (options.pages as Partial<TablePageSource> | null | undefined)?.allocate !== 'function') {
      throw new UsageError('bad-argument', `VtdDriver pages must have an allocate() method, got ${describeValue(options.pages)}`);
    }
    this.unit = options.unit;
    this.memory = options.memory;
    this.pages = options.pages;
    this.queuedInvalidation = options.queuedInvalidation ?? true;
    this.contexts = new ContextTableBuilder(this.memory, this.pages);
    this.unit.mmioWrite64(VTD.RTADDR, BigInt(this.contexts.root));
    this.command(GCMD.SRTP, true);
    if (this.queuedInvalidation) {
      this.queueBase = this.page();
      this.queueEntries = 256; // IQA.QS = 0: one page of 128-bit descriptors
      this.statusAddress = this.page();
      this.unit.mmioWrite64(VTD.IQA, BigInt(this.queueBase));
      this.unit.mmioWrite64(VTD.IQT, 0n);
      this.command(GCMD.QIE, true);
    }
    // Whatever the unit cached before the new root table is stale (VT-d 6.5: global invalidations after SRTP).
    this.invalidateContextCache();
    this.invalidateIotlb();
  }

  /** The interrupt remapping table, once {@link enableInterruptRemapping} ran. */
  get interruptTable(): InterruptRemappingTable {
    if (this.irt === undefined) throw new UsageError('bad-state', 'interrupt remapping is not enabled (call enableInterruptRemapping first)');
    return this.irt;
  }

  /** Sets GCMD.TE: DMA from now on goes through the context and second-level tables. */
  enableTranslation(): void {
    this.command(GCMD.TE, true);
  }

  /**
   * Sets up the interrupt remapping table (IRTA, SIRTP), invalidates the
   * whole interrupt entry cache, then enables remapping (IRE) and sets or
   * clears CFI (VT-d 5.1, 11.4.4).
   */
  enableInterruptRemapping(options: InterruptRemappingOptions = {}): InterruptRemappingTable {
    assertOptions(options, ['entries', 'tableAddress', 'x2apic', 'compatibilityFormat'], 'enableInterruptRemapping');
    if (!this.queuedInvalidation) throw new UsageError('bad-state', 'interrupt remapping needs queued invalidation: the interrupt entry cache is invalidated only through the queue (VT-d 6.5.2.7)');
    const entries = options.entries ?? 256;
    assertInteger(entries, 'interrupt remapping table entries', 2, 0x1_0000);
    const base = options.tableAddress ?? this.contiguousPages(Math.max(1, (entries * 16) / TABLE_PAGE));
    const table = new InterruptRemappingTable(this.memory, base, entries);
    this.unit.mmioWrite64(VTD.IRTA, table.irta(options.x2apic === true));
    this.command(GCMD.SIRTP, true);
    this.submitAndWait(iecInvalidateDescriptor(true));
    this.command(GCMD.IRE, true);
    this.command(GCMD.CFI, options.compatibilityFormat === true);
    this.irt = table;
    return table;
  }

  // --- DMA remapping ------------------------------------------------------

  /**
   * Puts `sid` in domain `domainId` (creating the domain's second-level
   * tables on first use, `levels` deep) and invalidates its context-cache
   * entry; returns the domain's tables. `passThrough` attaches it untranslated.
   */
  attachDevice(sid: number, domainId: number, options: { levels?: 3 | 4; passThrough?: boolean } = {}): SecondLevelTableBuilder | undefined {
    assertInteger(sid, 'source ID', 0, 0xffff);
    assertInteger(domainId, 'domain ID', 0, 0xffff);
    assertOptions(options, ['levels', 'passThrough'], 'attachDevice');
    const previous = this.attached.get(sid);
    if (options.passThrough === true) {
      this.contexts.setContext(sid, { domainId, passThrough: true });
    } else {
      const tables = this.domainTables(domainId, options.levels ?? 4);
      this.contexts.setContext(sid, { domainId, secondLevel: { root: tables.root, levels: tables.levels } });
    }
    this.attached.set(sid, domainId);
    if (previous !== undefined) {
      // A present entry changed: the cached context entry and the old domain's translations go (VT-d 6.5.3.3).
      this.invalidateContextCache(sid);
      this.invalidateIotlb(previous);
    }
    return options.passThrough === true ? undefined : this.domains.get(domainId);
  }

  /** Clears the context entry of `sid` and invalidates what the unit cached for it. */
  detachDevice(sid: number): void {
    const domainId = this.attachedDomain(sid);
    this.contexts.clearContext(sid);
    this.attached.delete(sid);
    this.invalidateContextCache(sid);
    this.invalidateIotlb(domainId);
  }

  /** The second-level tables of domain `domainId` (undefined before any device was attached to it). */
  domain(domainId: number): SecondLevelTableBuilder | undefined {
    return this.domains.get(domainId);
  }

  /**
   * VFIO_IOMMU_MAP_DMA: maps `[iova, iova + size)` of `sid`'s domain to
   * `[physical, physical + size)` with the largest pages alignment allows.
   * No invalidation is needed (not-present entries are never cached).
   */
  mapDma(sid: number, iova: number, physical: number, size: number, options: Omit<SecondLevelMapOptions, 'pageSize'> = {}): void {
    this.tablesOf(sid).mapRange(iova, physical, size, options);
  }

  /**
   * VFIO_IOMMU_UNMAP_DMA: unmaps `[iova, iova + size)` of `sid`'s domain,
   * then invalidates the IOTLB for that range (page-selective, falling back
   * to domain-selective for a range no 2^MAMV-page block covers) and waits.
   * Returns the bytes that were mapped.
   */
  unmapDma(sid: number, iova: number, size: number): number {
    const did = this.attachedDomain(sid);
    const bytes = this.tablesOf(sid).unmap(iova, size);
    this.invalidateIotlb(did, iova, size);
    return bytes;
  }

  /**
   * Maps a VM's guest-physical range `[gpa, gpa + size)` for an assigned
   * device: IOVA = guest-physical address, translated to host-physical by
   * `toHost` (e.g. memslots' `translate`, -1 when a page has no backing).
   * Contiguous host runs use large pages where they align. Every page is
   * checked before anything is mapped.
   */
  mapGuestPhysical(sid: number, gpa: number, size: number, toHost: (gpa: number) => number, options: Omit<SecondLevelMapOptions, 'pageSize'> = {}): void {
    const tables = this.tablesOf(sid);
    assertInteger(gpa, 'guest-physical address', 0, tables.limit - 1);
    assertInteger(size, 'size', 1, tables.limit - gpa);
    if (gpa % TABLE_PAGE !== 0 || size % TABLE_PAGE !== 0) {
      throw new UsageError('bad-argument', `guest-physical range 0x${gpa.toString(16)} + 0x${size.toString(16)} must be 4 KiB aligned`);
    }
    const hosts: number[] = [];
    for (let at = gpa; at < gpa + size; at += TABLE_PAGE) {
      const hpa = toHost(at);
      if (!Number.isSafeInteger(hpa) || hpa < 0 || hpa % TABLE_PAGE !== 0) {
        throw new UsageError('bad-argument', `guest-physical page 0x${at.toString(16)} has no host page (toHost gave ${describeValue(hpa)})`);
      }
      hosts.push(hpa);
    }
    let run = 0;
    for (let i = 1; i <= hosts.length; i++) {
      if (i === hosts.length || hosts[i] !== hosts[i - 1]! + TABLE_PAGE) {
        tables.mapRange(gpa + run * TABLE_PAGE, hosts[run]!, (i - run) * TABLE_PAGE, options);
        run = i;
      }
    }
  }

  // --- interrupt remapping ------------------------------------------------

  /** Allocates `count` IRTEs (aligned block for multi-message MSI); returns the first index (the MSI handle). */
  allocateIrte(count = 1): number {
    return this.interruptTable.allocate(count);
  }

  /** Frees IRTEs, clears them and invalidates their cached copies. */
  freeIrte(index: number, count = 1): void {
    this.interruptTable.free(index, count);
    this.invalidateInterruptEntries(index, count);
  }

  /** Writes a remapped-format IRTE (VT-d 9.10) and invalidates its cached copy. */
  setRemappedIrte(index: number, fields: RemappedIrteFields): void {
    this.writeIrte(index, encodeRemappedIrte(fields));
  }

  /**
   * KVM IRQ bypass (vmx_pi_update_irte): makes IRTE `index` post its
   * interrupt as `fields.vector` into the vCPU's posted-interrupt descriptor
   * at `fields.descriptorAddress` (VT-d 9.11), then invalidates the cached
   * entry. Until then the unit keeps delivering through the old entry.
   */
  postToVcpu(index: number, fields: PostedIrteFields): void {
    this.writeIrte(index, encodePostedIrte(fields));
  }

  /**
   * Invalidates `count` cached IRTEs from `index` (rounded out to an aligned
   * power-of-two block, the descriptor's index mask) through the queue, and
   * waits for completion.
   */
  invalidateInterruptEntries(index: number, count = 1): void {
    assertInteger(index, 'interrupt index', 0, 0xffff);
    assertInteger(count, 'IRTE count', 1, 0x1_0000 - index);
    let mask = 0;
    while (Math.floor(index / 2 ** mask) !== Math.floor((index + count - 1) / 2 ** mask)) mask++;
    this.submitAndWait(iecInvalidateDescriptor(false, index, mask));
  }

  // --- invalidation -------------------------------------------------------

  /** Context-cache invalidation: of one source ID, or global without one. */
  invalidateContextCache(sid?: number): void {
    const granularity = sid === undefined ? GLOBAL : SELECTIVE;
    if (this.queuedInvalidation) {
      this.submitAndWait(contextCacheInvalidateDescriptor(granularity, 0, sid ?? 0));
      return;
    }
    // CCMD_REG (VT-d 11.4.7): ICC with CIRG, DID/SID/FM; hardware clears ICC on completion.
    const low = ((sid ?? 0) << CCMD.SID.lsb) >>> 0;
    const high = ((1 << CCMD.ICC_HI.lsb) | (granularity << CCMD.CIRG_HI.lsb)) >>> 0;
    this.unit.mmioWrite64(VTD.CCMD, (BigInt(high) << 32n) | BigInt(low));
    if ((this.unit.mmioRead(VTD.CCMD + 4, 4) & (1 << CCMD.ICC_HI.lsb)) !== 0) {
      throw new UsageError('bad-state', 'context-cache invalidation did not complete (CCMD_REG.ICC still set)');
    }
  }

  /**
   * IOTLB invalidation: global without arguments, domain-selective with a
   * domain, page-selective for `[iova, iova + size)` of a domain (as few
   * aligned power-of-two blocks as the range needs; domain-selective when a
   * block would exceed 2^MAMV pages).
   */
  invalidateIotlb(domainId?: number, iova?: number, size?: number): void {
    if (domainId === undefined) {
      this.iotlb(GLOBAL, 0, 0, 0);
      return;
    }
    assertInteger(domainId, 'domain ID', 0, 0xffff);
    if (iova === undefined || size === undefined) {
      this.iotlb(DOMAIN, domainId, 0, 0);
      return;
    }
    let at = Math.floor(iova / TABLE_PAGE) * TABLE_PAGE;
    const end = iova + size;
    while (at < end) {
      let am = 0;
      // The largest aligned block from `at` that stays within the range.
      while (am < MAX_AM && at % 2 ** (13 + am) === 0 && at + 2 ** (13 + am) <= end) am++;
      if (am === MAX_AM && at + 2 ** (12 + am) < end) {
        this.iotlb(DOMAIN, domainId, 0, 0);
        return;
      }
      this.iotlb(SELECTIVE, domainId, at, am);
      at += 2 ** (12 + am);
    }
  }

  private iotlb(granularity: number, did: number, address: number, am: number): void {
    if (this.queuedInvalidation) {
      this.submitAndWait(iotlbInvalidateDescriptor(granularity as 1 | 2 | 3, did, address, am));
      return;
    }
    // IVA_REG then IOTLB_REG (VT-d 11.4.8): IVT with IIRG and DID; hardware clears IVT on completion.
    if (granularity === SELECTIVE) this.unit.mmioWrite64(VTD.IVA, BigInt(address) | BigInt(am));
    const high = ((1 << IOTLB.IVT_HI.lsb) | (granularity << IOTLB.IIRG_HI.lsb) | did) >>> 0;
    this.unit.mmioWrite64(VTD.IOTLB, BigInt(high) << 32n);
    if ((this.unit.mmioRead(VTD.IOTLB + 4, 4) & (1 << IOTLB.IVT_HI.lsb)) !== 0) {
      throw new UsageError('bad-state', 'IOTLB invalidation did not complete (IOTLB_REG.IVT still set)');
    }
  }

  /**
   * qi_submit_sync: writes `descriptor` and an invalidation wait descriptor
   * with a fresh status value at IQT, advances IQT, then checks that the
   * status was written (VT-d 6.5.2.8) and no queue error is pending.
   */
  private submitAndWait(descriptor: Descriptor128): void {
    if (!this.queuedInvalidation) throw new UsageError('bad-state', 'queued invalidation is off');
    if ((this.unit.mmioRead(VTD.FSTS, 4) & FSTS.IQE) !== 0) {
      throw new UsageError('bad-state', `the invalidation queue is stopped (FSTS.IQE, IQERCD 0x${this.unit.mmioRead(VTD.IQERCD, 4).toString(16)})`);
    }
    this.statusData = (this.statusData + 1) >>> 0 || 1;
    const wait = invalidationWaitDescriptor({ statusAddress: this.statusAddress, statusData: this.statusData });
    let tail = this.unit.mmioRead(VTD.IQT, 4) >>> 4;
    for (const d of [descriptor, wait]) {
      const at = this.queueBase + tail * 16;
      for (let i = 0; i < 4; i++) this.memory.write32(at + i * 4, d[i]! >>> 0);
      tail = (tail + 1) % this.queueEntries;
    }
    this.unit.mmioWrite(VTD.IQT, 4, tail << 4);
    if (this.memory.read32(this.statusAddress) !== this.statusData) {
      throw new UsageError(
        'bad-state',
        `invalidation wait did not complete: FSTS 0x${this.unit.mmioRead(VTD.FSTS, 4).toString(16)}, IQERCD 0x${this.unit.mmioRead(VTD.IQERCD, 4).toString(16)}`,
      );
    }
  }

  /** One GCMD command with the recommended read-modify-write of GSTS (VT-d 11.4.4); checks the status. */
  private command(bit: number, on: boolean): void {
    const status = this.unit.mmioRead(VTD.GSTS, 4) & 0x96ff_ffff;
    this.unit.mmioWrite(VTD.GCMD, 4, (on ? status | bit : status & ~bit) >>> 0);
    if (((this.unit.mmioRead(VTD.GSTS, 4) & bit) !== 0) !== on) {
      throw new UsageError('bad-state', `GCMD 0x${bit.toString(16)} ${on ? 'set' : 'clear'} was not reflected in GSTS`);
    }
  }

  private writeIrte(index: number, words: Descriptor128): void {
    const table = this.interruptTable;
    if (!table.isAllocated(index)) throw new UsageError('bad-state', `IRTE ${index} is not allocated (allocateIrte first)`);
    table.write(index, words);
    this.invalidateInterruptEntries(index);
  }

  private domainTables(domainId: number, levels: 3 | 4): SecondLevelTableBuilder {
    let tables = this.domains.get(domainId);
    if (tables === undefined) {
      tables = new SecondLevelTableBuilder(this.memory, this.pages, { levels });
      this.domains.set(domainId, tables);
    } else if (tables.levels !== levels) {
      throw new UsageError('bad-argument', `domain ${domainId} has ${tables.levels}-level tables, not ${levels}`);
    }
    return tables;
  }

  private attachedDomain(sid: number): number {
    assertInteger(sid, 'source ID', 0, 0xffff);
    const did = this.attached.get(sid);
    if (did === undefined) throw new UsageError('bad-state', `source ID 0x${sid.toString(16)} is not attached to a domain`);
    return did;
  }

  private tablesOf(sid: number): SecondLevelTableBuilder {
    const tables = this.domains.get(this.attachedDomain(sid));
    if (tables === undefined) throw new UsageError('bad-state', `source ID 0x${sid.toString(16)} is attached pass-through: it has no second-level tables`);
    return tables;
  }

  private page(): number {
    const page = this.pages.allocate();
    this.memory.writeBytes(page, new Uint8Array(TABLE_PAGE));
    return page;
  }

  private contiguousPages(count: number): number {
    const first = this.page();
    for (let i = 1; i < count; i++) {
      const next = this.page();
      if (next !== first + i * TABLE_PAGE) {
        throw new UsageError('bad-state', `the page source gave non-contiguous pages for a ${count}-page interrupt remapping table; pass tableAddress`);
      }
    }
    return first;
  }
}
