/**
 * Shadow paging (Linux Documentation/virt/kvm/x86/mmu.rst; SDM 3A 4.5 formats): the hypervisor builds shadow
 * page tables in host memory that map guest-virtual straight to host-physical
 * addresses, from the guest's own tables and the guest-physical map
 * (memslots), and lets the hardware walk them. It keeps them in sync by
 * write-protecting every guest page-table page it shadows and emulating the
 * writes the guest makes to them, and it keeps shadow roots per guest CR3
 * (a cache, so switching back to an address space does not rebuild it).
 *
 * A `ShadowMmu` is one vCPU's view (its paging context, its roots, its
 * optional TLB); the shadow pages live in a {@link ShadowPageTables} shared by
 * every vCPU of the VM and found by guest frame and role, as in KVM. Built
 * with `memslots` and `shadowPages` instead of `vm`, it owns a private one.
 *
 * Each access reports what a hypervisor would see:
 * - `'hit'`: the TLB or the hardware walk of the shadow tables translated it, no VM exit;
 * - `'fixed'`: a shadow page fault (a VM exit) the MMU fixed silently by
 *   filling shadow entries from the guest's tables;
 * - `'guest-fault'`: a real guest #PF to reflect into the guest, with its
 *   architectural error code;
 * - `'write-protected'`: a write to a write-protected guest page-table page
 *   (or a supervisor write the guest allows only because CR0.WP = 0): the
 *   hypervisor emulates it ({@link ShadowMmu.emulateWrite}, or use
 *   {@link ShadowMmu.write}, which does);
 * - `'mmio'`: the guest-physical address is in no memslot (exit to userspace).
 * {@link ShadowMmu.translate} fuses the hardware part and KVM's handler;
 * {@link ShadowMmu.hardwareTranslate} and {@link ShadowMmu.pageFault} are the
 * two halves (the #PF exit is `'page-fault-exit'` between them).
 *
 * Guest accessed and dirty flags are set as the hardware would set them: the
 * MMU walks the guest tables (setting A, and D on a write) before it installs
 * a shadow entry, and installs a leaf read-only while the guest's D flag is
 * clear so that the first write traps and sets it.
 */
import type { Memory, Tracer } from '@hvsim/core';
import { readState } from '@hvsim/core';
import { checkAddress, checkHalves, entryAddress, entryFrame, highHalf, isCanonical, splitAddress } from '../common/address.js';
import type { TimeOptions } from '../common/memory-access.js';
import { innerClock, timeSource } from '../common/memory-access.js';
import { MmuUsageError } from '../common/mmu-error.js';
import type { PageAllocator } from '../common/page-allocator.js';
import { writeSized } from '../common/write-sized.js';
import type { TlbOptions } from '../tlb/tlb.js';
import { NO_EP4TA, Tlb } from '../tlb/tlb.js';
import { checkX86Access, x86AccessFault } from '../x86/access-rights.js';
import { X86PageWalker, x86TableIndex } from '../x86/page-walker.js';
import type { X86PagingContextOptions } from '../x86/paging-context.js';
import { X86PagingContext } from '../x86/paging-context.js';
import { ACCESS, PFEC, PTE_HI, PTE_LO } from '../x86/regs.js';
import type { GuestPhysicalMap } from './memslots.js';
import { MemslotStage } from './memslot-stage.js';
import { PoolExhausted, SHADOW_HOST_MAXPHYADDR, ShadowPageTables, checkWrite, mmioSpteGfn, readVmCounters } from './shadow-page-tables.js';
import type { ShadowPage } from './shadow-pages.js';
import { SHADOW_ROLE } from './shadow-pages.js';
import type { CounterName, ShadowMmuStats } from './shadow-stats.js';
import { COUNTERS, NEW_COUNTERS, ShadowResult } from './shadow-stats.js';
import { TIME_OPTION_NAMES, checkOptionNames, cpuOption } from '../common/option-names.js';

/** Option names the constructor knows (a misspelled one throws). */
const SHADOW_MMU_OPTIONS = ['cpu', 'vm', 'memslots', 'shadowPages', 'context', 'maxRoots', 'tlb', 'vpid', 'tracer', ...TIME_OPTION_NAMES];

const { P, RW, US, PWT, PCD, A, D, PS, G } = PTE_LO;
const { XD } = PTE_HI;
const PKEY_HI = 0x7800_0000;
const WRITE = ACCESS.WRITE;
const { DIRECT, CR0_WP, EFER_NX, SMEP_ANDNOT_WP, SMAP_ANDNOT_WP, ACCESS_SHIFT } = SHADOW_ROLE;

/** Options of {@link ShadowMmu}. Give `vm` (shared shadow pages), or `memslots` and `shadowPages` (a private set). */
export interface ShadowMmuOptions extends TimeOptions {
  /** The VM's shadow pages, shared with its other vCPUs. */
  vm?: ShadowPageTables;
  /** Without `vm`: guest-physical to host-physical map. */
  memslots?: GuestPhysicalMap;
  /** Without `vm`: host pages for shadow page tables. */
  shadowPages?: PageAllocator;
  /** The guest's paging state (CR3 holds a guest-physical address). */
  context?: X86PagingContext | X86PagingContextOptions;
  /** Guest CR3 roots kept cached (default 4, like KVM's current root plus three previous ones). */
  maxRoots?: number;
  /**
   * A TLB in front of the shadow tables (the hardware's, under shadow
   * paging), or options for a new one (which gets `tracer` and `clock`).
   * Default none. One TLB per ShadowMmu: the MMU remembers the guest frame
   * of each entry it filled.
   */
  tlb?: Tlb | TlbOptions;
  /** VPID tagging this vCPU's TLB entries (0..0xffff, default 0). */
  vpid?: number;
  /** Receives a `fault` event per shadow page fault, and the TLB's events. */
  tracer?: Tracer;
  /** Number of the CPU this model's trace events concern (docs/conventions.md "Tracing"); left out of the events when not given. */
  cpu?: number;
}

/** One vCPU's shadow-paging MMU (see the file comment). */
export class ShadowMmu {
  /** The guest's paging state. Call {@link setCr3} for CR3 loads and {@link contextChanged} after CR0/CR4/EFER changes. */
  readonly context: X86PagingContext;
  /** The VM's shadow pages (shared, or this MMU's own). */
  readonly vm: ShadowPageTables;
  /** The TLB in front of the shadow tables, if any. */
  readonly tlb: Tlb | null;

  private readonly counters: Record<CounterName, number> = Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Record<CounterName, number>;
  private readonly ownsVm: boolean;
  /** The host processor's paging state for the hardware walk of the shadow tables (MAXPHYADDR 51: bit 51 marks MMIO sptes). */
  private readonly hw = new X86PagingContext({ maxPhyAddr: SHADOW_HOST_MAXPHYADDR, cr0Wp: true, eferNxe: true });
  private readonly hwWalker: X86PageWalker;
  private readonly guestWalker: X86PageWalker;
  private readonly maxRoots: number;
  private readonly roots: ShadowPage[] = [];
  private root: ShadowPage | null = null;
  private rootMode = -1;
  private seenZap: number;
  private localEpoch = 0;
  private vpidValue: number;
  /** Guest frame of each TLB entry this MMU filled (indexed like the TLB). */
  private readonly tlbGfn: Float64Array;
  private readonly scratch = new ShadowResult();
  private readonly tracer: Tracer | undefined;
  private readonly cpu: number | undefined;
  private readonly now: () => number;
  private readonly detach: () => void;

  constructor(
    private readonly memory: Memory,
    options: ShadowMmuOptions,
  ) {
    checkOptionNames(options, SHADOW_MMU_OPTIONS, 'ShadowMmu');
    const ctx = options.context;
    this.context = ctx instanceof X86PagingContext ? ctx : new X86PagingContext(ctx);
    if (options.vm !== undefined) {
      if (!(options.vm instanceof ShadowPageTables)) throw new MmuUsageError('bad-argument', 'vm must be a ShadowPageTables');
      if (options.memslots !== undefined || options.shadowPages !== undefined) throw new MmuUsageError('bad-argument', 'give either vm or memslots and shadowPages, not both');
      this.vm = options.vm;
      this.ownsVm = false;
    } else {
      if (options.memslots === undefined || options.shadowPages === undefined) throw new MmuUsageError('bad-argument', 'a ShadowMmu needs vm, or memslots and shadowPages');
      this.vm = new ShadowPageTables(memory, { memslots: options.memslots, shadowPages: options.shadowPages, maxPhyAddr: this.context.maxPhyAddr, ...(options.tracer ? { tracer: options.tracer } : {}), ...innerClock(options) });
      this.ownsVm = true;
    }
    if (this.context.maxPhyAddr !== this.vm.maxPhyAddr) throw new MmuUsageError('bad-argument', `the context's MAXPHYADDR ${this.context.maxPhyAddr} differs from the VM's ${this.vm.maxPhyAddr}`);
    this.maxRoots = options.maxRoots ?? 4;
    if (!Number.isInteger(this.maxRoots) || this.maxRoots < 1) throw new MmuUsageError('bad-argument', `maxRoots must be a positive integer, got ${String(options.maxRoots)}`);
    this.vpidValue = checkVpid(options.vpid ?? 0);
    const tlb = options.tlb;
    this.tlb = tlb === undefined ? null : tlb instanceof Tlb ? tlb : new Tlb({ ...tlb, ...(options.tracer ? { tracer: options.tracer } : {}), ...(options.cpu !== undefined ? { cpu: options.cpu } : {}), ...innerClock(options) });
    this.tlbGfn = new Float64Array(this.tlb?.entries ?? 0);
    this.hwWalker = new X86PageWalker(memory, { referenceKind: 'host' });
    this.guestWalker = new X86PageWalker(memory, { stage: new MemslotStage(this.vm.memslots) });
    this.tracer = options.tracer;
    this.cpu = cpuOption(options.cpu, 'ShadowMmu');
    this.now = timeSource(options);
    this.seenZap = this.vm.zapGeneration;
    this.detach = this.vm.addFlushListener(() => {
      this.flushTlb();
    });
  }

  /** This vCPU's counters, with the VM-wide page counters of {@link vm}. */
  stats(): ShadowMmuStats {
    return { ...this.counters, ...this.vm.stats() };
  }

  /** VPID tagging this vCPU's TLB entries. */
  get vpid(): number {
    return this.vpidValue;
  }

  /** Sets the VPID (0..0xffff, else `bad-argument`); bumps the epoch. */
  set vpid(value: number) {
    this.vpidValue = checkVpid(value);
    this.localEpoch++;
  }

  /**
   * Changes whenever a translation this MMU gave out may no longer be the
   * one it would give: the VM's remote flushes and zaps, this vCPU's CR3
   * loads, INVLPGs, context changes, VPID changes and TLB invalidations.
   * The contract is {@link X86Mmu.epoch}'s.
   */
  get epoch(): number {
    return this.vm.epoch + this.localEpoch + (this.tlb?.epoch ?? 0);
  }

  /** True when guest frame `gfn` is write-protected because it holds a shadowed guest table (VM-wide). */
  isWriteProtected(gfn: number): boolean {
    return this.vm.isWriteProtected(gfn);
  }

  /** Host address of the current shadow root (what the hardware's CR3 holds). */
  get shadowRoot(): number {
    return this.ensureRoot().hpa;
  }

  /** Guest MOV to CR3 (intercepted under shadow paging): switch to the cached shadow root for it, or build one; this vCPU's TLB is flushed. */
  setCr3(cr3: number): void {
    this.context.cr3 = cr3;
    this.root = null;
    this.flushTlb();
    this.ensureRoot();
  }

  /**
   * The guest changed CR0.WP, CR4 or IA32_EFER: this vCPU drops its cached
   * roots and its TLB (KVM's `kvm_mmu_reset_context`). Shadow pages built
   * under the old mode stay for vCPUs still in it: the mode is part of the
   * pages' role.
   */
  contextChanged(): void {
    this.dropRoots(true);
    this.flushTlb();
  }

  /** Drops every shadow page of the VM (every vCPU rebuilds on demand) and flushes every TLB. */
  zapAll(): void {
    this.vm.zapAll();
  }

  /**
   * Translates a guest linear address given as a number (see {@link
   * translate64}).
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this MMU reuses on every call (no allocation): read it before the next
   * call, or keep a `clone()`.
   */
  translate(linear: number, access: number, out: ShadowResult = this.scratch): ShadowResult {
    checkAddress(linear, 'linear address');
    return this.translate64(highHalf(linear), linear >>> 0, access, out);
  }

  /**
   * A guest access to `hi:lo`: the hardware walks the shadow tables (after
   * the TLB, if any); if that faults, the MMU handles the exit as KVM's
   * page-fault handler does. On `'ok'`, `address` is the host-physical and
   * `guestPhysicalAddress` the guest-physical address; on `'page-fault'`,
   * `errorCode` is the #PF error code to inject and the linear address is
   * CR2. `out` is reused.
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this MMU reuses on every call (no allocation): read it before the next
   * call, or keep a `clone()`.
   */
  translate64(hi: number, lo: number, access: number, out: ShadowResult = this.scratch): ShadowResult {
    this.hardwareTranslate64(hi, lo, access, out);
    if (out.event !== 'page-fault-exit') return out;
    return this.pageFault64(hi, lo, access, out.errorCode, out);
  }

  /**
   * {@link hardwareTranslate64} for a linear address given as a number.
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this MMU reuses on every call (no allocation): read it before the next
   * call, or keep a `clone()`.
   */
  hardwareTranslate(linear: number, access: number, out: ShadowResult = this.scratch): ShadowResult {
    checkAddress(linear, 'linear address');
    return this.hardwareTranslate64(highHalf(linear), linear >>> 0, access, out);
  }

  /**
   * Only what the processor does: the TLB, then the walk of the shadow
   * tables. Event `'hit'` (status `'ok'`), or `'page-fault-exit'` (status
   * `'page-fault'`, `errorCode` the hardware #PF error code): a #PF VM exit
   * (KVM intercepts #PF under shadow paging) for the hypervisor's
   * {@link pageFault64}. Changes nothing but accessed flags in sptes.
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this MMU reuses on every call (no allocation): read it before the next
   * call, or keep a `clone()`.
   */
  hardwareTranslate64(hi: number, lo: number, access: number, out: ShadowResult = this.scratch): ShadowResult {
    checkX86Access(access);
    const c = this.counters;
    c.accesses++;
    const tlb = this.tlb;
    if (tlb !== null) {
      // A memslot change zaps everything (and flushes this TLB) before the lookup.
      this.vm.checkMemslots();
      const i = tlb.lookup(this.vpidValue, 0, NO_EP4TA, hi, lo);
      if (i >= 0) {
        // The guest's own context decides the rights: a write hits only a
        // dirty entry, which is writable, so CR0.WP (the one bit the hardware
        // runs differently) cannot matter here. Entries are linear (EPT
        // permissions 7).
        if (tlb.allows(i, this.context, access)) {
          tlb.readInto(i, hi, lo, out);
          out.guestPhysicalAddress = (this.tlbGfn[i] ?? 0) * 4096 + (lo & 0xfff);
          out.event = 'hit';
          c.hits++;
          c.tlbHits++;
          return out;
        }
      }
    }
    this.syncHardwareContext(this.ensureRoot());
    this.hwWalker.walk64(this.hw, hi, lo, access, out);
    c.hardwareReferences += out.references;
    if (out.status === 'ok') {
      const spte = this.hwWalker.lastEntryAddress(1);
      const page = this.vm.store.atHpa(spte - (spte % 4096));
      const gfn = page?.leafGfn[(spte % 4096) / 8] ?? 0;
      out.guestPhysicalAddress = gfn * 4096 + (lo & 0xfff);
      out.event = 'hit';
      c.hits++;
      if (tlb !== null) {
        const v = tlb.fill(this.vpidValue, 0, NO_EP4TA, hi, lo, out, out.global && this.context.cr4Pge);
        this.tlbGfn[v] = gfn;
      }
      return out;
    }
    c.exits++;
    // A #PF drops the address's TLB entries (SDM 3A 4.10.4.1).
    if (tlb !== null) tlb.invalidateAddress(this.vpidValue, 0, hi, lo, true);
    out.event = 'page-fault-exit';
    return out;
  }

  /**
   * {@link pageFault64} for a linear address given as a number.
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this MMU reuses on every call (no allocation): read it before the next
   * call, or keep a `clone()`.
   */
  pageFault(linear: number, access: number, errorCode: number, out: ShadowResult = this.scratch): ShadowResult {
    checkAddress(linear, 'linear address');
    return this.pageFault64(highHalf(linear), linear >>> 0, access, errorCode, out);
  }

  /**
   * The hypervisor's #PF exit handler (KVM's `kvm_mmu_page_fault`) for the
   * access `hi:lo` whose hardware walk faulted with `errorCode` (its P bit
   * says whether the shadow path existed): walks the guest tables, then
   * fixes the shadow tables (`'fixed'`, status `'ok'` with the translation:
   * the retried access completes), or reports `'guest-fault'`,
   * `'write-protected'` or `'mmio'`.
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this MMU reuses on every call (no allocation): read it before the next
   * call, or keep a `clone()`.
   */
  pageFault64(hi: number, lo: number, access: number, errorCode: number, out: ShadowResult = this.scratch): ShadowResult {
    checkX86Access(access);
    if (!Number.isInteger(errorCode) || errorCode < 0 || errorCode > 0xffff_ffff) throw new MmuUsageError('bad-argument', `#PF error code must be a 32-bit unsigned integer, got ${String(errorCode)}`);
    // A reserved-bit fault is an MMIO spte's (the MMU sets no other reserved bit): answer from it if it allows the access.
    if ((errorCode & PFEC.RSVD) === 0 || !this.mmioFromSpte(hi, lo, access, out)) {
      // A protection fault (P = 1) means the shadow path exists already.
      this.handleFault(hi, lo, access, out, (errorCode & 1) === 0);
    }
    this.vm.flushIfNeeded();
    this.tracer?.emit({ kind: 'fault', cycle: this.now(), source: 'mmu.shadow', cpu: this.cpu, what: `shadow-page-fault:${out.event}`, code: out.errorCode, args: { address: out.linearAddress } });
    return out;
  }

  /**
   * A guest store of `size` bytes (1, 2, 4 or 8, not crossing a page) of
   * `valueLo` (and `valueHi` for bits 63:32): translates it and writes host
   * memory, emulating the write when the page is write-protected. Returns the
   * translation; a `'page-fault'` or `'mmio'` result writes nothing.
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this MMU reuses on every call (no allocation): read it before the next
   * call, or keep a `clone()`.
   */
  write(linear: number, size: number, valueLo: number, valueHi = 0, access: number = WRITE, out: ShadowResult = this.scratch): ShadowResult {
    checkWrite(linear, size, 'linear address');
    this.translate(linear, access | WRITE, out);
    if (out.status !== 'ok') return out;
    if (out.event === 'write-protected') this.vm.emulateWrite(out.guestPhysicalAddress, size, valueLo, valueHi);
    else if (this.memory.isWritable(out.address, size)) writeSized(this.memory, out.address, size, valueLo, valueHi);
    return out;
  }

  /** Emulates a guest write at guest-physical `gpa` (after a `'write-protected'` exit); see {@link ShadowPageTables.emulateWrite}. */
  emulateWrite(gpa: number, size: number, valueLo: number, valueHi = 0): void {
    this.vm.emulateWrite(gpa, size, valueLo, valueHi);
  }

  /** Tells the MMU that guest memory at `gpa` changed behind its back (DMA, a host write): resyncs shadows of it, for every vCPU. */
  guestMemoryWritten(gpa: number, size: number): void {
    this.vm.guestMemoryWritten(gpa, size);
  }

  /**
   * Guest INVLPG (intercepted): drops the shadow leaf for the address so it
   * is refilled from the guest's tables (a remote flush when it was present),
   * and this vCPU's TLB entries for it.
   * `linear` is a number or an unsigned 64-bit bigint (upper-half
   * addresses); a non-canonical address is a no-op (SDM 2 "INVLPG").
   */
  invlpg(linear: number | bigint): void {
    if (typeof linear === 'bigint') {
      const [hi, lo] = splitAddress(linear);
      this.invlpg64(hi, lo);
      return;
    }
    checkAddress(linear, 'INVLPG linear address');
    this.invlpg64(highHalf(linear), linear >>> 0);
  }

  /** INVLPG of `hi:lo` (bits 63:32, 31:0). */
  invlpg64(hi: number, lo: number): void {
    checkHalves(hi, lo, 'INVLPG linear address');
    this.counters.invlpgs++;
    if (!isCanonical(hi, lo, this.context.cr4La57)) return;
    this.localEpoch++;
    this.tlb?.invalidateAddress(this.vpidValue, 0, hi, lo, true);
    const store = this.vm.store;
    let page: ShadowPage | undefined = this.ensureRoot();
    for (let level = page.level; level >= 1 && page !== undefined; level--) {
      const index = x86TableIndex(level, hi, lo);
      if (level === 1) {
        // Dropping a present spte asks for a remote flush (as KVM's invlpg
        // handler did when it zapped one), so no vCPU's TLB outlives it.
        if (store.zapEntry(page, index)) this.vm.counters.sptesZapped++;
        this.vm.flushIfNeeded();
        return;
      }
      const spte = page.hpa + index * 8;
      const elo = this.memory.read32(spte);
      if ((elo & P) === 0) return;
      page = store.atHpa(entryAddress(elo, this.memory.read32(spte + 4)));
    }
  }

  /** Stops listening to the VM's remote flushes (a vCPU destroyed). */
  dispose(): void {
    this.detach();
    this.dropRoots(true);
  }

  /** Counters and the guest context (with a private VM, its counters too); shadow pages are rebuilt lazily after a restore. */
  saveState(): {
    /** Identifies a saved shadow MMU. */
    type: 'hvsim.mmu.shadow';
    /** Format version (1). */
    version: 1;
    /** The guest paging context's saved state. */
    context: unknown;
    /** The VPID. */
    vpid: number;
    /** The counters by name (with a private VM, the VM's too). */
    counters: Record<string, number>;
  } {
    const counters: Record<string, number> = { ...this.counters };
    if (this.ownsVm) Object.assign(counters, this.vm.counters);
    return { type: 'hvsim.mmu.shadow', version: 1, context: this.context.saveState(), vpid: this.vpidValue, counters };
  }

  /** Restores {@link saveState} output; this vCPU's roots and TLB are dropped (a private VM's pages too). A bad state changes nothing. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.shadow', 1);
    const counters = s.object('counters');
    const values = COUNTERS.map((c) => (NEW_COUNTERS.includes(c) && !counters.has(c) ? 0 : counters.address(c)));
    const vmValues = this.ownsVm ? readVmCounters(counters) : null;
    const vpid = s.has('vpid') ? s.int('vpid', 0, 0xffff) : this.vpidValue;
    new X86PagingContext().restoreState(s.raw('context'));
    // Validated: commit.
    this.context.restoreState(s.raw('context'));
    if (vmValues !== null) {
      this.vm.zapAll();
      Object.assign(this.vm.counters, vmValues);
    }
    this.dropRoots(vmValues === null);
    this.flushTlb();
    this.vpidValue = vpid;
    COUNTERS.forEach((c, i) => (this.counters[c] = values[i] ?? 0));
  }

  // --- internals ---------------------------------------------------------

  /** Flushes this vCPU's TLB (all of its VPID's entries, as KVM's flush of the current context does). */
  private flushTlb(): void {
    this.localEpoch++;
    if (this.tlb === null) return;
    this.tlb.invalidateVpid(this.vpidValue, false);
    this.counters.tlbFlushes++;
  }

  /** Forgets the cached roots (releasing their references when the pages still exist). */
  private dropRoots(release: boolean): void {
    if (release && this.seenZap === this.vm.zapGeneration) for (const r of this.roots) r.rootRefs--;
    this.roots.length = 0;
    this.root = null;
  }

  private ensureRoot(): ShadowPage {
    const vm = this.vm;
    vm.checkMemslots();
    if (vm.zapGeneration !== this.seenZap) {
      // Every page went: nothing to release.
      this.roots.length = 0;
      this.root = null;
      this.seenZap = vm.zapGeneration;
    }
    const ctx = this.context;
    const mode = modeRole(ctx);
    if (this.root !== null) {
      if (this.rootMode === mode) return this.root;
      // The mode changed without contextChanged(): a new root, as after one.
      this.dropRoots(true);
      this.flushTlb();
    }
    const gfn = ctx.rootAddress / 4096;
    const role = ctx.levels | mode;
    let page = vm.store.get(gfn, role);
    if (page !== undefined) {
      this.counters.rootHits++;
    } else {
      page = vm.store.create(gfn, role);
      if (page === undefined) {
        vm.zapAll();
        this.roots.length = 0;
        this.seenZap = vm.zapGeneration;
        page = this.vmPage(gfn, role);
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
    this.rootMode = mode;
    // Creating the root may have write-protected leaves other vCPUs cache.
    vm.flushIfNeeded();
    return page;
  }

  private vmPage(gfn: number, role: number): ShadowPage {
    try {
      return this.vm.page(gfn, role);
    } catch (e) {
      if (e instanceof PoolExhausted) throw new MmuUsageError('bad-state', 'the shadow page pool cannot hold one translation path');
      throw e;
    }
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
    const vm = this.vm;
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
    const hpa = vm.memslots.translate(gpa);
    out.guestPhysicalAddress = gpa;
    if (hpa < 0) {
      // The path ends in an MMIO spte, so the next access to the page takes the fast MMIO path.
      this.installOrZap(hi, lo, out.level);
      out.status = 'no-memslot';
      out.event = 'mmio';
      c.mmioExits++;
      return;
    }
    out.address = hpa;
    const isWrite = (access & WRITE) !== 0;
    const gfn = Math.floor(gpa / 4096);
    if (isWrite && !notPresent && vm.isWriteProtected(gfn)) {
      // A write to a write-protected guest table through an existing read-only spte.
      out.event = 'write-protected';
      c.writeProtectExits++;
      return;
    }
    this.installOrZap(hi, lo, out.level);
    if (isWrite) {
      if (vm.memslots.isReadOnly?.(gpa) ?? false) {
        // A write to a read-only slot (a ROM) exits to userspace; the translation itself exists.
        out.event = 'mmio';
        c.mmioExits++;
        return;
      }
      if (vm.isWriteProtected(gfn) || !out.writable) {
        out.event = 'write-protected';
        c.writeProtectExits++;
        return;
      }
    }
    out.event = 'fixed';
    c.fixed++;
  }

  /**
   * KVM's fast MMIO path (`handle_mmio_page_fault`): walks the shadow tables
   * for `hi:lo` to the MMIO spte the RSVD fault came from and, when the
   * rights it and the path above it keep from the guest walk allow `access`
   * under the guest's context now (SDM 3A 4.6; a write also needs the guest
   * D flag the spte recorded), reports `'mmio'` with the guest-physical
   * address and no guest walk. Returns false (walk the guest tables) when
   * there is no such spte or the access needs the full check.
   */
  private mmioFromSpte(hi: number, lo: number, access: number, out: ShadowResult): boolean {
    const m = this.memory;
    const store = this.vm.store;
    let page: ShadowPage | undefined = this.ensureRoot();
    let rights = RW | US;
    let xd = 0;
    while (page !== undefined) {
      const spte = page.hpa + x86TableIndex(page.level, hi, lo) * 8;
      const elo = m.read32(spte);
      const ehi = m.read32(spte + 4);
      if ((elo & P) === 0) return false;
      rights &= elo;
      xd |= ehi & XD;
      const gfn = mmioSpteGfn(elo, ehi);
      if (gfn >= 0) {
        const write = (access & WRITE) !== 0;
        const ctx = this.context;
        if ((write && (elo & D) === 0) || x86AccessFault(ctx, access, (rights & RW) !== 0, (rights & US) !== 0, xd === 0 || !ctx.eferNxe, (ehi & PKEY_HI) >>> 27) !== 0) return false;
        out.reset(hi, lo);
        out.status = 'no-memslot';
        out.guestPhysicalAddress = gfn * 4096 + (lo & 0xfff);
        out.event = 'mmio';
        this.counters.mmioExits++;
        this.counters.mmioSpteExits++;
        return true;
      }
      if (page.level === 1) return false;
      page = store.atHpa(entryAddress(elo, ehi));
    }
    return false;
  }

  /** {@link install}; when the shadow page pool runs out, zaps everything and tries once more. */
  private installOrZap(hi: number, lo: number, leafLevel: number): void {
    try {
      this.install(hi, lo, leafLevel);
    } catch (e) {
      if (!(e instanceof PoolExhausted)) throw e;
      this.vm.zapAll();
      this.syncHardwareContext(this.ensureRoot());
      try {
        this.install(hi, lo, leafLevel);
      } catch (again) {
        if (again instanceof PoolExhausted) throw new MmuUsageError('bad-state', 'the shadow page pool cannot hold one translation path');
        throw again;
      }
    }
  }

  /** Builds the shadow path for the translation the guest walker just made. */
  private install(hi: number, lo: number, leafLevel: number): void {
    const vm = this.vm;
    const gw = this.guestWalker;
    let page = this.ensureRoot();
    const mode = this.rootMode;
    for (let level = page.level; level > leafLevel; level--) {
      const glo = gw.lastEntryLo(level);
      const ghi = gw.lastEntryHi(level);
      const child = vm.page(entryFrame(glo, ghi), (level - 1) | mode);
      vm.link(page, x86TableIndex(level, hi, lo), child, glo & (RW | US), ghi & XD);
      page = child;
    }
    const glo = gw.lastEntryLo(leafLevel);
    const ghi = gw.lastEntryHi(leafLevel);
    if (leafLevel === 1) {
      vm.setLeaf(page, x86TableIndex(1, hi, lo), entryFrame(glo, ghi), glo, ghi);
      return;
    }
    // A guest 2 MiB or 1 GiB page is shadowed by "direct" pages of 4 KiB
    // sptes (host memory need not be contiguous); the guest leaf's R/W, U/S
    // and XD go on the spte that points to them, its PK, G, D and memory-type
    // bits on the leaves. Those leaf bits are part of the direct page's role
    // (as KVM's role.access is), so a guest leaf whose D flag was cleared gets
    // read-only leaves again instead of reusing writable ones.
    const role = DIRECT | mode | (directAttributes(glo, ghi) << ACCESS_SHIFT);
    const largeBase = (ghi & 0xfffff) * 0x10_0000 + ((glo & (leafLevel === 3 ? 0xc000_0000 : 0xffe0_0000)) >>> 12);
    let direct = vm.page(largeBase, role | (leafLevel - 1));
    vm.link(page, x86TableIndex(leafLevel, hi, lo), direct, glo & (RW | US), ghi & XD);
    for (let level = leafLevel - 1; level > 1; level--) {
      const index = x86TableIndex(level, hi, lo);
      const sub = vm.page(direct.gfn + index * 512, role | (level - 1));
      vm.link(direct, index, sub, RW | US, 0);
      direct = sub;
    }
    const index = x86TableIndex(1, hi, lo);
    // Direct leaves are permissive apart from write access (dirty tracking,
    // write protection) and carry the guest leaf's memory type, PK and G.
    const leafLo = P | RW | US | A | (glo & (D | PWT | PCD | G)) | ((glo & 0x1000) !== 0 ? PS : 0);
    vm.setLeaf(direct, index, direct.gfn + index, leafLo, ghi & PKEY_HI);
  }
}

/** The guest paging-mode bits of a shadow page's role (KVM: cr0_wp, efer_nx, smep_andnot_wp, smap_andnot_wp). */
function modeRole(c: X86PagingContext): number {
  const wp = c.cr0Wp;
  return (wp ? CR0_WP : 0) | (c.eferNxe ? EFER_NX : 0) | (!wp && c.cr4Smep ? SMEP_ANDNOT_WP : 0) | (!wp && c.cr4Smap ? SMAP_ANDNOT_WP : 0);
}

/** A direct page's leaf attributes (0..511): the guest large leaf's PK (bits 62:59), G, D, PWT, PCD and PAT (bit 12). */
function directAttributes(glo: number, ghi: number): number {
  return ((ghi >>> 27) & 0xf) | ((glo & G) !== 0 ? 0x10 : 0) | ((glo & D) !== 0 ? 0x20 : 0) | ((glo & PWT) !== 0 ? 0x40 : 0) | ((glo & PCD) !== 0 ? 0x80 : 0) | ((glo & 0x1000) !== 0 ? 0x100 : 0);
}

function checkVpid(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new MmuUsageError('bad-argument', `VPID must be an integer in [0, 0xffff], got ${String(value)}`);
  return value;
}
