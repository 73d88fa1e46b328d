/**
 * The arm64 `native` host: no virtualization. Arm64Cpus on a GICv3 (the
 * distributor and the redistributors on the MMIO bus, each PE's IRQ input
 * wired to its CPU interface, ICC_* system registers going to the GIC), the
 * generic timer whose PPIs drive the GIC, RAM, the same guest kernel; the
 * firmware starts the secondary CPUs at their entry (no PSCI); for
 * netperf-rr the GIC's ITS (LPIs, its frames on the bus at the layout's
 * ITS_base) and the NIC, whose DMA reaches memory directly and whose MSI is
 * its write to GITS_TRANSLATER with its DeviceID. The baseline the arm64
 * virtual modes are compared with.
 */
import { Clock, DELIVERY_STATUS, MmioBus, PhysicalMemory } from '@hvsim/core';
import { Arm64Cpu, CpuScheduler, GuestProgram, type Arm64Guest, type CpuStats } from '@hvsim/cpu';
import { GenericTimer, GicV3 } from '@hvsim/gic';
import { arm64NicPort } from '../devices/arm64-nic-port.js';
import { attachNic } from '../devices/nic-attach.js';
import { NIC_BAR_SIZE } from '../devices/nic-regs.js';
import { defineArm64Kernel, loadArm64Guest, type Arm64BootParams } from '../guest/arm64-kernel.js';
import { ARM64_GICR_STRIDE, ARM64_GUEST } from '../guest/arm64-layout.js';
import type { Arm64SimProfile } from '../arm64-profile.js';
import type { Arm64SimHost } from './arm64-host.js';

/** How the native arm64 machine is built. */
export interface Arm64NativeOptions {
  readonly cpus: number;
  readonly profile: Arm64SimProfile;
  readonly boot: Arm64BootParams;
  /** Cycles a CPU may run ahead of another (CpuScheduler's quantum). */
  readonly quantum: number;
}

/** Builds the native arm64 machine (see the file comment). */
export function arm64NativeHost(options: Arm64NativeOptions): Arm64SimHost {
  const clock = new Clock();
  const memory = new PhysicalMemory();
  memory.addRegion(ARM64_GUEST.RAM_BASE, ARM64_GUEST.RAM, { name: 'ram' });
  const program = new GuestProgram<Arm64Guest>();
  defineArm64Kernel(program);
  loadArm64Guest((gpa, v) => {
    memory.write32(gpa, v);
  }, { ...options.boot, psci: false });
  const withNic = (options.boot.nicWork ?? 0) !== 0;
  if (withNic) memory.addRegion(ARM64_GUEST.NIC_BAR, NIC_BAR_SIZE, { name: 'nic-bar' });
  const cpus: Arm64Cpu[] = [];
  const gic = new GicV3({
    cpus: options.cpus,
    clock,
    ...(withNic ? { lpis: { memory, idBits: 16 } } : {}),
    onIrq: (c, level) => cpus[c]?.setIrqLevel(level),
    onFiq: (c, level) => cpus[c]?.setFiqLevel(level),
  });
  const gicr = gic.redistributorRegion;
  if (gicr.stride !== ARM64_GICR_STRIDE) throw new Error(`the GICv3 model's redistributor stride ${gicr.stride} is not the layout's ${ARM64_GICR_STRIDE}`);
  const mmio = new MmioBus();
  mmio.map(ARM64_GUEST.GICD, 0x1_0000, gic.distributorFor(0), 'gicd');
  mmio.map(ARM64_GUEST.GICR, gicr.size, gicr, 'gicr');
  const its = withNic ? gic.createIts({ baseAddress: ARM64_GUEST.ITS, clock }) : undefined;
  if (its) mmio.map(ARM64_GUEST.ITS, its.size, its, 'gits');
  const direct = (pa: number): number => pa;
  const nic = its
    ? attachNic({ clock, dmaCycles: options.profile.device.nicDmaRoundTrip, memory, barBase: ARM64_GUEST.NIC_BAR, port: arm64NicPort({ memory, translate: direct, msi: (address, data, deviceId) => its.deliverMsi(address, data, deviceId) }) })
    : undefined;
  // The timer at its defaults, as @hvsim/kvm's arm64 host has it: the same cycles per counter tick in every mode.
  const timer = new GenericTimer({ clock, cpus: options.cpus, output: (c, intid, level) => gic.setPpiLevel(c, intid, level) });
  for (let id = 0; id < options.cpus; id++) {
    const cpu = new Arm64Cpu({ memory, program, mmio, gic, timer, clock, costs: options.profile.cpu, cpu: id });
    cpu.start(id === 0 ? ARM64_GUEST.ENTRY : ARM64_GUEST.SECONDARY);
    cpus.push(cpu);
  }
  const scheduler = new CpuScheduler(cpus, { clock, quantum: options.quantum });
  const cyclesPerTick = timer.cyclesPerTick;
  return {
    clock,
    cpus: cpus.length,
    cyclesPerTick,
    runUntil(cycle: number): void {
      const r = scheduler.run(cycle);
      if (r !== 'time') throw new Error(`the native arm64 machine stopped (${r}) before cycle ${cycle}`);
    },
    now: () => Math.min(...cpus.map((c) => c.localTime)),
    sendMsi: (_dest, intid) => {
      gic.signalSpi(intid); // an edge on the SPI's wire (IHI0069 4.1)
      return DELIVERY_STATUS.DELIVERED;
    },
    read32: (gpa) => memory.read32(gpa),
    exits: () => ({ total: 0, byReason: {} }),
    resetExits: () => undefined,
    timerCurrentCount: (i) => Number(BigInt.asIntN(32, timer.read(i, 'CNTV_TVAL_EL0'))),
    counterToCycles: (ticks) => ticks * cyclesPerTick, // CNTVOFF_EL2 is 0 without a hypervisor
    timerNextExpiry: (i) => Number(timer.read(i, 'CNTV_CVAL_EL0')) * cyclesPerTick,
    cpuStats: (i): CpuStats => cpus[i]!.stats(),
    hostCycles: () => 0,
    nic,
  };
}
