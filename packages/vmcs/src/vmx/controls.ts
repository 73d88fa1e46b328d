/**
 * VMX control bits and the formats of the interruption-information,
 * interruptibility-state and activity-state fields (SDM 3C "VM-Execution
 * Control Fields", "VM-Exit Control Fields", "VM-Entry Control Fields",
 * "Guest Non-Register State", "Information for VM Exits Due to Vectored
 * Events"). Masks for one-bit controls, as vmx.h writes them; field
 * descriptors for multi-bit fields.
 */
import { bitFlag, bitRange, fieldMask } from '@hvsim/core';

/** Pin-based VM-execution controls (SDM 3C Table "Definitions of Pin-Based VM-Execution Controls"). */
export const PIN_BASED = {
  EXT_INTR_EXITING: 1 << 0,
  NMI_EXITING: 1 << 3,
  VIRTUAL_NMIS: 1 << 5,
  ACTIVATE_PREEMPTION_TIMER: 1 << 6,
  PROCESS_POSTED_INTERRUPTS: 1 << 7,
} as const;

/** Primary processor-based VM-execution controls (SDM 3C Table "Definitions of Primary Processor-Based VM-Execution Controls"). */
export const CPU_BASED = {
  INTR_WINDOW_EXITING: 1 << 2,
  USE_TSC_OFFSETTING: 1 << 3,
  HLT_EXITING: 1 << 7,
  INVLPG_EXITING: 1 << 9,
  MWAIT_EXITING: 1 << 10,
  RDPMC_EXITING: 1 << 11,
  RDTSC_EXITING: 1 << 12,
  CR3_LOAD_EXITING: 1 << 15,
  CR3_STORE_EXITING: 1 << 16,
  ACTIVATE_TERTIARY_CONTROLS: 1 << 17,
  CR8_LOAD_EXITING: 1 << 19,
  CR8_STORE_EXITING: 1 << 20,
  USE_TPR_SHADOW: 1 << 21,
  NMI_WINDOW_EXITING: 1 << 22,
  MOV_DR_EXITING: 1 << 23,
  UNCOND_IO_EXITING: 1 << 24,
  USE_IO_BITMAPS: 1 << 25,
  MONITOR_TRAP_FLAG: 1 << 27,
  USE_MSR_BITMAPS: 1 << 28,
  MONITOR_EXITING: 1 << 29,
  PAUSE_EXITING: 1 << 30,
  ACTIVATE_SECONDARY_CONTROLS: 1 << 31,
} as const;

/** Secondary processor-based VM-execution controls (SDM 3C Table "Definitions of Secondary Processor-Based VM-Execution Controls"). */
export const SECONDARY = {
  VIRTUALIZE_APIC_ACCESSES: 1 << 0,
  ENABLE_EPT: 1 << 1,
  DESCRIPTOR_TABLE_EXITING: 1 << 2,
  ENABLE_RDTSCP: 1 << 3,
  VIRTUALIZE_X2APIC_MODE: 1 << 4,
  ENABLE_VPID: 1 << 5,
  WBINVD_EXITING: 1 << 6,
  UNRESTRICTED_GUEST: 1 << 7,
  APIC_REGISTER_VIRTUALIZATION: 1 << 8,
  VIRTUAL_INTERRUPT_DELIVERY: 1 << 9,
  PAUSE_LOOP_EXITING: 1 << 10,
  RDRAND_EXITING: 1 << 11,
  ENABLE_INVPCID: 1 << 12,
  ENABLE_VM_FUNCTIONS: 1 << 13,
  VMCS_SHADOWING: 1 << 14,
  ENABLE_ENCLS_EXITING: 1 << 15,
  RDSEED_EXITING: 1 << 16,
  ENABLE_PML: 1 << 17,
  EPT_VIOLATION_VE: 1 << 18,
  CONCEAL_VMX_FROM_PT: 1 << 19,
  ENABLE_XSAVES: 1 << 20,
  MODE_BASED_EPT_EXEC: 1 << 22,
  SUB_PAGE_WRITE_PERMISSIONS: 1 << 23,
  USE_TSC_SCALING: 1 << 25,
} as const;

/** Tertiary processor-based VM-execution controls (64-bit; SDM 3C). */
export const TERTIARY = {
  LOADIWKEY_EXITING: 1 << 0,
  ENABLE_HLAT: 1 << 1,
  IPI_VIRTUALIZATION: 1 << 4,
} as const;

/** Primary VM-exit controls (SDM 3C Table "Definitions of Primary VM-Exit Controls"). */
export const VM_EXIT = {
  SAVE_DEBUG_CONTROLS: 1 << 2,
  HOST_ADDRESS_SPACE_SIZE: 1 << 9,
  LOAD_IA32_PERF_GLOBAL_CTRL: 1 << 12,
  ACK_INTR_ON_EXIT: 1 << 15,
  SAVE_IA32_PAT: 1 << 18,
  LOAD_IA32_PAT: 1 << 19,
  SAVE_IA32_EFER: 1 << 20,
  LOAD_IA32_EFER: 1 << 21,
  SAVE_PREEMPTION_TIMER: 1 << 22,
  CLEAR_IA32_BNDCFGS: 1 << 23,
  ACTIVATE_SECONDARY_CONTROLS: 1 << 31,
} as const;

/** VM-entry controls (SDM 3C Table "Definitions of VM-Entry Controls"). */
export const VM_ENTRY = {
  LOAD_DEBUG_CONTROLS: 1 << 2,
  IA32E_MODE_GUEST: 1 << 9,
  ENTRY_TO_SMM: 1 << 10,
  DEACTIVATE_DUAL_MONITOR: 1 << 11,
  LOAD_IA32_PERF_GLOBAL_CTRL: 1 << 13,
  LOAD_IA32_PAT: 1 << 14,
  LOAD_IA32_EFER: 1 << 15,
  LOAD_IA32_BNDCFGS: 1 << 16,
} as const;

/**
 * Interruption-information format, shared by the VM-entry
 * interruption-information field, the VM-exit interruption information and
 * the IDT-vectoring information (SDM 3C "VM-Entry Controls for Event
 * Injection", "Information for VM Exits Due to Vectored Events").
 */
export const INTR_INFO = {
  VECTOR: bitRange(7, 0),
  TYPE: bitRange(10, 8),
  DELIVER_ERROR_CODE: bitFlag(11),
  /** Exit information only: NMI unblocking due to IRET. */
  NMI_UNBLOCKING: bitFlag(12),
  RESERVED: bitRange(30, 12),
  VALID: bitFlag(31),
} as const;

/** Bit 31 of an interruption-information field (the mask of {@link INTR_INFO}.VALID, for hot paths). */
export const INTR_INFO_VALID = fieldMask(INTR_INFO.VALID) >>> 0;
/** Bit 11 of an interruption-information field (the mask of {@link INTR_INFO}.DELIVER_ERROR_CODE). */
export const INTR_INFO_DELIVER_CODE = fieldMask(INTR_INFO.DELIVER_ERROR_CODE);

/** Interruption types (bits 10:8). */
export const INTR_TYPE = {
  EXTERNAL_INTERRUPT: 0,
  NMI: 2,
  HARDWARE_EXCEPTION: 3,
  SOFTWARE_INTERRUPT: 4,
  PRIVILEGED_SOFTWARE_EXCEPTION: 5,
  SOFTWARE_EXCEPTION: 6,
  OTHER_EVENT: 7,
} as const;

/** An interruption type number. */
export type IntrType = (typeof INTR_TYPE)[keyof typeof INTR_TYPE];

/** Guest interruptibility state bits (SDM 3C Table "Format of Interruptibility State"). */
export const INTERRUPTIBILITY = {
  BLOCKING_BY_STI: 1 << 0,
  BLOCKING_BY_MOV_SS: 1 << 1,
  BLOCKING_BY_SMI: 1 << 2,
  BLOCKING_BY_NMI: 1 << 3,
  ENCLAVE_INTERRUPTION: 1 << 4,
} as const;

/** Guest activity states (SDM 3C "Guest Non-Register State"). */
export const ACTIVITY_STATE = { ACTIVE: 0, HLT: 1, SHUTDOWN: 2, WAIT_FOR_SIPI: 3 } as const;

/** Guest interrupt status (16-bit): RVI in bits 7:0, SVI in bits 15:8 (SDM 3C "Guest Non-Register State"). */
export const GUEST_INTR_STATUS_FIELD = { RVI: bitRange(7, 0), SVI: bitRange(15, 8) } as const;

/** RFLAGS bits the VMX model uses (SDM 1 "EFLAGS Register"). */
export const RFLAGS = { CF: 1 << 0, FIXED1: 1 << 1, PF: 1 << 2, AF: 1 << 4, ZF: 1 << 6, SF: 1 << 7, TF: 1 << 8, IF: 1 << 9, OF: 1 << 11, RF: 1 << 16, VM: 1 << 17 } as const;
