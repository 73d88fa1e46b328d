/**
 * Which VMCS fields each group of VM-entry checks reads (vm-entry-checks.ts:
 * "Checks on VMX Controls", "Checks on Host Control Registers ...",
 * "Checks on the Guest State Area"). A VMCS remembers which groups passed;
 * a write to a field clears the groups that read it, so VM entry re-runs a
 * group only after something it depends on changed. Kept beside the VMCS
 * (not in the checks' file) so the VMCS needs nothing from the VM-entry code;
 * vm-entry-checks.test.ts shows that a field outside a group's list cannot
 * change that group's verdict.
 */
import type { VmcsFieldName } from '../fields/field-table.js';

/** Bit of the VM-execution, VM-exit and VM-entry control checks (failure: VM-instruction error 7). */
export const CHECK_CONTROLS = 1;
/** Bit of the host-state checks (failure: VM-instruction error 8). */
export const CHECK_HOST = 2;
/** Bit of the guest-state checks (failure: exit 33). */
export const CHECK_GUEST = 4;
/** All three groups. */
export const CHECK_ALL = CHECK_CONTROLS | CHECK_HOST | CHECK_GUEST;

/** Fields the control checks read (not the event to inject: see {@link INJECTION_FIELDS}). */
export const CONTROL_CHECK_FIELDS: readonly VmcsFieldName[] = [
  'PIN_BASED_VM_EXEC_CONTROL',
  'CPU_BASED_VM_EXEC_CONTROL',
  'SECONDARY_VM_EXEC_CONTROL',
  'VM_EXIT_CONTROLS',
  'VM_ENTRY_CONTROLS',
  'CR3_TARGET_COUNT',
  'IO_BITMAP_A',
  'IO_BITMAP_B',
  'MSR_BITMAP',
  'VIRTUAL_APIC_PAGE_ADDR',
  'TPR_THRESHOLD',
  'APIC_ACCESS_ADDR',
  'POSTED_INTR_NV',
  'POSTED_INTR_DESC_ADDR',
  'VIRTUAL_PROCESSOR_ID',
  'EPT_POINTER',
  'PML_ADDRESS',
  'VM_EXIT_MSR_STORE_ADDR',
  'VM_EXIT_MSR_STORE_COUNT',
  'VM_EXIT_MSR_LOAD_ADDR',
  'VM_EXIT_MSR_LOAD_COUNT',
  'VM_ENTRY_MSR_LOAD_ADDR',
  'VM_ENTRY_MSR_LOAD_COUNT',
];

/**
 * The event to inject (SDM 3C 25.8.3). No cached group reads these fields: the checks on the event
 * (27.2.1.3, 27.3.1.4-5, injection-checks.ts) run at every VM entry that injects one, so writing them (and
 * the valid bit every VM exit clears) neither clears a group nor moves `Vmcs.controlEpoch`.
 */
export const INJECTION_FIELDS: readonly VmcsFieldName[] = ['VM_ENTRY_INTR_INFO_FIELD', 'VM_ENTRY_EXCEPTION_ERROR_CODE', 'VM_ENTRY_INSTRUCTION_LEN'];

/** Fields the host-state checks read (besides the processor's IA32_EFER.LMA, compared at every entry). */
export const HOST_CHECK_FIELDS: readonly VmcsFieldName[] = [
  'VM_EXIT_CONTROLS',
  'VM_ENTRY_CONTROLS',
  'HOST_CR0',
  'HOST_CR3',
  'HOST_CR4',
  'HOST_IA32_SYSENTER_ESP',
  'HOST_IA32_SYSENTER_EIP',
  'HOST_IA32_PAT',
  'HOST_IA32_EFER',
  'HOST_ES_SELECTOR',
  'HOST_CS_SELECTOR',
  'HOST_SS_SELECTOR',
  'HOST_DS_SELECTOR',
  'HOST_FS_SELECTOR',
  'HOST_GS_SELECTOR',
  'HOST_TR_SELECTOR',
  'HOST_FS_BASE',
  'HOST_GS_BASE',
  'HOST_GDTR_BASE',
  'HOST_IDTR_BASE',
  'HOST_TR_BASE',
  'HOST_RIP',
];

/** Fields the guest-state checks read (the VMCS link pointer's target is memory: with a link pointer set the group is never cached). */
export const GUEST_CHECK_FIELDS: readonly VmcsFieldName[] = [
  'PIN_BASED_VM_EXEC_CONTROL',
  'CPU_BASED_VM_EXEC_CONTROL',
  'SECONDARY_VM_EXEC_CONTROL',
  'VM_ENTRY_CONTROLS',
  'GUEST_CR0',
  'GUEST_CR4',
  'GUEST_IA32_DEBUGCTL',
  'GUEST_DR7',
  'GUEST_IA32_PAT',
  'GUEST_IA32_EFER',
  'GUEST_RFLAGS',
  'GUEST_SS_AR_BYTES',
  'GUEST_ACTIVITY_STATE',
  'GUEST_INTERRUPTIBILITY_INFO',
  'GUEST_PENDING_DBG_EXCEPTIONS',
  'VMCS_LINK_POINTER',
];
