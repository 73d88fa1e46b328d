/**
 * Sparse little-endian physical memory. Regions say which addresses exist;
 * inside a region, 4 KiB pages are allocated on first write and read as zero
 * before that (as fresh RAM handed out zeroed). An access to an address in no
 * region throws a {@link MemoryError} naming it: nothing outside RAM reads as
 * zero by accident.
 */
import { assertAddress, assertInteger, assertOptions, describeValue, wrongType } from '../errors/validate.js';
import { readState } from '../snapshot/state-reader.js';
import { SnapshotError } from '../snapshot/snapshot-error.js';
import { base64ToBytes, bytesToBase64 } from '../snapshot/encoding.js';
import { MemoryError } from './memory-error.js';
import type { Memory, PageView, U64Halves, WriteObserver } from './memory.js';

export type { U64Halves } from './memory.js';

/** Size of a backing page in bytes. */
export const PAGE_SIZE = 4096;
const PAGE_MASK = PAGE_SIZE - 1;
const PAGE_CACHE_SLOTS = 64;

/** Page number of an address; a small integer (fast as a Map key) below 2^43. */
function pageNumber(addr: number): number {
  return addr >= 0 && addr < 0x800_0000_0000 ? (addr / PAGE_SIZE) | 0 : Math.floor(addr / PAGE_SIZE);
}

/** A range of physical addresses backed by memory. */
export interface MemoryRegion {
  /** First address of the region. */
  readonly base: number;
  /** Size of the region in bytes. */
  readonly size: number;
  /** Name given when the region was added (shown in errors and snapshots). */
  readonly name: string;
  /** True for ROM: writes are refused. */
  readonly readOnly: boolean;
}

/** Options of {@link PhysicalMemory.addRegion}. */
export interface RegionOptions {
  /** Name shown in errors and snapshots (default `ram@<base>`). */
  name?: string;
  /** Writes to a read-only region (a ROM) throw `read-only`. */
  readOnly?: boolean;
}

/** Serializable contents of a {@link PhysicalMemory} (see `saveState`). */
export interface PhysicalMemoryState {
  /** Snapshot format version. */
  version: 1;
  /** Snapshot type tag. */
  type: 'hvsim.physical-memory';
  /** The regions, in address order. */
  regions: {
    /** First address. */
    base: number;
    /** Size in bytes. */
    size: number;
    /** The region's name. */
    name: string;
    /** True for ROM. */
    readOnly: boolean;
  }[];
  /** Populated pages: page number to base64 contents. */
  pages: Record<string, string>;
}

/** Sparse, page-backed, little-endian physical memory made of regions (see the file comment). */
export class PhysicalMemory implements Memory {
  private regions: MemoryRegion[] = [];
  private readonly views = new Map<number, PageView>();
  private observers: WriteObserver[] = [];
  private observerCount = 0;
  private generationValue = 0;
  private readonly pages = new Map<number, DataView>();
  // One-entry cache of the last page touched: most accesses hit it.
  // A direct-mapped cache of populated pages' views, indexed by the low bits
  // of the page number: a page walk touches four or five different pages in
  // a row and each stays a cache hit, with no Map lookup.
  private readonly cachePfn = new Float64Array(PAGE_CACHE_SLOTS).fill(Number.NaN);
  private readonly cacheView: (DataView | undefined)[] = new Array<DataView | undefined>(PAGE_CACHE_SLOTS).fill(undefined);
  private anyReadOnly = false;

  /** Adds a region of `size` bytes at `base`; overlapping an existing one is an error. */
  addRegion(base: number, size: number, options: RegionOptions = {}): MemoryRegion {
    assertAddress(base, 'region base');
    assertInteger(size, 'region size', 1, Number.MAX_SAFE_INTEGER - base);
    assertOptions(options, ['name', 'readOnly'], 'addRegion');
    if (base % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) {
      throw new MemoryError('bad-argument', base, `region base and size must be multiples of 4 KiB, got base ${describeValue(base)} size ${describeValue(size)}`);
    }
    const name = options.name ?? `ram@0x${base.toString(16)}`;
    for (const r of this.regions) {
      if (base < r.base + r.size && r.base < base + size) {
        throw new MemoryError(
          'region-overlap',
          base,
          `region ${name} [0x${base.toString(16)}, 0x${(base + size).toString(16)}) overlaps ${r.name} [0x${r.base.toString(16)}, 0x${(r.base + r.size).toString(16)})`,
        );
      }
    }
    const region: MemoryRegion = Object.freeze({ base, size, name, readOnly: options.readOnly ?? false });
    this.regions.push(region);
    this.regions.sort((a, b) => a.base - b.base);
    this.anyReadOnly = this.regions.some((r) => r.readOnly);
    // The layout changed: a user that remembered "no RAM here" for an address (a CPU caching that a page is a
    // device's) must look again.
    this.generationValue++;
    return region;
  }

  /** Removes the region starting at `base` and drops its contents. */
  removeRegion(base: number): void {
    const i = this.regions.findIndex((r) => r.base === base);
    if (i < 0) throw new MemoryError('region-not-found', base, `no memory region starts at ${describeValue(base)}`);
    const r = this.regions[i]!;
    this.regions.splice(i, 1);
    this.anyReadOnly = this.regions.some((x) => x.readOnly);
    // Regions are page-aligned, so every page of the region is the region's alone.
    for (let pfn = r.base / PAGE_SIZE; pfn < (r.base + r.size) / PAGE_SIZE; pfn++) {
      this.pages.delete(pfn);
      this.views.delete(pfn);
    }
    this.forgetCachedPages();
    this.generationValue++;
  }

  /** The regions, sorted by base. */
  getRegions(): readonly MemoryRegion[] {
    return this.regions;
  }

  /** The region containing `addr`, or undefined (binary search). */
  regionAt(addr: number): MemoryRegion | undefined {
    const rs = this.regions;
    let lo = 0;
    let hi = rs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = rs[mid]!;
      if (addr < r.base) hi = mid - 1;
      else if (addr >= r.base + r.size) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  /** True when every byte of `[addr, addr + size)` is inside some region. */
  isBacked(addr: number, size = 1): boolean {
    let a = addr;
    const end = addr + size;
    while (a < end) {
      const r = this.regionAt(a);
      if (!r) return false;
      a = r.base + r.size;
    }
    return true;
  }

  /** True when `[addr, addr + size)` is backed and in no read-only region. */
  isWritable(addr: number, size = 1): boolean {
    let a = addr;
    const end = addr + size;
    while (a < end) {
      const r = this.regionAt(a);
      if (!r || r.readOnly) return false;
      a = r.base + r.size;
    }
    return true;
  }

  // --- page views and write observers -------------------------------------

  /** Bumped when a region is added or removed or the contents are restored: page views, and anything else learnt about the layout, taken before are stale. */
  get generation(): number {
    return this.generationValue;
  }

  /** True while a write observer is attached. */
  get observed(): boolean {
    return this.observerCount !== 0;
  }

  /**
   * A live view of the page holding `addr`, allocating the page; undefined
   * when the page is unbacked or read-only. The same object is returned for
   * the same page until the generation changes.
   */
  pageView(addr: number): PageView | undefined {
    if (!Number.isSafeInteger(addr) || addr < 0) return undefined;
    const pfn = pageNumber(addr);
    const known = this.views.get(pfn);
    // A view made before the last generation change is re-made (the page itself may be unchanged).
    if (known && known.generation === this.generationValue) return known;
    const base = pfn * PAGE_SIZE;
    if (!this.isWritable(base, PAGE_SIZE)) return undefined;
    const data = this.pageForWrite(base, 1);
    const view: PageView = Object.freeze({
      address: base,
      bytes: new Uint8Array(data.buffer),
      words: new Uint32Array(data.buffer),
      generation: this.generationValue,
    });
    this.views.set(pfn, view);
    return view;
  }

  /** Tells the write observers that `[addr, addr + size)` was written (through a page view). */
  noteWritten(addr: number, size: number): void {
    if (this.observerCount !== 0) this.notifyWritten(addr, size);
  }

  /**
   * Attaches `observer`, called after every write with the written range
   * (dirty logging, write-protected page tables). Returns the detach function.
   * With no observer attached, writes pay one comparison.
   */
  addWriteObserver(observer: WriteObserver): () => void {
    if (typeof observer !== 'function') throw new MemoryError('bad-argument', 0, `write observer must be a function, got ${describeValue(observer)}`);
    this.observers = [...this.observers, observer];
    this.observerCount = this.observers.length;
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      this.observers = this.observers.filter((o) => o !== observer);
      this.observerCount = this.observers.length;
    };
  }

  private notifyWritten(addr: number, size: number): void {
    // A copy-on-change array: an observer that detaches itself does not skip the next one.
    const list = this.observers;
    for (let i = 0; i < list.length; i++) list[i]!(addr, size);
  }

  /** Number of 4 KiB pages that hold data (allocated by a write). */
  get populatedPages(): number {
    return this.pages.size;
  }

  // --- page lookup -------------------------------------------------------

  /** The page's view for a read, or undefined when the page reads as zero. */
  private pageForRead(addr: number, size: number): DataView | undefined {
    const pfn = pageNumber(addr);
    const slot = pfn & (PAGE_CACHE_SLOTS - 1);
    if (this.cachePfn[slot] === pfn && Number.isInteger(addr)) return this.cacheView[slot];
    assertAddress(addr);
    const view = this.pages.get(pfn);
    if (view) {
      this.cachePfn[slot] = pfn;
      this.cacheView[slot] = view;
      return view;
    }
    this.checkBacked(addr, size, 'read');
    return undefined;
  }

  private pageForWrite(addr: number, size: number): DataView {
    const pfn = pageNumber(addr);
    const slot = pfn & (PAGE_CACHE_SLOTS - 1);
    if (this.cachePfn[slot] === pfn && Number.isInteger(addr)) {
      if (this.anyReadOnly) this.checkWritable(addr, size);
      return this.cacheView[slot]!;
    }
    // An allocated page lies wholly inside a region (regions are page-aligned).
    let view = Number.isInteger(addr) && addr >= 0 ? this.pages.get(pfn) : undefined;
    if (view === undefined) {
      this.checkBacked(addr, size, 'write');
      this.checkWritable(addr, size);
      view = new DataView(new ArrayBuffer(PAGE_SIZE));
      this.pages.set(pfn, view);
    } else if (this.anyReadOnly) {
      this.checkWritable(addr, size);
    }
    this.cachePfn[slot] = pfn;
    this.cacheView[slot] = view;
    return view;
  }

  private forgetCachedPages(): void {
    this.cachePfn.fill(Number.NaN);
    this.cacheView.fill(undefined);
  }

  private checkBacked(addr: number, size: number, op: string): void {
    assertAddress(addr);
    if (!this.isBacked(addr, size)) {
      throw new MemoryError('unmapped', addr, `${op} of ${size} byte(s) at physical address 0x${addr.toString(16)} is outside every memory region`);
    }
  }

  private checkWritable(addr: number, size: number): void {
    let a = addr;
    const end = addr + size;
    while (a < end) {
      const r = this.regionAt(a)!;
      if (r.readOnly) throw new MemoryError('read-only', addr, `write at 0x${addr.toString(16)} into read-only region ${r.name}`);
      a = r.base + r.size;
    }
  }

  // --- scalar accesses ---------------------------------------------------

  /** Reads the byte at `addr`; outside every region a {@link MemoryError}. */
  read8(addr: number): number {
    if (typeof addr !== 'number') wrongType(addr, 'physical address', 'number');
    const v = this.pageForRead(addr, 1);
    return v ? v.getUint8(addr & PAGE_MASK) : 0;
  }

  /** Reads the little-endian 16-bit value at `addr`. */
  read16(addr: number): number {
    if (typeof addr !== 'number') wrongType(addr, 'physical address', 'number');
    const off = addr & PAGE_MASK;
    if (off > PAGE_SIZE - 2) return this.readSplit(addr, 2);
    const v = this.pageForRead(addr, 2);
    return v ? v.getUint16(off, true) : 0;
  }

  /** Reads the little-endian 32-bit value at `addr`, as an unsigned number. */
  read32(addr: number): number {
    if (typeof addr !== 'number') wrongType(addr, 'physical address', 'number');
    const off = addr & PAGE_MASK;
    if (off > PAGE_SIZE - 4) return this.readSplit(addr, 4);
    const v = this.pageForRead(addr, 4);
    return v ? v.getUint32(off, true) : 0;
  }

  /** 64-bit read as bigint (API boundary); hot paths use two `read32`s. */
  read64(addr: number): bigint {
    if (typeof addr !== 'number') wrongType(addr, 'physical address', 'number');
    const off = addr & PAGE_MASK;
    if (off > PAGE_SIZE - 8) {
      const lo = this.readSplit(addr, 4);
      const hi = this.readSplit(addr + 4, 4);
      return (BigInt(hi) << 32n) | BigInt(lo);
    }
    const v = this.pageForRead(addr, 8);
    return v ? v.getBigUint64(off, true) : 0n;
  }

  /**
   * 64-bit read into `out` as two 32-bit halves, allocating nothing: how page
   * walkers read paging-structure entries on their hot path.
   */
  read64Halves(addr: number, out: U64Halves): U64Halves {
    if (typeof addr !== 'number') wrongType(addr, 'physical address', 'number');
    const off = addr & PAGE_MASK;
    if (off > PAGE_SIZE - 8) {
      out.lo = this.readSplit(addr, 4);
      out.hi = this.readSplit(addr + 4, 4);
      return out;
    }
    const v = this.pageForRead(addr, 8);
    if (v) {
      out.lo = v.getUint32(off, true);
      out.hi = v.getUint32(off + 4, true);
    } else {
      out.lo = 0;
      out.hi = 0;
    }
    return out;
  }

  /** Writes the low 8 bits of `value` at `addr`; outside every region or into ROM a {@link MemoryError}. */
  write8(addr: number, value: number): void {
    if (typeof addr !== 'number') wrongType(addr, 'physical address', 'number');
    if (typeof value !== 'number') wrongType(value, 'value', 'number');
    this.pageForWrite(addr, 1).setUint8(addr & PAGE_MASK, value);
    if (this.observerCount !== 0) this.notifyWritten(addr, 1);
  }

  /** Writes the low 16 bits of `value` at `addr`, little-endian. */
  write16(addr: number, value: number): void {
    if (typeof addr !== 'number') wrongType(addr, 'physical address', 'number');
    if (typeof value !== 'number') wrongType(value, 'value', 'number');
    const off = addr & PAGE_MASK;
    if (off > PAGE_SIZE - 2) return this.writeSplit(addr, 2, value);
    this.pageForWrite(addr, 2).setUint16(off, value, true);
    if (this.observerCount !== 0) this.notifyWritten(addr, 2);
  }

  /** Writes the low 32 bits of `value` at `addr`, little-endian. */
  write32(addr: number, value: number): void {
    if (typeof addr !== 'number') wrongType(addr, 'physical address', 'number');
    if (typeof value !== 'number') wrongType(value, 'value', 'number');
    const off = addr & PAGE_MASK;
    if (off > PAGE_SIZE - 4) return this.writeSplit(addr, 4, value);
    this.pageForWrite(addr, 4).setUint32(off, value, true);
    if (this.observerCount !== 0) this.notifyWritten(addr, 4);
  }

  /** Writes the 64-bit `value` at `addr`, little-endian. */
  write64(addr: number, value: bigint): void {
    if (typeof addr !== 'number') wrongType(addr, 'physical address', 'number');
    if (typeof value !== 'bigint') wrongType(value, '64-bit value', 'bigint');
    const off = addr & PAGE_MASK;
    if (off > PAGE_SIZE - 8) {
      this.checkBacked(addr, 8, 'write');
      this.writeSplit(addr, 4, Number(value & 0xffff_ffffn));
      this.writeSplit(addr + 4, 4, Number((value >> 32n) & 0xffff_ffffn));
      return;
    }
    this.pageForWrite(addr, 8).setBigUint64(off, BigInt.asUintN(64, value), true);
    if (this.observerCount !== 0) this.notifyWritten(addr, 8);
  }

  /** Byte-wise read of an access that crosses a page boundary. */
  private readSplit(addr: number, size: number): number {
    this.checkBacked(addr, size, 'read');
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.read8(addr + i);
    return v;
  }

  private writeSplit(addr: number, size: number, value: number): void {
    this.checkBacked(addr, size, 'write');
    this.checkWritable(addr, size);
    let v = value >>> 0;
    for (let i = 0; i < size; i++) {
      this.write8(addr + i, v & 0xff);
      v >>>= 8;
    }
  }

  // --- block accesses ----------------------------------------------------

  /** Copies `length` bytes from `addr` into a new array (or into `into`). */
  readBytes(addr: number, length: number, into?: Uint8Array): Uint8Array {
    assertInteger(length, 'length', 0, 2 ** 31);
    const out = into ?? new Uint8Array(length);
    if (out.length < length) throw new MemoryError('bad-argument', addr, `destination holds ${out.length} bytes, ${length} requested`);
    if (length === 0) return out;
    this.checkBacked(addr, length, 'read');
    let done = 0;
    while (done < length) {
      const a = addr + done;
      const off = a & PAGE_MASK;
      const n = Math.min(PAGE_SIZE - off, length - done);
      const view = this.pages.get(pageNumber(a));
      if (view) out.set(new Uint8Array(view.buffer, off, n), done);
      else out.fill(0, done, done + n);
      done += n;
    }
    return out;
  }

  /** Copies `bytes` to memory starting at `addr`. */
  writeBytes(addr: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.checkBacked(addr, bytes.length, 'write');
    this.checkWritable(addr, bytes.length);
    let done = 0;
    while (done < bytes.length) {
      const a = addr + done;
      const off = a & PAGE_MASK;
      const n = Math.min(PAGE_SIZE - off, bytes.length - done);
      const view = this.pageForWrite(a, 1);
      new Uint8Array(view.buffer, off, n).set(bytes.subarray(done, done + n));
      done += n;
    }
    if (this.observerCount !== 0) this.notifyWritten(addr, bytes.length);
  }

  /** Fills `[addr, addr + length)` with `byte`. */
  fill(addr: number, length: number, byte = 0): void {
    assertInteger(length, 'length', 0, Number.MAX_SAFE_INTEGER);
    assertInteger(byte, 'fill byte', 0, 255);
    if (length === 0) return;
    this.checkBacked(addr, length, 'write');
    this.checkWritable(addr, length);
    let done = 0;
    while (done < length) {
      const a = addr + done;
      const off = a & PAGE_MASK;
      const n = Math.min(PAGE_SIZE - off, length - done);
      const pfn = pageNumber(a);
      if (byte === 0 && !this.pages.has(pfn)) {
        done += n;
        continue;
      }
      new Uint8Array(this.pageForWrite(a, 1).buffer, off, n).fill(byte);
      done += n;
    }
    if (this.observerCount !== 0) this.notifyWritten(addr, length);
  }

  // --- snapshots ---------------------------------------------------------

  /** Regions and populated pages as a JSON-safe object. */
  saveState(): PhysicalMemoryState {
    const pages: Record<string, string> = {};
    for (const pfn of [...this.pages.keys()].sort((a, b) => a - b)) {
      const bytes = new Uint8Array(this.pages.get(pfn)!.buffer);
      if (bytes.some((b) => b !== 0)) pages[String(pfn)] = bytesToBase64(bytes);
    }
    return {
      version: 1,
      type: 'hvsim.physical-memory',
      regions: this.regions.map((r) => ({ base: r.base, size: r.size, name: r.name, readOnly: r.readOnly })),
      pages,
    };
  }

  /** Replaces all regions and contents with a saved state. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.physical-memory', 1);
    const regions = s.array('regions', (r) => ({
      base: r.address('base'),
      size: r.int('size', 1, Number.MAX_SAFE_INTEGER),
      name: r.string('name'),
      readOnly: r.bool('readOnly'),
    }));
    const pageEntries = Object.entries(s.record('pages'));
    const fresh = new PhysicalMemory();
    for (const r of regions) fresh.addRegion(r.base, r.size, { name: r.name, readOnly: r.readOnly });
    const decoded = new Map<number, DataView>();
    for (const [key, value] of pageEntries) {
      const pfn = Number(key);
      if (!Number.isSafeInteger(pfn) || pfn < 0 || typeof value !== 'string') {
        throw new SnapshotError('shape', `hvsim.physical-memory: pages.${key} is not a page number with base64 contents`);
      }
      const bytes = base64ToBytes(value, `hvsim.physical-memory: pages.${key}`);
      if (bytes.length !== PAGE_SIZE) throw new SnapshotError('shape', `hvsim.physical-memory: pages.${key} holds ${bytes.length} bytes, expected ${PAGE_SIZE}`);
      if (!fresh.isBacked(pfn * PAGE_SIZE)) {
        throw new SnapshotError('shape', `hvsim.physical-memory: page ${key} lies outside every region`);
      }
      const buf = new ArrayBuffer(PAGE_SIZE);
      new Uint8Array(buf).set(bytes);
      decoded.set(pfn, new DataView(buf));
    }
    this.regions = fresh.regions;
    this.anyReadOnly = fresh.anyReadOnly;
    this.pages.clear();
    this.views.clear();
    for (const [pfn, view] of decoded) this.pages.set(pfn, view);
    this.forgetCachedPages();
    this.generationValue++;
  }
}
