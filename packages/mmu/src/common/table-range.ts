/**
 * Range edits over x86-64 paging structures and EPT (the same radix-512
 * shape, SDM 3A 4.5 and SDM 3C 28.2.2): unmap, write-protect and zap every
 * leaf that overlaps an address range, as a hypervisor does for a memslot
 * delete or move (zap) and for dirty logging (write-protect). Large leaves
 * that overlap the range only partly are edited whole (the hypervisor
 * would split them first; KVM zaps a huge spte whole too).
 */
import type { Memory } from '@hvsim/core';
import { checkAddress, entryAddress } from './address.js';
import { MmuUsageError } from './mmu-error.js';
import type { PageAllocator } from './page-allocator.js';

/** The entry format of one kind of table. */
export interface TableFormat {
  /** True when the entry (bits 31:0) is present. */
  present(lo: number): boolean;
  /** True when the present entry at `level` maps a page (is a leaf). */
  leaf(lo: number, level: number): boolean;
  /** Bits 31:0 of the entry with write permission removed. */
  readOnly(lo: number): number;
}

/** What a range edit does. */
export type RangeEdit = 'unmap' | 'write-protect' | 'zap';

/** Where the tables are. */
export interface TableSpace {
  memory: Memory;
  /** Table-space address (guest-physical for guest tables) to host address. */
  toHost: (address: number) => number;
  allocator: PageAllocator;
}

/** Bytes one entry at `level` maps: 4 KiB x 512^(level - 1). */
function span(level: number): number {
  return 4096 * 512 ** (level - 1);
}

/** Checks `[start, start + size)`: page-aligned, non-empty, below 2^53. */
export function checkRange(start: number, size: number, what: string): void {
  checkAddress(start, `${what} start`);
  checkAddress(size, `${what} size`);
  if (size === 0 || start % 4096 !== 0 || size % 4096 !== 0 || !Number.isSafeInteger(start + size)) {
    throw new MmuUsageError('bad-argument', `${what} [0x${start.toString(16)}, +0x${size.toString(16)}) must be a non-empty range of whole 4 KiB pages`);
  }
}

/**
 * Applies `edit` to every leaf overlapping `[start, end)` in the tables
 * under `root` (`levels` deep). `'zap'` also frees every table that lies
 * wholly inside the range and clears the entry that pointed to it. Returns
 * the number of entries changed.
 */
export function editRange(space: TableSpace, format: TableFormat, root: number, levels: number, start: number, end: number, edit: RangeEdit): number {
  return visit(space, format, root, levels, 0, start, end, edit);
}

function visit(space: TableSpace, format: TableFormat, table: number, level: number, base: number, start: number, end: number, edit: RangeEdit): number {
  const { memory, toHost } = space;
  const size = span(level);
  const first = Math.max(0, Math.floor((start - base) / size));
  const last = Math.min(511, Math.floor((end - 1 - base) / size));
  let changed = 0;
  for (let i = first; i <= last; i++) {
    const a = toHost(table + i * 8);
    const lo = memory.read32(a);
    if (!format.present(lo)) continue;
    const from = base + i * size;
    if (format.leaf(lo, level)) {
      if (edit === 'write-protect') {
        const ro = format.readOnly(lo);
        if (ro !== lo) {
          memory.write32(a, ro >>> 0);
          changed++;
        }
      } else {
        memory.write32(a, 0);
        memory.write32(a + 4, 0);
        changed++;
      }
      continue;
    }
    const child = entryAddress(lo, memory.read32(a + 4));
    if (edit === 'zap' && from >= start && from + size <= end) {
      freeTables(space, format, child, level - 1);
      memory.write32(a, 0);
      memory.write32(a + 4, 0);
      changed++;
      continue;
    }
    changed += visit(space, format, child, level - 1, from, start, end, edit);
  }
  return changed;
}

/** Releases `table` and every table below it. */
function freeTables(space: TableSpace, format: TableFormat, table: number, level: number): void {
  if (level > 1) {
    for (let i = 0; i < 512; i++) {
      const a = space.toHost(table + i * 8);
      const lo = space.memory.read32(a);
      if (format.present(lo) && !format.leaf(lo, level)) freeTables(space, format, entryAddress(lo, space.memory.read32(a + 4)), level - 1);
    }
  }
  space.allocator.release(table);
}

/** Checks a root handed to `attach`: a 4 KiB-aligned table address whose page memory backs. */
export function checkRoot(memory: Memory, root: number, toHost: (a: number) => number, what: string): void {
  checkAddress(root, `${what} root`);
  if (root % 4096 !== 0) throw new MmuUsageError('bad-argument', `${what} root 0x${root.toString(16)} must be 4 KiB aligned`);
  const h = toHost(root);
  if (h < 0 || !memory.isBacked(h, 4096)) throw new MmuUsageError('bad-argument', `${what} root 0x${root.toString(16)} is not in memory`);
}
