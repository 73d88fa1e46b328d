/**
 * The MMU of one x86-64 logical processor: a TLB in front of the page walker,
 * in native mode (linear mappings tagged by VPID and PCID) or with EPT
 * (combined mappings tagged also by the EP4TA, and the two-dimensional walk
 * on a miss). SDM 3A 4.10 "Caching Translation Information", SDM 3C 28.3
 * "Caching Translation Information" (VPIDs, EPT).
 */
import type { PhysicalMemory, Tracer } from '@hvsim/core';
import { readState } from '@hvsim/core';
import { highHalf } from '../common/address.js';
import { MmuError } from '../common/mmu-error.js';
import { WalkResult } from '../common/walk-result.js';
import type { EptWalkerOptions } from '../ept/ept-walker.js';
import { EPTE_LO } from '../ept/regs.js';
import { NestedWalker } from '../nested/nested-walker.js';
import { invept, invlpg, invpcid, invvpid, movToCr3 } from '../tlb/invalidation.js';
import type { TlbOptions } from '../tlb/tlb.js';
import { NO_EP4TA, TLB_ATTR, Tlb } from '../tlb/tlb.js';
import { x86AccessFault } from './access-rights.js';
import { X86PageWalker } from './page-walker.js';
import type { X86PagingContextOptions } from './paging-context.js';
import { X86PagingContext } from './paging-context.js';
import { ACCESS } from './regs.js';

// Module-local copies of constants read on the TLB-hit path.
const { WRITE, FETCH } = ACCESS;
const { R: EPT_R, W: EPT_W, X: EPT_X } = EPTE_LO;
const { WRITABLE, USER, EXECUTABLE, DIRTY } = TLB_ATTR;
const LINEAR_ONLY = NO_EP4TA;
const accessFault = x86AccessFault;

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
  /** Current VPID (0: the host, or VPID disabled). */
  vpid = 0;
  /** Translations requested. */
  translations = 0;

  private readonly scratch = new WalkResult();

  constructor(memory: PhysicalMemory, options: X86MmuOptions = {}) {
    const ctx = options.context;
    this.context = ctx instanceof X86PagingContext ? ctx : new X86PagingContext(ctx);
    const tlb = options.tlb;
    this.tlb = tlb instanceof Tlb ? tlb : new Tlb({ ...tlb, ...(options.tracer ? { tracer: options.tracer } : {}), ...(options.now ? { now: options.now } : {}) });
    const trace = { ...(options.tracer ? { tracer: options.tracer } : {}), ...(options.now ? { now: options.now } : {}) };
    this.walker = new X86PageWalker(memory, trace);
    this.nested = options.ept === true ? new NestedWalker(memory, { ...options.eptOptions, ...trace }) : null;
  }

  /** Loads the EPTP (EPT mode only). */
  setEptp(eptp: bigint): void {
    if (this.nested === null) throw new MmuError('bad-argument', 'setEptp needs an X86Mmu built with { ept: true }');
    this.nested.ept.setEptp(eptp);
  }

  /** Translates a linear address given as a number (see {@link translate64}). */
  translate(linear: number, access: number, out: WalkResult = this.scratch): WalkResult {
    return this.translate64(highHalf(linear), linear >>> 0, access, out);
  }

  /**
   * Translates `hi:lo` for `access`: a TLB hit whose cached rights allow the
   * access (and, for a write, whose D flag is already set) answers with no
   * memory reference; otherwise the walker runs and a success fills the TLB.
   * A page fault invalidates the address's entries (SDM 3A 4.10.4.1).
   */
  translate64(hi: number, lo: number, access: number, out: WalkResult = this.scratch): WalkResult {
    this.translations++;
    const ctx = this.context;
    const nested = this.nested;
    const ep4ta = nested === null ? LINEAR_ONLY : nested.ept.ep4ta;
    const pcid = ctx.pcid;
    const i = this.tlb.lookup(this.vpid, pcid, ep4ta, hi, lo);
    if (i >= 0) {
      const attrs = this.tlb.attributes(i);
      const write = (access & WRITE) !== 0;
      const need = (access & FETCH) !== 0 ? EPT_X : write ? EPT_W : EPT_R;
      const writable = (attrs & WRITABLE) !== 0;
      const user = (attrs & USER) !== 0;
      const executable = (attrs & EXECUTABLE) !== 0;
      if ((!write || (attrs & DIRTY) !== 0) && (this.tlb.eptPermissions(i) & need) !== 0 && accessFault(ctx, access, writable, user, executable, this.tlb.protectionKey(i)) === 0) {
        out.reset(hi, lo);
        out.address = this.tlb.physical(i, lo);
        out.pageSize = this.tlb.pageSize(i);
        out.writable = writable;
        out.user = user;
        out.executable = executable;
        out.dirty = (attrs & DIRTY) !== 0;
        out.global = this.tlb.isGlobal(i);
        out.protectionKey = this.tlb.protectionKey(i);
        out.eptPermissions = this.tlb.eptPermissions(i);
        return out;
      }
    }
    if (nested === null) this.walker.walk64(ctx, hi, lo, access, out);
    else nested.walk64(ctx, hi, lo, access, out);
    if (out.status === 'ok') this.tlb.fill(this.vpid, pcid, ep4ta, hi, lo, out, out.global && ctx.cr4Pge);
    else if (out.status === 'page-fault') this.tlb.invalidateAddress(this.vpid, pcid, hi, lo, true);
    return out;
  }

  /** INVLPG of a linear address (number form). */
  invlpg(linear: number): void {
    invlpg(this.tlb, this.context, this.vpid, highHalf(linear), linear >>> 0);
  }

  /** MOV to CR3 with PCID semantics; #GP on reserved bits. */
  movToCr3(value: bigint): void {
    movToCr3(this.tlb, this.context, this.vpid, value);
  }

  /** INVPCID; #GP on a bad type or descriptor. */
  invpcid(type: number, pcid: number, linear = 0): void {
    invpcid(this.tlb, this.context, this.vpid, type, pcid, highHalf(linear), linear >>> 0);
  }

  /** INVVPID; returns 0 or VM-instruction error 28. */
  invvpid(type: number, vpid: number, linear = 0): number {
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

  /** Restores {@link saveState} output (EPT mode must match). */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.x86-mmu', 1);
    const vpid = s.int('vpid', 0, 0xffff);
    const translations = s.address('translations');
    if (s.has('nested') !== (this.nested !== null)) throw new MmuError('bad-argument', `saved X86Mmu state ${s.has('nested') ? 'uses' : 'does not use'} EPT, this X86Mmu ${this.nested ? 'does' : 'does not'}`);
    this.context.restoreState(s.raw('context'));
    this.tlb.restoreState(s.raw('tlb'));
    this.walker.restoreState(s.raw('walker'));
    if (this.nested) this.nested.restoreState(s.raw('nested'));
    this.vpid = vpid;
    this.translations = translations;
  }
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
