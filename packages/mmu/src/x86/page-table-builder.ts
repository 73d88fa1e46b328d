/**
 * Builds x86-64 4-level or 5-level page tables in physical memory (the
 * format of SDM 3A 4.5): for tests, teaching and guest software. Tables are
 * allocated from a {@link PageAllocator}; `toHost` says where a table address
 * lives in host memory when tables are guest-physical (default: identity).
 */
import type { Memory } from '@hvsim/core';
import { TWO_32, entryAddress, highHalf } from '../common/address.js';
import { MmuUsageError } from '../common/mmu-error.js';
import { checkPageMapping } from '../common/page-size.js';
import type { PageAllocator } from '../common/page-allocator.js';
import { zeroPage } from '../common/memory-access.js';
import type { TableFormat } from '../common/table-range.js';
import { checkRange, checkRoot, editRange } from '../common/table-range.js';
import { x86TableIndex } from './page-walker.js';
import { PTE_HI, PTE_LO } from './regs.js';

/** Attributes of a mapping made by {@link X86PageTableBuilder.map}. */
export interface X86MapOptions {
  /** 4096, 0x200000 (2 MiB) or 0x40000000 (1 GiB). Default 4096. */
  pageSize?: number;
  /** Sets R/W (bit 1). Default true. */
  writable?: boolean;
  /** Sets U/S (bit 2). Default true. */
  user?: boolean;
  /** Sets XD (bit 63). */
  noExecute?: boolean;
  /** Sets G (bit 8). Default false. */
  global?: boolean;
  /** Sets A (bit 5). Default false. */
  accessed?: boolean;
  /** Sets D (bit 6). Default false. */
  dirty?: boolean;
  /** Protection key, 0..15. */
  protectionKey?: number;
  /** Low-half flags for paging-structure entries created on the way (default P | R/W | U/S). */
  tableFlags?: number;
  /** XD for paging-structure entries created on the way. */
  tableNoExecute?: boolean;
}

/** x86-64 entries for the range edits (SDM 3A 4.5: P bit 0, R/W bit 1, PS bit 7). */
const X86_FORMAT: TableFormat = {
  present: (lo) => (lo & PTE_LO.P) !== 0,
  leaf: (lo, level) => level === 1 || (level <= 3 && (lo & PTE_LO.PS) !== 0),
  readOnly: (lo) => (lo & ~PTE_LO.RW) >>> 0,
};

const LEVELS = [4, 5] as const;

/** Writes x86-64 paging structures. */
export class X86PageTableBuilder {
  /** Physical (or guest-physical) address of the root table: the CR3 value. */
  readonly root: number;

  /** Allocates a fresh root table; `root` (see {@link X86PageTableBuilder.attach}) uses an existing one instead. */
  constructor(
    private readonly memory: Memory,
    private readonly allocator: PageAllocator,
    /** Paging levels of the tree: 4, or 5 for CR4.LA57 = 1. */
    readonly levels: 4 | 5 = 4,
    private readonly toHost: (address: number) => number = (a) => a,
    root?: number,
  ) {
    if (!(LEVELS as readonly number[]).includes(levels)) throw new MmuUsageError('bad-argument', `levels must be 4 or 5, got ${String(levels)}`);
    if (root === undefined) {
      this.root = this.newTable();
    } else {
      checkRoot(memory, root, toHost, 'page-table');
      this.root = root;
    }
  }

  /**
   * A builder over tables that already exist (after a restore, or built by
   * someone else) at `root`: nothing is allocated or written. Restore the
   * allocator's own state so new tables do not reuse pages in use.
   */
  static attach(memory: Memory, allocator: PageAllocator, root: number, levels: 4 | 5 = 4, toHost: (address: number) => number = (a) => a): X86PageTableBuilder {
    return new X86PageTableBuilder(memory, allocator, levels, toHost, root);
  }

  /** Clears every leaf overlapping `[linear, linear + size)` (a large leaf overlapping partly goes whole). Returns the entries cleared. */
  unmapRange(linear: number, size: number): number {
    checkRange(linear, size, 'unmap range');
    return editRange(this.space(), X86_FORMAT, this.root, this.levels, linear, linear + size, 'unmap');
  }

  /** Clears R/W in every leaf overlapping `[linear, linear + size)` (dirty logging: the next write faults). Returns the entries changed. */
  writeProtect(linear: number, size: number): number {
    checkRange(linear, size, 'write-protect range');
    return editRange(this.space(), X86_FORMAT, this.root, this.levels, linear, linear + size, 'write-protect');
  }

  /**
   * Removes every mapping in `[linear, linear + size)` and frees the tables
   * wholly inside it back to the allocator (the entries that pointed to them
   * are cleared). Returns the entries cleared.
   */
  zapRange(linear: number, size: number): number {
    checkRange(linear, size, 'zap range');
    return editRange(this.space(), X86_FORMAT, this.root, this.levels, linear, linear + size, 'zap');
  }

  private space(): { memory: Memory; toHost: (a: number) => number; allocator: PageAllocator } {
    return { memory: this.memory, toHost: this.toHost, allocator: this.allocator };
  }

  /** Maps `linear` (bits 52:0 of a number) to `physical`. */
  map(linear: number, physical: number, options: X86MapOptions = {}): void {
    const size = options.pageSize ?? 4096;
    const leafLevel = checkPageMapping(size, linear, physical, ['linear', 'physical']);
    const entry = this.entryFor(linear, leafLevel, options.tableFlags ?? PTE_LO.P | PTE_LO.RW | PTE_LO.US, options.tableNoExecute ?? false);
    let lo = PTE_LO.P | (options.writable ?? true ? PTE_LO.RW : 0) | (options.user ?? true ? PTE_LO.US : 0);
    if (options.global ?? false) lo |= PTE_LO.G;
    if (options.accessed ?? false) lo |= PTE_LO.A;
    if (options.dirty ?? false) lo |= PTE_LO.D;
    if (leafLevel > 1) lo |= PTE_LO.PS;
    lo = (lo | (physical % TWO_32)) >>> 0;
    let hi = highHalf(physical);
    hi |= ((options.protectionKey ?? 0) & 0xf) << PTE_HI.PKEY_SHIFT;
    if (options.noExecute ?? false) hi |= PTE_HI.XD;
    this.writeEntry(entry, lo, hi >>> 0);
  }

  /** Clears the leaf (or the entry at `level`) that maps `linear`. */
  unmap(linear: number, level = 1): void {
    const a = this.existingEntry(linear, level);
    if (a >= 0) this.writeEntry(a, 0, 0);
  }

  /**
   * Address (in table space) of the entry at `level` for `linear`, creating
   * the paging structures above it; -1 only from {@link existingEntry}.
   */
  entryFor(linear: number, level: number, tableFlags: number = PTE_LO.P | PTE_LO.RW | PTE_LO.US, tableNoExecute = false): number {
    const hi = highHalf(linear);
    const lo = linear >>> 0;
    let table = this.root;
    for (let l = this.levels; l > level; l--) {
      const a = table + x86TableIndex(l, hi, lo) * 8;
      const h = this.toHost(a);
      const elo = this.memory.read32(h);
      const ehi = this.memory.read32(h + 4);
      if ((elo & PTE_LO.P) === 0 || (elo & PTE_LO.PS) !== 0) {
        const next = this.newTable();
        this.writeEntry(a, ((tableFlags & 0xfff & ~PTE_LO.PS) | PTE_LO.P | next % TWO_32) >>> 0, (highHalf(next) | (tableNoExecute ? PTE_HI.XD : 0)) >>> 0);
        table = next;
      } else {
        table = entryAddress(elo, ehi);
      }
    }
    return table + x86TableIndex(level, hi, lo) * 8;
  }

  /** Address of the entry at `level` for `linear` if the tables above exist, else -1. */
  existingEntry(linear: number, level: number): number {
    const hi = highHalf(linear);
    const lo = linear >>> 0;
    let table = this.root;
    for (let l = this.levels; l > level; l--) {
      const h = this.toHost(table + x86TableIndex(l, hi, lo) * 8);
      const elo = this.memory.read32(h);
      const ehi = this.memory.read32(h + 4);
      if ((elo & PTE_LO.P) === 0 || (elo & PTE_LO.PS) !== 0) return -1;
      table = entryAddress(elo, ehi);
    }
    return table + x86TableIndex(level, hi, lo) * 8;
  }

  /** Reads the entry at a table-space address as a bigint. */
  readEntry(address: number): bigint {
    return this.memory.read64(this.toHost(address));
  }

  /** Writes the entry at a table-space address as two halves. */
  writeEntry(address: number, lo: number, hi: number): void {
    const h = this.toHost(address);
    this.memory.write32(h, lo >>> 0);
    this.memory.write32(h + 4, hi >>> 0);
  }

  private newTable(): number {
    const t = this.allocator.allocate();
    zeroPage(this.memory, this.toHost(t));
    return t;
  }
}
