/**
 * @hvsim/lapic: x86 local APIC (xAPIC and x2APIC), IOAPIC, APIC bus and MSI formats.
 *
 * @packageDocumentation
 */
export {};
