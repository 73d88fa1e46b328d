/**
 * NMIs and the vCPU's event state (api.rst 4.31 KVM_GET_VCPU_EVENTS, 4.32
 * KVM_SET_VCPU_EVENTS, 4.67 KVM_NMI; Linux arch/x86/kvm/x86.c
 * `kvm_inject_nmi`, `process_nmi`, `kvm_check_and_inject_events`,
 * `kvm_vcpu_ioctl_x86_get/set_vcpu_events`; vmx/vmx.c `vmx_nmi_allowed`,
 * `vmx_inject_nmi`, `vmx_enable_nmi_window`, `vmx_get/set_nmi_mask`,
 * `vmx_get/set_interrupt_shadow`).
 *
 * An NMI is queued (`nmi_queued`: KVM_NMI, or the in-kernel LAPIC accepting
 * one), folded into `nmi_pending` by `process_nmi` — at most one running and
 * one pending, two when none is running — and injected after re-injection
 * and exceptions and before interrupts, when the guest has no STI, MOV-SS or
 * NMI blocking; otherwise an NMI window is opened ("NMI-window exiting" with
 * virtual NMIs, or the interrupt window under STI blocking, as
 * `vmx_enable_nmi_window` does). The NMI blocks further NMIs until the
 * guest's IRET (virtual-NMI blocking in the VMCS).
 */
import { CPU_BASED, INTERRUPTIBILITY, INTR_TYPE, VMCS_FIELD, type VmxProcessor } from '@hvsim/vmcs';
import { KVM_VCPUEVENT_VALID, KVM_X86_SHADOW_INT } from '../generic/constants.js';
import { fail, u32 } from '../generic/errors.js';

/** NMI_VECTOR. */
export const NMI_VECTOR = 2;

const INTR_INFO_VALID = 0x8000_0000;
const INTR_INFO_DELIVER_CODE = 1 << 11;
const BLOCKING_STI = INTERRUPTIBILITY.BLOCKING_BY_STI;
const BLOCKING_MOV_SS = INTERRUPTIBILITY.BLOCKING_BY_MOV_SS;
const BLOCKING_NMI = INTERRUPTIBILITY.BLOCKING_BY_NMI;
const NMI_INFO = (INTR_INFO_VALID | (INTR_TYPE.NMI << 8) | NMI_VECTOR) >>> 0;

/** `struct kvm_vcpu_events` (api.rst 4.31), with the uapi field names. */
export interface KvmVcpuEvents {
  exception: { injected: number; nr: number; has_error_code: number; pending: number; error_code: number };
  interrupt: { injected: number; nr: number; soft: number; shadow: number };
  nmi: { injected: number; pending: number; masked: number };
  /** Written only with KVM_VCPUEVENT_VALID_SIPI_VECTOR; KVM_GET_VCPU_EVENTS reports 0 (never valid to userspace). */
  sipi_vector: number;
  /** KVM_VCPUEVENT_VALID_* bits. */
  flags: number;
  /** SMM state (KVM_VCPUEVENT_VALID_SMM); this model has no SMM, so all zero. */
  smi: { smm: number; pending: number; smm_inside_nmi: number; latched_init: number };
}

/** What KVM_SET_VCPU_EVENTS writes, after the whole struct was checked. */
export interface VcpuEventsUpdate {
  /** The event to re-inject at the next entry (an IDT-vectoring-style interruption information), or 0. */
  reinject: number;
  reinjectCode: number;
  /** A second injected event, an interrupt, when an exception holds `reinject` (KVM keeps both), or -1. */
  interrupt: number;
  /** `nmi.pending` with KVM_VCPUEVENT_VALID_NMI_PENDING (it replaces the pending count), else null. */
  nmiPending: number | null;
  /** 1 when an injected NMI must wait behind an injected exception (it is queued again), else 0. */
  displacedNmi: number;
  /** The guest interruptibility state to write. */
  interruptibility: number;
  /** A new SIPI vector, or -1. */
  sipiVector: number;
}

/** vcpu->arch.nmi_queued and nmi_pending. */
export class NmiQueue {
  /** NMIs raised since the last `process` (nmi_queued). */
  queued = 0;
  /** NMIs waiting for injection (nmi_pending), at most two. */
  pending = 0;

  /** kvm_inject_nmi: one more NMI (the caller raises KVM_REQ_EVENT and kicks the vCPU). */
  queue(): void {
    this.queued++;
  }

  /**
   * process_nmi (KVM_REQ_NMI): x86 allows one NMI running and one pending,
   * so when an NMI is being handled (`masked`) or is being injected only one
   * more is kept, else two (the first injected at once).
   */
  process(masked: boolean, injected: boolean): void {
    if (this.queued === 0 && this.pending <= 1) return;
    const limit = masked || injected ? 1 : 2;
    this.pending = Math.min(this.pending + this.queued, limit);
    this.queued = 0;
  }

  /** Drops everything (an INIT: kvm_vcpu_reset). */
  clear(): void {
    this.queued = 0;
    this.pending = 0;
  }
}

/** vmx_nmi_blocked: STI, MOV-SS or NMI blocking in the guest interruptibility state. */
export function nmiBlocked(vmx: VmxProcessor): boolean {
  return (vmx.vmreadNumber(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO) & (BLOCKING_STI | BLOCKING_MOV_SS | BLOCKING_NMI)) !== 0;
}

/** Sets or clears one control bit of the primary processor-based controls. */
function setProcControl(vmx: VmxProcessor, bit: number, on: boolean): void {
  const proc = vmx.vmreadNumber(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
  const next = on ? proc | bit : proc & ~bit;
  if (next !== proc) vmx.vmwrite32(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, next >>> 0);
}

/** What the NMI step of event injection did. */
export const NMI_STEP = {
  /** No NMI pending. */
  NONE: 0,
  /** An NMI was written to the VM-entry interruption-information field. */
  INJECTED: 1,
  /** Blocked: a window was opened; interrupts may still be injected. */
  WINDOW: 2,
  /** Blocked by STI: the interrupt window was opened for it; nothing else can go in now. */
  STI_WINDOW: 3,
} as const;

/**
 * The NMI step of kvm_check_and_inject_events (after re-injection and
 * exceptions, before interrupts): `canInject` false when an event already
 * went into the entry field. Injects one pending NMI when allowed
 * (vmx_inject_nmi), and opens an NMI window while more remain or it is
 * blocked (vmx_enable_nmi_window: the interrupt window under STI blocking,
 * NMI-window exiting otherwise).
 */
export function injectNmiStep(vmx: VmxProcessor, nmi: NmiQueue, canInject: boolean): number {
  if (nmi.pending === 0) return NMI_STEP.NONE;
  const intr = vmx.vmreadNumber(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO);
  let injected = false;
  if (canInject && (intr & (BLOCKING_STI | BLOCKING_MOV_SS | BLOCKING_NMI)) === 0) {
    nmi.pending--;
    vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, NMI_INFO);
    injected = true;
  }
  if (nmi.pending === 0) return NMI_STEP.INJECTED;
  if ((intr & BLOCKING_STI) !== 0) {
    setProcControl(vmx, CPU_BASED.INTR_WINDOW_EXITING, true);
    return injected ? NMI_STEP.INJECTED : NMI_STEP.STI_WINDOW;
  }
  setProcControl(vmx, CPU_BASED.NMI_WINDOW_EXITING, true);
  return injected ? NMI_STEP.INJECTED : NMI_STEP.WINDOW;
}

/** handle_nmi_window: the NMI window opened; NMI-window exiting off (the caller raises KVM_REQ_EVENT). */
export function closeNmiWindow(vmx: VmxProcessor): void {
  setProcControl(vmx, CPU_BASED.NMI_WINDOW_EXITING, false);
}

/**
 * vmx_complete_interrupts for an NMI whose delivery an exit interrupted:
 * it is injected again, so its virtual-NMI blocking is undone
 * (vmx_set_nmi_mask(false)).
 */
export function nmiInterrupted(vmx: VmxProcessor, idtVectoringInfo: number): void {
  if (((idtVectoringInfo >>> 8) & 7) !== INTR_TYPE.NMI) return;
  const intr = vmx.vmreadNumber(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO);
  if ((intr & BLOCKING_NMI) !== 0) vmx.vmwrite32(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO, intr & ~BLOCKING_NMI);
}

/** The vCPU's event state as KVM_GET_VCPU_EVENTS reads it. */
export interface VcpuEventSources {
  /** The interruption information of an event an exit interrupted (re-injected at the next entry), or 0. */
  reinject: number;
  reinjectCode: number;
  /** A pending exception vector, or -1. */
  pendingException: number;
  /** Its error code (#GP, #PF). */
  pendingErrorCode: number;
  /** An interrupt queued by KVM_INTERRUPT, or -1. */
  queuedInterrupt: number;
  nmi: NmiQueue;
  interruptibility: number;
}

/**
 * kvm_vcpu_ioctl_x86_get_vcpu_events: `process_nmi` first, then the
 * injected exception (a pending one reported as injected, as Linux does
 * without KVM_CAP_EXCEPTION_PAYLOAD), the injected interrupt and the
 * interrupt shadow, the NMI state; flags NMI_PENDING | SHADOW | SMM.
 */
export function getVcpuEvents(s: VcpuEventSources): KvmVcpuEvents {
  const nmiMasked = (s.interruptibility & BLOCKING_NMI) !== 0;
  const type = (s.reinject >>> 8) & 7;
  const valid = (s.reinject & INTR_INFO_VALID) !== 0;
  s.nmi.process(nmiMasked, valid && type === INTR_TYPE.NMI);
  const e: KvmVcpuEvents = {
    exception: { injected: 0, nr: 0, has_error_code: 0, pending: 0, error_code: 0 },
    interrupt: { injected: 0, nr: 0, soft: 0, shadow: 0 },
    nmi: { injected: 0, pending: s.nmi.pending + s.nmi.queued, masked: nmiMasked ? 1 : 0 },
    sipi_vector: 0,
    flags: KVM_VCPUEVENT_VALID.NMI_PENDING | KVM_VCPUEVENT_VALID.SHADOW | KVM_VCPUEVENT_VALID.SMM,
    smi: { smm: 0, pending: 0, smm_inside_nmi: 0, latched_init: 0 },
  };
  if (valid && type === INTR_TYPE.HARDWARE_EXCEPTION) {
    e.exception.injected = 1;
    e.exception.nr = s.reinject & 0xff;
    e.exception.has_error_code = (s.reinject & INTR_INFO_DELIVER_CODE) !== 0 ? 1 : 0;
    e.exception.error_code = s.reinjectCode >>> 0;
  } else if (s.pendingException >= 0) {
    e.exception.injected = 1;
    e.exception.nr = s.pendingException;
    e.exception.has_error_code = s.pendingException === 13 || s.pendingException === 14 ? 1 : 0;
    e.exception.error_code = e.exception.has_error_code === 1 ? s.pendingErrorCode >>> 0 : 0;
  }
  if (valid && type === INTR_TYPE.NMI) e.nmi.injected = 1;
  if (valid && type === INTR_TYPE.EXTERNAL_INTERRUPT) {
    e.interrupt.injected = 1;
    e.interrupt.nr = s.reinject & 0xff;
  } else if (s.queuedInterrupt >= 0) {
    e.interrupt.injected = 1;
    e.interrupt.nr = s.queuedInterrupt;
  }
  // vmx_get_interrupt_shadow: STI blocking is KVM_X86_SHADOW_INT_STI, MOV-SS blocking KVM_X86_SHADOW_INT_MOV_SS.
  e.interrupt.shadow = ((s.interruptibility & BLOCKING_STI) !== 0 ? KVM_X86_SHADOW_INT.STI : 0) | ((s.interruptibility & BLOCKING_MOV_SS) !== 0 ? KVM_X86_SHADOW_INT.MOV_SS : 0);
  return e;
}

const u8 = (v: unknown, name: string): number => {
  const n = u32(v ?? 0, name);
  if (n > 0xff) fail('EINVAL', `${name} must be a byte, got ${n}`);
  return n;
};

/**
 * kvm_vcpu_ioctl_x86_set_vcpu_events: checks the whole struct (EINVAL for
 * unknown flags, KVM_VCPUEVENT_VALID_PAYLOAD and TRIPLE_FAULT, whose
 * capabilities this KVM does not offer, an exception vector above 31 or
 * NMI_VECTOR, any SMM state: no SMM here) and returns what to write:
 * the injected exception (or NMI, or interrupt) re-injected at the next
 * entry, the interrupt shadow with KVM_VCPUEVENT_VALID_SHADOW, the NMI
 * mask, `nmi.pending` as newly queued NMIs with
 * KVM_VCPUEVENT_VALID_NMI_PENDING, the SIPI vector with
 * KVM_VCPUEVENT_VALID_SIPI_VECTOR.
 */
export function checkVcpuEvents(events: KvmVcpuEvents, interruptibility: number): VcpuEventsUpdate {
  if (typeof (events as unknown) !== 'object' || (events as unknown) === null) fail('EFAULT', 'KVM_SET_VCPU_EVENTS needs a struct kvm_vcpu_events');
  const flags = u32(events.flags, 'flags');
  const known = KVM_VCPUEVENT_VALID.NMI_PENDING | KVM_VCPUEVENT_VALID.SIPI_VECTOR | KVM_VCPUEVENT_VALID.SHADOW | KVM_VCPUEVENT_VALID.SMM | KVM_VCPUEVENT_VALID.PAYLOAD | KVM_VCPUEVENT_VALID.TRIPLE_FAULT;
  if ((flags & ~known) !== 0) fail('EINVAL', `kvm_vcpu_events flags 0x${flags.toString(16)} set unknown bits`);
  if ((flags & KVM_VCPUEVENT_VALID.PAYLOAD) !== 0) fail('EINVAL', 'KVM_VCPUEVENT_VALID_PAYLOAD needs KVM_CAP_EXCEPTION_PAYLOAD, which this KVM does not offer');
  if ((flags & KVM_VCPUEVENT_VALID.TRIPLE_FAULT) !== 0) fail('EINVAL', 'KVM_VCPUEVENT_VALID_TRIPLE_FAULT needs KVM_CAP_X86_TRIPLE_FAULT_EVENT, which this KVM does not offer');
  const ex = events.exception;
  const exInjected = u8(ex.injected, 'exception.injected');
  const exNr = u8(ex.nr, 'exception.nr');
  const exHasCode = u8(ex.has_error_code, 'exception.has_error_code');
  const exCode = u32(ex.error_code, 'exception.error_code');
  // Without KVM_VCPUEVENT_VALID_PAYLOAD exception.pending is ignored (it reads as "pad").
  if (exInjected !== 0 && (exNr > 31 || exNr === NMI_VECTOR)) fail('EINVAL', `exception.nr ${exNr} is not an exception vector (0-31 but NMI_VECTOR 2)`);
  const irq = events.interrupt;
  const irqInjected = u8(irq.injected, 'interrupt.injected');
  const irqNr = u8(irq.nr, 'interrupt.nr');
  u8(irq.soft, 'interrupt.soft');
  const shadow = u8(irq.shadow, 'interrupt.shadow');
  const nmi = events.nmi;
  const nmiInjected = u8(nmi.injected, 'nmi.injected');
  const nmiPending = u8(nmi.pending, 'nmi.pending');
  const nmiMasked = u8(nmi.masked, 'nmi.masked');
  const sipi = u32(events.sipi_vector, 'sipi_vector');
  if ((flags & KVM_VCPUEVENT_VALID.SIPI_VECTOR) !== 0 && sipi > 0xff) fail('EINVAL', `sipi_vector ${sipi} is not a vector`);
  if ((flags & KVM_VCPUEVENT_VALID.SMM) !== 0) {
    const smi = events.smi;
    const any = u8(smi.smm, 'smi.smm') | u8(smi.pending, 'smi.pending') | u8(smi.smm_inside_nmi, 'smi.smm_inside_nmi') | u8(smi.latched_init, 'smi.latched_init');
    if (any !== 0) fail('EINVAL', 'SMM state in kvm_vcpu_events: this KVM has no SMM (KVM_CAP_X86_SMM is 0)');
  }
  const out: VcpuEventsUpdate = { reinject: 0, reinjectCode: 0, interrupt: -1, nmiPending: null, displacedNmi: 0, interruptibility, sipiVector: -1 };
  if (exInjected !== 0) {
    out.reinject = (INTR_INFO_VALID | (INTR_TYPE.HARDWARE_EXCEPTION << 8) | (exHasCode !== 0 ? INTR_INFO_DELIVER_CODE : 0) | exNr) >>> 0;
    out.reinjectCode = exHasCode !== 0 ? exCode : 0;
    if (irqInjected !== 0) out.interrupt = irqNr;
    // An NMI KVM had in flight behind the exception goes in after it.
    if (nmiInjected !== 0) out.displacedNmi = 1;
  } else if (nmiInjected !== 0) {
    out.reinject = NMI_INFO;
    if (irqInjected !== 0) out.interrupt = irqNr;
  } else if (irqInjected !== 0) {
    out.reinject = (INTR_INFO_VALID | (INTR_TYPE.EXTERNAL_INTERRUPT << 8) | irqNr) >>> 0;
  }
  if ((flags & KVM_VCPUEVENT_VALID.NMI_PENDING) !== 0) out.nmiPending = nmiPending;
  let intr = interruptibility;
  if ((flags & KVM_VCPUEVENT_VALID.SHADOW) !== 0) {
    intr &= ~(BLOCKING_STI | BLOCKING_MOV_SS);
    if ((shadow & KVM_X86_SHADOW_INT.STI) !== 0) intr |= BLOCKING_STI;
    if ((shadow & KVM_X86_SHADOW_INT.MOV_SS) !== 0) intr |= BLOCKING_MOV_SS;
  }
  intr = nmiMasked !== 0 ? intr | BLOCKING_NMI : intr & ~BLOCKING_NMI;
  out.interruptibility = intr >>> 0;
  if ((flags & KVM_VCPUEVENT_VALID.SIPI_VECTOR) !== 0) out.sipiVector = sipi;
  return out;
}

/** Applies a checked update's NMI part: Linux's process_nmi, then nmi_pending = 0 and nmi_queued = `nmi.pending`. */
export function applyNmiUpdate(nmi: NmiQueue, update: VcpuEventsUpdate): void {
  if (update.nmiPending !== null) {
    nmi.pending = 0;
    nmi.queued = update.nmiPending;
  }
  nmi.queued += update.displacedNmi;
}
