/**
 * The part of a CPU's memory access both architectures share: a small
 * CPU-side translation cache (64 entries for each of read, write and fetch)
 * in front of the MMU, each entry holding the live RAM page view behind it,
 * so that an aligned access to a cached RAM page is one typed-array index;
 * everything else goes to RAM or a device through the physical address
 * space. The architecture's subclass translates (`translate`: its MMU, its
 * fault record, what may be cached) and fills entries with {@link fill}.
 *
 * The cache is untagged: it is dropped whenever the MMU's invalidation epoch
 * changes (the subclass checks `epoch` on a miss path) and on `flush()`.
 */
import type { Memory, PageView, PhysicalAccessResult, PhysicalAddressSpace, U64Halves } from '@hvsim/core';

const PAGE = 4096;
/**
 * The offset within a page of an integer address below 2^53: `& 0xfff` is
 * exact for such integers and a truncation V8 inlines, where `% 4096` on an
 * address above 2^31 (a double) is a call to fmod.
 */
const OFFSET_MASK = 0xfff;
/** Entries per table (read, write, fetch). */
export const PAGE_CACHE_SLOTS = 64;

/** Memory access through a translation cache with RAM page views (see the file comment). */
export abstract class PageCache {
  /** Where the last access went. */
  lastTarget: PhysicalAccessResult = 'ram';
  /** Paging-structure (descriptor) references made by the translations of the last access. */
  walkReferences = 0;
  /**
   * Called before an access that may reach a device (any access not served
   * from a cached RAM page view): a CPU brings the clock to its own time
   * there, so device registers and timers see it; RAM hits skip it.
   */
  beforeDeviceAccess: (() => void) | null = null;
  /** Translations answered by the CPU-side cache. */
  cacheHits = 0;
  /** Translations that went to the MMU. */
  cacheMisses = 0;
  /**
   * After a successful {@link ramWords}: the index of the first word in the
   * returned array.
   */
  wordIndex = 0;
  /** After a successful {@link ramWords}: the page view the words belong to, and the physical address of `va`. */
  lastView: PageView | null = null;
  /** After a successful {@link ramWords}: the physical address `va` translated to. */
  lastPhysical = 0;
  /**
   * Moves whenever the cache is dropped (an MMU invalidation, a change of
   * translation regime, a flush): a translation made under one stamp holds
   * while the stamp stays (what the architecture's `translationStamp`
   * returns, after noticing an MMU invalidation).
   */
  protected stamp = 0;

  /** Page number cached by each entry (NaN: empty). */
  protected readonly tags = new Float64Array(3 * PAGE_CACHE_SLOTS).fill(Number.NaN);
  /** Physical frame address of each entry. */
  protected readonly frames = new Float64Array(3 * PAGE_CACHE_SLOTS);
  /** The RAM page behind each entry (a live view), or null for a device, a hole or ROM. */
  protected readonly views: (PageView | null)[] = new Array<PageView | null>(3 * PAGE_CACHE_SLOTS).fill(null);
  /**
   * For an entry whose page no RAM backs (a device's page, such as the xAPIC's), the RAM generation that was
   * found under; -1 otherwise. While the generation holds, no region was added or removed (PhysicalMemory moves
   * it at every layout change), so an access there goes to the MMIO bus without asking the RAM again.
   */
  private readonly noRam = new Float64Array(3 * PAGE_CACHE_SLOTS).fill(-1);
  /** Index of the entry the last `translate` hit or filled, or -1. */
  protected lastEntry = -1;
  /** The MMU epoch the entries belong to. */
  protected epoch = -1;
  /** A physical page whose accesses the architecture intercepts (x86's APIC-access page), or -1. */
  protected interceptPage = -1;
  protected readonly ram: Memory;
  /** The access flag the architecture's `translate` takes for a write. */
  protected readonly writeAccess: number;
  private readonly scratch: U64Halves = { lo: 0, hi: 0 };

  constructor(
    /** RAM and devices. */
    readonly space: PhysicalAddressSpace,
    writeAccess: number,
  ) {
    this.ram = space.memory;
    this.writeAccess = writeAccess;
  }

  /** Translates `va` for `access` (the architecture's flags); the physical address, or -1 with the fault recorded. */
  abstract translate(va: number, access: number): number;

  /** An access to the intercepted page: records it as the architecture's fault (false). */
  protected intercepted(_pa: number): boolean {
    return false;
  }

  /**
   * The stamp (what the architecture's `translationStamp` returns), after
   * dropping the cache when the MMU's invalidation epoch moved (`epoch`)
   * while translating (`on`).
   */
  protected stampAt(on: boolean, epoch: number): number {
    if (on && epoch !== this.epoch) {
      this.flush();
      this.epoch = epoch;
    }
    return this.stamp;
  }

  /** Drops the CPU-side translation cache. */
  flush(): void {
    this.tags.fill(Number.NaN);
    this.views.fill(null);
    this.stamp++;
  }

  /** The RAM's generation: a page view is current while its `generation` equals it. */
  get ramGeneration(): number {
    return this.ram.generation;
  }

  /** Fills entry `index` with `page` → `frame`, with the live RAM view behind it when it is writable RAM. */
  protected fill(index: number, page: number, frame: number): void {
    this.tags[index] = page;
    this.frames[index] = frame;
    const ram = this.ram;
    this.views[index] = this.space.mmio.lookup(frame) === undefined && ram.isWritable(frame, PAGE) ? (ram.pageView(frame) ?? null) : null;
    // Regions are page-aligned: a page is all RAM or none.
    this.noRam[index] = ram.isBacked(frame, 1) ? -1 : ram.generation;
    this.lastEntry = index;
  }

  /**
   * Reads `size` bytes at `va` into `out`; false on a fault. A read that
   * reaches nothing returns all ones (the platform's master abort).
   */
  read(va: number, size: 1 | 2 | 4 | 8, access: number, out: U64Halves): boolean {
    this.walkReferences = 0;
    const offset = va & OFFSET_MASK;
    if (offset + size > PAGE) return this.readSplit(va, size, access, out);
    const pa = this.translate(va, access);
    if (pa < 0) return false;
    if (this.interceptPage >= 0 && pa - (pa & OFFSET_MASK) === this.interceptPage) return this.intercepted(pa);
    const entry = this.lastEntry;
    if (entry >= 0) {
      const view = this.views[entry] ?? null;
      if (view !== null && view.generation === this.ram.generation && (offset & (size - 1)) === 0) {
        // An aligned access to a RAM page: straight to the page, no lookup.
        this.lastTarget = 'ram';
        if (size === 4) out.lo = view.words[offset >>> 2]!;
        else if (size === 8) {
          out.lo = view.words[offset >>> 2]!;
          out.hi = view.words[(offset >>> 2) + 1]!;
          return true;
        } else if (size === 1) out.lo = view.bytes[offset]!;
        else out.lo = view.bytes[offset]! | (view.bytes[offset + 1]! << 8);
        out.hi = 0;
        return true;
      }
    }
    this.beforeDeviceAccess?.();
    const target = this.physicalRead(pa, size, out);
    this.lastTarget = target;
    if (target === 'unclaimed') {
      out.lo = size === 8 ? 0xffff_ffff : 2 ** (size * 8) - 1;
      out.hi = size === 8 ? 0xffff_ffff : 0;
    }
    return true;
  }

  /** Writes `size` bytes at `va`; false on a fault. A write to nothing or to ROM is dropped. */
  write(va: number, size: 1 | 2 | 4 | 8, lo: number, hi: number, access: number): boolean {
    this.walkReferences = 0;
    const offset = va & OFFSET_MASK;
    if (offset + size > PAGE) return this.writeSplit(va, size, lo, hi, access);
    const pa = this.translate(va, access | this.writeAccess);
    if (pa < 0) return false;
    if (this.interceptPage >= 0 && pa - (pa & OFFSET_MASK) === this.interceptPage) return this.intercepted(pa);
    const entry = this.lastEntry;
    if (entry >= 0) {
      const view = this.views[entry] ?? null;
      const ram = this.ram;
      if (view !== null && view.generation === ram.generation && (offset & (size - 1)) === 0) {
        this.lastTarget = 'ram';
        if (size === 4) view.words[offset >>> 2] = lo;
        else if (size === 8) {
          view.words[offset >>> 2] = lo;
          view.words[(offset >>> 2) + 1] = hi;
        } else if (size === 1) view.bytes[offset] = lo;
        else {
          view.bytes[offset] = lo;
          view.bytes[offset + 1] = lo >>> 8;
        }
        // Writes through a view are invisible to write observers (dirty logging) unless told.
        if (ram.observed) ram.noteWritten(pa, size);
        return true;
      }
    }
    this.beforeDeviceAccess?.();
    this.lastTarget = this.physicalWrite(pa, size, lo, hi);
    return true;
  }

  /**
   * A physical read not served from a page view: as the physical address
   * space does it (RAM where RAM backs the access, else the device that
   * claims it; the CPUs' spaces give RAM priority), with the common case of
   * a 1-4 byte device register reached without the space's argument checks
   * (the address is a translation's result).
   */
  private physicalRead(pa: number, size: 1 | 2 | 4 | 8, out: U64Halves): PhysicalAccessResult {
    if (size !== 8 && !this.ramBacks(pa, size)) {
      const m = this.space.mmio.lookup(pa);
      if (m !== undefined && pa + size <= m.base + m.size) {
        out.lo = m.device.mmioRead(pa - m.base, size);
        out.hi = 0;
        return 'mmio';
      }
    }
    return this.space.read(pa, size, out);
  }

  /** A physical write not served from a page view (see {@link physicalRead}). */
  private physicalWrite(pa: number, size: 1 | 2 | 4 | 8, lo: number, hi: number): PhysicalAccessResult {
    if (size !== 8 && !this.ramBacks(pa, size)) {
      const m = this.space.mmio.lookup(pa);
      if (m !== undefined && pa + size <= m.base + m.size) {
        m.device.mmioWrite(pa - m.base, size, lo);
        return 'mmio';
      }
    }
    return this.space.write(pa, size, lo, hi);
  }

  /** Whether RAM backs the access at `pa` (in the page of the last translation): known for a cached device page. */
  private ramBacks(pa: number, size: number): boolean {
    const entry = this.lastEntry;
    if (entry >= 0 && this.noRam[entry] === this.ram.generation) return false;
    return this.ram.isBacked(pa, size);
  }

  /**
   * The live words of the RAM page holding `bytes` bytes at `va` (4-byte
   * aligned, not crossing a page), translated once for `access`, with the
   * first word at {@link wordIndex}; or null when the range is not such RAM
   * (a device, a split, an uncached translation, an intercepted page) or the
   * translation faults: then use `read`/`write`, which produce the fault.
   * A writer through the words must call `noteWritten` while the memory is
   * `observed` (see {@link notePhysical}, with {@link lastPhysical}). Used for the multi-word accesses of
   * exception entry and return (a gate, a stack frame).
   */
  ramWords(va: number, bytes: number, access: number): Uint32Array | null {
    const offset = va & OFFSET_MASK;
    if ((offset & 3) !== 0 || offset + bytes > PAGE) return null;
    this.walkReferences = 0;
    const pa = this.translate(va, access);
    const entry = this.lastEntry;
    if (pa < 0 || entry < 0) return null;
    if (this.interceptPage >= 0 && pa - (pa & OFFSET_MASK) === this.interceptPage) return null;
    const view = this.views[entry] ?? null;
    if (view === null || view.generation !== this.ram.generation) return null;
    this.lastTarget = 'ram';
    this.wordIndex = offset >>> 2;
    this.lastView = view;
    this.lastPhysical = pa;
    return view.words;
  }

  /** Tells write observers about `bytes` bytes written through a page view at physical `pa` (see {@link ramWords}). */
  notePhysical(pa: number, bytes: number): void {
    const ram = this.ram;
    if (ram.observed) ram.noteWritten(pa, bytes);
  }

  /** An access that crosses a page: both pages are translated (and may fault) before any byte moves. */
  private readSplit(va: number, size: number, access: number, out: U64Halves): boolean {
    const first = PAGE - (va & OFFSET_MASK);
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
    const first = PAGE - (va & OFFSET_MASK);
    const w = access | this.writeAccess;
    if (this.translate(va, w) < 0 || this.translate(va + first, w) < 0) return false;
    for (let i = 0; i < size; i++) {
      const byte = i < 4 ? (lo >>> (8 * i)) & 0xff : (hi >>> (8 * (i - 4))) & 0xff;
      this.space.write(this.translate(va + i, w), 1, byte);
    }
    this.lastTarget = 'ram';
    return true;
  }
}
