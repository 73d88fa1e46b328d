/**
 * Guest-physical to host-physical map: KVM's memslots (kvm.md 5f). The
 * memslot table lives in @hvsim/core (`Memslots`, with KVM's flags and
 * per-slot dirty logging, and `GuestPhysicalMemory` over it); @hvsim/mmu
 * re-exports it under the names it always had, so the shadow MMU, its
 * memslot stage and a VMM share one table.
 */
export { Memslots } from '@hvsim/core';
export type { GuestPhysicalMap, Memslot, MemslotInit } from '@hvsim/core';
