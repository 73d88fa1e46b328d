/**
 * The MMU of one x86-64 logical processor: a TLB in front of the page walker,
 * in native mode (linear mappings tagged by VPID and PCID) or with EPT
 * (combined mappings tagged also by the EP4TA, and the two-dimensional walk
 * on a miss). SDM 3A 4.10 "Caching Translation Information", SDM 3C 28.3
 * "Caching Translation Information" (VPIDs, EPT).
 */
import type { PhysicalMemory, Tracer } from '@hvsim/core';
import { readState } from '@hvsim/core';
import { checkAddress, entryAddress, highHalf } from '../common/address.js';
import { MmuError } from '../common/mmu-error.js';
import { WalkResult } from '../common/walk-result.js';
import type { EptWalkerOptions } from '../ept/ept-walker.js';
import { EPTE_LO } from '../ept/regs.js';
import { NestedWalker } from '../nested/nested-walker.js';
import { invept, invlpg, invpcid, invvpid, movToCr3, movToCr4 } from '../tlb/invalidation.js';
import { PagingStructureCache } from '../tlb/paging-structure-cache.js';
import type { TlbOptions } from '../tlb/tlb.js';
import { NO_EP4TA, TLB_ATTR, Tlb } from '../tlb/tlb.js';
import { checkX86Access, x86AccessFault } from './access-rights.js';
import { X86PageWalker } from './page-walker.js';
import type { X86PagingContextOptions } from './paging-context.js';
import { X86PagingContext } from './paging-context.js';
import { ACCESS } from './regs.js';

// Short names for the constants read on the TLB-hit path.
const { WRITE, FETCH } = ACCESS;
const { R: EPT_R, W: EPT_W, X: EPT_X } = EPTE_LO;
const { WRITABLE, USER, EXECUTABLE, DIRTY } = TLB_ATTR;

/** Options of {@link X86Mmu}. */
export interface X86MmuOptions {
  /** The processor state (default: a fresh context). */
  context?: X86PagingContext | X86PagingContextOptions;
  /** A TLB to use, or options for a new one. */
  tlb?: Tlb | TlbOptions;
  /** Translate guest-physical addresses through EPT (the "enable EPT" control). */
  ept?: boolean;
  /** EPT capabilities when `ept` is set. */
  eptOptions?: EptWalkerOptions;
  tracer?: Tracer;
  now?: () => number;
}

/** TLB plus walker for one logical processor. */
export class X86Mmu {
  readonly context: X86PagingContext;
  readonly tlb: Tlb;
  /** The native walker (used when EPT is off). */
  readonly walker: X86PageWalker;
  /** The nested walker (when EPT is on); load the EPTP with {@link setEptp}. */
  readonly nested: NestedWalker | null;
  private vpidValue = 0;
  /** Translations requested. */
  translations = 0;

  private readonly scratch = new WalkResult();
  /** EPT capabilities, for validating a saved state the same way (no tracer). */
  private readonly eptOptions: EptWalkerOptions;

  constructor(
    private readonly memory: PhysicalMemory,
    options: X86MmuOptions = {},
  ) {
    const ctx = options.context;
    this.context = ctx instanceof X86PagingContext ? ctx : new X86PagingContext(ctx);
    const tlb = options.tlb;
    this.tlb = tlb instanceof Tlb ? tlb : new Tlb({ ...tlb, ...(options.tracer ? { tracer: options.tracer } : {}), ...(options.now ? { now: options.now } : {}) });
    const trace = { ...(options.tracer ? { tracer: options.tracer } : {}), ...(options.now ? { now: options.now } : {}) };
    this.walker = new X86PageWalker(memory, trace);
    this.eptOptions = { ...options.eptOptions, tracer: undefined };
    this.nested = options.ept === true ? new NestedWalker(memory, { ...options.eptOptions, ...trace }) : null;
  }

  /** Current VPID, 0..0xffff (0: the host, or VPID disabled; SDM 3C 28.1 "Virtual Processor Identifiers"). */
  get vpid(): number {
    return this.vpidValue;
  }

  set vpid(value: number) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new MmuError('bad-argument', `VPID must be an integer in [0, 0xffff], got ${String(value)}`);
    this.vpidValue = value;
  }

  /** TLB and walk counters: translations, hits, misses, walks and the entries they read (guest and EPT). */
  stats(): X86MmuStats {
    const walks = this.nested === null ? this.walker.walks : this.nested.walks;
    const references = this.nested === null ? this.walker.references : this.nested.guestReferences + this.nested.eptReferences;
    return {
      translations: this.translations,
      tlbHits: this.tlb.hits,
      tlbMisses: this.tlb.misses,
      walks,
      walkReferences: references,
      eptReferences: this.nested?.eptReferences ?? 0,
      pagingStructureCacheHits: this.tlb.psc?.hits ?? 0,
    };
  }

  /** Loads the EPTP (EPT mode only). */
  setEptp(eptp: bigint): void {
    if (this.nested === null) throw new MmuError('bad-argument', 'setEptp needs an X86Mmu built with { ept: true }');
    this.nested.ept.setEptp(eptp);
  }

  /** Translates a linear address given as a number (see {@link translate64}). */
  translate(linear: number, access: number, out: WalkResult = this.scratch): WalkResult {
    checkAddress(linear, 'linear address');
    return this.translate64(highHalf(linear), linear >>> 0, access, out);
  }

  /**
   * Translates `hi:lo` for `access`: a TLB hit whose cached rights allow the
   * access (and, for a write, whose D flag is already set) answers with no
   * memory reference; otherwise the walker runs and a success fills the TLB.
   * A page fault invalidates the address's entries (SDM 3A 4.10.4.1).
   */
  translate64(hi: number, lo: number, access: number, out: WalkResult = this.scratch): WalkResult {
    checkX86Access(access);
    this.translations++;
    const ctx = this.context;
    const nested = this.nested;
    const ep4ta = nested === null ? NO_EP4TA : nested.ept.ep4ta;
    const pcid = ctx.pcid;
    const i = this.tlb.lookup(this.vpid, pcid, ep4ta, hi, lo);
    if (i >= 0) {
      const attrs = this.tlb.attributes(i);
      const write = (access & WRITE) !== 0;
      const need = (access & FETCH) !== 0 ? EPT_X : write ? EPT_W : EPT_R;
      const writable = (attrs & WRITABLE) !== 0;
      const user = (attrs & USER) !== 0;
      const executable = (attrs & EXECUTABLE) !== 0;
      if ((!write || (attrs & DIRTY) !== 0) && (this.tlb.eptPermissions(i) & need) !== 0 && x86AccessFault(ctx, access, writable, user, executable, this.tlb.protectionKey(i)) === 0) {
        this.tlb.readInto(i, hi, lo, out);
        return out;
      }
    }
    const psc = this.tlb.psc;
    if (nested !== null) nested.walk64(ctx, hi, lo, access, out);
    else if (psc === null) this.walker.walk64(ctx, hi, lo, access, out);
    else this.walkWithPsc(psc, hi, lo, access, pcid, out);
    if (out.status === 'ok') {
      // With EPT A/D on, only a write walk is known to have set the EPT dirty flag.
      const writeReady = nested === null || !nested.ept.accessedDirtyEnabled || (access & WRITE) !== 0;
      this.tlb.fill(this.vpid, pcid, ep4ta, hi, lo, out, out.global && ctx.cr4Pge, writeReady);
    }
    else if (out.status === 'page-fault') this.tlb.invalidateAddress(this.vpid, pcid, hi, lo, true);
    return out;
  }

  /**
   * A native walk that starts from the deepest paging-structure-cache hit
   * (PDE, then PDPTE, PML4E, PML5E; SDM 3A 4.10.3.2 "Using the
   * Paging-Structure Caches to Translate Linear Addresses") and caches the
   * non-leaf entries it read.
   */
  private walkWithPsc(psc: PagingStructureCache, hi: number, lo: number, access: number, pcid: number, out: WalkResult): void {
    const ctx = this.context;
    const la57 = ctx.cr4La57;
    const top = la57 ? 5 : 4;
    let start = top;
    let table = ctx.rootAddress;
    let permissions = 7;
    for (let level = 2; level <= top; level++) {
      const i = psc.lookup(level, this.vpid, pcid, NO_EP4TA, PagingStructureCache.keyOf(level, hi, lo, la57));
      if (i >= 0) {
        start = level - 1;
        table = psc.tableOf(i);
        permissions = psc.permissionsOf(i);
        break;
      }
    }
    const walker = this.walker;
    walker.walkFrom(ctx, hi, lo, access, out, start, table, permissions);
    if (out.status !== 'ok') return;
    for (let level = start; level > out.level; level--) {
      const next = entryAddress(walker.lastEntryLo(level), walker.lastEntryHi(level));
      psc.fill(level, this.vpid, pcid, NO_EP4TA, PagingStructureCache.keyOf(level, hi, lo, la57), next, walker.lastPathPermissions(level));
    }
  }

  /** INVLPG of a linear address (number form). */
  invlpg(linear: number): void {
    checkAddress(linear, 'INVLPG linear address');
    invlpg(this.tlb, this.context, this.vpid, highHalf(linear), linear >>> 0);
  }

  /** MOV to CR3 with PCID semantics; #GP on reserved bits. */
  movToCr3(value: bigint): void {
    movToCr3(this.tlb, this.context, this.vpid, value);
  }

  /** MOV to CR4 changing PGE, PCIDE, SMEP (and optionally SMAP, PKE, PKS): updates the context and invalidates as SDM 3A 4.10.4.1 says. */
  movToCr4(next: { pge: boolean; pcide: boolean; smep: boolean; smap?: boolean; pke?: boolean; pks?: boolean }): void {
    movToCr4(this.tlb, this.context, this.vpid, next);
  }

  /**
   * A VM entry or VM exit with the "enable VPID" control 0: invalidates the
   * linear and combined mappings of VPID 0000H (SDM 3C 28.3.3.3, "Guidelines
   * for Use of the INVVPID Instruction"; 28.3.3.1).
   */
  vmTransitionWithoutVpid(): void {
    this.tlb.invalidateVpid(0, false);
  }

  /** INVPCID; #GP on a bad type or descriptor. */
  invpcid(type: number, pcid: number, linear = 0): void {
    checkAddress(linear, 'INVPCID linear address');
    invpcid(this.tlb, this.context, this.vpid, type, pcid, highHalf(linear), linear >>> 0);
  }

  /** INVVPID; returns 0 or VM-instruction error 28. */
  invvpid(type: number, vpid: number, linear = 0): number {
    checkAddress(linear, 'INVVPID linear address');
    return invvpid(this.tlb, type, vpid, highHalf(linear), linear >>> 0, this.context.cr4La57);
  }

  /** INVEPT; returns 0 or VM-instruction error 28. */
  invept(type: number, eptp: bigint): number {
    return invept(this.tlb, type, eptp, this.context.maxPhyAddr);
  }

  /** Saves context, VPID, TLB, walker counters and the EPTP. */
  saveState(): X86MmuState {
    return {
      type: 'hvsim.mmu.x86-mmu',
      version: 1,
      vpid: this.vpid,
      translations: this.translations,
      context: this.context.saveState(),
      tlb: this.tlb.saveState(),
      walker: this.walker.saveState(),
      ...(this.nested ? { nested: this.nested.saveState() } : {}),
    };
  }

  /** Restores {@link saveState} output (EPT mode must match); a bad state changes nothing. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.x86-mmu', 1);
    const vpid = s.int('vpid', 0, 0xffff);
    const translations = s.address('translations');
    if (s.has('nested') !== (this.nested !== null)) throw new MmuError('bad-argument', `saved X86Mmu state ${s.has('nested') ? 'uses' : 'does not use'} EPT, this X86Mmu ${this.nested ? 'does' : 'does not'}`);
    // Validate every part on scratch instances first, so a bad part leaves this MMU untouched.
    new X86PagingContext().restoreState(s.raw('context'));
    new Tlb({ entries: this.tlb.entries, ways: this.tlb.ways, replacement: this.tlb.replacement }).restoreState(s.raw('tlb'));
    new X86PageWalker(this.memory).restoreState(s.raw('walker'));
    if (this.nested) new NestedWalker(this.memory, this.eptOptions).restoreState(s.raw('nested'));
    this.context.restoreState(s.raw('context'));
    this.tlb.restoreState(s.raw('tlb'));
    this.walker.restoreState(s.raw('walker'));
    if (this.nested) this.nested.restoreState(s.raw('nested'));
    this.vpid = vpid;
    this.translations = translations;
  }
}

/** Counters of an {@link X86Mmu}. */
export interface X86MmuStats {
  translations: number;
  tlbHits: number;
  tlbMisses: number;
  /** Walks made on TLB misses (nested walks in EPT mode). */
  walks: number;
  /** Paging-structure entries the walks read (guest plus EPT). */
  walkReferences: number;
  /** Of those, EPT entries. */
  eptReferences: number;
  pagingStructureCacheHits: number;
}

/** Saved state of an {@link X86Mmu}. */
export interface X86MmuState {
  type: 'hvsim.mmu.x86-mmu';
  version: 1;
  vpid: number;
  translations: number;
  context: unknown;
  tlb: unknown;
  walker: unknown;
  nested?: unknown;
}
