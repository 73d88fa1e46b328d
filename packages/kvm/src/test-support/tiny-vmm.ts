/**
 * A kvmtool-style VMM for tests, using the KVM API alone: /dev/kvm, a VM
 * with one memslot of RAM, the in-kernel irqchip, one vCPU in 64-bit mode
 * with identity page tables the VMM writes into guest RAM (as a loader
 * does), an IDT, and a serial-port stub serving KVM_EXIT_IO.
 */
import { encodeIdtGate, type Op, type X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { PageAllocator, X86PageTableBuilder } from '@hvsim/mmu';
import { KVM_CAP, KVM_EXIT, KVM_EXIT_IO_OUT } from '../generic/constants.js';
import { Kvm } from '../kvm.js';
import type { HaltPollParams } from '../generic/halt-poll.js';
import type { X86KvmCosts } from '../x86/kvm-costs.js';
import type { X86Vcpu } from '../x86/vcpu.js';
import type { X86Vm } from '../x86/vm.js';

/** Guest-physical layout of the test guest. */
export const GUEST = {
  RAM: 8 << 20,
  IDT: 0x1000,
  STACK_TOP: 0x8_0000,
  ENTRY: 0x10_0000,
  TABLES: 0x30_0000,
  APIC: 0xfee0_0000,
  IOAPIC: 0xfec0_0000,
  /** A 4 MiB window with no RAM behind it (page tables map it): device MMIO, extra slots. */
  HOLE: 0xd000_0000,
  SERIAL: 0x3f8,
  /** A write here asks the VMM to stop (like an ACPI power-off port). */
  POWER: 0x501,
} as const;

/** The VMM: what it built and the serial output. */
export interface TinyVmm {
  kvm: Kvm;
  vm: X86Vm;
  vcpu: X86Vcpu;
  ram: number;
  serial: number[];
  /** Installs an IDT gate (the VMM writing the guest's IDT, as a loader would). */
  setGate(vector: number, target: number): void;
  /**
   * Installs the usual test handler for `vector` at `target`: it calls `onEntry`, writes EOI to the xAPIC page
   * and returns with IRET.
   */
  eoiHandler(vector: number, target: number, onEntry?: () => void): void;
  /** Runs the vCPU, serving I/O exits, until the guest writes the power port or an exit the VMM does not serve. */
  runUntilStop(maxRuns?: number): number;
}

/** Options of {@link tinyVmm}. */
export interface TinyVmmOptions {
  /** false leaves interrupts to userspace (no KVM_CREATE_IRQCHIP). */
  irqchip?: boolean;
  /** KVM_CAP_SPLIT_IRQCHIP with this many reserved IOAPIC GSIs instead of KVM_CREATE_IRQCHIP. */
  split?: number;
  /** new Kvm({ snapshots: true }): vCPUs can be saved in the middle of guest code. */
  snapshots?: boolean;
  /** The VM's interrupt-delivery mode (vm.interrupts.setMode before the vCPU; default 'emulated'). */
  interruptMode?: 'emulated' | 'apicv' | 'eli';
  /** ELI's shadow-IDT address (with `interruptMode: 'eli'`). */
  shadowIdt?: number;
  /** How many physical CPUs the vCPUs share (with `interruptMode`; default one per vCPU). */
  physicalCpus?: number;
  /** new Kvm({ x86KvmCosts }): cycles of KVM's own work (default all 0). */
  kvmCosts?: Partial<X86KvmCosts>;
  /** new Kvm({ haltPoll }): the halt-polling module parameters (default Linux's). */
  haltPoll?: Partial<HaltPollParams>;
  /** The VM's MMU (vm.setMmu before the vCPU; default 'ept'). */
  mmu?: 'ept' | 'shadow';
  /** The guest's entry routine. */
  code: (g: X86Guest) => Generator<Op, void, number>;
}

/** Builds the VM through the API (see the file comment). */
export function tinyVmm(options: TinyVmmOptions): TinyVmm {
  const kvm = new Kvm({ snapshots: options.snapshots ?? false, ...(options.kvmCosts ? { x86KvmCosts: options.kvmCosts } : {}), ...(options.haltPoll ? { haltPoll: options.haltPoll } : {}) });
  const vm = kvm.createVm();
  if (options.interruptMode !== undefined) vm.interrupts.setMode(options.interruptMode, { physicalCpus: options.physicalCpus, ...(options.shadowIdt !== undefined ? { shadowIdt: options.shadowIdt } : {}) });
  if (options.split !== undefined) vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, { args: [options.split] });
  else if (options.irqchip ?? true) vm.createIrqchip();
  if (options.mmu !== undefined) vm.setMmu(options.mmu);
  const ram = kvm.mmap(GUEST.RAM);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0, memorySize: GUEST.RAM, userspaceAddr: ram });
  // Page tables in guest RAM: identity-map RAM (2 MiB pages) and the APIC and IOAPIC pages.
  const toHost = (gpa: number): number => ram + gpa;
  const tables = new X86PageTableBuilder(kvm.memory, new PageAllocator(GUEST.TABLES, 0x10_0000), 4, toHost);
  for (let la = 0; la < GUEST.RAM; la += 0x20_0000) tables.map(la, la, { pageSize: 0x20_0000, writable: true, accessed: true, dirty: true });
  for (const page of [GUEST.APIC, GUEST.IOAPIC]) tables.map(page, page, { writable: true, accessed: true, dirty: true });
  for (const big of [GUEST.HOLE, GUEST.HOLE + 0x20_0000]) tables.map(big, big, { pageSize: 0x20_0000, writable: true, accessed: true, dirty: true });
  vm.program.define(GUEST.ENTRY, options.code);
  const vcpu = vm.createVcpu(0);
  vcpu.setSregs({ cr3: tables.root, efer: 0xd00, idt: { base: GUEST.IDT, limit: 0xfff } });
  vcpu.setRegs({ rip: GUEST.ENTRY, rsp: GUEST.STACK_TOP, rflags: 2 });
  const serial: number[] = [];
  const setGate = (vector: number, target: number): void => {
    encodeIdtGate({ target }).forEach((w, i) => {
      kvm.memory.write32(toHost(GUEST.IDT + vector * 16 + 4 * i), w);
    });
  };
  const runUntilStop = (maxRuns = 100): number => {
    for (let i = 0; i < maxRuns; i++) {
      const run = vcpu.run();
      if (run.exit_reason !== KVM_EXIT.IO) return run.exit_reason;
      const { port, direction } = run.io;
      const data = run.ioData;
      if (direction === KVM_EXIT_IO_OUT && port === GUEST.SERIAL) serial.push(data[0]!);
      else if (direction === KVM_EXIT_IO_OUT && port === GUEST.POWER) return KVM_EXIT.IO;
      else if (port === GUEST.SERIAL + 5) data[0] = 0x20; // LSR: transmitter empty
      else data.fill(0xff); // nothing there
    }
    throw new Error('the guest did not stop');
  };
  const eoiHandler = (vector: number, target: number, onEntry?: () => void): void => {
    vm.program.define(target, function* isr(g: X86Guest): Generator<Op, void, number> {
      onEntry?.();
      yield g.st32(GUEST.APIC + APIC.EOI, 0);
      yield g.iret();
    });
    setGate(vector, target);
  };
  return { kvm, vm, vcpu, ram, serial, setGate, eoiHandler, runUntilStop };
}
