// PSCI through HVC (Arm DEN 0022 PSCI 1.1 5.1; Linux arch/arm64/kvm/psci.c): return codes of CPU_ON, AFFINITY_INFO,
// PSCI_FEATURES and unknown functions, SYSTEM_RESET as KVM_EXIT_SYSTEM_EVENT (api.rst 5), PSCI 0.1's function IDs for
// a vCPU without KVM_ARM_VCPU_PSCI_0_2, and KVM_RUN's immediate_exit.
import { describe, expect, it } from 'vitest';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { KVM_EXIT, KVM_SYSTEM_EVENT } from '../generic/constants.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { KVM_ARM_MP_STATE, KVM_REG_ARM_CORE_INDEX, PSCI_AFFINITY, PSCI_FN, PSCI_RET, SMCCC_RET_NOT_SUPPORTED, arm64CoreRegId } from './constants.js';
import { KVM_PSCI_0_1_FN } from './psci.js';
import { smcccHvc, smcccResult } from './smccc.js';
import { ARM_GUEST, arm64Vmm } from './test-support/arm64-vmm.js';

type Routine = Generator<Op, void, number>;
const { ENTRY, SECONDARY } = ARM_GUEST;

describe('PSCI', () => {
  it('CPU_ON, AFFINITY_INFO, PSCI_FEATURES and unknown calls answer as DEN 0022; SYSTEM_RESET reaches userspace', () => {
    const codes: number[] = [];
    const vmm = arm64Vmm({
      code: (vm) => {
        vm.program.define(SECONDARY, function* secondary(g: Arm64Guest): Routine {
          yield smcccHvc(g, PSCI_FN.CPU_OFF);
        });
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          const call = function* (x0: number, x1 = 0, x2 = 0): Generator<Op, number, number> {
            return smcccResult(g, yield smcccHvc(g, x0, x1, x2));
          };
          codes.push(yield* call(PSCI_FN.AFFINITY_INFO_64, 1)); // vCPU 1 starts powered off
          codes.push(yield* call(PSCI_FN.CPU_ON_64, 7, SECONDARY)); // no vCPU has MPIDR 7
          codes.push(yield* call(PSCI_FN.CPU_ON_64, 1, 0x4020_0000)); // no code there: an address PSCI refuses
          codes.push(yield* call(PSCI_FN.CPU_ON, 1, SECONDARY)); // the SMC32 form
          codes.push(yield* call(PSCI_FN.AFFINITY_INFO_64, 1));
          codes.push(yield* call(PSCI_FN.AFFINITY_INFO_64, 1, 1)); // level 1: not supported here
          codes.push(yield* call(PSCI_FN.PSCI_FEATURES, PSCI_FN.CPU_ON_64));
          codes.push(yield* call(PSCI_FN.PSCI_FEATURES, 0x8400_0001)); // CPU_SUSPEND
          codes.push(yield* call(0xc200_0000)); // an SMCCC function nothing implements
          codes.push(yield* call(PSCI_FN.MIGRATE_INFO_TYPE));
          yield smcccHvc(g, PSCI_FN.SYSTEM_RESET);
        });
      },
    });
    expect(vmm.runUntilStop()).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(vmm.vcpus[0]!.kvmRun.system_event.type).toBe(KVM_SYSTEM_EVENT.RESET);
    expect(vmm.vcpus[0]!.kvmRun.system_event.data[0]).toBe(PSCI_FN.SYSTEM_RESET);
    expect(codes).toEqual([
      PSCI_AFFINITY.OFF,
      PSCI_RET.INVALID_PARAMS,
      PSCI_RET.INVALID_ADDRESS,
      PSCI_RET.SUCCESS,
      PSCI_AFFINITY.ON,
      PSCI_RET.INVALID_PARAMS,
      PSCI_RET.SUCCESS,
      PSCI_RET.NOT_SUPPORTED,
      SMCCC_RET_NOT_SUPPORTED,
      2, // MIGRATE_INFO_TYPE: no Trusted OS that needs migration
    ]);
    // SYSTEM_RESET powered every vCPU off (kvm_prepare_system_event).
    expect(vmm.vcpus.map((v) => v.getMpState())).toEqual([KVM_ARM_MP_STATE.STOPPED, KVM_ARM_MP_STATE.STOPPED]);
  });

  it('PSCI 0.1 (no KVM_ARM_VCPU_PSCI_0_2): KVM\'s own CPU_ON/CPU_OFF IDs; PSCI_VERSION is unknown', () => {
    const codes: number[] = [];
    const vmm = arm64Vmm({
      vcpus: 1,
      psci02: false,
      code: (vm) => {
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          codes.push(smcccResult(g, yield smcccHvc(g, PSCI_FN.PSCI_VERSION)));
          yield smcccHvc(g, KVM_PSCI_0_1_FN.CPU_OFF);
          codes.push(-100); // not reached: the vCPU is off
        });
      },
    });
    const run = vmm.vcpus[0]!.run({ maxCycles: 100_000 });
    expect(run.exit_reason).toBe(KVM_EXIT.INTR);
    expect(codes).toEqual([PSCI_RET.NOT_SUPPORTED]);
    expect(vmm.vcpus[0]!.getMpState()).toBe(KVM_ARM_MP_STATE.STOPPED);
  });

  it('CPU_ON passes the context ID in X3 to the new vCPU\'s X0 (DEN 0022 5.1.4; psci.c reset_state.r0); X1-X3 come back 0', () => {
    const CONTEXT = 0x1234_5678_9abc;
    const results: number[] = [];
    let secondaryRan = false;
    const vmm = arm64Vmm({
      code: (vm) => {
        vm.program.define(SECONDARY, function* secondary(g: Arm64Guest): Routine {
          secondaryRan = true;
          yield smcccHvc(g, PSCI_FN.CPU_OFF);
        });
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          results.push(yield smcccHvc(g, PSCI_FN.CPU_ON_64, 1, SECONDARY, CONTEXT));
          results.push(...g.hvcResults.slice(1)); // smccc_set_retval(vcpu, x0, 0, 0, 0)
          yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
        });
      },
    });
    const second = vmm.vcpus[1]!;
    vmm.vcpus[0]!.run({ maxCycles: 1_000_000 });
    expect(results).toEqual([PSCI_RET.SUCCESS, 0, 0, 0]);
    expect(second.getOneReg(arm64CoreRegId(KVM_REG_ARM_CORE_INDEX.X0))).toBe(BigInt(CONTEXT));
    expect(second.getOneReg(arm64CoreRegId(KVM_REG_ARM_CORE_INDEX.PC))).toBe(BigInt(SECONDARY));
    expect(secondaryRan).toBe(false); // powered on, not yet run
  });

  it('immediate_exit: KVM_RUN returns EINTR with KVM_EXIT_INTR at once', () => {
    const vmm = arm64Vmm({
      vcpus: 1,
      code: (vm) => {
        vm.program.define(ENTRY, function* main(): Routine {
          // nothing
        });
      },
    });
    const vcpu = vmm.vcpus[0]!;
    vcpu.kvmRun.immediate_exit = 1;
    expectErrno(() => vcpu.run(), 'EINTR', /immediate_exit/);
    expect(vcpu.kvmRun.exit_reason).toBe(KVM_EXIT.INTR);
  });
});
