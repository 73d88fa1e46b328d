/**
 * An x86-64 logical processor that runs guest code operation by operation
 * (SDM 3A chapter 6, "Interrupt and Exception Handling"): interrupts are
 * recognized only between operations, subject to RFLAGS.IF, the STI and
 * MOV-SS shadows and NMI blocking; events are delivered through 64-bit IDT
 * gates in guest memory with the architectural stack frame; faults while
 * delivering escalate to #DF and to a triple-fault shutdown; IRET returns.
 *
 * This file is the native processor: it acknowledges interrupts at its local
 * APIC (or an i8259 through ExtINT). It runs at CPL 0 in IA-32e mode with
 * 4-level paging (or with paging off and 32-bit linear addresses).
 */
import {
  Clock,
  CpuException,
  MmioBus,
  PhysicalAddressSpace,
  UsageError,
  describeValue,
  type Memory,
  type MsrBus,
  type PioBus,
  type Tracer,
  type U64Halves,
} from '@hvsim/core';
import type { LocalApic } from '@hvsim/lapic';
import { ACCESS as IMPORTED_ACCESS, X86Mmu } from '@hvsim/mmu';
import { EXIT_REASON, INTR_TYPE, VMCS_FIELD, crExitQualification, type CrAccess, type GuestEvent, type NonRootOutcome, type VmExitInfo, type VmxProcessor } from '@hvsim/vmcs';
import { X86_DEFAULT_COSTS, type X86CostProfile } from '../cost/cost-profile.js';
import { FRAME_STATE as IMPORTED_FRAME_STATE, FrameStack, type Frame } from '../guest/frames.js';
import { X86Guest } from '../guest/guest.js';
import { OP as IMPORTED_OP, type Op } from '../guest/ops.js';
import type { GuestProgram } from '../guest/program.js';
import { CpuCounters, type CpuStats } from '../stats.js';
import { defaultCpuid, type CpuidFunction, type CpuidResult } from './cpuid.js';
import { SECOND_FAULT, combineFaults, exceptionClass, hasErrorCode } from './exception-class.js';
import { FAULT_APIC_ACCESS, FAULT_VM_EXIT, X86LinearMemory } from './linear-memory.js';
import * as regs from './regs.js';

// Module-local copies of the constants read on every operation and delivery:
// under Node's ESM loader each use of an imported binding is a getter call,
// which cost a quarter of a load/store loop (measured with --cpu-prof).
const OP = IMPORTED_OP;
const ACCESS = IMPORTED_ACCESS;
const FRAME_STATE = IMPORTED_FRAME_STATE;
const { CR0, CR4, EFER, GATE_DWORD1, GATE_SIZE, GATE_TYPE, KERNEL_SELECTOR, RFLAGS, RFLAGS_RESET, SELECTOR_ERROR, VECTOR, X86_MSR } = regs;

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
  /** This CPU's number in traces (default 0). */
  cpu?: number;
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
  rflags: number;
  rsp: number;
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  efer: number;
  idtBase: number;
  idtLimit: number;
}

const KIND = { EXTERNAL: 0, NMI: 1, EXCEPTION: 2, SOFTWARE: 3 } as const;
const OPTION_NAMES = new Set(['memory', 'program', 'mmio', 'pio', 'msrs', 'apic', 'extInt', 'mmu', 'clock', 'costs', 'cpuid', 'apicId', 'cpu', 'tracer']);
const SHADOW_NONE = 0;
const SHADOW_STI = 1;
const SHADOW_MOV_SS = 2;
const TWO_32 = 0x1_0000_0000;
const EFER_WRITABLE = EFER.SCE | EFER.LME | EFER.NXE;
const CR4_MODELLED = CR4.PAE | CR4.PGE | CR4.PCIDE | CR4.SMEP | CR4.SMAP | CR4.PKE;
const PENDING_NMI = 1;
const PENDING_EXTINT = 16;

/** An x86-64 processor running guest code (see the file comment). */
export class X86Cpu {
  /** The guest interface handed to guest code. */
  readonly guest = new X86Guest();
  /** Linear-address memory access (MMU and the CPU-side translation cache). */
  readonly memory: X86LinearMemory;
  /** The MMU. */
  readonly mmu: X86Mmu;
  /** Cycle costs in use. */
  readonly costs: X86CostProfile;
  /** This CPU's local time in cycles. */
  localTime = 0;

  private readonly program: GuestProgram<X86Guest>;
  private readonly pio: PioBus | undefined;
  private readonly msrs: MsrBus | undefined;
  private readonly apic: X86InterruptController | undefined;
  private readonly extInt: (() => number) | undefined;
  private readonly clock: Clock | undefined;
  private readonly tracer: Tracer | undefined;
  private readonly cpuidFn: CpuidFunction;
  private readonly cpuNumber: number;
  private readonly frames = new FrameStack();
  private readonly counters = new CpuCounters();
  private readonly halves: U64Halves = { lo: 0, hi: 0 };
  private readonly cpuidOut: CpuidResult = { eax: 0, ebx: 0, ecx: 0, edx: 0 };

  private rflags = RFLAGS_RESET;
  private rsp = 0;
  private cr0 = CR0.PE;
  private cr2 = 0;
  private cr3 = 0;
  private cr4 = 0;
  private efer = 0;
  private idtBase = 0;
  private idtLimit = 0xffff;
  private tscOffset = 0;
  private tpr = 0;
  private shadow = SHADOW_NONE;
  private nmiBlocked = false;
  private nmiPending = false;
  private halted = false;
  private shutdownState = false;
  // VMX non-root operation (see attachVmx).
  private vmx: VmxProcessor | null = null;
  private hostApic: LocalApic | null = null;
  private exited = false;
  private exitInfo: VmExitInfo | null = null;

  constructor(options: X86CpuOptions) {
    if (typeof (options as unknown) !== 'object' || (options as unknown) === null) throw new UsageError('bad-argument', `X86Cpu options must be an object, got ${describeValue(options)}`);
    for (const key of Object.keys(options)) if (!OPTION_NAMES.has(key)) throw new UsageError('unknown-name', `unknown X86Cpu option ${describeValue(key)}`);
    if (typeof (options.memory as unknown) !== 'object') throw new UsageError('bad-argument', `X86Cpu needs memory, got ${describeValue(options.memory)}`);
    if (typeof (options.program as unknown) !== 'object') throw new UsageError('bad-argument', `X86Cpu needs a program, got ${describeValue(options.program)}`);
    this.program = options.program;
    this.pio = options.pio;
    this.msrs = options.msrs;
    this.apic = options.apic;
    this.extInt = options.extInt;
    this.clock = options.clock;
    this.tracer = options.tracer;
    this.cpuNumber = options.cpu ?? 0;
    this.costs = options.costs ?? X86_DEFAULT_COSTS;
    this.cpuidFn = options.cpuid ?? defaultCpuid(options.apicId ?? this.cpuNumber);
    this.mmu = options.mmu ?? new X86Mmu(options.memory, options.clock ? { clock: options.clock } : {});
    this.memory = new X86LinearMemory(new PhysicalAddressSpace(options.memory, options.mmio ?? new MmioBus()), this.mmu);
    if (this.clock) this.localTime = this.clock.now();
  }

  // --- host interface ------------------------------------------------------

  /** Starts running the code at `entry` (a defined address) as the bottom frame, discarding any code running. */
  start(entry: number): void {
    const code = this.program.at(entry);
    if (!code) throw new UsageError('bad-argument', `no guest code is defined at ${describeValue(entry)}`);
    this.frames.clear();
    this.frames.push(code.code(this.guest, -1, -1), entry, code.name);
    this.halted = false;
    this.shutdownState = false;
  }

  /** True while the CPU is in the HLT state. */
  get isHalted(): boolean {
    return this.halted;
  }

  /** True after a triple fault. */
  get isShutdown(): boolean {
    return this.shutdownState;
  }

  /** Raises the NMI pin (an NMI not from the local APIC). */
  nmi(): void {
    this.nmiPending = true;
  }

  // --- VMX non-root operation --------------------------------------------------

  /**
   * Runs this CPU's guest code in VMX non-root operation under `vmx`, the
   * VMX of the physical processor it is loaded on, acknowledging external
   * and notification interrupts at that processor's local APIC `hostApic`
   * (KVM's vcpu_load). Every event VMX may intercept is then reported to
   * `vmx`, and `run` returns `'exit'` at a VM exit. The MMU should be in EPT
   * mode (or the host runs shadow paging). Native NMIs are not passed to the
   * guest in this mode.
   */
  attachVmx(vmx: VmxProcessor, hostApic?: LocalApic): void {
    if (typeof (vmx as unknown) !== 'object' || typeof vmx.instructionBoundary !== 'function') throw new UsageError('bad-argument', `attachVmx needs a VmxProcessor, got ${describeValue(vmx)}`);
    this.vmx = vmx;
    this.hostApic = hostApic ?? null;
  }

  /** Leaves VMX wiring (KVM's vcpu_put): the CPU is native again. */
  detachVmx(): void {
    this.vmx = null;
    this.hostApic = null;
    this.memory.apicAccessPage = -1;
  }

  /**
   * After `vmx.vmlaunch()` or `vmx.vmresume()` answered `entered`: loads the
   * guest state from the current VMCS (RSP, RFLAGS, CR0, CR3, CR4, IA32_EFER,
   * IDTR; registers are only reloaded when they changed) and delivers the
   * event VM entry injects, if any, before the first guest operation.
   */
  enterGuest(inject: GuestEvent | null): void {
    const vmx = this.requireVmx('enterGuest');
    if (vmx.vmxOperation !== 'non-root') throw new UsageError('bad-state', `enterGuest: the processor is in VMX ${vmx.vmxOperation} operation; call it after VMLAUNCH/VMRESUME answered 'entered'`);
    this.exited = false;
    this.exitInfo = null;
    this.loadGuestState();
    this.memory.apicAccessPage = vmx.apicAccessAddress;
    this.charge(this.costs.vmEntry);
    this.halted = vmx.guestActivityState === 1;
    if (inject) this.deliverGuestEvent(inject);
  }

  /** The exit that ended the last `run` with `'exit'` (the processor's reused object: read it before the next entry). */
  get lastExit(): VmExitInfo | null {
    return this.exitInfo;
  }

  /**
   * The operation an instruction-caused VM exit stopped at (CPUID, I/O,
   * MSR, VMCALL, HLT, MOV CR, an EPT violation...), or null: a hypervisor
   * reads its operands to emulate it (port, size and value of an OUT; the
   * MSR of a RDMSR; address, size and value of an MMIO store).
   */
  get pendingOperation(): Readonly<Op> | null {
    const top = this.frames.top;
    return top !== undefined && top.state === FRAME_STATE.RETRY ? top.saved : null;
  }

  /**
   * Completes the pending operation as emulated by the hypervisor, with
   * `result` (bits 63:32 in `hi`): the guest resumes after it (KVM's
   * `kvm_skip_emulated_instruction`). Without this the operation runs again
   * at the next entry, as a fault-like exit (an EPT violation) requires.
   */
  completePendingOperation(result = 0, hi = 0): void {
    const top = this.frames.top;
    if (top === undefined || top.state !== FRAME_STATE.RETRY) throw new UsageError('bad-state', 'completePendingOperation: no operation is pending');
    if (!Number.isInteger(result) || !Number.isInteger(hi)) throw new UsageError('bad-argument', `completePendingOperation needs integer halves, got ${describeValue(result)}, ${describeValue(hi)}`);
    const g = this.guest;
    if (top.saved.size === 8 || hi !== 0) {
      g.lo = result >>> 0;
      g.hi = hi >>> 0;
      this.complete(top, g.lo + g.hi * TWO_32);
    } else {
      this.complete(top, result >>> 0);
    }
    this.vmcsWrite(VMCS_FIELD.GUEST_RIP, top.rip);
  }

  private requireVmx(what: string): VmxProcessor {
    if (this.vmx === null) throw new UsageError('bad-state', `${what}: no VMX processor is attached (attachVmx)`);
    return this.vmx;
  }

  /** The architectural registers the host may inspect. */
  registers(): X86Registers {
    return { rflags: this.rflags, rsp: this.rsp, cr0: this.cr0, cr2: this.cr2, cr3: this.cr3, cr4: this.cr4, efer: this.efer, idtBase: this.idtBase, idtLimit: this.idtLimit };
  }

  /**
   * Sets registers as a VMM or firmware would before the first instruction
   * (KVM_SET_REGS/SREGS): paging state goes to the MMU. Values are checked as
   * the corresponding MOV/WRMSR would check them, but a bad value is the
   * host's error (UsageError), not a #GP.
   */
  setRegisters(regs: Partial<X86Registers>): void {
    for (const [key, value] of Object.entries(regs)) {
      if (!['rflags', 'rsp', 'cr0', 'cr2', 'cr3', 'cr4', 'efer', 'idtBase', 'idtLimit'].includes(key)) throw new UsageError('unknown-name', `unknown x86 register ${describeValue(key)}`);
      if (!Number.isSafeInteger(value) || value < 0) throw new UsageError('bad-argument', `x86 register ${key} must be a non-negative safe integer, got ${describeValue(value)}`);
    }
    if (regs.efer !== undefined && !this.eferValid(regs.efer)) throw new UsageError('bad-argument', `IA32_EFER value 0x${regs.efer.toString(16)} sets reserved bits`);
    if (regs.cr4 !== undefined && (regs.cr4 & ~CR4_MODELLED) !== 0) throw new UsageError('bad-argument', `CR4 value 0x${regs.cr4.toString(16)} sets bits this model does not implement`);
    if (regs.rflags !== undefined) this.rflags = (regs.rflags | RFLAGS.FIXED1) >>> 0;
    if (regs.rsp !== undefined) this.rsp = regs.rsp;
    if (regs.cr2 !== undefined) this.cr2 = regs.cr2;
    if (regs.idtBase !== undefined) this.idtBase = regs.idtBase;
    if (regs.idtLimit !== undefined) this.idtLimit = regs.idtLimit & 0xffff;
    if (regs.efer !== undefined) this.efer = regs.efer;
    if (regs.cr4 !== undefined) this.loadCr4(regs.cr4);
    if (regs.cr3 !== undefined) this.loadCr3(regs.cr3);
    if (regs.cr0 !== undefined) {
      if (!this.cr0Valid(regs.cr0)) throw new UsageError('bad-argument', `CR0 value 0x${regs.cr0.toString(16)} is not a valid IA-32e or non-paging state`);
      this.loadCr0(regs.cr0);
    }
    this.syncPagingContext();
  }

  /** Counters since construction. */
  stats(): CpuStats {
    return this.counters.snapshot(this.memory.cacheHits, this.memory.cacheMisses);
  }

  /** The running frames from the bottom (entry code) up (their names and synthetic RIPs). */
  backtrace(): { name: string; rip: number }[] {
    return this.frames.list().map((f) => ({ name: f.name, rip: f.rip }));
  }

  /**
   * Runs until local time reaches `untilCycle`, the CPU halts with nothing to
   * wake it before then, shuts down, the entry code returns, or
   * `maxOperations` operations have run (then `'budget'`).
   */
  run(untilCycle: number, maxOperations = Number.POSITIVE_INFINITY): X86RunResult {
    if (!Number.isSafeInteger(untilCycle) || untilCycle < 0) throw new UsageError('bad-argument', `run needs a cycle count, got ${describeValue(untilCycle)}`);
    if (!(maxOperations >= 0)) throw new UsageError('bad-argument', `maxOperations must be a non-negative number, got ${describeValue(maxOperations)}`);
    if (this.frames.size === 0) throw new UsageError('bad-state', 'X86Cpu.run before start(entry): no guest code to run');
    const clock = this.clock;
    let budget = maxOperations;
    if (this.exited) return 'exit';
    while (this.localTime < untilCycle) {
      if (budget-- <= 0) break;
      if (this.shutdownState) return 'shutdown';
      if (this.vmx !== null) {
        if (this.vmxBoundary()) {
          if (this.didExit()) return 'exit';
          continue;
        }
        if (this.halted) {
          if (!this.idle(untilCycle)) return 'halted';
          continue;
        }
        if (!this.step()) return this.stopReason('finished');
        if (this.didExit()) return 'exit';
        continue;
      }
      if (clock) {
        const next = clock.nextEventAt();
        if (next !== undefined && next <= this.localTime) this.syncClock();
      }
      if (this.halted) {
        if (!this.eventPending()) {
          const next = clock?.nextEventAt();
          const wakeAt = next === undefined ? untilCycle : Math.min(untilCycle, Math.max(next, this.localTime));
          this.counters.haltedCycles += wakeAt - this.localTime;
          this.localTime = wakeAt;
          if (next === undefined || next >= untilCycle) return 'halted';
          continue;
        }
        this.halted = false;
        this.charge(this.costs.hltWake);
      }
      if (this.shadow === SHADOW_NONE || this.shadow === SHADOW_STI) {
        if (this.deliverPendingEvent()) continue;
      }
      if (!this.step()) return this.stopReason('finished');
    }
    return this.stopReason('budget');
  }

  /**
   * A halted CPU with nothing to wake it skips to the next clock event (or
   * `untilCycle`); false when that is the budget's end.
   */
  private idle(untilCycle: number): boolean {
    const next = this.clock?.nextEventAt();
    const wakeAt = next === undefined ? untilCycle : Math.min(untilCycle, Math.max(next, this.localTime));
    this.counters.haltedCycles += wakeAt - this.localTime;
    this.localTime = wakeAt;
    if (next === undefined || next >= untilCycle) return false;
    this.syncClock();
    return true;
  }

  /** True once a VM exit stopped the guest (a call, so the compiler does not assume it unchanged). */
  private didExit(): boolean {
    return this.exited;
  }

  /** `otherwise`, unless the last operation shut the CPU down. */
  private stopReason(otherwise: X86RunResult): X86RunResult {
    return this.shutdownState ? 'shutdown' : otherwise;
  }

  // --- the instruction boundary ---------------------------------------------

  /** True when an NMI, or an interrupt the current state would take, is waiting (a halted CPU wakes on it). */
  private eventPending(): boolean {
    const apic = this.apic;
    if (this.nmiPending && !this.nmiBlocked) return true;
    if (apic && (apic.pendingSignals & PENDING_NMI) !== 0 && !this.nmiBlocked) return true;
    if ((this.rflags & RFLAGS.IF) === 0) return false;
    if (apic) return apic.hasPendingInterrupt() || ((apic.pendingSignals & PENDING_EXTINT) !== 0 && this.extInt !== undefined);
    return false;
  }

  /**
   * Recognizes one event at this boundary, by priority (SDM 3A 6.9, Table
   * 6-2): NMI, then a maskable interrupt when RFLAGS.IF = 1 and no STI
   * shadow. The MOV-SS shadow blocks both (6.8.3) and is checked by the
   * caller; the STI shadow does not block NMIs in this model (6.8.3 leaves it
   * to the processor). Returns true when an event was delivered.
   */
  private deliverPendingEvent(): boolean {
    const apic = this.apic;
    const shadowed = this.shadow === SHADOW_STI;
    if (!this.nmiBlocked) {
      let nmi = false;
      if (this.nmiPending) {
        this.nmiPending = false;
        nmi = true;
      } else if (apic && (apic.pendingSignals & PENDING_NMI) !== 0) {
        nmi = apic.takeNmi();
      }
      if (nmi) {
        this.deliver(VECTOR.NMI, KIND.NMI, -1);
        return true;
      }
    }
    if (shadowed || (this.rflags & RFLAGS.IF) === 0 || !apic) return false;
    if (apic.hasPendingInterrupt()) {
      this.deliver(apic.acknowledge(), KIND.EXTERNAL, -1);
      return true;
    }
    if ((apic.pendingSignals & PENDING_EXTINT) !== 0 && this.extInt && apic.takeExtInt()) {
      this.deliver(this.extInt() & 0xff, KIND.EXTERNAL, -1);
      return true;
    }
    return false;
  }

  // --- VMX non-root boundary, delivery and exits ------------------------------

  /**
   * The instruction boundary in VMX non-root operation (SDM 3C 26.2, and
   * @hvsim/vmcs's contract): skipped while the processor has nothing pending
   * and the host APIC nothing deliverable; otherwise `instructionBoundary`
   * decides (deliver, posted-interrupt processing then deliver, exit, stay
   * halted). True when an event was delivered or the guest exited.
   */
  private vmxBoundary(): boolean {
    const vmx = this.vmx!;
    const host = this.hostApic;
    const hostVector = host === null ? -1 : host.highestDeliverableVector();
    if (!vmx.boundaryPending && hostVector < 0) return false;
    let o: NonRootOutcome = vmx.instructionBoundary((this.rflags & RFLAGS.IF) !== 0, false, hostVector);
    for (;;) {
      switch (o.kind) {
        case 'posted':
          // Posted-interrupt processing: acknowledge the notification vector, write the host EOI, then finish the boundary.
          host?.acknowledge();
          this.hostEoi();
          o = vmx.instructionBoundary((this.rflags & RFLAGS.IF) !== 0, false, host === null ? -1 : host.highestDeliverableVector());
          continue;
        case 'deliver':
          if (o.event.acknowledge) host?.acknowledge();
          this.halted = false;
          this.deliverGuestEvent(o.event);
          return true;
        case 'exit':
          this.takeExit(o.exit);
          return true;
        case 'halted':
          this.halted = true;
          return false;
        default:
          if (this.halted && o.kind === 'continue') this.halted = vmx.guestActivityState === 1;
          return false;
      }
    }
  }

  /** Acts on a non-root outcome of an operation: true when the operation was done (or virtualized). */
  private vmxOutcome(o: NonRootOutcome, frame: Frame, op: Op): boolean {
    switch (o.kind) {
      case 'continue':
        this.complete(frame, 0);
        return true;
      case 'read':
        this.complete64(frame, o.lo, o.hi);
        return true;
      case 'deliver':
        this.deliverGuestEvent(o.event);
        return true;
      case 'exit':
        this.stopAt(frame, op);
        this.takeExit(o.exit);
        return true;
      case 'halted':
        this.halted = true;
        this.complete(frame, 0);
        return true;
      default:
        return false;
    }
  }

  /** An exit the CPU decides (CPUID, I/O, VMCALL...): the operation stays pending for the hypervisor. */
  private opExit(frame: Frame, op: Op, reason: number, qualification = 0): void {
    this.stopAt(frame, op);
    const o = this.vmx!.reportExit(reason, { qualification, instructionLength: 1 });
    if (o.kind === 'exit') this.takeExit(o.exit);
  }

  private stopAt(frame: Frame, op: Op): void {
    if (frame.saved !== op) frame.saved.copyFrom(op);
    frame.state = FRAME_STATE.RETRY;
  }

  /** Delivers an event VMX handed over (injection, virtual interrupt, reflected exception) through the guest IDT. */
  private deliverGuestEvent(event: GuestEvent): void {
    const type = event.type;
    const kind = type === INTR_TYPE.EXTERNAL_INTERRUPT ? KIND.EXTERNAL : type === INTR_TYPE.NMI ? KIND.NMI : type === INTR_TYPE.HARDWARE_EXCEPTION ? KIND.EXCEPTION : KIND.SOFTWARE;
    this.deliver(event.vector, kind, event.errorCode);
  }

  /**
   * A fault while delivering in VMX non-root operation: an EPT violation
   * exits; an exception goes to VMX, which reflects it, turns it into #DF or
   * a triple-fault exit, or exits on it (IDT-vectoring information is its).
   */
  private vmxDeliveryFault(): GuestEvent | null {
    const vmx = this.vmx!;
    const mem = this.memory;
    if (mem.faultVector === FAULT_VM_EXIT) {
      const o = vmx.reportExit(mem.exitReason, { qualification: mem.exitQualification, guestPhysicalAddress: mem.exitGuestPhysical, guestLinearAddress: mem.exitGuestLinear });
      if (o.kind === 'exit') this.takeExit(o.exit);
      return null;
    }
    const vector = mem.faultVector;
    if (vector === VECTOR.PF) this.cr2 = mem.faultAddress;
    const o = vmx.exception(vector, hasErrorCode(vector) ? { errorCode: mem.faultError, qualification: vector === VECTOR.PF ? mem.faultAddress : 0 } : {});
    if (o.kind === 'deliver') return o.event;
    if (o.kind === 'exit') this.takeExit(o.exit);
    return null;
  }

  /** The guest left non-root operation: its registers go to the VMCS, the host acknowledges on exit. */
  private takeExit(exit: VmExitInfo): void {
    this.exited = true;
    this.exitInfo = exit;
    if (exit.acknowledgedVector >= 0) this.hostApic?.acknowledge();
    this.saveGuestState();
    this.memory.apicAccessPage = -1;
    this.charge(this.costs.vmExit);
    this.tracer?.emit({ kind: 'vm.exit', cycle: this.localTime, cpu: this.cpuNumber, source: 'cpu', reason: exit.basicReason, reasonName: exit.reasonName });
  }

  private hostEoi(): void {
    const host = this.hostApic;
    if (host === null) return;
    if (host.isX2apic) host.writeMsr(0x80b, 0n);
    else host.mmioWrite(0xb0, 4, 0);
  }

  private vmcsWrite(encoding: number, value: number): void {
    this.vmx?.currentVmcs?.write(encoding, value);
  }

  /** The guest-state area as an exit leaves it (SDM 3C 28.3 "Saving Guest State"). */
  private saveGuestState(): void {
    const vmcs = this.vmx?.currentVmcs;
    if (!vmcs) return;
    const top = this.frames.top;
    vmcs.write(VMCS_FIELD.GUEST_RIP, top ? top.rip : 0);
    vmcs.write(VMCS_FIELD.GUEST_RSP, this.rsp);
    vmcs.write(VMCS_FIELD.GUEST_RFLAGS, this.rflags);
    vmcs.write(VMCS_FIELD.GUEST_CR0, this.cr0);
    vmcs.write(VMCS_FIELD.GUEST_CR3, this.cr3);
    vmcs.write(VMCS_FIELD.GUEST_CR4, this.cr4);
    vmcs.write(VMCS_FIELD.GUEST_IA32_EFER, this.efer);
    vmcs.write(VMCS_FIELD.GUEST_IDTR_BASE, this.idtBase);
    vmcs.write(VMCS_FIELD.GUEST_IDTR_LIMIT, this.idtLimit);
  }

  /** The guest-state area as VM entry loads it (SDM 3C 27.3.2); unchanged control registers are not reloaded. */
  private loadGuestState(): void {
    const vmcs = this.vmx?.currentVmcs;
    if (!vmcs) return;
    const top = this.frames.top;
    const rip = vmcs.readNumber(VMCS_FIELD.GUEST_RIP);
    if (top) {
      // The hypervisor skipped the pending operation by advancing RIP (its result is 0).
      if (rip === top.rip + 1 && top.state === FRAME_STATE.RETRY) this.complete(top, 0);
      else if (rip !== top.rip) throw new UsageError('bad-state', `VM entry at GUEST_RIP 0x${rip.toString(16)}, but the guest code (${top.name}) is at 0x${top.rip.toString(16)}: only skipping the pending operation (RIP + 1) is supported`);
    }
    this.rsp = vmcs.readNumber(VMCS_FIELD.GUEST_RSP);
    this.rflags = (vmcs.readNumber(VMCS_FIELD.GUEST_RFLAGS) | RFLAGS.FIXED1) >>> 0;
    this.idtBase = vmcs.readNumber(VMCS_FIELD.GUEST_IDTR_BASE);
    this.idtLimit = vmcs.readNumber(VMCS_FIELD.GUEST_IDTR_LIMIT) & 0xffff;
    const efer = vmcs.readNumber(VMCS_FIELD.GUEST_IA32_EFER);
    const cr4 = vmcs.readNumber(VMCS_FIELD.GUEST_CR4);
    const cr3 = vmcs.readNumber(VMCS_FIELD.GUEST_CR3);
    const cr0 = vmcs.readNumber(VMCS_FIELD.GUEST_CR0) >>> 0;
    if (efer !== this.efer) this.efer = efer;
    // CR4 keeps every bit the VMCS holds (VMXE included): the MMU reads only the paging ones.
    if (cr4 !== this.cr4) this.loadCr4(cr4);
    if (cr3 !== this.cr3) this.loadCr3(cr3);
    if (cr0 !== this.cr0) this.loadCr0(cr0);
    this.syncPagingContext();
  }

  // --- running guest code ----------------------------------------------------

  /** Fetches and executes one operation; false when there is nothing left to run. */
  private step(): boolean {
    const frame = this.frames.top;
    if (!frame) return false;
    let op: Op;
    if (frame.state === FRAME_STATE.RETRY) {
      op = this.guest.op;
      op.copyFrom(frame.saved);
    } else {
      const routine = frame.routine;
      if (!routine) {
        // Control reached an address with no code: the bytes there are no instruction.
        frame.saved.code = OP.UD2;
        this.fault(frame, frame.saved, VECTOR.UD, -1);
        return true;
      }
      const r = routine.next(frame.result);
      if (r.done === true) return this.frameReturned(frame);
      op = r.value;
    }
    const shadowBefore = this.shadow;
    this.execute(op, frame);
    // The instruction after STI or MOV SS ends its shadow (unless it set a new one).
    if (shadowBefore !== SHADOW_NONE && this.shadow === shadowBefore) this.shadow = SHADOW_NONE;
    return true;
  }

  private frameReturned(frame: Frame): boolean {
    if (this.frames.size > 1) {
      throw new UsageError('bad-state', `guest handler ${frame.name} returned without IRET: a handler must end with yield g.iret()`);
    }
    this.frames.pop();
    return false;
  }

  /** The operation completed with `result`. */
  private complete(frame: Frame, result: number): void {
    frame.index++;
    frame.state = FRAME_STATE.RESUME;
    frame.result = result;
  }

  /** The operation faulted: it will run again after the handler's IRET. */
  private fault(frame: Frame, op: Op, vector: number, errorCode: number): void {
    this.stopAt(frame, op);
    const vmx = this.vmx;
    if (vmx === null) {
      this.deliver(vector, KIND.EXCEPTION, errorCode);
      return;
    }
    // VMX decides whether the exception exits (exception bitmap, #PF error-code mask/match; SDM 3C 26.2).
    const o = vmx.exception(vector, errorCode >= 0 ? { errorCode, qualification: vector === VECTOR.PF ? this.cr2 : 0 } : {});
    if (o.kind === 'deliver') this.deliverGuestEvent(o.event);
    else if (o.kind === 'exit') this.takeExit(o.exit);
  }

  private execute(op: Op, frame: Frame): void {
    const costs = this.costs;
    this.counters.ops[op.code] = (this.counters.ops[op.code] ?? 0) + 1;
    this.charge(costs.op);
    switch (op.code) {
      case OP.LOAD:
        return this.load(op, frame);
      case OP.STORE:
        return this.store(op, frame);
      case OP.COMPUTE:
        if (!(op.a >= 0) || !Number.isFinite(op.a)) throw new UsageError('bad-argument', `compute needs a non-negative cycle count, got ${describeValue(op.a)}`);
        this.charge(op.a);
        return this.complete(frame, 0);
      case OP.IN:
        return this.portIn(op, frame);
      case OP.OUT:
        return this.portOut(op, frame);
      case OP.RDMSR:
        return this.rdmsr(op, frame);
      case OP.WRMSR:
        return this.wrmsr(op, frame);
      case OP.CPUID: {
        // CPUID always exits in VMX non-root operation (SDM 3C 26.1.2).
        if (this.vmx !== null) return this.opExit(frame, op, EXIT_REASON.CPUID);
        this.charge(costs.cpuid);
        const out = this.cpuidOut;
        this.cpuidFn(op.a, op.b, out);
        const g = this.guest;
        g.eax = out.eax >>> 0;
        g.ebx = out.ebx >>> 0;
        g.ecx = out.ecx >>> 0;
        g.edx = out.edx >>> 0;
        return this.complete(frame, g.eax);
      }
      case OP.CLI:
        this.rflags &= ~RFLAGS.IF;
        return this.complete(frame, 0);
      case OP.STI:
        // SDM 3A 6.8.3: interrupts stay blocked until the end of the next instruction, if IF was 0.
        this.vmx?.sti((this.rflags & RFLAGS.IF) !== 0);
        if ((this.rflags & RFLAGS.IF) === 0) this.shadow = SHADOW_STI;
        this.rflags |= RFLAGS.IF;
        return this.complete(frame, 0);
      case OP.MOV_SS:
        this.vmx?.movSs();
        this.shadow = SHADOW_MOV_SS;
        return this.complete(frame, 0);
      case OP.HLT:
        if (this.vmx !== null) {
          this.vmxOutcome(this.vmx.hlt(), frame, op);
          return;
        }
        this.halted = true;
        return this.complete(frame, 0);
      case OP.IRET:
        return this.iret(op, frame);
      case OP.MOV_TO_CR:
        return this.movToCr(op, frame);
      case OP.MOV_FROM_CR:
        return this.movFromCr(op, frame);
      case OP.INVLPG:
        this.charge(costs.invlpg);
        if (!Number.isSafeInteger(op.a) || op.a < 0) throw new UsageError('bad-argument', `INVLPG needs a linear address, got ${describeValue(op.a)}`);
        if (this.vmx?.instructionExits('invlpg')) return this.opExit(frame, op, EXIT_REASON.INVLPG, op.a);
        this.mmu.invlpg(op.a);
        return this.complete(frame, 0);
      case OP.LIDT:
        if (!Number.isSafeInteger(op.a) || op.a < 0) throw new UsageError('bad-argument', `LIDT needs a linear base address, got ${describeValue(op.a)}`);
        if (this.vmx?.instructionExits('descriptor-table')) return this.opExit(frame, op, EXIT_REASON.GDTR_IDTR);
        this.idtBase = op.a;
        this.idtLimit = op.b & 0xffff;
        return this.complete(frame, 0);
      case OP.INT:
        // A trap: the saved RIP is the next instruction (SDM 3A 6.4.2).
        this.complete(frame, 0);
        this.deliver(op.a & 0xff, KIND.SOFTWARE, -1);
        return;
      case OP.UD2:
        return this.fault(frame, op, VECTOR.UD, -1);
      case OP.DIV: {
        if (op.b === 0) return this.fault(frame, op, VECTOR.DE, -1);
        return this.complete(frame, Math.floor(op.a / op.b) >>> 0);
      }
      case OP.RDTSC: {
        if (this.vmx?.instructionExits('rdtsc')) return this.opExit(frame, op, EXIT_REASON.RDTSC);
        const tsc = this.localTime + this.tscOffset;
        return this.complete64(frame, tsc >>> 0, Math.floor(tsc / TWO_32) >>> 0);
      }
      case OP.VMCALL:
        // VMCALL exits in VMX non-root operation; outside it is #UD (SDM 3C 31.3 "VMCALL").
        if (this.vmx !== null) return this.opExit(frame, op, EXIT_REASON.VMCALL);
        return this.fault(frame, op, VECTOR.UD, -1);
      case OP.PAUSE:
        if (this.vmx?.instructionExits('pause')) return this.opExit(frame, op, EXIT_REASON.PAUSE_INSTRUCTION);
        return this.complete(frame, 0);
      case OP.READ_RSP:
        return this.complete(frame, this.rsp);
      case OP.ADD_RSP: {
        const next = this.rsp + op.a;
        if (!Number.isSafeInteger(next) || next < 0) throw new UsageError('bad-argument', `RSP + ${describeValue(op.a)} leaves the modelled address range`);
        this.rsp = next;
        return this.complete(frame, 0);
      }
      default:
        return this.fault(frame, op, VECTOR.UD, -1);
    }
  }

  private complete64(frame: Frame, lo: number, hi: number): void {
    const g = this.guest;
    g.lo = lo >>> 0;
    g.hi = hi >>> 0;
    this.complete(frame, g.lo + g.hi * TWO_32);
  }

  private load(op: Op, frame: Frame): void {
    const size = op.size as 1 | 2 | 4 | 8;
    const mem = this.memory;
    this.charge(this.costs.load);
    this.syncClock();
    if (!mem.read(op.a, size, ACCESS.READ, this.halves)) return this.memoryFault(frame, op);
    this.accountAccess();
    if (size === 8) return this.complete64(frame, this.halves.lo, this.halves.hi);
    return this.complete(frame, this.halves.lo);
  }

  private store(op: Op, frame: Frame): void {
    const mem = this.memory;
    this.charge(this.costs.store);
    this.syncClock();
    if (!mem.write(op.a, op.size as 1 | 2 | 4 | 8, op.b, op.c, ACCESS.READ)) return this.memoryFault(frame, op);
    this.accountAccess();
    return this.complete(frame, 0);
  }

  /** Charges what the last access cost beyond its base: walk references, a device. */
  private accountAccess(): void {
    const mem = this.memory;
    if (mem.walkReferences !== 0) {
      this.counters.walkReferences += mem.walkReferences;
      this.charge(mem.walkReferences * this.costs.walkReference);
    }
    const target = mem.lastTarget;
    if (target === 'mmio') {
      this.counters.deviceAccesses++;
      this.charge(this.costs.mmio);
    } else if (target === 'unclaimed') {
      this.counters.unclaimedAccesses++;
    }
  }

  private memoryFault(frame: Frame, op: Op): void {
    const mem = this.memory;
    if (mem.faultVector === FAULT_VM_EXIT) {
      this.stopAt(frame, op);
      const o = this.vmx!.reportExit(mem.exitReason, { qualification: mem.exitQualification, guestPhysicalAddress: mem.exitGuestPhysical, guestLinearAddress: mem.exitGuestLinear });
      if (o.kind === 'exit') this.takeExit(o.exit);
      return;
    }
    if (mem.faultVector === FAULT_APIC_ACCESS) return this.apicPageAccess(frame, op, mem.faultAddress);
    if (mem.faultVector === VECTOR.PF) this.cr2 = mem.faultAddress;
    this.fault(frame, op, mem.faultVector, mem.faultError);
  }

  /**
   * An access to the APIC-access page in VMX non-root operation (SDM 3C
   * 30.4): virtualized, an APIC-access exit, or done on the page as memory.
   */
  private apicPageAccess(frame: Frame, op: Op, physical: number): void {
    const vmx = this.vmx!;
    const write = op.code === OP.STORE;
    const o = vmx.memoryAccess(physical, op.size, write ? 'write' : 'read', write ? op.b : undefined);
    if (o.kind === 'native') {
      const space = this.memory.space;
      if (write) space.write(physical, op.size as 1 | 2 | 4 | 8, op.b, op.c);
      else if (space.read(physical, op.size as 1 | 2 | 4 | 8, this.halves) === 'unclaimed') this.halves.lo = 0xffff_ffff;
      if (write) return this.complete(frame, 0);
      return op.size === 8 ? this.complete64(frame, this.halves.lo, this.halves.hi) : this.complete(frame, this.halves.lo);
    }
    this.vmxOutcome(o, frame, op);
  }

  private portIn(op: Op, frame: Frame): void {
    this.charge(this.costs.pio);
    this.syncClock();
    const size = op.size as 1 | 2 | 4;
    const port = op.a & 0xffff;
    const vmx = this.vmx;
    if (vmx?.ioAccessExits(port, size)) return this.opExit(frame, op, EXIT_REASON.IO_INSTRUCTION, vmx.ioExitQualification({ port, size, direction: 'in' }));
    const mapping = this.pio?.lookup(port);
    let value = size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1;
    if (mapping) {
      try {
        value = this.pio!.read(port, size);
      } catch (e) {
        if (e instanceof CpuException) return this.fault(frame, op, e.vector, e.errorCode ?? -1);
        throw e;
      }
      this.counters.deviceAccesses++;
    } else {
      this.counters.unclaimedAccesses++;
    }
    return this.complete(frame, value >>> 0);
  }

  private portOut(op: Op, frame: Frame): void {
    this.charge(this.costs.pio);
    this.syncClock();
    const port = op.a & 0xffff;
    const vmx = this.vmx;
    if (vmx?.ioAccessExits(port, op.size as 1 | 2 | 4)) return this.opExit(frame, op, EXIT_REASON.IO_INSTRUCTION, vmx.ioExitQualification({ port, size: op.size as 1 | 2 | 4, direction: 'out' }));
    if (this.pio?.lookup(port)) {
      try {
        this.pio.write(port, op.size as 1 | 2 | 4, op.b >>> 0);
      } catch (e) {
        if (e instanceof CpuException) return this.fault(frame, op, e.vector, e.errorCode ?? -1);
        throw e;
      }
      this.counters.deviceAccesses++;
    } else {
      this.counters.unclaimedAccesses++;
    }
    return this.complete(frame, 0);
  }

  private rdmsr(op: Op, frame: Frame): void {
    this.charge(this.costs.msr);
    const index = op.a >>> 0;
    // VMX answers first: an exit (MSR bitmap), a virtualized x2APIC read, or native (SDM 3C 26.1.3, 30.5).
    if (this.vmx !== null && this.vmxOutcome(this.vmx.rdmsr(index), frame, op)) return;
    if (index === X86_MSR.IA32_TIME_STAMP_COUNTER) {
      const tsc = this.localTime + this.tscOffset;
      return this.complete64(frame, tsc >>> 0, Math.floor(tsc / TWO_32));
    }
    if (index === X86_MSR.IA32_EFER) return this.complete64(frame, this.efer, 0);
    this.syncClock();
    if (!this.msrs?.lookup(index)) return this.fault(frame, op, VECTOR.GP, 0);
    let value: bigint;
    try {
      value = this.msrs.read(index);
    } catch (e) {
      if (e instanceof CpuException) return this.fault(frame, op, e.vector, e.errorCode ?? 0);
      throw e;
    }
    this.counters.deviceAccesses++;
    return this.complete64(frame, Number(value & 0xffff_ffffn), Number((value >> 32n) & 0xffff_ffffn));
  }

  private wrmsr(op: Op, frame: Frame): void {
    this.charge(this.costs.msr);
    const index = op.a >>> 0;
    if (this.vmx !== null) {
      const value = op.c < 0x20_0000 ? op.b + op.c * TWO_32 : (BigInt(op.c >>> 0) << 32n) | BigInt(op.b >>> 0);
      if (this.vmxOutcome(this.vmx.wrmsr(index, value), frame, op)) return;
    }
    if (index === X86_MSR.IA32_TIME_STAMP_COUNTER) {
      this.tscOffset = op.b + op.c * TWO_32 - this.localTime;
      return this.complete(frame, 0);
    }
    if (index === X86_MSR.IA32_EFER) {
      // Reserved bits, and LME changed while paging is on, are #GP (SDM 3A 2.2.1, 10.8.5).
      const next = op.b >>> 0;
      if (op.c !== 0 || !this.eferValid(next) || ((this.cr0 & CR0.PG) !== 0 && ((next ^ this.efer) & EFER.LME) !== 0)) return this.fault(frame, op, VECTOR.GP, 0);
      this.efer = (next & EFER_WRITABLE) | (this.efer & EFER.LMA);
      this.syncPagingContext();
      return this.complete(frame, 0);
    }
    this.syncClock();
    if (!this.msrs?.lookup(index)) return this.fault(frame, op, VECTOR.GP, 0);
    try {
      this.msrs.write(index, (BigInt(op.c >>> 0) << 32n) | BigInt(op.b >>> 0));
    } catch (e) {
      if (e instanceof CpuException) return this.fault(frame, op, e.vector, e.errorCode ?? 0);
      throw e;
    }
    this.counters.deviceAccesses++;
    return this.complete(frame, 0);
  }

  // --- control registers -------------------------------------------------------

  private movToCr(op: Op, frame: Frame): void {
    this.charge(this.costs.crWrite);
    const value = op.b + op.c * TWO_32;
    const vmx = this.vmx;
    if (vmx !== null) {
      // SDM 3C 26.1.3: CR0/CR4 against the guest/host mask and read shadow, CR3 against the target values, CR8 through TPR virtualization.
      if (op.a === 8) {
        if (this.vmxOutcome(vmx.movToCr8(value), frame, op)) return;
      } else if (op.a === 0 || op.a === 3 || op.a === 4) {
        const access: CrAccess = { type: 'mov-to', cr: op.a === 0 ? 0 : op.a === 3 ? 3 : 4, value };
        if (vmx.crAccessExits(access)) return this.opExit(frame, op, EXIT_REASON.CR_ACCESS, crExitQualification(access));
      }
    }
    switch (op.a) {
      case 0:
        // SDM 3A 2.5 / 4.1.1: PG without PE, or paging enabled outside IA-32e, is rejected here.
        if (op.c !== 0 || !this.cr0Valid(op.b >>> 0)) return this.fault(frame, op, VECTOR.GP, 0);
        this.loadCr0(op.b >>> 0);
        this.syncPagingContext();
        return this.complete(frame, 0);
      case 3:
        if (value >= 2 ** 52) return this.fault(frame, op, VECTOR.GP, 0);
        this.loadCr3(value);
        return this.complete(frame, 0);
      case 4: {
        const next = op.b >>> 0;
        // Clearing PAE in IA-32e mode, or setting a bit the model lacks, is #GP (SDM 3A 2.5).
        if (op.c !== 0 || (next & ~CR4_MODELLED) !== 0 || ((this.efer & EFER.LMA) !== 0 && (next & CR4.PAE) === 0)) return this.fault(frame, op, VECTOR.GP, 0);
        this.loadCr4(next);
        return this.complete(frame, 0);
      }
      case 8:
        if (value > 15) return this.fault(frame, op, VECTOR.GP, 0);
        if (this.apic) this.apic.writeCr8(value);
        else this.tpr = value;
        return this.complete(frame, 0);
      default:
        return this.fault(frame, op, VECTOR.UD, -1);
    }
  }

  private movFromCr(op: Op, frame: Frame): void {
    const vmx = this.vmx;
    if (vmx !== null) {
      if (op.a === 8) {
        if (this.vmxOutcome(vmx.movFromCr8(), frame, op)) return;
      } else if (op.a === 3) {
        const access = { type: 'mov-from' as const, cr: 3 as const };
        if (vmx.crAccessExits(access)) return this.opExit(frame, op, EXIT_REASON.CR_ACCESS, crExitQualification(access));
      } else if (op.a === 0 || op.a === 4) {
        // Bits the host owns read from the read shadow.
        const shadowed = vmx.crReadValue(op.a, op.a === 0 ? this.cr0 : this.cr4);
        return this.complete64(frame, shadowed >>> 0, 0);
      }
    }
    let value: number;
    switch (op.a) {
      case 0:
        value = this.cr0;
        break;
      case 2:
        value = this.cr2;
        break;
      case 3:
        value = this.cr3;
        break;
      case 4:
        value = this.cr4;
        break;
      case 8:
        value = this.apic ? this.apic.readCr8() : this.tpr;
        break;
      default:
        return this.fault(frame, op, VECTOR.UD, -1);
    }
    return this.complete64(frame, value >>> 0, Math.floor(value / TWO_32));
  }

  private cr0Valid(cr0: number): boolean {
    if ((cr0 & CR0.PG) === 0) return true;
    if ((cr0 & CR0.PE) === 0) return false;
    // Only IA-32e paging is modelled: PG needs EFER.LME and CR4.PAE.
    return (this.efer & EFER.LME) !== 0 && (this.cr4 & CR4.PAE) !== 0;
  }

  private eferValid(efer: number): boolean {
    return (efer & ~(EFER_WRITABLE | EFER.LMA)) === 0;
  }

  private loadCr0(cr0: number): void {
    this.cr0 = cr0 >>> 0;
    const paging = (cr0 & CR0.PG) !== 0;
    this.efer = paging && (this.efer & EFER.LME) !== 0 ? this.efer | EFER.LMA : this.efer & ~EFER.LMA;
    this.memory.paging = paging;
    this.memory.flush();
  }

  private loadCr3(cr3: number): void {
    this.cr3 = cr3;
    this.mmu.movToCr3(BigInt(cr3));
  }

  private loadCr4(cr4: number): void {
    this.cr4 = cr4;
    this.mmu.movToCr4({
      pge: (cr4 & CR4.PGE) !== 0,
      pcide: (cr4 & CR4.PCIDE) !== 0,
      smep: (cr4 & CR4.SMEP) !== 0,
      smap: (cr4 & CR4.SMAP) !== 0,
      pke: (cr4 & CR4.PKE) !== 0,
    });
  }

  /** Copies CR0.WP and EFER.NXE into the MMU's paging context. */
  private syncPagingContext(): void {
    const ctx = this.mmu.context;
    ctx.cr0Wp = (this.cr0 & CR0.WP) !== 0;
    ctx.eferNxe = (this.efer & EFER.NXE) !== 0;
    this.mmu.contextChanged();
  }

  // --- event delivery ------------------------------------------------------------

  /**
   * Delivers an event through the IDT; a fault while doing so is delivered
   * instead, or becomes #DF, or shuts the CPU down (SDM 3A 6.15, Table 6-5).
   */
  private deliver(vector: number, kind: number, errorCode: number): void {
    let v = vector;
    let k = kind;
    let code = errorCode;
    let ext = kind === KIND.EXTERNAL || kind === KIND.NMI ? SELECTOR_ERROR.EXT : 0;
    for (;;) {
      if (this.tryDeliver(v, k, code, ext)) return;
      if (this.vmx !== null) {
        const next = this.vmxDeliveryFault();
        if (next === null) return;
        v = next.vector;
        k = next.type === INTR_TYPE.HARDWARE_EXCEPTION ? KIND.EXCEPTION : next.type === INTR_TYPE.NMI ? KIND.NMI : next.type === INTR_TYPE.EXTERNAL_INTERRUPT ? KIND.EXTERNAL : KIND.SOFTWARE;
        code = next.errorCode;
        ext = SELECTOR_ERROR.EXT;
        continue;
      }
      const mem = this.memory;
      const second = mem.faultVector;
      const outcome = combineFaults(exceptionClass(v, k === KIND.EXCEPTION), exceptionClass(second, true));
      if (outcome === SECOND_FAULT.SHUTDOWN) {
        this.enterShutdown(v, second);
        return;
      }
      if (second === VECTOR.PF) this.cr2 = mem.faultAddress;
      // The fault happened while delivering an event: its error code says so (EXT, SDM 3A 6.13).
      if (outcome === SECOND_FAULT.DOUBLE_FAULT) {
        this.counters.doubleFaults++;
        v = VECTOR.DF;
        code = 0;
      } else {
        v = second;
        code = mem.faultError;
      }
      k = KIND.EXCEPTION;
      ext = SELECTOR_ERROR.EXT;
    }
  }

  /** One delivery attempt; false with the fault in `memory.fault*` when it faulted. */
  private tryDeliver(vector: number, kind: number, errorCode: number, ext: number): boolean {
    const mem = this.memory;
    const gateAddress = this.idtBase + vector * GATE_SIZE;
    const selectorError = (vector << 3) | SELECTOR_ERROR.IDT | ext;
    // SDM 3A 6.14.1: the gate must lie within the IDT limit.
    if (vector * GATE_SIZE + GATE_SIZE - 1 > this.idtLimit) return this.raise(VECTOR.GP, selectorError);
    const h = this.halves;
    if (!mem.read(gateAddress, 8, ACCESS.READ | ACCESS.IMPLICIT, h)) return false;
    const offsetLow = h.lo & 0xffff;
    const dword1 = h.hi;
    const offsetMid = dword1 >>> 16;
    if (!mem.read(gateAddress + 8, 4, ACCESS.READ | ACCESS.IMPLICIT, h)) return false;
    const offsetHigh = h.lo;
    const type = (dword1 >>> GATE_DWORD1.TYPE.lsb) & 0xf;
    // SDM 3A 6.12.1.1: a not-present gate is #NP; a type that is no 64-bit interrupt or trap gate is #GP.
    if ((dword1 & (1 << GATE_DWORD1.P.lsb)) === 0) return this.raise(VECTOR.NP, selectorError);
    if (type !== GATE_TYPE.INTERRUPT && type !== GATE_TYPE.TRAP) return this.raise(VECTOR.GP, selectorError);
    const target = offsetLow + offsetMid * 0x1_0000 + offsetHigh * TWO_32;
    // The frame (SDM 3A 6.14.2): RSP aligned to 16 bytes, then SS, RSP, RFLAGS, CS, RIP and the error code.
    const pushError = kind === KIND.EXCEPTION && hasErrorCode(vector);
    const oldRsp = this.rsp;
    let sp = oldRsp - (oldRsp % 16);
    const interrupted = this.frames.top;
    const rip = interrupted ? interrupted.rip : 0;
    if (!this.push(sp -= 8, KERNEL_SELECTOR.SS) || !this.push(sp -= 8, oldRsp) || !this.push(sp -= 8, this.rflags) || !this.push(sp -= 8, KERNEL_SELECTOR.CS) || !this.push(sp -= 8, rip)) return false;
    if (pushError && !this.push(sp -= 8, errorCode >>> 0)) return false;
    // The first instruction of the handler is fetched from the gate's target.
    if (!mem.read(target, 1, ACCESS.FETCH, h)) return false;
    this.rsp = sp;
    this.rflags &= ~RFLAGS.TF;
    if (type === GATE_TYPE.INTERRUPT) this.rflags &= ~RFLAGS.IF;
    if (kind === KIND.NMI) this.nmiBlocked = true;
    this.shadow = SHADOW_NONE;
    this.halted = false;
    this.counters.delivered[vector] = (this.counters.delivered[vector] ?? 0) + 1;
    this.charge(this.costs.eventDelivery);
    const code = this.program.at(target);
    if (code) this.frames.push(code.code(this.guest, vector, pushError ? errorCode >>> 0 : -1), target, code.name);
    else this.frames.push(null, target, `no code at 0x${target.toString(16)}`);
    this.traceDelivery(vector, kind, pushError ? errorCode : -1);
    return true;
  }

  /** One 8-byte push of the event frame (a supervisor stack write). */
  private push(address: number, value: number): boolean {
    return this.memory.write(address, 8, value >>> 0, Math.floor(value / TWO_32) >>> 0, ACCESS.IMPLICIT);
  }

  private raise(vector: number, errorCode: number): boolean {
    const mem = this.memory;
    mem.faultVector = vector;
    mem.faultError = errorCode;
    return false;
  }

  private iret(op: Op, frame: Frame): void {
    this.charge(this.costs.iret);
    const below = this.frames.below;
    if (!below) throw new UsageError('bad-state', `IRET in ${frame.name}, which no interrupt or exception entered`);
    const mem = this.memory;
    const h = this.halves;
    // IRETQ pops RIP, CS, RFLAGS, RSP and SS (SDM 2A "IRET/IRETD/IRETQ"); CS and SS are not checked (no GDT).
    const base = this.rsp;
    if (!mem.read(base, 8, ACCESS.READ | ACCESS.IMPLICIT, h)) return this.memoryFault(frame, op);
    const rip = h.lo + h.hi * TWO_32;
    if (!mem.read(base + 16, 8, ACCESS.READ | ACCESS.IMPLICIT, h)) return this.memoryFault(frame, op);
    const rflags = h.lo;
    if (!mem.read(base + 24, 8, ACCESS.READ | ACCESS.IMPLICIT, h)) return this.memoryFault(frame, op);
    const rsp = h.lo + h.hi * TWO_32;
    if (!mem.read(base + 32, 8, ACCESS.READ | ACCESS.IMPLICIT, h)) return this.memoryFault(frame, op);
    if (rip === below.rip + 1 && below.state === FRAME_STATE.RETRY) {
      // The handler skipped the faulting instruction (every operation is one byte long in this model),
      // as an emulating #UD or #GP handler does: the operation is abandoned with result 0.
      below.index++;
      below.state = FRAME_STATE.RESUME;
      below.result = 0;
    } else if (rip !== below.rip) {
      throw new UsageError('bad-state', `IRET in ${frame.name} returns to RIP 0x${rip.toString(16)}, but the interrupted code (${below.name}) is at 0x${below.rip.toString(16)}: guest code cannot jump by rewriting the frame in this model (only skipping a faulting operation: RIP + 1)`);
    }
    // IRET restores RFLAGS from the frame and always ends NMI blocking (SDM 3A 6.7.1).
    this.rflags = ((rflags >>> 0) | RFLAGS.FIXED1) >>> 0;
    this.rsp = rsp;
    this.nmiBlocked = false;
    this.vmx?.iret();
    this.frames.pop();
  }

  private enterShutdown(firstVector: number, secondVector: number): void {
    this.shutdownState = true;
    this.counters.shutdowns++;
    this.tracer?.emit({ kind: 'fault', cycle: this.localTime, cpu: this.cpuNumber, source: 'cpu', what: 'triple-fault', code: secondVector, args: { delivering: firstVector } });
  }

  private traceDelivery(vector: number, kind: number, errorCode: number): void {
    const tracer = this.tracer;
    if (!tracer) return;
    if (kind === KIND.EXCEPTION) tracer.emit({ kind: 'fault', cycle: this.localTime, cpu: this.cpuNumber, source: 'cpu', what: 'exception', code: vector, args: { errorCode } });
    else tracer.emit({ kind: 'interrupt.delivered', cycle: this.localTime, cpu: this.cpuNumber, source: 'cpu', vector, args: { via: kind === KIND.NMI ? 'nmi' : kind === KIND.SOFTWARE ? 'int' : 'idt' } });
  }

  // --- time -------------------------------------------------------------------

  private charge(cycles: number): void {
    this.localTime += cycles;
    this.counters.busyCycles += cycles;
  }

  /** Brings the clock to this CPU's time, running the events due. */
  private syncClock(): void {
    const clock = this.clock;
    if (clock && clock.now() < this.localTime) clock.runUntil(this.localTime);
  }

}
