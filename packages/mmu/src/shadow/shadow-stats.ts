/**
 * What a hypervisor sees of the shadow MMU: the event of each access and the
 * counters a comparison with nested paging needs (kvm.md 5d, 5g).
 */
import { WalkResult } from '../common/walk-result.js';

/** What the hypervisor saw for one access under shadow paging. */
export type ShadowEvent = 'hit' | 'fixed' | 'guest-fault' | 'write-protected' | 'mmio';

/** A walk result plus the hypervisor-visible event. */
export class ShadowResult extends WalkResult {
  event: ShadowEvent = 'hit';
}

/** Counters for comparing shadow paging with nested paging. */
export interface ShadowMmuStats {
  /** Accesses translated. */
  accesses: number;
  /** Accesses the shadow tables translated with no exit. */
  hits: number;
  /** Shadow page faults: VM exits taken into the MMU. */
  exits: number;
  /** Exits fixed silently. */
  fixed: number;
  /** Exits that were real guest page faults, reflected. */
  guestFaults: number;
  /** Exits on writes that must be emulated. */
  writeProtectExits: number;
  /** Exits to MMIO (no memslot). */
  mmioExits: number;
  /** Guest writes emulated (writes to guest page tables). */
  emulatedWrites: number;
  /** Shadow entries rewritten in place after an emulated write. */
  sptesUpdated: number;
  /** Shadow entries dropped. */
  sptesZapped: number;
  /** Shadow pages created. */
  pagesCreated: number;
  /** Shadow pages now in use. */
  pagesInUse: number;
  /** Shadow pages freed because the guest reused an unreachable shadowed table page. */
  pagesUnshadowed: number;
  /** Whole-MMU zaps (shadow page pool exhausted, context change, restore). */
  zapAlls: number;
  /** CR3 loads that found a cached shadow root. */
  rootHits: number;
  /** CR3 loads that built a new shadow root. */
  rootMisses: number;
  /** INVLPGs handled. */
  invlpgs: number;
  /** Shadow-table entries read by the hardware walks. */
  hardwareReferences: number;
  /** Guest-table entries read by the MMU's own guest walks. */
  guestReferences: number;
}

export const COUNTERS = [
  'accesses',
  'hits',
  'exits',
  'fixed',
  'guestFaults',
  'writeProtectExits',
  'mmioExits',
  'emulatedWrites',
  'sptesUpdated',
  'sptesZapped',
  'pagesUnshadowed',
  'zapAlls',
  'rootHits',
  'rootMisses',
  'invlpgs',
  'hardwareReferences',
  'guestReferences',
] as const;

export type CounterName = (typeof COUNTERS)[number];

