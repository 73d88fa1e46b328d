/**
 * Shadow paging (kvm.md 5d; SDM 3A 4.5 formats): the hypervisor builds shadow
 * page tables in host memory that map guest-virtual straight to host-physical
 * addresses, from the guest's own tables and the guest-physical map
 * (memslots), and lets the hardware walk them. It keeps them in sync by
 * write-protecting every guest page-table page it shadows and emulating the
 * writes the guest makes to them, and it keeps one shadow root per guest CR3
 * (a cache, so switching back to an address space does not rebuild it).
 *
 * Each access reports what a hypervisor would see:
 * - `'hit'`: the hardware walk of the shadow tables translated it, no VM exit;
 * - `'fixed'`: a shadow page fault (a VM exit) the MMU fixed silently by
 *   filling shadow entries from the guest's tables;
 * - `'guest-fault'`: a real guest #PF to reflect into the guest, with its
 *   architectural error code;
 * - `'write-protected'`: a write to a write-protected guest page-table page
 *   (or a supervisor write the guest allows only because CR0.WP = 0): the
 *   hypervisor emulates it ({@link ShadowMmu.emulateWrite}, or use
 *   {@link ShadowMmu.write}, which does);
 * - `'mmio'`: the guest-physical address is in no memslot (exit to userspace).
 *
 * Guest accessed and dirty flags are set as the hardware would set them: the
 * MMU walks the guest tables (setting A, and D on a write) before it installs
 * a shadow entry, and installs a leaf read-only while the guest's D flag is
 * clear so that the first write traps and sets it.
 */
import type { PhysicalMemory, Tracer } from '@hvsim/core';
import { readState } from '@hvsim/core';
import { TWO_32, checkAddress, entryAddress, entryFrame, highHalf } from '../common/address.js';
import { MmuError } from '../common/mmu-error.js';
import type { PageAllocator } from '../common/page-allocator.js';
import { writeSized } from '../common/write-sized.js';
import { checkX86Access } from '../x86/access-rights.js';
import { X86PageWalker, x86TableIndex } from '../x86/page-walker.js';
import type { X86PagingContextOptions } from '../x86/paging-context.js';
import { X86PagingContext } from '../x86/paging-context.js';
import { ACCESS, PTE_HI, PTE_LO } from '../x86/regs.js';
import type { GuestPhysicalMap } from './memslots.js';
import { MemslotStage } from './memslot-stage.js';
import type { ShadowPage } from './shadow-pages.js';
import { ShadowPageStore, shadowKey } from './shadow-pages.js';
import type { CounterName, ShadowMmuStats } from './shadow-stats.js';
import { COUNTERS, ShadowResult } from './shadow-stats.js';

const { P, RW, US, PWT, PCD, A, D, PS, G } = PTE_LO;
const { XD } = PTE_HI;
const PKEY_HI = 0x7800_0000;
const WRITE = ACCESS.WRITE;

/** Options of {@link ShadowMmu}. */
export interface ShadowMmuOptions {
  /** Guest-physical to host-physical map. */
  memslots: GuestPhysicalMap;
  /** Host pages for shadow page tables. */
  shadowPages: PageAllocator;
  /** The guest's paging state (CR3 holds a guest-physical address). */
  context?: X86PagingContext | X86PagingContextOptions;
  /** Guest CR3 roots kept cached (default 4, like KVM's current root plus three previous ones). */
  maxRoots?: number;
  tracer?: Tracer;
  now?: () => number;
}

/** A shadow MMU for one guest address space set. */
export class ShadowMmu {
  /** The guest's paging state. Call {@link setCr3} for CR3 loads and {@link contextChanged} after CR0/CR4/EFER changes. */
  readonly context: X86PagingContext;

  private readonly counters: Record<CounterName, number> = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<CounterName, number>;
  private readonly memslots: GuestPhysicalMap;
  private readonly store: ShadowPageStore;
  private readonly hw = new X86PagingContext({ maxPhyAddr: 52, cr0Wp: true, eferNxe: true });
  private readonly hwWalker: X86PageWalker;
  private readonly guestWalker: X86PageWalker;
  private readonly maxRoots: number;
  private readonly roots: ShadowPage[] = [];
  private root: ShadowPage | null = null;
  private readonly scratch = new ShadowResult();
  private readonly tracer: Tracer | undefined;
  private readonly now: () => number;
  /** The memslots' generation the shadow pages were built under. */
  private memslotGeneration: number;

  constructor(
    private readonly memory: PhysicalMemory,
    options: ShadowMmuOptions,
  ) {
    const ctx = options.context;
    this.context = ctx instanceof X86PagingContext ? ctx : new X86PagingContext(ctx);
    this.memslots = options.memslots;
    this.memslotGeneration = options.memslots.generation;
    this.store = new ShadowPageStore(memory, options.shadowPages);
    if (options.shadowPages.capacity < 8) throw new MmuError('bad-option', `the shadow page pool needs at least 8 pages, got ${options.shadowPages.capacity}`);
    this.maxRoots = options.maxRoots ?? 4;
    if (!Number.isInteger(this.maxRoots) || this.maxRoots < 1) throw new MmuError('bad-option', `maxRoots must be a positive integer, got ${String(options.maxRoots)}`);
    this.hwWalker = new X86PageWalker(memory, { referenceKind: 'host' });
    this.guestWalker = new X86PageWalker(memory, { stage: new MemslotStage(this.memslots) });
    this.tracer = options.tracer;
    this.now = options.now ?? (() => 0);
  }

  /** The counters. */
  stats(): ShadowMmuStats {
    return { ...this.counters, pagesCreated: this.store.created, pagesInUse: this.store.count };
  }

  /** True when guest frame `gfn` is write-protected because it holds a shadowed guest table. */
  isWriteProtected(gfn: number): boolean {
    return this.store.isProtected(gfn);
  }

  /** Host address of the current shadow root (what the hardware's CR3 holds). */
  get shadowRoot(): number {
    return this.ensureRoot().hpa;
  }

  /** Guest MOV to CR3 (intercepted under shadow paging): switch to the cached shadow root for it, or build one. */
  setCr3(cr3: number): void {
    this.context.cr3 = cr3;
    this.root = null;
    this.ensureRoot();
  }

  /** The guest changed CR0.WP, CR4 or IA32_EFER: shadow entries built under the old mode are dropped. */
  contextChanged(): void {
    this.zapAll();
  }

  /**
   * Drops every shadow page (they are rebuilt on demand). Also done by itself
   * when the memslots' generation changes (kvm.md 5f): sptes hold host
   * addresses taken from the slots.
   */
  zapAll(): void {
    this.memslotGeneration = this.memslots.generation;
    this.store.clear();
    this.roots.length = 0;
    this.root = null;
    this.counters.zapAlls++;
  }

  /** Translates a guest linear address given as a number (see {@link translate64}). */
  translate(linear: number, access: number, out: ShadowResult = this.scratch): ShadowResult {
    checkAddress(linear, 'linear address');
    return this.translate64(highHalf(linear), linear >>> 0, access, out);
  }

  /**
   * A guest access to `hi:lo`: the hardware walks the shadow tables; if that
   * faults, the MMU handles the exit as KVM's page-fault handler does. On
   * `'ok'`, `address` is the host-physical and `guestPhysicalAddress` the
   * guest-physical address; on `'page-fault'`, `errorCode` is the #PF error
   * code to inject and the linear address is CR2.
   */
  translate64(hi: number, lo: number, access: number, out: ShadowResult = this.scratch): ShadowResult {
    checkX86Access(access);
    const c = this.counters;
    c.accesses++;
    const root = this.ensureRoot();
    this.syncHardwareContext(root);
    this.hwWalker.walk64(this.hw, hi, lo, access, out);
    c.hardwareReferences += out.references;
    if (out.status === 'ok') {
      const spte = this.hwWalker.lastEntryAddress(1);
      const page = this.store.atHpa(spte - (spte % 4096));
      out.guestPhysicalAddress = ((page?.leafGfn[(spte % 4096) / 8] ?? 0) * 4096) + (lo & 0xfff);
      out.event = 'hit';
      c.hits++;
      return out;
    }
    c.exits++;
    // A protection fault (P = 1) means the shadow path exists already.
    this.handleFault(hi, lo, access, out, (out.errorCode & 1) === 0);
    this.tracer?.emit({ kind: 'fault', cycle: this.now(), source: 'mmu.shadow', what: `shadow-page-fault:${out.event}`, code: out.errorCode, args: { address: out.linearAddress } });
    return out;
  }

  /**
   * A guest store of `size` bytes (1, 2, 4 or 8, not crossing a page) of
   * `valueLo` (and `valueHi` for bits 63:32): translates it and writes host
   * memory, emulating the write when the page is write-protected. Returns the
   * translation; a `'page-fault'` or `'mmio'` result writes nothing.
   */
  write(linear: number, size: number, valueLo: number, valueHi = 0, access: number = WRITE, out: ShadowResult = this.scratch): ShadowResult {
    checkWrite(linear, size, 'linear address');
    this.translate(linear, access | WRITE, out);
    if (out.status !== 'ok') return out;
    if (out.event === 'write-protected') this.emulateWrite(out.guestPhysicalAddress, size, valueLo, valueHi);
    else writeSized(this.memory, out.address, size, valueLo, valueHi);
    return out;
  }

  /**
   * Emulates a guest write of `size` bytes at guest-physical `gpa` (after a
   * `'write-protected'` exit): writes guest memory, then updates or drops
   * the shadow entries that shadow the written guest entries.
   */
  emulateWrite(gpa: number, size: number, valueLo: number, valueHi = 0): void {
    checkWrite(gpa, size, 'guest-physical address');
    const hpa = this.memslots.translate(gpa);
    if (hpa < 0) throw new MmuError('bad-argument', `cannot emulate a write to guest-physical 0x${gpa.toString(16)}: no memslot holds it`);
    writeSized(this.memory, hpa, size, valueLo, valueHi);
    this.counters.emulatedWrites++;
    this.guestMemoryWritten(gpa, size);
  }

  /** Tells the MMU that guest memory at `gpa` changed behind its back (DMA, a host write): resyncs shadows of it. */
  guestMemoryWritten(gpa: number, size: number): void {
    this.checkMemslots();
    const gfn = Math.floor(gpa / 4096);
    const pages = this.store.ofGfn(gfn);
    if (pages === undefined) return;
    const first = (gpa % 4096) >> 3;
    const last = Math.min(511, ((gpa % 4096) + size - 1) >> 3);
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

  /** Guest INVLPG (intercepted): drops the shadow leaf for the address so it is refilled from the guest's tables. */
  invlpg(linear: number): void {
    checkAddress(linear, 'INVLPG linear address');
    this.counters.invlpgs++;
    const hi = highHalf(linear);
    const lo = linear >>> 0;
    let page: ShadowPage | undefined = this.ensureRoot();
    for (let level = page.level; level >= 1 && page !== undefined; level--) {
      const index = x86TableIndex(level, hi, lo);
      if (level === 1) {
        if (this.store.zapEntry(page, index)) this.counters.sptesZapped++;
        return;
      }
      const spte = page.hpa + index * 8;
      const elo = this.memory.read32(spte);
      if ((elo & P) === 0) return;
      page = this.store.atHpa(entryAddress(elo, this.memory.read32(spte + 4)));
    }
  }

  /** Counters and the guest context; shadow pages are rebuilt lazily after a restore. */
  saveState(): { type: 'hvsim.mmu.shadow'; version: 1; context: unknown; counters: Record<string, number> } {
    return { type: 'hvsim.mmu.shadow', version: 1, context: this.context.saveState(), counters: { ...this.counters } };
  }

  /** Restores {@link saveState} output and drops every shadow page. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.shadow', 1);
    const counters = s.object('counters');
    const values = COUNTERS.map((c) => counters.address(c));
    this.context.restoreState(s.raw('context'));
    this.zapAll();
    COUNTERS.forEach((c, i) => (this.counters[c] = values[i] ?? 0));
  }

  // --- internals ---------------------------------------------------------

  private checkMemslots(): void {
    if (this.memslots.generation !== this.memslotGeneration) this.zapAll();
  }

  private ensureRoot(): ShadowPage {
    this.checkMemslots();
    if (this.root !== null) return this.root;
    const ctx = this.context;
    const gfn = ctx.rootAddress / 4096;
    let page = this.store.get(shadowKey(gfn, ctx.levels, false, 0));
    if (page !== undefined) {
      this.counters.rootHits++;
    } else {
      page = this.store.create(gfn, ctx.levels, false, 0);
      if (page === undefined) {
        this.zapAll();
        page = this.createPage(gfn, ctx.levels, false, 0);
      }
      this.counters.rootMisses++;
    }
    if (!this.roots.includes(page)) {
      this.roots.push(page);
      page.rootRefs++;
      if (this.roots.length > this.maxRoots) {
        const old = this.roots.shift();
        if (old !== undefined) old.rootRefs--;
      }
    }
    this.root = page;
    return page;
  }

  private createPage(gfn: number, level: number, direct: boolean, role: number): ShadowPage {
    const page = this.store.create(gfn, level, direct, role);
    if (page !== undefined) return page;
    throw new PoolExhausted();
  }

  private syncHardwareContext(root: ShadowPage): void {
    const g = this.context;
    const hw = this.hw;
    // The hardware runs with CR0.WP = 1 (a guest with WP = 0 gets its
    // supervisor writes to read-only pages emulated) and the guest's other bits.
    hw.cr4La57 = g.cr4La57;
    hw.cr4Smep = g.cr4Smep;
    hw.cr4Smap = g.cr4Smap;
    hw.cr4Pke = g.cr4Pke;
    hw.cr4Pks = g.cr4Pks;
    hw.rflagsAc = g.rflagsAc;
    hw.pkru = g.pkru;
    hw.pkrs = g.pkrs;
    hw.eferNxe = g.eferNxe;
    if (hw.cr3 !== root.hpa) hw.cr3 = root.hpa;
  }

  private handleFault(hi: number, lo: number, access: number, out: ShadowResult, notPresent: boolean): void {
    const c = this.counters;
    const walker = this.guestWalker;
    walker.walk64(this.context, hi, lo, access, out);
    c.guestReferences += out.references;
    if (out.status === 'page-fault') {
      out.event = 'guest-fault';
      c.guestFaults++;
      return;
    }
    if (out.status === 'no-memslot') {
      out.event = 'mmio';
      c.mmioExits++;
      return;
    }
    const gpa = out.address;
    const hpa = this.memslots.translate(gpa);
    out.guestPhysicalAddress = gpa;
    if (hpa < 0) {
      out.status = 'no-memslot';
      out.event = 'mmio';
      c.mmioExits++;
      return;
    }
    out.address = hpa;
    const isWrite = (access & WRITE) !== 0;
    const gfn = Math.floor(gpa / 4096);
    if (isWrite && !notPresent && this.store.isProtected(gfn)) {
      // A write to a write-protected guest table through an existing read-only spte.
      out.event = 'write-protected';
      c.writeProtectExits++;
      return;
    }
    try {
      this.install(hi, lo, out.level);
    } catch (e) {
      if (!(e instanceof PoolExhausted)) throw e;
      this.zapAll();
      this.syncHardwareContext(this.ensureRoot());
      try {
        this.install(hi, lo, out.level);
      } catch (again) {
        if (again instanceof PoolExhausted) throw new MmuError('out-of-shadow-pages', 'the shadow page pool cannot hold one translation path');
        throw again;
      }
    }
    if (isWrite) {
      if (this.memslots.isReadOnly?.(gpa) ?? false) {
        // A write to a read-only slot (a ROM) exits to userspace; the translation itself exists.
        out.event = 'mmio';
        c.mmioExits++;
        return;
      }
      if (this.store.isProtected(gfn) || !out.writable) {
        out.event = 'write-protected';
        c.writeProtectExits++;
        return;
      }
    }
    out.event = 'fixed';
    c.fixed++;
  }

  /** Builds the shadow path for the translation the guest walker just made. */
  private install(hi: number, lo: number, leafLevel: number): void {
    const gw = this.guestWalker;
    let page = this.ensureRoot();
    for (let level = page.level; level > leafLevel; level--) {
      const glo = gw.lastEntryLo(level);
      const ghi = gw.lastEntryHi(level);
      const childGfn = entryFrame(glo, ghi);
      const child = this.store.get(shadowKey(childGfn, level - 1, false, 0)) ?? this.createPage(childGfn, level - 1, false, 0);
      this.link(page, x86TableIndex(level, hi, lo), child, glo & (RW | US), ghi & XD);
      page = child;
    }
    const glo = gw.lastEntryLo(leafLevel);
    const ghi = gw.lastEntryHi(leafLevel);
    if (leafLevel === 1) {
      this.setLeaf(page, x86TableIndex(1, hi, lo), entryFrame(glo, ghi), glo, ghi);
      return;
    }
    // A guest 2 MiB or 1 GiB page is shadowed by "direct" pages of 4 KiB
    // sptes (host memory need not be contiguous); the guest leaf's R/W, U/S
    // and XD go on the spte that points to them, its PK, G, D and memory-type
    // bits on the leaves. Those leaf bits are part of the direct page's role
    // (as KVM's role.access is), so a guest leaf whose D flag was cleared gets
    // read-only leaves again instead of reusing writable ones.
    const role = directRole(glo, ghi);
    const largeBase = (ghi & 0xfffff) * 0x10_0000 + ((glo & (leafLevel === 3 ? 0xc000_0000 : 0xffe0_0000)) >>> 12);
    let direct = this.store.get(shadowKey(largeBase, leafLevel - 1, true, role)) ?? this.createPage(largeBase, leafLevel - 1, true, role);
    this.link(page, x86TableIndex(leafLevel, hi, lo), direct, glo & (RW | US), ghi & XD);
    for (let level = leafLevel - 1; level > 1; level--) {
      const index = x86TableIndex(level, hi, lo);
      const subGfn = direct.gfn + index * 512;
      const sub = this.store.get(shadowKey(subGfn, level - 1, true, role)) ?? this.createPage(subGfn, level - 1, true, role);
      this.link(direct, index, sub, RW | US, 0);
      direct = sub;
    }
    const index = x86TableIndex(1, hi, lo);
    // Direct leaves are permissive apart from write access (dirty tracking,
    // write protection) and carry the guest leaf's memory type, PK and G.
    const leafLo = P | RW | US | A | (glo & (D | PWT | PCD | G)) | ((glo & 0x1000) !== 0 ? PS : 0);
    this.setLeaf(direct, index, direct.gfn + index, leafLo, ghi & PKEY_HI);
  }

  /** Points spte `index` of `page` at `child` with the given R/W, U/S and XD. */
  private link(page: ShadowPage, index: number, child: ShadowPage, flags: number, xd: number): void {
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
   * Writes leaf spte `index` of `page` for guest frame `gfn` from the guest
   * leaf bits `glo`/`ghi` (for direct pages, the synthesised 4 KiB bits).
   * Writable only if the guest allows it, the guest D flag is already set,
   * and the frame is not a write-protected guest table.
   */
  private setLeaf(page: ShadowPage, index: number, gfn: number, glo: number, ghi: number): boolean {
    const hpa = this.memslots.translate(gfn * 4096);
    if (hpa < 0) {
      if (this.store.zapEntry(page, index)) this.counters.sptesZapped++;
      return false;
    }
    const writable = (glo & RW) !== 0 && (glo & D) !== 0 && !this.store.isProtected(gfn) && !(this.memslots.isReadOnly?.(gfn * 4096) ?? false);
    const lo = (P | A | (glo & (US | PWT | PCD | PS | G)) | (writable ? RW | D : 0) | (hpa % TWO_32)) >>> 0;
    const hi = (highHalf(hpa) | (ghi & (XD | PKEY_HI))) >>> 0;
    const spte = page.hpa + index * 8;
    if ((page.leafGfn[index] ?? -1) !== gfn && this.store.zapEntry(page, index)) this.counters.sptesZapped++;
    this.memory.write32(spte, lo);
    this.memory.write32(spte + 4, hi);
    this.store.addLeaf(page, index, spte, gfn);
    return true;
  }

  /** After a write to the guest entry shadowed by spte `index` of `page`: update a 4 KiB leaf in place, else drop the spte. */
  private resyncEntry(page: ShadowPage, index: number): void {
    const spte = page.hpa + index * 8;
    if ((this.memory.read32(spte) & P) === 0) return;
    if (page.level === 1) {
      const gpte = this.memslots.translate(page.gfn * 4096 + index * 8);
      const glo = this.memory.read32(gpte);
      const ghi = this.memory.read32(gpte + 4);
      const ctx = this.context;
      const m = ctx.maxPhyAddr;
      const rsvdHi = (0xfffff & ~(m >= 52 ? 0xfffff : (1 << (m - 32)) - 1)) | (ctx.eferNxe ? 0 : XD);
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

/** Role of a direct page (0..511): the guest large leaf's PK (bits 62:59), G, D, PWT, PCD and PAT (bit 12). */
function directRole(glo: number, ghi: number): number {
  return ((ghi >>> 27) & 0xf) | ((glo & G) !== 0 ? 0x10 : 0) | ((glo & D) !== 0 ? 0x20 : 0) | ((glo & PWT) !== 0 ? 0x40 : 0) | ((glo & PCD) !== 0 ? 0x80 : 0) | ((glo & 0x1000) !== 0 ? 0x100 : 0);
}

/** Throws unless `size` is 1, 2, 4 or 8 and the write at `address` stays in one page. */
function checkWrite(address: number, size: number, what: string): void {
  checkAddress(address, what);
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new MmuError('bad-argument', `write size must be 1, 2, 4 or 8 bytes, got ${String(size)}`);
  if ((address % 4096) + size > 4096) throw new MmuError('bad-argument', `a ${size}-byte write at 0x${address.toString(16)} crosses a page`);
}

/** Internal signal: the shadow page pool ran out mid-install. */
class PoolExhausted extends Error {
  constructor() {
    super('shadow page pool exhausted');
  }
}
