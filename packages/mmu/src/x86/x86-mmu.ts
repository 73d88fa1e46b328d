/**
 * The MMU of one x86-64 logical processor: a TLB in front of the page walker,
 * in native mode (linear mappings tagged by VPID and PCID) or with EPT
 * (combined mappings tagged also by the EP4TA, and the two-dimensional walk
 * on a miss). SDM 3A 4.10 "Caching Translation Information", SDM 3C 28.3
 * "Caching Translation Information" (VPIDs, EPT).
 */
import type { Memory, Tracer } from '@hvsim/core';
import { describeValue, readState, wrongType } from '@hvsim/core';
import { checkAddress, checkHalves, entryAddress, highHalf, splitAddress } from '../common/address.js';
import type { TimeOptions } from '../common/memory-access.js';
import { innerClock } from '../common/memory-access.js';
import { MmuUsageError } from '../common/mmu-error.js';
import { WalkResult } from '../common/walk-result.js';
import type { EptWalkerOptions } from '../ept/ept-walker.js';
import { NestedWalker } from '../nested/nested-walker.js';
import { invept, invlpg, invpcid, invvpid, movToCr3, movToCr4 } from '../tlb/invalidation.js';
import { PagingStructureCache } from '../tlb/paging-structure-cache.js';
import type { TlbOptions } from '../tlb/tlb.js';
import { NO_EP4TA, Tlb } from '../tlb/tlb.js';
import { checkX86Access } from './access-rights.js';
import { X86PageWalker } from './page-walker.js';
import type { X86PagingContextOptions } from './paging-context.js';
import { X86PagingContext } from './paging-context.js';
import { ACCESS } from './regs.js';
import { TIME_OPTION_NAMES, checkOptionNames } from '../common/option-names.js';

/** Option names the constructor knows (a misspelled one throws). */
const X86_MMU_OPTIONS = ['context', 'tlb', 'ept', 'eptOptions', 'tracer', 'cpu', ...TIME_OPTION_NAMES];


/** The MOV to CR4 operand: an object of booleans (`smap`, `pke`, `pks` optional); anything else is host misuse. */
function checkCr4(next: unknown): void {
  if (typeof next !== 'object' || next === null) throw new MmuUsageError('bad-argument', `MOV to CR4 takes { pge, pcide, smep, smap?, pke?, pks? }, got ${describeValue(next)}`);
  const flags = next as Record<string, unknown>;
  for (const key of ['pge', 'pcide', 'smep', 'smap', 'pke', 'pks']) {
    const v = flags[key];
    if (typeof v !== 'boolean' && !(v === undefined && key !== 'pge' && key !== 'pcide' && key !== 'smep')) throw new MmuUsageError('bad-argument', `MOV to CR4 ${key} must be a boolean, got ${describeValue(v)}`);
  }
  for (const key of Object.keys(flags)) {
    if (!['pge', 'pcide', 'smep', 'smap', 'pke', 'pks'].includes(key)) throw new MmuUsageError('unknown-name', `MOV to CR4 has no flag ${JSON.stringify(key)} (known: pge, pcide, smep, smap, pke, pks)`);
  }
}

/** Options of {@link X86Mmu}. */
export interface X86MmuOptions extends TimeOptions {
  /** The processor state (default: a fresh context). */
  context?: X86PagingContext | X86PagingContextOptions;
  /** A TLB to use, or options for a new one. */
  tlb?: Tlb | TlbOptions;
  /** Translate guest-physical addresses through EPT (the "enable EPT" control) from the start; see {@link X86Mmu.setEptEnabled}. */
  ept?: boolean;
  /** EPT capabilities (used whenever EPT is enabled). */
  eptOptions?: EptWalkerOptions;
  /** Receives the TLB's and walkers' trace events. */
  tracer?: Tracer;
  /** Number of the CPU the trace events of this MMU (its TLB and walkers) concern (docs/conventions.md "Tracing"). */
  cpu?: number;
}

/**
 * A 64-bit linear address operand: a number (below 2^53), or an unsigned
 * 64-bit bigint for upper-half (canonical kernel) addresses such as
 * `0xffff_8000_0000_1000n`. The hot paths take halves instead (`hi`, `lo`:
 * bits 63:32 and 31:0, e.g. {@link X86Mmu.translate64}, {@link X86Mmu.invlpg64}).
 */
export type LinearAddress = number | bigint;

/** `[hi, lo]` of a {@link LinearAddress} operand (checked; `what` names it in the error). */
function linearHalves(value: LinearAddress, what: string): [number, number] {
  if (typeof value === 'bigint') return splitAddress(value);
  checkAddress(value, what);
  return [highHalf(value), value >>> 0];
}

/** TLB plus walker for one logical processor. */
export class X86Mmu {
  /** The paging state (CR0, CR3, CR4, EFER, RFLAGS.AC, PKRU, IA32_PKRS) translations read. */
  readonly context: X86PagingContext;
  /** The TLB (with its paging-structure caches, when enabled). */
  readonly tlb: Tlb;
  /** The native walker (used when EPT is off). */
  readonly walker: X86PageWalker;
  private vpidValue = 0;
  private nestedWalker: NestedWalker | null = null;
  private eptOn = false;
  /** The nested walker while EPT is on, else null (kept with `eptOn`: the hit path tests it with one compare). */
  private activeNested: NestedWalker | null = null;
  /** Epoch bumps of this MMU's own (context, VPID, EPTP, mode); added to the TLB's. */
  private localEpoch = 0;
  private readonly nestedOptions: EptWalkerOptions;
  /** Translations requested. */
  translations = 0;

  private readonly scratch = new WalkResult();
  /** EPT capabilities, for validating a saved state the same way (no tracer). */
  private readonly eptOptions: EptWalkerOptions;

  constructor(
    private readonly memory: Memory,
    options: X86MmuOptions = {},
  ) {
    checkOptionNames(options, X86_MMU_OPTIONS, 'X86Mmu');
    const ctx = options.context;
    this.context = ctx instanceof X86PagingContext ? ctx : new X86PagingContext(ctx);
    const tlb = options.tlb;
    const trace = { ...(options.tracer ? { tracer: options.tracer } : {}), ...(options.cpu !== undefined ? { cpu: options.cpu } : {}), ...innerClock(options) };
    this.tlb = tlb instanceof Tlb ? tlb : new Tlb({ ...tlb, ...trace });
    this.walker = new X86PageWalker(memory, trace);
    this.eptOptions = { ...options.eptOptions, tracer: undefined };
    this.nestedOptions = { ...options.eptOptions, ...trace };
    if (options.ept === true) this.setEptEnabled(true);
  }

  /** The nested walker while EPT is enabled (load the EPTP with {@link setEptp}), else null. */
  get nested(): NestedWalker | null {
    return this.activeNested;
  }

  /** True while guest-physical addresses go through EPT. */
  get eptEnabled(): boolean {
    return this.eptOn;
  }

  /**
   * Turns EPT on or off, as a VM entry with a different "enable EPT" control
   * does: one physical CPU can host shadow-paging and EPT guests with one
   * MMU. Linear and combined mappings are told apart by their EP4TA tag
   * (SDM 3C 28.3.1), so nothing is flushed; the nested walker (and its
   * EPTP) is made on first use and kept while EPT is off.
   */
  setEptEnabled(on: boolean): void {
    if (typeof on !== 'boolean') throw new MmuUsageError('bad-argument', `setEptEnabled takes a boolean, got ${String(on)}`);
    if (on && this.nestedWalker === null) this.nestedWalker = new NestedWalker(this.memory, this.nestedOptions);
    if (on !== this.eptOn) this.localEpoch++;
    this.eptOn = on;
    this.activeNested = on ? this.nestedWalker : null;
  }

  /**
   * Invalidation epoch: changes whenever a translation this MMU gave out may
   * no longer be the one it would give. Bumped by every TLB invalidation
   * (INVLPG, INVPCID, INVVPID, INVEPT, MOV to CR3 — with or without the
   * no-flush bit, since the PCID and root change — MOV to CR4, VM transitions
   * without VPID, a #PF dropping an address), by a VPID or EPTP change, EPT
   * on/off, {@link contextChanged} and restore. Contract for a CPU-side
   * translation cache: key entries by linear page and access kind (read,
   * write, fetch, user/supervisor); cache a write only when the result was
   * `dirty`; drop the whole cache when `epoch` differs from the value read
   * when the entries were made. The CPU must call {@link contextChanged}
   * after writing `context` fields directly (CR0.WP, EFER.NXE, CR4.SMAP/PKE,
   * RFLAGS.AC, PKRU, ...), which the MMU cannot see.
   */
  get epoch(): number {
    return this.tlb.epoch + this.localEpoch;
  }

  /** Tells the MMU that the CPU wrote `context` fields directly: bumps {@link epoch} (no TLB flush; the architecture keeps TLB entries). */
  contextChanged(): void {
    this.localEpoch++;
  }

  /** Current VPID, 0..0xffff (0: the host, or VPID disabled; SDM 3C 28.1 "Virtual Processor Identifiers"). */
  get vpid(): number {
    return this.vpidValue;
  }

  /** Sets the VPID (an integer 0..0xffff, else `bad-argument`); a change bumps {@link epoch}, no flush (entries are tagged). */
  set vpid(value: number) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new MmuUsageError('bad-argument', `VPID must be an integer in [0, 0xffff], got ${String(value)}`);
    if (value !== this.vpidValue) this.localEpoch++;
    this.vpidValue = value;
  }

  /** TLB and walk counters: translations, hits, misses, walks and the entries they read (guest and EPT). */
  stats(): X86MmuStats {
    const n = this.nestedWalker;
    const walks = this.walker.walks + (n?.walks ?? 0);
    const references = this.walker.references + (n === null ? 0 : n.guestReferences + n.eptReferences);
    return {
      translations: this.translations,
      tlbHits: this.tlb.hits,
      tlbMisses: this.tlb.misses,
      walks,
      walkReferences: references,
      eptReferences: n?.eptReferences ?? 0,
      pagingStructureCacheHits: this.tlb.psc?.hits ?? 0,
    };
  }

  /** Loads the EPTP (EPT enabled only). */
  setEptp(eptp: bigint): void {
    const nested = this.nested;
    if (nested === null) throw new MmuUsageError('bad-argument', 'setEptp needs EPT enabled ({ ept: true } or setEptEnabled(true))');
    nested.ept.setEptp(eptp);
    this.localEpoch++;
  }

  /**
   * Translates a linear address given as a number (see {@link translate64}).
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this MMU reuses on every call (no allocation): read it before the next
   * call, or keep a `clone()`.
   */
  translate(linear: number, access: number, out?: WalkResult): WalkResult {
    checkAddress(linear, 'linear address');
    // translateHalves written out, each part in as little bytecode as the inlining budget allows (see there):
    // `out?` and `??` (a default value copies every parameter), and highHalf() of a checked address (the
    // difference is an exact multiple of 2^32).
    const result = out ?? this.scratch;
    const lo = linear >>> 0;
    const hi = ((linear - lo) / 0x1_0000_0000) >>> 0;
    const ctx = this.context;
    const nested = this.activeNested;
    if (!this.tlb.tryAnswer(this.vpidValue, nested === null ? NO_EP4TA : nested.ept.ep4ta, hi, lo, ctx, access, result)) return this.translateSlow(hi, lo, access, result);
    this.translations++;
    return result;
  }

  /**
   * Translates `hi:lo` for `access`: a TLB hit whose cached rights allow the
   * access (and, for a write, whose D flag is already set) answers with no
   * memory reference; otherwise the walker runs and a success fills the TLB.
   * A page fault invalidates the address's entries (SDM 3A 4.10.4.1).
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this MMU reuses on every call (no allocation): read it before the next
   * call, or keep a `clone()`.
   */
  translate64(hi: number, lo: number, access: number, out: WalkResult = this.scratch): WalkResult {
    checkHalves(hi, lo, 'linear address');
    return this.translateHalves(hi, lo, access, out);
  }

  /**
   * {@link translate64} of halves known to be valid. The hit path: small, so
   * that it inlines whole into its callers, and they into their loops (V8
   * inlines a callee while 1.2 x its bytecode, with what it inlined, fits in
   * 920 bytes); anything past `Tlb.tryAnswer` is {@link translateSlow}.
   */
  private translateHalves(hi: number, lo: number, access: number, out: WalkResult): WalkResult {
    const ctx = this.context;
    const nested = this.activeNested;
    if (!this.tlb.tryAnswer(this.vpidValue, nested === null ? NO_EP4TA : nested.ept.ep4ta, hi, lo, ctx, access, out)) return this.translateSlow(hi, lo, access, out);
    this.translations++;
    return out;
  }

  /**
   * {@link translateHalves} past the TLB's common case: checks `access` (a
   * bad one throws before anything is counted), then a full lookup and
   * rights check, then {@link translateMiss}.
   */
  private translateSlow(hi: number, lo: number, access: number, out: WalkResult): WalkResult {
    checkX86Access(access);
    this.translations++;
    const ctx = this.context;
    const nested = this.activeNested;
    const ep4ta = nested === null ? NO_EP4TA : nested.ept.ep4ta;
    const i = this.tlb.lookup(this.vpidValue, ctx.pcid, ep4ta, hi, lo);
    if (i >= 0 && this.tlb.answer(i, ctx, access, hi, lo, out)) return out;
    return this.translateMiss(hi, lo, access, out, ep4ta);
  }

  /** {@link translateHalves} past the TLB: walks, and fills the TLB on success or drops the address on a #PF. */
  private translateMiss(hi: number, lo: number, access: number, out: WalkResult, ep4ta: number): WalkResult {
    const ctx = this.context;
    const nested = this.nested;
    const pcid = ctx.pcid;
    const psc = this.tlb.psc;
    if (nested !== null) nested.walk64(ctx, hi, lo, access, out);
    else if (psc === null) this.walker.walk64(ctx, hi, lo, access, out);
    else this.walkWithPsc(psc, hi, lo, access, pcid, out);
    if (out.status === 'ok') {
      // With EPT A/D on, only a write walk is known to have set the EPT dirty flag.
      const writeReady = nested === null || !nested.ept.accessedDirtyEnabled || (access & ACCESS.WRITE) !== 0;
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

  /**
   * INVLPG of a linear address: a number, or an unsigned 64-bit bigint for
   * upper-half addresses ({@link LinearAddress}). A non-canonical address is
   * a no-op (SDM 2 "INVLPG").
   */
  invlpg(linear: LinearAddress): void {
    const [hi, lo] = linearHalves(linear, 'INVLPG linear address');
    this.invlpg64(hi, lo);
  }

  /** INVLPG of the linear address `hi:lo` (bits 63:32, 31:0), allocation-free. */
  invlpg64(hi: number, lo: number): void {
    checkHalves(hi, lo, 'INVLPG linear address');
    invlpg(this.tlb, this.context, this.vpid, hi, lo);
  }

  /**
   * MOV to CR3 with PCID semantics; #GP on reserved bits. Bumps {@link epoch}
   * even with the no-flush bit (the PCID changes). The value is the 64-bit
   * register as a bigint (bit 63 is the no-flush bit), or a number below
   * 2^53 for convenience (as {@link invlpg}); anything else is a `UsageError`.
   */
  movToCr3(value: bigint | number): void {
    if (typeof value === 'number') {
      checkAddress(value, 'MOV to CR3 value');
      value = BigInt(value);
    } else if (typeof value !== 'bigint') wrongType(value, 'MOV to CR3 value', 'bigint');
    movToCr3(this.tlb, this.context, this.vpid, value);
    this.localEpoch++;
  }

  /** MOV to CR4 changing PGE, PCIDE, SMEP (and optionally SMAP, PKE, PKS): updates the context and invalidates as SDM 3A 4.10.4.1 says. */
  movToCr4(next: { pge: boolean; pcide: boolean; smep: boolean; smap?: boolean; pke?: boolean; pks?: boolean }): void {
    checkCr4(next);
    movToCr4(this.tlb, this.context, this.vpid, next);
    this.localEpoch++;
  }

  /**
   * A VM entry or VM exit with the "enable VPID" control 0: invalidates the
   * linear and combined mappings of VPID 0000H (SDM 3C 28.3.3.3, "Guidelines
   * for Use of the INVVPID Instruction"; 28.3.3.1).
   */
  vmTransitionWithoutVpid(): void {
    this.tlb.invalidateVpid(0, false);
  }

  /** INVPCID; #GP on a bad type or descriptor. `linear` as for {@link invlpg}. */
  invpcid(type: number, pcid: number, linear: LinearAddress = 0): void {
    const [hi, lo] = linearHalves(linear, 'INVPCID linear address');
    invpcid(this.tlb, this.context, this.vpid, type, pcid, hi, lo);
  }

  /** INVVPID; returns 0 or VM-instruction error 28. `linear` as for {@link invlpg}. */
  invvpid(type: number, vpid: number, linear: LinearAddress = 0): number {
    const [hi, lo] = linearHalves(linear, 'INVVPID linear address');
    return invvpid(this.tlb, type, vpid, hi, lo, this.context.cr4La57);
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
      eptEnabled: this.eptOn,
      ...(this.nestedWalker ? { nested: this.nestedWalker.saveState() } : {}),
    };
  }

  /**
   * Restores {@link saveState} output, EPT on or off as saved (states without
   * `eptEnabled` are in EPT mode exactly when they have `nested`); a bad
   * state changes nothing.
   */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.x86-mmu', 1);
    const vpid = s.int('vpid', 0, 0xffff);
    const translations = s.address('translations');
    const hasNested = s.has('nested');
    const ept = s.has('eptEnabled') ? s.bool('eptEnabled') : hasNested;
    if (ept && !hasNested) throw new MmuUsageError('bad-argument', 'saved X86Mmu state has eptEnabled but no nested walker state');
    // Validate every part on scratch instances first, so a bad part leaves this MMU untouched.
    new X86PagingContext().restoreState(s.raw('context'));
    new Tlb({ entries: this.tlb.entries, ways: this.tlb.ways, replacement: this.tlb.replacement }).restoreState(s.raw('tlb'));
    new X86PageWalker(this.memory).restoreState(s.raw('walker'));
    if (hasNested) new NestedWalker(this.memory, this.eptOptions).restoreState(s.raw('nested'));
    this.context.restoreState(s.raw('context'));
    this.tlb.restoreState(s.raw('tlb'));
    this.walker.restoreState(s.raw('walker'));
    // The nested walker is as saved: none if the state had none.
    if (!hasNested) this.nestedWalker = null;
    this.setEptEnabled(hasNested);
    this.nestedWalker?.restoreState(s.raw('nested'));
    this.eptOn = ept;
    this.activeNested = ept ? this.nestedWalker : null;
    this.vpid = vpid;
    this.translations = translations;
    this.localEpoch++;
  }
}

/** Counters of an {@link X86Mmu}. */
export interface X86MmuStats {
  /** Translations requested. */
  translations: number;
  /** Translations answered by the TLB. */
  tlbHits: number;
  /** TLB lookups that found no entry. */
  tlbMisses: number;
  /** Walks made on TLB misses (nested walks in EPT mode). */
  walks: number;
  /** Paging-structure entries the walks read (guest plus EPT). */
  walkReferences: number;
  /** Of those, EPT entries. */
  eptReferences: number;
  /** Lookups that hit the paging-structure caches (SDM 3A 4.10.3). */
  pagingStructureCacheHits: number;
}

/** Saved state of an {@link X86Mmu}. */
export interface X86MmuState {
  /** Identifies a saved x86 MMU. */
  type: 'hvsim.mmu.x86-mmu';
  /** Format version (1). */
  version: 1;
  /** The VPID. */
  vpid: number;
  /** Translations requested. */
  translations: number;
  /** The paging context's saved state. */
  context: unknown;
  /** The TLB's saved state. */
  tlb: unknown;
  /** The native walker's saved state. */
  walker: unknown;
  /** EPT on at the save (absent in states from before EPT could be switched: then `nested` says). */
  eptEnabled?: boolean;
  /** The nested walker (EPTP, counters), when one was made. */
  nested?: unknown;
}
