import { describe, expect, it } from 'vitest';
import { KVM_API_VERSION, KVM_CAP, KVM_VCPU_MMAP_SIZE } from './generic/constants.js';
import { KvmError } from './generic/errors.js';
import { expectErrno } from './test-support/expect-errno.js';
import { Kvm } from './kvm.js';
import { X86_DEFAULT_COSTS } from '@hvsim/cpu';

describe('Kvm, the system object (api.rst 4.1-4.4)', () => {
  it('answers KVM_GET_API_VERSION 12, the vCPU mmap size, and capabilities truthfully (api.rst 4.1, 4.4, 4.3)', () => {
    const kvm = new Kvm();
    expect(kvm.getApiVersion()).toBe(KVM_API_VERSION);
    expect(kvm.getApiVersion()).toBe(12);
    expect(kvm.getVcpuMmapSize()).toBe(KVM_VCPU_MMAP_SIZE);
    expect(kvm.checkExtension(KVM_CAP.IRQCHIP)).toBe(1);
    expect(kvm.checkExtension(KVM_CAP.USER_MEMORY)).toBe(1);
    expect(kvm.checkExtension(KVM_CAP.READONLY_MEM)).toBe(1);
    expect(kvm.checkExtension(KVM_CAP.IRQFD_RESAMPLE)).toBe(1);
    expect(kvm.checkExtension(KVM_CAP.NR_MEMSLOTS)).toBe(32764);
    expect(kvm.checkExtension(KVM_CAP.IRQ_ROUTING)).toBe(4096);
    expect(kvm.checkExtension(KVM_CAP.MAX_VCPUS)).toBe(1024);
    expect(kvm.checkExtension(KVM_CAP.SPLIT_IRQCHIP)).toBe(1);
    expect(kvm.checkExtension(KVM_CAP.VCPU_EVENTS)).toBe(1);
    expect(kvm.checkExtension(KVM_CAP.USER_NMI)).toBe(1);
    // Not (yet) modelled: answered 0.
    expect(kvm.checkExtension(KVM_CAP.X2APIC_API)).toBe(0);
    expect(kvm.checkExtension(KVM_CAP.PIT2)).toBe(0);
    expect(kvm.checkExtension(KVM_CAP.MSI_DEVID)).toBe(0);
    expect(kvm.checkExtension(9999)).toBe(0);
  });

  it('creates VMs of type 0 only (api.rst 4.2) and vCPUs with the real errnos (api.rst 4.7)', () => {
    const kvm = new Kvm();
    expectErrno(() => kvm.createVm(1), 'EINVAL', /VM type 1/);
    const vm = kvm.createVm();
    expectErrno(() => vm.createVcpu(4096), 'EINVAL', /KVM_MAX_VCPU_IDS/);
    expectErrno(() => vm.createVcpu(-1), 'EINVAL', /vcpu id/);
    const v = vm.createVcpu(3);
    expect(v.id).toBe(3);
    expectErrno(() => vm.createVcpu(3), 'EEXIST', /vcpu 3 already exists/);
    expect(new KvmError('EINVAL', 'x').errno).toBe(22);
    // KVM's own memory (EPT tables, VMCSs) comes from the kernel region: a VM that does not fit is ENOMEM.
    expectErrno(() => new Kvm({ kernelSize: 0x1000 }).createVm(), 'ENOMEM', /kernel region/);
  });

  it('KVM_CREATE_IRQCHIP: once, and before any vCPU (api.rst 4.24)', () => {
    const kvm = new Kvm();
    const vm = kvm.createVm();
    vm.createIrqchip();
    expectErrno(() => vm.createIrqchip(), 'EEXIST');
    const late = kvm.createVm();
    late.createVcpu(0);
    expectErrno(() => late.createIrqchip(), 'EINVAL', /before KVM_CREATE_VCPU/);
  });

  it('gives the VMM anonymous memory and keeps KVM memory out of its reach', () => {
    const kvm = new Kvm();
    const a = kvm.mmap(0x1000);
    const b = kvm.mmap(0x3000);
    expect(b).toBeGreaterThan(a);
    expect(kvm.memory.isBacked(b, 0x3000)).toBe(true);
    expectErrno(() => kvm.mmap(0), 'EINVAL');
    const vm = kvm.createVm();
    expectErrno(() => vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0, memorySize: 0x1000, userspaceAddr: 0x1000_0000 }), 'EINVAL', /not user memory/);
  });

  it('gives the x86 guest CPUs the cost profile of x86CpuCosts, and the default without it', () => {
    const costs = { ...X86_DEFAULT_COSTS, name: 'slow-exits', vmExit: 5000 };
    const vcpu = new Kvm({ x86CpuCosts: costs }).createVm().createVcpu(0);
    expect(vcpu.cpu.costs).toBe(costs);
    expect(new Kvm().createVm().createVcpu(0).cpu.costs).toBe(X86_DEFAULT_COSTS);
  });
});
