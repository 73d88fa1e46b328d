/**
 * VM-instruction error numbers (SDM 3C "VM Instruction Error Numbers"),
 * stored in the VM-instruction error field by VMfailValid.
 */
export const VM_INSTRUCTION_ERROR = {
  /** 1: VMCALL executed in VMX root operation. */
  VMCALL_IN_VMX_ROOT: 1,
  /** 2: VMCLEAR with invalid physical address. */
  VMCLEAR_INVALID_ADDRESS: 2,
  /** 3: VMCLEAR with VMXON pointer. */
  VMCLEAR_VMXON_POINTER: 3,
  /** 4: VMLAUNCH with non-clear VMCS. */
  VMLAUNCH_NONCLEAR_VMCS: 4,
  /** 5: VMRESUME with non-launched VMCS. */
  VMRESUME_NONLAUNCHED_VMCS: 5,
  /** 6: VMRESUME after VMXOFF. */
  VMRESUME_AFTER_VMXOFF: 6,
  /** 7: VM entry with invalid control field(s). */
  ENTRY_INVALID_CONTROL_FIELD: 7,
  /** 8: VM entry with invalid host-state field(s). */
  ENTRY_INVALID_HOST_STATE_FIELD: 8,
  /** 9: VMPTRLD with invalid physical address. */
  VMPTRLD_INVALID_ADDRESS: 9,
  /** 10: VMPTRLD with VMXON pointer. */
  VMPTRLD_VMXON_POINTER: 10,
  /** 11: VMPTRLD with incorrect VMCS revision identifier. */
  VMPTRLD_INCORRECT_REVISION_ID: 11,
  /** 12: VMREAD/VMWRITE from/to unsupported VMCS component. */
  UNSUPPORTED_VMCS_COMPONENT: 12,
  /** 13: VMWRITE to read-only VMCS component. */
  VMWRITE_READ_ONLY_COMPONENT: 13,
  /** 15: VMXON executed in VMX root operation. */
  VMXON_IN_VMX_ROOT: 15,
  /** 16: VM entry with invalid executive-VMCS pointer. */
  ENTRY_INVALID_EXECUTIVE_VMCS_POINTER: 16,
  /** 17: VM entry with non-launched executive VMCS. */
  ENTRY_NONLAUNCHED_EXECUTIVE_VMCS: 17,
  /** 18: VM entry with executive-VMCS pointer not VMXON pointer. */
  ENTRY_EXECUTIVE_VMCS_POINTER_NOT_VMXON: 18,
  /** 19: VMCALL with non-clear VMCS. */
  VMCALL_NONCLEAR_VMCS: 19,
  /** 20: VMCALL with invalid VM-exit control fields. */
  VMCALL_INVALID_VM_EXIT_CONTROL_FIELDS: 20,
  /** 22: VMCALL with incorrect MSEG revision identifier. */
  VMCALL_INCORRECT_MSEG_REVISION_ID: 22,
  /** 23: VMXOFF under dual-monitor treatment of SMIs and SMM. */
  VMXOFF_UNDER_DUAL_MONITOR: 23,
  /** 24: VMCALL with invalid SMM-monitor features. */
  VMCALL_INVALID_SMM_MONITOR_FEATURES: 24,
  /** 25: VM entry with invalid VM-execution control fields in executive VMCS. */
  ENTRY_INVALID_VM_EXECUTION_CONTROL_IN_EXECUTIVE_VMCS: 25,
  /** 26: VM entry with events blocked by MOV SS. */
  ENTRY_EVENTS_BLOCKED_BY_MOV_SS: 26,
  /** 28: invalid operand to INVEPT/INVVPID. */
  INVALID_OPERAND_TO_INVEPT_INVVPID: 28,
} as const;

/** Name of a VM-instruction error. */
export type VmInstructionErrorName = keyof typeof VM_INSTRUCTION_ERROR;
