/**
 * The run loop's NMI, INIT/SIPI and IOAPIC-EOI steps (Linux
 * arch/x86/kvm/x86.c `vcpu_enter_guest` requests KVM_REQ_NMI and
 * KVM_REQ_IOAPIC_EOI_EXIT, `kvm_apic_accept_events` under KVM_REQ_EVENT,
 * the NMI step of `kvm_check_and_inject_events`, `kvm_vcpu_has_events`,
 * `vcpu_block`, and `kvm_arch_vcpu_ioctl_run`'s path for an UNINITIALIZED
 * vCPU), called from `run-loop.ts` and `inject.ts`.
 */
import { CPU_BASED, INTERRUPTIBILITY, INTR_TYPE, VMCS_FIELD, VM_ENTRY } from '@hvsim/vmcs';
import { KVM_EXIT, KVM_INTERNAL_ERROR, KVM_MP_STATE } from '../generic/constants.js';
import { fail } from '../generic/errors.js';
import { INIT_STATE, acceptApicEvents, initOrSipiPending } from './mp-state.js';
import { NMI_STEP, injectNmiStep, nmiBlocked } from './vcpu-events.js';
import type { X86VcpuState } from './vcpu-state.js';
import { adoptGuestRegisters } from './shadow-state.js';

const BLOCKING_NMI = INTERRUPTIBILITY.BLOCKING_BY_NMI;
/** CR0.NE, which VMX keeps set in the guest's CR0 (IA32_VMX_CR0_FIXED0 with unrestricted guest). */
const CR0_NE = 1 << 5;
const CR4_VMXE = 1 << 13;
const WINDOWS = CPU_BASED.INTR_WINDOW_EXITING | CPU_BASED.NMI_WINDOW_EXITING;
const EFER_LMA = 1 << 10;

/** The re-injected event is an NMI (vcpu->arch.nmi_injected). */
function nmiInFlight(v: X86VcpuState): boolean {
  return (v.reinject & 0x8000_0000) !== 0 && ((v.reinject >>> 8) & 7) === INTR_TYPE.NMI;
}

/** KVM_REQ_NMI: process_nmi with the guest's NMI mask. */
export function processNmi(v: X86VcpuState): void {
  const masked = (v.vmx.vmreadNumber(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO) & BLOCKING_NMI) !== 0;
  v.arch.nmi.process(masked, nmiInFlight(v));
}

/**
 * kvm_vcpu_has_events for a vCPU that is not running: `true` wakes it,
 * `false` keeps it blocked, `undefined` leaves the answer to the interrupt
 * checks. An INIT or SIPI wakes any state; a vCPU that is not halted
 * (UNINITIALIZED, INIT_RECEIVED) waits for nothing else; a halted one also
 * wakes for a queued NMI or a pending one the guest can take.
 */
export function archWakeup(v: X86VcpuState): boolean | undefined {
  if (initOrSipiPending(v.arch.sipi, v.apic)) return true;
  if (v.mp !== KVM_MP_STATE.HALTED) return false;
  if (v.pvUnhalted) return true; // kvm_vcpu_has_events: another vCPU's KVM_HC_KICK_CPU (hypercall.ts)
  const nmi = v.arch.nmi;
  if (nmi.queued > 0) return true;
  if (nmi.pending > 0 && !nmiBlocked(v.vmx)) return true;
  return undefined;
}

/** vcpu_block after the wake-up: accept INIT/SIPI, then a halted vCPU is runnable (INIT_RECEIVED stays blocked). */
export function afterBlock(v: X86VcpuState): void {
  acceptEvents(v);
  if (v.mp === KVM_MP_STATE.HALTED) {
    v.pvUnhalted = false; // vcpu_block: the kick is consumed with the halt
    v.mp = KVM_MP_STATE.RUNNABLE;
  }
  v.requestEvent = true;
}

/**
 * The steps of vcpu_enter_guest before event injection: KVM_REQ_NMI
 * (process_nmi), KVM_REQ_IOAPIC_EOI_EXIT (KVM_EXIT_IOAPIC_EOI with the
 * vector, return 0), and kvm_apic_accept_events (an INIT resets the vCPU,
 * a SIPI starts it; INIT_RECEIVED returns 1 without entering). -1: go on
 * to inject events and enter the guest.
 */
export function beforeInjection(v: X86VcpuState): number {
  const arch = v.arch;
  if (arch.nmi.queued > 0) processNmi(v);
  if (arch.pendingIoapicEoi >= 0) {
    v.kvmRun.eoi.vector = arch.pendingIoapicEoi;
    arch.pendingIoapicEoi = -1;
    v.requestEvent = true; // KVM_REQ_EVENT is still to be handled at the next entry
    v.toUserspace(KVM_EXIT.IOAPIC_EOI);
    return 0;
  }
  if (!acceptEvents(v)) return 0;
  return v.mp === KVM_MP_STATE.INIT_RECEIVED ? 1 : -1;
}

/** kvm_apic_accept_events and its effects; false when the start address has no guest code (KVM_EXIT_INTERNAL_ERROR filled in). */
function acceptEvents(v: X86VcpuState): boolean {
  const a = acceptApicEvents(v, v.arch.sipi, v.apic, v.apic?.isBsp ?? false);
  if (a.init) initReset(v);
  if (a.start >= 0) return startAt(v, a.start);
  return true;
}

/**
 * A guest RDMSR/WRMSR of an MSR the store keeps (kvm_get/set_msr_common,
 * not host-initiated): done and skipped, or #GP(0) for a value it refuses.
 * False for other MSRs.
 */
export function guestMsrAccess(v: X86VcpuState, msr: number, write: boolean, lo: number, hi: number): boolean {
  const store = v.arch.msrs;
  if (!store.isStored(msr)) return false;
  if (!write) {
    const value = store.read(msr) ?? 0n;
    v.skip(Number(value & 0xffff_ffffn), Number(value >> 32n));
  } else if (store.write(msr, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0), false)) {
    v.skip();
  } else {
    v.pendingException = 13; // #GP(0): the WRMSR does not complete
    v.requestEvent = true;
  }
  return true;
}

/**
 * kvm_cpu_get_extint: the vector of an ExtINT the LAPIC took, from the
 * in-kernel PIC's INTA or, with the split irqchip, KVM_INTERRUPT's vector
 * (then LINT0 falls again).
 */
export function extIntVector(v: X86VcpuState): number {
  const pic = v.host.irqchip?.pic;
  if (pic) return pic.acknowledge();
  const vector = v.arch.externalVector;
  v.arch.externalVector = -1;
  v.apic?.lintLine(0).setLevel(false);
  return vector >= 0 ? vector : (v.apic?.acknowledge() ?? 0);
}

/** kvm_apic_accept_events outside the run loop (KVM_GET_MP_STATE). */
export function acceptEventsNow(v: X86VcpuState): void {
  acceptEvents(v);
}

/** The NMI step of kvm_check_and_inject_events (see vcpu-events.ts); true when nothing else may be injected now. */
export function injectNmi(v: X86VcpuState): boolean {
  const step = injectNmiStep(v.vmx, v.arch.nmi, true);
  if (step === NMI_STEP.INJECTED) {
    // can_inject is false: an interrupt waits for the next entry (Linux asks for an immediate exit).
    v.requestEvent = true;
    return true;
  }
  return step === NMI_STEP.STI_WINDOW;
}

/**
 * kvm_vcpu_reset(init_event): the events in flight are dropped (exception,
 * interrupt, NMIs, windows, the interrupt shadow and NMI blocking) and the
 * registers take their INIT values (the MSRs keep theirs).
 */
function initReset(v: X86VcpuState): void {
  const vmx = v.vmx;
  v.reinject = 0;
  v.pendingException = -1;
  v.userInterrupt = -1;
  v.userIo = null;
  v.arch.nmi.clear();
  vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, 0);
  vmx.vmwrite32(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO, 0);
  const proc = vmx.vmreadNumber(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
  if ((proc & WINDOWS) !== 0) vmx.vmwrite32(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, (proc & ~WINDOWS) >>> 0);
  // Real mode (PE and PG clear) runs as an unrestricted guest; CR0.NE stays set as VMX requires
  // (KVM keeps the guest's own value in the CR0 read shadow).
  vmx.vmwrite(VMCS_FIELD.GUEST_CR0, (INIT_STATE.cr0 | CR0_NE) >>> 0);
  vmx.vmwrite(VMCS_FIELD.GUEST_CR3, INIT_STATE.cr3);
  vmx.vmwrite(VMCS_FIELD.GUEST_CR4, (INIT_STATE.cr4 | CR4_VMXE) >>> 0);
  vmx.vmwrite(VMCS_FIELD.GUEST_IA32_EFER, INIT_STATE.efer);
  vmx.vmwrite(VMCS_FIELD.GUEST_RFLAGS, INIT_STATE.rflags);
  vmx.vmwrite(VMCS_FIELD.GUEST_RSP, INIT_STATE.rsp);
  vmx.vmwrite(VMCS_FIELD.GUEST_IDTR_BASE, INIT_STATE.idt.base);
  vmx.vmwrite(VMCS_FIELD.GUEST_IDTR_LIMIT, INIT_STATE.idt.limit);
  vmx.vmwrite(VMCS_FIELD.GUEST_RIP, INIT_STATE.resetVector);
  // Shadow paging: the INIT state goes to the read shadows and the MMU (a guest without paging cannot run there: see shadow-exits.ts).
  if (v.shadow) {
    adoptGuestRegisters(vmx, v.shadow);
    v.shadow.guestCr2 = INIT_STATE.cr2;
  }
  syncIa32eEntry(v);
  v.cpu.setRegisters({ cr2: INIT_STATE.cr2 });
  v.requestEvent = true;
}

/** vmx_set_efer: the "IA-32e mode guest" entry control follows the guest's EFER.LMA. */
export function syncIa32eEntry(v: X86VcpuState): void {
  const vmx = v.vmx;
  const lma = (vmx.vmreadNumber(VMCS_FIELD.GUEST_IA32_EFER) & EFER_LMA) !== 0;
  const entry = vmx.vmreadNumber(VMCS_FIELD.VM_ENTRY_CONTROLS);
  const next = lma ? entry | VM_ENTRY.IA32E_MODE_GUEST : entry & ~VM_ENTRY.IA32E_MODE_GUEST;
  if (next !== entry) vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_CONTROLS, next >>> 0);
}

/**
 * kvm_vcpu_deliver_sipi_vector (or a BSP's INIT): the vCPU starts at the
 * linear address `start` (CS base + IP). This model's guest code is defined
 * at addresses: without code there the run ends in KVM_EXIT_INTERNAL_ERROR.
 */
function startAt(v: X86VcpuState, start: number): boolean {
  if (v.host.program.at(start) === undefined) {
    v.internalError(KVM_INTERNAL_ERROR.EMULATION, 0);
    return false;
  }
  v.cpu.start(start);
  v.vmx.vmwrite(VMCS_FIELD.GUEST_RIP, start);
  return true;
}

/**
 * kvm_arch_vcpu_ioctl_run for an UNINITIALIZED vCPU: it blocks until an
 * INIT or SIPI arrives (`block`), accepts it, and KVM_RUN fails with
 * EAGAIN, or EINTR (exit_reason KVM_EXIT_INTR) when a signal came first;
 * the VMM runs it again.
 */
export function runUninitialized(v: X86VcpuState, block: () => void): never {
  block();
  if (v.signalPending && v.mp === KVM_MP_STATE.UNINITIALIZED) {
    v.toUserspace(KVM_EXIT.INTR);
    fail('EINTR', 'a signal is pending (the vCPU is UNINITIALIZED: it waits for INIT and SIPI)');
  }
  fail('EAGAIN', `the vCPU is ${v.mp === KVM_MP_STATE.UNINITIALIZED ? 'UNINITIALIZED' : 'out of UNINITIALIZED'}: run it again`);
}
