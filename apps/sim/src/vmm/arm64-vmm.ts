/**
 * The arm64 userspace VMM, kvmtool-style, using only the KVM API: /dev/kvm
 * with arch 'arm64' and the profile's world-switch costs, a VM with one
 * memslot of RAM at 1 GiB, the in-kernel vGICv3 (KVM_CREATE_DEVICE
 * KVM_DEV_TYPE_ARM_VGIC_V3 with its distributor and redistributor addresses,
 * the number of IRQs, CTRL_INIT), the vCPUs with KVM_ARM_VCPU_INIT (PSCI
 * 0.2; the secondaries powered off until the guest's CPU_ON), CPU 0's PC
 * with KVM_SET_ONE_REG, and a run loop. The storm device raises its SPI with
 * KVM_IRQ_LINE (a pulse: an edge). For netperf-rr the vITS
 * (KVM_DEV_TYPE_ARM_VGIC_ITS at QEMU virt's address) and the assigned NIC
 * (`arm64-vfio-nic.ts`), on a GICv3 host (`gicv3`) or a GICv4.1 one
 * (`gicv4`, `Kvm`'s arm64HostGic).
 *
 * @hvsim/kvm's arm64 has no in-kernel vCPU scheduler (x86's VcpuScheduler),
 * so this VMM runs several vCPUs by turns: each KVM_RUN gets a budget and
 * ends with KVM_EXIT_INTR (a signal), which costs the vCPU what a return to
 * userspace costs. One vCPU runs until the host's next stop (where it reads
 * the guest's logs); with more, the turns are the scheduling quantum, and the IRQ exits that delivered those signals count
 * among the exits (KVM_EXIT_INTR itself is a return to userspace, not an exit).
 */
import type { CpuStats } from '@hvsim/cpu';
import {
  KVM_ARM_IRQ_TYPE,
  KVM_ARM_VCPU_FEATURE,
  KVM_DEV_ARM_VGIC_CTRL,
  KVM_DEV_ARM_VGIC_GRP,
  KVM_DEV_TYPE,
  KVM_EXIT,
  KVM_EXIT_NAME,
  KVM_REG_ARM_CORE_INDEX,
  KVM_REG_ARM_TIMER,
  KVM_VGIC_V3_ADDR_TYPE,
  EventFd,
  Kvm,
  arm64CoreRegId,
  type Arm64Vcpu,
} from '@hvsim/kvm';
import { NIC_BAR_SIZE } from '../devices/nic-regs.js';
import { defineArm64Kernel, loadArm64Guest, type Arm64BootParams } from '../guest/arm64-kernel.js';
import { ARM64_GUEST } from '../guest/arm64-layout.js';
import type { Arm64SimHost } from '../host/arm64-host.js';
import type { Arm64SimProfile } from '../arm64-profile.js';
import { assignArm64Nic } from './arm64-vfio-nic.js';

/** How the VM is built. */
export interface Arm64VmmOptions {
  readonly cpus: number;
  readonly profile: Arm64SimProfile;
  readonly boot: Arm64BootParams;
  /** Cycles of a vCPU's turn when there are several (see the file comment). */
  readonly quantum: number;
  /** The host's GIC: 'v3' (list registers only) or 'v4.1' (an ITS with direct vLPI injection). */
  readonly hostGic: 'v3' | 'v4.1';
}

/** SPIs the vGIC is given (KVM_DEV_ARM_VGIC_GRP_NR_IRQS counts the 32 private INTIDs too). */
const NR_IRQS = 64;

/** Builds the arm64 VM through the KVM API and returns it as a host (see the file comment). */
export function arm64VmmHost(options: Arm64VmmOptions): Arm64SimHost {
  const { profile } = options;
  const kvm = new Kvm({ arch: 'arm64', arm64Costs: profile.host, arm64CpuCosts: profile.cpu, arm64HostGic: options.hostGic });
  const vm = kvm.createVm();
  const ram = kvm.mmap(ARM64_GUEST.RAM);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: ARM64_GUEST.RAM_BASE, memorySize: ARM64_GUEST.RAM, userspaceAddr: ram });
  const toHost = (gpa: number): number => ram + (gpa - ARM64_GUEST.RAM_BASE);
  const withNic = (options.boot.nicWork ?? 0) !== 0;
  defineArm64Kernel(vm.program);
  loadArm64Guest((gpa, v) => {
    kvm.memory.write32(toHost(gpa), v);
  }, { ...options.boot, psci: true });
  const vgic = vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_V3 })!;
  const { target } = vm.preferredTarget();
  const vcpus: Arm64Vcpu[] = [];
  for (let id = 0; id < options.cpus; id++) {
    const vcpu = vm.createVcpu(id);
    const features = (1 << KVM_ARM_VCPU_FEATURE.PSCI_0_2) | (id > 0 ? 1 << KVM_ARM_VCPU_FEATURE.POWER_OFF : 0);
    vcpu.init({ target, features: [features] });
    vcpus.push(vcpu);
  }
  vgic.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.DIST, value: ARM64_GUEST.GICD });
  vgic.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.REDIST, value: ARM64_GUEST.GICR });
  vgic.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.NR_IRQS, attr: 0, value: NR_IRQS });
  vgic.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.INIT });
  // QEMU's order: the ITS after the vGICv3's CTRL_INIT (kvm_arm_its_realize), then the devices.
  if (withNic) {
    const its = vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_ITS });
    its.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.ITS, value: ARM64_GUEST.ITS });
    its.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.INIT });
  }
  const inRam = (gpa: number): number => (gpa >= ARM64_GUEST.RAM_BASE && gpa < ARM64_GUEST.RAM_BASE + ARM64_GUEST.RAM ? toHost(gpa) : -1);
  const vfio = withNic
    ? assignArm64Nic({ vm, memory: kvm.memory, dmaCycles: profile.device.nicDmaRoundTrip, toHost: inRam, hostBar: kvm.mmap(NIC_BAR_SIZE), bypass: options.hostGic !== 'v3', writerTime: () => vcpus[0]!.cpu.localTime })
    : undefined;
  vcpus[0]!.setOneReg(arm64CoreRegId(KVM_REG_ARM_CORE_INDEX.PC), BigInt(ARM64_GUEST.ENTRY));
  // The I/O-latency-out microbenchmark's backend: an ioeventfd on the notification register (api.rst 4.59), timed when signalled.
  const ioOut: number[] = [];
  if ((options.boot.microReps ?? 0) !== 0) {
    const fd = new EventFd();
    vm.ioeventfd({ addr: ARM64_GUEST.NOTIFY, len: 4, fd, flags: 0 });
    fd.addWaiter(() => {
      fd.read();
      const sent = kvm.memory.read32(toHost(ARM64_GUEST.MICRO_IO_SENT)) + kvm.memory.read32(toHost(ARM64_GUEST.MICRO_IO_SENT + 4)) * 2 ** 32;
      ioOut.push(vcpus[0]!.cpu.localTime - counterToCycles(sent));
    });
  }
  const userspaceExit = profile.host.userspace;
  // A single vCPU runs until the host's next stop (`runUntil`'s target); several take turns.
  const turn = options.cpus === 1 ? Number.POSITIVE_INFINITY : options.quantum;
  let hostCycles = 0;
  const now = (): number => Math.min(...vcpus.map((v) => v.cpu.localTime));
  /** One KVM_RUN of `vcpu` until `until` (or the first return to userspace); serves what it returns. */
  const runVcpu = (vcpu: Arm64Vcpu, until: number): void => {
    const run = vcpu.run({ maxCycles: Math.max(1, until - vcpu.cpu.localTime) });
    hostCycles += userspaceExit;
    const reason = run.exit_reason;
    if (reason === KVM_EXIT.INTR) return; // the turn's end (our "signal")
    if (reason === KVM_EXIT.MMIO && vfio?.mmio(run.mmio.phys_addr, run.mmio.is_write !== 0, run.mmio.data, run.mmio.len)) return;
    // The kernel touches no other device of the VMM's, never powers off and never faults.
    throw new Error(`vCPU ${vcpu.id}: unexpected ${KVM_EXIT_NAME[reason] ?? reason}${reason === KVM_EXIT.MMIO ? ` at ${run.mmio.phys_addr.toString(16)}` : ''}`);
  };
  const counter = (): { offset: number; cpt: number } => {
    // CNTVOFF_EL2 as userspace sees it: the physical count less the guest's (KVM_REG_ARM_TIMER_CNT, api.rst 4.68).
    const cpt = vm.hostTimer.cyclesPerTick;
    const physical = Math.floor(kvm.clock.now() / cpt);
    return { offset: physical - Number(vcpus[0]!.getOneReg(KVM_REG_ARM_TIMER.CNT)), cpt };
  };
  const counterToCycles = (ticks: number): number => {
    const { offset, cpt } = counter();
    return (ticks + offset) * cpt;
  };
  return {
    clock: kvm.clock,
    cpus: vcpus.length,
    get cyclesPerTick() {
      return vm.hostTimer.cyclesPerTick;
    },
    runUntil(cycle: number): void {
      for (let t = now(); t < cycle; t = now()) {
        const sliceEnd = Math.min(cycle, t + turn);
        for (const vcpu of vcpus) while (vcpu.cpu.localTime < sliceEnd) runVcpu(vcpu, sliceEnd);
      }
    },
    now,
    sendMsi: (_dest, intid) => {
      // KVM_IRQ_LINE, arm64 encoding (api.rst 4.25): type SPI in bits 27:24, the INTID in 15:0; a pulse is an edge.
      const irq = (KVM_ARM_IRQ_TYPE.SPI << 24) | intid;
      vm.irqLine(irq, 1);
      vm.irqLine(irq, 0);
      return 1; // the ioctl's 0 means accepted; no line status on arm64
    },
    read32: (gpa) => kvm.memory.read32(toHost(gpa)),
    exits: () => {
      const byReason: Record<string, number> = {};
      for (const [name, n] of Object.entries(vm.stats.snapshot())) if (!name.startsWith('KVM_EXIT_')) byReason[name] = n;
      return { total: vm.stats.exits, byReason };
    },
    resetExits: () => {
      vm.stats.reset();
    },
    timerCurrentCount: (i) => Number(BigInt.asIntN(32, vcpus[i]!.getOneReg(KVM_REG_ARM_TIMER.CVAL) - vcpus[i]!.getOneReg(KVM_REG_ARM_TIMER.CNT))),
    counterToCycles,
    timerNextExpiry: (i) => {
      const { offset, cpt } = counter();
      return (Number(vcpus[i]!.getOneReg(KVM_REG_ARM_TIMER.CVAL)) + offset) * cpt;
    },
    cpuStats: (i): CpuStats => vcpus[i]!.cpu.stats(),
    hostCycles: () => hostCycles,
    ioOutLatencies: () => ioOut,
    nic: vfio?.nic,
  };
}

