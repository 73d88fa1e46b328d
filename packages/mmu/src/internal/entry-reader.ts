/**
 * Reads 64-bit paging-structure entries as two 32-bit halves, fast.
 *
 * Workaround (reported to the lead): @hvsim/core's PhysicalMemory has no
 * public accessor for a page's DataView, and its `read32` re-validates the
 * address and looks the page up on every call, which costs ~30 ns whenever
 * consecutive reads touch different pages, as every page walk does. When the
 * memory object exposes its page map, the reader looks a populated page's
 * view up there and keeps it in a small direct-mapped cache that is emptied
 * at the start of every top-level walk (`begin`), so nothing is kept across
 * walks: a region removal or a memory restore between walks is always seen.
 * Pages never written, addresses outside RAM, or a memory object without the
 * map go through `read32`, so core still decides what those addresses do.
 * One reader is shared by every walker of the same memory.
 */
import type { PhysicalMemory } from '@hvsim/core';

const PAGE = 4096;
const SLOTS = 64;
const readers = new WeakMap<PhysicalMemory, EntryReader>();

export class EntryReader {
  /** Bits 31:0 of the last entry read. */
  lo = 0;
  /** Bits 63:32 of the last entry read. */
  hi = 0;
  private readonly pages: Map<number, DataView> | null;
  private epoch = 1;
  private readonly slotEpoch = new Uint32Array(SLOTS);
  private readonly slotPfn = new Float64Array(SLOTS);
  private readonly slotView: (DataView | undefined)[] = new Array<DataView | undefined>(SLOTS).fill(undefined);

  private constructor(private readonly memory: PhysicalMemory) {
    const pages = (memory as unknown as { pages?: unknown }).pages;
    this.pages = pages instanceof Map ? (pages as Map<number, DataView>) : null;
  }

  /** The reader shared by every walker of `memory`. */
  static for(memory: PhysicalMemory): EntryReader {
    let r = readers.get(memory);
    if (r === undefined) {
      r = new EntryReader(memory);
      readers.set(memory, r);
    }
    return r;
  }

  /** True when the fast path is in use. */
  get fast(): boolean {
    return this.pages !== null;
  }

  /** Starts a top-level walk: forgets every cached page view. */
  begin(): void {
    this.epoch = (this.epoch + 1) >>> 0 || 1;
  }

  /** Reads the 8-byte-aligned entry at `address` into `lo`/`hi`. */
  read(address: number): void {
    const pages = this.pages;
    if (pages !== null) {
      // A small-integer key keeps Map.get on its fast path (below 2^43).
      const pfn = address < 0x800_0000_0000 ? (address / PAGE) | 0 : Math.floor(address / PAGE);
      const slot = pfn & (SLOTS - 1);
      let view: DataView | undefined;
      if (this.slotEpoch[slot] === this.epoch && this.slotPfn[slot] === pfn) {
        view = this.slotView[slot];
      } else {
        view = pages.get(pfn);
        if (view !== undefined) {
          this.slotEpoch[slot] = this.epoch;
          this.slotPfn[slot] = pfn;
          this.slotView[slot] = view;
        }
      }
      if (view !== undefined) {
        const off = address & (PAGE - 1);
        this.lo = view.getUint32(off, true);
        this.hi = view.getUint32(off + 4, true);
        return;
      }
    }
    this.lo = this.memory.read32(address);
    this.hi = this.memory.read32(address + 4);
  }
}
