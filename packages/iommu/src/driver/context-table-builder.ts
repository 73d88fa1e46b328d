/**
 * Builds the legacy-mode root table and context tables (VT-d 3.4.2, 9.1,
 * 9.3): one root entry per bus pointing at a context table of 256 entries,
 * one per device/function, each naming a domain (DID), the address width and
 * the second-level tables, or pass-through. Software only: the unit's
 * context cache keeps what it cached until the driver invalidates it.
 */
import { UsageError, assertInteger, describeValue, hi32, lo32, type Memory } from '@hvsim/core';
import { TRANSLATION_TYPE } from '../dma/tables.js';
import { TABLE_PAGE, type TablePageSource } from './page-source.js';
import { checkTablePage } from './second-level-builder.js';

/** What a context entry says about one source ID. */
export interface ContextEntryFields {
  /** Domain ID (0-65535; CAP.ND = 6). */
  domainId: number;
  /** Second-level tables (root address and depth); omit for pass-through. */
  secondLevel?: {
    /** Physical address of the top-level second-level table (SLPTPTR), 4 KiB aligned. */
    root: number;
    /** Paging levels: 3 (39-bit, AW = 1) or 4 (48-bit, AW = 2). */
    levels: 3 | 4;
  };
  /** TT = 10b: requests pass untranslated (needs ECAP.PT). */
  passThrough?: boolean;
  /** FPD: do not record qualified faults of this device. */
  faultProcessingDisable?: boolean;
}

const ENTRY = 16;

/** Root table and context tables. */
export class ContextTableBuilder {
  /** Address of the root table (what RTADDR_REG takes). */
  readonly root: number;

  /** New tables (a fresh root from `pages`), or, with `root`, the tables already there. */
  constructor(
    private readonly memory: Memory,
    private readonly pages: TablePageSource,
    root?: number,
  ) {
    if (root !== undefined) {
      checkTablePage(root, 'root table');
      this.root = root;
    } else {
      this.root = this.newTable();
    }
  }

  /** Address of the context entry of `sid`, creating the bus's context table when `create`; -1 when absent. */
  contextEntryAddress(sid: number, create = false): number {
    assertInteger(sid, 'source ID', 0, 0xffff);
    const rootAt = this.root + (sid >>> 8) * ENTRY;
    const r0 = this.memory.read32(rootAt);
    let table: number;
    if ((r0 & 1) === 0) {
      if (!create) return -1;
      table = this.newTable();
      this.write(rootAt, (lo32(table) | 1) >>> 0, hi32(table), 0, 0);
    } else {
      table = (this.memory.read32(rootAt + 4) & 0xffff) * 0x1_0000_0000 + ((r0 & 0xffff_f000) >>> 0);
    }
    return table + (sid & 0xff) * ENTRY;
  }

  /** Writes a present context entry for `sid` (VT-d 9.3). */
  setContext(sid: number, fields: ContextEntryFields): void {
    assertInteger(fields.domainId, 'domain ID', 0, 0xffff);
    const passThrough = fields.passThrough === true;
    const sl = fields.secondLevel;
    if (passThrough === (sl !== undefined)) {
      throw new UsageError('bad-argument', `context entry of source ID 0x${sid.toString(16)} needs either secondLevel or passThrough, got ${describeValue(fields)}`);
    }
    let lo = 1 | (fields.faultProcessingDisable === true ? 2 : 0);
    let hi = 0;
    let aw = 2;
    if (sl !== undefined) {
      checkTablePage(sl.root, 'second-level root');
      const levels: number = sl.levels; // callers from plain JavaScript may pass anything
      if (levels !== 3 && levels !== 4) throw new UsageError('bad-argument', `second-level tables have 3 or 4 levels, got ${describeValue(sl.levels)}`);
      lo |= lo32(sl.root);
      hi = hi32(sl.root);
      aw = sl.levels === 3 ? 1 : 2;
    } else {
      lo |= TRANSLATION_TYPE.PASS_THROUGH << 2;
    }
    const at = this.contextEntryAddress(sid, true);
    this.write(at, lo >>> 0, hi, ((fields.domainId << 8) | aw) >>> 0, 0);
  }

  /** Clears the context entry of `sid` (not present: its requests fault with 0x2). */
  clearContext(sid: number): void {
    const at = this.contextEntryAddress(sid);
    if (at >= 0) this.write(at, 0, 0, 0, 0);
  }

  private newTable(): number {
    const page = this.pages.allocate();
    checkTablePage(page, 'table page from the page source');
    this.memory.writeBytes(page, new Uint8Array(TABLE_PAGE));
    return page;
  }

  private write(at: number, w0: number, w1: number, w2: number, w3: number): void {
    this.memory.write32(at, w0);
    this.memory.write32(at + 4, w1);
    this.memory.write32(at + 8, w2);
    this.memory.write32(at + 12, w3);
  }
}
