/**
 * Builds EPT paging structures in host memory (SDM 3C 28.2.2 formats) and
 * the EPTP that points at them, for tests, teaching and hypervisors.
 */
import type { Memory } from '@hvsim/core';
import { TWO_32, entryAddress, highHalf } from '../common/address.js';
import { checkPageMapping } from '../common/page-size.js';
import type { PageAllocator } from '../common/page-allocator.js';
import { zeroPage } from '../common/memory-access.js';
// EPT tables are indexed like x86 paging structures (SDM 3C 28.2.2).
import { x86TableIndex } from '../x86/page-walker.js';
import { EPTE_LO, EPT_MEMORY_TYPE } from './regs.js';
import { MmuUsageError } from '../common/mmu-error.js';
import type { TableFormat } from '../common/table-range.js';
import { checkRange, checkRoot, editRange } from '../common/table-range.js';

/** EPT entries for the range edits (SDM 3C 28.2.2: present when any of bits 2:0 is set, bit 7 a large leaf, bit 1 write). */
const EPT_FORMAT: TableFormat = {
  present: (lo) => (lo & EPTE_LO.RWX) !== 0,
  leaf: (lo, level) => level === 1 || (level <= 3 && (lo & EPTE_LO.LARGE) !== 0),
  readOnly: (lo) => (lo & ~EPTE_LO.W) >>> 0,
};

const identity = (a: number): number => a;

function index(level: number, gpa: number): number {
  return x86TableIndex(level, highHalf(gpa), gpa >>> 0);
}

/** Attributes of an EPT mapping. */
export interface EptMapOptions {
  /** 4096, 2 MiB or 1 GiB. Default 4096. */
  pageSize?: number;
  /** Bits 2:0 (R, W, X). Default 7. */
  permissions?: number;
  /** Leaf memory type (bits 5:3). Default WB (6). */
  memoryType?: number;
  /** Sets IPAT (bit 6): the leaf's memory type overrides the guest PAT. Default false. */
  ignorePat?: boolean;
  /** Sets the accessed flag (bit 8). Default false. */
  accessed?: boolean;
  /** Sets the dirty flag (bit 9). Default false. */
  dirty?: boolean;
  /** Permissions of paging-structure entries created on the way. Default 7. */
  tablePermissions?: number;
}

const LEVELS = [4, 5] as const;

/** Writes EPT paging structures. */
export class EptBuilder {
  /** Host-physical address of the EPT PML4 (PML5) table. */
  readonly root: number;

  /** Allocates a fresh root table; `root` (see {@link EptBuilder.attach}) uses an existing one instead. */
  constructor(
    private readonly memory: Memory,
    private readonly allocator: PageAllocator,
    /** EPT levels of the tree: 4, or 5 (EPTP walk length 4). */
    readonly levels: 4 | 5 = 4,
    root?: number,
  ) {
    if (!(LEVELS as readonly number[]).includes(levels)) throw new MmuUsageError('bad-argument', `levels must be 4 or 5, got ${String(levels)}`);
    if (root === undefined) {
      this.root = this.newTable();
    } else {
      checkRoot(memory, root, identity, 'EPT');
      this.root = root;
    }
  }

  /**
   * A builder over EPT tables that already exist at `root` (after a
   * restore): nothing is allocated or written. Restore the allocator's own
   * state so new tables do not reuse pages in use.
   */
  static attach(memory: Memory, allocator: PageAllocator, root: number, levels: 4 | 5 = 4): EptBuilder {
    return new EptBuilder(memory, allocator, levels, root);
  }

  /** Clears the leaf (or the entry at `level`) that maps `gpa`, if the tables above exist. */
  unmap(gpa: number, level = 1): void {
    const a = this.existingEntry(gpa, level);
    if (a >= 0) this.write(a, 0, 0);
  }

  /** Host address of the entry at `level` for `gpa` if the tables above it exist, else -1. */
  existingEntry(gpa: number, level: number): number {
    let table = this.root;
    for (let l = this.levels; l > level; l--) {
      const a = table + index(l, gpa) * 8;
      const elo = this.memory.read32(a);
      if ((elo & EPTE_LO.RWX) === 0 || (elo & EPTE_LO.LARGE) !== 0) return -1;
      table = entryAddress(elo, this.memory.read32(a + 4));
    }
    return table + index(level, gpa) * 8;
  }

  /** Clears every leaf overlapping `[gpa, gpa + size)` (a large leaf overlapping partly goes whole). Returns the entries cleared. */
  unmapRange(gpa: number, size: number): number {
    checkRange(gpa, size, 'unmap range');
    return editRange(this.space(), EPT_FORMAT, this.root, this.levels, gpa, gpa + size, 'unmap');
  }

  /** Clears W in every leaf overlapping `[gpa, gpa + size)` (dirty logging: the next write is an EPT violation). Returns the entries changed. */
  writeProtect(gpa: number, size: number): number {
    checkRange(gpa, size, 'write-protect range');
    return editRange(this.space(), EPT_FORMAT, this.root, this.levels, gpa, gpa + size, 'write-protect');
  }

  /**
   * Removes every mapping in `[gpa, gpa + size)` and frees the tables wholly
   * inside it (a memslot delete or move). Returns the entries cleared. The
   * caller then invalidates (INVEPT) as the architecture requires.
   */
  zapRange(gpa: number, size: number): number {
    checkRange(gpa, size, 'zap range');
    return editRange(this.space(), EPT_FORMAT, this.root, this.levels, gpa, gpa + size, 'zap');
  }

  private space(): { memory: Memory; toHost: (a: number) => number; allocator: PageAllocator } {
    return { memory: this.memory, toHost: identity, allocator: this.allocator };
  }

  /** The EPTP for these tables: WB paging structures, the walk length, and bit 6 when `accessedDirty`. */
  eptp(accessedDirty = false): bigint {
    return BigInt(this.root) | BigInt(EPT_MEMORY_TYPE.WB) | (BigInt(this.levels - 1) << 3n) | (accessedDirty ? 0x40n : 0n);
  }

  /** Maps guest-physical `gpa` to host-physical `hpa`. */
  map(gpa: number, hpa: number, options: EptMapOptions = {}): void {
    const size = options.pageSize ?? 4096;
    const leafLevel = checkPageMapping(size, gpa, hpa, ['gpa', 'hpa']);
    const a = this.entryFor(gpa, leafLevel, options.tablePermissions ?? 7);
    let lo = (options.permissions ?? 7) & 7;
    lo |= ((options.memoryType ?? EPT_MEMORY_TYPE.WB) & 7) << EPTE_LO.MEMORY_TYPE_SHIFT;
    if (options.ignorePat ?? false) lo |= EPTE_LO.IGNORE_PAT;
    if (options.accessed ?? false) lo |= EPTE_LO.A;
    if (options.dirty ?? false) lo |= EPTE_LO.D;
    if (leafLevel > 1) lo |= EPTE_LO.LARGE;
    this.write(a, (lo | (hpa % TWO_32)) >>> 0, highHalf(hpa));
  }

  /** Identity-maps `[start, start + size)` with 4 KiB pages (or `pageSize`). */
  identityMap(start: number, size: number, options: EptMapOptions = {}): void {
    const step = options.pageSize ?? 4096;
    for (let a = start; a < start + size; a += step) this.map(a, a, options);
  }

  /** Host address of the entry at `level` for `gpa`, creating tables above it. */
  entryFor(gpa: number, level: number, tablePermissions = 7): number {
    let table = this.root;
    for (let l = this.levels; l > level; l--) {
      const a = table + index(l, gpa) * 8;
      const elo = this.memory.read32(a);
      const ehi = this.memory.read32(a + 4);
      if ((elo & EPTE_LO.RWX) === 0 || (elo & EPTE_LO.LARGE) !== 0) {
        const next = this.newTable();
        this.write(a, ((tablePermissions & 7) | next % TWO_32) >>> 0, highHalf(next));
        table = next;
      } else {
        table = entryAddress(elo, ehi);
      }
    }
    return table + index(level, gpa) * 8;
  }

  /** Writes an entry as two halves. */
  write(address: number, lo: number, hi: number): void {
    this.memory.write32(address, lo >>> 0);
    this.memory.write32(address + 4, hi >>> 0);
  }

  private newTable(): number {
    const t = this.allocator.allocate();
    zeroPage(this.memory, t);
    return t;
  }
}
