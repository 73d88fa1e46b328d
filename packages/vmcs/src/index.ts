/**
 * @hvsim/vmcs: Intel VMX: the VMCS, VMX instructions, VM-entry checks, exits and APIC virtualization.
 *
 * @packageDocumentation
 */
export {};
