/**
 * A kvmtool-style arm64 VMM for tests, using the KVM API alone: /dev/kvm
 * with arch 'arm64', a VM with one memslot of RAM at 1 GiB (QEMU virt's
 * layout), the in-kernel vGICv3 (distributor at 0x0800_0000,
 * redistributors at 0x080a_0000), vCPU 0 powered on at the entry point and
 * the others powered off for PSCI CPU_ON, and an MMIO device page that
 * serves KVM_EXIT_MMIO (a data register and a power-off register).
 */
import type { HaltPollParams } from '../../generic/halt-poll.js';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { GICD, GICR, GICR_SGI, GICR_SGI_BASE } from '@hvsim/gic';
import { KVM_EXIT } from '../../generic/constants.js';
import { Kvm } from '../../kvm.js';
import { KVM_ARM_VCPU_FEATURE, KVM_DEV_ARM_VGIC_CTRL, KVM_DEV_ARM_VGIC_GRP, KVM_DEV_TYPE, KVM_REG_ARM_CORE_INDEX, KVM_VGIC_V3_ADDR_TYPE, arm64CoreRegId } from '../constants.js';
import type { Arm64Vcpu } from '../vcpu.js';
import type { Arm64Vgic } from '../vgic.js';
import type { Arm64Vits } from '../vits.js';
import type { Arm64Vm, Arm64VmOptions } from '../vm.js';
import type { Arm64WorldSwitchCosts } from '../world-switch-costs.js';

/** Guest-physical layout. */
export const ARM_GUEST = {
  RAM_BASE: 0x4000_0000,
  RAM_SIZE: 8 << 20,
  /** VBAR_EL1: IRQ from EL1h at + 0x280. */
  VECTORS: 0x4000_0000,
  ENTRY: 0x4010_0000,
  SECONDARY: 0x4011_0000,
  DATA: 0x4040_0000,
  GICD: 0x0800_0000,
  GICR: 0x080a_0000,
  /** ITS_base of the vITS, when the VMM makes one (QEMU virt's address). */
  ITS: 0x0808_0000,
  /** The VMM's device page: DATA at +0 (reads 0x5a), POWER at +8 (a write stops the VMM), MARK at +0x10. */
  DEVICE: 0x0900_0000,
  /** A write here makes the VMM record the writing vCPU's exit counts (a measurement point). */
  MARK: 0x0900_0010,
} as const;

/** The IRQ entry of the vector table (current EL with SP_ELx, D1.3.1). */
export const IRQ_ENTRY = ARM_GUEST.VECTORS + 0x280;

/** The VMM. */
export interface Arm64Vmm {
  kvm: Kvm<'arm64'>;
  vm: Arm64Vm;
  vgic: Arm64Vgic;
  /** The vITS (option `its`). */
  its: Arm64Vits | undefined;
  vcpus: Arm64Vcpu[];
  /** Values the guest wrote to the device's DATA register. */
  written: number[];
  /** Exits to userspace seen, by name. */
  userExits: string[];
  /** The MARK writes: value, vCPU and its exit counts then. */
  marks: { value: number; vcpu: number; stats: Record<string, number> }[];
  /** Called for each KVM_EXIT_MMIO write to DATA (a device the test models). */
  onData?: (value: number, vcpu: Arm64Vcpu) => void;
  /**
   * Runs the vCPUs round-robin, `quantum` cycles each, serving MMIO, until
   * the guest writes POWER or a KVM_EXIT_SYSTEM_EVENT; returns the last
   * exit reason.
   */
  runUntilStop(maxRounds?: number, quantum?: number): number;
}

type Routine = Generator<Op, void, number>;

/** Builds the VM through the API (see the file comment). */
export function arm64Vmm(options: { vcpus?: number; costs?: Arm64WorldSwitchCosts; nrIrqs?: number; psci02?: boolean; its?: boolean; hostGic?: Arm64VmOptions['hostGic']; snapshots?: boolean; haltPoll?: Partial<HaltPollParams>; code: (vm: Arm64Vm) => void }): Arm64Vmm {
  const kvm = new Kvm({ arch: 'arm64', ...(options.haltPoll ? { haltPoll: options.haltPoll } : {}), ...(options.costs ? { arm64Costs: options.costs } : {}), ...(options.hostGic ? { arm64HostGic: options.hostGic } : {}), ...(options.snapshots === true ? { snapshots: true } : {}) });
  const vm = kvm.createVm();
  const ram = kvm.mmap(ARM_GUEST.RAM_SIZE);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: ARM_GUEST.RAM_BASE, memorySize: ARM_GUEST.RAM_SIZE, userspaceAddr: ram });
  options.code(vm);
  const vgic = vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_V3 })!;
  const { target } = vm.preferredTarget();
  const vcpus: Arm64Vcpu[] = [];
  for (let id = 0; id < (options.vcpus ?? 2); id++) {
    const vcpu = vm.createVcpu(id);
    const features = (options.psci02 === false ? 0 : 1 << KVM_ARM_VCPU_FEATURE.PSCI_0_2) | (id > 0 ? 1 << KVM_ARM_VCPU_FEATURE.POWER_OFF : 0);
    vcpu.init({ target, features: [features] });
    vcpus.push(vcpu);
  }
  vgic.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.DIST, value: ARM_GUEST.GICD });
  vgic.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.REDIST, value: ARM_GUEST.GICR });
  vgic.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.NR_IRQS, attr: 0, value: options.nrIrqs ?? 128 });
  vgic.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.INIT });
  // QEMU's order: the ITS after the vGICv3's CTRL_INIT (kvm_arm_its_realize).
  let its: Arm64Vits | undefined;
  if (options.its === true) {
    its = vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_ITS });
    its.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.ITS, value: ARM_GUEST.ITS });
    its.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.INIT });
  }
  vcpus[0]!.setOneReg(arm64CoreRegId(KVM_REG_ARM_CORE_INDEX.PC), BigInt(ARM_GUEST.ENTRY));
  const written: number[] = [];
  const userExits: string[] = [];
  const marks: Arm64Vmm['marks'] = [];
  const runUntilStop = (maxRounds = 1000, quantum = 200_000): number => {
    for (let round = 0; round < maxRounds; round++) {
      for (const vcpu of vcpus) {
        for (;;) {
          const run = vcpu.run({ maxCycles: quantum });
          const reason = run.exit_reason;
          if (reason === KVM_EXIT.INTR) break;
          if (reason === KVM_EXIT.SYSTEM_EVENT) return reason;
          if (reason !== KVM_EXIT.MMIO) return reason;
          const m = run.mmio;
          userExits.push(`mmio ${m.is_write ? 'write' : 'read'} 0x${m.phys_addr.toString(16)}`);
          const value = m.data[0]! | (m.data[1]! << 8) | (m.data[2]! << 16) | (m.data[3]! << 24);
          if (m.is_write && m.phys_addr === ARM_GUEST.DEVICE + 8) return reason;
          if (m.is_write && m.phys_addr === ARM_GUEST.MARK) marks.push({ value, vcpu: vcpu.id, stats: vcpu.stats.snapshot() });
          else if (m.is_write) {
            written.push(value);
            vmm.onData?.(value, vcpu);
          } else m.data.set([0x5a, 0, 0, 0, 0, 0, 0, 0]);
        }
      }
    }
    throw new Error('the guest did not stop');
  };
  const vmm: Arm64Vmm = { kvm, vm, vgic, its, vcpus, written, userExits, marks, runUntilStop };
  return vmm;
}

/**
 * What a guest kernel does on each CPU to bring up its GICv3 (IHI 0069
 * 12.11.42 GICR_WAKER, 12.9.4 GICD_CTLR, 12.2.x ICC_PMR_EL1/ICC_IGRPEN1_EL1):
 * wake its redistributor, SGIs and PPIs Group 1 at priority 0xa0 with
 * `ppis` enabled, Group 1 on in the distributor (CPU 0), PMR open.
 */
export function* guestGicInit(g: Arm64Guest, cpu: number, ppis: number): Routine {
  const rd = ARM_GUEST.GICR + cpu * 0x2_0000;
  yield g.st32(rd + GICR.WAKER, 0);
  yield g.st32(rd + GICR_SGI_BASE + GICR_SGI.IGROUPR0, 0xffff_ffff);
  for (let i = 0; i < 8; i++) yield g.st32(rd + GICR_SGI_BASE + GICR_SGI.IPRIORITYR0 + 4 * i, 0xa0a0_a0a0);
  yield g.st32(rd + GICR_SGI_BASE + GICR_SGI.ISENABLER0, ppis);
  if (cpu === 0) yield g.st32(ARM_GUEST.GICD + GICD.CTLR, 0x2);
  yield g.msr('ICC_PMR_EL1', 0xf0);
  yield g.msr('ICC_IGRPEN1_EL1', 1);
}

/** Makes SPI `intid` Group 1, priority `prio`, edge or level, routed to `cpu` (affinity Aff0 = cpu), enabled. */
export function* guestSpiInit(g: Arm64Guest, intid: number, cpu: number, prio = 0xa0, edge = true): Routine {
  const d = ARM_GUEST.GICD;
  const word = 4 * (intid >>> 5);
  const bit = 1 << (intid & 31);
  yield g.st32(d + GICD.IGROUPR + word, 0xffff_ffff);
  yield g.st8(d + GICD.IPRIORITYR + intid, prio);
  const cfg = d + GICD.ICFGR + 4 * (intid >>> 4);
  const old = yield g.ld32(cfg);
  const mask = 2 << (2 * (intid & 15));
  yield g.st32(cfg, edge ? (old | mask) >>> 0 : old & ~mask);
  yield g.st64(d + GICD.IROUTER + 8 * intid, cpu);
  yield g.st32(d + GICD.ISENABLER + word, bit);
}

/** The exits between two MARK records of one vCPU (counts that changed). */
export function exitsBetween(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) if (v !== (a[k] ?? 0)) out[k] = v - (a[k] ?? 0);
  return out;
}
