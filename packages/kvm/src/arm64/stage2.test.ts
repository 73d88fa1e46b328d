// Guest memory through stage 2 filled from memslots (Linux arch/arm64/kvm/mmu.c kvm_handle_guest_abort, api.rst 4.35
// KVM_SET_USER_MEMORY_REGION with KVM_MEM_READONLY): pages are mapped on the first fault, a write to a read-only slot
// and an access outside every slot are MMIO (io_mem_abort: ioeventfd, KVM_EXIT_MMIO; Arm ARM D19 ESR_EL2 ISS with ISV,
// SAS, WnR), and deleting a slot unmaps it. Also irqfd → SPI through the default GSI routes.
import { describe, expect, it } from 'vitest';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { KVM_EXIT, KVM_MEM } from '../generic/constants.js';
import { EventFd } from '../generic/eventfd.js';
import { KVM_ARM_IRQ_TYPE, KVM_REG_ARM_CORE_INDEX, PSCI_FN, arm64CoreRegId } from './constants.js';
import { smcccHvc } from './smccc.js';
import { ARM_GUEST, IRQ_ENTRY, arm64Vmm, guestGicInit, guestSpiInit } from './test-support/arm64-vmm.js';
import { ARM64_NVHE_COSTS, ARM64_VHE_COSTS } from './world-switch-costs.js';

type Routine = Generator<Op, void, number>;
const { ENTRY, DATA, DEVICE, MARK } = ARM_GUEST;
/** A second, read-only slot (a ROM) at 0x5000_0000. */
const ROM = 0x5000_0000;

describe('stage 2 from memslots', () => {
  it('maps RAM on first touch; a read-only slot reads, and a write to it is a KVM_EXIT_MMIO write', () => {
    const seen: number[] = [];
    const vmm = arm64Vmm({
      vcpus: 1,
      code: (vm) => {
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          yield g.st32(DATA, 7);
          seen.push(yield g.ld32(DATA)); // mapped by the first store's fault: no exit
          seen.push(yield g.ld32(ROM)); // the ROM's first read maps it read-only
          yield g.st32(ROM, 0x55); // a write to a read-only slot: MMIO (the ROM is unchanged)
          seen.push(yield g.ld32(ROM));
          seen.push(yield g.ld16(DEVICE)); // MMIO read: the VMM's value (0x5a)
          yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
        });
      },
    });
    const rom = vmm.kvm.mmap(0x1000);
    vmm.kvm.memory.write32(rom, 0xc0de);
    vmm.vm.setUserMemoryRegion({ slot: 1, flags: KVM_MEM.READONLY, guestPhysAddr: ROM, memorySize: 0x1000, userspaceAddr: rom });
    expect(vmm.runUntilStop()).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(seen).toEqual([7, 0xc0de, 0xc0de, 0x5a]);
    expect(vmm.userExits).toEqual([`mmio write 0x${ROM.toString(16)}`, 'mmio read 0x9000000']);
    expect(vmm.written).toEqual([0x55]);
    expect(vmm.kvm.memory.read32(rom)).toBe(0xc0de);
    const stats = vmm.vcpus[0]!.stats.snapshot();
    // Stage 2 aborts: RAM's first store, the ROM's first read, the ROM write, the device read (the entry code is
    // not fetched through the MMU by @hvsim/cpu, vector entries are).
    expect(stats).toEqual({ DATA_ABORT_LOWER: 4, HVC64: 1, KVM_EXIT_MMIO: 2, KVM_EXIT_SYSTEM_EVENT: 1 });
  });

  it('deleting a slot unmaps it: the next access is MMIO; an ioeventfd write completes in the kernel', () => {
    const seen: number[] = [];
    const vmm = arm64Vmm({
      vcpus: 1,
      code: (vm) => {
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          seen.push(yield g.ld32(ROM));
          yield g.st32(MARK, 1); // the VMM deletes the ROM slot here
          seen.push(yield g.ld32(ROM));
          yield g.st32(DEVICE + 0x20, 3); // an ioeventfd: no exit to userspace
          yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
        });
      },
    });
    const rom = vmm.kvm.mmap(0x1000);
    vmm.kvm.memory.write32(rom, 0x1234);
    vmm.vm.setUserMemoryRegion({ slot: 1, flags: 0, guestPhysAddr: ROM, memorySize: 0x1000, userspaceAddr: rom });
    const fd = new EventFd();
    vmm.vm.ioeventfd({ addr: DEVICE + 0x20, len: 4, fd });
    const vcpu = vmm.vcpus[0]!;
    let run = vcpu.run();
    expect(run.mmio.phys_addr).toBe(MARK);
    vmm.vm.setUserMemoryRegion({ slot: 1, flags: 0, guestPhysAddr: ROM, memorySize: 0, userspaceAddr: rom });
    run = vcpu.run();
    expect(run.exit_reason).toBe(KVM_EXIT.MMIO);
    expect(run.mmio.phys_addr).toBe(ROM);
    run.mmio.data.set([0xee, 0, 0, 0]);
    run = vcpu.run();
    expect(run.exit_reason).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(seen).toEqual([0x1234, 0xee]);
    expect(fd.count).toBe(1n);
  });

  it('an irqfd on GSI 8 raises SPI 40 (default routes: GSI n is SPI n + 32)', () => {
    let taken = -1;
    const vmm = arm64Vmm({
      vcpus: 1,
      code: (vm) => {
        vm.program.define(IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
          taken = yield g.mrs('ICC_IAR1_EL1');
          yield g.msr('ICC_EOIR1_EL1', taken);
          yield g.eret();
        });
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
          yield* guestGicInit(g, 0, 0);
          yield* guestSpiInit(g, 40, 0);
          yield g.daifClr(2);
          yield g.st32(DEVICE, 1);
          while (taken < 0) yield g.wfi();
          yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
        });
      },
    });
    const fd = new EventFd();
    vmm.vm.irqfd({ fd, gsi: 8 });
    vmm.onData = () => fd.write(1);
    expect(vmm.runUntilStop()).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(taken).toBe(40);
    expect(vmm.vm.irqfdInjections(fd)).toBe(1);
    expect(KVM_ARM_IRQ_TYPE.SPI).toBe(1);
  });
});

describe('nVHE and VHE: one code path, two costs (Dall et al., ATC 2017, Table 2)', () => {
  function hypercalls(costs: typeof ARM64_VHE_COSTS): number {
    const vmm = arm64Vmm({
      vcpus: 1,
      costs,
      code: (vm) => {
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          yield g.st32(MARK, 0);
          for (let i = 0; i < 100; i++) yield smcccHvc(g, PSCI_FN.PSCI_VERSION);
          yield g.st32(MARK, 1);
          yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
        });
      },
    });
    const times: number[] = [];
    const vcpu = vmm.vcpus[0]!;
    for (let run = vcpu.run(); run.exit_reason === KVM_EXIT.MMIO; run = vcpu.run()) times.push(vcpu.cpu.localTime);
    return (times[1]! - times[0]!) / 100;
  }

  it('a hypercall round trip costs the configuration plus the CPU trap and ERET; the same exits in both', () => {
    const nvhe = hypercalls(ARM64_NVHE_COSTS);
    const vhe = hypercalls(ARM64_VHE_COSTS);
    // Between the two MARK exits: 100 HVC exits and the closing MARK's exit, which also returns to userspace.
    const dExit = ARM64_NVHE_COSTS.exit - ARM64_VHE_COSTS.exit;
    const dUser = ARM64_NVHE_COSTS.userspace - ARM64_VHE_COSTS.userspace;
    expect(nvhe - vhe).toBeCloseTo((101 * dExit + dUser) / 100, 6);
    expect(Math.round(vhe)).toBeGreaterThanOrEqual(752);
    expect(Math.round(nvhe)).toBeGreaterThanOrEqual(6413);
    expect(arm64CoreRegId(KVM_REG_ARM_CORE_INDEX.X0)).toBe(0x6030_0000_0010_0000n);
  });
});
