/**
 * Paging-structure caches (SDM 3A 4.10.3): for each non-leaf level (PML5E,
 * PML4E, PDPTE, PDE), entries keyed by the linear-address bits that select
 * that entry, holding the physical address of the next paging structure and
 * the R/W, U/S and XD rights accumulated down to it. A TLB miss that hits
 * here starts the walk lower (a PDE-cache hit reads only the PTE). Entries
 * carry the same VPID, PCID and EP4TA tags as TLB entries and are dropped by
 * the same operations (4.10.4.1).
 */
import { MmuUsageError } from '../common/mmu-error.js';

/** Per-level direct-mapped caches for levels 2 (PDE) to 5 (PML5E). */
export class PagingStructureCache {
  /** Lookups that found an entry. */
  hits = 0;
  /** Entries filled. */
  fills = 0;

  /** Entries each level's cache holds (a power of two, 1..4096). */
  readonly entriesPerLevel: number;
  private readonly valid: Uint8Array;
  private readonly key: Float64Array;
  private readonly vpid: Uint16Array;
  private readonly pcid: Uint16Array;
  private readonly ep4ta: Float64Array;
  private readonly table: Float64Array;
  private readonly perms: Uint8Array;

  constructor(entriesPerLevel = 16) {
    if (!Number.isInteger(entriesPerLevel) || entriesPerLevel < 1 || (entriesPerLevel & (entriesPerLevel - 1)) !== 0 || entriesPerLevel > 4096) {
      throw new MmuUsageError('bad-argument', `paging-structure cache entries per level must be a power of two up to 4096, got ${String(entriesPerLevel)}`);
    }
    this.entriesPerLevel = entriesPerLevel;
    const n = entriesPerLevel * 4;
    this.valid = new Uint8Array(n);
    this.key = new Float64Array(n);
    this.vpid = new Uint16Array(n);
    this.pcid = new Uint16Array(n);
    this.ep4ta = new Float64Array(n);
    this.table = new Float64Array(n);
    this.perms = new Uint8Array(n);
  }

  /**
   * The key of the level-`level` entry for `hi:lo`: linear bits 47 (56 with
   * LA57) down to 12 + 9 * (level - 1).
   */
  static keyOf(level: number, hi: number, lo: number, la57: boolean): number {
    const h = hi & (la57 ? 0x1ff_ffff : 0xffff);
    switch (level) {
      case 2:
        return h * 0x800 + (lo >>> 21);
      case 3:
        return h * 4 + (lo >>> 30);
      case 4:
        return h >>> 7;
      default:
        return h >>> 16;
    }
  }

  /** Index of the matching entry of `level`, or -1. */
  lookup(level: number, vpid: number, pcid: number, ep4ta: number, key: number): number {
    const i = this.slot(level, key);
    if (this.valid[i] === 1 && this.key[i] === key && this.vpid[i] === vpid && this.pcid[i] === pcid && this.ep4ta[i] === ep4ta) {
      this.hits++;
      return i;
    }
    return -1;
  }

  /** Physical address of the next paging structure held by entry `i`. */
  tableOf(i: number): number {
    return this.table[i] ?? 0;
  }

  /** Accumulated rights of entry `i` (bit 0 R/W, 1 U/S, 2 not-XD). */
  permissionsOf(i: number): number {
    return this.perms[i] ?? 0;
  }

  /** Caches the level-`level` entry for `key`. */
  fill(level: number, vpid: number, pcid: number, ep4ta: number, key: number, table: number, permissions: number): void {
    const i = this.slot(level, key);
    this.valid[i] = 1;
    this.key[i] = key;
    this.vpid[i] = vpid;
    this.pcid[i] = pcid;
    this.ep4ta[i] = ep4ta;
    this.table[i] = table;
    this.perms[i] = permissions;
    this.fills++;
  }

  /** Drops the entries of `vpid` tagged with `pcid` (every PCID when `pcid` is -1). */
  invalidate(vpid: number, pcid: number): void {
    for (let i = 0; i < this.valid.length; i++) if (this.vpid[i] === vpid && (pcid === -1 || this.pcid[i] === pcid)) this.valid[i] = 0;
  }

  /** Drops entries whose tags satisfy `match(vpid, pcid, ep4ta)`. */
  invalidateWhere(match: (vpid: number, pcid: number, ep4ta: number) => boolean): void {
    for (let i = 0; i < this.valid.length; i++) if (this.valid[i] === 1 && match(this.vpid[i] ?? 0, this.pcid[i] ?? 0, this.ep4ta[i] ?? 0)) this.valid[i] = 0;
  }

  /** Valid entries. */
  get size(): number {
    let n = 0;
    for (const v of this.valid) n += v;
    return n;
  }

  private slot(level: number, key: number): number {
    return (level - 2) * this.entriesPerLevel + (key & (this.entriesPerLevel - 1));
  }
}
