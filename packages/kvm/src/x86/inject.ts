/**
 * Event injection of the x86 run loop (x86.c kvm_check_and_inject_events,
 * vmx.c vmx_inject_irq / vmx_enable_irq_window): the VM-entry
 * interruption-information field, written in Linux's priority order, and
 * the interrupt window when the guest cannot take an interrupt now.
 */
import { CPU_BASED as IMPORTED_CPU_BASED, VMCS_FIELD as IMPORTED_VMCS_FIELD } from '@hvsim/vmcs';
import { extIntVector, injectNmi } from './arch-events.js';
import type { X86VcpuState } from './vcpu-state.js';

// Module-local copies: under Node's ESM loader each use of an imported binding is a getter call (every exit reads these).
const CPU_BASED = IMPORTED_CPU_BASED;
const VMCS_FIELD = IMPORTED_VMCS_FIELD;

/** RFLAGS.IF. */
export const GUEST_RFLAGS_IF = 1 << 9;
/** Valid bit of interruption information (SDM 3C 25.8.3). */
export const INTR_INFO_VALID = 0x8000_0000;
const INTR_TYPE_HW_EXCEPTION = 3 << 8;
/** Deliver-error-code bit of interruption information. */
export const INTR_INFO_DELIVER_CODE = 1 << 11;

/** RFLAGS.IF = 1 and no STI/MOV-SS blocking (vmx_interrupt_allowed). */
export function interruptAllowed(v: X86VcpuState): boolean {
  const rflags = v.vmx.vmreadNumber(VMCS_FIELD.GUEST_RFLAGS);
  const intr = v.vmx.vmreadNumber(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO);
  return (rflags & GUEST_RFLAGS_IF) !== 0 && (intr & 3) === 0;
}

/** Userspace asked for an interrupt window and owns the irqchip (dm_request_for_irq_injection). */
export function dmRequestForIrqInjection(v: X86VcpuState): boolean {
  return v.kvmRun.request_interrupt_window !== 0 && v.apic === undefined;
}

/** kvm_vcpu_ready_for_interrupt_injection. */
export function readyForInterruptInjection(v: X86VcpuState): boolean {
  return interruptAllowed(v) && v.userInterrupt < 0 && v.reinject === 0;
}

/** Opens or closes the interrupt window (interrupt-window exiting, SDM 3C 25.6.2). */
export function setWindow(v: X86VcpuState, open: boolean): void {
  const proc = v.vmx.vmreadNumber(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
  const next = open ? proc | CPU_BASED.INTR_WINDOW_EXITING : proc & ~CPU_BASED.INTR_WINDOW_EXITING;
  if (next !== proc) v.vmx.vmwrite32(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, next >>> 0);
}

/**
 * kvm_check_and_inject_events, in Linux's priority order: re-inject an
 * event whose delivery an exit interrupted; a pending exception; (no SMI,
 * NMI in this increment); an interrupt from the in-kernel LAPIC or PIC
 * (acknowledged: IRR to ISR) or KVM_INTERRUPT's vector when the guest can
 * take one, else an interrupt window.
 */
export function injectEvents(v: X86VcpuState): void {
  const vmx = v.vmx;
  if (v.reinject !== 0) {
    vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, v.reinject);
    if ((v.reinject & INTR_INFO_DELIVER_CODE) !== 0) vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_EXCEPTION_ERROR_CODE, v.reinjectCode);
    v.reinject = 0;
    v.requestEvent = true; // look again after this entry
    return;
  }
  if (v.pendingException >= 0) {
    // #GP and #PF push an error code (SDM 3A 6.13): #PF's is the shadow MMU's (kvm_inject_page_fault).
    const code = v.pendingException === 13 || v.pendingException === 14 ? INTR_INFO_DELIVER_CODE : 0;
    vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, (INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | code | v.pendingException) >>> 0);
    if (code !== 0) vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_EXCEPTION_ERROR_CODE, v.pendingErrorCode);
    v.pendingException = -1;
    v.pendingErrorCode = 0;
    v.requestEvent = true;
    return;
  }
  if (injectNmi(v)) return; // the NMI step (arch-events.ts)
  if (v.userInterrupt >= 0) {
    // KVM_INTERRUPT's vector is injected as queued (userspace checked ready_for_interrupt_injection).
    vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, (INTR_INFO_VALID | v.userInterrupt) >>> 0);
    v.userInterrupt = -1;
    if (dmRequestForIrqInjection(v)) setWindow(v, true);
    return;
  }
  const apic = v.apic;
  if (apic) {
    const extInt = (apic.pendingSignals & 0x10) !== 0;
    // With APICv the LAPIC's interrupts go through virtual-interrupt delivery (RVI), never injected here.
    if ((v.apicv !== undefined || apic.highestDeliverableVector() < 0) && !extInt) {
      setWindow(v, false);
      return;
    }
    if (!interruptAllowed(v)) {
      setWindow(v, true);
      return;
    }
    let vector: number;
    if (extInt && apic.takeExtInt()) vector = extIntVector(v); // the PIC's INTA, or KVM_INTERRUPT's with the split irqchip
    else vector = apic.acknowledge();
    vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, (INTR_INFO_VALID | (vector & 0xff)) >>> 0);
    // More pending: ask for the window so the next one goes in as soon as the guest allows.
    setWindow(v, v.apicv === undefined && apic.highestDeliverableVector() >= 0);
    return;
  }
  setWindow(v, dmRequestForIrqInjection(v));
}
