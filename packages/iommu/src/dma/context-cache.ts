/**
 * The context cache (VT-d 6.2.1 "Context-Cache"): decoded context entries by
 * source ID. Entries are filled only from present, valid entries (CM = 0)
 * and stay in use until a context-cache invalidation (register-based CCMD or
 * a context-cache invalidate descriptor) removes them, even when software
 * has changed the entry in memory meanwhile, as on hardware.
 */
import { ignoredFunctionBits } from '../source-id.js';

/** Saved form: one row per cached source ID. */
export type ContextCacheState = [sid: number, did: number, translationType: number, fpd: number, levels: number, table: number][];

const SOURCE_IDS = 0x1_0000;

/** Context cache indexed by the 16-bit source ID. */
export class ContextCache {
  readonly valid = new Uint8Array(SOURCE_IDS);
  readonly did = new Uint16Array(SOURCE_IDS);
  readonly translationType = new Uint8Array(SOURCE_IDS);
  readonly fpd = new Uint8Array(SOURCE_IDS);
  /** Page-table depth (3 or 4; 0 for pass-through). */
  readonly levels = new Uint8Array(SOURCE_IDS);
  /** Second-level page-table root. */
  readonly table = new Float64Array(SOURCE_IDS);
  private count = 0;

  /** Number of cached entries. */
  get size(): number {
    return this.count;
  }

  fill(sid: number, did: number, translationType: number, fpd: number, levels: number, table: number): void {
    if (this.valid[sid] === 0) this.count++;
    this.valid[sid] = 1;
    this.did[sid] = did;
    this.translationType[sid] = translationType;
    this.fpd[sid] = fpd;
    this.levels[sid] = levels;
    this.table[sid] = table;
  }

  /** Global invalidation. */
  invalidateAll(): void {
    if (this.count === 0) return;
    this.valid.fill(0);
    this.count = 0;
  }

  /** Domain-selective invalidation. */
  invalidateDomain(did: number): void {
    if (this.count === 0) return;
    for (let sid = 0; sid < SOURCE_IDS; sid++) if (this.valid[sid] === 1 && this.did[sid] === did) this.drop(sid);
  }

  /**
   * Device-selective invalidation (VT-d 6.5.1.1): the source ID with function
   * mask FM (0 none, 1 bit 2, 2 bits 2:1, 3 bits 2:0 of the function number ignored).
   */
  invalidateDevice(sid: number, functionMask: number): void {
    const ignore = ignoredFunctionBits(functionMask);
    const base = sid & ~ignore & 0xffff;
    for (let s = base; s <= (base | ignore); s++) if ((s & ~ignore) === base && this.valid[s] === 1) this.drop(s);
  }

  saveState(): ContextCacheState {
    const rows: ContextCacheState = [];
    for (let sid = 0; sid < SOURCE_IDS && rows.length < this.count; sid++) {
      if (this.valid[sid] === 1) rows.push([sid, this.did[sid]!, this.translationType[sid]!, this.fpd[sid]!, this.levels[sid]!, this.table[sid]!]);
    }
    return rows;
  }

  restoreState(rows: ContextCacheState): void {
    this.invalidateAll();
    for (const [sid, did, tt, fpd, levels, table] of rows) this.fill(sid, did, tt, fpd, levels, table);
  }

  private drop(sid: number): void {
    this.valid[sid] = 0;
    this.count--;
  }
}
