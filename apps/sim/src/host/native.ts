/**
 * The `native` host: no virtualization. X86Cpus directly on LocalApics (one
 * each, on an ApicBus that carries MSIs), RAM, the same guest kernel; the
 * baseline the virtual modes are compared with.
 */
import { Clock, MmioBus, MsrBus, PhysicalMemory } from '@hvsim/core';
import { CpuScheduler, GuestProgram, X86Cpu, type CpuStats, type X86Guest } from '@hvsim/cpu';
import { APIC, ApicBus, IA32_APIC_BASE_MSR, LocalApic } from '@hvsim/lapic';
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


/** Builds the native machine (see the file comment). */
export function nativeHost(options: NativeHostOptions): SimHost {
  const clock = new Clock();
  const memory = new PhysicalMemory();
  memory.addRegion(0, GUEST.RAM);
  const program = new GuestProgram<X86Guest>();
  defineKernel(program, { x2apic: options.x2apic });
  loadGuest((gpa, v) => {
    memory.write32(gpa, v);
  }, options.boot);
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
    cpu.setRegisters({ rsp: stackTop(id) });
    cpu.start(GUEST.ENTRY);
    cpus.push(cpu);
  }
  const scheduler = new CpuScheduler(cpus, { clock, quantum: options.quantum });
  return {
    clock,
    cpus: cpus.length,
    runUntil(cycle: number): void {
      const r = scheduler.run(cycle);
      if (r !== 'time') throw new Error(`the native machine stopped (${r}) before cycle ${cycle}`);
    },
    now: () => Math.min(...cpus.map((c) => c.localTime)),
    sendMsi: (dest, vector) => bus.deliverMsi(GUEST.APIC + dest * 0x1000, vector),
    read32: (gpa) => memory.read32(gpa),
    exits: () => ({ total: 0, byReason: {} }),
    resetExits: () => undefined,
    timerCurrentCount: (i) => apics[i]!.mmioRead(APIC.TIMER_CURRENT_COUNT, 4),
    cpuStats: (i): CpuStats => cpus[i]!.stats(),
    hostCycles: () => 0,
  };
}
