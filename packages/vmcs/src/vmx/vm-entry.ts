/**
 * VM entry (SDM 3C "VMLAUNCH/VMRESUME", "VM Entries": "Basic VM-Entry
 * Checks", "Checks on VMX Controls and Host-State Area", "Checking and
 * Loading Guest State", "Loading MSRs", "Event Injection", "Special
 * Features of VM Entry").
 *
 * The fast path: a VMCS remembers which check groups (controls, host state,
 * guest state) passed, and a write to a field clears the groups that read it
 * (check-dependencies.ts); the host group also records the processor's
 * IA32_EFER.LMA it was checked under. A group that consulted memory (the
 * VTPR for the TPR threshold, the VMCS link pointer's target) is never
 * cached. Nothing is allocated per entry: the posted-interrupt descriptor
 * view, the virtual-APIC page view and the outcome objects are reused.
 */
import { getField } from '@hvsim/core';
import { CHECK_CONTROLS, CHECK_GUEST, CHECK_HOST, type Vmcs } from '../vmcs/vmcs.js';
import { ACTIVITY_STATE, CPU_BASED, INTERRUPTIBILITY, INTR_INFO, INTR_INFO_DELIVER_CODE, INTR_INFO_VALID, INTR_TYPE, PIN_BASED, SECONDARY } from './controls.js';
import { EXIT_REASON, EXIT_REASON_FLAG, exitReasonName } from './exit-reasons.js';
import { VM_INSTRUCTION_ERROR } from './instruction-errors.js';
import { loadMsrList } from './msr-lists.js';
import { VM_FAIL_INVALID, VM_SUCCEED, type GuestEvent, type VmEntryOutcome, type VmExitOutcome } from './outcomes.js';
import type { VmxProcessorCore } from './processor-core.js';
import { EFER_LMA } from './processor-mode.js';
import { ENTRY_SLOTS as S, checkControls, checkGuestState, checkHostState, secondaryControls } from './vm-entry-checks.js';
import { EXIT_SLOTS, instructionExit } from './vm-exit.js';
import { checkInjectionControls, checkInjectionGuestState } from './injection-checks.js';

/** Bit 12 of the interruption information (reserved in the entry field, "NMI unblocking due to IRET" on exit) as a mask. */
const INTR_INFO_NMI_UNBLOCKING_MASK = 1 << INTR_INFO.NMI_UNBLOCKING.lsb;

/** VMLAUNCH (`launch`) or VMRESUME of the current VMCS. */
export function vmentry(p: VmxProcessorCore, launch: boolean): VmEntryOutcome {
  const name = launch ? 'VMLAUNCH' : 'VMRESUME';
  p.checkUd(name);
  if (p.operation === 'non-root') return instructionExit(p, launch ? EXIT_REASON.VMLAUNCH : EXIT_REASON.VMRESUME) as VmExitOutcome;
  p.checkCpl(name);
  const v = p.current;
  if (!v) return p.result(VM_FAIL_INVALID);
  // Blocking by MOV SS of the executing (root) instruction stream is the CPU model's: it reports it through `rootMovSsBlocking`.
  if (p.rootMovSsBlocking) return fail(p, VM_INSTRUCTION_ERROR.ENTRY_EVENTS_BLOCKED_BY_MOV_SS);
  if (launch && v.launchState !== 'clear') return fail(p, VM_INSTRUCTION_ERROR.VMLAUNCH_NONCLEAR_VMCS);
  if (!launch && v.launchState === 'launched-before-vmxoff') return fail(p, VM_INSTRUCTION_ERROR.VMRESUME_AFTER_VMXOFF);
  if (!launch && v.launchState !== 'launched') return fail(p, VM_INSTRUCTION_ERROR.VMRESUME_NONLAUNCHED_VMCS);
  const caps = p.capabilities;
  const longMode = (p.mode.efer & EFER_LMA) !== 0;
  if ((v.checked & CHECK_HOST) !== 0 && v.checkedLongMode !== longMode) v.checked &= ~CHECK_HOST;
  if ((v.checked & CHECK_CONTROLS) === 0) {
    const reads = p.checkMemoryReads;
    const failure = checkControls(v, caps, p.readForCheck);
    if (failure !== null) {
      p.lastEntryCheck = failure;
      return fail(p, VM_INSTRUCTION_ERROR.ENTRY_INVALID_CONTROL_FIELD);
    }
    if (p.checkMemoryReads === reads) v.checked |= CHECK_CONTROLS;
  }
  // The event to inject is checked at every entry that injects one, outside the cached groups (injection-checks.ts).
  const injecting = (v.lo[S.ENTRY_INTR_INFO]! & INTR_INFO_VALID) !== 0;
  if (injecting) {
    const failure = checkInjectionControls(v, caps);
    if (failure !== null) {
      p.lastEntryCheck = failure;
      return fail(p, VM_INSTRUCTION_ERROR.ENTRY_INVALID_CONTROL_FIELD);
    }
  }
  if ((v.checked & CHECK_HOST) === 0) {
    const failure = checkHostState(v, caps, longMode);
    if (failure !== null) {
      p.lastEntryCheck = failure;
      return fail(p, VM_INSTRUCTION_ERROR.ENTRY_INVALID_HOST_STATE_FIELD);
    }
    v.checked |= CHECK_HOST;
    v.checkedLongMode = longMode;
  }
  if (injecting) {
    const guest = checkInjectionGuestState(v);
    if (guest !== null) {
      p.lastEntryCheck = guest.check;
      return entryFailure(p, v, EXIT_REASON.INVALID_GUEST_STATE, guest.qualification);
    }
  }
  if ((v.checked & CHECK_GUEST) === 0) {
    const reads = p.checkMemoryReads;
    const guest = checkGuestState(v, caps, p.readForCheck);
    if (guest !== null) {
      p.lastEntryCheck = guest.check;
      return entryFailure(p, v, EXIT_REASON.INVALID_GUEST_STATE, guest.qualification);
    }
    if (p.checkMemoryReads === reads) v.checked |= CHECK_GUEST;
  }
  p.lastEntryCheck = null;
  // Host misuse (a timer to run but no clock) is refused before the entry changes anything.
  if ((v.lo[S.PIN]! & PIN_BASED.ACTIVATE_PREEMPTION_TIMER) !== 0) p.timer.assertCanStart(v.lo[S.TIMER_VALUE]!);
  const msrLoadCount = v.lo[S.ENTRY_MSR_LOAD_COUNT]!;
  if (msrLoadCount !== 0) {
    // SDM 3C "Loading MSRs": without an MSR device the first entry fails; the qualification is the failing entry (1-based).
    const failed = p.msrs ? loadMsrList(p.memory, p.msrs, v.slotNumber(S.ENTRY_MSR_LOAD), msrLoadCount) : 1;
    if (failed !== 0) {
      p.lastEntryCheck = p.msrs ? `VM-entry MSR-load entry ${failed} failed` : 'VM-entry MSR loading needs an MSR device (options.msrs)';
      return entryFailure(p, v, EXIT_REASON.MSR_LOADING, failed);
    }
  }
  if (launch) v.launchState = 'launched';
  p.lastResult = VM_SUCCEED;
  return enterGuest(p, v);
}

function fail(p: VmxProcessorCore, error: number): VmEntryOutcome {
  return p.vmFail(error) as VmEntryOutcome;
}

/** VM-entry failure after loading guest state (SDM 3C "VM-Entry Failures During or After Loading Guest State"). */
function entryFailure(p: VmxProcessorCore, v: Vmcs, reason: number, qualification: number): VmEntryOutcome {
  const e = p.exitInfo.reset(reason | EXIT_REASON_FLAG.VM_ENTRY_FAILURE);
  e.qualification = qualification;
  v.lo[EXIT_SLOTS.REASON] = e.reason;
  v.lo[EXIT_SLOTS.QUAL] = qualification;
  v.hi[EXIT_SLOTS.QUAL] = 0;
  p.lastResult = p.exitOutcome;
  p.tracer?.emit({ kind: 'vm.exit', cycle: p.now, cpu: p.cpu, source: 'vmx', reason: e.basicReason, reasonName: exitReasonName(reason), args: { entryFailure: true } });
  return p.exitOutcome;
}

/** Loads what VMX non-root operation reads from the VMCS (controls, pages, descriptor); no side effects on guest-visible state. */
export function loadNonRootState(p: VmxProcessorCore, v: Vmcs): void {
  p.interruptibility = v.lo[S.GUEST_INTERRUPTIBILITY]!;
  p.shadowFresh = (p.interruptibility & 3) !== 0;
  p.activity = v.lo[S.GUEST_ACTIVITY]!;
  p.inFlight = null;
  p.boundaryOpen = false;
  p.operation = 'non-root';
  // The controls and the addresses derived from them change only with a write to a field the control checks read.
  if (p.loadedVmcs !== v || p.loadedEpoch !== v.controlEpoch) {
    p.loadedVmcs = v;
    p.loadedEpoch = v.controlEpoch;
    p.pin = v.lo[S.PIN]!;
    p.proc = v.lo[S.PROC]!;
    p.proc2 = secondaryControls(v);
    p.exitControls = v.lo[S.EXIT]!;
    p.msrBitmaps.attach((p.proc & CPU_BASED.USE_MSR_BITMAPS) !== 0 ? v.slotNumber(S.MSR_BITMAP) : -1);
    const c = p.apicAccessControls;
    c.tprShadow = (p.proc & CPU_BASED.USE_TPR_SHADOW) !== 0;
    c.registerVirtualization = (p.proc2 & SECONDARY.APIC_REGISTER_VIRTUALIZATION) !== 0;
    c.virtualInterruptDelivery = (p.proc2 & SECONDARY.VIRTUAL_INTERRUPT_DELIVERY) !== 0;
    p.apicAccessPage = (p.proc2 & SECONDARY.VIRTUALIZE_APIC_ACCESSES) !== 0 ? v.slotNumber(S.APIC_ACCESS) : -1;
    if ((p.pin & PIN_BASED.PROCESS_POSTED_INTERRUPTS) !== 0) {
      p.pidAddress = v.slotNumber(S.PI_DESC);
      p.notificationVector = v.lo[S.PI_NV]! & 0xff;
    } else {
      p.pidAddress = -1;
      p.notificationVector = -1;
    }
  } else {
    // Only the x2APIC part of the MSR bitmaps is cached, and only for one run (SDM 3C "Software Access to Related Structures").
    p.msrBitmaps.reload();
  }
  p.pid = p.pidAddress < 0 ? null : p.descriptorAt(p.pidAddress);
  p.vapic.attach(v, p.apicAccessControls.tprShadow ? v.slotNumber(S.VAPIC) : null, (p.proc & CPU_BASED.INTR_WINDOW_EXITING) !== 0);
  p.vapic.recognized = false;
}

/** Loads the non-root state from the VMCS and performs event injection (SDM 3C "Loading Guest State", "Event Injection"). */
function enterGuest(p: VmxProcessorCore, v: Vmcs): VmEntryOutcome {
  loadNonRootState(p, v);
  p.tracer?.emit({ kind: 'vm.entry', cycle: p.now, cpu: p.cpu, source: 'vmx' });
  // Event injection.
  let inject: GuestEvent | null = null;
  const info = v.lo[S.ENTRY_INTR_INFO]!;
  let pendingMtf = false;
  if ((info & INTR_INFO_VALID) !== 0) {
    const type = getField(info, INTR_INFO.TYPE);
    if (type === INTR_TYPE.OTHER_EVENT) {
      // SDM 3C "Injection of Pending MTF VM Exits": type 7, vector 0 delivers nothing; an MTF VM exit is pending
      // at the first instruction boundary, even without the "monitor trap flag" control.
      pendingMtf = true;
    } else {
      const ev = p.event;
      ev.vector = getField(info, INTR_INFO.VECTOR);
      ev.type = type;
      ev.errorCode = (info & INTR_INFO_DELIVER_CODE) !== 0 ? v.lo[S.ENTRY_ERROR_CODE]! : -1;
      ev.instructionLength = type >= INTR_TYPE.SOFTWARE_INTERRUPT && type <= INTR_TYPE.SOFTWARE_EXCEPTION ? v.lo[S.ENTRY_INSTR_LEN]! : 0;
      ev.virtual = false;
      ev.acknowledge = false;
      inject = ev;
      if (type === INTR_TYPE.NMI) p.interruptibility |= INTERRUPTIBILITY.BLOCKING_BY_NMI;
      // Delivering the event ends any STI/MOV-SS shadow.
      p.interruptibility &= ~3;
      if (p.activity === ACTIVITY_STATE.HLT || p.activity === ACTIVITY_STATE.SHUTDOWN) p.activity = ACTIVITY_STATE.ACTIVE;
      p.setInFlight(info & ~INTR_INFO_NMI_UNBLOCKING_MASK, ev.errorCode, ev.instructionLength);
      p.tracer?.emit({ kind: 'interrupt.delivered', cycle: p.now, cpu: p.cpu, source: 'vmx', vector: ev.vector, args: { injected: true, type } });
    }
  }
  // SDM 3C "Monitor Trap Flag": an MTF VM exit is pending after the delivery of an injected event.
  p.mtfPending = pendingMtf || (inject !== null && (p.proc & CPU_BASED.MONITOR_TRAP_FLAG) !== 0);
  // SDM 3C "VM Exits Induced by the TPR Threshold": with the TPR shadow and virtualize APIC accesses but without
  // virtual-interrupt delivery, threshold[3:0] > VTPR[7:4] exits right after VM entry (after any injection), unless
  // the entry is into the shutdown or wait-for-SIPI state.
  p.tprThresholdPending =
    (p.proc & CPU_BASED.USE_TPR_SHADOW) !== 0 &&
    (p.proc2 & (SECONDARY.VIRTUALIZE_APIC_ACCESSES | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY)) === SECONDARY.VIRTUALIZE_APIC_ACCESSES &&
    p.vapic.tprThreshold > ((p.vapic.vtpr >>> 4) & 0xf) &&
    (p.activity === ACTIVITY_STATE.ACTIVE || p.activity === ACTIVITY_STATE.HLT);
  // SDM 3C "Updating Non-Register State": with virtual-interrupt delivery, PPR virtualization then evaluation.
  if ((p.proc2 & SECONDARY.VIRTUAL_INTERRUPT_DELIVERY) !== 0) {
    p.vapic.pprVirtualization();
    p.vapic.evaluate();
  }
  if ((p.pin & PIN_BASED.ACTIVATE_PREEMPTION_TIMER) !== 0) p.timer.start(v.lo[S.TIMER_VALUE]!);
  else p.timer.disable();
  const o = p.enteredOutcome;
  o.inject = inject;
  return o;
}
