/**
 * The public types of the arm64 CPU: options, run results, the EL2 exit
 * record, statistics, registers (Arm ARM D1, D19).
 */
import { ARM64_EXCEPTION_CLASS, type Clock, type Memory, type MmioBus, type Tracer } from '@hvsim/core';
import type { GenericTimer, GicV3 } from '@hvsim/gic';
import type { ArmMmu, Stage2Walker } from '@hvsim/mmu';
import type { Arm64CostProfile } from '../cost/arm64-cost-profile.js';
import type { Arm64Guest } from '../guest/guest.js';
import type { GuestProgram } from '../guest/program.js';
import type { SavedFrame } from '../guest/replay.js';
import type { CpuStats } from '../stats.js';

/** Names of the exception classes, by EC. */
export const EC_NAME: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(ARM64_EXCEPTION_CLASS).map(([n, v]) => [v, n]));

/** Options of an {@link Arm64Cpu}. */
export interface Arm64CpuOptions {
  /** Physical memory (RAM). */
  memory: Memory;
  /** The guest code, by entry address (vector table entries are addresses in it). */
  program: GuestProgram<Arm64Guest>;
  /** Memory-mapped devices (the GIC distributor and redistributors, ...). */
  mmio?: MmioBus;
  /** The GICv3 whose CPU interface `cpu` this PE is: ICC_* / ICV_* / ICH_* registers go there. */
  gic?: GicV3;
  /** The generic timer: CNT* registers go there. */
  timer?: GenericTimer;
  /** The MMU (default: a new `ArmMmu` over `memory`, SCTLR_EL1.M = 0). */
  mmu?: ArmMmu;
  /** Simulated time; the CPU advances it to its own time before device accesses. */
  clock?: Clock;
  /** Cycle costs (default {@link ARM64_DEFAULT_COSTS}). */
  costs?: Arm64CostProfile;
  /** This PE's number: its GIC CPU interface and timer index, and its trace `cpu` (default 0). */
  cpu?: number;
  /** MIDR_EL1 (default 0x410fd083, an Arm Cortex-A72 r0p3). */
  midr?: number;
  /** Receives `interrupt.delivered` (IRQ/FIQ entry), `fault` (synchronous exceptions, lockup) and `vm.exit` (traps to EL2) events. */
  tracer?: Tracer;
  /**
   * Log each frame's operation results so that `saveState` works while guest
   * code runs (default false: the log costs a little per operation;
   * checkpoints in the code bound it).
   */
  snapshots?: boolean;
  /** Called when the guest executes SEV: the machine sets the event register of every PE (`signalEvent`). */
  onSev?: (cpu: number) => void;
}

/** Why {@link Arm64Cpu.run} returned. */
export type Arm64RunResult =
  /** The cycle budget (or the operation budget) was reached. */
  | 'budget'
  /** The PE waits in WFI/WFE and nothing will wake it before the budget's end. */
  | 'halted'
  /** The entry code returned: nothing is left to run. */
  | 'finished'
  /** A trap to EL2 (see {@link Arm64Cpu.lastExit}). */
  | 'exit'
  /** The fetch at an exception vector faulted while taking the abort of a faulting vector fetch: the PE would take the same exception forever. */
  | 'lockup';

/** What took the guest to EL2. */
export type Arm64ExitKind =
  /** A synchronous exception (see `esr`). */
  | 'sync'
  /** A physical IRQ routed to EL2 by HCR_EL2.IMO. */
  | 'irq'
  /** A physical FIQ routed to EL2 by HCR_EL2.FMO. */
  | 'fiq';

/** The syndrome of a trap to EL2 (the CPU's reused record: read it before the next entry). */
export class Arm64Exit {
  /** A synchronous exception, or a physical IRQ or FIQ routed to EL2. */
  kind: Arm64ExitKind = 'sync';
  /** ESR_EL2 (0 for an interrupt). */
  esr = 0;
  /** ESR_EL2.EC. */
  ec = 0;
  /** ESR_EL2.ISS. */
  iss = 0;
  /** FAR_EL2: the faulting VA of an abort. */
  far = 0;
  /** HPFAR_EL2 of a stage 2 abort: FIPA, IPA bits 47:12 in bits 43:4. */
  hpfar = 0;
  /** The faulting IPA (HPFAR_EL2.FIPA << 12 plus the page offset of FAR_EL2). */
  ipa = 0;
  /** ELR_EL2: where the guest resumes (the trapped instruction, or the one after an HVC). */
  elr = 0;
  /** Name of the exception class, for messages. */
  get name(): string {
    return this.kind === 'sync' ? (EC_NAME[this.ec] ?? `EC 0x${this.ec.toString(16)}`) : this.kind.toUpperCase();
  }
}


/** A copy of an arm64 CPU's counters: {@link CpuStats} plus traps to EL2 by exception class name. */
export interface Arm64Stats extends CpuStats {
  /** Traps to EL2 by kind (`'irq'`, `'fiq'`) or exception class name (`'HVC64'`, `'DATA_ABORT_LOWER'`, ...). */
  exits: Record<string, number>;
}

/** Architectural registers a host may read and set. */
export interface Arm64Registers {
  /** PSTATE as an SPSR value: M[3:0] and D, A, I, F. */
  pstate: number;
  /** VBAR_EL1: the vector table base (bits 10:0 are RES0; D19.2). */
  vbar: number;
  /** ELR_EL1: the return address of the last exception taken to EL1. */
  elr: number;
  /** SPSR_EL1: PSTATE saved at the last exception taken to EL1. */
  spsr: number;
  /** ESR_EL1: the syndrome of the last synchronous exception taken to EL1 (EC in bits 31:26, IL bit 25, ISS 24:0). */
  esr: number;
  /** FAR_EL1: the faulting virtual address of the last abort taken to EL1. */
  far: number;
  /** SCTLR_EL1 (bit 0 M enables stage 1 translation). */
  sctlr: number;
}

/** Options of {@link Arm64Cpu.attachHypervisor}. */
export interface Arm64HypervisorOptions {
  /** HCR_EL2 (a number: every modelled bit is below bit 32). */
  hcr: number;
  /** The VM's stage 2 (used while HCR_EL2.VM = 1). */
  stage2?: Stage2Walker;
}

/** Saved state of an {@link Arm64Cpu} (see `saveState`): JSON-safe. */
export interface Arm64CpuSavedState {
  /** The state's kind. */
  type: 'hvsim.arm64-cpu';
  /** The format version. */
  version: 1;
  /** The PE's local time, in cycles. */
  localTime: number;
  /** PSTATE as an SPSR value: M[3:0] (EL and SP selection) and D, A, I, F. */
  pstate: number;
  /** VBAR_EL1. */
  vbar: number;
  /** ELR_EL1. */
  elr: number;
  /** SPSR_EL1. */
  spsr: number;
  /** ESR_EL1. */
  esr: number;
  /** FAR_EL1. */
  far: number;
  /** The PE's stored system registers by name, as [bits 31:0, bits 63:32]. */
  sysregs: Record<string, [number, number]>;
  /** The interrupt inputs as last driven (IRQ 1, FIQ 2, vIRQ 4, vFIQ 8). */
  inputs: number;
  /** 0 running, 1 waiting in WFI, 2 waiting in WFE. */
  waiting: number;
  /** The event register WFE waits on (Arm ARM D1.6.1). */
  eventRegister: boolean;
  /** True after a lockup (a vector fetch that faulted while taking the abort of a faulting vector fetch). */
  lockedUp: boolean;
  /** EL2: whether a hypervisor is attached, HCR_EL2, whether the guest is entered or stopped at an exit, a pending HVC. */
  hypervisor: {
    /** Whether `attachHypervisor` was called. */
    attached: boolean;
    /** HCR_EL2. */
    hcr: number;
    /** Whether the guest runs at EL1 under EL2 (entered and not exited since). */
    entered: boolean;
    /** Whether the guest stopped at a trap to EL2 not yet resumed. */
    exited: boolean;
    /** Whether a trapped HVC waits for the hypervisor's result. */
    hvcPending: boolean;
  };
  /** The last trap to EL2 (ESR_EL2, FAR_EL2, HPFAR_EL2, the IPA, ELR_EL2). */
  exit: {
    /** What took the guest to EL2. */
    kind: Arm64ExitKind;
    /** ESR_EL2. */
    esr: number;
    /** FAR_EL2. */
    far: number;
    /** HPFAR_EL2. */
    hpfar: number;
    /** The faulting IPA. */
    ipa: number;
    /** ELR_EL2. */
    elr: number;
  };
  /** The guest interface's result registers: lo, hi. */
  guest: number[];
  /** X0-X3 as the last HVC returned them (`Arm64Guest.hvcResults`); absent in older states (zeros). */
  hvcResults?: number[];
  /** The running guest code, bottom frame first: each frame's entry, position and replay log. */
  frames: SavedFrame[];
}
