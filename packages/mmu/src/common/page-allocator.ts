/**
 * A 4 KiB page allocator over one physical range: a bump pointer and a free
 * list. Used by the table builders and by the shadow MMU for its pages.
 */
import { readState } from '@hvsim/core';
import { checkAddress } from './address.js';
import { MmuUsageError } from './mmu-error.js';

/** Hands out zero-filled-on-request 4 KiB pages from `[base, base + size)`. */
export class PageAllocator {
  private next: number;
  private free: number[] = [];

  constructor(
    /** Physical address of the first page (4 KiB aligned). */
    readonly base: number,
    /** Bytes in the range (a non-zero multiple of 4 KiB). */
    readonly size: number,
  ) {
    checkAddress(base, 'allocator base');
    checkAddress(size, 'allocator size');
    if (base % 4096 !== 0 || size % 4096 !== 0 || size === 0) {
      throw new MmuUsageError('bad-argument', `allocator base 0x${base.toString(16)} and size 0x${size.toString(16)} must be non-zero multiples of 4 KiB`);
    }
    this.next = base;
  }

  /** Pages handed out and not freed. */
  get used(): number {
    return (this.next - this.base) / 4096 - this.free.length;
  }

  /** Pages in the range. */
  get capacity(): number {
    return this.size / 4096;
  }

  /** A page address, or -1 when the range is exhausted. */
  tryAllocate(): number {
    const page = this.free.pop();
    if (page !== undefined) return page;
    if (this.next >= this.base + this.size) return -1;
    const p = this.next;
    this.next += 4096;
    return p;
  }

  /** A page address; throws a `UsageError` of kind `'bad-state'` when the range is exhausted. */
  allocate(): number {
    const p = this.tryAllocate();
    if (p < 0) throw new MmuUsageError('bad-state', `page allocator [0x${this.base.toString(16)}, +0x${this.size.toString(16)}) is exhausted`);
    return p;
  }

  /** Returns a page. */
  release(page: number): void {
    if (page < this.base || page >= this.next || page % 4096 !== 0) {
      throw new MmuUsageError('bad-argument', `page 0x${page.toString(16)} was not allocated from [0x${this.base.toString(16)}, +0x${this.size.toString(16)})`);
    }
    this.free.push(page);
  }

  /** Forgets every allocation. */
  reset(): void {
    this.next = this.base;
    this.free = [];
  }

  /** Allocation state as plain data. */
  saveState(): {
    /** Identifies a saved page allocator. */
    type: 'hvsim.mmu.page-allocator';
    /** Format version (1). */
    version: 1;
    /** First address of the range. */
    base: number;
    /** Bytes in the range. */
    size: number;
    /** The bump pointer: the next page never handed out. */
    next: number;
    /** Freed pages, handed out again first. */
    free: number[];
  } {
    return { type: 'hvsim.mmu.page-allocator', version: 1, base: this.base, size: this.size, next: this.next, free: [...this.free] };
  }

  /** Restores {@link saveState} output (same range only). */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.page-allocator', 1);
    const base = s.address('base');
    const size = s.address('size');
    if (base !== this.base || size !== this.size) {
      throw new MmuUsageError('bad-argument', `allocator state is for [0x${base.toString(16)}, +0x${size.toString(16)}), this allocator covers [0x${this.base.toString(16)}, +0x${this.size.toString(16)})`);
    }
    const next = s.int('next', base, base + size);
    const free = s.intArray('free', base, base + size - 4096);
    if (next % 4096 !== 0) throw new MmuUsageError('bad-argument', `allocator state next 0x${next.toString(16)} is not 4 KiB aligned`);
    const seen = new Set<number>();
    for (const page of free) {
      if (page % 4096 !== 0 || page >= next || seen.has(page)) throw new MmuUsageError('bad-argument', `allocator state free page 0x${page.toString(16)} is unaligned, never handed out or listed twice`);
      seen.add(page);
    }
    this.next = next;
    this.free = free;
  }
}
