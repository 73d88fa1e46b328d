/**
 * The interrupt-delivery modes this increment runs, each a configuration of
 * the real models: `native` is the kernel on bare X86Cpus and LAPICs; the
 * others are KVM VMs whose in-kernel LAPIC reaches the guest emulated (xAPIC
 * page or x2APIC MSRs) or with APICv, and whose assigned NIC's interrupts
 * go through the host (remapped, eventfd, irqfd), are posted by VT-d, or
 * reach the guest directly through ELI's shadow IDT.
 */
import type { BootParams } from '../guest/loader.js';
import type { SimProfile } from '../profiles.js';
import { vmmHost } from '../vmm/vmm.js';
import type { SimHost } from './host.js';
import { nativeHost } from './native.js';

/** The x86 modes, in the order reports show them. */
export const X86_MODES = ['native', 'emulated', 'x2apic', 'apicv', 'eli', 'posted'] as const;
/** An x86 mode. */
export type X86Mode = (typeof X86_MODES)[number];

/** One line per mode for `--help` and the README. */
export const MODE_HELP: Record<X86Mode, string> = {
  native: 'no virtualization: the kernel on X86Cpus and LAPICs (the baseline)',
  emulated: 'KVM, in-kernel LAPIC emulated, xAPIC guest: injection at VM entry, every EOI exits (EPT misconfiguration)',
  x2apic: 'KVM, in-kernel LAPIC emulated, x2APIC guest: every EOI exits (MSR_WRITE)',
  apicv: 'KVM with APICv: posted interrupts, virtual-interrupt delivery, virtualized EOI; the assigned NIC\'s MSIs through the host',
  eli: 'KVM, LAPIC emulated, x2APIC guest, ELI: the assigned NIC\'s vector through a shadow IDT and its EOI passed through, no exit',
  posted: 'KVM with APICv and VT-d posting: the assigned NIC\'s MSIs posted by the IOMMU (IRQ bypass), no host involvement',
};

/** Builds the host of `mode`. */
export function buildHost(mode: X86Mode, options: { cpus: number; profile: SimProfile; boot: BootParams; quantum: number; irqchip?: 'kernel' | 'split'; mmu?: 'ept' | 'shadow' }): SimHost {
  switch (mode) {
    case 'native':
      return nativeHost({ cpus: options.cpus, profile: options.profile, boot: options.boot, quantum: options.quantum, x2apic: false });
    case 'emulated':
      return vmmHost({ ...options, x2apic: false, delivery: 'emulated', posting: false });
    case 'x2apic':
      return vmmHost({ ...options, x2apic: true, delivery: 'emulated', posting: false });
    case 'apicv':
      return vmmHost({ ...options, x2apic: false, delivery: 'apicv', posting: false });
    case 'eli':
      return vmmHost({ ...options, x2apic: true, delivery: 'eli', posting: true });
    case 'posted':
      return vmmHost({ ...options, x2apic: false, delivery: 'apicv', posting: true });
  }
}
