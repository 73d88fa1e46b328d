/**
 * A configurable translation lookaside buffer (SDM 3A 4.10 "Caching
 * Translation Information"; SDM 3C 28.3 "Caching Translation Information"
 * with VPIDs and EPT). Entries cache linear mappings tagged by VPID and PCID
 * and, when EPT is in use, combined mappings tagged also by the EP4TA (the
 * EPT PML4 address). Global entries match every PCID (4.10.2.4). Entries
 * live in typed arrays; a hit allocates nothing.
 */
import type { Tracer } from '@hvsim/core';
import { SeededRandom, readState } from '@hvsim/core';
import { TWO_32 } from '../common/address.js';
import { MmuUsageError } from '../common/mmu-error.js';
import type { WalkResult } from '../common/walk-result.js';
import { AccessBit, checkX86Access, x86AccessFaultBits } from '../x86/access-rights.js';
import type { X86PagingContext } from '../x86/paging-context.js';
import { PagingStructureCache } from './paging-structure-cache.js';
import type { TimeOptions } from '../common/memory-access.js';
import { timeSource } from '../common/memory-access.js';
import { TIME_OPTION_NAMES, checkOptionNames, cpuOption } from '../common/option-names.js';

/** Option names the constructor knows (a misspelled one throws). */
const TLB_OPTIONS = ['cpu', 'entries', 'ways', 'replacement', 'seed', 'tracer', 'source', 'pagingStructureCache', ...TIME_OPTION_NAMES];

/** How a full set chooses its victim. */
export type TlbReplacement = 'lru' | 'fifo' | 'random';

/** Options of {@link Tlb}. */
export interface TlbOptions extends TimeOptions {
  /** Total entries (power of two). Default 64. */
  entries?: number;
  /** Ways per set (power of two dividing `entries`; `entries` = fully associative). Default 4. */
  ways?: number;
  /** Victim choice in a full set. Default `'lru'`. */
  replacement?: TlbReplacement;
  /** Seed for `'random'` replacement. */
  seed?: number;
  /** Receives `tlb.hit`/`tlb.miss`/`tlb.flush` events. */
  tracer?: Tracer;
  /** Number of the CPU this model's trace events concern (docs/conventions.md "Tracing"); left out of the events when not given. */
  cpu?: number;
  /** Source name on trace events (default `'tlb'`). */
  source?: string;
  /** Entries per level of the paging-structure caches (SDM 3A 4.10.3); 0 or absent: none. */
  pagingStructureCache?: number;
}

/** Attribute bits of a TLB entry (W, U and X sit where the walkers' rights bits, X86_RIGHTS, do). */
export const TLB_ATTR = {
  /** `0x1` */
  WRITABLE: 0x1,
  /** `0x2` */
  USER: 0x2,
  /** `0x4` */
  EXECUTABLE: 0x4,
  /** `0x8` */
  DIRTY: 0x8,
} as const;

/**
 * {@link TLB_ATTR} as compile-time constants for the hit path (the build
 * inlines them; module constants would be loaded and checked at every use).
 * tlb.test.ts checks that the two agree.
 */
export const enum TlbAttr {
  WRITABLE = 0x1,
  USER = 0x2,
  EXECUTABLE = 0x4,
  DIRTY = 0x8,
  /** The W, U and X bits: rights in `X86Rights` layout. */
  RIGHTS = 0x7,
}

/** No EP4TA: a linear mapping (EPT not in use). */
export const NO_EP4TA = -1;

/**
 * Layout of an entry's packed tag (`Tlb.tag`, int32), compared whole on a
 * lookup: one XOR tells a hit, a global hit (only the PCID differs) or a
 * miss. 0 is an invalid entry.
 */
const enum Tag {
  VALID = 0x1,
  GLOBAL = 0x8,
  /** PCID at bits 15:4. */
  PCID_MASK = 0xfff0,
}

/** Where the fields of a {@link Tag} start. */
const enum TagShift {
  /** Page-size code at bits 2:1: 0 4 KiB, 1 2 MiB, 2 1 GiB. */
  SIZE = 1,
  PCID = 4,
  /** VPID at bits 31:16. */
  VPID = 16,
}

/**
 * Layout of an entry's packed attributes (`Tlb.info`, int32): everything a
 * hit reports besides the frame.
 */
const enum Info {
  /** {@link TLB_ATTR} bits at 3:0. */
  ATTR_MASK = 0xf,
  /** EPT permissions (bit 0 R, 1 W, 2 X) at bits 6:4. */
  EPT_SHIFT = 4,
  /** Protection key at bits 11:8. */
  PKEY_SHIFT = 8,
  /** Size code (as in the tag) of the page the translation belongs to, at bits 13:12. */
  LINEAR_SHIFT = 12,
  /** The entry's own size code (as in the tag), at bits 15:14: a hit reads `info` and `frame` only. */
  SIZE_SHIFT = 14,
  /** G (as in the tag), bit 7 (a one-byte operand on the hit path). */
  GLOBAL = 0x80,
}

/** Page-size code of a page shift (12, 21 or 30). */
function sizeCode(shift: number): number {
  return shift === 30 ? 2 : shift === 21 ? 1 : 0;
}

/** Page shift of a page-size code. */
function codeShift(code: number): number {
  return code === 2 ? 30 : code === 1 ? 21 : 12;
}


function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Page number of the linear address `hi:lo` for pages of 2^`shift` bytes (shift 12, 21 or 30; exact below 2^64). */
function pageNumber(hi: number, lo: number, shift: number): number {
  return hi * 2 ** (32 - shift) + (lo >>> shift);
}

/** Offset mask of a page of 2^`shift` bytes (shift 12, 21 or 30). */
function offsetMask(shift: number): number {
  return shift === 30 ? 0x3fff_ffff : shift === 21 ? 0x1f_ffff : 0xfff;
}

/** A bit no entry's `info` has: what an access the table does not admit "needs". */
const NEVER_IN_INFO = 1 << 30;

/**
 * Per {@link ACCESS} value made of WRITE, USER and FETCH (index 0 to 0x16),
 * the `info` bits a hit needs: W for a write, U for a user-mode access, X
 * for a fetch, D for a write, and the EPT permission (W for a write, X for
 * a fetch, else R); {@link NEVER_IN_INFO} for a write that is also a fetch.
 */
const NEEDED_INFO = Int32Array.from({ length: (AccessBit.WRITE | AccessBit.USER | AccessBit.FETCH) + 1 }, (_, access) => {
  const write = (access & AccessBit.WRITE) !== 0;
  const fetch = (access & AccessBit.FETCH) !== 0;
  if (write && fetch) return NEVER_IN_INFO;
  const rights = (write ? TlbAttr.WRITABLE : 0) | ((access & AccessBit.USER) !== 0 ? TlbAttr.USER : 0) | (fetch ? TlbAttr.EXECUTABLE : 0);
  return rights | (write ? TlbAttr.DIRTY : 0) | ((write ? 2 : fetch ? 4 : 1) << Info.EPT_SHIFT);
});

/** A set-associative TLB for 4 KiB, 2 MiB and 1 GiB pages. */
export class Tlb {
  /** Lookups that hit. */
  hits = 0;
  /** Lookups that missed. */
  misses = 0;
  /** Entries filled. */
  fills = 0;
  /** Entries invalidated by invalidation operations. */
  invalidations = 0;
  /**
   * Invalidation epoch: bumped by every invalidation operation (whether or
   * not it found an entry) and by {@link restoreState}; never by a lookup or
   * a fill. A translation a CPU copied out of this TLB (or out of a walk whose
   * result this TLB would cache) while `epoch` was E may be used as long as
   * `epoch` is still E: nothing since then asked for it to be dropped. Not
   * saved; only its changes mean something.
   */
  epoch = 0;

  /** Total entries (a power of two). */
  readonly entries: number;
  /** Ways per set (`entries`: fully associative). */
  readonly ways: number;
  /** The paging-structure caches, when enabled. */
  readonly psc: PagingStructureCache | null;
  /** Victim choice in a full set. */
  readonly replacement: TlbReplacement;
  /** 1 for LRU replacement (a hit refreshes the entry's stamp), else 0: a number, tested on every hit. */
  private readonly lru: number;
  /**
   * Ways {@link tryAnswer} probes: all of them with LRU replacement and no
   * tracer (what it handles), else none (everything takes the full path).
   */
  private readonly fastWays: number;
  private readonly sets: number;
  /** `sets` - 1: a page number's set index is its low bits. */
  private readonly setMask: number;
  /** Page number of each entry's linear address, for its page size. */
  private readonly vpn: Float64Array;
  /** Valid, page size, global, PCID and VPID of each entry ({@link Tag}; 0: invalid). */
  private readonly tag: Int32Array;
  private readonly ep4ta: Float64Array;
  private readonly frame: Float64Array;
  /**
   * Attributes, EPT permissions, protection key and the size of the page the
   * translation belongs to ({@link Info}). That page (the guest page for a
   * combined mapping, which may be larger than the entry when EPT maps it
   * with smaller pages) is what INVLPG and the individual-address
   * invalidations drop every entry of (SDM 2 "INVLPG", 3A 4.10.2.3).
   */
  private readonly info: Int32Array;
  private readonly stamp: Float64Array;
  /** Valid entries per page size (index 0: 4 KiB, 1: 2 MiB, 2: 1 GiB), to skip empty sizes on lookup. */
  private readonly perSize = new Int32Array(3);
  private clock = 0;
  private readonly random: SeededRandom;
  private readonly seed: number;
  private readonly tracer: Tracer | undefined;
  private readonly cpu: number | undefined;
  private readonly now: () => number;
  private readonly source: string;

  constructor(options: TlbOptions = {}) {
    checkOptionNames(options, TLB_OPTIONS, 'Tlb');
    const entries = options.entries ?? 64;
    const ways = options.ways ?? 4;
    if (!isPowerOfTwo(entries) || entries > 1 << 20) throw new MmuUsageError('bad-argument', `TLB entries must be a power of two up to 2^20, got ${String(entries)}`);
    if (!isPowerOfTwo(ways) || ways > entries) throw new MmuUsageError('bad-argument', `TLB ways must be a power of two no larger than entries (${entries}), got ${String(ways)}`);
    const replacement: string = options.replacement ?? 'lru';
    if (replacement !== 'lru' && replacement !== 'fifo' && replacement !== 'random') {
      throw new MmuUsageError('bad-argument', `TLB replacement must be 'lru', 'fifo' or 'random', got ${replacement}`);
    }
    this.entries = entries;
    this.ways = ways;
    this.sets = entries / ways;
    this.setMask = this.sets - 1;
    this.replacement = replacement;
    this.lru = replacement === 'lru' ? 1 : 0;
    this.vpn = new Float64Array(entries);
    this.tag = new Int32Array(entries);
    this.ep4ta = new Float64Array(entries);
    this.frame = new Float64Array(entries);
    this.info = new Int32Array(entries);
    this.stamp = new Float64Array(entries);
    this.seed = options.seed ?? 1;
    this.random = new SeededRandom(this.seed);
    this.tracer = options.tracer;
    this.fastWays = replacement === 'lru' && this.tracer === undefined ? ways : 0;
    this.cpu = cpuOption(options.cpu, 'Tlb');
    this.now = timeSource(options);
    this.source = options.source ?? 'tlb';
    const psc = options.pagingStructureCache ?? 0;
    this.psc = psc > 0 ? new PagingStructureCache(psc) : null;
  }

  /** Valid entries. */
  get size(): number {
    return this.perSize[0]! + this.perSize[1]! + this.perSize[2]!;
  }

  /**
   * Looks up the linear address `hi:lo` for a tag. Returns the entry index
   * (read it with the accessors) or -1. Global entries match any PCID.
   */
  lookup(vpid: number, pcid: number, ep4ta: number, hi: number, lo: number): number {
    // The tag a hit has, but for the size code each probe adds.
    const want = (vpid << TagShift.VPID) | (pcid << TagShift.PCID) | Tag.VALID;
    // 4 KiB entries here (none when perSize[0] is 0); the rest is lookupRest, so this inlines.
    let i = -1;
    if (this.perSize[0] !== 0) i = this.probe(hi * 0x10_0000 + (lo >>> 12), ((lo >>> 12) & (this.sets - 1)) * this.ways, want, ep4ta);
    if (i < 0 || this.tracer !== undefined) return this.lookupRest(i, want, ep4ta, hi, lo);
    this.hits++;
    if (this.lru !== 0) this.stamp[i] = ++this.clock;
    return i;
  }

  /**
   * {@link lookup} then {@link answer} in one call: answers `access`
   * ({@link ACCESS} flags, checked: a bad value throws before anything
   * changes) to `hi:lo` into `out` from a cached entry and returns true, or
   * returns false (the caller walks) with `out` untouched; counters, LRU and
   * tracing as the two calls.
   */
  lookupAnswer(vpid: number, pcid: number, ep4ta: number, hi: number, lo: number, ctx: X86PagingContext, access: number, out: WalkResult): boolean {
    checkX86Access(access);
    const i = this.lookup(vpid, pcid, ep4ta, hi, lo);
    return i >= 0 && this.answer(i, ctx, access, hi, lo, out);
  }

  /**
   * The common case of {@link lookupAnswer} (with the PCID read from
   * `ctx`), for the MMU's hit path: a 4 KiB entry whose cached bits grant
   * `access` whatever CR0.WP, SMEP and SMAP say, no protection keys, LRU
   * replacement, no tracer. Then it answers as {@link lookupAnswer} (a hit
   * counted, LRU refreshed, `out` filled) and returns true; else it returns
   * false having changed nothing (no counter either), and the caller takes
   * the full path ({@link lookupAnswer}, or {@link lookup} then
   * {@link answer}). A bad `access` is never the common case. Small, so
   * that it inlines whole into the caller and the caller into its loop.
   */
  tryAnswer(vpid: number, ep4ta: number, hi: number, lo: number, ctx: X86PagingContext, access: number, out: WalkResult): boolean {
    // probe() of the 4 KiB set written out (its call would spend bytecode that X86Mmu.translate's inlining needs).
    const vpn = hi * 0x10_0000 + (lo >>> 12);
    const want = (vpid << TagShift.VPID) | (ctx.pcid << TagShift.PCID) | Tag.VALID;
    const vpns = this.vpn;
    let i = ((lo >>> 12) & this.setMask) * this.ways;
    const end = i + this.fastWays;
    for (; i < end; i++) {
      if (vpns[i] === vpn) {
        const d = this.tag[i]! ^ want;
        if ((d === 0 || (d & ~Tag.PCID_MASK) === (Tag.GLOBAL as number)) && this.ep4ta[i] === ep4ta) break;
      }
    }
    if (i === end) return false;
    // The entry grants `access` outright when `access` is plain WRITE, USER and FETCH flags (one comparison: an
    // integer of those bits equals its masked self), every right it needs is there (W for a write, X for a fetch,
    // U for a user-mode access; SDM 3A 4.6.1), a write finds D set, the EPT permissions allow it (SDM 3C 28.3.3.2),
    // no protection keys are enabled (4.6.2), and a user-mode page (U) reached by a supervisor-mode access (no U in
    // `need`) has neither SMAP nor SMEP to fear. Anything else is for the full check (which rejects a bad `access`).
    const info = this.info[i]!;
    const need = NEEDED_INFO[access & (AccessBit.WRITE | AccessBit.USER | AccessBit.FETCH)]!;
    if (access !== (access & (AccessBit.WRITE | AccessBit.USER | AccessBit.FETCH)) || (info & need) !== need || ctx.cr4Pke || ctx.cr4Pks || (info & ~need & TlbAttr.USER && (ctx.cr4Smap || ctx.cr4Smep))) return false;
    this.hits++;
    this.stamp[i] = ++this.clock;
    this.readInto(i, hi, lo, out);
    return true;
  }

  /** {@link lookup} past a 4 KiB probe that found `found` (or -1): 2 MiB then 1 GiB entries, counters, LRU, tracing. */
  private lookupRest(found: number, want: number, ep4ta: number, hi: number, lo: number): number {
    let i = found;
    if (i < 0 && (this.perSize[1] !== 0 || this.perSize[2] !== 0)) i = this.probeLarge(want, ep4ta, hi, lo);
    if (i >= 0) {
      this.hits++;
      if (this.lru !== 0) this.stamp[i] = ++this.clock;
      if (this.tracer !== undefined) this.traceLookup('tlb.hit', hi, lo);
      return i;
    }
    this.misses++;
    if (this.tracer !== undefined) this.traceLookup('tlb.miss', hi, lo);
    return -1;
  }

  /** {@link lookup} of 2 MiB, then 1 GiB entries (kept out of the 4 KiB path so that one inlines). */
  private probeLarge(want: number, ep4ta: number, hi: number, lo: number): number {
    const mask = this.sets - 1;
    let i = -1;
    if (this.perSize[1] !== 0) i = this.probe(hi * 0x800 + (lo >>> 21), (((lo >>> 21) | (hi << 11)) & mask) * this.ways, want | (1 << TagShift.SIZE), ep4ta);
    if (i < 0 && this.perSize[2] !== 0) i = this.probe(hi * 4 + (lo >>> 30), (((lo >>> 30) | (hi << 2)) & mask) * this.ways, want | (2 << TagShift.SIZE), ep4ta);
    return i;
  }

  /**
   * The way of set `base` holding `vpn` with tag `want` (or `want` but for
   * the PCID, in a global entry) and `ep4ta`, or -1: one compare per way,
   * then the tag's XOR.
   */
  private probe(vpn: number, base: number, want: number, ep4ta: number): number {
    const vpns = this.vpn;
    const tags = this.tag;
    const ep4tas = this.ep4ta;
    for (let i = base, end = base + this.ways; i < end; i++) {
      if (vpns[i] === vpn) {
        const d = tags[i]! ^ want;
        if ((d === 0 || (d & ~Tag.PCID_MASK) === (Tag.GLOBAL as number)) && ep4tas[i] === ep4ta) return i;
      }
    }
    return -1;
  }

  private traceLookup(kind: 'tlb.hit' | 'tlb.miss', hi: number, lo: number): void {
    this.tracer?.emit({ kind, cycle: this.now(), source: this.source, cpu: this.cpu, address: hi * TWO_32 + lo });
  }

  /** Physical address of `lo` (bits 31:0 of the linear address) through entry `i`. */
  physical(i: number, lo: number): number {
    return (this.frame[i] ?? 0) + (lo & offsetMask(this.shiftOf(i)));
  }

  /**
   * True when entry `i` (a lookup's hit) answers `access` ({@link ACCESS}
   * flags) under `ctx` without a walk: a write needs the cached D flag, the
   * EPT permissions must allow the access (7 for a linear mapping), and the
   * cached rights must pass SDM 3A 4.6 now (CR0.WP, SMEP, SMAP, RFLAGS.AC
   * and the protection keys are read at every access, not cached).
   */
  allows(i: number, ctx: X86PagingContext, access: number): boolean {
    const info = this.info[i]!;
    const write = (access & AccessBit.WRITE) !== 0;
    if (write && (info & TlbAttr.DIRTY) === 0) return false;
    // EPT bit 0 R, 1 W, 2 X.
    const need = (access & AccessBit.FETCH) !== 0 ? 4 : write ? 2 : 1;
    if (((info >>> Info.EPT_SHIFT) & need) === 0) return false;
    return x86AccessFaultBits(ctx, access, info & TlbAttr.RIGHTS, (info >>> Info.PKEY_SHIFT) & 0xf) === 0;
  }

  /**
   * {@link allows}, then {@link readInto}: answers `access` to `hi:lo` from
   * entry `i` (a lookup's hit) into `out` and returns true, or returns false
   * (the caller walks) with `out` untouched.
   */
  answer(i: number, ctx: X86PagingContext, access: number, hi: number, lo: number, out: WalkResult): boolean {
    if (!this.allows(i, ctx, access)) return false;
    this.readInto(i, hi, lo, out);
    return true;
  }

  /**
   * Fills a successful result from entry `i` for the linear address `hi:lo`
   * (a TLB hit: no references). Every field is written once, with the values
   * `reset()` and then the hit would leave (written here, not through a
   * helper call, so the address is not boxed to pass it).
   */
  readInto(i: number, hi: number, lo: number, out: WalkResult): void {
    const info = this.info[i]!;
    // A shift, not 2 ** shift: a power is a double and would turn the
    // result's pageSize field into a boxed double (3x slower hits, measured).
    const size = 4096 << (((info >>> Info.SIZE_SHIFT) & 3) * 9);
    out.status = 'ok';
    out.address = this.frame[i]! + (lo & (size - 1));
    out.pageSize = size;
    out.level = 0;
    out.references = 0;
    out.secondStageReferences = 0;
    out.adWrites = 0;
    out.guestPhysicalAddress = 0;
    out.permissions = 0;
    out.errorCode = 0;
    out.exitQualification = 0;
    out.faultStatus = 0;
    out.writable = !!(info & TlbAttr.WRITABLE);
    out.user = !!(info & TlbAttr.USER);
    out.executable = !!(info & TlbAttr.EXECUTABLE);
    out.global = !!(info & Info.GLOBAL);
    out.dirty = !!(info & TlbAttr.DIRTY);
    out.protectionKey = (info >>> Info.PKEY_SHIFT) & 0xf;
    out.eptPermissions = (info >>> Info.EPT_SHIFT) & 7;
    out.linearHi = hi;
    out.linearLo = lo;
    if (out.trace !== null) out.trace.length = 0;
  }

  /** {@link TLB_ATTR} bits of entry `i`. */
  attributes(i: number): number {
    return (this.info[i] ?? 0) & Info.ATTR_MASK;
  }

  /** EPT permissions (bit 0 R, 1 W, 2 X) of a combined entry; 7 for a linear one. */
  eptPermissions(i: number): number {
    return ((this.info[i] ?? 0) >>> Info.EPT_SHIFT) & 7;
  }

  /** Protection key of entry `i`. */
  protectionKey(i: number): number {
    return ((this.info[i] ?? 0) >>> Info.PKEY_SHIFT) & 0xf;
  }

  /** Page size of entry `i`. */
  pageSize(i: number): number {
    const shift = this.shiftOf(i);
    return shift === 30 ? 0x4000_0000 : shift === 21 ? 0x20_0000 : 4096;
  }

  /** True when entry `i` is global. */
  isGlobal(i: number): boolean {
    return ((this.tag[i] ?? 0) & Tag.GLOBAL) !== 0;
  }

  /** True when entry `i` holds a translation. */
  private isValid(i: number): boolean {
    return ((this.tag[i] ?? 0) & Tag.VALID) !== 0;
  }

  /** Page shift (12, 21 or 30) of entry `i`. */
  private shiftOf(i: number): number {
    return codeShift(((this.tag[i] ?? 0) >>> TagShift.SIZE) & 3);
  }

  /** Page shift of the page entry `i`'s translation belongs to (see `info`). */
  private linearShiftOf(i: number): number {
    return codeShift(((this.info[i] ?? 0) >>> Info.LINEAR_SHIFT) & 3);
  }

  /** VPID of entry `i`. */
  private vpidOf(i: number): number {
    return (this.tag[i] ?? 0) >>> TagShift.VPID;
  }

  /** PCID of entry `i`. */
  private pcidOf(i: number): number {
    return ((this.tag[i] ?? 0) & Tag.PCID_MASK) >>> TagShift.PCID;
  }

  /** The packed attributes of an entry ({@link Info}). */
  private static infoOf(attrs: number, eptPerms: number, pkey: number, linearShift: number, shift: number, global: boolean): number {
    return attrs | (eptPerms << Info.EPT_SHIFT) | (pkey << Info.PKEY_SHIFT) | (sizeCode(linearShift) << Info.LINEAR_SHIFT) | (sizeCode(shift) << Info.SIZE_SHIFT) | (global ? Info.GLOBAL : 0);
  }

  /** The tag of an entry ({@link Tag}). */
  private static tagOf(vpid: number, pcid: number, shift: number, global: boolean): number {
    return (vpid << TagShift.VPID) | (pcid << TagShift.PCID) | (global ? Tag.GLOBAL : 0) | (sizeCode(shift) << TagShift.SIZE) | Tag.VALID;
  }

  /**
   * Caches a successful walk for the tag. `global` says whether the leaf was
   * global and CR4.PGE = 1. `writeReady` = false keeps writes from hitting
   * the entry (they walk again), for a combined mapping whose EPT dirty flag
   * may still be clear. Replaces an entry with the same tag and page. The
   * entry covers `walk.pageSize` bytes; `walk.level` (the leaf level of the
   * linear translation, 0 if unknown) gives the page it belongs to.
   */
  fill(vpid: number, pcid: number, ep4ta: number, hi: number, lo: number, walk: WalkResult, global: boolean, writeReady = true): number {
    // Tags live in 16-bit arrays: reject what they cannot hold rather than truncate it.
    if ((vpid & 0xffff) !== vpid || (pcid & 0xfff) !== pcid || !(ep4ta === NO_EP4TA || (ep4ta >= 0 && ep4ta % 4096 === 0))) {
      throw new MmuUsageError('bad-argument', `TLB tags must be a VPID in [0, 0xffff], a PCID in [0, 0xfff] and NO_EP4TA or a 4 KiB-aligned EP4TA, got ${String(vpid)}, ${String(pcid)}, ${String(ep4ta)}`);
    }
    const shift = walk.pageSize === 0x4000_0000 ? 30 : walk.pageSize === 0x20_0000 ? 21 : 12;
    const leafShift = walk.level >= 1 && walk.level <= 3 ? 12 + 9 * (walk.level - 1) : 12;
    const vpn = pageNumber(hi, lo, shift);
    const base = ((shift === 12 ? lo >>> 12 : shift === 21 ? (lo >>> 21) | (hi << 11) : (lo >>> 30) | (hi << 2)) & (this.sets - 1)) * this.ways;
    let victim = -1;
    // The same tag and page but for G: replaced.
    const same = Tlb.tagOf(vpid, pcid, shift, false);
    for (let i = base; i < base + this.ways; i++) {
      if (this.vpn[i] === vpn && ((this.tag[i] ?? 0) & ~Tag.GLOBAL) === same && this.ep4ta[i] === ep4ta) {
        victim = i;
        break;
      }
    }
    if (victim < 0) {
      for (let i = base; i < base + this.ways; i++) {
        if (!this.isValid(i)) {
          victim = i;
          break;
        }
      }
    }
    if (victim < 0) victim = this.chooseVictim(base);
    if (this.isValid(victim)) this.perSize[this.sizeIndex(victim)]!--;
    this.vpn[victim] = vpn;
    this.tag[victim] = Tlb.tagOf(vpid, pcid, shift, global);
    this.ep4ta[victim] = ep4ta;
    this.frame[victim] = walk.address - (lo & offsetMask(shift));
    const attrs = (walk.writable ? TLB_ATTR.WRITABLE : 0) | (walk.user ? TLB_ATTR.USER : 0) | (walk.executable ? TLB_ATTR.EXECUTABLE : 0) | (walk.dirty && writeReady ? TLB_ATTR.DIRTY : 0);
    const eptPerms = ep4ta === NO_EP4TA ? 7 : walk.eptPermissions & 7;
    this.info[victim] = Tlb.infoOf(attrs, eptPerms, walk.protectionKey & 0xf, leafShift > shift ? leafShift : shift, shift, global);
    this.stamp[victim] = ++this.clock;
    this.perSize[this.sizeIndex(victim)]!++;
    this.fills++;
    return victim;
  }

  // --- invalidation (SDM 3A 4.10.4, SDM 3C 28.3.3) ----------------------

  /**
   * Invalidates the entries for the page containing `hi:lo`, of any page
   * size, for `vpid` (every entry of a large page cached in pieces); those
   * of `pcid` and, with `includeGlobal`, global ones; `pcid` = -1 means
   * every PCID. Any EP4TA.
   */
  invalidateAddress(vpid: number, pcid: number, hi: number, lo: number, includeGlobal: boolean): number {
    // Paging-structure caches: every entry of the VPID and PCID, whatever its address (SDM 3A 4.10.4.1, INVLPG).
    this.psc?.invalidate(vpid, pcid);
    return this.invalidateWhere((i) => {
      if (this.vpidOf(i) !== vpid) return false;
      const shift = this.shiftOf(i);
      const page = this.linearShiftOf(i);
      if (Math.floor((this.vpn[i] ?? 0) / 2 ** (page - shift)) !== pageNumber(hi, lo, page)) return false;
      if (this.isGlobal(i)) return includeGlobal;
      return pcid === -1 || this.pcidOf(i) === pcid;
    });
  }

  /** Invalidates the entries of `vpid` tagged with `pcid`; globals too unless `keepGlobal`. */
  invalidatePcid(vpid: number, pcid: number, keepGlobal: boolean): number {
    this.psc?.invalidate(vpid, pcid);
    return this.invalidateWhere((i) => this.vpidOf(i) === vpid && (this.isGlobal(i) ? !keepGlobal && this.pcidOf(i) === pcid : this.pcidOf(i) === pcid));
  }

  /** Invalidates every entry of `vpid` (all PCIDs, all EP4TAs); globals too unless `keepGlobal`. */
  invalidateVpid(vpid: number, keepGlobal: boolean): number {
    this.psc?.invalidate(vpid, -1);
    return this.invalidateWhere((i) => this.vpidOf(i) === vpid && !(keepGlobal && this.isGlobal(i)));
  }

  /** Invalidates every entry except those tagged with VPID 0 (INVVPID all-context). */
  invalidateAllVpidsExceptZero(): number {
    this.psc?.invalidateWhere((vpid) => vpid !== 0);
    return this.invalidateWhere((i) => this.vpidOf(i) !== 0);
  }

  /** Invalidates combined mappings tagged with `ep4ta` (all VPIDs and PCIDs). */
  invalidateEp4ta(ep4ta: number): number {
    this.psc?.invalidateWhere((_v, _p, e) => e === ep4ta);
    return this.invalidateWhere((i) => this.ep4ta[i] === ep4ta);
  }

  /** Invalidates every combined mapping (any EP4TA). */
  invalidateAllCombined(): number {
    this.psc?.invalidateWhere((_v, _p, e) => e !== NO_EP4TA);
    return this.invalidateWhere((i) => this.ep4ta[i] !== NO_EP4TA);
  }

  /** Invalidates everything. */
  invalidateAll(): number {
    this.psc?.invalidateWhere(() => true);
    return this.invalidateWhere(() => true);
  }

  /** Saves counters, configuration and contents (entries survive restore). */
  saveState(): TlbState {
    const live: number[][] = [];
    for (let i = 0; i < this.entries; i++) {
      if (!this.isValid(i)) continue;
      live.push([
        i,
        this.vpn[i] ?? 0,
        this.shiftOf(i),
        this.vpidOf(i),
        this.pcidOf(i),
        this.ep4ta[i] ?? 0,
        this.isGlobal(i) ? 1 : 0,
        this.frame[i] ?? 0,
        this.attributes(i),
        this.eptPermissions(i),
        this.protectionKey(i),
        this.stamp[i] ?? 0,
        this.linearShiftOf(i),
      ]);
    }
    return {
      type: 'hvsim.mmu.tlb',
      version: 1,
      entries: this.entries,
      ways: this.ways,
      replacement: this.replacement,
      counters: [this.hits, this.misses, this.fills, this.invalidations, this.clock],
      random: this.random.saveState(),
      live,
    };
  }

  /** Restores {@link saveState} output into a TLB of the same geometry. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.tlb', 1);
    const entries = s.int('entries', 1, 1 << 20);
    const ways = s.int('ways', 1, 1 << 20);
    const replacement = s.oneOf('replacement', ['lru', 'fifo', 'random'] as const);
    if (entries !== this.entries || ways !== this.ways || replacement !== this.replacement) {
      throw new MmuUsageError('bad-argument', `TLB state is for ${entries} entries, ${ways} ways, ${replacement}; this TLB has ${this.entries}, ${this.ways}, ${this.replacement}`);
    }
    const counters = s.intArray('counters', 0, Number.MAX_SAFE_INTEGER, 5);
    const random = s.raw('random');
    const live = s.raw('live');
    if (!Array.isArray(live)) throw new MmuUsageError('bad-argument', 'hvsim.mmu.tlb.live must be an array');
    const rows = live.map((row: unknown, n) => {
      if (!Array.isArray(row) || row.length !== 13 || !row.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw new MmuUsageError('bad-argument', `hvsim.mmu.tlb.live[${n}] must be an array of 13 numbers`);
      }
      const r = row as number[];
      if (!Number.isInteger(r[0]) || (r[0] ?? -1) < 0 || (r[0] ?? 0) >= entries || ![12, 21, 30].includes(r[2] ?? 0) || ![12, 21, 30].includes(r[12] ?? 0) || (r[12] ?? 0) < (r[2] ?? 0)) {
        throw new MmuUsageError('bad-argument', `hvsim.mmu.tlb.live[${n}] has a bad index or page shift`);
      }
      // VPID, PCID, G, attributes, EPT permissions, protection key: the widths the packed entry holds.
      const widths: [number, number][] = [[3, 0xffff], [4, 0xfff], [6, 1], [8, 0xf], [9, 7], [10, 0xf]];
      for (const [k, max] of widths) {
        const v = r[k] ?? -1;
        if (!Number.isInteger(v) || v < 0 || v > max) throw new MmuUsageError('bad-argument', `hvsim.mmu.tlb.live[${n}][${k}] must be an integer in [0, ${max}], got ${String(v)}`);
      }
      return r;
    });
    this.random.restoreState(random);
    this.invalidateWhere(() => true);
    // Paging-structure caches are not saved: dropping them is always allowed.
    this.psc?.invalidateWhere(() => true);
    this.perSize.fill(0);
    for (const r of rows) {
      const i = r[0] ?? 0;
      this.vpn[i] = r[1] ?? 0;
      this.tag[i] = Tlb.tagOf(r[3] ?? 0, r[4] ?? 0, r[2] ?? 12, r[6] === 1);
      this.ep4ta[i] = r[5] ?? 0;
      this.frame[i] = r[7] ?? 0;
      this.info[i] = Tlb.infoOf(r[8] ?? 0, r[9] ?? 0, r[10] ?? 0, r[12] ?? 12, r[2] ?? 12, r[6] === 1);
      this.stamp[i] = r[11] ?? 0;
      this.perSize[this.sizeIndex(i)]!++;
    }
    [this.hits, this.misses, this.fills, this.invalidations, this.clock] = counters as [number, number, number, number, number];
  }

  private sizeIndex(i: number): number {
    return ((this.tag[i] ?? 0) >>> TagShift.SIZE) & 3;
  }

  private chooseVictim(base: number): number {
    if (this.replacement === 'random') return base + (this.random.nextU32() & (this.ways - 1));
    // LRU stamps are refreshed on every hit; FIFO stamps only on fill.
    let victim = base;
    for (let i = base + 1; i < base + this.ways; i++) if ((this.stamp[i] ?? 0) < (this.stamp[victim] ?? 0)) victim = i;
    return victim;
  }

  private invalidateWhere(match: (i: number) => boolean): number {
    // Bumped even when nothing matches: a CPU-side cache may still hold what this TLB already evicted.
    this.epoch++;
    let n = 0;
    for (let i = 0; i < this.entries; i++) {
      if (this.isValid(i) && match(i)) {
        this.perSize[this.sizeIndex(i)]!--;
        this.tag[i] = 0;
        n++;
      }
    }
    this.invalidations += n;
    if (n > 0) this.tracer?.emit({ kind: 'tlb.flush', cycle: this.now(), source: this.source, cpu: this.cpu, address: 0, args: { entries: n } });
    return n;
  }
}

/** Saved state of a {@link Tlb}. */
export interface TlbState {
  /** Identifies a saved TLB. */
  type: 'hvsim.mmu.tlb';
  /** Format version (1). */
  version: 1;
  /** Total entries of the saved TLB (must match the restoring one). */
  entries: number;
  /** Ways per set (must match). */
  ways: number;
  /** Victim choice (must match). */
  replacement: TlbReplacement;
  /** hits, misses, fills, invalidations, clock. */
  counters: number[];
  /** State of the random-replacement generator. */
  random: ReturnType<SeededRandom['saveState']>;
  /** Valid entries: [index, vpn, shift, vpid, pcid, ep4ta, global, frame, attrs, eptPerms, pkey, stamp, linear page shift]. */
  live: number[][];
}
