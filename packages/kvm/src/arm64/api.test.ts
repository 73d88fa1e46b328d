// The arm64 KVM API: KVM_ARM_PREFERRED_TARGET and KVM_ARM_VCPU_INIT (api.rst 4.82, 4.83), KVM_GET/SET_ONE_REG with the
// real register ids (api.rst 4.68: KVM_REG_ARM_CORE, ARM64_SYS_REG, the timer and firmware registers), KVM_CREATE_DEVICE
// for the vGICv3 with its attribute groups (devices/arm-vgic-v3.rst), KVM_IRQ_LINE's arm64 encoding (api.rst 4.25).
import { describe, expect, it } from 'vitest';
import { KVM_CAP } from '../generic/constants.js';
import { Kvm } from '../kvm.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { KVM_CAP_ARM } from './caps.js';
import {
  KVM_ARM_MP_STATE,
  KVM_ARM_VCPU_FEATURE,
  KVM_DEV_ARM_VGIC_CTRL,
  KVM_DEV_ARM_VGIC_GRP,
  KVM_DEV_TYPE,
  KVM_REG,
  KVM_REG_ARM_CORE_INDEX as CORE,
  KVM_REG_ARM_PSCI_VERSION,
  KVM_REG_ARM_TIMER,
  KVM_VGIC_V3_ADDR_TYPE,
  arm64CoreRegId,
  arm64SysRegId,
} from './constants.js';
import { VGIC_ADDR_UNDEF } from './vgic.js';

const PSCI = 1 << KVM_ARM_VCPU_FEATURE.PSCI_0_2;
const { GRP } = { GRP: KVM_DEV_ARM_VGIC_GRP };

function vmWithCode() {
  const kvm = new Kvm({ arch: 'arm64' });
  const vm = kvm.createVm();
  vm.program.define(0x4000_0000, function* main() {
    // nothing
  });
  return { kvm, vm };
}

describe('arm64 system and VM objects', () => {
  it('new Kvm({ arch: "arm64" }) answers arm64 capabilities; VM types are 0 or a 40-bit IPA size (api.rst 4.2)', () => {
    const kvm = new Kvm({ arch: 'arm64' });
    expect(kvm.arch).toBe('arm64');
    expect(kvm.checkExtension(KVM_CAP_ARM.PSCI_0_2)).toBe(1);
    expect(kvm.checkExtension(KVM_CAP_ARM.VM_IPA_SIZE)).toBe(40);
    expect(kvm.checkExtension(KVM_CAP.MAX_VCPUS)).toBe(8);
    expect(new Kvm().checkExtension(KVM_CAP_ARM.PSCI_0_2)).toBe(0); // x86 stays the default
    expectErrno(() => kvm.createVm(36), 'EINVAL', /VM type 36/);
    expectErrno(() => new Kvm({ arch: 'mips' as 'x86' }), 'EINVAL', /arch mips/);
    expect(kvm.createVm(40).preferredTarget()).toEqual({ target: 5, features: [0, 0, 0, 0, 0, 0, 0] });
  });
});

describe('KVM_ARM_VCPU_INIT', () => {
  it('checks the target and the features with Linux errnos', () => {
    const { vm } = vmWithCode();
    const vcpu = vm.createVcpu(0);
    expectErrno(() => vcpu.getOneReg(arm64CoreRegId(CORE.PC)), 'ENOEXEC', /before KVM_ARM_VCPU_INIT/);
    expectErrno(() => vcpu.run(), 'ENOEXEC', /KVM_RUN before KVM_ARM_VCPU_INIT/);
    expectErrno(() => vcpu.init({ target: 2 }), 'EINVAL', /target 2 is not the preferred target/);
    expectErrno(() => vcpu.init({ target: 5, features: [1 << 9] }), 'ENOENT', /0x200/);
    expectErrno(() => vcpu.init({ target: 5, features: [0, 1] }), 'ENOENT', /feature/);
    expectErrno(() => vcpu.init({ target: 5, features: [1 << KVM_ARM_VCPU_FEATURE.PMU_V3] }), 'EINVAL', /does not implement/);
    vcpu.init({ target: 5, features: [PSCI | (1 << KVM_ARM_VCPU_FEATURE.POWER_OFF)] });
    expect(vcpu.getMpState()).toBe(KVM_ARM_MP_STATE.STOPPED);
    expectErrno(() => vcpu.init({ target: 5, features: [PSCI] }), 'EINVAL', /differ from the first/);
    vcpu.init({ target: 5, features: [PSCI | 1] }); // the same features again: a reset
    expect(vcpu.getOneReg(KVM_REG_ARM_PSCI_VERSION)).toBe(0x1_0001n); // PSCI 1.1
  });

  it('a vCPU without KVM_ARM_VCPU_PSCI_0_2 has PSCI 0.1; MP states are RUNNABLE and STOPPED', () => {
    const { vm } = vmWithCode();
    const vcpu = vm.createVcpu(0);
    vcpu.init({ target: 5 });
    expect(vcpu.getOneReg(KVM_REG_ARM_PSCI_VERSION)).toBe(0n);
    expect(vcpu.getMpState()).toBe(KVM_ARM_MP_STATE.RUNNABLE);
    vcpu.setMpState(KVM_ARM_MP_STATE.STOPPED);
    expect(vcpu.getMpState()).toBe(5);
    expectErrno(() => vcpu.setMpState(3), 'EINVAL', /mp_state 3/);
  });
});

describe('KVM_GET/SET_ONE_REG', () => {
  it('core registers by their struct kvm_regs offsets: X0 0x6030000000100000, PC 0x6030000000100040, PSTATE ...0042', () => {
    const { vm } = vmWithCode();
    const vcpu = vm.createVcpu(0);
    vcpu.init({ target: 5, features: [PSCI] });
    expect(arm64CoreRegId(CORE.PC)).toBe(0x6030_0000_0010_0040n);
    expect(arm64CoreRegId(CORE.PSTATE)).toBe(0x6030_0000_0010_0042n);
    vcpu.setOneReg(arm64CoreRegId(CORE.X0 + 2 * 30), 0x1234_5678_9abc_def0n); // X30
    expect(vcpu.getOneReg(arm64CoreRegId(60))).toBe(0x1234_5678_9abc_def0n);
    vcpu.setOneReg(arm64CoreRegId(CORE.PC), 0x4000_0000n);
    expect(vcpu.getOneReg(arm64CoreRegId(CORE.PC))).toBe(0x4000_0000n);
    expect(vcpu.getOneReg(arm64CoreRegId(CORE.PSTATE))).toBe(0x3c5n); // EL1h, DAIF masked (reset)
    vcpu.setOneReg(arm64CoreRegId(CORE.PSTATE), 0x5n);
    expect(vcpu.getOneReg(arm64CoreRegId(CORE.PSTATE))).toBe(0x5n);
    vcpu.setOneReg(arm64CoreRegId(CORE.V0 + 4, KVM_REG.SIZE_U128), (1n << 127n) | 5n); // V1, 128-bit
    expect(vcpu.getOneReg(arm64CoreRegId(CORE.V0 + 4, KVM_REG.SIZE_U128))).toBe((1n << 127n) | 5n);
    vcpu.setOneReg(arm64CoreRegId(CORE.FPCR, KVM_REG.SIZE_U32), 0x300_0000n);
    expect(vcpu.getOneReg(arm64CoreRegId(CORE.FPCR, KVM_REG.SIZE_U32))).toBe(0x300_0000n);
    vcpu.setOneReg(arm64CoreRegId(CORE.SPSR), 0x3c5n); // SPSR_EL1
    expect(vcpu.getOneReg(arm64CoreRegId(CORE.SPSR))).toBe(0x3c5n);
  });

  it('bad ids and values get the errnos of get_core_reg/set_core_reg', () => {
    const { vm } = vmWithCode();
    const vcpu = vm.createVcpu(0);
    vcpu.init({ target: 5, features: [PSCI] });
    expectErrno(() => vcpu.getOneReg(arm64CoreRegId(1)), 'EINVAL', /offset 0x4 with 8 bytes/); // the middle of X0
    expectErrno(() => vcpu.getOneReg(arm64CoreRegId(CORE.PC, KVM_REG.SIZE_U32)), 'EINVAL', /4 bytes/);
    expectErrno(() => vcpu.getOneReg(arm64CoreRegId(0x52)), 'EINVAL', /0x148/); // padding before fp_regs
    expectErrno(() => vcpu.getOneReg(arm64CoreRegId(0xd6)), 'ENOENT', /past struct kvm_regs/);
    expectErrno(() => vcpu.getOneReg(arm64SysRegId(3, 0, 9, 9, 0)), 'ENOENT', /not one this vCPU has/);
    expectErrno(() => vcpu.getOneReg(0x4030_0000_0010_0000n), 'EINVAL', /not an arm64 register/);
    expectErrno(() => vcpu.setOneReg(arm64CoreRegId(CORE.PSTATE), 0x9n), 'EINVAL', /PSTATE 0x9/); // EL2h
    expectErrno(() => vcpu.setOneReg(arm64CoreRegId(CORE.PC), 0x5000n), 'EINVAL', /no guest code/);
    expectErrno(() => vcpu.setOneReg(arm64CoreRegId(CORE.FPSR, KVM_REG.SIZE_U32), 1n << 32n), 'EINVAL', /does not fit/);
  });

  it('system registers: MPIDR_EL1 from the vCPU id (reset_mpidr), VBAR_EL1; the timer with its swapped CVAL/CNT ids', () => {
    const { vm } = vmWithCode();
    vm.createVcpu(0);
    const vcpu = vm.createVcpu(1);
    vcpu.init({ target: 5, features: [PSCI] });
    expect(vcpu.getOneReg(arm64SysRegId(3, 0, 0, 0, 5))).toBe(0x8000_0001n); // MPIDR_EL1: RES1 bit 31, Aff0 = 1
    vcpu.setOneReg(arm64SysRegId(3, 0, 12, 0, 0), 0x4000_0800n);
    expect(vcpu.getOneReg(arm64SysRegId(3, 0, 12, 0, 0))).toBe(0x4000_0800n);
    expect(KVM_REG_ARM_TIMER.CVAL).toBe(0x6030_0000_0013_df02n); // (3,3,14,0,2): CNTVCT's encoding, kept as ABI
    expect(KVM_REG_ARM_TIMER.CNT).toBe(0x6030_0000_0013_df1an); // (3,3,14,3,2)
    vm.clock.runUntil(4000); // 100 counter ticks at 62.5 MHz on a 2.5 GHz clock
    expect(vcpu.getOneReg(KVM_REG_ARM_TIMER.CNT)).toBe(100n);
    vcpu.setOneReg(KVM_REG_ARM_TIMER.CNT, 1000n); // moves CNTVOFF_EL2 so CNTVCT_EL0 reads 1000
    vm.clock.runUntil(8000);
    expect(vcpu.getOneReg(KVM_REG_ARM_TIMER.CNT)).toBe(1100n);
    vcpu.setOneReg(KVM_REG_ARM_TIMER.CVAL, 5000n);
    vcpu.setOneReg(KVM_REG_ARM_TIMER.CTL, 1n);
    expect(vcpu.getOneReg(KVM_REG_ARM_TIMER.CVAL)).toBe(5000n);
    expect(vcpu.getOneReg(KVM_REG_ARM_TIMER.CTL)).toBe(1n);
    const list = vcpu.getRegList();
    expect(list).toContain(arm64CoreRegId(CORE.PC));
    expect(list).toContain(KVM_REG_ARM_TIMER.CNT);
    expect(list.length).toBe(new Set(list).size);
  });
});

describe('KVM_CREATE_DEVICE(KVM_DEV_TYPE_ARM_VGIC_V3) and its attributes (arm-vgic-v3.rst)', () => {
  it('one vGICv3 per VM; GICv2 is not modelled; the ITS needs the vGICv3 first; the TEST flag only probes', () => {
    const { vm } = vmWithCode();
    expect(vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_V3, flags: 1 })).toBeUndefined();
    expect(vm.irqchipInKernel).toBe(false);
    expectErrno(() => vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_V2 }), 'ENODEV', /device type 5/);
    expectErrno(() => vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_ITS }), 'ENODEV', /needs the vGICv3 device/);
    expectErrno(() => vm.createDevice({ type: 6 }), 'ENODEV', /device type 6/);
    vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_V3 });
    expect(vm.irqchipInKernel).toBe(true);
    expectErrno(() => vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_V3 }), 'EEXIST', /already has a vGIC/);
  });

  it('GRP_ADDR: 64 KiB aligned, inside the IPA space, set once, REDIST and REDIST_REGION not mixed', () => {
    const { vm } = vmWithCode();
    const gic = vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_V3 })!;
    const ADDR = GRP.ADDR;
    expect(gic.getAttr({ group: ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.DIST })).toBe(VGIC_ADDR_UNDEF);
    expectErrno(() => gic.setAttr({ group: ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.DIST, value: 0x0800_1000 }), 'EINVAL', /64 KiB aligned/);
    expectErrno(() => gic.setAttr({ group: ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.DIST, value: 2 ** 40 }), 'E2BIG', /40-bit IPA space/);
    gic.setAttr({ group: ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.DIST, value: 0x0800_0000 });
    expect(gic.getAttr({ group: ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.DIST })).toBe(0x0800_0000n);
    expectErrno(() => gic.setAttr({ group: ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.DIST, value: 0x0900_0000 }), 'EEXIST', /already 0x8000000/);
    // REDIST_REGION: count 2 in bits 63:52, base 0x080a_0000, flags 0, index 0.
    gic.setAttr({ group: ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.REDIST_REGION, value: (2n << 52n) | 0x080a_0000n });
    expect(gic.getAttr({ group: ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.REDIST_REGION, value: 0 })).toBe((2n << 52n) | 0x080a_0000n);
    expectErrno(() => gic.getAttr({ group: ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.REDIST_REGION, value: 1 }), 'ENOENT', /region 1/);
    expectErrno(() => gic.setAttr({ group: ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.REDIST, value: 0x0a00_0000 }), 'EINVAL', /cannot be mixed/);
    expectErrno(() => gic.setAttr({ group: ADDR, attr: 9, value: 0 }), 'ENXIO', /address type 9/);
    expect(gic.hasAttr({ group: ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.REDIST })).toBe(true);
    expect(gic.hasAttr({ group: ADDR, attr: 9 })).toBe(false);
  });

  it('NR_IRQS, CTRL_INIT, then DIST_REGS / REDIST_REGS (mpidr in attr bits 63:32) and CPU_SYSREGS', () => {
    const { vm } = vmWithCode();
    const gic = vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_V3 })!;
    expectErrno(() => gic.setAttr({ group: GRP.CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.INIT }), 'ENODEV', /at least one vCPU/);
    vm.createVcpu(0).init({ target: 5, features: [PSCI] });
    vm.createVcpu(1).init({ target: 5, features: [PSCI] });
    expectErrno(() => gic.setAttr({ group: GRP.NR_IRQS, attr: 0, value: 100 }), 'EINVAL', /nr_irqs 100/);
    gic.setAttr({ group: GRP.NR_IRQS, attr: 0, value: 96 });
    expectErrno(() => gic.setAttr({ group: GRP.NR_IRQS, attr: 0, value: 128 }), 'EBUSY', /already set/);
    expectErrno(() => gic.getAttr({ group: GRP.DIST_REGS, attr: 0 }), 'EBUSY', /not initialized/);
    gic.setAttr({ group: GRP.CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.INIT });
    gic.setAttr({ group: GRP.CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.INIT }); // a second init does nothing
    expect(gic.getAttr({ group: GRP.NR_IRQS, attr: 0 })).toBe(96n);
    expectErrno(() => vm.createVcpu(2), 'EBUSY', /initialized/);
    // GICD_TYPER.ITLinesNumber = 96 / 32 − 1 = 2 (IHI0069 12.9.38).
    expect(Number(gic.getAttr({ group: GRP.DIST_REGS, attr: 0x4 })) & 0x1f).toBe(2);
    gic.setAttr({ group: GRP.DIST_REGS, attr: 0x100 + 4, value: 1 << 8 }); // GICD_ISENABLER1: SPI 40
    expect(gic.getAttr({ group: GRP.DIST_REGS, attr: 0x100 + 4 })).toBe(BigInt(1 << 8));
    // GICR_TYPER of vCPU 1 (mpidr Aff0 = 1): Processor_Number 1, Last (bit 4) as the last redistributor.
    const typer = gic.getAttr({ group: GRP.REDIST_REGS, attr: (1n << 32n) | 0x8n });
    expect((Number(typer) >>> 8) & 0xffff).toBe(1);
    expect(Number(typer) & 0x10).toBe(0x10);
    expectErrno(() => gic.getAttr({ group: GRP.REDIST_REGS, attr: (7n << 32n) | 0x8n }), 'EINVAL', /MPIDR 0x7/);
    const PMR = (1n << 32n) | BigInt((3 << 14) | (0 << 11) | (4 << 7) | (6 << 3) | 0); // ICC_PMR_EL1 of vCPU 1
    gic.setAttr({ group: GRP.CPU_SYSREGS, attr: PMR, value: 0xf0 });
    expect(gic.getAttr({ group: GRP.CPU_SYSREGS, attr: PMR })).toBe(0xf0n);
    expectErrno(() => gic.getAttr({ group: GRP.CPU_SYSREGS, attr: (1n << 32n) | 0x1234n }), 'ENXIO', /0x1234/);
    expectErrno(() => gic.getAttr({ group: 42, attr: 0 }), 'ENXIO', /group 42/);
  });

  it('KVM_RUN needs the vGIC initialized (EBUSY) and both addresses set (ENXIO), as vgic_v3_map_resources', () => {
    const { vm } = vmWithCode();
    const gic = vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_V3 })!;
    const vcpu = vm.createVcpu(0);
    vcpu.init({ target: 5, features: [PSCI] });
    vcpu.setOneReg(arm64CoreRegId(CORE.PC), 0x4000_0000n);
    expectErrno(() => vcpu.run(), 'EBUSY', /not initialized/);
    gic.setAttr({ group: GRP.CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.INIT });
    expectErrno(() => vcpu.run(), 'ENXIO', /addresses must be set/);
  });
});

describe('KVM_IRQ_LINE on arm64 (api.rst 4.25)', () => {
  it('decodes type, vcpu_index and irq_id, with the errnos of kvm_vm_ioctl_irq_line', () => {
    const { vm } = vmWithCode();
    expectErrno(() => vm.irqLine((1 << 24) | 40, 1), 'ENXIO', /needs the in-kernel vGIC/);
    const gic = vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_V3 })!;
    expectErrno(() => vm.irqLine(0, 1), 'ENXIO', /userspace irqchip/); // KVM_ARM_IRQ_TYPE_CPU with a vGIC
    expectErrno(() => vm.irqLine((1 << 24) | 40, 1), 'EBUSY', /not initialized/);
    vm.createVcpu(0).init({ target: 5, features: [PSCI] });
    gic.setAttr({ group: GRP.CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.INIT });
    expect(vm.irqLine((1 << 24) | 40, 1)).toBe(0);
    expectErrno(() => vm.irqLine((1 << 24) | 31, 1), 'EINVAL', /SPI 31/);
    expectErrno(() => vm.irqLine((1 << 24) | 288, 1), 'EINVAL', /SPI 288 is not in \[32, 256\)/);
    expect(vm.irqLine((2 << 24) | 27, 1)).toBe(0); // a PPI of vCPU 0
    expectErrno(() => vm.irqLine((2 << 24) | (1 << 16) | 27, 1), 'EINVAL', /no vcpu 1/);
    expectErrno(() => vm.irqLine((2 << 24) | 5, 1), 'EINVAL', /PPI 5/);
    expectErrno(() => vm.irqLine(3 << 24, 1), 'EINVAL', /irq type 3/);
    // GSI routes default to SPIs (kvm_vgic_setup_default_irq_routing): GSI 8 is SPI 40.
    expect(vm.gsiRouting()[8]).toEqual({ gsi: 8, type: 1, irqchip: { irqchip: 0, pin: 8 } });
  });
});
