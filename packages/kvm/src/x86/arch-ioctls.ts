/**
 * The vCPU ioctls for NMIs, events and multiprocessing states (api.rst
 * 4.67 KVM_NMI, 4.31/4.32 KVM_GET/SET_VCPU_EVENTS, 4.38/4.39
 * KVM_GET/SET_MP_STATE; Linux arch/x86/kvm/x86.c), over the vCPU state;
 * `X86Vcpu` exposes them as methods.
 */
import { VMCS_FIELD } from '@hvsim/vmcs';
import { KVM_MP_STATE } from '../generic/constants.js';
import { fail } from '../generic/errors.js';
import { acceptEventsNow, processNmi } from './arch-events.js';
import { setMpState } from './mp-state.js';
import { applyNmiUpdate, checkVcpuEvents, getVcpuEvents, type KvmVcpuEvents } from './vcpu-events.js';
import type { X86VcpuState } from './vcpu-state.js';

/**
 * KVM_NMI (kvm_vcpu_ioctl_nmi → kvm_inject_nmi): queues an NMI and raises
 * KVM_REQ_NMI; it is injected at the next entry the guest allows. Always
 * succeeds; meant for a userspace irqchip (with the in-kernel one, NMIs come
 * from the LAPIC: LINT1, an NMI IPI or MSI).
 */
export function kvmNmi(v: X86VcpuState): void {
  v.arch.nmi.queue();
  v.kick();
}

/**
 * KVM_INTERRUPT with the split irqchip (kvm_vcpu_ioctl_interrupt with the
 * LAPIC in the kernel and no PIC): the userspace PIC's vector, raised on
 * LINT0 so that the LAPIC takes it as ExtINT when its LVT0 accepts PIC
 * interrupts (ExtINT, unmasked: kvm_apic_accept_pic_intr) and injected
 * when the guest allows; EEXIST while one is pending.
 */
export function kvmInterruptExtInt(v: X86VcpuState, vector: number): void {
  const pending = v.arch.externalVector;
  if (pending >= 0) fail('EEXIST', `vector 0x${pending.toString(16)} from the userspace PIC is still pending (pending_external_vector)`);
  v.arch.externalVector = vector;
  v.apic?.lintLine(0).setLevel(true);
  v.requestEvent = true;
}

/** KVM_GET_VCPU_EVENTS (see vcpu-events.ts). */
export function kvmGetVcpuEvents(v: X86VcpuState): KvmVcpuEvents {
  return getVcpuEvents({
    reinject: v.reinject,
    reinjectCode: v.reinjectCode,
    pendingException: v.pendingException,
    pendingErrorCode: v.pendingErrorCode,
    queuedInterrupt: v.userInterrupt,
    nmi: v.arch.nmi,
    interruptibility: v.vmx.vmreadNumber(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO),
  });
}

/** KVM_SET_VCPU_EVENTS: the whole struct is checked before anything changes (see vcpu-events.ts). */
export function kvmSetVcpuEvents(v: X86VcpuState, events: KvmVcpuEvents): void {
  const u = checkVcpuEvents(events, v.vmx.vmreadNumber(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO));
  processNmi(v);
  v.reinject = u.reinject;
  v.reinjectCode = u.reinjectCode;
  v.pendingException = -1;
  v.userInterrupt = u.interrupt; // interrupt.injected describes the queued interrupt too (KVM_INTERRUPT's)
  applyNmiUpdate(v.arch.nmi, u);
  v.vmx.vmwrite32(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO, u.interruptibility);
  if (u.sipiVector >= 0 && v.apic) v.arch.sipi.vector = u.sipiVector;
  v.requestEvent = true;
}

/** KVM_GET_MP_STATE: pending INIT/SIPI are accepted first (kvm_apic_accept_events), then the state is read. */
export function kvmGetMpState(v: X86VcpuState): number {
  acceptEventsNow(v);
  // A halted vCPU that a KVM_HC_KICK_CPU woke reads as RUNNABLE (kvm_arch_vcpu_ioctl_get_mpstate).
  return v.mp === KVM_MP_STATE.HALTED && v.pvUnhalted ? KVM_MP_STATE.RUNNABLE : v.mp;
}

/** KVM_SET_MP_STATE (see mp-state.ts); raises KVM_REQ_EVENT. */
export function kvmSetMpState(v: X86VcpuState, state: number): void {
  setMpState(v, v.arch.sipi, state, v.apic !== undefined);
  v.requestEvent = true;
}
