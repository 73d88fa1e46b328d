// Exceptions KVM injects instead of giving up (Linux arch/arm64/kvm/inject_fault.c): a trapped system-register access
// KVM does not emulate is UNDEFINED for the guest (sys_regs.c emulate_sys_reg → kvm_inject_undefined; Arm ARM D1.10,
// ESR_ELx EC 0x00 with IL), and an instruction fetch outside every memslot is a prefetch abort (mmu.c
// kvm_handle_guest_abort → kvm_inject_pabt: ESR_EL1 EC 0x21 from EL1, IFSC 0b010000, FAR_EL1 the address). The
// guest runs on in both cases: no KVM_EXIT_INTERNAL_ERROR.
import { describe, expect, it } from 'vitest';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { KVM_EXIT } from '../generic/constants.js';
import { Kvm } from '../kvm.js';
import { KVM_ARM_VCPU_FEATURE, KVM_REG_ARM_CORE_INDEX, PSCI_FN, arm64CoreRegId } from './constants.js';
import { smcccHvc } from './smccc.js';
import type { Arm64Vm } from './vm.js';

type Routine = Generator<Op, void, number>;
const RAM = 0x4000_0000;
const VECTORS = RAM;
/** The current-EL-with-SPx synchronous vector (Arm ARM D1.3.1). */
const SYNC = 0x200;
const ENTRY = RAM + 0x10_0000;
/** Guest code at an IPA no memslot holds (yet). */
const OUTSIDE = 0x6000_0000;

/** A VM without an in-kernel vGIC: 2 MiB of RAM, one vCPU with PSCI 0.2 at ENTRY. */
function machine(code: (vm: Arm64Vm) => void) {
  const kvm = new Kvm({ arch: 'arm64' });
  const vm = kvm.createVm();
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: RAM, memorySize: 2 << 20, userspaceAddr: kvm.mmap(2 << 20) });
  code(vm);
  const vcpu = vm.createVcpu(0);
  vcpu.init({ target: 5, features: [1 << KVM_ARM_VCPU_FEATURE.PSCI_0_2] });
  vcpu.setOneReg(arm64CoreRegId(KVM_REG_ARM_CORE_INDEX.PC), BigInt(ENTRY));
  return { kvm, vm, vcpu };
}

describe('injected exceptions (inject_fault.c)', () => {
  it('a trapped ICC_SGI1R_EL1 write without a vGIC is UNDEFINED for the guest, which skips it and runs on', () => {
    const seen: number[] = [];
    const { vcpu } = machine((vm) => {
      vm.program.define(VECTORS + SYNC, function* sync(g: Arm64Guest): Routine {
        seen.push(yield g.mrs('ESR_EL1'));
        const elr = yield g.mrs('ELR_EL1');
        seen.push(elr);
        yield g.msr('ELR_EL1', elr + 1); // skip the UNDEFINED instruction
        yield g.eret();
      });
      vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
        yield g.msr('VBAR_EL1', VECTORS);
        yield g.msr('ICC_SGI1R_EL1', (1 << 24) | 1); // traps to EL2 under HCR_EL2.IMO (IHI 0069 12.2.22)
        seen.push(0x600d);
        yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
      });
    });
    expect(vcpu.run().exit_reason).toBe(KVM_EXIT.SYSTEM_EVENT);
    // ESR_EL1: EC 0x00 "unknown reason" with IL (bit 25); ELR_EL1 at the trapped MSR (ENTRY's second operation).
    expect(seen).toEqual([1 << 25, ENTRY + 1, 0x600d]);
    expect(vcpu.stats.snapshot()).toMatchObject({ SYS64: 1, KVM_EXIT_SYSTEM_EVENT: 1 });
    expect(vcpu.stats.snapshot()).not.toHaveProperty('KVM_EXIT_INTERNAL_ERROR');
  });

  it('a vector fetch outside every memslot is a prefetch abort injected into the guest; with the memory added it runs', () => {
    const seen: number[] = [];
    const { kvm, vm, vcpu } = machine((vm) => {
      vm.program.define(OUTSIDE + SYNC, function* sync(g: Arm64Guest): Routine {
        seen.push(yield g.mrs('ESR_EL1'), yield g.mrs('FAR_EL1'));
        yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
      });
      vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
        yield g.msr('VBAR_EL1', OUTSIDE);
        yield g.svc(0); // to the vector at OUTSIDE + 0x200: its fetch faults at stage 2
      });
    });
    // The injected abort's own vector is outside memory too: the guest faults again and again, as on Linux, until the
    // VMM's signal; never an internal error.
    expect(vcpu.run({ maxCycles: 20_000 }).exit_reason).toBe(KVM_EXIT.INTR);
    const aborts = vcpu.stats.snapshot().INSTRUCTION_ABORT_LOWER ?? 0;
    expect(aborts).toBeGreaterThan(1);
    vm.setUserMemoryRegion({ slot: 1, flags: 0, guestPhysAddr: OUTSIDE, memorySize: 0x1000, userspaceAddr: kvm.mmap(0x1000) });
    expect(vcpu.run().exit_reason).toBe(KVM_EXIT.SYSTEM_EVENT);
    // ESR_EL1: EC 0x21 (instruction abort from EL1) << 26 | IL | IFSC 0b010000; FAR_EL1: the vector's address.
    expect(seen).toEqual([((0x21 << 26) | (1 << 25) | 0x10) >>> 0, OUTSIDE + SYNC]);
    expect(vcpu.stats.snapshot()).not.toHaveProperty('KVM_EXIT_INTERNAL_ERROR');
  });
});
