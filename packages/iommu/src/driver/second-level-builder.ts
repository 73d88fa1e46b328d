/**
 * Builds VT-d second-level page tables (VT-d 3.7, 9.8) in memory, the way an
 * OS driver does for a domain (Linux's intel-iommu `domain_pfn_mapping` /
 * `dma_pte_clear_range`): 3- or 4-level tables of 512 8-byte entries, leaves
 * of 4 KiB, 2 MiB (PDE with PS) or 1 GiB (PDPE with PS), R and W per entry;
 * non-leaf entries carry R and W so the leaf decides. This is software: the
 * model's IOTLB keeps what it cached until the driver invalidates it.
 */
import { UsageError, assertInteger, assertOptions, describeValue, hi32, lo32, type Memory } from '@hvsim/core';
import { TABLE_PAGE, type TablePageSource } from './page-source.js';

/** Page sizes a second-level leaf can map (CAP.SLLPS: 2 MiB and 1 GiB). */
export const SL_PAGE_SIZE = {
  /** 4 KiB: a PTE leaf. */
  SIZE_4K: 0x1000,
  /** 2 MiB: a PDE leaf (CAP.SLLPS bit 0). */
  SIZE_2M: 0x20_0000,
  /** 1 GiB: a PDPE leaf (CAP.SLLPS bit 1). */
  SIZE_1G: 0x4000_0000,
} as const;

/** Options of {@link SecondLevelTableBuilder.map}. */
export interface SecondLevelMapOptions {
  /** 4 KiB (default), 2 MiB or 1 GiB. */
  pageSize?: number;
  /** Device reads allowed (default true). */
  read?: boolean;
  /** Device writes allowed (default true). */
  write?: boolean;
}

/** What {@link SecondLevelTableBuilder.lookup} found for an IOVA. */
export interface SecondLevelMapping {
  /** Host-physical address the IOVA maps to. */
  physical: number;
  /** Size of the leaf that maps it. */
  pageSize: number;
  /** R: device reads are allowed. */
  read: boolean;
  /** W: device writes are allowed. */
  write: boolean;
}

const R = 1;
const W = 2;
const PS = 0x80;
/** Bits of a level's index: 12 + 9 × (level − 1). */
const SHIFT = [0, 12, 21, 30, 39];
/** Input address limit by depth (AGAW 39 or 48). */
const LIMIT = [0, 0, 0, 2 ** 39, 2 ** 48];

function levelOf(pageSize: number): number {
  return pageSize === SL_PAGE_SIZE.SIZE_4K ? 1 : pageSize === SL_PAGE_SIZE.SIZE_2M ? 2 : pageSize === SL_PAGE_SIZE.SIZE_1G ? 3 : 0;
}

function index(iova: number, level: number): number {
  return Math.floor(iova / 2 ** SHIFT[level]!) % 512;
}

/** Second-level tables of one domain. */
export class SecondLevelTableBuilder {
  /** Address of the top-level table (the context entry's SLPTPTR). */
  readonly root: number;
  /** Depth: 3 (39-bit AGAW, context AW = 1) or 4 (48-bit AGAW, AW = 2). */
  readonly levels: 3 | 4;

  /**
   * New tables (a fresh root from `pages`), or, with `root`, the tables
   * already at that address (re-attaching after a restore).
   */
  constructor(
    private readonly memory: Memory,
    private readonly pages: TablePageSource,
    options: { levels?: 3 | 4; root?: number } = {},
  ) {
    assertOptions(options, ['levels', 'root'], 'SecondLevelTableBuilder');
    const levels: number = options.levels ?? 4; // callers from plain JavaScript may pass anything
    if (levels !== 3 && levels !== 4) throw new UsageError('bad-argument', `second-level tables have 3 or 4 levels, got ${describeValue(levels)}`);
    this.levels = levels;
    if (options.root !== undefined) {
      checkTablePage(options.root, 'second-level root');
      this.root = options.root;
    } else {
      this.root = this.newTable();
    }
  }

  /** Context-entry AW for these tables (VT-d 9.3): 1 = 39-bit, 2 = 48-bit. */
  get addressWidth(): number {
    return this.levels === 3 ? 1 : 2;
  }

  /** Largest IOVA + 1 these tables can map. */
  get limit(): number {
    return LIMIT[this.levels]!;
  }

  /** Maps the page at `iova` to `physical`; the page must not be mapped already (as VFIO answers EEXIST). */
  map(iova: number, physical: number, options: SecondLevelMapOptions = {}): void {
    assertOptions(options, ['pageSize', 'read', 'write'], 'second-level map');
    const size = options.pageSize ?? SL_PAGE_SIZE.SIZE_4K;
    const leaf = levelOf(size);
    if (leaf === 0) throw new UsageError('bad-argument', `second-level page size must be 4 KiB, 2 MiB or 1 GiB, got ${describeValue(size)}`);
    this.checkRange(iova, size);
    assertInteger(physical, 'physical address', 0, 2 ** 48 - size);
    if (physical % size !== 0 || iova % size !== 0) {
      throw new UsageError('bad-argument', `IOVA 0x${iova.toString(16)} and physical address 0x${physical.toString(16)} must be aligned to the page size 0x${size.toString(16)}`);
    }
    const at = this.entryFor(iova, leaf);
    if ((this.memory.read32(at) & (R | W)) !== 0) throw new UsageError('bad-state', `IOVA 0x${iova.toString(16)} is already mapped`);
    const perm = (options.read === false ? 0 : R) | (options.write === false ? 0 : W);
    if (perm === 0) throw new UsageError('bad-argument', `a mapping of IOVA 0x${iova.toString(16)} needs read or write permission`);
    this.write(at, (lo32(physical) | perm | (leaf > 1 ? PS : 0)) >>> 0, hi32(physical));
  }

  /**
   * Maps `[iova, iova + size)` to `[physical, physical + size)` with the
   * largest pages alignment allows (as `domain_pfn_mapping` picks superpages).
   */
  mapRange(iova: number, physical: number, size: number, options: Omit<SecondLevelMapOptions, 'pageSize'> = {}): void {
    this.checkRange(iova, size);
    if (iova % TABLE_PAGE !== 0 || physical % TABLE_PAGE !== 0 || size % TABLE_PAGE !== 0 || size === 0) {
      throw new UsageError('bad-argument', `IOVA 0x${iova.toString(16)}, physical 0x${physical.toString(16)} and size 0x${size.toString(16)} must be non-zero multiples of 4 KiB`);
    }
    let done = 0;
    while (done < size) {
      const a = iova + done;
      const p = physical + done;
      const left = size - done;
      let step: number = SL_PAGE_SIZE.SIZE_4K;
      for (const candidate of [SL_PAGE_SIZE.SIZE_1G, SL_PAGE_SIZE.SIZE_2M]) {
        if (a % candidate === 0 && p % candidate === 0 && left >= candidate) {
          step = candidate;
          break;
        }
      }
      this.map(a, p, { ...options, pageSize: step });
      done += step;
    }
  }

  /**
   * Clears the leaves mapping `[iova, iova + size)`; a large page must be
   * unmapped whole. Returns the bytes that were mapped. The caller invalidates
   * the IOTLB afterwards (page-selective, VT-d 6.5.1.2).
   */
  unmap(iova: number, size: number): number {
    this.checkRange(iova, size);
    if (iova % TABLE_PAGE !== 0 || size % TABLE_PAGE !== 0) {
      throw new UsageError('bad-argument', `IOVA 0x${iova.toString(16)} and size 0x${size.toString(16)} must be multiples of 4 KiB`);
    }
    let at = iova;
    let unmapped = 0;
    const end = iova + size;
    while (at < end) {
      const found = this.leafOf(at);
      if (found.entry < 0) {
        at = Math.floor(at / found.span) * found.span + found.span;
        continue;
      }
      const base = Math.floor(at / found.span) * found.span;
      if (base < iova || base + found.span > end) {
        throw new UsageError('bad-argument', `unmapping [0x${iova.toString(16)}, 0x${end.toString(16)}) would split the ${found.span >>> 10} KiB page at 0x${base.toString(16)}`);
      }
      this.write(found.entry, 0, 0);
      unmapped += found.span;
      at = base + found.span;
    }
    return unmapped;
  }

  /** The mapping of `iova`, read from the tables (software walk), or undefined. */
  lookup(iova: number): SecondLevelMapping | undefined {
    this.checkRange(iova, 1);
    const found = this.leafOf(iova);
    if (found.entry < 0) return undefined;
    const lo = this.memory.read32(found.entry);
    const hi = this.memory.read32(found.entry + 4);
    const frame = (hi & 0xffff) * 0x1_0000_0000 + ((lo & 0xffff_f000) >>> 0);
    return { physical: frame + (iova % found.span), pageSize: found.span, read: (lo & R) !== 0, write: (lo & W) !== 0 };
  }

  /** The leaf entry address for `iova` (-1 when unmapped) and the span it (or the hole) covers. */
  private leafOf(iova: number): { entry: number; span: number } {
    let table = this.root;
    for (let level: number = this.levels; level >= 1; level--) {
      const at = table + index(iova, level) * 8;
      const lo = this.memory.read32(at);
      const span = 2 ** SHIFT[level]!;
      if ((lo & (R | W)) === 0) return { entry: -1, span };
      if (level === 1 || (lo & PS) !== 0) return { entry: at, span };
      table = (this.memory.read32(at + 4) & 0xffff) * 0x1_0000_0000 + ((lo & 0xffff_f000) >>> 0);
    }
    return { entry: -1, span: TABLE_PAGE };
  }

  /** Address of the entry at `leaf` level for `iova`, creating tables above it. */
  private entryFor(iova: number, leaf: number): number {
    let table = this.root;
    for (let level: number = this.levels; level > leaf; level--) {
      const at = table + index(iova, level) * 8;
      const lo = this.memory.read32(at);
      if ((lo & (R | W)) === 0) {
        const next = this.newTable();
        this.write(at, (lo32(next) | R | W) >>> 0, hi32(next));
        table = next;
      } else if ((lo & PS) !== 0) {
        throw new UsageError('bad-state', `IOVA 0x${iova.toString(16)} lies in a large page already mapped`);
      } else {
        table = (this.memory.read32(at + 4) & 0xffff) * 0x1_0000_0000 + ((lo & 0xffff_f000) >>> 0);
      }
    }
    return table + index(iova, leaf) * 8;
  }

  private checkRange(iova: number, size: number): void {
    assertInteger(iova, 'IOVA', 0, this.limit - 1);
    assertInteger(size, 'size', 1, this.limit - iova);
  }

  private newTable(): number {
    const page = this.pages.allocate();
    checkTablePage(page, 'table page from the page source');
    this.memory.writeBytes(page, ZERO_PAGE);
    return page;
  }

  private write(at: number, lo: number, hi: number): void {
    this.memory.write32(at, lo);
    this.memory.write32(at + 4, hi);
  }
}

const ZERO_PAGE = new Uint8Array(TABLE_PAGE);

/** A 4 KiB-aligned address below the 48-bit host address width. */
export function checkTablePage(page: number, what: string): void {
  assertInteger(page, what, 0, 2 ** 48 - TABLE_PAGE);
  if (page % TABLE_PAGE !== 0) throw new UsageError('bad-argument', `${what} must be 4 KiB aligned, got 0x${page.toString(16)}`);
}
