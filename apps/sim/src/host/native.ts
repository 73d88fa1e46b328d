/**
 * The `native` host: no virtualization. X86Cpus directly on LocalApics (one
 * each, on an ApicBus that carries MSIs), RAM, the same guest kernel; the
 * baseline the virtual modes are compared with.
 */
import { Clock, MmioBus, MsrBus, PhysicalMemory } from '@hvsim/core';
import { CpuScheduler, GuestProgram, X86Cpu, type CpuStats, type X86Guest } from '@hvsim/cpu';
import { APIC, ApicBus, IA32_APIC_BASE_MSR, LocalApic } from '@hvsim/lapic';
import { IntelIommu, apicBusTarget } from '@hvsim/iommu';
import { PageAllocator, X86PageTableBuilder } from '@hvsim/mmu';
import { attachNic } from '../devices/nic-attach.js';
import { NIC_BAR_SIZE } from '../devices/nic-regs.js';
import { defineKernel } from '../guest/kernel.js';
import { GUEST, stackTop } from '../guest/layout.js';
import { loadGuest, type BootParams } from '../guest/loader.js';
import type { SimProfile } from '../profiles.js';
import type { SimHost } from './host.js';

/** How a native machine is built. */
export interface NativeHostOptions {
  readonly cpus: number;
  readonly profile: SimProfile;
  readonly boot: BootParams;
  readonly x2apic: boolean;
  /** Cycles a CPU may run ahead of another (CpuScheduler's quantum): the bound on cross-CPU timing error. */
  readonly quantum: number;
}


/** EFER.SCE | LME | LMA | NXE, CR4.PAE, CR0.PG | ET | PE: IA-32e paging (SDM 3A 4.1.1). */
const LONG_MODE = { efer: 0xd00, cr4: 0x20, cr0: 0x8000_0011 };

/** Identity page tables at GUEST.TABLES (RAM in 2 MiB pages, the xAPIC page) and the registers that turn paging on with them. */
function identityTables(memory: PhysicalMemory): { efer: number; cr4: number; cr0: number; cr3: number } {
  const tables = new X86PageTableBuilder(memory, new PageAllocator(GUEST.TABLES, 0x10_0000), 4);
  for (let la = 0; la < GUEST.RAM; la += 0x20_0000) tables.map(la, la, { pageSize: 0x20_0000, writable: true, accessed: true, dirty: true });
  tables.map(GUEST.APIC, GUEST.APIC, { writable: true, accessed: true, dirty: true });
  return { ...LONG_MODE, cr3: tables.root };
}

/** Builds the native machine (see the file comment). */
export function nativeHost(options: NativeHostOptions): SimHost {
  const clock = new Clock();
  const memory = new PhysicalMemory();
  memory.addRegion(0, GUEST.RAM);
  const withNic = options.boot.nicWork !== 0;
  if (withNic) memory.addRegion(GUEST.NIC_BAR, NIC_BAR_SIZE, { name: 'nic-bar' });
  const program = new GuestProgram<X86Guest>();
  defineKernel(program, { x2apic: options.x2apic, memory: (options.boot.memProcs ?? 0) !== 0 });
  loadGuest((gpa, v) => {
    memory.write32(gpa, v);
  }, options.boot);
  // The memory workload switches address spaces: the CPUs run with IA-32e paging on identity tables, as the VMM's loader builds them.
  const paging = (options.boot.memProcs ?? 0) !== 0 ? identityTables(memory) : undefined;
  const bus = new ApicBus();
  const cpus: X86Cpu[] = [];
  const apics: LocalApic[] = [];
  for (let id = 0; id < options.cpus; id++) {
    const apic = new LocalApic({ id, clock });
    bus.attach(apic);
    apics.push(apic);
    const mmio = new MmioBus();
    mmio.map(GUEST.APIC, 0x1000, apic);
    const msrs = new MsrBus();
    msrs.map(IA32_APIC_BASE_MSR, 1, apic);
    const cpu = new X86Cpu({ memory, program, mmio, msrs, apic, clock, costs: options.profile.cpu, cpu: id, apicId: id });
    cpu.setRegisters({ rsp: stackTop(id), ...paging });
    cpu.start(GUEST.ENTRY);
    cpus.push(cpu);
  }
  // The NIC's DMA and MSIs go through the platform's IOMMU with translation and remapping off (pass-through, VT-d 3.1, 5.1).
  const nic = withNic ? attachNic({ clock, dmaCycles: options.profile.device.nicDmaRoundTrip, memory, barBase: GUEST.NIC_BAR, port: new IntelIommu({ memory, target: apicBusTarget(bus) }) }) : undefined;
  const scheduler = new CpuScheduler(cpus, { clock, quantum: options.quantum });
  return {
    clock,
    cpus: cpus.length,
    runUntil(cycle: number): void {
      const r = scheduler.run(cycle);
      if (r !== 'time') throw new Error(`the native machine stopped (${r}) before cycle ${cycle}`);
    },
    now: () => {
      let t = Infinity;
      for (const c of cpus) t = Math.min(t, c.localTime);
      return t;
    },
    sendMsi: (dest, vector) => bus.deliverMsi(GUEST.APIC + dest * 0x1000, vector),
    read32: (gpa) => memory.read32(gpa),
    exits: () => ({ total: 0, byReason: {} }),
    resetExits: () => undefined,
    timerCurrentCount: (i) => apics[i]!.mmioRead(APIC.TIMER_CURRENT_COUNT, 4),
    cpuStats: (i): CpuStats => cpus[i]!.stats(),
    hostCycles: () => 0,
    ioOutLatencies: () => [],
    nic,
  };
}
