/**
 * A guest-physical view of host memory through memslots: what a hypervisor
 * hands a model that must see the guest's physical address space (an
 * emulated ITS reading guest tables, a guest-side posted-interrupt
 * descriptor, a virtio queue). Every access is translated through the
 * {@link Memslots}; an access that crosses a page goes page by page (slots
 * are page-aligned, so a page lies in one slot). Translated pages are kept
 * in a 16-entry direct-mapped cache, so repeated accesses to a few pages (a
 * page walk, a descriptor and its queue) cost a comparison and the host
 * access.
 *
 * Writes are logged in the dirty bitmap of a slot with
 * `KVM_MEM_LOG_DIRTY_PAGES`. Write observers of the view hear guest-physical
 * addresses, and hear every write that lands in host memory mapped by a
 * slot (through this view, another view, or DMA to the host directly).
 */
import { assertAddress, assertInteger, describeValue, wrongType } from '../errors/validate.js';
import { UsageError } from '../errors/hvsim-error.js';
import { MemoryError } from './memory-error.js';
import type { Memory, PageView, U64Halves, WriteObserver } from './memory.js';
import type { Memslots } from './memslots.js';

const PAGE = 4096;
const PAGE_MASK = PAGE - 1;
const TLB_SIZE = 16;
const TLB_MASK = TLB_SIZE - 1;
const hex = (n: number): string => `0x${n.toString(16)}`;

/** Cache index of a guest page: low page-number bits mixed with bit 20 up (4 GiB apart, RAM below and above 4 GiB, would collide). */
function tlbIndex(page: number): number {
  const pfn = page / PAGE;
  return (pfn ^ (pfn >>> 20)) & TLB_MASK;
}

/** A {@link Memory} over guest-physical addresses: host memory seen through memslots (see the file comment). */
export class GuestPhysicalMemory implements Memory {
  // A small direct-mapped cache of translated pages, indexed by the low bits
  // of the guest page number (a page walk touches four or five pages in a
  // row): guest page base (tag), host page base, writable, and the slot's
  // dirty bitmap with the page's index in it. Emptied when the memslots'
  // generation changes.
  private readonly tTag = new Float64Array(TLB_SIZE).fill(Number.NaN);
  private readonly tHost = new Float64Array(TLB_SIZE);
  private readonly tWritable = new Uint8Array(TLB_SIZE);
  private readonly tDirty = new Array<Uint32Array | null>(TLB_SIZE).fill(null);
  private readonly tDirtyPage = new Int32Array(TLB_SIZE);
  private tGen = -1;

  private gen = 0;
  private seenSlotsGen: number;
  private seenHostGen: number;
  private readonly views = new Map<number, PageView>();

  private observers: WriteObserver[] = [];
  private detachHost: (() => void) | undefined;
  private readonly notifyGuest = (gpa: number, size: number): void => {
    const list = this.observers;
    for (let i = 0; i < list.length; i++) list[i]!(gpa, size);
  };
  private readonly onHostWrite = (hpa: number, size: number): void => {
    this.memslots.forEachGuestRange(hpa, size, this.notifyGuest);
  };

  constructor(
    /** The host-physical memory the slots point into. */
    readonly host: Memory,
    /** The guest-physical to host-physical map. */
    readonly memslots: Memslots,
  ) {
    if (typeof host !== 'object' || (host as unknown) === null || typeof host.read32 !== 'function' || typeof host.addWriteObserver !== 'function') {
      throw new UsageError('bad-argument', `GuestPhysicalMemory needs a host Memory, got ${describeValue(host)}`);
    }
    if (typeof memslots !== 'object' || (memslots as unknown) === null || typeof memslots.find !== 'function' || typeof memslots.dirtyBitmap !== 'function') {
      throw new UsageError('bad-argument', `GuestPhysicalMemory needs Memslots, got ${describeValue(memslots)}`);
    }
    this.seenSlotsGen = memslots.generation;
    this.seenHostGen = host.generation;
  }

  // --- translation --------------------------------------------------------

  /** Host-physical address of `gpa`, or -1 when no slot holds it. */
  translate(gpa: number): number {
    return this.memslots.translate(gpa);
  }

  /** Fills the cache entry for the page of `gpa` or throws naming the guest-physical address; returns the entry. */
  private fill(gpa: number, size: number, write: boolean): number {
    assertAddress(gpa, 'guest-physical address');
    const slots = this.memslots;
    if (this.tGen !== slots.generation) {
      this.tTag.fill(Number.NaN);
      this.tDirty.fill(null);
      this.tGen = slots.generation;
    }
    const slot = slots.find(gpa);
    if (slot === undefined) {
      throw new MemoryError('unmapped', gpa, `${write ? 'write' : 'read'} of ${size} byte(s) at guest-physical address ${hex(gpa)} is in no memslot`);
    }
    if (write && slot.readOnly) {
      throw new MemoryError('read-only', gpa, `write of ${size} byte(s) at guest-physical address ${hex(gpa)} into read-only memslot ${slot.id}`);
    }
    const page = gpa - (gpa % PAGE);
    const i = tlbIndex(page);
    this.tTag[i] = page;
    this.tHost[i] = slot.hostPhysical + (page - slot.guestPhysical);
    this.tWritable[i] = slot.readOnly ? 0 : 1;
    this.tDirty[i] = slots.dirtyBitmap(slot.id) ?? null;
    this.tDirtyPage[i] = (page - slot.guestPhysical) / PAGE;
    return i;
  }

  /** Host address of a read of `size` bytes that stays in one page. */
  private hostForRead(gpa: number, off: number, size: number): number {
    const page = gpa - off;
    const i = tlbIndex(page);
    if (this.tTag[i] === page && this.tGen === this.memslots.generation) return this.tHost[i]! + off;
    return this.tHost[this.fill(gpa, size, false)]! + off;
  }

  /** Cache entry of a write of `size` bytes that stays in one page (translated, writable). */
  private entryForWrite(gpa: number, off: number, size: number): number {
    const page = gpa - off;
    const i = tlbIndex(page);
    if (this.tTag[i] === page && this.tGen === this.memslots.generation && this.tWritable[i] === 1) return i;
    return this.fill(gpa, size, true);
  }

  /** Logs a write to the page of cache entry `i`. */
  private markDirty(i: number): void {
    const d = this.tDirty[i];
    if (d !== null && d !== undefined) {
      const p = this.tDirtyPage[i]!;
      d[p >>> 5] = d[p >>> 5]! | (1 << (p & 31));
    }
  }

  // --- scalar accesses ----------------------------------------------------

  /** Reads the guest-physical byte at `addr` through the memslots. */
  read8(addr: number): number {
    if (typeof addr !== 'number') wrongType(addr, 'guest-physical address', 'number');
    return this.host.read8(this.hostForRead(addr, addr & PAGE_MASK, 1));
  }

  /** Reads the little-endian 16-bit value at guest-physical `addr`. */
  read16(addr: number): number {
    if (typeof addr !== 'number') wrongType(addr, 'guest-physical address', 'number');
    const off = addr & PAGE_MASK;
    if (off > PAGE - 2) return this.readSplit(addr, 2);
    return this.host.read16(this.hostForRead(addr, off, 2));
  }

  /** Reads the little-endian 32-bit value at guest-physical `addr`, as an unsigned number. */
  read32(addr: number): number {
    if (typeof addr !== 'number') wrongType(addr, 'guest-physical address', 'number');
    const off = addr & PAGE_MASK;
    if (off > PAGE - 4) return this.readSplit(addr, 4);
    return this.host.read32(this.hostForRead(addr, off, 4));
  }

  read64(addr: number): bigint {
    if (typeof addr !== 'number') wrongType(addr, 'guest-physical address', 'number');
    const off = addr & PAGE_MASK;
    if (off > PAGE - 8) {
      this.checkRange(addr, 8, false);
      return (BigInt(this.read32(addr + 4)) << 32n) | BigInt(this.read32(addr));
    }
    return this.host.read64(this.hostForRead(addr, off, 8));
  }

  read64Halves(addr: number, out: U64Halves): U64Halves {
    if (typeof addr !== 'number') wrongType(addr, 'guest-physical address', 'number');
    const off = addr & PAGE_MASK;
    if (off > PAGE - 8) {
      this.checkRange(addr, 8, false);
      out.lo = this.read32(addr);
      out.hi = this.read32(addr + 4);
      return out;
    }
    return this.host.read64Halves(this.hostForRead(addr, off, 8), out);
  }

  /** Writes the low 8 bits of `value` at guest-physical `addr` (marks the page dirty where the slot logs). */
  write8(addr: number, value: number): void {
    if (typeof addr !== 'number') wrongType(addr, 'guest-physical address', 'number');
    if (typeof value !== 'number') wrongType(value, 'value', 'number');
    const off = addr & PAGE_MASK;
    const i = this.entryForWrite(addr, off, 1);
    this.host.write8(this.tHost[i]! + off, value);
    this.markDirty(i);
  }

  /** Writes the low 16 bits of `value` at guest-physical `addr`, little-endian. */
  write16(addr: number, value: number): void {
    if (typeof addr !== 'number') wrongType(addr, 'guest-physical address', 'number');
    if (typeof value !== 'number') wrongType(value, 'value', 'number');
    const off = addr & PAGE_MASK;
    if (off > PAGE - 2) return this.writeSplit(addr, 2, value);
    const i = this.entryForWrite(addr, off, 2);
    this.host.write16(this.tHost[i]! + off, value);
    this.markDirty(i);
  }

  /** Writes the low 32 bits of `value` at guest-physical `addr`, little-endian. */
  write32(addr: number, value: number): void {
    if (typeof addr !== 'number') wrongType(addr, 'guest-physical address', 'number');
    if (typeof value !== 'number') wrongType(value, 'value', 'number');
    const off = addr & PAGE_MASK;
    if (off > PAGE - 4) return this.writeSplit(addr, 4, value);
    const i = this.entryForWrite(addr, off, 4);
    this.host.write32(this.tHost[i]! + off, value);
    this.markDirty(i);
  }

  /** Writes the 64-bit `value` at guest-physical `addr`, little-endian. */
  write64(addr: number, value: bigint): void {
    if (typeof addr !== 'number') wrongType(addr, 'guest-physical address', 'number');
    if (typeof value !== 'bigint') wrongType(value, '64-bit value', 'bigint');
    const off = addr & PAGE_MASK;
    if (off > PAGE - 8) {
      this.checkRange(addr, 8, true);
      const v = BigInt.asUintN(64, value);
      this.writeSplit(addr, 4, Number(v & 0xffff_ffffn));
      this.writeSplit(addr + 4, 4, Number(v >> 32n));
      return;
    }
    const i = this.entryForWrite(addr, off, 8);
    this.host.write64(this.tHost[i]! + off, value);
    this.markDirty(i);
  }

  /** Byte-wise read of an access that crosses a page (checked whole first). */
  private readSplit(addr: number, size: number): number {
    this.checkRange(addr, size, false);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.read8(addr + i);
    return v;
  }

  /** Byte-wise write of an access that crosses a page, after checking every byte is writable. */
  private writeSplit(addr: number, size: number, value: number): void {
    this.checkRange(addr, size, true);
    let v = value >>> 0;
    for (let i = 0; i < size; i++) {
      this.write8(addr + i, v & 0xff);
      v >>>= 8;
    }
  }

  /** Throws the error the first bad byte of `[addr, addr + size)` would raise. */
  private checkRange(addr: number, size: number, write: boolean): void {
    assertAddress(addr, 'guest-physical address');
    if (write ? this.isWritable(addr, size) : this.isBacked(addr, size)) return;
    for (let a = addr; a < addr + size; a = a - (a % PAGE) + PAGE) this.fill(a, size, write);
    // Every page has a slot: the host memory behind one is missing.
    throw new MemoryError('unmapped', addr, `${write ? 'write' : 'read'} of ${size} byte(s) at guest-physical address ${hex(addr)} reaches host memory that is not backed`);
  }

  // --- block accesses -----------------------------------------------------

  /** Copies `length` bytes from guest-physical `addr` into a new array (or into `into`). */
  readBytes(addr: number, length: number, into?: Uint8Array): Uint8Array {
    assertInteger(length, 'length', 0, 2 ** 31);
    const out = into ?? new Uint8Array(length);
    if (out.length < length) throw new MemoryError('bad-argument', addr, `destination holds ${out.length} bytes, ${length} requested`);
    if (length === 0) return out;
    this.checkRange(addr, length, false);
    this.eachChunk(addr, length, (hpa, done, n) => {
      this.host.readBytes(hpa, n, out.subarray(done, done + n));
    });
    return out;
  }

  /** Copies `bytes` to guest-physical memory starting at `addr` (checked whole first: nothing is written when it throws). */
  writeBytes(addr: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.checkRange(addr, bytes.length, true);
    this.eachChunk(addr, bytes.length, (hpa, done, n) => {
      this.host.writeBytes(hpa, bytes.subarray(done, done + n));
    });
    this.memslots.markDirty(addr, bytes.length);
  }

  /** Calls `fn(hostAddress, offset, length)` for each slot-contiguous piece of a checked range. */
  private eachChunk(addr: number, length: number, fn: (hpa: number, done: number, n: number) => void): void {
    let done = 0;
    while (done < length) {
      const a = addr + done;
      const slot = this.memslots.find(a)!;
      const n = Math.min(length - done, slot.guestPhysical + slot.size - a);
      fn(slot.hostPhysical + (a - slot.guestPhysical), done, n);
      done += n;
    }
  }

  /** True when every byte of guest-physical `[addr, addr + size)` is in a slot backed by host memory. */
  isBacked(addr: number, size = 1): boolean {
    return this.covered(addr, size, false);
  }

  /** True when `[addr, addr + size)` is backed, in no read-only slot, and writable in host memory. */
  isWritable(addr: number, size = 1): boolean {
    return this.covered(addr, size, true);
  }

  private covered(addr: number, size: number, write: boolean): boolean {
    if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(size) || size < 0 || addr + size > 2 ** 53) return false;
    let a = addr;
    const end = addr + size;
    while (a < end) {
      const slot = this.memslots.find(a);
      if (slot === undefined || (write && slot.readOnly)) return false;
      const n = Math.min(end, slot.guestPhysical + slot.size) - a;
      const hpa = slot.hostPhysical + (a - slot.guestPhysical);
      if (!(write ? this.host.isWritable(hpa, n) : this.host.isBacked(hpa, n))) return false;
      a += n;
    }
    return true;
  }

  // --- page views and write observers --------------------------------------

  /**
   * Changes when the memslots or the host memory's generation change: page
   * views taken before may then point at a page that is no longer the
   * guest page's backing.
   */
  get generation(): number {
    const sg = this.memslots.generation;
    const hg = this.host.generation;
    if (sg !== this.seenSlotsGen || hg !== this.seenHostGen) {
      this.seenSlotsGen = sg;
      this.seenHostGen = hg;
      this.gen++;
      this.views.clear();
    }
    return this.gen;
  }

  /**
   * A live view of the guest page holding `addr`: the host page's bytes, at
   * the guest page's address. Undefined when the page is in no slot, in a
   * read-only slot, or the host page cannot be viewed.
   */
  pageView(addr: number): PageView | undefined {
    if (!Number.isSafeInteger(addr) || addr < 0) return undefined;
    const generation = this.generation;
    const page = addr - (addr % PAGE);
    const known = this.views.get(page);
    if (known !== undefined) return known;
    const slot = this.memslots.find(page);
    if (slot === undefined || slot.readOnly) return undefined;
    const hv = this.host.pageView(slot.hostPhysical + (page - slot.guestPhysical));
    if (hv === undefined) return undefined;
    const view: PageView = Object.freeze({ address: page, bytes: hv.bytes, words: hv.words, generation });
    this.views.set(page, view);
    return view;
  }

  /** True while an observer is attached here or to the host, or a slot logs dirty pages: writers through page views then call {@link noteWritten}. */
  get observed(): boolean {
    return this.observers.length !== 0 || this.memslots.loggingSlots !== 0 || this.host.observed;
  }

  /**
   * Tells dirty logging, the host's observers and this view's observers that
   * guest-physical `[addr, addr + size)` was written through a page view. A
   * range not wholly backed is ignored: no page view reaches it, so nothing
   * can have been written there.
   */
  noteWritten(addr: number, size: number): void {
    if (!this.isBacked(addr, size)) return;
    this.memslots.markDirty(addr, size);
    if (this.host.observed) {
      this.eachChunk(addr, size, (hpa, _done, n) => {
        this.host.noteWritten(hpa, n);
      });
    }
  }

  /**
   * Attaches `observer`, called with guest-physical ranges after every write
   * that lands in host memory mapped by a slot (through this view or not).
   * Returns the detach function.
   */
  addWriteObserver(observer: WriteObserver): () => void {
    if (typeof observer !== 'function') throw new MemoryError('bad-argument', 0, `write observer must be a function, got ${describeValue(observer)}`);
    this.observers = [...this.observers, observer];
    this.detachHost ??= this.host.addWriteObserver(this.onHostWrite);
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      this.observers = this.observers.filter((o) => o !== observer);
      if (this.observers.length === 0 && this.detachHost) {
        this.detachHost();
        this.detachHost = undefined;
      }
    };
  }
}
