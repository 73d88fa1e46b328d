/**
 * What a hypervisor sees of the shadow MMU: the event of each access and the
 * counters a comparison with nested paging needs (Linux Documentation/virt/kvm/x86/mmu.rst; SDM 3C 28.2.1).
 */
import { WalkResult } from '../common/walk-result.js';

/**
 * What the hypervisor saw for one access under shadow paging:
 * `'hit'` (no exit), `'page-fault-exit'` (the hardware walk of the shadow
 * tables faulted: a #PF VM exit not yet handled, from
 * `ShadowMmu.hardwareTranslate`), and the outcomes of KVM's handler:
 * `'fixed'`, `'guest-fault'`, `'write-protected'`, `'mmio'`.
 */
export type ShadowEvent = 'hit' | 'page-fault-exit' | 'fixed' | 'guest-fault' | 'write-protected' | 'mmio';

/** A walk result plus the hypervisor-visible event. Reused: read it before the next call on the same MMU. */
export class ShadowResult extends WalkResult {
  /** What the hypervisor saw of this access (see {@link ShadowEvent}). */
  event: ShadowEvent = 'hit';
}

/** Counters for comparing shadow paging with nested paging. */
export interface ShadowMmuStats {
  /** Accesses translated (this vCPU). */
  accesses: number;
  /** Accesses the TLB or the shadow tables translated with no exit. */
  hits: number;
  /** Of the hits, TLB hits (no walk at all). */
  tlbHits: number;
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
  /** Of those, answered from an MMIO spte (a RSVD fault: no guest walk; KVM's fast MMIO path). */
  mmioSpteExits: number;
  /** Guest writes emulated (writes to guest page tables; VM-wide). */
  emulatedWrites: number;
  /** Shadow entries rewritten in place after an emulated write (VM-wide). */
  sptesUpdated: number;
  /** Shadow entries dropped (VM-wide). */
  sptesZapped: number;
  /** Shadow pages created (VM-wide). */
  pagesCreated: number;
  /** Shadow pages now in use (VM-wide). */
  pagesInUse: number;
  /** Shadow pages freed because the guest reused an unreachable shadowed table page (VM-wide). */
  pagesUnshadowed: number;
  /** Whole-VM zaps (shadow page pool exhausted, memslot change, restore; VM-wide). */
  zapAlls: number;
  /** Remote TLB flushes the VM requested (VM-wide). */
  remoteFlushes: number;
  /** Flushes of this vCPU's TLB (remote flushes, CR3 loads, context changes). */
  tlbFlushes: number;
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

/** Per-vCPU counters. */
export const COUNTERS = [
  'accesses',
  'hits',
  'tlbHits',
  'exits',
  'fixed',
  'guestFaults',
  'writeProtectExits',
  'mmioExits',
  'mmioSpteExits',
  'tlbFlushes',
  'rootHits',
  'rootMisses',
  'invlpgs',
  'hardwareReferences',
  'guestReferences',
] as const;

/** Counters added after the first saved-state format (absent in old states: 0). */
export const NEW_COUNTERS: readonly string[] = ['tlbHits', 'tlbFlushes', 'mmioSpteExits'];

export type CounterName = (typeof COUNTERS)[number];
