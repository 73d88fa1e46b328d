/**
 * The VM-entry checks that involve the event to inject (SDM 3C 27.2.1.3
 * "Checks on VM-Entry Control Fields" on the VM-entry interruption-information
 * field, error code and instruction length; 27.3.1.4 RFLAGS.IF and 27.3.1.5
 * "Checks on Guest Non-Register State" on the activity and interruptibility
 * states against that event). They are not part of the cached control and
 * guest-state groups: VM entry runs them whenever bit 31 of the
 * interruption-information field is set, so that writing the event (and
 * the valid bit a VM exit clears) keeps those groups cached.
 */
import { getField, testField } from '@hvsim/core';
import type { Vmcs } from '../vmcs/vmcs.js';
import type { VmxCapabilities } from './capabilities.js';
import { ACTIVITY_STATE, CPU_BASED, INTERRUPTIBILITY, INTR_INFO, INTR_TYPE, PIN_BASED, RFLAGS, SECONDARY } from './controls.js';
import { ENTRY_SLOTS as S, ERROR_CODE_VECTORS, type GuestStateFailure, guestFailure, secondaryControls } from './vm-entry-checks.js';

/**
 * SDM 3C 27.2.1.3: the checks on the event to inject (valid bit set). Failure = VMfailValid(7), as every
 * control check; VM entry runs this right after the cached control checks, before the host-state checks.
 */
export function checkInjectionControls(v: Vmcs, caps: VmxCapabilities): string | null {
  const info = v.lo[S.ENTRY_INTR_INFO]!;
  const vector = getField(info, INTR_INFO.VECTOR);
  const type = getField(info, INTR_INFO.TYPE);
  if (type === 1) return 'injected event type 1 is reserved';
  if (type === INTR_TYPE.OTHER_EVENT && (v.lo[S.PROC]! & CPU_BASED.MONITOR_TRAP_FLAG) === 0 && !caps.allows('proc', 27)) return 'injected event type 7 needs monitor-trap-flag support';
  if (type === INTR_TYPE.NMI && vector !== 2) return 'injected NMI must have vector 2';
  if (type === INTR_TYPE.HARDWARE_EXCEPTION && vector > 31) return 'injected hardware exception must have a vector of at most 31';
  if (type === INTR_TYPE.OTHER_EVENT && vector !== 0) return 'injected other event must have vector 0';
  const deliver = testField(info, INTR_INFO.DELIVER_ERROR_CODE);
  const unrestricted = (secondaryControls(v) & SECONDARY.UNRESTRICTED_GUEST) !== 0;
  const protectedMode = (v.lo[S.GUEST_CR0]! & 1) === 1;
  const mayDeliver = (!unrestricted || protectedMode) && type === INTR_TYPE.HARDWARE_EXCEPTION;
  if (caps.noErrorCodeConsistencyCheck) {
    // IA32_VMX_BASIC[56]: any hardware exception may carry an error code, but nothing else may.
    if (deliver && !mayDeliver) return '"deliver error code" set for an event that is not a hardware exception in protected mode';
  } else {
    const needs = mayDeliver && ((ERROR_CODE_VECTORS >>> vector) & 1) === 1;
    if (deliver !== needs) return needs ? 'injected exception needs "deliver error code"' : '"deliver error code" set for an event without an error code';
  }
  if (testField(info, INTR_INFO.RESERVED)) return 'VM-entry interruption-information bits 30:12 not 0';
  if (deliver && v.lo[S.ENTRY_ERROR_CODE]! >>> 16 !== 0) return 'VM-entry exception error code bits 31:16 not 0';
  if (type === INTR_TYPE.SOFTWARE_INTERRUPT || type === INTR_TYPE.PRIVILEGED_SOFTWARE_EXCEPTION || type === INTR_TYPE.SOFTWARE_EXCEPTION) {
    const len = v.lo[S.ENTRY_INSTR_LEN]!;
    if (len > 15 || (len === 0 && !caps.zeroLengthInjection)) return 'VM-entry instruction length must be 1-15 for a software event';
  }
  return null;
}

/**
 * SDM 3C 27.3.1.4 and 27.3.1.5: the guest-state checks on the event to inject (valid bit set), in the SDM's
 * order. Failure = exit 33 with bit 31 and qualification 0; VM entry runs this just before the cached guest-state
 * checks (whose only other qualification, 4 for the VMCS link pointer, comes last), so the exit is as before.
 */
export function checkInjectionGuestState(v: Vmcs): GuestStateFailure | null {
  const info = v.lo[S.ENTRY_INTR_INFO]!;
  const type = getField(info, INTR_INFO.TYPE);
  const vector = getField(info, INTR_INFO.VECTOR);
  const rflags = v.lo[S.GUEST_RFLAGS]!;
  // 27.3.1.4: an external interrupt is injected only with RFLAGS.IF = 1.
  if (type === INTR_TYPE.EXTERNAL_INTERRUPT && (rflags & RFLAGS.IF) === 0) return guestFailure('guest RFLAGS.IF must be 1 to inject an external interrupt');
  // 27.3.1.5 activity state: HLT admits external interrupts, NMIs, #DB, #MC and pending MTF; shutdown NMIs and #MC; wait-for-SIPI nothing.
  const activity = v.lo[S.GUEST_ACTIVITY]!;
  if (activity === ACTIVITY_STATE.HLT && !(type === INTR_TYPE.EXTERNAL_INTERRUPT || type === INTR_TYPE.NMI || (type === INTR_TYPE.HARDWARE_EXCEPTION && (vector === 1 || vector === 18)) || (type === INTR_TYPE.OTHER_EVENT && vector === 0))) {
    return guestFailure('event not injectable in the HLT state');
  }
  if (activity === ACTIVITY_STATE.SHUTDOWN && !(type === INTR_TYPE.NMI || (type === INTR_TYPE.HARDWARE_EXCEPTION && vector === 18))) return guestFailure('event not injectable in the shutdown state');
  if (activity === ACTIVITY_STATE.WAIT_FOR_SIPI) return guestFailure('no event can be injected in the wait-for-SIPI state');
  // 27.3.1.5 interruptibility state.
  const intr = v.lo[S.GUEST_INTERRUPTIBILITY]!;
  if (type === INTR_TYPE.EXTERNAL_INTERRUPT && (intr & 3) !== 0) return guestFailure('external-interrupt injection with blocking by STI or MOV SS');
  if (type === INTR_TYPE.NMI && (intr & INTERRUPTIBILITY.BLOCKING_BY_MOV_SS) !== 0) return guestFailure('NMI injection with blocking by MOV SS');
  if (type === INTR_TYPE.NMI && (v.lo[S.PIN]! & PIN_BASED.VIRTUAL_NMIS) !== 0 && (intr & INTERRUPTIBILITY.BLOCKING_BY_NMI) !== 0) return guestFailure('NMI injection with virtual-NMI blocking');
  return null;
}
