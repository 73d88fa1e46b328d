/**
 * VM exits (SDM 3C "VM Exits": "Recording VM-Exit Information", "Saving
 * Guest State", "Saving MSRs", "Loading Host MSRs", "VMX Aborts"). Every
 * exit of every module ends here: the exit information goes into the VMCS
 * and into the processor's reused {@link VmExitInfo}, the tracked guest
 * non-register state is saved, and the processor returns to root operation.
 */
import { getField, type MsrDevice } from '@hvsim/core';
import { VMCS_FIELD } from '../fields/field-table.js';
import { slotOf } from '../fields/slots.js';
import { CHECK_GUEST, type Vmcs, VMCS_REGION } from '../vmcs/vmcs.js';
import { writeMemory32 } from '../internal/memory-access.js';
import { INTR_INFO, INTR_INFO_DELIVER_CODE, INTR_INFO_VALID, INTR_TYPE, VM_EXIT } from './controls.js';
import { exitReasonName } from './exit-reasons.js';
import { loadMsrList, storeMsrList } from './msr-lists.js';
import type { VmExitInfo, VmExitOutcome, VmxResult } from './outcomes.js';
import type { VmxProcessorCore } from './processor-core.js';

const F = VMCS_FIELD;
const X = {
  REASON: slotOf(F.VM_EXIT_REASON),
  INTR_INFO: slotOf(F.VM_EXIT_INTR_INFO),
  INTR_ERROR: slotOf(F.VM_EXIT_INTR_ERROR_CODE),
  IDT_INFO: slotOf(F.IDT_VECTORING_INFO_FIELD),
  IDT_ERROR: slotOf(F.IDT_VECTORING_ERROR_CODE),
  INSTR_LEN: slotOf(F.VM_EXIT_INSTRUCTION_LEN),
  INSTR_INFO: slotOf(F.VMX_INSTRUCTION_INFO),
  QUAL: slotOf(F.EXIT_QUALIFICATION),
  GLA: slotOf(F.GUEST_LINEAR_ADDRESS),
  GPA: slotOf(F.GUEST_PHYSICAL_ADDRESS),
  TIMER: slotOf(F.VMX_PREEMPTION_TIMER_VALUE),
  GUEST_INTERRUPTIBILITY: slotOf(F.GUEST_INTERRUPTIBILITY_INFO),
  GUEST_ACTIVITY: slotOf(F.GUEST_ACTIVITY_STATE),
  ENTRY_INTR_INFO: slotOf(F.VM_ENTRY_INTR_INFO_FIELD),
  EXIT_MSR_STORE: slotOf(F.VM_EXIT_MSR_STORE_ADDR),
  EXIT_MSR_STORE_COUNT: slotOf(F.VM_EXIT_MSR_STORE_COUNT),
  EXIT_MSR_LOAD: slotOf(F.VM_EXIT_MSR_LOAD_ADDR),
  EXIT_MSR_LOAD_COUNT: slotOf(F.VM_EXIT_MSR_LOAD_COUNT),
} as const;

/** Exit-information slots for the entry-failure path (vm-entry.ts). */
export const EXIT_SLOTS = X;

/** The exit-information object the next exit fills (for callers that set more than reason/qualification). */
export function prepareExit(p: VmxProcessorCore, reason: number): VmExitInfo {
  return p.exitInfo.reset(reason);
}

/**
 * Performs a VM exit with basic reason `reason`: writes the exit
 * information into the VMCS, saves the tracked guest non-register state,
 * and returns to VMX root operation. Fields other than the qualification
 * and instruction length are set on `p.exitInfo` by the caller before
 * (with `keepInfo`).
 */
export function exitNow(p: VmxProcessorCore, reason: number, qualification: number, instructionLength: number, keepInfo = false): VmExitOutcome {
  const v = p.current!;
  const e = p.exitInfo;
  if (!keepInfo) e.reset(reason);
  else e.reason = reason >>> 0;
  e.qualification = qualification;
  e.instructionLength = instructionLength;
  const f = p.inFlight;
  if (f !== null) {
    e.idtVectoringInfo = f.info >>> 0;
    e.idtVectoringErrorCode = (f.info & INTR_INFO_DELIVER_CODE) !== 0 ? f.errorCode : 0;
    // SDM 3C "Information for VM Exits Due to Instruction Execution": an exit during delivery of a software
    // interrupt or exception (types 4-6) reports that instruction's length (the VM-entry instruction length if injected).
    const type = getField(f.info, INTR_INFO.TYPE);
    if (type >= INTR_TYPE.SOFTWARE_INTERRUPT && type <= INTR_TYPE.SOFTWARE_EXCEPTION) e.instructionLength = f.length;
  }
  const lo = v.lo;
  const hi = v.hi;
  lo[X.REASON] = e.reason;
  lo[X.QUAL] = qualification >>> 0;
  hi[X.QUAL] = Math.floor(qualification / 0x1_0000_0000);
  lo[X.INTR_INFO] = e.interruptionInfo >>> 0;
  lo[X.INTR_ERROR] = e.interruptionErrorCode >>> 0;
  lo[X.IDT_INFO] = e.idtVectoringInfo >>> 0;
  lo[X.IDT_ERROR] = e.idtVectoringErrorCode >>> 0;
  lo[X.INSTR_LEN] = e.instructionLength;
  lo[X.INSTR_INFO] = e.instructionInfo >>> 0;
  lo[X.GLA] = e.guestLinearAddress >>> 0;
  hi[X.GLA] = Math.floor(e.guestLinearAddress / 0x1_0000_0000);
  if (p.supported[X.GPA] === 1) {
    lo[X.GPA] = e.guestPhysicalAddress >>> 0;
    hi[X.GPA] = Math.floor(e.guestPhysicalAddress / 0x1_0000_0000);
  }
  // Saving guest non-register state; the guest-state checks read these, so a change makes them run again at the next entry.
  if (lo[X.GUEST_INTERRUPTIBILITY] !== p.interruptibility || lo[X.GUEST_ACTIVITY] !== p.activity) {
    lo[X.GUEST_INTERRUPTIBILITY] = p.interruptibility;
    lo[X.GUEST_ACTIVITY] = p.activity;
    v.checked &= ~CHECK_GUEST;
  }
  if ((p.exitControls & VM_EXIT.SAVE_PREEMPTION_TIMER) !== 0) lo[X.TIMER] = p.timer.remaining();
  // VM exits clear the valid bit of the VM-entry interruption-information field. No cached check group reads it:
  // the checks on the event run at every entry that injects (injection-checks.ts).
  const entryInfo = lo[X.ENTRY_INTR_INFO]!;
  if ((entryInfo & INTR_INFO_VALID) !== 0) lo[X.ENTRY_INTR_INFO] = (entryInfo & ~INTR_INFO_VALID) >>> 0;
  p.timer.stop();
  p.inFlight = null;
  p.boundaryOpen = false;
  p.pid = null;
  p.operation = 'root';
  if (p.msrs && (lo[X.EXIT_MSR_STORE_COUNT] !== 0 || lo[X.EXIT_MSR_LOAD_COUNT] !== 0)) exitMsrLists(p, v, p.msrs);
  p.tracer?.emit({ kind: 'vm.exit', cycle: p.now, cpu: p.cpu, source: 'vmx', reason: reason & 0xffff, reasonName: exitReasonName(reason), args: { qualification } });
  return p.exitOutcome;
}

/** Exit for a VMX instruction executed in VMX non-root operation (reasons 18-27, 50, 53). */
export function instructionExit(p: VmxProcessorCore, reason: number): VmxResult {
  return p.result(exitNow(p, reason, 0, p.mode.instructionLength));
}

/** SDM 3C "Saving MSRs" then "Loading Host MSRs"; a failure is a VMX abort. */
function exitMsrLists(p: VmxProcessorCore, v: Vmcs, msrs: MsrDevice): void {
  const store = v.lo[X.EXIT_MSR_STORE_COUNT]!;
  if (store !== 0 && storeMsrList(p.memory, msrs, v.slotNumber(X.EXIT_MSR_STORE), store) !== 0) {
    abort(p, v, 1);
    return;
  }
  const load = v.lo[X.EXIT_MSR_LOAD_COUNT]!;
  if (load !== 0 && loadMsrList(p.memory, msrs, v.slotNumber(X.EXIT_MSR_LOAD), load) !== 0) abort(p, v, 4);
}

function abort(p: VmxProcessorCore, v: Vmcs, indicator: number): void {
  p.vmxAbort = indicator;
  writeMemory32(p.memory, v.address + VMCS_REGION.ABORT_INDICATOR, indicator);
}
