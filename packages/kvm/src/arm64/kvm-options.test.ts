// The arm64 options of the system object (this model's stand-ins for the host's hardware and the kvm module's
// configuration): the host GIC (GICv3, or GICv4.0/4.1 with an ITS: kvm-arm.vgic_v4_enable) and the guest CPUs' cycle
// costs, both reaching every VM `createVm` makes (api.rst 4.2 KVM_CREATE_VM).
import { describe, expect, it } from 'vitest';
import { ARM64_DEFAULT_COSTS, type Arm64Guest, type Op } from '@hvsim/cpu';
import { KVM_EXIT } from '../generic/constants.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { Kvm } from '../kvm.js';
import { KVM_ARM_VCPU_FEATURE, KVM_REG_ARM_CORE_INDEX, PSCI_FN, arm64CoreRegId } from './constants.js';
import { smcccHvc } from './smccc.js';

type Routine = Generator<Op, void, number>;
const ENTRY = 0x4010_0000;

/** Cycles of one KVM_RUN of a guest that computes 1,000 cycles' worth and powers off. */
function runCycles(kvm: Kvm<'arm64'>): number {
  const vm = kvm.createVm();
  vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
    yield g.compute(1000);
    yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
  });
  const vcpu = vm.createVcpu(0);
  vcpu.init({ target: 5, features: [1 << KVM_ARM_VCPU_FEATURE.PSCI_0_2] });
  vcpu.setOneReg(arm64CoreRegId(KVM_REG_ARM_CORE_INDEX.PC), BigInt(ENTRY));
  expect(vcpu.run().exit_reason).toBe(KVM_EXIT.SYSTEM_EVENT);
  return vcpu.cpu.localTime;
}

describe('Kvm arm64 options', () => {
  it('arm64HostGic reaches createVm (GICv4.1 has a host ITS); anything else is EINVAL', () => {
    expect(new Kvm({ arch: 'arm64' }).createVm().hostGicVersion).toBe('v3');
    const v41 = new Kvm({ arch: 'arm64', arm64HostGic: 'v4.1' }).createVm();
    expect(v41.hostGicVersion).toBe('v4.1');
    expect(v41.hostIts).toBeDefined();
    expect(new Kvm({ arch: 'arm64', arm64HostGic: 'v4.0' }).createVm().hostGicVersion).toBe('v4.0');
    expectErrno(() => new Kvm({ arch: 'arm64', arm64HostGic: 'v5' as never }), 'EINVAL', /arm64HostGic v5 is not 'v3', 'v4.0' or 'v4.1'/);
  });

  it('arm64CpuCosts are the guest CPUs\' cost profile: the HVC trap and ERET cost what it says', () => {
    const base = runCycles(new Kvm({ arch: 'arm64' }));
    const extra = 5000;
    const costly = runCycles(new Kvm({ arch: 'arm64', arm64CpuCosts: { ...ARM64_DEFAULT_COSTS, trapToEl2: ARM64_DEFAULT_COSTS.trapToEl2 + extra } }));
    // One trap to EL2: the SYSTEM_OFF HVC.
    expect(costly - base).toBe(extra);
  });
});
