/**
 * The split irqchip (api.rst 7.8 KVM_CAP_SPLIT_IRQCHIP, 5 KVM_EXIT_IOAPIC_EOI;
 * Linux arch/x86/kvm/x86.c `kvm_vm_ioctl_enable_cap`, irq_comm.c
 * `kvm_scan_ioapic_routes`, lapic.c `kvm_ioapic_send_eoi`).
 *
 * The local APICs stay in the kernel; the PIC and IOAPIC are the VMM's,
 * which sends the IOAPIC's interrupts as MSIs (KVM_SIGNAL_MSI, or the MSI
 * routes of the first `args[0]` GSIs, reserved for it). When the guest EOIs
 * a vector that a level-triggered MSI route of a reserved GSI sends to its
 * APIC, the vCPU exits with KVM_EXIT_IOAPIC_EOI and the vector, so the
 * VMM's IOAPIC can clear Remote IRR.
 */
import { matchesDestination, type LocalApic } from '@hvsim/lapic';
import { KVM_IRQ_ROUTING, KVM_MAX_IRQ_ROUTES } from '../generic/constants.js';
import { fail, u32 } from '../generic/errors.js';
import type { KvmIrqRoutingEntry } from '../generic/routing.js';

/** MAX_NR_RESERVED_IOAPIC_PINS (= KVM_MAX_IRQ_ROUTES). */
export const MAX_NR_RESERVED_IOAPIC_PINS = KVM_MAX_IRQ_ROUTES;

/** MSI data bit 15: level-triggered (SDM 3A 11.11.2). */
const MSI_DATA_LEVEL = 1 << 15;

/**
 * KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP)'s checks: `args[0]` (the GSIs
 * reserved for the userspace IOAPIC) at most MAX_NR_RESERVED_IOAPIC_PINS
 * (EINVAL); no irqchip yet, full or split, and no vCPU (EEXIST). Returns
 * `args[0]`.
 */
export function checkSplitIrqchip(args: readonly unknown[], irqchipInKernel: boolean, vcpus: number): number {
  const pins = u32(args[0] ?? 0, 'args[0]');
  if (pins > MAX_NR_RESERVED_IOAPIC_PINS) fail('EINVAL', `args[0] ${pins} reserves more than MAX_NR_RESERVED_IOAPIC_PINS (${MAX_NR_RESERVED_IOAPIC_PINS}) IOAPIC routes`);
  if (irqchipInKernel) fail('EEXIST', 'KVM_CAP_SPLIT_IRQCHIP: the VM already has an in-kernel irqchip');
  if (vcpus > 0) fail('EEXIST', 'KVM_CAP_SPLIT_IRQCHIP must be enabled before KVM_CREATE_VCPU');
  return pins;
}

/**
 * kvm_scan_ioapic_routes, asked for one vector at the EOI (KVM_REQ_SCAN_IOAPIC
 * made lazy): does an MSI route of a reserved GSI send `vector`,
 * level-triggered, to this APIC (kvm_apic_match_dest)?
 */
export function ioapicHandlesVector(routes: readonly KvmIrqRoutingEntry[], reservedPins: number, apic: LocalApic, vector: number): boolean {
  for (const r of routes) {
    if (r.type !== KVM_IRQ_ROUTING.MSI || r.gsi >= reservedPins) continue;
    const { addressLo, data } = r.msi;
    if ((data & 0xff) !== vector || (data & MSI_DATA_LEVEL) === 0) continue;
    if (matchesDestination(apic, (addressLo >>> 12) & 0xff, (addressLo & 0x4) !== 0, false)) return true;
  }
  return false;
}
