/**
 * The x86-64 page walker: 4-level and 5-level paging (SDM 3A 4.5) with 4 KiB,
 * 2 MiB and 1 GiB pages, reserved-bit checks against MAXPHYADDR (4.5, Tables
 * 4-15..4-20), access rights (4.6), accessed/dirty updates written to memory
 * (4.8) and page-fault results with the architectural error code (4.7).
 *
 * A native walk reads entries through cached page views of the tables
 * (core's `Memory.pageView`, one per level, re-taken when
 * `memory.generation` changes), with no page lookup per entry; other
 * entries (read-only or unbacked memory, table pages nothing has written,
 * tables at or above 2^43, staged or recorded walks) are read as halves
 * with `Memory.read64Halves` (internal/entry-reader.ts). A walk never
 * allocates memory: a page view is taken only of a table page that already
 * holds a non-zero entry (core's `pageView` would allocate, zero-filled, a
 * page nothing has written). The result object is reused and the walk
 * allocates no objects unless the caller records references.
 */
import type { Memory, Tracer } from '@hvsim/core';
import { readState } from '@hvsim/core';
import { TWO_32, checkAddress, checkHalves } from '../common/address.js';
import type { WalkReferenceKind } from '../common/walk-result.js';
import { WalkResult } from '../common/walk-result.js';
import { checkX86Access, pageFaultCode, x86AccessFault, x86AccessFaultBits } from './access-rights.js';
import type { X86PagingContext } from './paging-context.js';
import { EntryReader } from '../internal/entry-reader.js';
import { NO_WORDS, WalkLevel } from './walk-level.js';
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

/**
 * Native walks keep table addresses as frame numbers (address / 4096) in
 * int32: tables at or above 2^43 (frame 2^31) take the general path.
 */
const NATIVE_FRAME_LIMIT = 0x8000_0000;

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
  /** The last walk's record of each level (index = level; see walk-level.ts). */
  private readonly levels: readonly WalkLevel[] = [new WalkLevel(), new WalkLevel(), new WalkLevel(), new WalkLevel(), new WalkLevel(), new WalkLevel()];
  /** True when the last walk was native: entry addresses are the records' `frame` and `word`, not `gpa`. */
  private lastNative = false;
  private readonly reader: EntryReader;
  /** `memory.generation` when the records' page views were taken. */
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
    return this.levels[level]?.perms ?? 0;
  }

  /** Every walk: the native walk when it applies, else the general one. Small, so it inlines into the entry points. */
  private run(ctx: X86PagingContext, hi: number, lo: number, access: number, out: WalkResult, start: number, root: number, permissions: number): WalkResult {
    checkX86Access(access);
    this.walks++;
    if (this.stage === null && out.trace === null && this.runNative(ctx, hi, lo, access, out, start, root, permissions)) return out;
    return this.runGeneral(ctx, hi, lo, access, out, start, root, permissions);
  }

  /** The walk with a second stage, a reference list, or tables at or above 2^43: every entry read through `reader`. */
  private runGeneral(ctx: X86PagingContext, hi: number, lo: number, access: number, out: WalkResult, start: number, root: number, permissions: number): WalkResult {
    this.lastNative = false;
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
      const record = this.levels[level]!;
      record.gpa = gpa;
      record.hpa = hpa;
      record.lo = elo | 0;
      record.hi = ehi | 0;
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
      record.perms = (writable ? 1 : 0) | (user ? 2 : 0) | (executable ? 4 : 0);
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
      const record = this.levels[l]!;
      const old = record.lo >>> 0;
      const want = l === level && isWrite ? A | D : A;
      if ((old & want) === want) continue;
      let hpa = record.hpa;
      if (stage !== null) {
        const before = out.references;
        hpa = stage.mapTableWrite(record.gpa, hpa, l, out);
        out.secondStageReferences += out.references - before;
        if (hpa < 0) return this.finishFault(out, l);
      }
      // An entry read from no memory (all ones) already has A and D; a
      // read-only region drops the write (common/memory-access.ts).
      if (write32Safe(this.memory, hpa, (old | want) >>> 0)) out.adWrites++;
      record.lo = old | want;
    }
    out.dirty = (this.levels[level]!.lo & D) !== 0;
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
   * The native walk with no reference list: {@link runGeneral}'s semantics with
   * table addresses kept as int32 frame numbers, the entries read through
   * per-level page views, the permissions kept as bits and the result
   * written once at the end. Returns false, having changed nothing, when a
   * table lies at or above 2^43 (the general path walks it).
   */
  private runNative(ctx: X86PagingContext, hi: number, lo: number, access: number, out: WalkResult, top: number, root: number, permissions: number): boolean {
    // Tables are 4 KiB-aligned (CR3 and entries hold bits 51:12).
    const rootFrame = root / 4096;
    if (rootFrame >= NATIVE_FRAME_LIMIT) return false;
    // The masks as locals: optimized code re-reads (and re-checks) module constants from the module context on every use.
    const { P, PS, A, D, G, ADDRESS, RSVD_1G, RSVD_2M } = PTE_LO;
    const { XD, PKEY_SHIFT } = PTE_HI;
    // Everything the loop keeps is int32 (the bits are what matter): no double or tagged values per level.
    const h = hi | 0;
    const l = lo | 0;
    const m = ctx.maxPhyAddr;
    const hiAddrMask = m >= 52 ? 0xfffff : (1 << (m - 32)) - 1;
    const nxe = ctx.eferNxe;
    const rsvdHi = ((0xfffff & ~hiAddrMask) | (nxe ? 0 : XD)) | 0;
    // XD (entry bit 63, the sign of `ehi`) clears the executable right only with NXE.
    const xd = nxe ? XD | 0 : 0;
    const memory = this.memory;
    if (memory.generation !== this.viewGeneration) this.dropViews();
    const levels = this.levels;
    let frame = rootFrame | 0;
    let perms = permissions & 7;
    let level = top | 0;
    let elo = 0;
    let ehi = 0;
    // A while every entry read has A = 1: then a read needs no A/D write.
    let accessed = A;
    for (;;) {
      // x86TableIndex, inline; an entry is two words.
      const word = (level === 1 ? (l >>> 12) & 511 : level === 2 ? (l >>> 21) & 511 : level === 3 ? ((l >>> 30) | (h << 2)) & 511 : level === 4 ? (h >>> 7) & 511 : (h >>> 16) & 511) << 1;
      const record = levels[level]!;
      const words = record.words;
      if (record.viewFrame === frame && words.length !== 0) {
        elo = words[word]! | 0;
        ehi = words[word + 1]! | 0;
      } else {
        this.readUncached(record, frame, word);
        elo = this.reader.lo | 0;
        ehi = this.reader.hi | 0;
      }
      record.lo = elo;
      record.hi = ehi;
      record.frame = frame;
      record.word = word;
      accessed &= elo;
      if ((elo & P) === 0) return this.nativeFault(ctx, hi, lo, access, out, top, level, 0);
      const ps = (elo & PS) !== 0;
      if ((ehi & rsvdHi) !== 0 || (ps && (level >= 4 || (level === 3 && (!ctx.page1gb || (elo & RSVD_1G) !== 0)) || (level === 2 && (elo & RSVD_2M) !== 0)))) {
        return this.nativeFault(ctx, hi, lo, access, out, top, level, P_RSVD);
      }
      // Bit 0 R/W and bit 1 U/S are entry bits 1 and 2; bit 2 (executable) clears on XD with NXE (X86_RIGHTS).
      perms &= ((elo >>> 1) & 3) | ((ehi & xd) === 0 ? 4 : 0);
      record.perms = perms;
      if (level === 1 || ps) break;
      // The next table's frame: entry bits (M-1):12, in int32 below 2^43 (else the general path walks).
      const next = ehi & hiAddrMask;
      if (next >= 0x800) return false;
      frame = (next << 20) | (elo >>> 12);
      level--;
    }
    const frameLo = level === 1 ? elo & ADDRESS : level === 2 ? elo & 0xffe0_0000 : elo & 0xc000_0000;
    const gpa = (ehi & hiAddrMask) * TWO_32 + (frameLo >>> 0) + (l & (level === 1 ? 0xfff : level === 2 ? 0x1f_ffff : 0x3fff_ffff));
    const size = level === 1 ? 4096 : level === 2 ? 0x20_0000 : 0x4000_0000;
    const pkey = (ehi >>> PKEY_SHIFT) & 0xf;
    const code = x86AccessFaultBits(ctx, access, perms, pkey);
    if (code !== 0) return this.nativeFault(ctx, hi, lo, access, out, top, level, -code);
    // Accessed and dirty flags (SDM 3A 4.8), as in runGeneral(); none to set in the usual case.
    const isWrite = (access & WRITE) !== 0;
    const adWrites = accessed !== 0 && (!isWrite || (elo & D) !== 0) ? 0 : this.setAccessedDirty(top, level, isWrite);
    // Every field once, with the values reset() and then the walk would leave (no helper call: it would box gpa).
    out.status = 'ok';
    out.address = gpa;
    out.pageSize = size;
    out.level = level;
    out.references = top - level + 1;
    out.secondStageReferences = 0;
    out.adWrites = adWrites;
    out.writable = (perms & 1) !== 0;
    out.user = (perms & 2) !== 0;
    out.executable = (perms & 4) !== 0;
    out.global = (elo & G) !== 0;
    // The leaf's D after the A/D updates (a write sets it even where read-only memory drops the write, as in runGeneral()).
    out.dirty = isWrite || (elo & D) !== 0;
    out.protectionKey = pkey;
    out.guestPhysicalAddress = gpa;
    out.eptPermissions = 0;
    out.permissions = 0;
    out.errorCode = 0;
    out.exitQualification = 0;
    out.faultStatus = 0;
    out.linearHi = hi >>> 0;
    out.linearLo = lo >>> 0;
    this.lastNative = true;
    this.references += top - level + 1;
    this.tracer?.emit({ kind: 'mmu.walk', cycle: this.now(), source: this.source, cpu: this.cpu, address: out.linearAddress, references: top - level + 1 });
    return true;
  }

  /**
   * Sets A in the entries a native walk read from `top` down to `level`, and
   * D in the leaf for a write, where clear (SDM 3A 4.8): one write per entry
   * changed. Returns the writes made.
   */
  private setAccessedDirty(top: number, level: number, isWrite: boolean): number {
    const { A, D } = PTE_LO;
    let writes = 0;
    for (let k = top; k >= level; k--) {
      const record = this.levels[k]!;
      const old = record.lo;
      const want = k === level && isWrite ? A | D : A;
      if ((old & want) === want) continue;
      record.lo = old | want;
      if (this.writeEntryLo(record, (old | want) >>> 0)) writes++;
    }
    return writes;
  }

  /**
   * Writes bits 31:0 of the entry a native walk read at `record`'s level:
   * through the page view it was read through (a view is writable memory;
   * write observers are told), else as a write that read-only or absent
   * memory drops (common/memory-access.ts). Returns true when written.
   */
  private writeEntryLo(record: WalkLevel, value: number): boolean {
    const address = record.frame * 4096 + record.word * 4;
    if (record.words.length === 0) return write32Safe(this.memory, address, value);
    record.words[record.word] = value;
    if (this.memory.observed) this.memory.noteWritten(address, 4);
    return true;
  }

  /** Ends a native walk that read `top` down to `level` in a #PF: `bits` are the error code's P/RSVD bits, or minus the whole code of an access-rights fault. */
  private nativeFault(ctx: X86PagingContext, hi: number, lo: number, access: number, out: WalkResult, top: number, level: number, bits: number): boolean {
    this.lastNative = true;
    out.reset(hi >>> 0, lo >>> 0);
    out.references = top - level + 1;
    out.status = 'page-fault';
    out.errorCode = bits < 0 ? -bits : pageFaultCode(ctx, access, bits);
    this.finishFault(out, level);
    return true;
  }

  /**
   * Reads the entry at `word` of the table page `frame` through the entry
   * reader (into `reader.lo`/`hi`), and takes the page's view for the level
   * unless it is known to have none. A walk only reads memory: core's
   * `pageView` allocates (zero-filled) a page nothing has written, so the
   * view is taken only once the entry reads non-zero (the page exists then);
   * until then the level keeps no view and the next walk reads here again.
   */
  private readUncached(record: WalkLevel, frame: number, word: number): void {
    const page = frame * 4096;
    const reader = this.reader;
    reader.read(page + word * 4);
    if (record.viewFrame === frame) return;
    if ((reader.lo | reader.hi) === 0) {
      record.dropView();
      return;
    }
    const view = this.memory.pageView(page);
    record.viewFrame = frame;
    record.words = view === undefined ? NO_WORDS : view.words;
  }

  /** Forgets every cached page view (the memory's generation changed). */
  private dropViews(): void {
    for (const record of this.levels) record.dropView();
    this.viewGeneration = this.memory.generation;
  }

  /** Bits 31:0 of the entry the last walk read at `level` (valid for the levels it reached, after A/D updates). */
  lastEntryLo(level: number): number {
    return (this.levels[level]?.lo ?? 0) >>> 0;
  }

  /** Bits 63:32 of the entry the last walk read at `level`. */
  lastEntryHi(level: number): number {
    return (this.levels[level]?.hi ?? 0) >>> 0;
  }

  /** Address (guest-physical for a staged walk) of the entry the last walk read at `level`. */
  lastEntryAddress(level: number): number {
    const record = this.levels[level];
    if (record === undefined) return 0;
    return this.lastNative ? record.frame * 4096 + record.word * 4 : record.gpa;
  }

  /** Saves the walk counters (the walker has no other state). */
  saveState(): {
    /** Identifies a saved x86 walker. */
    type: 'hvsim.mmu.x86-walker';
    /** Format version (1). */
    version: 1;
    /** Walks made. */
    walks: number;
    /** Paging-structure entries read. */
    references: number;
    /** Walks that ended in a #PF. */
    faults: number;
  } {
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
