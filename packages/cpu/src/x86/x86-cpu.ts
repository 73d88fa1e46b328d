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
import { SnapshotError, UsageError, describeValue, readState } from '@hvsim/core';
import type { LocalApic } from '@hvsim/lapic';
import { VMCS_FIELD, type GuestEvent, type NonRootOutcome, type VmExitInfo, type VmxProcessor } from '@hvsim/vmcs';
import { FRAME_STATE as IMPORTED_FRAME_STATE, LOG_KIND, type Frame } from '../guest/frames.js';
import type { X86Guest } from '../guest/guest.js';
import { applyWideLog, installFrames, readSavedFrames, replayFrames, saveFrames, type SavedFrame } from '../guest/replay.js';
import { OP as IMPORTED_OP, type Op } from '../guest/ops.js';
import type { CpuStats } from '../stats.js';
import * as regs from './regs.js';
import { CPU_CONSTANTS } from './cpu-constants.js';
import { X86Instructions } from './instructions.js';
import type { X86Registers, X86RunResult } from './cpu-types.js';

// Module-local copies of the constants read on every operation and delivery:
// under Node's ESM loader each use of an imported binding is a getter call,
// which cost a quarter of a load/store loop (measured with --cpu-prof).
const OP = IMPORTED_OP;
const FRAME_STATE = IMPORTED_FRAME_STATE;
const { EFER, RFLAGS, VECTOR } = regs;
const { KIND, SHADOW_NONE, SHADOW_MOV_SS, EFER_WRITABLE, CR4_MODELLED, PENDING_NMI, PENDING_EXTINT } = CPU_CONSTANTS;

export type { X86CpuOptions, X86InterruptController, X86Registers, X86RunResult } from './cpu-types.js';

/** Saved state of an {@link X86Cpu} (see `saveState`). */
export interface X86CpuSavedState {
  /** The state's kind. */
  type: 'hvsim.x86-cpu';
  /** The format version. */
  version: 1;
  /** The CPU's local time, in cycles. */
  localTime: number;
  /** RFLAGS, RSP, CR0-CR4, IA32_EFER, IDTR. */
  registers: X86Registers;
  /** IA32_TSC minus local time, in cycles (what a WRMSR of IA32_TSC or `setTsc` set). */
  tscOffset: number;
  /** The task-priority register, CR8 (bits 3:0; SDM 3A 11.8.3.1 "Task and Processor Priorities"). */
  tpr: number;
  /** The interrupt shadow: 0 none, 1 after STI, 2 after MOV SS (SDM 3A 6.8.3). */
  shadow: number;
  /** NMIs blocked until the next IRET (SDM 3A 6.7.1). */
  nmiBlocked: boolean;
  /** An NMI raised on the pin and not yet delivered. */
  nmiPending: boolean;
  /** In the HLT state. */
  halted: boolean;
  /** Shut down after a triple fault. */
  shutdown: boolean;
  /** The guest interface's result registers: lo, hi, eax, ebx, ecx, edx. */
  guest: number[];
  /** The running guest code, bottom frame first: each frame's entry, position and replay log. */
  frames: SavedFrame[];
}

/** x86's extra logged registers: `lo`/`hi`, and CPUID's four. */
function applyX86Log(guest: X86Guest, kind: number, log: readonly number[], at: number): number {
  if (kind === LOG_KIND.CPUID) {
    guest.eax = log[at]!;
    guest.ebx = log[at + 1]!;
    guest.ecx = log[at + 2]!;
    guest.edx = log[at + 3]!;
    return 4;
  }
  return applyWideLog(guest, kind, log, at);
}

/** An x86-64 processor running guest code (see the file comment). */
export class X86Cpu extends X86Instructions {
  /** Starts running the code at `entry` (a defined address) as the bottom frame, discarding any code running. */
  start(entry: number): void {
    const code = this.program.at(entry);
    if (!code) throw new UsageError('bad-argument', `no guest code is defined at ${describeValue(entry)}`);
    this.frames.clear();
    this.frames.enter(code, entry, this.guest, -1, -1);
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

  /**
   * IA32_TSC now, in cycles (SDM 3B 18.17): this CPU's local time plus the
   * offset a WRMSR or {@link setTsc} set. A guest in VMX non-root operation
   * with "use TSC offsetting" reads this plus the VMCS TSC offset.
   */
  get tsc(): number {
    return this.localTime + this.tscOffset;
  }

  /**
   * Sets IA32_TSC as a WRMSR of it would (a VMM or firmware restoring a
   * native CPU's TSC; `setRegisters` holds registers only): the TSC counts
   * on from `value` (cycles, a non-negative safe integer).
   */
  setTsc(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new UsageError('bad-argument', `IA32_TSC must be a non-negative safe integer, got ${describeValue(value)}`);
    this.tscOffset = value - this.localTime;
  }

  /** Raises the NMI pin (an NMI not from the local APIC). */
  nmi(): void {
    this.nmiPending = true;
  }

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
    if (top.saved.size === 8 || hi !== 0) this.complete64(top, result >>> 0, hi >>> 0);
    else this.complete(top, result >>> 0);
    this.vmcsWrite(VMCS_FIELD.GUEST_RIP, top.rip);
  }

  /**
   * Completes a pending CPUID as the hypervisor emulated it, with all four
   * output registers (KVM's `kvm_emulate_cpuid`): the guest reads them in
   * `g.eax..g.edx`, EAX is the operation's result.
   */
  completePendingCpuid(eax: number, ebx: number, ecx: number, edx: number): void {
    const top = this.frames.top;
    if (top === undefined || top.state !== FRAME_STATE.RETRY || top.saved.code !== OP.CPUID) throw new UsageError('bad-state', 'completePendingCpuid: no CPUID is pending');
    for (const v of [eax, ebx, ecx, edx]) if (!Number.isInteger(v)) throw new UsageError('bad-argument', `completePendingCpuid needs integer registers, got ${describeValue(v)}`);
    const g = this.guest;
    g.eax = eax >>> 0;
    g.ebx = ebx >>> 0;
    g.ecx = ecx >>> 0;
    g.edx = edx >>> 0;
    this.completeCpuid(top);
    this.vmcsWrite(VMCS_FIELD.GUEST_RIP, top.rip);
  }

  // --- snapshots ----------------------------------------------------------------

  /**
   * The architectural state, with the guest code running on the CPU: each
   * frame's entry, position and replay log (see guest/replay.ts). Wiring
   * (memory, buses, the APIC, the MMU and its TLB, an attached VMX) is not
   * saved: save those models beside it. Needs the `snapshots` option while
   * guest code runs.
   */
  saveState(): X86CpuSavedState {
    if (!this.recording && this.frames.size > 0) throw new UsageError('bad-state', 'saveState while guest code runs needs an X86Cpu created with { snapshots: true }');
    const g = this.guest;
    return {
      type: 'hvsim.x86-cpu',
      version: 1,
      localTime: this.localTime,
      registers: this.registers(),
      tscOffset: this.tscOffset,
      tpr: this.tpr,
      shadow: this.shadow,
      nmiBlocked: this.nmiBlocked,
      nmiPending: this.nmiPending,
      halted: this.halted,
      shutdown: this.shutdownState,
      guest: [g.lo, g.hi, g.eax, g.ebx, g.ecx, g.edx],
      frames: saveFrames(this.frames),
    };
  }

  /**
   * Restores a saved state: registers are loaded (paging state into the
   * MMU) and each frame's code is re-created and replayed to where it stood.
   * Everything is checked, and the code replayed, before anything changes;
   * a foreign or malformed state, or guest code that does not replay the
   * same way, throws a `SnapshotError` and leaves the CPU as it was.
   */
  restoreState(state: unknown): void {
    const r = readState(state, 'hvsim.x86-cpu', 1);
    const localTime = r.int('localTime', 0, Number.MAX_SAFE_INTEGER);
    const regs = r.object('registers');
    const registers: X86Registers = {
      rflags: regs.int('rflags', 0, 0xffff_ffff),
      rsp: regs.int('rsp', 0, Number.MAX_SAFE_INTEGER),
      cr0: regs.int('cr0', 0, 0xffff_ffff),
      cr2: regs.int('cr2', 0, Number.MAX_SAFE_INTEGER),
      cr3: regs.int('cr3', 0, 2 ** 52 - 1),
      cr4: regs.int('cr4', 0, 0xffff_ffff),
      efer: regs.int('efer', 0, 0xffff_ffff),
      idtBase: regs.int('idtBase', 0, Number.MAX_SAFE_INTEGER),
      idtLimit: regs.int('idtLimit', 0, 0xffff),
    };
    const tscOffset = r.number('tscOffset');
    const tpr = r.int('tpr', 0, 15);
    const shadow = r.int('shadow', SHADOW_NONE, SHADOW_MOV_SS);
    const nmiBlocked = r.bool('nmiBlocked');
    const nmiPending = r.bool('nmiPending');
    const halted = r.bool('halted');
    const shutdown = r.bool('shutdown');
    const [lo, hi, eax, ebx, ecx, edx] = r.intArray('guest', 0, 0xffff_ffff, 6) as [number, number, number, number, number, number];
    const saved = readSavedFrames(r, 'frames');
    if ((registers.efer & ~(EFER_WRITABLE | EFER.LMA)) !== 0) throw new SnapshotError('shape', `hvsim.x86-cpu.registers.efer sets reserved bits: 0x${registers.efer.toString(16)}`);
    // Replay first: a divergence throws before anything is changed.
    const g = this.guest;
    // Replay writes the guest's result registers: put them back if it throws, so a refused state changes nothing.
    const before = [g.lo, g.hi, g.eax, g.ebx, g.ecx, g.edx] as const;
    let replayed;
    try {
      replayed = replayFrames(this.program, g, saved, applyX86Log);
    } catch (e) {
      [g.lo, g.hi, g.eax, g.ebx, g.ecx, g.edx] = before;
      throw e;
    }
    installFrames(this.frames, replayed);
    [g.lo, g.hi, g.eax, g.ebx, g.ecx, g.edx] = [lo, hi, eax, ebx, ecx, edx];
    this.localTime = localTime;
    this.rflags = registers.rflags | RFLAGS.FIXED1;
    this.rsp = registers.rsp;
    this.cr2 = registers.cr2;
    this.idtBase = registers.idtBase;
    this.idtLimit = registers.idtLimit;
    this.efer = registers.efer;
    this.loadCr4(registers.cr4);
    this.loadCr3(registers.cr3);
    this.loadCr0(registers.cr0);
    this.efer = registers.efer;
    this.syncPagingContext();
    this.tscOffset = tscOffset;
    this.tpr = tpr;
    this.shadow = shadow;
    this.nmiBlocked = nmiBlocked;
    this.nmiPending = nmiPending;
    this.halted = halted;
    this.shutdownState = shutdown;
    this.exited = false;
    this.exitInfo = null;
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
  backtrace(): {
    /** The routine's name (its generator function's name). */
    name: string;
    /** The frame's synthetic RIP: its entry address plus the operations completed. */
    rip: number;
  }[] {
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
      // Clock events due by this CPU's time run first (a timer that fires during guest work).
      if (clock) {
        const next = clock.nextEventAt();
        if (next !== undefined && next <= this.localTime) this.syncClock();
      }
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
      // Both shadows block every event at this boundary (see deliverPendingEvent).
      if (this.shadow === SHADOW_NONE && this.deliverPendingEvent()) continue;
      if (!this.step()) return this.stopReason('finished');
    }
    return this.stopReason('budget');
  }

  /** True when an NMI, or an interrupt the current state would take, is waiting (a halted CPU wakes on it). */
  protected eventPending(): boolean {
    const apic = this.apic;
    if (this.nmiPending && !this.nmiBlocked) return true;
    if (apic && (apic.pendingSignals & PENDING_NMI) !== 0 && !this.nmiBlocked) return true;
    if ((this.rflags & RFLAGS.IF) === 0) return false;
    if (apic) return apic.hasPendingInterrupt() || ((apic.pendingSignals & PENDING_EXTINT) !== 0 && this.extInt !== undefined);
    return false;
  }

  /**
   * Recognizes one event at a boundary with no interrupt shadow, by
   * priority (SDM 3A 6.9, Table 6-2): NMI, then a maskable interrupt when
   * RFLAGS.IF = 1. The caller checks the shadows: the MOV-SS shadow blocks
   * both (SDM 3A 6.8.3); the STI shadow blocks maskable interrupts (SDM 2B
   * STI) and, in this model, NMIs too: the SDM lets a processor inhibit NMIs
   * on the boundary after an STI that set IF, Intel processors do, KVM
   * treats STI blocking as NMI blocking (vmx_nmi_blocked, earlier vmx_nmi_allowed) and
   * kvm-unit-tests' test_sti_nmi ("nmi-after-sti") checks that no NMI
   * arrives there. Returns true when an event was delivered.
   */
  protected deliverPendingEvent(): boolean {
    const apic = this.apic;
    // Read once: nothing below changes them before an event is taken.
    const signals = apic ? apic.pendingSignals : 0;
    if (!this.nmiBlocked) {
      let nmi = false;
      if (this.nmiPending) {
        this.nmiPending = false;
        nmi = true;
      } else if ((signals & PENDING_NMI) !== 0) {
        nmi = apic!.takeNmi();
      }
      if (nmi) {
        this.deliver(VECTOR.NMI, KIND.NMI, -1);
        return true;
      }
    }
    if ((this.rflags & RFLAGS.IF) === 0 || !apic) return false;
    // The APIC keeps its highest deliverable vector: one field read at every boundary (SDM 3A 11.8.4).
    if (apic.hasPendingInterrupt()) {
      this.deliver(apic.acknowledge(), KIND.EXTERNAL, -1);
      return true;
    }
    if ((signals & PENDING_EXTINT) !== 0 && this.extInt && apic.takeExtInt()) {
      this.deliver(this.extInt() & 0xff, KIND.EXTERNAL, -1);
      return true;
    }
    return false;
  }

  /**
   * The instruction boundary in VMX non-root operation (SDM 3C 26.2, and
   * @hvsim/vmcs's contract): skipped while the processor has nothing pending
   * and the host APIC nothing deliverable; otherwise `instructionBoundary`
   * decides (deliver, posted-interrupt processing then deliver, exit, stay
   * halted). True when an event was delivered or the guest exited.
   */
  protected vmxBoundary(): boolean {
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

  /** Fetches and executes one operation; false when there is nothing left to run. */
  protected step(): boolean {
    const frame = this.frames.top;
    if (!frame) return false;
    let op: Op;
    if (frame.state === FRAME_STATE.RETRY) {
      op = this.guest.op;
      op.copyFrom(frame.saved);
    } else {
      if (frame.routine === null && frame.steps === null) {
        // Control reached an address with no code: the bytes there are no instruction.
        frame.saved.code = OP.UD2;
        this.fault(frame, frame.saved, VECTOR.UD, -1);
        return true;
      }
      const next = this.nextOperation(frame);
      if (next === null) return this.frameReturned(frame);
      op = next;
    }
    const shadowBefore = this.shadow;
    this.execute(op, frame);
    // The instruction after STI or MOV SS ends its shadow (unless it set a new one).
    if (shadowBefore !== SHADOW_NONE && this.shadow === shadowBefore) this.shadow = SHADOW_NONE;
    return true;
  }

  protected frameReturned(frame: Frame): boolean {
    return this.frameEnded(frame, 'IRET');
  }
}
