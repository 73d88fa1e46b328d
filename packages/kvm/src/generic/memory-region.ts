/**
 * KVM_SET_USER_MEMORY_REGION (api.rst 4.35) over core's `Memslots`, with
 * the checks and errnos of Linux's `__kvm_set_memory_region`
 * (virt/kvm/kvm_main.c): flags, slot and address-space numbers, page
 * alignment, wrap-around, the changes a live slot allows (move, flags;
 * never size, userspace address or READONLY), overlap (EEXIST), delete with
 * size 0.
 *
 * The VMM's userspace is host memory identity-mapped: `userspaceAddr` is a
 * host-physical address in the host memory the `Kvm` was given (the VMM
 * "mmaps" it with `Kvm.mmap`). It must be page-aligned and below the user
 * address-space limit and must not reach into KVM's own kernel region
 * (access_ok: EINVAL); memory that is not backed is found when the guest
 * touches it (KVM_RUN fails with EFAULT, as a fault on an unmapped hva).
 */
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, type Memslot, type Memslots } from '@hvsim/core';
import { KVM_USER_MEM_SLOTS } from './constants.js';
import { fail, hex, u32, u64 } from './errors.js';

/** `struct kvm_userspace_memory_region` (api.rst 4.35). */
export interface KvmUserspaceMemoryRegion {
  /** Bits 15:0 the slot id, bits 31:16 the address space (only 0 here: no SMM). */
  slot: number;
  /** KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY. */
  flags: number;
  guestPhysAddr: number | bigint;
  /** 0 deletes the slot. */
  memorySize: number | bigint;
  /** Where the memory is in the VMM (see the file comment). */
  userspaceAddr: number | bigint;
}

/** x86-64 TASK_SIZE_MAX with 4-level paging: user addresses are below 2^47 − 4096. */
export const USER_ADDRESS_LIMIT = 2 ** 47 - 4096;

/** What a successful call changed (KVM_MR_*), for the MMU to zap or remap. */
export type MemoryRegionChange = 'create' | 'delete' | 'move' | 'flags' | 'none';

/** A host range userspace may not name (KVM's own memory). */
export interface KernelRange {
  base: number;
  size: number;
}

/**
 * Validates `region` completely and applies it to `slots`; throws a
 * KvmError (and changes nothing) otherwise. Returns what changed and the
 * slot before the change (for delete/move/flags).
 */
export function setUserMemoryRegion(slots: Memslots, region: KvmUserspaceMemoryRegion, kernel: KernelRange): { change: MemoryRegionChange; old: Memslot | undefined; slot: Memslot | undefined } {
  if (typeof (region as unknown) !== 'object' || (region as unknown) === null) fail('EFAULT', 'KVM_SET_USER_MEMORY_REGION needs a struct kvm_userspace_memory_region');
  const slotField = u32(region.slot, 'slot');
  const flags = u32(region.flags, 'flags');
  const gpa = u64(region.guestPhysAddr, 'guest_phys_addr');
  const size = u64(region.memorySize, 'memory_size');
  const hva = u64(region.userspaceAddr, 'userspace_addr');
  // check_memory_region_flags: only the two flags this KVM has.
  if ((flags & ~(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) !== 0) fail('EINVAL', `memslot flags ${hex(flags)} set bits other than KVM_MEM_LOG_DIRTY_PAGES and KVM_MEM_READONLY`);
  const asId = slotField >>> 16;
  const id = slotField & 0xffff;
  if (asId !== 0) fail('EINVAL', `address space ${asId} does not exist (KVM_ADDRESS_SPACE_NUM is 1 without SMM)`);
  if (id >= KVM_USER_MEM_SLOTS) fail('EINVAL', `slot ${id} is not below KVM_USER_MEM_SLOTS (${KVM_USER_MEM_SLOTS})`);
  if (size % 4096 !== 0) fail('EINVAL', `memory_size ${hex(size)} is not a multiple of the page size`);
  if (gpa % 4096 !== 0) fail('EINVAL', `guest_phys_addr ${hex(gpa)} is not page-aligned`);
  if (hva % 4096 !== 0) fail('EINVAL', `userspace_addr ${hex(hva)} is not page-aligned`);
  if (hva + size > USER_ADDRESS_LIMIT || (size > 0 && hva < kernel.base + kernel.size && kernel.base < hva + size)) {
    fail('EINVAL', `userspace_addr range [${hex(hva)}, +${hex(size)}) is not user memory (access_ok)`);
  }
  if (gpa + size > Number.MAX_SAFE_INTEGER) fail('EINVAL', `guest_phys_addr ${hex(gpa)} + memory_size ${hex(size)} wraps`);
  const old = slots.get(id);
  if (size === 0) {
    if (old === undefined) fail('EINVAL', `slot ${id} does not exist: nothing to delete`);
    slots.remove(id);
    return { change: 'delete', old, slot: undefined };
  }
  let change: MemoryRegionChange;
  if (old === undefined) {
    change = 'create';
  } else {
    if (hva !== old.hostPhysical || size !== old.size || ((flags ^ old.flags) & KVM_MEM_READONLY) !== 0) {
      fail('EINVAL', `slot ${id} exists: only its guest_phys_addr and KVM_MEM_LOG_DIRTY_PAGES may change (size, userspace_addr and KVM_MEM_READONLY may not)`);
    }
    if (gpa !== old.guestPhysical) change = 'move';
    else if (flags !== old.flags) change = 'flags';
    else return { change: 'none', old, slot: old };
  }
  if (change === 'create' || change === 'move') {
    for (const s of slots.list()) {
      if (s.id !== id && gpa < s.guestPhysical + s.size && s.guestPhysical < gpa + size) {
        fail('EEXIST', `slot ${id} [${hex(gpa)}, +${hex(size)}) overlaps slot ${s.id} [${hex(s.guestPhysical)}, +${hex(s.size)})`);
      }
    }
  }
  if (change === 'create') {
    slots.add({ id, guestPhysical: gpa, size, hostPhysical: hva, flags });
  } else if (change === 'move') {
    // KVM_MR_MOVE: the dirty bitmap is not carried over (a moved slot starts clean); flags may change too.
    if (flags !== old!.flags) slots.setFlags(id, flags);
    slots.move(id, gpa);
  } else {
    slots.setFlags(id, flags);
  }
  return { change, old, slot: slots.get(id) };
}
