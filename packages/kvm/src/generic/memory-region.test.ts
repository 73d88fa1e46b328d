import { describe, expect, it } from 'vitest';
import { KVM_MEM } from './constants.js';
import { Kvm } from '../kvm.js';
import { expectErrno } from '../test-support/expect-errno.js';

function setup() {
  const kvm = new Kvm();
  const vm = kvm.createVm();
  const hva = kvm.mmap(0x10_0000);
  return { kvm, vm, hva };
}

describe('KVM_SET_USER_MEMORY_REGION (api.rst 4.35; __kvm_set_memory_region)', () => {
  it('creates, moves, changes flags of and deletes (memory_size 0) a slot', () => {
    const { kvm, vm, hva } = setup();
    vm.setUserMemoryRegion({ slot: 1, flags: 0, guestPhysAddr: 0x10_0000, memorySize: 0x4000, userspaceAddr: hva });
    kvm.memory.write32(hva + 0x1000, 0xabcd);
    expect(vm.guestMemory.read32(0x10_1000)).toBe(0xabcd);
    vm.setUserMemoryRegion({ slot: 1, flags: 0, guestPhysAddr: 0x20_0000, memorySize: 0x4000, userspaceAddr: hva }); // move
    expect(vm.guestMemory.read32(0x20_1000)).toBe(0xabcd);
    expect(vm.memslots.find(0x10_1000)).toBeUndefined();
    vm.setUserMemoryRegion({ slot: 1, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0x20_0000, memorySize: 0x4000, userspaceAddr: hva });
    expect(vm.memslots.get(1)!.flags).toBe(KVM_MEM.LOG_DIRTY_PAGES);
    vm.setUserMemoryRegion({ slot: 1, flags: 0, guestPhysAddr: 0, memorySize: 0, userspaceAddr: 0 }); // delete
    expect(vm.memslots.list()).toEqual([]);
  });

  it('refuses what Linux refuses, with its errnos, and changes nothing', () => {
    const { vm, hva } = setup();
    const ok = { slot: 0, flags: 0, guestPhysAddr: 0, memorySize: 0x2000, userspaceAddr: hva };
    vm.setUserMemoryRegion(ok);
    const before = JSON.stringify(vm.memslots.list());
    expectErrno(() => vm.setUserMemoryRegion({ ...ok, slot: 2, flags: 4 }), 'EINVAL', /flags 0x4/);
    expectErrno(() => vm.setUserMemoryRegion({ ...ok, slot: 32764 }), 'EINVAL', /KVM_USER_MEM_SLOTS/);
    expectErrno(() => vm.setUserMemoryRegion({ ...ok, slot: (1 << 16) | 2 }), 'EINVAL', /address space 1/);
    expectErrno(() => vm.setUserMemoryRegion({ ...ok, slot: 2, guestPhysAddr: 0x10_0800 }), 'EINVAL', /guest_phys_addr 0x100800 is not page-aligned/);
    expectErrno(() => vm.setUserMemoryRegion({ ...ok, slot: 2, memorySize: 0x1800 }), 'EINVAL', /memory_size 0x1800/);
    expectErrno(() => vm.setUserMemoryRegion({ ...ok, slot: 2, userspaceAddr: hva + 8 }), 'EINVAL', /userspace_addr .* not page-aligned/);
    expectErrno(() => vm.setUserMemoryRegion({ ...ok, slot: 2, guestPhysAddr: 0x1000 }), 'EEXIST', /overlaps slot 0/);
    expectErrno(() => vm.setUserMemoryRegion({ ...ok, memorySize: 0x3000 }), 'EINVAL', /may not/);
    expectErrno(() => vm.setUserMemoryRegion({ ...ok, userspaceAddr: hva + 0x1000 }), 'EINVAL', /may not/);
    expectErrno(() => vm.setUserMemoryRegion({ ...ok, flags: KVM_MEM.READONLY }), 'EINVAL', /READONLY/);
    expectErrno(() => vm.setUserMemoryRegion({ ...ok, slot: 5, memorySize: 0 }), 'EINVAL', /slot 5 does not exist/);
    expectErrno(() => vm.setUserMemoryRegion({ ...ok, slot: 2, guestPhysAddr: -4096 }), 'EINVAL', /guest_phys_addr/);
    expectErrno(() => vm.setUserMemoryRegion(null as never), 'EFAULT');
    expect(JSON.stringify(vm.memslots.list())).toBe(before);
    // The same region again is a no-op (KVM_MR_FLAGS_ONLY with equal flags returns 0).
    vm.setUserMemoryRegion(ok);
    expect(JSON.stringify(vm.memslots.list())).toBe(before);
  });

  it('moving a slot onto another is EEXIST; guest addresses and slots may be large', () => {
    const { vm, hva } = setup();
    vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0, memorySize: 0x2000, userspaceAddr: hva });
    vm.setUserMemoryRegion({ slot: 7, flags: 0, guestPhysAddr: 0x1_0000_0000, memorySize: 0x2000, userspaceAddr: hva + 0x2000 });
    expectErrno(() => vm.setUserMemoryRegion({ slot: 7, flags: 0, guestPhysAddr: 0x1000, memorySize: 0x2000, userspaceAddr: hva + 0x2000 }), 'EEXIST');
    expect(vm.memslots.get(7)!.guestPhysical).toBe(0x1_0000_0000);
  });
});

describe('KVM_GET_DIRTY_LOG (api.rst 4.8)', () => {
  it('hands out and clears the bitmap of writes into a logging slot, from any writer of the host memory', () => {
    const { kvm, vm, hva } = setup();
    vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0, memorySize: 0x8000, userspaceAddr: hva });
    vm.guestMemory.write32(0x1004, 1);
    kvm.memory.write8(hva + 0x5000, 1); // a DMA or a guest store through EPT lands in host memory
    expect(vm.getDirtyLog(0)[0]).toBe(0b10_0010);
    expect(vm.getDirtyLog(0)[0]).toBe(0);
  });

  it('is ENOENT for a slot that does not exist or does not log', () => {
    const { vm, hva } = setup();
    vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0, memorySize: 0x1000, userspaceAddr: hva });
    expectErrno(() => vm.getDirtyLog(0), 'ENOENT');
    expectErrno(() => vm.getDirtyLog(3), 'ENOENT');
  });
});
