/**
 * The public shapes of the x86 CPU: its options, what it asks of an
 * interrupt controller, its registers and why `run` returns.
 */
import type { Clock, Memory, MmioBus, MsrBus, PioBus, Tracer } from '@hvsim/core';
import type { X86Mmu } from '@hvsim/mmu';
import type { X86CostProfile } from '../cost/cost-profile.js';
import type { X86Guest } from '../guest/guest.js';
import type { GuestProgram } from '../guest/program.js';
import type { CpuidFunction } from './cpuid.js';

/** The interrupt controller a native x86 CPU asks at instruction boundaries (a `LocalApic` is one). */
export interface X86InterruptController {
  /** A fixed interrupt above the processor priority is pending. */
  hasPendingInterrupt(): boolean;
  /** The INTA cycle: the vector to deliver (moves it from IRR to ISR). */
  acknowledge(): number;
  /** Pending NMI/SMI/INIT/SIPI/ExtINT signals (bit 0 NMI, bit 4 ExtINT). */
  readonly pendingSignals: number;
  /** Takes a pending NMI. */
  takeNmi(): boolean;
  /** Takes a pending ExtINT (the vector then comes from the 8259's INTA). */
  takeExtInt(): boolean;
  /** CR8 reads the TPR's priority class. */
  readCr8(): number;
  /** CR8 writes it (a #GP for values above 15 is the controller's). */
  writeCr8(value: number): void;
  /**
   * RDMSR of an x2APIC MSR (0x800-0x8FF), when the controller has them: the
   * processor's own APIC answers those (SDM 3A 11.12.1), not the MSR bus.
   */
  readMsr?(index: number): bigint;
  /** WRMSR of an x2APIC MSR; the value as a number when below 2^53 (a LocalApic takes either). */
  writeMsr?(index: number, value: bigint | number): void;
}

/** Options of an {@link X86Cpu}. */
export interface X86CpuOptions {
  /** Physical memory (RAM). */
  memory: Memory;
  /** The guest code, by entry address. */
  program: GuestProgram<X86Guest>;
  /** Memory-mapped devices (this CPU's view: its LAPIC page included). */
  mmio?: MmioBus;
  /** Port I/O devices. */
  pio?: PioBus;
  /** MSR devices (the LAPIC's IA32_APIC_BASE, x2APIC and TSC-deadline MSRs). */
  msrs?: MsrBus;
  /** The local interrupt controller. */
  apic?: X86InterruptController;
  /** The 8259's INTA cycle, for ExtINT (e.g. `() => pic.acknowledge()`). */
  extInt?: () => number;
  /** The MMU (default: a new `X86Mmu` over `memory`). */
  mmu?: X86Mmu;
  /** Simulated time; the CPU advances it to its own time before device accesses. */
  clock?: Clock;
  /** Cycle costs (default {@link X86_DEFAULT_COSTS}). */
  costs?: X86CostProfile;
  /** CPUID answers (default {@link defaultCpuid} with `apicId`). */
  cpuid?: CpuidFunction;
  /** Initial APIC ID reported by CPUID (default `cpu`). */
  apicId?: number;
  /**
   * Log each frame's operation results so that `saveState` works while guest
   * code runs (default false: the log costs a few numbers per operation;
   * checkpoints in the code bound it).
   */
  snapshots?: boolean;
  /** This CPU's number in traces (default 0). */
  cpu?: number;
  /** Receives `interrupt.delivered` (IDT deliveries) and `fault` (exceptions, a triple fault) events. */
  tracer?: Tracer;
}

/** Why {@link X86Cpu.run} returned. */
export type X86RunResult =
  /** The cycle budget was reached. */
  | 'budget'
  /** The CPU is halted and nothing will wake it before the budget's end. */
  | 'halted'
  /** A triple fault shut the CPU down (SDM 3A 6.15). */
  | 'shutdown'
  /** The entry code returned: nothing is left to run. */
  | 'finished'
  /** A VM exit: the guest left VMX non-root operation (see {@link X86Cpu.lastExit}). */
  | 'exit';

/** Architectural registers a host may read and set (KVM_GET/SET_REGS/SREGS style). */
export interface X86Registers {
  /** RFLAGS (bit 1 always reads 1; bit 9 IF). */
  rflags: number;
  /** RSP, a linear address. */
  rsp: number;
  /** CR0 (PE, WP, PG are modelled; SDM 3A 2.5). */
  cr0: number;
  /** CR2: the linear address of the last #PF. */
  cr2: number;
  /** CR3: the physical address of the top paging structure. */
  cr3: number;
  /** CR4 (PAE, PGE, PCIDE, SMEP, SMAP, PKE, LA57 are modelled; SDM 3A 2.5). */
  cr4: number;
  /** IA32_EFER (SCE, LME, LMA, NXE; SDM 3A 2.2.1). */
  efer: number;
  /** IDTR.base: linear address of the IDT. */
  idtBase: number;
  /** IDTR.limit, in bytes minus one (16 bits). */
  idtLimit: number;
}
