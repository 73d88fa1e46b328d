/**
 * The parts of an x86 vCPU's `vcpu->arch` that NMIs, INIT/SIPI, the MSRs
 * and the split irqchip add (Linux arch/x86/include/asm/kvm_host.h
 * `struct kvm_vcpu_arch`: nmi_queued, nmi_pending, apic->pending_events and
 * sipi_vector, the MSR values, pending_ioapic_eoi). The run loop reaches
 * them through `arch-events.ts`.
 */
import { PENDING_SIGNAL, type LocalApic } from '@hvsim/lapic';
import { PIN_BASED, SECONDARY, VMCS_FIELD, type VmxProcessor } from '@hvsim/vmcs';
import { SipiLatch } from './mp-state.js';
import { X86MsrStore, type TscPort } from './msrs.js';
import { NmiQueue } from './vcpu-events.js';

/** NMIs, the SIPI latch, the MSRs and the IOAPIC EOI exit of one vCPU. */
export class VcpuArch {
  /** nmi_queued / nmi_pending. */
  readonly nmi = new NmiQueue();
  /** The latched SIPI and its vector. */
  readonly sipi = new SipiLatch();
  /** The MSRs userspace reads and writes. */
  readonly msrs: X86MsrStore;
  /** vcpu->arch.pending_ioapic_eoi: a vector whose EOI the userspace IOAPIC must see (KVM_EXIT_IOAPIC_EOI), or -1. */
  pendingIoapicEoi = -1;
  /** vcpu->arch.pending_external_vector: KVM_INTERRUPT's vector with the split irqchip (the userspace PIC's ExtINT), or -1. */
  externalVector = -1;

  constructor(apic: LocalApic | undefined, tsc?: TscPort) {
    this.msrs = new X86MsrStore(apic, tsc);
  }

  /**
   * The in-kernel LAPIC signalled the processor (its `onInterrupt`): an NMI
   * it accepted is queued here at once, as __apic_accept_irq's
   * `kvm_inject_nmi` does, so back-to-back NMIs are counted, not merged.
   */
  apicSignalled(apic: LocalApic): void {
    if ((apic.pendingSignals & PENDING_SIGNAL.NMI) !== 0 && apic.takeNmi()) this.nmi.queue();
  }
}

/**
 * The VMCS controls NMIs and INIT/SIPI need, in every interrupt-delivery
 * mode (vmx.c with enable_vnmi and enable_unrestricted_guest): NMI exiting
 * with virtual NMIs (virtual-NMI blocking, NMI-window exiting) and
 * unrestricted guest (a vCPU started by SIPI runs in real mode).
 */
export function enableArchControls(vmx: VmxProcessor): void {
  const pin = vmx.vmreadNumber(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL);
  vmx.vmwrite32(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL, (pin | PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS) >>> 0);
  const proc2 = vmx.vmreadNumber(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL);
  vmx.vmwrite32(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL, (proc2 | SECONDARY.UNRESTRICTED_GUEST) >>> 0);
}
