/**
 * A one-CPU native x86 machine for tests and benchmarks: RAM, a local APIC
 * on the MMIO and MSR buses, a port bus, a clock, and guest-kernel helpers
 * that build the IDT and 4-level page tables with guest stores, as a kernel
 * does at boot.
 */
import { Clock, MmioBus, MsrBus, PhysicalMemory, PioBus, RecordingTracer } from '@hvsim/core';
import { APIC, ApicBus, IA32_APIC_BASE_MSR, IA32_TSC_DEADLINE_MSR, LocalApic, X2APIC_MSR_BASE } from '@hvsim/lapic';
import { X86Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { GuestProgram } from '../guest/program.js';
import { encodeIdtGate, type IdtGateFields } from '../x86/idt-gate.js';
import { CR0, CR4, EFER, X86_MSR } from '../x86/regs.js';
import { X86Cpu, type X86CpuOptions } from '../x86/x86-cpu.js';

/** Guest-physical layout of the test kernel. */
export const LAYOUT = {
  IDT: 0x1000,
  PML4: 0x2000,
  PDPT: 0x3000,
  PD0: 0x4000,
  PD3: 0x5000,
  STACK_TOP: 0x8_0000,
  DATA: 0x10_0000,
  APIC: 0xfee0_0000,
  RAM: 64 << 20,
} as const;

export function x86Machine(options: Partial<X86CpuOptions> = {}) {
  const clock = new Clock();
  const memory = new PhysicalMemory();
  memory.addRegion(0, LAYOUT.RAM, { name: 'ram' });
  let wakeups = 0;
  const apic = new LocalApic({ id: 0, clock, onInterrupt: () => { wakeups++; } });
  const mmio = new MmioBus();
  mmio.map(LAYOUT.APIC, 0x1000, apic, 'lapic');
  const msrs = new MsrBus();
  msrs.map(IA32_APIC_BASE_MSR, 1, apic, 'apic-base');
  msrs.map(IA32_TSC_DEADLINE_MSR, 1, apic, 'tsc-deadline');
  msrs.map(X2APIC_MSR_BASE, 0x100, apic, 'x2apic');
  const pio = new PioBus();
  const program = new GuestProgram<X86Guest>();
  const tracer = new RecordingTracer({ capacity: 4096 });
  const cpu = new X86Cpu({ memory, program, mmio, msrs, pio, apic, clock, tracer, ...options });
  cpu.setRegisters({ rsp: LAYOUT.STACK_TOP, idtBase: LAYOUT.IDT, idtLimit: 256 * 16 - 1 });
  return { clock, memory, apic, mmio, msrs, pio, program, cpu, tracer, wakeups: () => wakeups };
}

/** Writes an IDT gate with guest stores. */
export function* setGate(g: X86Guest, vector: number, fields: IdtGateFields): Generator<Op, void, number> {
  const words = encodeIdtGate(fields);
  for (let i = 0; i < 4; i++) yield g.st32(LAYOUT.IDT + vector * 16 + 4 * i, words[i]!);
}

/**
 * Builds identity-mapped 4-level page tables with 2 MiB pages for the first
 * `gib` GiB and the APIC's GiB, then enables IA-32e paging (CR4.PAE,
 * EFER.LME, CR0.PG): SDM 3A 4.5 and 10.8.5.
 */
export function* enablePaging(g: X86Guest, firstGiB = 1): Generator<Op, void, number> {
  yield g.st64(LAYOUT.PML4, LAYOUT.PDPT | 3);
  yield g.st64(LAYOUT.PDPT, LAYOUT.PD0 | 3);
  yield g.st64(LAYOUT.PDPT + 3 * 8, LAYOUT.PD3 | 3);
  for (let i = 0; i < 512 * firstGiB; i++) yield g.st64(LAYOUT.PD0 + i * 8, i * 0x20_0000 + 0x83);
  // The APIC page: 0xFEE00000 is PD3 entry 0x1F7; uncached (PCD).
  yield g.st64(LAYOUT.PD3 + 0x1f7 * 8, 0xfee0_0000 + 0x93);
  yield g.movToCr(3, LAYOUT.PML4);
  yield g.movToCr(4, CR4.PAE);
  yield g.wrmsr(X86_MSR.IA32_EFER, EFER.LME | EFER.NXE);
  yield g.movToCr(0, CR0.PE | CR0.PG | CR0.WP);
}

/** Software-enables the local APIC (SVR bit 8, spurious vector 0xFF). */
export function* enableApic(g: X86Guest): Generator<Op, void, number> {
  yield g.st32(LAYOUT.APIC + APIC.SVR, 0x1ff);
}

/** An xAPIC EOI. */
export function eoi(g: X86Guest): Op {
  return g.st32(LAYOUT.APIC + APIC.EOI, 0);
}

/** `n` CPUs sharing RAM, a clock and an APIC bus; each CPU has its own APIC on its own MMIO view. */
export function smpMachine(n: number) {
  const clock = new Clock();
  const memory = new PhysicalMemory();
  memory.addRegion(0, LAYOUT.RAM, { name: 'ram' });
  const bus = new ApicBus({ clock });
  const program = new GuestProgram<X86Guest>();
  const cpus = Array.from({ length: n }, (_, id) => {
    const apic = new LocalApic({ id, clock });
    bus.attach(apic);
    const mmio = new MmioBus();
    mmio.map(LAYOUT.APIC, 0x1000, apic, 'lapic');
    const msrs = new MsrBus();
    msrs.map(IA32_APIC_BASE_MSR, 1, apic, 'apic-base');
    msrs.map(X2APIC_MSR_BASE, 0x100, apic, 'x2apic');
    const cpu = new X86Cpu({ memory, program, mmio, msrs, apic, clock, cpu: id });
    // Each CPU gets its own stack and the shared IDT.
    cpu.setRegisters({ rsp: LAYOUT.STACK_TOP - id * 0x1_0000, idtBase: LAYOUT.IDT, idtLimit: 256 * 16 - 1 });
    return { cpu, apic };
  });
  return { clock, memory, bus, program, cpus };
}
