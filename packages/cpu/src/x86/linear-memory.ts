/**
 * How an x86 CPU reaches memory from a linear address: through the MMU (its
 * TLB and page walker) when paging is on, with a tiny CPU-side translation
 * cache in front that is dropped whenever the MMU's invalidation epoch
 * changes; then RAM or a device through the physical address space.
 *
 * Faults are results, not exceptions: an access returns false and leaves the
 * architectural fault (vector, error code, CR2) in the fault fields.
 */
import { UsageError, describeValue, type PhysicalAccessResult, type PhysicalAddressSpace, type U64Halves } from '@hvsim/core';
import { ACCESS, WalkResult, type X86Mmu } from '@hvsim/mmu';
import { VECTOR } from './regs.js';

const PAGE = 4096;
const SLOTS = 64;
const READ_TABLE = 0;
const WRITE_TABLE = 1;
const FETCH_TABLE = 2;
/** Linear addresses at or above this are non-canonical with 4-level paging (lower half only in this model). */
const CANONICAL_LIMIT = 2 ** 47;

/** Linear-address access to memory for one x86 CPU (see the file comment). */
export class X86LinearMemory {
  /** True while CR0.PG = 1. */
  paging = false;
  /** Vector of the last fault (a `VECTOR`). */
  faultVector = 0;
  /** Error code of the last fault. */
  faultError = 0;
  /** Linear address of the last #PF (CR2). */
  faultAddress = 0;
  /** Where the last access went. */
  lastTarget: PhysicalAccessResult = 'ram';
  /** Paging-structure references made by the translations of the last access. */
  walkReferences = 0;
  /** Translations answered by the CPU-side cache. */
  cacheHits = 0;
  /** Translations that went to the MMU. */
  cacheMisses = 0;

  private readonly tags = new Float64Array(3 * SLOTS).fill(Number.NaN);
  private readonly frames = new Float64Array(3 * SLOTS);
  private readonly userPage = new Uint8Array(3 * SLOTS);
  private epoch = -1;
  private readonly walk = new WalkResult();
  private readonly scratch: U64Halves = { lo: 0, hi: 0 };

  constructor(
    /** RAM and devices. */
    readonly space: PhysicalAddressSpace,
    /** The MMU that translates when paging is on. */
    readonly mmu: X86Mmu,
  ) {}

  /** Drops the CPU-side translation cache. */
  flush(): void {
    this.tags.fill(Number.NaN);
  }

  /**
   * Translates linear `va` for `access` (an mmu `ACCESS` mask); returns the
   * physical address, or -1 with the fault recorded.
   */
  translate(va: number, access: number): number {
    if (!Number.isSafeInteger(va) || va < 0) throw new UsageError('bad-argument', `linear address must be a non-negative safe integer, got ${describeValue(va)}`);
    if (!this.paging) {
      if (va >= 0x1_0000_0000) return this.fail(VECTOR.GP, 0, 0);
      return va;
    }
    if (va >= CANONICAL_LIMIT) return this.fail(VECTOR.GP, 0, 0);
    const mmu = this.mmu;
    if (mmu.epoch !== this.epoch) {
      this.flush();
      this.epoch = mmu.epoch;
    }
    const page = Math.floor(va / PAGE);
    const slot = page & (SLOTS - 1);
    // One table per kind of supervisor access: read, write, fetch. User-mode accesses are not cached.
    const table = (access & ACCESS.WRITE) !== 0 ? WRITE_TABLE : (access & ACCESS.FETCH) !== 0 ? FETCH_TABLE : READ_TABLE;
    const cacheable = (access & ACCESS.USER) === 0;
    const index = table * SLOTS + slot;
    // An implicit access (a gate read, a frame push) may use an entry only for a supervisor page:
    // SMAP makes implicit accesses to user pages fault whatever RFLAGS.AC says (SDM 3A 4.6.1).
    if (cacheable && this.tags[index] === page && ((access & ACCESS.IMPLICIT) === 0 || this.userPage[index] === 0)) {
      this.cacheHits++;
      return this.frames[index]! + (va - page * PAGE);
    }
    this.cacheMisses++;
    const r = mmu.translate(va, access, this.walk);
    this.walkReferences += r.references;
    if (r.status !== 'ok') {
      if (r.status === 'page-fault') return this.fail(VECTOR.PF, r.errorCode, va);
      throw new UsageError('bad-state', `a native translation of 0x${va.toString(16)} ended in ${r.status}: the MMU is not in native mode`);
    }
    // A write is cached only once the D flag is set: the first write must reach the walker to set it.
    if (cacheable && (table !== WRITE_TABLE || r.dirty)) {
      this.tags[index] = page;
      this.frames[index] = r.address - (va - page * PAGE);
      this.userPage[index] = r.user ? 1 : 0;
    }
    return r.address;
  }

  /**
   * Reads `size` bytes at linear `va` into `out`; false on a fault. A read
   * that reaches nothing returns all ones (the platform's master abort).
   */
  read(va: number, size: 1 | 2 | 4 | 8, access: number, out: U64Halves): boolean {
    this.walkReferences = 0;
    if ((va % PAGE) + size > PAGE) return this.readSplit(va, size, access, out);
    const pa = this.translate(va, access);
    if (pa < 0) return false;
    const target = this.space.read(pa, size, out);
    this.lastTarget = target;
    if (target === 'unclaimed') {
      out.lo = size === 8 ? 0xffff_ffff : 2 ** (size * 8) - 1;
      out.hi = size === 8 ? 0xffff_ffff : 0;
    }
    return true;
  }

  /** Writes `size` bytes at linear `va`; false on a fault. A write to nothing or to ROM is dropped. */
  write(va: number, size: 1 | 2 | 4 | 8, lo: number, hi: number, access: number): boolean {
    this.walkReferences = 0;
    if ((va % PAGE) + size > PAGE) return this.writeSplit(va, size, lo, hi, access);
    const pa = this.translate(va, access | ACCESS.WRITE);
    if (pa < 0) return false;
    this.lastTarget = this.space.write(pa, size, lo, hi);
    return true;
  }

  /** An access that crosses a page: both pages are translated (and may fault) before any byte moves. */
  private readSplit(va: number, size: number, access: number, out: U64Halves): boolean {
    const first = PAGE - (va % PAGE);
    if (this.translate(va, access) < 0 || this.translate(va + first, access) < 0) return false;
    let lo = 0;
    let hi = 0;
    const b = this.scratch;
    for (let i = size - 1; i >= 0; i--) {
      const pa = this.translate(va + i, access);
      if (this.space.read(pa, 1, b) === 'unclaimed') b.lo = 0xff;
      if (i >= 4) hi = ((hi << 8) | b.lo) >>> 0;
      else lo = ((lo << 8) | b.lo) >>> 0;
    }
    out.lo = lo;
    out.hi = hi;
    this.lastTarget = 'ram';
    return true;
  }

  private writeSplit(va: number, size: number, lo: number, hi: number, access: number): boolean {
    const first = PAGE - (va % PAGE);
    const w = access | ACCESS.WRITE;
    if (this.translate(va, w) < 0 || this.translate(va + first, w) < 0) return false;
    for (let i = 0; i < size; i++) {
      const byte = i < 4 ? (lo >>> (8 * i)) & 0xff : (hi >>> (8 * (i - 4))) & 0xff;
      this.space.write(this.translate(va + i, w), 1, byte);
    }
    this.lastTarget = 'ram';
    return true;
  }

  private fail(vector: number, errorCode: number, address: number): number {
    this.faultVector = vector;
    this.faultError = errorCode;
    this.faultAddress = address;
    return -1;
  }
}
