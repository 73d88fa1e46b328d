/**
 * The shadow pages of one VM, shared by every vCPU's {@link ShadowMmu}
 * context (as KVM keeps `kvm->arch.mmu_page_hash` per VM and each vCPU's MMU
 * finds pages there by gfn and role, mmu.c `kvm_mmu_find_shadow_page`).
 * Write protection is per VM: once any vCPU shadows a guest table, every
 * leaf spte of every vCPU that maps that frame becomes read-only, so a store
 * through another vCPU traps too. When a present spte is dropped or loses
 * rights, the VM asks every TLB that may cache it to flush (KVM's
 * `kvm_flush_remote_tlbs`): see {@link ShadowPageTables.addFlushListener}.
 */
import type { Memory, Tracer } from '@hvsim/core';
import { Memslots, readState } from '@hvsim/core';
import { TWO_32, checkAddress, entryFrame, highHalf } from '../common/address.js';
import type { TimeOptions } from '../common/memory-access.js';
import { read32Safe, timeSource } from '../common/memory-access.js';
import { MmuUsageError } from '../common/mmu-error.js';
import type { PageAllocator } from '../common/page-allocator.js';
import { writeSized } from '../common/write-sized.js';
import { PTE_HI, PTE_LO } from '../x86/regs.js';
import type { GuestPhysicalMap } from './memslots.js';
import type { ShadowPage } from './shadow-pages.js';
import { SHADOW_ROLE, ShadowPageStore } from './shadow-pages.js';
import { TIME_OPTION_NAMES, checkOptionNames } from '../common/option-names.js';

/** Option names the constructor knows (a misspelled one throws). */
const SHADOW_PAGE_TABLES_OPTIONS = ['memslots', 'shadowPages', 'maxPhyAddr', 'tracer', 'onFlush', ...TIME_OPTION_NAMES];

const { P, RW, US, PWT, PCD, A, D, PS, G } = PTE_LO;
const { XD } = PTE_HI;
const PKEY_HI = 0x7800_0000;

/**
 * MAXPHYADDR of the host processor that walks the shadow tables: 51, so
 * that bit 51 of an spte is a reserved bit an MMIO spte can set (KVM sets
 * reserved physical-address bits in MMIO sptes so that an access faults with
 * PFEC.RSVD = 1, arch/x86/kvm/mmu/spte.c; it turns MMIO caching off on hosts
 * with MAXPHYADDR 52, which have no such bit). Host memory the shadow tables
 * map must lie below 2^51.
 */
export const SHADOW_HOST_MAXPHYADDR = 51;

/** An MMIO spte's high half: bit 51 (reserved: accesses fault with RSVD) and bit 52 (ignored by the hardware; says "MMIO"). */
const MMIO_HI = 0x18_0000;
/** Bits 50:32 of an spte (bits 18:0 of its high half): the high part of an MMIO spte's guest frame. */
const MMIO_GFN_HI = 0x7_ffff;
/** Guest frames an MMIO spte can hold (guest-physical addresses below 2^51). */
const MMIO_GFN_LIMIT = 2 ** 39;

/**
 * The guest frame an MMIO spte (`lo`, `hi`: bits 31:0 and 63:32) stands
 * for, or -1 when the spte is not an MMIO spte. An MMIO spte is present,
 * has reserved bit 51 and ignored bit 52 set, holds the guest frame in bits
 * 50:12, and keeps the guest leaf's R/W, U/S, D, XD and protection key, so
 * that KVM's fast MMIO path can check an access without walking the guest
 * tables (KVM's `mark_mmio_spte`, `get_mmio_spte_gfn`).
 */
export function mmioSpteGfn(lo: number, hi: number): number {
  if ((lo & P) === 0 || (hi & MMIO_HI) !== MMIO_HI) return -1;
  return (hi & MMIO_GFN_HI) * 0x10_0000 + (lo >>> 12);
}

/** Options of {@link ShadowPageTables}. */
export interface ShadowPageTablesOptions extends TimeOptions {
  /** Guest-physical to host-physical map. */
  memslots: GuestPhysicalMap;
  /** Host pages for shadow page tables (at least 8). */
  shadowPages: PageAllocator;
  /** The guest's MAXPHYADDR (36..52), the same for every vCPU of the VM (CPUID). Default 46. */
  maxPhyAddr?: number;
  /** Receives a `tlb.flush` event per remote TLB flush (sptes dropped or write-protected). */
  tracer?: Tracer;
  /** Called at every remote TLB flush, after the attached vCPU contexts flushed theirs. */
  onFlush?: () => void;
}

/** VM-wide counters of a {@link ShadowPageTables}. */
export interface ShadowPageTablesStats {
  /** Shadow pages created. */
  pagesCreated: number;
  /** Shadow pages now in use. */
  pagesInUse: number;
  /** Shadow pages freed because the guest reused an unreachable shadowed table page. */
  pagesUnshadowed: number;
  /** Guest writes emulated (writes to guest page tables). */
  emulatedWrites: number;
  /** Shadow entries rewritten in place after an emulated write. */
  sptesUpdated: number;
  /** Shadow entries dropped. */
  sptesZapped: number;
  /** Whole-VM zaps (shadow page pool exhausted, memslot change, restore, `zapAll`). */
  zapAlls: number;
  /** Remote TLB flushes requested (a present spte dropped or made read-only). */
  remoteFlushes: number;
}

/** The VM-wide counters kept in saved states. */
export const VM_COUNTERS = ['pagesUnshadowed', 'emulatedWrites', 'sptesUpdated', 'sptesZapped', 'zapAlls', 'remoteFlushes'] as const;
/** One of {@link VM_COUNTERS}. */
export type VmCounter = (typeof VM_COUNTERS)[number];

/** Internal signal: the shadow page pool ran out mid-install. */
export class PoolExhausted extends Error {
  constructor() {
    super('shadow page pool exhausted');
  }
}

/** The shadow pages of one VM (see the file comment). */
export class ShadowPageTables {
  /** The guest-physical map the sptes were built from. */
  readonly memslots: GuestPhysicalMap;
  /** The guest's MAXPHYADDR. */
  readonly maxPhyAddr: number;
  /** @internal The page store (used by the vCPU contexts). */
  readonly store: ShadowPageStore;
  /** @internal */
  readonly counters: Record<VmCounter, number> = { pagesUnshadowed: 0, emulatedWrites: 0, sptesUpdated: 0, sptesZapped: 0, zapAlls: 0, remoteFlushes: 0 };

  /** The memslots as a dirty log, when they are core's `Memslots` (else writes are not logged). */
  private readonly dirtyLog: Memslots | null;
  private epochValue = 0;
  private zapGen = 0;
  private memslotGeneration: number;
  private readonly listeners: (() => void)[] = [];
  private readonly onFlush: (() => void) | undefined;
  private readonly tracer: Tracer | undefined;
  private readonly now: () => number;
  /** Reserved bits 51:MAXPHYADDR of an entry's high half. */
  private readonly rsvdAddrHi: number;

  constructor(
    private readonly memory: Memory,
    options: ShadowPageTablesOptions,
  ) {
    checkOptionNames(options, SHADOW_PAGE_TABLES_OPTIONS, 'ShadowPageTables');
    if (options.shadowPages.capacity < 8) throw new MmuUsageError('bad-argument', `the shadow page pool needs at least 8 pages, got ${options.shadowPages.capacity}`);
    const m = options.maxPhyAddr ?? 46;
    if (!Number.isInteger(m) || m < 36 || m > 52) throw new MmuUsageError('bad-argument', `maxPhyAddr must be an integer in [36, 52], got ${String(m)}`);
    this.maxPhyAddr = m;
    this.rsvdAddrHi = 0xfffff & ~(m >= 52 ? 0xfffff : (1 << (m - 32)) - 1);
    this.memslots = options.memslots;
    this.dirtyLog = options.memslots instanceof Memslots ? options.memslots : null;
    this.memslotGeneration = options.memslots.generation;
    this.store = new ShadowPageStore(memory, options.shadowPages);
    this.onFlush = options.onFlush;
    this.tracer = options.tracer;
    this.now = timeSource(options);
  }

  /**
   * Bumped at every remote TLB flush and zap: a translation taken from these
   * shadow tables while `epoch` was E is still what the tables hold while it
   * is E (per-vCPU changes — CR3, INVLPG — are in each context's own epoch).
   */
  get epoch(): number {
    return this.epochValue;
  }

  /** Bumped by every {@link zapAll}: contexts drop their cached roots when it changes. */
  get zapGeneration(): number {
    return this.zapGen;
  }

  /**
   * Adds a remote-TLB-flush listener, called whenever a present spte was
   * dropped or lost rights (or everything was zapped), once per operation
   * that did so. Each vCPU context attaches one that flushes its TLB.
   * Returns the function that removes it.
   */
  addFlushListener(listener: () => void): () => void {
    if (typeof listener !== 'function') throw new MmuUsageError('bad-argument', `a flush listener must be a function, got ${typeof listener}`);
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** The VM-wide counters. */
  stats(): ShadowPageTablesStats {
    return { ...this.counters, pagesCreated: this.store.created, pagesInUse: this.store.count };
  }

  /** True when guest frame `gfn` is write-protected because it holds a shadowed guest table. */
  isWriteProtected(gfn: number): boolean {
    return this.store.isProtected(gfn);
  }

  /** Roles ({@link SHADOW_ROLE} bits) of the shadow pages of guest frame `gfn`. */
  rolesOf(gfn: number): number[] {
    return this.store.pagesOf(gfn).map((p) => p.role);
  }

  /**
   * Drops every shadow page (they are rebuilt on demand) and flushes every
   * TLB. Also done by itself when the memslots' generation changes (as
   * KVM's memslot generation, include/linux/kvm_host.h): sptes hold host
   * addresses taken from the slots.
   */
  zapAll(): void {
    this.memslotGeneration = this.memslots.generation;
    this.store.clear();
    this.zapGen++;
    this.counters.zapAlls++;
    this.store.flushNeeded = true;
    this.flushIfNeeded();
  }

  /**
   * Emulates a guest write of `size` bytes (1, 2, 4 or 8, within a page) at
   * guest-physical `gpa` (after a `'write-protected'` exit): writes guest
   * memory, then updates or drops the shadow entries that shadow the written
   * guest entries. A write to guest RAM no host memory backs is dropped.
   */
  emulateWrite(gpa: number, size: number, valueLo: number, valueHi = 0): void {
    checkWrite(gpa, size, 'guest-physical address');
    const hpa = this.memslots.translate(gpa);
    if (hpa < 0) throw new MmuUsageError('bad-argument', `cannot emulate a write to guest-physical 0x${gpa.toString(16)}: no memslot holds it`);
    if (this.memory.isWritable(hpa, size)) writeSized(this.memory, hpa, size, valueLo, valueHi);
    // The emulator's store is a guest write: logged (KVM's emulated writes go through kvm_vcpu_write_guest, which marks the page dirty).
    this.dirtyLog?.markDirty(gpa, size);
    this.counters.emulatedWrites++;
    this.guestMemoryWritten(gpa, size);
  }

  /** Tells the MMU that guest memory at `gpa` changed behind its back (DMA, a host write, a store through any vCPU): resyncs shadows of it. */
  guestMemoryWritten(gpa: number, size: number): void {
    checkAddress(gpa, 'guest-physical address');
    checkAddress(size, 'write size');
    this.checkMemslots();
    const firstGfn = Math.floor(gpa / 4096);
    const lastGfn = Math.floor((gpa + Math.max(size, 1) - 1) / 4096);
    for (let gfn = firstGfn; gfn <= lastGfn; gfn++) {
      const pages = this.store.ofGfn(gfn);
      if (pages === undefined) continue;
      const start = Math.max(gpa, gfn * 4096) % 4096;
      const end = Math.min(gpa + size, (gfn + 1) * 4096) - gfn * 4096;
      const first = start >> 3;
      const last = Math.min(511, (end - 1) >> 3);
      // Backwards: freeing a page moves the list's last page into its slot.
      for (let k = pages.length - 1; k >= 0; k--) {
        const page = pages[k];
        if (page === undefined) continue;
        if (page.parents.length === 0 && page.rootRefs === 0) {
          // Nothing reaches this shadow page any more: stop shadowing the frame
          // rather than emulate every write to what is now probably data.
          this.store.free(page);
          this.counters.pagesUnshadowed++;
          continue;
        }
        for (let i = first; i <= last; i++) this.resyncEntry(page, i);
      }
    }
    this.flushIfNeeded();
  }

  /**
   * Resyncs the shadows after every write made through `view`, a
   * guest-physical view of the VM's RAM whose write observers report
   * guest-physical ranges (core's `GuestPhysicalMemory`): DMA and device
   * models writing guest memory then need no {@link guestMemoryWritten}
   * calls of their own. Returns the function that stops watching.
   */
  watchWrites(view: Memory): () => void {
    if (typeof view.addWriteObserver !== 'function') throw new MmuUsageError('bad-argument', 'watchWrites needs a Memory with write observers');
    return view.addWriteObserver((gpa, size) => {
      this.guestMemoryWritten(gpa, size);
    });
  }

  /**
   * KVM_GET_DIRTY_LOG under shadow paging (api.rst 4.8; KVM's
   * `kvm_get_dirty_log_protect`): takes slot `id`'s dirty bitmap from the
   * memslots (`Memslots.getDirtyLog`, same arguments and errors) and
   * write-protects the leaf sptes of every page whose bit it cleared, so that
   * the guest's next write to each faults and is logged again (KVM's
   * `kvm_arch_mmu_enable_log_dirty_pt_masked`); one remote TLB flush if any
   * spte lost write access. With manual protection
   * (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) the bitmap stays and nothing is
   * protected: {@link clearDirtyLog} does both. Needs core's `Memslots`.
   */
  getDirtyLog(id: number, into?: Uint32Array): Uint32Array {
    const slots = this.loggingSlots('getDirtyLog');
    const log = slots.getDirtyLog(id, into);
    this.protectCleared(slots, id, 0, log);
    return log;
  }

  /**
   * KVM_CLEAR_DIRTY_LOG under shadow paging (api.rst 4.117): clears the
   * pages of slot `id` given by `bitmap` (`Memslots.clearDirtyLog`, same
   * arguments and errors) and write-protects the sptes of those that were
   * dirty, as {@link getDirtyLog} does.
   */
  clearDirtyLog(id: number, firstPage: number, numPages: number, bitmap: Uint32Array): void {
    const slots = this.loggingSlots('clearDirtyLog');
    const live = slots.get(id) === undefined ? undefined : slots.dirtyBitmap(id);
    const before = live === undefined ? undefined : Uint32Array.from(live.subarray(firstPage / 32 || 0));
    slots.clearDirtyLog(id, firstPage, numPages, bitmap);
    if (before !== undefined) this.protectCleared(slots, id, firstPage, before);
  }

  /** VM counters; the pages are not saved (rebuilt lazily after a restore). */
  saveState(): {
    /** Identifies saved shadow page tables. */
    type: 'hvsim.mmu.shadow-page-tables';
    /** Format version (1). */
    version: 1;
    /** The VM's counters by name. */
    counters: Record<string, number>;
  } {
    return { type: 'hvsim.mmu.shadow-page-tables', version: 1, counters: { ...this.counters } };
  }

  /** Restores {@link saveState} output and drops every shadow page; a bad state changes nothing. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.shadow-page-tables', 1);
    const values = readVmCounters(s.object('counters'));
    this.zapAll();
    Object.assign(this.counters, values);
  }

  // --- used by the vCPU contexts -----------------------------------------

  /**
   * Zaps every shadow page when the memslots changed since the last check (KVM's
   * `kvm_arch_flush_shadow_all` on a memslot update); a no-op otherwise. The MMU calls it before each
   * lookup; a hypervisor calls it to drop stale shadow pages at once, e.g. right after changing a slot.
   */
  checkMemslots(): void {
    if (this.memslots.generation !== this.memslotGeneration) this.zapAll();
  }

  /** @internal Tells listeners when sptes were dropped or lost rights since the last call. */
  flushIfNeeded(): void {
    const store = this.store;
    if (!store.flushNeeded) return;
    store.flushNeeded = false;
    this.epochValue++;
    this.counters.remoteFlushes++;
    for (const listener of this.listeners) listener();
    this.onFlush?.();
    this.tracer?.emit({ kind: 'tlb.flush', cycle: this.now(), source: 'mmu.shadow', address: 0, args: { reason: 'remote-tlb-flush' } });
  }

  /** @internal The page of `gfn` with `role`, made if missing; throws PoolExhausted. */
  page(gfn: number, role: number): ShadowPage {
    const found = this.store.get(gfn, role);
    if (found !== undefined) return found;
    const page = this.store.create(gfn, role);
    if (page !== undefined) return page;
    throw new PoolExhausted();
  }

  /** @internal Points spte `index` of `page` at `child` with the given R/W, U/S and XD. */
  link(page: ShadowPage, index: number, child: ShadowPage, flags: number, xd: number): void {
    const spte = page.hpa + index * 8;
    const lo = (P | A | flags | (child.hpa % TWO_32)) >>> 0;
    const hi = (highHalf(child.hpa) | xd) >>> 0;
    const m = this.memory;
    if (m.read32(spte) === lo && m.read32(spte + 4) === hi) return;
    if (this.store.zapEntry(page, index)) this.counters.sptesZapped++;
    m.write32(spte, lo);
    m.write32(spte + 4, hi);
    child.parents.push(spte);
  }

  /**
   * @internal Writes leaf spte `index` of `page` for guest frame `gfn` from
   * the guest leaf bits `glo`/`ghi` (for direct pages, the synthesised 4 KiB
   * bits). Writable only if the guest allows it, the guest D flag is already
   * set, and the frame is not a write-protected guest table.
   */
  setLeaf(page: ShadowPage, index: number, gfn: number, glo: number, ghi: number): boolean {
    const hpa = this.memslots.translate(gfn * 4096);
    if (hpa < 0) return this.setMmioLeaf(page, index, gfn, glo, ghi);
    if (hpa >= 2 ** SHADOW_HOST_MAXPHYADDR) {
      throw new MmuUsageError('bad-state', `guest frame 0x${gfn.toString(16)} is at host-physical 0x${hpa.toString(16)}, at or above 2^${SHADOW_HOST_MAXPHYADDR} (the shadow tables' host MAXPHYADDR)`);
    }
    const writable = (glo & RW) !== 0 && (glo & D) !== 0 && !this.store.isProtected(gfn) && !(this.memslots.isReadOnly?.(gfn * 4096) ?? false);
    // Granting write access logs the page (KVM's make_spte: mark_page_dirty_in_slot for a writable spte).
    if (writable) this.dirtyLog?.markDirty(gfn * 4096, 4096);
    const lo = (P | A | (glo & (US | PWT | PCD | PS | G)) | (writable ? RW | D : 0) | (hpa % TWO_32)) >>> 0;
    const hi = (highHalf(hpa) | (ghi & (XD | PKEY_HI))) >>> 0;
    const spte = page.hpa + index * 8;
    if ((page.leafGfn[index] ?? -1) !== gfn) {
      if (this.store.zapEntry(page, index)) this.counters.sptesZapped++;
    } else {
      const m = this.memory;
      const oldLo = m.read32(spte);
      // Gaining rights needs no flush (a stale TLB entry only faults again); losing any does.
      if ((oldLo & P) !== 0 && ((oldLo & ~lo) !== 0 || m.read32(spte + 4) !== hi)) this.store.flushNeeded = true;
    }
    this.memory.write32(spte, lo);
    this.memory.write32(spte + 4, hi);
    this.store.addLeaf(page, index, spte, gfn);
    return true;
  }

  /**
   * Leaf spte `index` of `page` for guest frame `gfn`, which no memslot
   * backs: an MMIO spte ({@link mmioSpteGfn}) with the guest leaf's R/W,
   * U/S, D, XD and protection key, so the next access faults with RSVD and
   * is answered without a guest walk (KVM's `mark_mmio_spte`). A frame at or
   * above 2^39 does not fit: the spte is dropped (every access walks).
   * Returns true when an MMIO spte is in place.
   */
  private setMmioLeaf(page: ShadowPage, index: number, gfn: number, glo: number, ghi: number): boolean {
    const spte = page.hpa + index * 8;
    const m = this.memory;
    if (gfn >= MMIO_GFN_LIMIT) {
      if (this.store.zapEntry(page, index)) this.counters.sptesZapped++;
      return false;
    }
    const lo = (P | (glo & (RW | US | D)) | ((gfn % 0x10_0000) * 4096)) >>> 0;
    const hi = (Math.floor(gfn / 0x10_0000) | MMIO_HI | (ghi & (XD | PKEY_HI))) >>> 0;
    if (m.read32(spte) === lo && m.read32(spte + 4) === hi) return true;
    if (this.store.zapEntry(page, index)) this.counters.sptesZapped++;
    m.write32(spte, lo);
    m.write32(spte + 4, hi);
    return true;
  }

  /** The memslots as core's `Memslots` (dirty logging), or a `UsageError` naming `what`. */
  private loggingSlots(what: string): Memslots {
    if (this.dirtyLog === null) throw new MmuUsageError('bad-state', `${what} needs the VM's memslots to be core's Memslots (the table with the dirty bitmaps)`);
    return this.dirtyLog;
  }

  /**
   * Write-protects the leaf sptes of slot `id`'s pages whose bit is set in
   * `wasDirty` (bit n: page `firstPage` + n) but no longer in the slot's live
   * bitmap: the pages a dirty-log read or clear just took.
   */
  private protectCleared(slots: Memslots, id: number, firstPage: number, wasDirty: Uint32Array): void {
    const slot = slots.get(id);
    const live = slots.dirtyBitmap(id);
    if (slot === undefined || live === undefined) return;
    const base = slot.guestPhysical / 4096 + firstPage;
    const pages = slot.size / 4096 - firstPage;
    for (let w = 0; w < wasDirty.length && w * 32 < pages; w++) {
      let cleared = (wasDirty[w]! & ~(live[firstPage / 32 + w] ?? 0)) >>> 0;
      while (cleared !== 0) {
        const bit = 31 - Math.clz32(cleared);
        cleared = (cleared & ~(1 << bit)) >>> 0;
        this.store.removeWriteAccess(base + w * 32 + bit);
      }
    }
    this.flushIfNeeded();
  }

  /** After a write to the guest entry shadowed by spte `index` of `page`: update a 4 KiB leaf in place, else drop the spte. */
  private resyncEntry(page: ShadowPage, index: number): void {
    const spte = page.hpa + index * 8;
    if ((this.memory.read32(spte) & P) === 0) return;
    if (page.level === 1) {
      const gpte = this.memslots.translate(page.gfn * 4096 + index * 8);
      // A guest table in RAM no host memory backs reads as all ones (common/memory-access.ts).
      const glo = gpte < 0 ? 0 : read32Safe(this.memory, gpte);
      const ghi = gpte < 0 ? 0 : read32Safe(this.memory, gpte + 4);
      // XD is reserved unless the page was built with EFER.NXE = 1 (its role says).
      const rsvdHi = this.rsvdAddrHi | ((page.role & SHADOW_ROLE.EFER_NX) !== 0 ? 0 : XD);
      // Only an entry the guest has already used (A = 1) and that is valid is
      // installed directly; otherwise the next access walks the guest tables.
      if ((glo & (P | A)) === (P | A) && (ghi & rsvdHi) === 0 && this.setLeaf(page, index, entryFrame(glo, ghi), glo, ghi)) {
        this.counters.sptesUpdated++;
        return;
      }
    }
    if (this.store.zapEntry(page, index)) this.counters.sptesZapped++;
  }
}

/** Reads the VM counters of a saved state (every one must be present; `remoteFlushes` is 0 in states from before it existed). */
export function readVmCounters(s: ReturnType<typeof readState>): Record<VmCounter, number> {
  const out = {} as Record<VmCounter, number>;
  for (const c of VM_COUNTERS) out[c] = c === 'remoteFlushes' && !s.has(c) ? 0 : s.address(c);
  return out;
}

/** Throws unless `size` is 1, 2, 4 or 8 and the write at `address` stays in one page. */
export function checkWrite(address: number, size: number, what: string): void {
  checkAddress(address, what);
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new MmuUsageError('bad-argument', `write size must be 1, 2, 4 or 8 bytes, got ${String(size)}`);
  if ((address % 4096) + size > 4096) throw new MmuUsageError('bad-argument', `a ${size}-byte write at 0x${address.toString(16)} crosses a page`);
}
