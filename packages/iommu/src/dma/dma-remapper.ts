/**
 * DMA remapping of untranslated requests in legacy mode (VT-d 3.4 "Domains
 * and Address Translation", 3.4.2 root and context tables, 3.7 second-level
 * translation), with the context cache and IOTLB in front of the tables.
 *
 * Order of checks follows VT-d 7.1.3: root entry (LRT.1 access, LRT.2 not
 * present, LRT.3 reserved), context entry (LCT.1-LCT.4), address width
 * (LGN.1), then the walk (LSL.1, LSL.2, LGN.2, LGN.3) and the output address
 * against the interrupt range (LGN.4).
 */
import { getField, type Memory } from '@hvsim/core';
import { pageAddress } from '../address.js';
import { VTD_FAULT_REASON } from '../faults/fault-reason.js';
import { ContextCache } from './context-cache.js';
import { Iotlb } from './iotlb.js';
import { SecondLevelWalker, type WalkOutput } from './second-level.js';
import {
  CONTEXT_ENTRY,
  INTERRUPT_RANGE_FIRST,
  INTERRUPT_RANGE_LAST,
  ROOT_ENTRY,
  TRANSLATION_TYPE,
  levelsForAddressWidth,
} from './tables.js';

/** Result of one translation; reused. */
export interface DmaTranslation {
  /** Physical address the request goes to (valid when the fault reason is 0). */
  physical: number;
  /** FPD of the context entry used (1 suppresses qualified faults); 0 when none was found. */
  fpd: number;
  /** True when the IOTLB (or pass-through) answered without a walk. */
  hit: boolean;
}

const PAGE = 4096;
/** Input address limit by table depth: 2^39 for 3 levels, 2^48 for 4 (AGAW, VT-d 3.7.1). */
const INPUT_LIMIT = [0, 2 ** 21, 2 ** 30, 2 ** 39, 2 ** 48];
/** Largest input address + 1 for a 48-bit MGAW. */
const MGAW_LIMIT = 2 ** 48;

/** Translates device DMA addresses. */
export class DmaRemapper {
  /** GSTS.TES. */
  enabled = false;
  /** Root table address latched by SRTP; -1 when RTADDR named an address beyond the host address width. */
  rootTable = 0;
  /** RTADDR.TTM latched by SRTP; only 00b (legacy) is supported. */
  tableMode = 0;
  readonly contextCache = new ContextCache();
  readonly iotlb = new Iotlb();
  /** Walks made (IOTLB misses) and IOTLB hits, for benches and curious users. */
  walks = 0;
  hits = 0;
  private readonly walk: WalkOutput = { frame: 0, perm: 0, pageShift: 12, references: 0 };
  private readonly walker: SecondLevelWalker;

  constructor(
    private readonly memory: Memory,
    private readonly passThroughSupported: boolean,
  ) {
    this.walker = new SecondLevelWalker(memory);
  }

  /** Translates `iova` for a read (`write` false) or write by `sid`. Returns 0 or a fault reason. */
  translate(sid: number, iova: number, write: boolean, out: DmaTranslation): number {
    out.fpd = 0;
    out.hit = false;
    if (!this.enabled) {
      // Translation disabled: requests pass through untranslated (VT-d 11.4.4 TE).
      out.physical = iova;
      out.hit = true;
      return 0;
    }
    if (this.tableMode !== 0) return VTD_FAULT_REASON.ROOT_TABLE_MODE_INVALID;
    const cache = this.contextCache;
    if (cache.valid[sid] === 0) {
      const reason = this.loadContext(sid, out);
      if (reason !== 0) return reason;
    }
    out.fpd = cache.fpd[sid]!;
    if (cache.translationType[sid] === TRANSLATION_TYPE.PASS_THROUGH) {
      if (iova >= MGAW_LIMIT) return VTD_FAULT_REASON.ADDRESS_BEYOND_MGAW;
      out.physical = iova;
      out.hit = true;
      return 0;
    }
    const levels = cache.levels[sid]!;
    if (iova >= INPUT_LIMIT[levels]!) return VTD_FAULT_REASON.ADDRESS_BEYOND_MGAW;
    const did = cache.did[sid]!;
    const page = Math.floor(iova / PAGE);
    const offset = iova - page * PAGE;
    const frame = this.iotlb.lookup(did, page, write ? 2 : 1);
    if (frame >= 0) {
      this.hits++;
      out.physical = frame + offset;
      out.hit = true;
      return 0;
    }
    this.walks++;
    const reason = this.walker.walk(cache.table[sid]!, levels, iova, write, this.walk);
    if (reason !== 0) return reason;
    // LGN.4 (VT-d 3.15): the request's translated address, i.e. its 4 KiB frame (requests never cross one),
    // is in the interrupt range. A large page that merely overlaps the range still serves its other frames.
    if (this.walk.frame >= INTERRUPT_RANGE_FIRST && this.walk.frame <= INTERRUPT_RANGE_LAST) {
      return VTD_FAULT_REASON.INTERRUPT_ADDRESS_RANGE;
    }
    this.iotlb.fill(did, page, this.walk.frame, this.walk.perm, this.walk.pageShift);
    out.physical = this.walk.frame + offset;
    return 0;
  }

  /** Reads the root and context entries for `sid` and caches the context entry if valid. */
  private loadContext(sid: number, out: DmaTranslation): number {
    const bus = sid >>> 8;
    const devfn = sid & 0xff;
    let r0: number;
    let r1: number;
    let r2: number;
    let r3: number;
    if (this.rootTable < 0) return VTD_FAULT_REASON.ROOT_ENTRY_ACCESS;
    const rootAt = this.rootTable + bus * 16;
    try {
      r0 = this.memory.read32(rootAt);
      r1 = this.memory.read32(rootAt + 4);
      r2 = this.memory.read32(rootAt + 8);
      r3 = this.memory.read32(rootAt + 12);
    } catch {
      return VTD_FAULT_REASON.ROOT_ENTRY_ACCESS;
    }
    if (getField(r0, ROOT_ENTRY.P) === 0) return VTD_FAULT_REASON.ROOT_ENTRY_NOT_PRESENT;
    if ((r0 & ROOT_ENTRY.RESERVED_W0) !== 0 || (r1 & ROOT_ENTRY.RESERVED_W1) !== 0 || r2 !== 0 || r3 !== 0) {
      return VTD_FAULT_REASON.ROOT_ENTRY_RESERVED;
    }
    const contextAt = pageAddress(r0, r1) + devfn * 16;
    let c0: number;
    let c1: number;
    let c2: number;
    let c3: number;
    try {
      c0 = this.memory.read32(contextAt);
      c1 = this.memory.read32(contextAt + 4);
      c2 = this.memory.read32(contextAt + 8);
      c3 = this.memory.read32(contextAt + 12);
    } catch {
      return VTD_FAULT_REASON.CONTEXT_ENTRY_ACCESS;
    }
    const fpd = getField(c0, CONTEXT_ENTRY.FPD);
    if (getField(c0, CONTEXT_ENTRY.P) === 0) {
      out.fpd = fpd;
      return VTD_FAULT_REASON.CONTEXT_ENTRY_NOT_PRESENT;
    }
    if ((c0 & CONTEXT_ENTRY.RESERVED_W0) !== 0 || (c1 & CONTEXT_ENTRY.RESERVED_W1) !== 0 || (c2 & CONTEXT_ENTRY.RESERVED_W2) !== 0 || c3 !== 0) {
      return VTD_FAULT_REASON.CONTEXT_ENTRY_RESERVED;
    }
    out.fpd = fpd;
    const tt = getField(c0, CONTEXT_ENTRY.TT);
    const did = getField(c2, CONTEXT_ENTRY.DID);
    if (tt === TRANSLATION_TYPE.PASS_THROUGH) {
      if (!this.passThroughSupported) return VTD_FAULT_REASON.CONTEXT_ENTRY_INVALID;
      this.contextCache.fill(sid, did, tt, fpd, 0, 0);
      return 0;
    }
    // TT = 01b needs ECAP.DT (device TLBs), not supported; TT = 11b is reserved (LCT.4).
    if (tt !== TRANSLATION_TYPE.UNTRANSLATED) return VTD_FAULT_REASON.CONTEXT_ENTRY_INVALID;
    const levels = levelsForAddressWidth(getField(c2, CONTEXT_ENTRY.AW));
    if (levels === 0) return VTD_FAULT_REASON.CONTEXT_ENTRY_INVALID;
    this.contextCache.fill(sid, did, tt, fpd, levels, pageAddress(c0, c1));
    return 0;
  }
}
