/**
 * Guest-physical to host-physical map: KVM's memslots (api.rst 4.35; Linux include/linux/kvm_host.h). The
 * memslot table lives in @hvsim/core (`Memslots`, with KVM's flags and
 * per-slot dirty logging, and `GuestPhysicalMemory` over it); @hvsim/mmu
 * re-exports it under the names it always had, so the shadow MMU, its
 * memslot stage and a VMM share one table.
 */
export { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, Memslots } from '@hvsim/core';
export type { GuestPhysicalMap, Memslot, MemslotInit } from '@hvsim/core';
