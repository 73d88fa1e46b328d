/**
 * The x86-64 page walker: 4-level and 5-level paging (SDM 3A 4.5) with 4 KiB,
 * 2 MiB and 1 GiB pages, reserved-bit checks against MAXPHYADDR (4.5, Tables
 * 4-15..4-20), access rights (4.6), accessed/dirty updates written to memory
 * (4.8) and page-fault results with the architectural error code (4.7).
 *
 * A native walk reads entries through cached page views of the tables
 * (core's `Memory.pageView`, one per level, re-taken when
 * `memory.generation` changes), with no page lookup per entry; other
 * entries (read-only or unbacked memory, staged or recorded walks) are read
 * as halves with `Memory.read64Halves` (internal/entry-reader.ts). The
 * result object is reused and the walk allocates nothing unless the caller
 * records references.
 */
import type { Memory, Tracer } from '@hvsim/core';
import { readState } from '@hvsim/core';
import { TWO_32, checkAddress, checkHalves } from '../common/address.js';
import type { WalkReferenceKind } from '../common/walk-result.js';
import { WalkResult } from '../common/walk-result.js';
import { checkX86Access, pageFaultCode, x86AccessFault } from './access-rights.js';
import type { X86PagingContext } from './paging-context.js';
import { EntryReader } from '../internal/entry-reader.js';
import type { TimeOptions } from '../common/memory-access.js';
import { timeSource, write32Safe } from '../common/memory-access.js';
import { ACCESS, PFEC, PTE_HI, PTE_LO } from './regs.js';
import type { TableStage } from './table-stage.js';
import { TIME_OPTION_NAMES, checkOptionNames, cpuOption } from '../common/option-names.js';

/** Option names the constructor knows (a misspelled one throws). */
const X86_PAGE_WALKER_OPTIONS = ['cpu', 'stage', 'referenceKind', 'tracer', 'source', ...TIME_OPTION_NAMES];

// Short names for the entry masks used in the walk loop.
const { P, RW, US, A, D, PS, G, ADDRESS, RSVD_1G, RSVD_2M } = PTE_LO;
const { XD, PKEY_SHIFT } = PTE_HI;
const WRITE = ACCESS.WRITE;
const P_RSVD = PFEC.P | PFEC.RSVD;

/** Options of {@link X86PageWalker}. */
export interface X86PageWalkerOptions extends TimeOptions {
  /** Second stage for guest-physical table addresses (memslots or EPT); none for a native walk. */
  stage?: TableStage;
  /** Kind recorded for this walker's references (default `'guest'`). */
  referenceKind?: WalkReferenceKind;
  /** Receives an `mmu.walk` event per walk. */
  tracer?: Tracer;
  /** Number of the CPU this model's trace events concern (docs/conventions.md "Tracing"); left out of the events when not given. */
  cpu?: number;
  /** Source name on trace events (default `'mmu'`). */
  source?: string;
}

/** Index of the entry for `level` in the linear address `hi:lo` (SDM 3A 4.5, Figure 4-8/4-9). */
export function x86TableIndex(level: number, hi: number, lo: number): number {
  switch (level) {
    case 1:
      return (lo >>> 12) & 511;
    case 2:
      return (lo >>> 21) & 511;
    case 3:
      return ((lo >>> 30) | (hi << 2)) & 511;
    case 4:
      return (hi >>> 7) & 511;
    default:
      return (hi >>> 16) & 511;
  }
}

/** Walks x86-64 paging structures in physical memory. */
export class X86PageWalker {
  /** Walks started. */
  walks = 0;
  /** Paging-structure entries read, over all walks (including second-stage references). */
  references = 0;
  /** Walks that ended in a fault of any kind. */
  faults = 0;

  private readonly stage: TableStage | null;
  private readonly kind: WalkReferenceKind;
  private readonly tracer: Tracer | undefined;
  private readonly cpu: number | undefined;
  private readonly now: () => number;
  private readonly source: string;
  private readonly scratch = new WalkResult();
  // Per level (index = level): where the entry was read (guest-physical and host-physical) and its low half.
  private readonly entryGpa = new Float64Array(6);
  private readonly entryHpa = new Float64Array(6);
  private readonly entryLo = new Uint32Array(6);
  private readonly entryHi = new Uint32Array(6);
  private readonly entryPerms = new Uint8Array(6);
  private readonly reader: EntryReader;
  // Per level: the table page whose view `viewWords` holds (-1: none), and that view's words (null: the
  // page has no view, read it through `reader`); valid while `memory.generation` is `viewGeneration`.
  private readonly viewPage = new Float64Array(6).fill(-1);
  private readonly viewWords: (Uint32Array | null)[] = [null, null, null, null, null, null];
  private viewGeneration = -1;

  constructor(
    private readonly memory: Memory,
    options: X86PageWalkerOptions = {},
  ) {
    checkOptionNames(options, X86_PAGE_WALKER_OPTIONS, 'X86PageWalker');
    this.reader = new EntryReader(memory);
    this.stage = options.stage ?? null;
    this.kind = options.referenceKind ?? 'guest';
    this.tracer = options.tracer;
    this.cpu = cpuOption(options.cpu, 'X86PageWalker');
    this.now = timeSource(options);
    this.source = options.source ?? 'mmu';
  }

  /**
   * Walks for a linear address given as a number (bits above 52 zero; upper-
   * half addresses via {@link walk64}).
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this walker reuses on every call (no allocation): read it before the
   * next call, or keep a `clone()`.
   */
  walk(ctx: X86PagingContext, linear: number, access: number, out: WalkResult = this.scratch): WalkResult {
    checkAddress(linear, 'linear address');
    const lo = linear >>> 0;
    // Exact: linear - lo is a multiple of 2^32 below 2^53. The halves are valid by construction.
    return this.run(ctx, ((linear - lo) / TWO_32) >>> 0, lo, access, out, ctx.cr4La57 ? 5 : 4, ctx.rootAddress, 7);
  }

  /**
   * Walks for the linear address `hi:lo` (bits 63:32 and 31:0) with `access`
   * ({@link ACCESS} flags). Canonicality is the caller's check (a #GP, not a
   * #PF; SDM 3A 3.3.7.1): only bits 47:0 (56:0 with LA57) are translated.
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this walker reuses on every call (no allocation): read it before the
   * next call, or keep a `clone()`.
   */
  walk64(ctx: X86PagingContext, hi: number, lo: number, access: number, out: WalkResult = this.scratch): WalkResult {
    checkHalves(hi, lo, 'linear address');
    return this.run(ctx, hi, lo, access, out, ctx.cr4La57 ? 5 : 4, ctx.rootAddress, 7);
  }

  /**
   * Continues a walk from a paging-structure-cache entry (SDM 3A 4.10.3):
   * reads from the table at `level` (physical address `table`) down, with
   * `permissions` (bit 0 R/W, 1 U/S, 2 not-XD) already accumulated above it.
   * Accessed flags above `level` are not touched: they were set when the
   * cached entries were used.
   */
  walkFrom(ctx: X86PagingContext, hi: number, lo: number, access: number, out: WalkResult, level: number, table: number, permissions: number): WalkResult {
    return this.run(ctx, hi, lo, access, out, level, table, permissions);
  }

  /** Accumulated permissions (bit 0 R/W, 1 U/S, 2 not-XD) of the last walk down to and including `level`. */
  lastPathPermissions(level: number): number {
    return this.entryPerms[level] ?? 0;
  }

  private run(ctx: X86PagingContext, hi: number, lo: number, access: number, out: WalkResult, start: number, root: number, permissions: number): WalkResult {
    checkX86Access(access);
    this.walks++;
    if (this.stage === null && out.trace === null) return this.runNative(ctx, hi, lo, access, out, start, root, permissions);
    out.reset(hi >>> 0, lo >>> 0);
    const reader = this.reader;
    const stage = this.stage;
    const m = ctx.maxPhyAddr;
    const hiAddrMask = m >= 52 ? 0xfffff : (1 << (m - 32)) - 1;
    const nxe = ctx.eferNxe;
    const rsvdHi = (0xfffff & ~hiAddrMask) | (nxe ? 0 : XD);
    const top = start;
    let table = root;
    let writable = (permissions & 1) !== 0;
    let user = (permissions & 2) !== 0;
    let executable = (permissions & 4) !== 0;
    let level = top;
    let elo = 0;
    let ehi = 0;
    for (;;) {
      const gpa = table + x86TableIndex(level, hi, lo) * 8;
      let hpa = gpa;
      if (stage !== null) {
        const before = out.references;
        hpa = stage.mapTable(gpa, level, out);
        out.secondStageReferences += out.references - before;
        if (hpa < 0) return this.finishFault(out, level);
      }
      reader.read(hpa);
      elo = reader.lo;
      ehi = reader.hi;
      out.references++;
      if (out.trace !== null) out.trace.push({ kind: this.kind, level, address: hpa, value: (BigInt(ehi) << 32n) | BigInt(elo) });
      this.entryGpa[level] = gpa;
      this.entryHpa[level] = hpa;
      this.entryLo[level] = elo;
      this.entryHi[level] = ehi;
      if ((elo & P) === 0) {
        out.status = 'page-fault';
        out.errorCode = pageFaultCode(ctx, access, 0);
        return this.finishFault(out, level);
      }
      const ps = (elo & PS) !== 0;
      if ((ehi & rsvdHi) !== 0 || (ps && (level >= 4 || (level === 3 && (!ctx.page1gb || (elo & RSVD_1G) !== 0)) || (level === 2 && (elo & RSVD_2M) !== 0)))) {
        out.status = 'page-fault';
        out.errorCode = pageFaultCode(ctx, access, P_RSVD);
        return this.finishFault(out, level);
      }
      if ((elo & RW) === 0) writable = false;
      if ((elo & US) === 0) user = false;
      if ((ehi & XD) !== 0 && nxe) executable = false;
      this.entryPerms[level] = (writable ? 1 : 0) | (user ? 2 : 0) | (executable ? 4 : 0);
      if (level === 1 || ps) break;
      table = (ehi & hiAddrMask) * TWO_32 + ((elo & ADDRESS) >>> 0);
      level--;
    }
    // Leaf: frame and offset by page size.
    let base: number;
    let size: number;
    let offset: number;
    if (level === 1) {
      size = 4096;
      base = (ehi & hiAddrMask) * TWO_32 + ((elo & ADDRESS) >>> 0);
      offset = lo & 0xfff;
    } else if (level === 2) {
      size = 0x20_0000;
      base = (ehi & hiAddrMask) * TWO_32 + ((elo & 0xffe0_0000) >>> 0);
      offset = lo & 0x1f_ffff;
    } else {
      size = 0x4000_0000;
      base = (ehi & hiAddrMask) * TWO_32 + ((elo & 0xc000_0000) >>> 0);
      offset = lo & 0x3fff_ffff;
    }
    const pkey = (ehi >>> PKEY_SHIFT) & 0xf;
    const code = x86AccessFault(ctx, access, writable, user, executable, pkey);
    if (code !== 0) {
      out.status = 'page-fault';
      out.errorCode = code;
      return this.finishFault(out, level);
    }
    out.level = level;
    out.pageSize = size;
    out.writable = writable;
    out.user = user;
    out.executable = executable;
    out.global = (elo & G) !== 0;
    out.protectionKey = pkey;
    // Accessed and dirty flags (SDM 3A 4.8): set A in every entry used, D in
    // the leaf on a write; each update is a write to the entry.
    const isWrite = (access & WRITE) !== 0;
    for (let l = top; l >= level; l--) {
      const old = this.entryLo[l] ?? 0;
      const want = l === level && isWrite ? A | D : A;
      if ((old & want) === want) continue;
      let hpa = this.entryHpa[l] ?? 0;
      if (stage !== null) {
        const before = out.references;
        hpa = stage.mapTableWrite(this.entryGpa[l] ?? 0, hpa, l, out);
        out.secondStageReferences += out.references - before;
        if (hpa < 0) return this.finishFault(out, l);
      }
      // An entry read from no memory (all ones) already has A and D; a
      // read-only region drops the write (common/memory-access.ts).
      if (write32Safe(this.memory, hpa, (old | want) >>> 0)) out.adWrites++;
      this.entryLo[l] = (old | want) >>> 0;
    }
    out.dirty = ((this.entryLo[level] ?? 0) & D) !== 0;
    const gpa = base + offset;
    out.guestPhysicalAddress = gpa;
    if (stage !== null) {
      const before = out.references;
      const hpa = stage.mapFinal(gpa, access, out);
      out.secondStageReferences += out.references - before;
      if (hpa < 0) return this.finishFault(out, level);
      out.address = hpa;
    } else {
      out.address = gpa;
    }
    this.references += out.references;
    this.tracer?.emit({ kind: 'mmu.walk', cycle: this.now(), source: this.source, cpu: this.cpu, address: out.linearAddress, references: out.references });
    return out;
  }

  /**
   * The native walk with no reference list: {@link run}'s semantics with the
   * entries read through per-level page views, the permissions kept as bits
   * and the result written once at the end.
   */
  private runNative(ctx: X86PagingContext, hi: number, lo: number, access: number, out: WalkResult, top: number, root: number, permissions: number): WalkResult {
    // The masks as locals: optimized code re-reads (and re-checks) module constants from the module context on every use.
    const { P, PS, A, D, G, ADDRESS, RSVD_1G, RSVD_2M } = PTE_LO;
    const { XD, PKEY_SHIFT } = PTE_HI;
    const two32 = TWO_32;
    // As int32 once (the bits are what matter), not re-checked at every use.
    const h = hi | 0;
    const l = lo | 0;
    const m = ctx.maxPhyAddr;
    const hiAddrMask = m >= 52 ? 0xfffff : (1 << (m - 32)) - 1;
    const nxe = ctx.eferNxe;
    const rsvdHi = (0xfffff & ~hiAddrMask) | (nxe ? 0 : XD);
    const xd = nxe ? XD : 0;
    if (this.memory.generation !== this.viewGeneration) this.dropViews();
    const viewPage = this.viewPage;
    const viewWords = this.viewWords;
    const entryGpa = this.entryGpa;
    const entryLo = this.entryLo;
    const entryHi = this.entryHi;
    const entryPerms = this.entryPerms;
    let table = root;
    let perms = permissions & 7;
    let level = top;
    let elo = 0;
    let ehi = 0;
    let references = 0;
    for (;;) {
      // x86TableIndex, inline.
      const index = level === 1 ? (l >>> 12) & 511 : level === 2 ? (l >>> 21) & 511 : level === 3 ? ((l >>> 30) | (h << 2)) & 511 : level === 4 ? (h >>> 7) & 511 : (h >>> 16) & 511;
      const hpa = table + index * 8;
      const offset = hpa & 0xfff;
      const page = hpa - offset;
      const words = viewPage[level] === page ? (viewWords[level] ?? null) : this.takeView(level, page);
      if (words !== null && (offset & 7) === 0) {
        elo = words[offset >>> 2] ?? 0;
        ehi = words[(offset >>> 2) + 1] ?? 0;
      } else {
        this.reader.read(hpa);
        elo = this.reader.lo;
        ehi = this.reader.hi;
      }
      references++;
      // Native: the entry's address is host-physical too (entryHpa is only read by staged walks).
      entryGpa[level] = hpa;
      entryLo[level] = elo;
      entryHi[level] = ehi;
      if ((elo & P) === 0) return this.nativeFault(ctx, hi, lo, access, out, level, references, 0);
      const ps = (elo & PS) !== 0;
      if ((ehi & rsvdHi) !== 0 || (ps && (level >= 4 || (level === 3 && (!ctx.page1gb || (elo & RSVD_1G) !== 0)) || (level === 2 && (elo & RSVD_2M) !== 0)))) {
        return this.nativeFault(ctx, hi, lo, access, out, level, references, P_RSVD);
      }
      // Bit 0 R/W and bit 1 U/S are entry bits 1 and 2; bit 2 (executable) clears on XD with NXE.
      perms &= ((elo >>> 1) & 3) | ((ehi & xd) === 0 ? 4 : 0);
      entryPerms[level] = perms;
      if (level === 1 || ps) break;
      table = (ehi & hiAddrMask) * two32 + ((elo & ADDRESS) >>> 0);
      level--;
    }
    const frameLo = level === 1 ? elo & ADDRESS : level === 2 ? elo & 0xffe0_0000 : elo & 0xc000_0000;
    const gpa = (ehi & hiAddrMask) * two32 + (frameLo >>> 0) + (l & (level === 1 ? 0xfff : level === 2 ? 0x1f_ffff : 0x3fff_ffff));
    const size = level === 1 ? 4096 : level === 2 ? 0x20_0000 : 0x4000_0000;
    const pkey = (ehi >>> PKEY_SHIFT) & 0xf;
    const code = x86AccessFault(ctx, access, (perms & 1) !== 0, (perms & 2) !== 0, (perms & 4) !== 0, pkey);
    if (code !== 0) return this.nativeFault(ctx, hi, lo, access, out, level, references, -code);
    // Accessed and dirty flags (SDM 3A 4.8), as in run().
    const isWrite = (access & WRITE) !== 0;
    let adWrites = 0;
    for (let l = top; l >= level; l--) {
      const old = entryLo[l] ?? 0;
      const want = l === level && isWrite ? A | D : A;
      if ((old & want) === want) continue;
      if (write32Safe(this.memory, entryGpa[l] ?? 0, (old | want) >>> 0)) adWrites++;
      entryLo[l] = (old | want) >>> 0;
    }
    // Every field once, with the values reset() and then the walk would leave (no helper call: it would box gpa).
    out.status = 'ok';
    out.address = gpa;
    out.pageSize = size;
    out.level = level;
    out.references = references;
    out.secondStageReferences = 0;
    out.adWrites = adWrites;
    out.writable = (perms & 1) !== 0;
    out.user = (perms & 2) !== 0;
    out.executable = (perms & 4) !== 0;
    out.global = (elo & G) !== 0;
    out.dirty = ((entryLo[level] ?? 0) & D) !== 0;
    out.protectionKey = pkey;
    out.guestPhysicalAddress = gpa;
    out.eptPermissions = 0;
    out.permissions = 0;
    out.errorCode = 0;
    out.exitQualification = 0;
    out.faultStatus = 0;
    out.linearHi = hi >>> 0;
    out.linearLo = lo >>> 0;
    this.references += references;
    this.tracer?.emit({ kind: 'mmu.walk', cycle: this.now(), source: this.source, cpu: this.cpu, address: out.linearAddress, references });
    return out;
  }

  /** Ends a native walk in a #PF: `bits` are the error code's P/RSVD bits, or minus the whole code of an access-rights fault. */
  private nativeFault(ctx: X86PagingContext, hi: number, lo: number, access: number, out: WalkResult, level: number, references: number, bits: number): WalkResult {
    out.reset(hi >>> 0, lo >>> 0);
    out.references = references;
    out.status = 'page-fault';
    out.errorCode = bits < 0 ? -bits : pageFaultCode(ctx, access, bits);
    return this.finishFault(out, level);
  }

  /** The words of the table page at `page` for `level` (null when it has no page view), cached until the generation changes. */
  private takeView(level: number, page: number): Uint32Array | null {
    const view = this.memory.pageView(page);
    const words = view === undefined ? null : view.words;
    this.viewPage[level] = page;
    this.viewWords[level] = words;
    return words;
  }

  /** Forgets every cached page view (the memory's generation changed). */
  private dropViews(): void {
    this.viewPage.fill(-1);
    this.viewWords.fill(null);
    this.viewGeneration = this.memory.generation;
  }

  /** Bits 31:0 of the entry the last walk read at `level` (valid for the levels it reached, after A/D updates). */
  lastEntryLo(level: number): number {
    return this.entryLo[level] ?? 0;
  }

  /** Bits 63:32 of the entry the last walk read at `level`. */
  lastEntryHi(level: number): number {
    return this.entryHi[level] ?? 0;
  }

  /** Address (guest-physical for a staged walk) of the entry the last walk read at `level`. */
  lastEntryAddress(level: number): number {
    return this.entryGpa[level] ?? 0;
  }

  /** Saves the walk counters (the walker has no other state). */
  saveState(): { type: 'hvsim.mmu.x86-walker'; version: 1; walks: number; references: number; faults: number } {
    return { type: 'hvsim.mmu.x86-walker', version: 1, walks: this.walks, references: this.references, faults: this.faults };
  }

  /** Restores {@link saveState} output. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.x86-walker', 1);
    const walks = s.address('walks');
    const references = s.address('references');
    const faults = s.address('faults');
    this.walks = walks;
    this.references = references;
    this.faults = faults;
  }

  private finishFault(out: WalkResult, level: number): WalkResult {
    out.level = level;
    this.faults++;
    this.references += out.references;
    this.tracer?.emit({ kind: 'mmu.walk', cycle: this.now(), source: this.source, cpu: this.cpu, address: out.linearAddress, references: out.references, fault: out.status });
    return out;
  }
}
