/**
 * @hvsim/cpu: the processor that runs guest software. Guest code is
 * TypeScript generators (or step functions) yielding one architectural operation at a time; the
 * CPU executes each through its MMU, buses and interrupt controller, takes
 * interrupts between operations, and charges cycles from a cost profile.
 *
 * @packageDocumentation
 */

// Guest code
export {
  /** Operation codes guest code yields. */
  OP,
  /** Names of the operation codes. */
  OP_NAME,
  /** One operation record (reused by every builder call of a CPU). */
  Op,
} from './guest/ops.js';
export type {
  /** A numeric operation code. */
  OpCode,
} from './guest/ops.js';
export {
  /** Operations and result registers common to every architecture. */
  Guest,
  /** The x86 guest interface: loads, stores, port I/O, MSRs, CPUID, CLI/STI, HLT, IRET, CRs... */
  X86Guest,
} from './guest/guest.js';
export {
  /** Guest code by entry address (IDT gate targets, entry points). */
  GuestProgram,
} from './guest/program.js';
export type {
  /** A piece of guest code: a generator function yielding operations. */
  GuestCode,
  /** Guest code in the step form: called per operation with its index and the last result, returns the next operation (allocates nothing). */
  GuestSteps,
  /** A step function as `GuestProgram.define` takes it: `{ steps }`. */
  StepCode,
  /** The generator a piece of guest code returns. */
  GuestRoutine,
  /** One entry point of a program. */
  CodeEntry,
} from './guest/program.js';

// Costs and statistics
export {
  /** The default x86 cost profile. */
  X86_DEFAULT_COSTS,
  /** Builds an x86 cost profile from the default with overrides (checked). */
  x86CostProfile,
} from './cost/cost-profile.js';
export type {
  /** Primitive costs of an x86 CPU in cycles. */
  X86CostProfile,
} from './cost/cost-profile.js';
export type {
  /** The fields every CPU cost profile has (name, clock rate, op, load, store, walk reference, MMIO, sources). */
  CostProfileBase,
} from './cost/profile.js';
export type {
  /** A copy of a CPU's counters. */
  CpuStats,
} from './stats.js';

// Time
export {
  /** Runs several CPUs on one clock, the one furthest behind first, a quantum at a time. */
  CpuScheduler,
} from './time/scheduler.js';
export type {
  /** What the scheduler needs of a CPU. */
  SchedulableCpu,
  /** Options of a CpuScheduler. */
  CpuSchedulerOptions,
  /** Why CpuScheduler.run returned. */
  SchedulerResult,
} from './time/scheduler.js';

// x86
export {
  /** An x86-64 processor running guest code natively. */
  X86Cpu,
} from './x86/x86-cpu.js';
export type {
  /** Saved state of an X86Cpu (registers and the running guest code, replayed on restore). */
  X86CpuSavedState,
} from './x86/x86-cpu.js';
export type {
  /** One frame of running guest code as saved: entry, position and replay log. */
  SavedFrame,
} from './guest/replay.js';
export type {
  /** Options of an X86Cpu. */
  X86CpuOptions,
  /** Why X86Cpu.run returned. */
  X86RunResult,
  /** Registers a host may read and set. */
  X86Registers,
  /** The interrupt controller a native x86 CPU acknowledges at (a LocalApic is one). */
  X86InterruptController,
} from './x86/x86-cpu.js';
export {
  /** x86 RFLAGS bits. */
  RFLAGS,
  /** x86 CR0 bits. */
  CR0,
  /** x86 CR4 bits. */
  CR4,
  /** IA32_EFER bits. */
  EFER,
  /** x86 exception vectors. */
  VECTOR,
  /** 64-bit IDT gate types. */
  GATE_TYPE,
  /** Error-code bits of IDT-related faults. */
  SELECTOR_ERROR,
} from './x86/regs.js';
export {
  /** Encodes a 64-bit IDT gate as four 32-bit words. */
  encodeIdtGate,
} from './x86/idt-gate.js';
export type {
  /** Fields of a 64-bit IDT gate. */
  IdtGateFields,
} from './x86/idt-gate.js';
export {
  /** The default native CPUID (GenuineIntel, family 6). */
  defaultCpuid,
  /** CPUID feature bits this model implements. */
  CPUID_FEATURE,
} from './x86/cpuid.js';
export type {
  /** The four CPUID output registers. */
  CpuidResult,
  /** Answers CPUID leaves. */
  CpuidFunction,
} from './x86/cpuid.js';
export {
  /** Exception classes of SDM 3A Table 6-4. */
  EXCEPTION_CLASS,
  /** What a second exception during delivery becomes (Table 6-5). */
  SECOND_FAULT,
  /** Class of a vector. */
  exceptionClass,
  /** Table 6-5. */
  combineFaults,
} from './x86/exception-class.js';

// arm64 (issue 13)
export {
  /** The arm64 guest interface: MRS/MSR, DAIFSet/DAIFClr, WFI/WFE/SEV, ERET, SVC/HVC/SMC, TLBI, barriers, UDF. */
  Arm64Guest,
} from './guest/guest.js';
export {
  /** An AArch64 PE at EL0/EL1 running guest code natively (GICv3, generic timer) or under a hypervisor at EL2. */
  Arm64Cpu,
  /** The syndrome of a trap to EL2 (ESR_EL2, FAR_EL2, HPFAR_EL2, ELR_EL2). */
  Arm64Exit,
} from './arm64/arm64-cpu.js';
export type {
  /** Options of an Arm64Cpu. */
  Arm64CpuOptions,
  /** Why Arm64Cpu.run returned. */
  Arm64RunResult,
  /** What took the guest to EL2. */
  Arm64ExitKind,
  /** Registers a host may read and set. */
  Arm64Registers,
  /** An arm64 CPU's counters (with traps to EL2 by class). */
  Arm64Stats,
  /** Saved state of an Arm64Cpu (saveState). */
  Arm64CpuSavedState,
  /** Options of Arm64Cpu.attachHypervisor. */
  Arm64HypervisorOptions,
} from './arm64/arm64-cpu.js';
export {
  /** The default arm64 cost profile (trap and ERET costs from NEVE, SOSP 2017). */
  ARM64_DEFAULT_COSTS,
  /** Builds an arm64 cost profile from the default with overrides (checked). */
  arm64CostProfile,
} from './cost/arm64-cost-profile.js';
export type {
  /** Primitive costs of an arm64 CPU in cycles. */
  Arm64CostProfile,
} from './cost/arm64-cost-profile.js';
export {
  /** PSTATE / SPSR_ELx bits. */
  PSTATE,
  /** SPSR_ELx.M values (EL0t, EL1t, EL1h, ...). */
  PSTATE_MODE,
  /** PSTATE.{D,A,I,F} together. */
  DAIF_MASK,
  /** HCR_EL2 bits. */
  HCR_EL2,
  /** ESR_ELx field positions. */
  ESR,
  /** ISS bits of a Data Abort. */
  DATA_ABORT_ISS,
  /** ISS of a trapped WFI / WFE. */
  WFX_ISS,
  /** SCTLR_EL1 reset value of the model. */
  SCTLR_EL1_RESET,
  /** Builds an ESR_ELx value from EC and ISS (IL = 1). */
  esrValue,
  /** ISS of a trapped MSR/MRS (EC 0x18). */
  sysregIss,
} from './arm64/regs.js';
export {
  /** Encodings of the system registers the PE holds. */
  ARM64_SYSREG,
  /** The encoding of (op0, op1, CRn, CRm, op2), checked. */
  arm64SysregEncoding,
  /** The encoding of a system register name (the PE registers, the ICC, ICV and ICH registers, the CNT registers). */
  arm64SysregByName,
  /** The name of an encoding (or its generic S<op0>_<op1>_C<n>_C<m>_<op2> form). */
  arm64SysregName,
} from './arm64/sysregs.js';
export type {
  /** A name of a register in ARM64_SYSREG. */
  Arm64SysregName,
} from './arm64/sysregs.js';
export {
  /** TLBI operation names by their number in an operation record. */
  ARM64_TLBI_OPS,
} from './arm64/tlbi-ops.js';
export type {
  /** How an x86 CPU reaches guest-linear memory: the MMU behind a CPU-side translation cache (`X86Cpu.memory`). */
  X86LinearMemory,
} from './x86/linear-memory.js';
export type {
  /** How an arm64 CPU reaches virtual memory: stage 1 (and stage 2) behind a CPU-side translation cache (`Arm64Cpu.memory`). */
  Arm64VirtualMemory,
} from './arm64/virtual-memory.js';
