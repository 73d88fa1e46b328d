/**
 * The interrupt entry cache (VT-d 6.2.4 "Interrupt Entry Cache"): decoded
 * IRTEs by interrupt index, ready to deliver without touching memory. Only
 * present, valid entries are cached; an entry stays in use until an
 * interrupt-entry-cache invalidation (global or index-selective with an
 * index mask, VT-d 6.5.2.7) removes it, even when the IRTE in memory has
 * changed, as hardware may cache it. Each cached IRTE is one
 * {@link CachedIrte} (one load per request reaches every field); the
 * objects are kept per index across invalidations, so a refill allocates
 * nothing and the hot path allocates nothing.
 */
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import type { Memory } from '@hvsim/core';
import { getField } from '@hvsim/core';
import { ignoredFunctionBits } from '../source-id.js';
import { IRTE, SOURCE_VALIDATION, postedDescriptorAddress } from './irte.js';

/** Number of interrupt indexes (16-bit handles). */
export const IEC_ENTRIES = 0x1_0000;
/** Distinct descriptor addresses whose views are kept (one per vCPU in practice). */
const DESCRIPTOR_VIEWS_MAX = 4096;
const BUS_RANGE = SOURCE_VALIDATION.BUS_RANGE;
const REQUESTER_ID = SOURCE_VALIDATION.REQUESTER_ID;

/** Saved form: `[index, w0, w1, w2, w3, eime]` per cached entry. */
export type InterruptEntryCacheState = [index: number, w0: number, w1: number, w2: number, w3: number, eime: number][];

/** One decoded IRTE (VT-d 9.10, 9.11) as the interrupt entry cache holds it. */
export class CachedIrte {
  /** IRTE words as read, for save/restore. */
  w0 = 0;
  w1 = 0;
  w2 = 0;
  w3 = 0;
  /** IM: 1 when the entry posts (a number, tested without a truthiness check on the hot path). */
  posted = 0;
  /** FPD: qualified faults through this entry are not recorded. */
  fpd = 0;
  /** 1 for SVT = 2: the requester's bus must lie in SID[15:8]..SID[7:0]. */
  busRange = 0;
  /** SID of the entry. */
  sid = 0;
  /**
   * Requester-ID bits compared with SID (SVT = 1, less the function bits SQ
   * ignores); 0 with SVT = 0, so every requester passes.
   */
  sidMask = 0;
  /** Vector (remapped) or virtual vector (posted). */
  vector = 0;
  /** Posted: URG. */
  urgent = false;
  /** Destination is a 32-bit x2APIC ID (IRTA.EIME at fill time); posted: NDST is one. */
  x2apic = false;
  /** Remapped: destination ID as in the IRTE (APIC ID or 32-bit x2APIC ID). */
  destination = 0;
  /** Remapped: compatibility-format MSI address and data carrying the remapped attributes. */
  msiAddress = 0;
  msiData = 0;
  /** Posted: the descriptor view (shared by every entry naming the same descriptor). */
  descriptor: PostedInterruptDescriptor | null = null;

  /** Source-ID verification for `requester` (VT-d 9.10 SVT/SQ/SID). */
  sourceAllowed(requester: number): boolean {
    if (this.busRange !== 0) {
      const bus = requester >>> 8;
      return bus >= this.sid >>> 8 && bus <= (this.sid & 0xff);
    }
    return ((requester ^ this.sid) & this.sidMask) === 0;
  }
}

/** Decoded IRTEs by index. */
export class InterruptEntryCache {
  /** Cached entries by index; `undefined` where none is cached (a dense array: one indexed load on the hot path). */
  readonly entries: (CachedIrte | undefined)[] = new Array<CachedIrte | undefined>(IEC_ENTRIES).fill(undefined);
  /** Entry objects by index, kept across invalidations so a refill allocates nothing. */
  private readonly slots: (CachedIrte | undefined)[] = new Array<CachedIrte | undefined>(IEC_ENTRIES).fill(undefined);
  /**
   * Descriptor views by descriptor address, shared by every IRTE that posts
   * to the same descriptor and kept across invalidations, so re-filling an
   * entry (after KVM rewrites an IRTE and invalidates it) allocates nothing
   * and each view keeps its cached page. Bounded: cleared when it grows past
   * {@link DESCRIPTOR_VIEWS_MAX} distinct addresses.
   */
  private readonly views = new Map<number, PostedInterruptDescriptor>();
  private count = 0;

  constructor(private readonly memory: Memory) {}

  /** Number of cached entries. */
  get size(): number {
    return this.count;
  }

  /** The cached entry of `index`, or undefined. */
  entry(index: number): CachedIrte | undefined {
    return this.entries[index];
  }

  /** Caches a checked IRTE (see `checkIrte`); returns the entry. */
  fill(index: number, w0: number, w1: number, w2: number, w3: number, eime: boolean): CachedIrte {
    let e = this.slots[index];
    if (e === undefined) {
      e = new CachedIrte();
      this.slots[index] = e;
    }
    if (this.entries[index] === undefined) {
      this.count++;
      this.entries[index] = e;
    }
    e.w0 = w0;
    e.w1 = w1;
    e.w2 = w2;
    e.w3 = w3;
    e.x2apic = eime;
    e.fpd = getField(w0, IRTE.FPD);
    const svt = getField(w2, IRTE.SVT);
    e.busRange = svt === BUS_RANGE ? 1 : 0;
    e.sid = getField(w2, IRTE.SID);
    e.sidMask = svt === REQUESTER_ID ? ~ignoredFunctionBits(getField(w2, IRTE.SQ)) & 0xffff : 0;
    e.vector = getField(w0, IRTE.V);
    if (getField(w0, IRTE.IM) === 1) {
      e.posted = 1;
      e.urgent = getField(w0, IRTE.URG) === 1;
      const address = postedDescriptorAddress(w1, w3);
      if (e.descriptor?.address !== address) e.descriptor = this.descriptorAt(address);
      e.destination = 0;
      e.msiAddress = 0;
      e.msiData = 0;
      return e;
    }
    e.posted = 0;
    e.urgent = false;
    e.descriptor = null;
    const destination = eime ? w1 >>> 0 : getField(w1, IRTE.DST_XAPIC);
    e.destination = destination;
    // Compatibility MSI form (SDM 3A 11.11): destination 19:12, RH bit 3, DM bit 2; data: vector, DLM, level assert, TM.
    e.msiAddress = (0xfee0_0000 | ((destination & 0xff) << 12) | (getField(w0, IRTE.RH) << 3) | (getField(w0, IRTE.DM) << 2)) >>> 0;
    e.msiData = (getField(w0, IRTE.V) | (getField(w0, IRTE.DLM) << 8) | 0x4000 | (getField(w0, IRTE.TM) << 15)) >>> 0;
    return e;
  }

  /** The shared descriptor view for `address` (64-byte aligned, below the host address width). */
  private descriptorAt(address: number): PostedInterruptDescriptor {
    let view = this.views.get(address);
    if (view === undefined) {
      if (this.views.size >= DESCRIPTOR_VIEWS_MAX) this.views.clear();
      view = new PostedInterruptDescriptor(this.memory, address);
      this.views.set(address, view);
    }
    return view;
  }

  /** Global invalidation. */
  invalidateAll(): void {
    if (this.count === 0) return;
    this.entries.fill(undefined);
    this.count = 0;
  }

  /** Index-selective invalidation of 2^mask entries at `index` aligned down (VT-d 6.5.2.7). */
  invalidateIndexes(index: number, mask: number): void {
    const span = 2 ** mask;
    const first = Math.floor(index / span) * span;
    for (let i = first; i < first + span && i < IEC_ENTRIES; i++) {
      if (this.entries[i] !== undefined) {
        this.entries[i] = undefined;
        this.count--;
      }
    }
  }

  saveState(): InterruptEntryCacheState {
    const rows: InterruptEntryCacheState = [];
    for (let i = 0; i < IEC_ENTRIES && rows.length < this.count; i++) {
      const e = this.entries[i];
      if (e !== undefined) rows.push([i, e.w0, e.w1, e.w2, e.w3, e.x2apic ? 1 : 0]);
    }
    return rows;
  }

  restoreState(rows: InterruptEntryCacheState): void {
    this.invalidateAll();
    for (const [i, w0, w1, w2, w3, eime] of rows) this.fill(i, w0, w1, w2, w3, eime === 1);
  }
}
