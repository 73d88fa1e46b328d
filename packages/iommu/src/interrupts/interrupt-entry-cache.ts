/**
 * The interrupt entry cache (VT-d 6.2.4 "Interrupt Entry Cache"): decoded
 * IRTEs by interrupt index, ready to deliver without touching memory. Only
 * present, valid entries are cached; an entry stays in use until an
 * interrupt-entry-cache invalidation (global or index-selective with an
 * index mask) removes it, even when the IRTE in memory has changed, as on
 * hardware. The hot path reads typed arrays and allocates nothing.
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

/** Saved form: `[index, w0, w1, w2, w3, eime]` per cached entry. */
export type InterruptEntryCacheState = [index: number, w0: number, w1: number, w2: number, w3: number, eime: number][];

/** Decoded IRTEs by index. */
export class InterruptEntryCache {
  readonly valid = new Uint8Array(IEC_ENTRIES);
  readonly posted = new Uint8Array(IEC_ENTRIES);
  readonly fpd = new Uint8Array(IEC_ENTRIES);
  readonly svt = new Uint8Array(IEC_ENTRIES);
  readonly sq = new Uint8Array(IEC_ENTRIES);
  readonly sid = new Uint16Array(IEC_ENTRIES);
  /** Source validation precomputed at fill: requester bits compared (SVT 1) or the bus range (SVT 2). */
  private readonly sidMask = new Uint16Array(IEC_ENTRIES);
  /** Vector (remapped) or virtual vector (posted). */
  readonly vector = new Uint8Array(IEC_ENTRIES);
  /** Posted: URG. */
  readonly urgent = new Uint8Array(IEC_ENTRIES);
  /** Remapped: destination ID as in the IRTE (APIC ID or 32-bit x2APIC ID). */
  readonly destination = new Uint32Array(IEC_ENTRIES);
  /** Remapped: whether the destination is a 32-bit x2APIC ID (IRTA.EIME at fill time). */
  readonly x2apic = new Uint8Array(IEC_ENTRIES);
  /** Remapped: compatibility-format MSI address and data carrying the remapped attributes. */
  readonly msiAddress = new Uint32Array(IEC_ENTRIES);
  readonly msiData = new Uint32Array(IEC_ENTRIES);
  /** Raw IRTE words, kept for save/restore and inspection. */
  private readonly raw = new Uint32Array(IEC_ENTRIES * 4);
  /** Posted: descriptor views by index (a dense array: indexed access is faster than a Map on the hot path). */
  private readonly descriptors: (PostedInterruptDescriptor | undefined)[] = new Array<PostedInterruptDescriptor | undefined>(IEC_ENTRIES).fill(undefined);
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

  /** The posted-interrupt descriptor of a cached posted entry. */
  descriptor(index: number): PostedInterruptDescriptor {
    return this.descriptors[index]!;
  }

  /** Caches a checked IRTE (see `checkIrte`). */
  fill(index: number, w0: number, w1: number, w2: number, w3: number, eime: boolean): void {
    if (this.valid[index] === 0) this.count++;
    this.valid[index] = 1;
    const r = index * 4;
    this.raw[r] = w0;
    this.raw[r + 1] = w1;
    this.raw[r + 2] = w2;
    this.raw[r + 3] = w3;
    this.x2apic[index] = eime ? 1 : 0;
    this.fpd[index] = getField(w0, IRTE.FPD);
    this.svt[index] = getField(w2, IRTE.SVT);
    this.sq[index] = getField(w2, IRTE.SQ);
    this.sid[index] = getField(w2, IRTE.SID);
    this.sidMask[index] = this.svt[index] === SOURCE_VALIDATION.REQUESTER_ID ? ~ignoredFunctionBits(getField(w2, IRTE.SQ)) & 0xffff : 0;
    this.vector[index] = getField(w0, IRTE.V);
    if (getField(w0, IRTE.IM) === 1) {
      this.posted[index] = 1;
      this.urgent[index] = getField(w0, IRTE.URG);
      const address = postedDescriptorAddress(w1, w3);
      if (this.descriptors[index]?.address !== address) this.descriptors[index] = this.descriptorAt(address);
      return;
    }
    this.posted[index] = 0;
    this.descriptors[index] = undefined;
    const destination = eime ? w1 >>> 0 : getField(w1, IRTE.DST_XAPIC);
    this.destination[index] = destination;
    // Compatibility MSI form (SDM 3A 11.11): destination 19:12, RH bit 3, DM bit 2; data: vector, DLM, level assert, TM.
    this.msiAddress[index] =
      (0xfee0_0000 | ((destination & 0xff) << 12) | (getField(w0, IRTE.RH) << 3) | (getField(w0, IRTE.DM) << 2)) >>> 0;
    this.msiData[index] = (getField(w0, IRTE.V) | (getField(w0, IRTE.DLM) << 8) | 0x4000 | (getField(w0, IRTE.TM) << 15)) >>> 0;
  }

  /**
   * Source-ID verification of cached entry `index` for `requester` (VT-d 9.10
   * SVT/SQ/SID): SVT 0 accepts all; SVT 1 compares the requester ID except
   * the function bits SQ masks; SVT 2 accepts buses SID[15:8]..SID[7:0].
   */
  sourceAllowed(index: number, requester: number): boolean {
    const svt = this.svt[index];
    if (svt === SOURCE_VALIDATION.NONE) return true;
    const sid = this.sid[index]!;
    if (svt === SOURCE_VALIDATION.REQUESTER_ID) return ((requester ^ sid) & this.sidMask[index]!) === 0;
    const bus = requester >>> 8;
    return bus >= sid >>> 8 && bus <= (sid & 0xff);
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
    this.valid.fill(0);
    this.descriptors.fill(undefined);
    this.count = 0;
  }

  /** Index-selective invalidation of 2^mask entries at `index` aligned down (VT-d 6.5.2.4). */
  invalidateIndexes(index: number, mask: number): void {
    const span = 2 ** mask;
    const first = Math.floor(index / span) * span;
    for (let i = first; i < first + span && i < IEC_ENTRIES; i++) {
      if (this.valid[i] === 1) {
        this.valid[i] = 0;
        this.descriptors[i] = undefined;
        this.count--;
      }
    }
  }

  saveState(): InterruptEntryCacheState {
    const rows: InterruptEntryCacheState = [];
    for (let i = 0; i < IEC_ENTRIES && rows.length < this.count; i++) {
      if (this.valid[i] === 1) {
        const r = i * 4;
        rows.push([i, this.raw[r]!, this.raw[r + 1]!, this.raw[r + 2]!, this.raw[r + 3]!, this.x2apic[i]!]);
      }
    }
    return rows;
  }

  restoreState(rows: InterruptEntryCacheState): void {
    this.invalidateAll();
    for (const [i, w0, w1, w2, w3, eime] of rows) this.fill(i, w0, w1, w2, w3, eime === 1);
  }
}
