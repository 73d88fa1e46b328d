/**
 * Multiprocessing states and INIT/SIPI (api.rst 4.38 KVM_GET_MP_STATE, 4.39
 * KVM_SET_MP_STATE; Linux arch/x86/kvm/lapic.c `kvm_apic_accept_events`,
 * x86.c `kvm_arch_vcpu_ioctl_get/set_mpstate`, `kvm_vcpu_reset`,
 * `kvm_vcpu_deliver_sipi_vector`).
 *
 * With the in-kernel irqchip the BSP (vCPU 0) starts RUNNABLE and every
 * other vCPU UNINITIALIZED: it runs nothing until its local APIC takes an
 * INIT (the vCPU is reset and goes to INIT_RECEIVED, the wait-for-SIPI
 * state; a BSP goes straight back to RUNNABLE) and then a SIPI, which starts
 * it at `vector << 12` (CS base = vector << 12, IP 0, real mode) and makes it
 * RUNNABLE. A SIPI outside INIT_RECEIVED is discarded.
 */
import { PENDING_SIGNAL, type LocalApic } from '@hvsim/lapic';
import { KVM_MP_STATE } from '../generic/constants.js';
import { fail, u32 } from '../generic/errors.js';

/** The register state of INIT (SDM 3A 9.1.1 Table "IA-32 and Intel 64 Processor States Following Power-up, Reset, or INIT"; kvm_vcpu_reset). */
export const INIT_STATE = {
  /** CR0 after INIT: CD | NW | ET (PE and PG clear). */
  cr0: 0x6000_0010,
  cr2: 0,
  cr3: 0,
  cr4: 0,
  efer: 0,
  rflags: 0x2,
  rsp: 0,
  idt: { base: 0, limit: 0xffff },
  /** CS base 0xFFFF0000 with IP 0xFFF0: the reset vector a BSP resumes at. */
  resetVector: 0xffff_fff0,
} as const;

/** The vCPU's multiprocessing state (vcpu->arch.mp_state, a KVM_MP_STATE_* value). */
export interface MpStateHolder {
  mp: number;
}

/** A SIPI latched for kvm_apic_accept_events (KVM_APIC_SIPI in apic->pending_events) and apic->sipi_vector. */
export class SipiLatch {
  /** A SIPI waits for kvm_apic_accept_events. */
  pending = false;
  /** The vector of the last SIPI. */
  vector = 0;
}

/** What kvm_apic_accept_events decided: the vCPU is reset (INIT), and where it starts (a SIPI's `vector << 12`, or -1). */
export interface AcceptedEvents {
  init: boolean;
  /** The linear address the vCPU starts at (SIPI, or the reset vector of a BSP's INIT), or -1. */
  start: number;
}

/** The reused answer of {@link acceptApicEvents}. */
const accepted: AcceptedEvents = { init: false, start: -1 };

/**
 * kvm_apic_accept_events: takes INIT and SIPI from the vCPU's local APIC.
 * An INIT resets the vCPU (the caller does `kvm_vcpu_reset(init_event)`)
 * and moves an AP to INIT_RECEIVED, a BSP to RUNNABLE at the reset vector;
 * a SIPI in INIT_RECEIVED starts the vCPU at `vector << 12`
 * (`kvm_vcpu_deliver_sipi_vector`) and makes it RUNNABLE, and is dropped
 * in any other state. Returns the reused {@link AcceptedEvents}.
 */
export function acceptApicEvents(v: MpStateHolder, latch: SipiLatch, apic: LocalApic | undefined, bsp: boolean): AcceptedEvents {
  accepted.init = false;
  accepted.start = -1;
  if (!apic) return accepted;
  if ((apic.pendingSignals & (PENDING_SIGNAL.INIT | PENDING_SIGNAL.SIPI)) === 0 && !latch.pending) return accepted;
  if (apic.takeInit()) {
    accepted.init = true;
    v.mp = bsp ? KVM_MP_STATE.RUNNABLE : KVM_MP_STATE.INIT_RECEIVED;
    if (bsp) accepted.start = INIT_STATE.resetVector;
  }
  const sipi = apic.takeSipi();
  if (sipi >= 0) {
    latch.vector = sipi;
    latch.pending = true;
  }
  if (latch.pending) {
    latch.pending = false;
    if (v.mp === KVM_MP_STATE.INIT_RECEIVED) {
      accepted.start = latch.vector << 12;
      v.mp = KVM_MP_STATE.RUNNABLE;
    }
  }
  return accepted;
}

/** Whether an INIT or SIPI waits for kvm_apic_accept_events (kvm_apic_has_pending_init_or_sipi). */
export function initOrSipiPending(latch: SipiLatch, apic: LocalApic | undefined): boolean {
  return latch.pending || (apic !== undefined && (apic.pendingSignals & (PENDING_SIGNAL.INIT | PENDING_SIGNAL.SIPI)) !== 0);
}

/**
 * KVM_SET_MP_STATE's checks and effect (kvm_arch_vcpu_ioctl_set_mpstate):
 * RUNNABLE always; UNINITIALIZED, INIT_RECEIVED, HALTED and SIPI_RECEIVED
 * only with the in-kernel LAPIC; SIPI_RECEIVED becomes INIT_RECEIVED with
 * the SIPI latched (it starts at the next KVM_RUN from the last SIPI
 * vector, e.g. KVM_SET_VCPU_EVENTS' `sipi_vector`). AP_RESET_HOLD (SEV-ES)
 * and anything else: EINVAL.
 */
export function setMpState(v: MpStateHolder, latch: SipiLatch, value: number, lapicInKernel: boolean): void {
  const s = u32(value, 'mp_state');
  switch (s) {
    case KVM_MP_STATE.RUNNABLE:
      break;
    case KVM_MP_STATE.UNINITIALIZED:
    case KVM_MP_STATE.INIT_RECEIVED:
    case KVM_MP_STATE.HALTED:
    case KVM_MP_STATE.SIPI_RECEIVED:
      if (!lapicInKernel) fail('EINVAL', `mp_state ${s} needs the in-kernel LAPIC (KVM_CREATE_IRQCHIP or KVM_CAP_SPLIT_IRQCHIP); without it only KVM_MP_STATE_RUNNABLE (0)`);
      break;
    case KVM_MP_STATE.AP_RESET_HOLD:
      fail('EINVAL', 'mp_state KVM_MP_STATE_AP_RESET_HOLD (9) is for SEV-ES guests, which this KVM does not run');
    // falls through (fail never returns)
    default:
      fail('EINVAL', `mp_state ${s} is not an x86 multiprocessing state`);
  }
  if (s === KVM_MP_STATE.SIPI_RECEIVED) {
    v.mp = KVM_MP_STATE.INIT_RECEIVED;
    latch.pending = true;
  } else {
    v.mp = s;
  }
}
