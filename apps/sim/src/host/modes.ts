/**
 * The interrupt-delivery modes this increment runs, each a configuration of
 * the real models: `native` is the kernel on bare X86Cpus and LAPICs; the
 * others are KVM VMs whose in-kernel LAPIC reaches the guest emulated (xAPIC
 * page or x2APIC MSRs) or with APICv.
 */
import type { BootParams } from '../guest/loader.js';
import type { SimProfile } from '../profiles.js';
import { vmmHost } from '../vmm/vmm.js';
import type { SimHost } from './host.js';
import { nativeHost } from './native.js';

/** The x86 modes, in the order reports show them. */
export const X86_MODES = ['native', 'emulated', 'x2apic', 'apicv'] as const;
/** An x86 mode. */
export type X86Mode = (typeof X86_MODES)[number];

/** One line per mode for `--help` and the README. */
export const MODE_HELP: Record<X86Mode, string> = {
  native: 'no virtualization: the kernel on X86Cpus and LAPICs (the baseline)',
  emulated: 'KVM, in-kernel LAPIC emulated, xAPIC guest: injection at VM entry, every EOI exits (EPT misconfiguration)',
  x2apic: 'KVM, in-kernel LAPIC emulated, x2APIC guest: every EOI exits (MSR_WRITE)',
  apicv: 'KVM with APICv: posted interrupts, virtual-interrupt delivery, virtualized EOI',
};

/** Builds the host of `mode`. */
export function buildHost(mode: X86Mode, options: { cpus: number; profile: SimProfile; boot: BootParams; quantum: number }): SimHost {
  switch (mode) {
    case 'native':
      return nativeHost({ ...options, x2apic: false });
    case 'emulated':
      return vmmHost({ ...options, x2apic: false, delivery: 'emulated' });
    case 'x2apic':
      return vmmHost({ ...options, x2apic: true, delivery: 'emulated' });
    case 'apicv':
      return vmmHost({ ...options, x2apic: false, delivery: 'apicv' });
  }
}
