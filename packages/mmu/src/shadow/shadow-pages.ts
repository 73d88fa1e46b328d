/**
 * The shadow MMU's bookkeeping (kvm.md 5d): shadow pages keyed by the guest
 * table they shadow (gfn, level) or, for a guest large page split into 4 KiB
 * pieces, by the large page and its leaf attributes ("direct" pages); the
 * reverse map from a guest frame to the leaf sptes that map it; and the set
 * of write-protected guest frames (those holding shadowed guest tables).
 */
import type { PhysicalMemory } from '@hvsim/core';
import { entryAddress } from '../common/address.js';
import type { PageAllocator } from '../common/page-allocator.js';
import { PTE_LO } from '../x86/regs.js';

const { P, RW } = PTE_LO;

/** One page of shadow paging structures in host memory. */
export class ShadowPage {
  /** Sptes in other shadow pages (host addresses) that point here. */
  readonly parents: number[] = [];
  /** Guest frame mapped by each leaf spte (-1: none), for the reverse map. */
  readonly leafGfn = new Float64Array(512).fill(-1);
  /** Times this page is the root of a cached guest CR3. */
  rootRefs = 0;

  constructor(
    readonly hpa: number,
    readonly key: number,
    /** Guest frame of the shadowed table, or first frame of the large page for a direct page. */
    readonly gfn: number,
    readonly level: number,
    readonly direct: boolean,
  ) {}
}

/**
 * Key of a shadow page: frame and level, and for a direct page also its
 * `role` (0..511: the guest large leaf's bits the 4 KiB sptes copy, see
 * `ShadowMmu`). Direct keys are negative so the two kinds never collide.
 */
export function shadowKey(gfn: number, level: number, direct: boolean, role: number): number {
  return direct ? -(gfn * 4096 + role * 8 + level) - 1 : gfn * 4096 + level;
}

/** Shadow pages, reverse map and write protection. */
export class ShadowPageStore {
  private readonly byKey = new Map<number, ShadowPage>();
  private readonly byHpa = new Map<number, ShadowPage>();
  /** Non-direct shadow pages per guest frame (the frame is write-protected while any exist). */
  private readonly byGfn = new Map<number, ShadowPage[]>();
  /** Leaf sptes (host addresses) per guest frame. */
  private readonly rmap = new Map<number, number[]>();
  /** Pages created since the start. */
  created = 0;
  /** Leaf sptes made read-only when their frame became a shadowed table. */
  writeProtected = 0;

  constructor(
    private readonly memory: PhysicalMemory,
    private readonly allocator: PageAllocator,
  ) {}

  get count(): number {
    return this.byKey.size;
  }

  get(key: number): ShadowPage | undefined {
    return this.byKey.get(key);
  }

  atHpa(hpa: number): ShadowPage | undefined {
    return this.byHpa.get(hpa);
  }

  /** Non-direct shadow pages of guest frame `gfn`. */
  ofGfn(gfn: number): readonly ShadowPage[] | undefined {
    return this.byGfn.get(gfn);
  }

  /** True when `gfn` holds a shadowed guest table (writes to it must be emulated). */
  isProtected(gfn: number): boolean {
    return this.byGfn.has(gfn);
  }

  /** Creates a page, or returns undefined when the allocator is exhausted. */
  create(gfn: number, level: number, direct: boolean, role: number): ShadowPage | undefined {
    const hpa = this.allocator.tryAllocate();
    if (hpa < 0) return undefined;
    this.memory.fill(hpa, 4096, 0);
    const key = shadowKey(gfn, level, direct, role);
    const page = new ShadowPage(hpa, key, gfn, level, direct);
    this.byKey.set(key, page);
    this.byHpa.set(hpa, page);
    this.created++;
    if (!direct) {
      const list = this.byGfn.get(gfn);
      if (list === undefined) {
        this.byGfn.set(gfn, [page]);
        this.protect(gfn);
      } else {
        list.push(page);
      }
    }
    return page;
  }

  /** Records that leaf spte `spte` (in `page`, entry `index`) maps `gfn`. */
  addLeaf(page: ShadowPage, index: number, spte: number, gfn: number): void {
    const old = page.leafGfn[index] ?? -1;
    if (old === gfn) return;
    if (old >= 0) this.removeRmap(old, spte);
    page.leafGfn[index] = gfn;
    const list = this.rmap.get(gfn);
    if (list === undefined) this.rmap.set(gfn, [spte]);
    else list.push(spte);
  }

  /**
   * Clears spte `index` of `page`: a leaf leaves the reverse map; a link to a
   * child shadow page is removed from the child's parents (the child stays
   * cached, still shadowing its table).
   */
  zapEntry(page: ShadowPage, index: number): boolean {
    const spte = page.hpa + index * 8;
    const lo = this.memory.read32(spte);
    if ((lo & P) === 0) return false;
    const gfn = page.leafGfn[index] ?? -1;
    if (gfn >= 0) {
      this.removeRmap(gfn, spte);
      page.leafGfn[index] = -1;
    } else {
      const hi = this.memory.read32(spte + 4);
      const child = this.byHpa.get(entryAddress(lo, hi));
      if (child !== undefined) removeValue(child.parents, spte);
    }
    this.memory.write32(spte, 0);
    this.memory.write32(spte + 4, 0);
    return true;
  }

  /** Frees a page: its entries, the links to it, its protection. */
  free(page: ShadowPage): void {
    for (let i = 0; i < 512; i++) this.zapEntry(page, i);
    for (const spte of [...page.parents]) {
      this.memory.write32(spte, 0);
      this.memory.write32(spte + 4, 0);
    }
    page.parents.length = 0;
    this.byKey.delete(page.key);
    this.byHpa.delete(page.hpa);
    if (!page.direct) {
      const list = this.byGfn.get(page.gfn);
      if (list !== undefined) {
        removeValue(list, page);
        if (list.length === 0) this.byGfn.delete(page.gfn);
      }
    }
    this.allocator.release(page.hpa);
  }

  /** Frees everything (the allocator is reset). */
  clear(): void {
    this.byKey.clear();
    this.byHpa.clear();
    this.byGfn.clear();
    this.rmap.clear();
    this.allocator.reset();
  }

  /** Every page (for zapping). */
  pages(): ShadowPage[] {
    return [...this.byKey.values()];
  }

  /** Makes every leaf spte mapping `gfn` read-only (SDM: R/W = 0 makes writes fault). */
  private protect(gfn: number): void {
    const list = this.rmap.get(gfn);
    if (list === undefined) return;
    for (const spte of list) {
      const lo = this.memory.read32(spte);
      if ((lo & RW) !== 0) {
        this.memory.write32(spte, (lo & ~RW) >>> 0);
        this.writeProtected++;
      }
    }
  }

  private removeRmap(gfn: number, spte: number): void {
    const list = this.rmap.get(gfn);
    if (list === undefined) return;
    removeValue(list, spte);
    if (list.length === 0) this.rmap.delete(gfn);
  }
}

function removeValue<T>(list: T[], value: T): void {
  const i = list.indexOf(value);
  if (i < 0) return;
  const last = list.pop();
  if (i < list.length && last !== undefined) list[i] = last;
}
