/**
 * The shadow MMU's bookkeeping (Linux Documentation/virt/kvm/x86/mmu.rst): shadow pages found by the guest
 * frame they shadow and their role (as KVM's `kvm_mmu_find_shadow_page`
 * hashes by gfn and compares `kvm_mmu_page_role`), the reverse map from a
 * guest frame to the leaf sptes that map it, and the set of write-protected
 * guest frames (those holding shadowed guest tables). It also notes when a
 * present spte was dropped or lost rights, so the owner can ask for a TLB
 * flush (KVM's remote TLB flush).
 */
import type { Memory } from '@hvsim/core';
import { entryAddress } from '../common/address.js';
import { zeroPage } from '../common/memory-access.js';
import type { PageAllocator } from '../common/page-allocator.js';
import { PTE_LO } from '../x86/regs.js';

const { P, RW } = PTE_LO;

/**
 * Bits of a shadow page's role (after KVM's `kvm_mmu_page_role`): the level,
 * whether it is a direct page (a piece of a guest large page, no guest table
 * behind it), the guest paging-mode bits the page was built under, and for
 * direct pages the guest leaf's attributes the 4 KiB sptes copy (`ACCESS`,
 * 9 bits). Pages of the same guest frame with different roles coexist.
 * Unlike KVM, non-leaf sptes here copy the guest entry's R/W, U/S and XD
 * (the hardware combines them level by level), so an indirect page does not
 * depend on the access rights of the path above it and its role carries no
 * parent access.
 */
export const SHADOW_ROLE = {
  /** Bits 2:0: the level (1 = PT ... 5 = PML5). Value `0x7`. */
  LEVEL: 0x7,
  /** A direct page. Value `0x8`. */
  DIRECT: 0x8,
  /** Built with guest CR0.WP = 1. Value `0x10`. */
  CR0_WP: 0x10,
  /** Built with guest IA32_EFER.NXE = 1 (XD is not a reserved bit). Value `0x20`. */
  EFER_NX: 0x20,
  /** CR4.SMEP = 1 and CR0.WP = 0. Value `0x40`. */
  SMEP_ANDNOT_WP: 0x40,
  /** CR4.SMAP = 1 and CR0.WP = 0. Value `0x80`. */
  SMAP_ANDNOT_WP: 0x80,
  /** Shift of the direct page's leaf attributes (PK 3:0, G 4, D 5, PWT 6, PCD 7, PAT 8). */
  ACCESS_SHIFT: 8,
} as const;

/** One page of shadow paging structures in host memory. */
export class ShadowPage {
  /** Sptes in other shadow pages (host addresses) that point here. */
  readonly parents: number[] = [];
  /** Guest frame mapped by each leaf spte (-1: none), for the reverse map. */
  readonly leafGfn = new Float64Array(512).fill(-1);
  /** Times this page is the root of a cached guest CR3 (over every vCPU). */
  rootRefs = 0;

  constructor(
    readonly hpa: number,
    /** Guest frame of the shadowed table, or first frame of the large page for a direct page. */
    readonly gfn: number,
    /** {@link SHADOW_ROLE} bits. */
    readonly role: number,
  ) {}

  /** Level of the page (1 = PT). */
  get level(): number {
    return this.role & SHADOW_ROLE.LEVEL;
  }

  /** True for a direct page. */
  get direct(): boolean {
    return (this.role & SHADOW_ROLE.DIRECT) !== 0;
  }
}

/** Shadow pages, reverse map and write protection. */
export class ShadowPageStore {
  /** Every page by guest frame (roles tell them apart). */
  private readonly hash = new Map<number, ShadowPage[]>();
  private readonly byHpa = new Map<number, ShadowPage>();
  /** Non-direct shadow pages per guest frame (the frame is write-protected while any exist). */
  private readonly byGfn = new Map<number, ShadowPage[]>();
  /** Leaf sptes (host addresses) per guest frame. */
  private readonly rmap = new Map<number, number[]>();
  private pageCount = 0;
  /** Pages created since the start. */
  created = 0;
  /** Leaf sptes made read-only when their frame became a shadowed table. */
  writeProtected = 0;
  /** Set when a present spte was cleared or lost rights: TLBs may hold what is gone. */
  flushNeeded = false;

  constructor(
    private readonly memory: Memory,
    private readonly allocator: PageAllocator,
  ) {}

  get count(): number {
    return this.pageCount;
  }

  /** The page of `gfn` with `role`, if any. */
  get(gfn: number, role: number): ShadowPage | undefined {
    const list = this.hash.get(gfn);
    if (list === undefined) return undefined;
    for (const page of list) if (page.role === role) return page;
    return undefined;
  }

  /** Every page of `gfn`, any role (direct pieces included). */
  pagesOf(gfn: number): readonly ShadowPage[] {
    return this.hash.get(gfn) ?? [];
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
  create(gfn: number, role: number): ShadowPage | undefined {
    const hpa = this.allocator.tryAllocate();
    if (hpa < 0) return undefined;
    zeroPage(this.memory, hpa);
    const page = new ShadowPage(hpa, gfn, role);
    const same = this.hash.get(gfn);
    if (same === undefined) this.hash.set(gfn, [page]);
    else same.push(page);
    this.byHpa.set(hpa, page);
    this.pageCount++;
    this.created++;
    if (!page.direct) {
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
   * cached, still shadowing its table). `flush` = false for a zap that needs
   * no remote flush (INVLPG's, of an spte equal to the guest entry).
   */
  zapEntry(page: ShadowPage, index: number, flush = true): boolean {
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
    if (flush) this.flushNeeded = true;
    return true;
  }

  /** Frees a page: its entries, the links to it, its protection. */
  free(page: ShadowPage): void {
    for (let i = 0; i < 512; i++) this.zapEntry(page, i);
    for (const spte of [...page.parents]) {
      this.memory.write32(spte, 0);
      this.memory.write32(spte + 4, 0);
      this.flushNeeded = true;
    }
    page.parents.length = 0;
    const same = this.hash.get(page.gfn);
    if (same !== undefined) {
      removeValue(same, page);
      if (same.length === 0) this.hash.delete(page.gfn);
    }
    this.byHpa.delete(page.hpa);
    this.pageCount--;
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
    if (this.pageCount > 0) this.flushNeeded = true;
    this.hash.clear();
    this.byHpa.clear();
    this.byGfn.clear();
    this.rmap.clear();
    this.pageCount = 0;
    this.allocator.reset();
  }

  /** Write-protects `gfn` as a shadowed guest table: its leaf sptes lose write access (counted in {@link writeProtected}). */
  private protect(gfn: number): void {
    this.writeProtected += this.removeWriteAccess(gfn);
  }

  /**
   * Makes every leaf spte mapping `gfn` read-only (SDM 3A 4.6: R/W = 0 makes
   * writes fault) and notes the flush that needs; returns how many lost
   * write access (KVM's rmap write protection, `rmap_write_protect`).
   */
  removeWriteAccess(gfn: number): number {
    const list = this.rmap.get(gfn);
    if (list === undefined) return 0;
    let n = 0;
    for (const spte of list) {
      const lo = this.memory.read32(spte);
      if ((lo & RW) !== 0) {
        this.memory.write32(spte, (lo & ~RW) >>> 0);
        n++;
        this.flushNeeded = true;
      }
    }
    return n;
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
