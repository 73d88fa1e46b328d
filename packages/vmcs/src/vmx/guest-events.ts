/**
 * Interrupts and other events in VMX non-root operation and what the
 * processor does about them (SDM 3C "VMX Non-Root Operation": "Other Causes
 * of VM Exits", "Changes to Instruction Behavior", "Other Changes";
 * "Interrupt-Window Exiting and Virtual-Interrupt Delivery", "NMI-Window
 * Exiting", "Monitor Trap Flag", "VMX-Preemption Timer", "Posted-Interrupt
 * Processing"; "Activity State" of "VM Entries"). Each handler returns a
 * {@link NonRootOutcome}; reused outcome objects come from the processor.
 * The APIC and MSR accesses are in apic-events.ts, the exits a CPU decides
 * in instruction-exits.ts.
 */
import { assertInteger, getField, setField } from '@hvsim/core';
import type { PostedInterruptDescriptor } from '@hvsim/lapic';
import { VMCS_FIELD } from '../fields/field-table.js';
import { slotOf } from '../fields/slots.js';
import { ACTIVITY_STATE, CPU_BASED, INTERRUPTIBILITY, INTR_INFO, INTR_INFO_VALID, INTR_TYPE, PIN_BASED, VM_EXIT } from './controls.js';
import { EXIT_REASON } from './exit-reasons.js';
import { BLOCKED, CONTINUE, HALTED, NATIVE, type NonRootOutcome } from './outcomes.js';
import type { VmxProcessorCore } from './processor-core.js';
import { exitNow, prepareExit } from './vm-exit.js';

/** Slot of the VM-exit interruption information, looked up once. */
const SLOT_EXIT_INTR_INFO = slotOf(VMCS_FIELD.VM_EXIT_INTR_INFO);

const BLOCKING_STI_MOVSS = INTERRUPTIBILITY.BLOCKING_BY_STI | INTERRUPTIBILITY.BLOCKING_BY_MOV_SS;
// Module-local numbers for the interrupt paths (one load each, no property lookup on a table object).
const ACTIVE = ACTIVITY_STATE.ACTIVE;
const HLT = ACTIVITY_STATE.HLT;
const SHUTDOWN = ACTIVITY_STATE.SHUTDOWN;
const INTR_WINDOW_EXITING = CPU_BASED.INTR_WINDOW_EXITING;
const EXT_INTR_EXITING = PIN_BASED.EXT_INTR_EXITING;
const EXTERNAL_INTERRUPT = INTR_TYPE.EXTERNAL_INTERRUPT;

/** Interruption information (SDM 3C "Information for VM Exits Due to Vectored Events" format): valid, type, vector and error-code-valid (errorCode >= 0). */
function interruptionInfo(vector: number, type: number, errorCode: number): number {
  // Vector 7:0, type 10:8, deliver-error-code 11, valid 31 (INTR_INFO), as plain shifts on the hot paths.
  return (INTR_INFO_VALID | (vector & 0xff) | ((type & 7) << INTR_INFO_TYPE_SHIFT) | (errorCode >= 0 ? INTR_INFO_ERROR_CODE_BIT : 0)) >>> 0;
}

const INTR_INFO_TYPE_SHIFT = INTR_INFO.TYPE.lsb;
const INTR_INFO_ERROR_CODE_BIT = setField(0, INTR_INFO.DELIVER_ERROR_CODE, 1);

/** Trace of a virtual-interrupt delivery (out of line: keeps the boundary small enough to inline). */
function traceVirtualDelivery(p: VmxProcessorCore, vector: number): void {
  p.tracer?.emit({ kind: 'interrupt.delivered', cycle: p.now, cpu: p.cpu, source: 'vmx', vector, args: { virtual: true } });
}

/** Trace of posted-interrupt processing (out of line, as above). */
function tracePosted(p: VmxProcessorCore, vector: number): void {
  p.tracer?.emit({ kind: 'interrupt.posted', cycle: p.now, cpu: p.cpu, source: 'vmx', vector, args: { rvi: p.vapic.rvi } });
}

/** Answers "deliver this event through the guest IDT" and remembers it as being delivered. */
function deliver(p: VmxProcessorCore, vector: number, type: number, errorCode: number, instructionLength: number, virtual: boolean, acknowledge: boolean): NonRootOutcome {
  const ev = p.event;
  ev.vector = vector;
  ev.type = type;
  ev.errorCode = errorCode;
  ev.instructionLength = instructionLength;
  ev.virtual = virtual;
  ev.acknowledge = acknowledge;
  p.setInFlight(interruptionInfo(vector, type, errorCode), errorCode, instructionLength);
  p.activity = ACTIVE;
  const intr = p.interruptibility;
  if ((intr & BLOCKING_STI_MOVSS) !== 0) p.interruptibility = intr & ~BLOCKING_STI_MOVSS;
  return p.deliverOutcome;
}

/**
 * True when something may happen at the next instruction boundary that the
 * processor itself keeps track of (the cheap predicate of issue 11, G6e):
 * the boundary has to age an STI/MOV-SS shadow or end an event delivery
 * (IDT-vectoring information), a TPR-below-threshold exit is due after VM
 * entry, an INIT is latched, an MTF exit is pending or the monitor trap flag
 * is set, the VMX-preemption timer has expired, NMI- or interrupt-window
 * exiting is set, a virtual interrupt is recognized, posted-interrupt
 * processing left the boundary open, or the guest is not in the active state.
 *
 * Contract: while this is false, a CPU may skip `instructionBoundary`
 * **only if it also has no pending NMI and no pending external interrupt
 * at its physical local APIC** (`highestDeliverableVector() < 0`), and no
 * INIT or SIPI to report (those go through `init()`/`sipi()` anyway). With any
 * of them, or while this is true, it must call `instructionBoundary`. The
 * value can only become true through a call into the processor (a guest
 * event, VM entry, a VMWRITE in root operation, restoreState) or the
 * preemption timer's clock event (which also calls `onEvent`), so a CPU may
 * re-read it after each of those.
 */
export function boundaryPending(p: VmxProcessorCore): boolean {
  return (
    p.operation === 'non-root' &&
    (p.inFlight !== null ||
      (p.interruptibility & BLOCKING_STI_MOVSS) !== 0 ||
      p.activity !== ACTIVITY_STATE.ACTIVE ||
      p.tprThresholdPending ||
      p.initPending ||
      p.mtfPending ||
      p.boundaryOpen ||
      p.timer.expired ||
      p.vapic.recognized ||
      (p.proc & (CPU_BASED.MONITOR_TRAP_FLAG | CPU_BASED.NMI_WINDOW_EXITING | CPU_BASED.INTR_WINDOW_EXITING)) !== 0)
  );
}

/**
 * The CPU is at an instruction boundary (after an instruction, after an
 * event delivery, or right after VM entry), with an NMI and/or the highest
 * external interrupt of its physical local APIC pending (`pendingExternal`
 * = vector, or -1). Events in priority order, highest first (SDM 3C
 * "Interrupt-Window Exiting and Virtual-Interrupt Delivery", "NMI-Window
 * Exiting", "VMX-Preemption Timer"; SDM 3A "Priority Among Concurrent
 * Events"; "Monitor Trap Flag"; "VM Exits Induced by the TPR Threshold"): a
 * TPR-below-threshold exit due right after VM entry, a pending INIT, a
 * pending MTF VM exit, the VMX-preemption timer, NMI-window exiting, a
 * pending NMI, interrupt-window exiting and virtual-interrupt delivery (same
 * priority), a pending external interrupt. A guest in HLT stays halted
 * otherwise. Call exactly once per boundary — except after a `posted`
 * answer: posted-interrupt processing leaves the same boundary open, and
 * the next call continues it from the interrupt-window priority on (after
 * the CPU acknowledged the notification vector and wrote the host EOI).
 */
export function instructionBoundary(p: VmxProcessorCore, interruptFlag: boolean, pendingNmi = false, pendingExternal = -1): NonRootOutcome {
  p.requireNonRoot('instructionBoundary');
  if (p.boundaryOpen) {
    p.boundaryOpen = false;
    return belowNmi(p, interruptFlag, pendingExternal);
  }
  return newBoundary(p, interruptFlag, pendingNmi, pendingExternal);
}

/** {@link instructionBoundary} at a new boundary, from the top priority down (out of line: the open-boundary path stays small). */
function newBoundary(p: VmxProcessorCore, interruptFlag: boolean, pendingNmi: boolean, pendingExternal: number): NonRootOutcome {
  p.inFlight = null;
  p.ageShadow();
  const intr = p.interruptibility;
  const activity = p.activity;
  if (p.tprThresholdPending) {
    // Above INIT and everything below it; not blocked by RFLAGS.IF or the interruptibility state; trap-like.
    p.tprThresholdPending = false;
    return exitNow(p, EXIT_REASON.TPR_BELOW_THRESHOLD, 0, 0);
  }
  // SDM 3C "Activity State" (VM Entries): the wait-for-SIPI state blocks INIT signals; an INIT latched in VMX root
  // operation stays pending then and is recognized once the guest is in another state.
  if (p.initPending && activity !== ACTIVITY_STATE.WAIT_FOR_SIPI) {
    p.initPending = false;
    return exitNow(p, EXIT_REASON.INIT_SIGNAL, 0, 0);
  }
  // After this boundary an instruction executes or an event is delivered: with the monitor trap flag, an MTF VM exit is then pending.
  const mtf = p.mtfPending;
  p.mtfPending = (p.proc & CPU_BASED.MONITOR_TRAP_FLAG) !== 0;
  if (mtf) return exitNow(p, EXIT_REASON.MONITOR_TRAP_FLAG, 0, 0);
  // SDM 3C "VMX-Preemption Timer": a timer at zero causes no VM exit in the wait-for-SIPI state (it stays at zero).
  if (p.timer.expired && activity !== ACTIVITY_STATE.WAIT_FOR_SIPI) return exitNow(p, EXIT_REASON.PREEMPTION_TIMER, 0, 0);
  // SDM 3C "NMI-Window Exiting" / "Interrupt-Window Exiting" after VM entry: no NMI-window exit in the
  // wait-for-SIPI state, no interrupt-window exit (nor virtual-interrupt delivery) in shutdown or wait-for-SIPI.
  if ((p.proc & CPU_BASED.NMI_WINDOW_EXITING) !== 0 && (intr & (INTERRUPTIBILITY.BLOCKING_BY_NMI | INTERRUPTIBILITY.BLOCKING_BY_MOV_SS)) === 0 && activity !== ACTIVITY_STATE.WAIT_FOR_SIPI) {
    return exitNow(p, EXIT_REASON.NMI_WINDOW, 0, 0);
  }
  if (pendingNmi) {
    const o = nmi(p);
    if (o !== BLOCKED) return o;
  }
  return belowNmi(p, interruptFlag, pendingExternal);
}

/** The part of a boundary below the NMI: interrupt window, virtual-interrupt delivery, the external interrupt, HLT. */
function belowNmi(p: VmxProcessorCore, interruptFlag: boolean, pendingExternal: number): NonRootOutcome {
  const open = interruptFlag && (p.interruptibility & BLOCKING_STI_MOVSS) === 0 && p.activity <= HLT;
  if (open && (p.proc & INTR_WINDOW_EXITING) !== 0) return exitNow(p, EXIT_REASON.INTERRUPT_WINDOW, 0, 0);
  if (open && p.vapic.recognized) {
    const vector = p.vapic.deliver();
    if (p.tracer !== undefined) traceVirtualDelivery(p, vector);
    return deliver(p, vector, EXTERNAL_INTERRUPT, -1, 0, true, false);
  }
  if (pendingExternal >= 0) {
    const o = externalInterrupt(p, pendingExternal, interruptFlag);
    if (o !== BLOCKED) return o;
  }
  if (p.activity === ACTIVE) return CONTINUE;
  p.mtfPending = false; // nothing executes while halted
  return HALTED;
}

/**
 * An external interrupt with `vector` is pending at the physical local APIC
 * (SDM 3C "Other Causes of VM Exits", "Posted-Interrupt Processing";
 * "Activity State"). Blocked by STI/MOV SS and by the shutdown and
 * wait-for-SIPI activity states (no exit, no posted-interrupt processing,
 * whatever the controls say); with external-interrupt exiting it exits (or
 * runs posted-interrupt processing for the notification vector, answering
 * `posted` and leaving the boundary open) whatever RFLAGS.IF is; without it
 * the guest takes it through its IDT when IF=1.
 */
export function externalInterrupt(p: VmxProcessorCore, vector: number, interruptFlag: boolean): NonRootOutcome {
  p.requireNonRoot('externalInterrupt');
  if (typeof vector !== 'number' || vector >>> 0 !== vector || vector > 255) assertInteger(vector, 'vector', 0, 255);
  p.inFlight = null; // recognized at a boundary: any event delivery has completed
  p.boundaryOpen = false;
  if ((p.interruptibility & BLOCKING_STI_MOVSS) !== 0 || p.activity >= SHUTDOWN) return BLOCKED;
  if ((p.pin & EXT_INTR_EXITING) !== 0) {
    const pid = p.pid;
    if (pid !== null && vector === p.notificationVector) return postedInterruptProcessing(p, pid, vector);
    return externalInterruptExit(p, vector);
  }
  if (!interruptFlag) return BLOCKED;
  return deliver(p, vector, EXTERNAL_INTERRUPT, -1, 0, false, true);
}

/**
 * Posted-interrupt processing (SDM 3C "Posted-Interrupt Processing") for the notification vector: the descriptor's
 * PIR into VIRR, RVI raised, pending virtual interrupts evaluated; answers `posted` and leaves the boundary open.
 */
function postedInterruptProcessing(p: VmxProcessorCore, pid: PostedInterruptDescriptor, vector: number): NonRootOutcome {
  p.vapic.processPosted(pid);
  if (p.tracer !== undefined) tracePosted(p, vector);
  const o = p.postedOutcome;
  o.notificationVector = vector;
  p.boundaryOpen = true;
  return o;
}

/** The VM exit of an external interrupt (reason 1), acknowledged with "acknowledge interrupt on exit" (SDM 3C "Other Causes of VM Exits"). */
function externalInterruptExit(p: VmxProcessorCore, vector: number): NonRootOutcome {
  const e = prepareExit(p, EXIT_REASON.EXTERNAL_INTERRUPT);
  if ((p.exitControls & VM_EXIT.ACK_INTR_ON_EXIT) !== 0) {
    e.interruptionInfo = interruptionInfo(vector, INTR_TYPE.EXTERNAL_INTERRUPT, -1);
    e.acknowledgedVector = vector;
  }
  return exitNow(p, EXIT_REASON.EXTERNAL_INTERRUPT, 0, 0, true);
}

/** An NMI arrived (SDM 3C "Other Causes of VM Exits"; "Treatment of NMIs"). Blocked by MOV SS and wait-for-SIPI; exits with NMI exiting. */
export function nmi(p: VmxProcessorCore): NonRootOutcome {
  p.requireNonRoot('nmi');
  p.inFlight = null;
  p.boundaryOpen = false;
  const intr = p.interruptibility;
  if ((intr & INTERRUPTIBILITY.BLOCKING_BY_MOV_SS) !== 0 || p.activity === ACTIVITY_STATE.WAIT_FOR_SIPI) return BLOCKED;
  const virtualNmis = (p.pin & PIN_BASED.VIRTUAL_NMIS) !== 0;
  // Without virtual NMIs, bit 3 is blocking of real NMIs.
  if (!virtualNmis && (intr & INTERRUPTIBILITY.BLOCKING_BY_NMI) !== 0) return BLOCKED;
  if ((p.pin & PIN_BASED.NMI_EXITING) !== 0) {
    const e = prepareExit(p, EXIT_REASON.EXCEPTION_NMI);
    e.interruptionInfo = interruptionInfo(2, INTR_TYPE.NMI, -1);
    return exitNow(p, EXIT_REASON.EXCEPTION_NMI, 0, 0, true);
  }
  p.interruptibility = intr | INTERRUPTIBILITY.BLOCKING_BY_NMI;
  return deliver(p, 2, INTR_TYPE.NMI, -1, 0, false, false);
}

/**
 * An INIT signal arrived (SDM 3C "INIT Signals" in "Other Causes of VM
 * Exits" and "VMX Root Operation"; "Activity State"): outside VMX operation
 * the CPU performs it (native); in VMX root operation it is blocked and
 * stays pending (taken by a VM exit after the next VM entry, or by the CPU
 * after VMXOFF, see `takePendingInit`); in VMX non-root operation it causes
 * a VM exit (3) — except in the wait-for-SIPI state, which blocks it: it
 * stays pending, with no exit.
 */
export function init(p: VmxProcessorCore): NonRootOutcome {
  if (p.operation === 'off') return NATIVE;
  if (p.operation === 'root' || p.activity === ACTIVITY_STATE.WAIT_FOR_SIPI) {
    p.initPending = true;
    return BLOCKED;
  }
  p.initPending = false;
  p.inFlight = null;
  p.boundaryOpen = false;
  return exitNow(p, EXIT_REASON.INIT_SIGNAL, 0, 0);
}

/**
 * A start-up IPI with `vector` arrived: a VM exit (4, qualification =
 * vector) in the wait-for-SIPI activity state; discarded in every other
 * state of non-root operation (SDM 3C "Activity State": active, HLT and
 * shutdown block SIPIs).
 */
export function sipi(p: VmxProcessorCore, vector: number): NonRootOutcome {
  assertInteger(vector, 'vector', 0, 255);
  if (p.operation !== 'non-root') return NATIVE;
  if (p.activity !== ACTIVITY_STATE.WAIT_FOR_SIPI) return CONTINUE;
  p.inFlight = null;
  p.boundaryOpen = false;
  return exitNow(p, EXIT_REASON.SIPI, vector, 0);
}

/** The guest executed STI; `interruptFlagWasSet` is RFLAGS.IF before it. STI with IF=0 blocks interrupts until the next instruction completes. */
export function sti(p: VmxProcessorCore, interruptFlagWasSet: boolean): void {
  p.requireNonRoot('sti');
  p.boundaryOpen = false;
  if (interruptFlagWasSet) return;
  p.interruptibility = (p.interruptibility & ~INTERRUPTIBILITY.BLOCKING_BY_MOV_SS) | INTERRUPTIBILITY.BLOCKING_BY_STI;
  p.shadowFresh = true;
}

/** The guest executed MOV SS or POP SS: events are blocked until the next instruction completes. */
export function movSs(p: VmxProcessorCore): void {
  p.requireNonRoot('movSs');
  p.boundaryOpen = false;
  p.interruptibility = (p.interruptibility & ~INTERRUPTIBILITY.BLOCKING_BY_STI) | INTERRUPTIBILITY.BLOCKING_BY_MOV_SS;
  p.shadowFresh = true;
}

/** The guest executed IRET: it unblocks NMIs (virtual-NMI blocking with "virtual NMIs"). */
export function iret(p: VmxProcessorCore): void {
  p.requireNonRoot('iret');
  p.boundaryOpen = false;
  p.interruptibility = p.interruptibility & ~INTERRUPTIBILITY.BLOCKING_BY_NMI;
}

/** The guest executed HLT: HLT exiting (reason 12), else the HLT activity state. */
export function hlt(p: VmxProcessorCore): NonRootOutcome {
  p.requireNonRoot('hlt');
  p.boundaryOpen = false;
  if ((p.proc & CPU_BASED.HLT_EXITING) !== 0) return exitNow(p, EXIT_REASON.HLT, 0, 1);
  p.activity = ACTIVITY_STATE.HLT;
  return HALTED;
}

/** Options of {@link VmxProcessor.exception}. */
export interface ExceptionOptions {
  /** Error code the exception pushes (omit for none). */
  errorCode?: number;
  /** INT3 / INTO (software exceptions, type 6) or INT1 (privileged software exception, type 5); hardware otherwise. */
  software?: 'int3' | 'into' | 'int1';
  /** Instruction length for software exceptions. */
  instructionLength?: number;
  /** Exit qualification: the faulting linear address for #PF, pending-debug bits for #DB. */
  qualification?: number;
  /**
   * The fault happened while executing IRET. IRET unblocks NMIs before it can
   * fault, so NMI blocking ends; with "virtual NMIs" or without "NMI
   * exiting", an exit then reports "NMI unblocking due to IRET"
   * (interruption-information bit 12).
   */
  duringIret?: boolean;
}

/** The guest raised exception `vector` (SDM 3C "Exceptions"): exits when the exception bitmap (with the #PF error-code mask/match) says so. */
export function exception(p: VmxProcessorCore, vector: number, options: ExceptionOptions = {}): NonRootOutcome {
  p.requireNonRoot('exception');
  p.boundaryOpen = false;
  assertInteger(vector, 'vector', 0, 31);
  let errorCode = options.errorCode ?? -1;
  if (errorCode !== -1) assertInteger(errorCode, 'errorCode', 0, 0xffff_ffff);
  const type = options.software === undefined ? INTR_TYPE.HARDWARE_EXCEPTION : options.software === 'int1' ? INTR_TYPE.PRIVILEGED_SOFTWARE_EXCEPTION : INTR_TYPE.SOFTWARE_EXCEPTION;
  const length = type === INTR_TYPE.HARDWARE_EXCEPTION ? 0 : (options.instructionLength ?? 1);
  let nmiUnblocked = false;
  if (options.duringIret === true && (p.interruptibility & INTERRUPTIBILITY.BLOCKING_BY_NMI) !== 0) {
    p.interruptibility = p.interruptibility & ~INTERRUPTIBILITY.BLOCKING_BY_NMI;
    // Recorded with virtual NMIs, and with "NMI exiting" 0; undefined (left 0 here) with NMI exiting and no virtual NMIs.
    nmiUnblocked = (p.pin & PIN_BASED.VIRTUAL_NMIS) !== 0 || (p.pin & PIN_BASED.NMI_EXITING) === 0;
  }
  if (p.exceptionExits(vector, errorCode < 0 ? 0 : errorCode)) {
    const o = exceptionExit(p, vector, type, errorCode, options.qualification ?? 0, length);
    if (nmiUnblocked && o.kind === 'exit') {
      // SDM 3C "Information for VM Exits Due to Vectored Events": bit 12, NMI unblocking due to IRET.
      o.exit.interruptionInfo = setField(o.exit.interruptionInfo, INTR_INFO.NMI_UNBLOCKING, 1);
      p.current!.lo[SLOT_EXIT_INTR_INFO] = o.exit.interruptionInfo;
    }
    return o;
  }
  // A fault while delivering a hardware exception may form a double fault or a triple fault.
  const first = (p.inFlight === null ? 0 : p.inFlight.info);
  if (type === INTR_TYPE.HARDWARE_EXCEPTION && first !== 0 && getField(first, INTR_INFO.TYPE) === INTR_TYPE.HARDWARE_EXCEPTION) {
    const firstClass = exceptionClass(getField(first, INTR_INFO.VECTOR));
    const secondClass = exceptionClass(vector);
    if (secondClass !== BENIGN) {
      // SDM 3C "Information for VM Exits During Event Delivery": an exit caused by a triple fault, or directly by
      // the double fault the first event results in, is not "during event delivery" (no IDT-vectoring information).
      if (firstClass === DOUBLE_FAULT) {
        p.inFlight = null;
        return exitNow(p, EXIT_REASON.TRIPLE_FAULT, 0, 0);
      }
      if (secondClass === CONTRIBUTORY ? firstClass === CONTRIBUTORY || firstClass === PAGE_FAULT : firstClass === PAGE_FAULT) {
        vector = 8;
        errorCode = 0;
        if (p.exceptionExits(8, 0)) {
          p.inFlight = null;
          return exceptionExit(p, 8, INTR_TYPE.HARDWARE_EXCEPTION, 0, 0, 0);
        }
      }
    }
  }
  return deliver(p, vector, type, errorCode, length, false, false);
}

/** Exception classes for double-fault formation (SDM 3A Table "Conditions for Generating a Double Fault"). */
const BENIGN = 0;
const CONTRIBUTORY = 1;
const PAGE_FAULT = 2;
const DOUBLE_FAULT = 3;
function exceptionClass(vector: number): number {
  if (vector === 8) return DOUBLE_FAULT;
  if (vector === 14 || vector === 20) return PAGE_FAULT; // #VE counts with #PF
  return vector === 0 || vector === 10 || vector === 11 || vector === 12 || vector === 13 || vector === 21 ? CONTRIBUTORY : BENIGN;
}

/** Exit for an exception the exception bitmap intercepts (reason 0). */
function exceptionExit(p: VmxProcessorCore, vector: number, type: number, errorCode: number, qualification: number, length: number): NonRootOutcome {
  const e = prepareExit(p, EXIT_REASON.EXCEPTION_NMI);
  e.interruptionInfo = interruptionInfo(vector, type, errorCode);
  e.interruptionErrorCode = errorCode < 0 ? 0 : errorCode;
  return exitNow(p, EXIT_REASON.EXCEPTION_NMI, qualification, length, true);
}

