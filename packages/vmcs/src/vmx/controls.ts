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
  /** Bit 0: external-interrupt exiting. */
  EXT_INTR_EXITING: 1 << 0,
  /** Bit 3: NMI exiting. */
  NMI_EXITING: 1 << 3,
  /** Bit 5: virtual NMIs. */
  VIRTUAL_NMIS: 1 << 5,
  /** Bit 6: activate VMX-preemption timer. */
  ACTIVATE_PREEMPTION_TIMER: 1 << 6,
  /** Bit 7: process posted interrupts. */
  PROCESS_POSTED_INTERRUPTS: 1 << 7,
} as const;

/** Primary processor-based VM-execution controls (SDM 3C Table "Definitions of Primary Processor-Based VM-Execution Controls"). */
export const CPU_BASED = {
  /** Bit 2: interrupt-window exiting. */
  INTR_WINDOW_EXITING: 1 << 2,
  /** Bit 3: use TSC offsetting. */
  USE_TSC_OFFSETTING: 1 << 3,
  /** Bit 7: HLT exiting. */
  HLT_EXITING: 1 << 7,
  /** Bit 9: INVLPG exiting. */
  INVLPG_EXITING: 1 << 9,
  /** Bit 10: MWAIT exiting. */
  MWAIT_EXITING: 1 << 10,
  /** Bit 11: RDPMC exiting. */
  RDPMC_EXITING: 1 << 11,
  /** Bit 12: RDTSC exiting. */
  RDTSC_EXITING: 1 << 12,
  /** Bit 15: CR3-load exiting. */
  CR3_LOAD_EXITING: 1 << 15,
  /** Bit 16: CR3-store exiting. */
  CR3_STORE_EXITING: 1 << 16,
  /** Bit 17: activate tertiary controls. */
  ACTIVATE_TERTIARY_CONTROLS: 1 << 17,
  /** Bit 19: CR8-load exiting. */
  CR8_LOAD_EXITING: 1 << 19,
  /** Bit 20: CR8-store exiting. */
  CR8_STORE_EXITING: 1 << 20,
  /** Bit 21: use TPR shadow. */
  USE_TPR_SHADOW: 1 << 21,
  /** Bit 22: NMI-window exiting. */
  NMI_WINDOW_EXITING: 1 << 22,
  /** Bit 23: MOV-DR exiting. */
  MOV_DR_EXITING: 1 << 23,
  /** Bit 24: unconditional I/O exiting. */
  UNCOND_IO_EXITING: 1 << 24,
  /** Bit 25: use I/O bitmaps. */
  USE_IO_BITMAPS: 1 << 25,
  /** Bit 27: monitor trap flag. */
  MONITOR_TRAP_FLAG: 1 << 27,
  /** Bit 28: use MSR bitmaps. */
  USE_MSR_BITMAPS: 1 << 28,
  /** Bit 29: MONITOR exiting. */
  MONITOR_EXITING: 1 << 29,
  /** Bit 30: PAUSE exiting. */
  PAUSE_EXITING: 1 << 30,
  /** Bit 31: activate secondary controls. */
  ACTIVATE_SECONDARY_CONTROLS: 1 << 31,
} as const;

/** Secondary processor-based VM-execution controls (SDM 3C Table "Definitions of Secondary Processor-Based VM-Execution Controls"). */
export const SECONDARY = {
  /** Bit 0: virtualize APIC accesses. */
  VIRTUALIZE_APIC_ACCESSES: 1 << 0,
  /** Bit 1: enable EPT. */
  ENABLE_EPT: 1 << 1,
  /** Bit 2: descriptor-table exiting. */
  DESCRIPTOR_TABLE_EXITING: 1 << 2,
  /** Bit 3: enable RDTSCP. */
  ENABLE_RDTSCP: 1 << 3,
  /** Bit 4: virtualize x2APIC mode. */
  VIRTUALIZE_X2APIC_MODE: 1 << 4,
  /** Bit 5: enable VPID. */
  ENABLE_VPID: 1 << 5,
  /** Bit 6: WBINVD exiting. */
  WBINVD_EXITING: 1 << 6,
  /** Bit 7: unrestricted guest. */
  UNRESTRICTED_GUEST: 1 << 7,
  /** Bit 8: APIC-register virtualization. */
  APIC_REGISTER_VIRTUALIZATION: 1 << 8,
  /** Bit 9: virtual-interrupt delivery. */
  VIRTUAL_INTERRUPT_DELIVERY: 1 << 9,
  /** Bit 10: PAUSE-loop exiting. */
  PAUSE_LOOP_EXITING: 1 << 10,
  /** Bit 11: RDRAND exiting. */
  RDRAND_EXITING: 1 << 11,
  /** Bit 12: enable INVPCID. */
  ENABLE_INVPCID: 1 << 12,
  /** Bit 13: enable VM functions. */
  ENABLE_VM_FUNCTIONS: 1 << 13,
  /** Bit 14: VMCS shadowing. */
  VMCS_SHADOWING: 1 << 14,
  /** Bit 15: enable ENCLS exiting. */
  ENABLE_ENCLS_EXITING: 1 << 15,
  /** Bit 16: RDSEED exiting. */
  RDSEED_EXITING: 1 << 16,
  /** Bit 17: enable PML. */
  ENABLE_PML: 1 << 17,
  /** Bit 18: EPT-violation #VE. */
  EPT_VIOLATION_VE: 1 << 18,
  /** Bit 19: conceal VMX from PT. */
  CONCEAL_VMX_FROM_PT: 1 << 19,
  /** Bit 20: enable XSAVES/XRSTORS. */
  ENABLE_XSAVES: 1 << 20,
  /** Bit 22: mode-based execute control for EPT. */
  MODE_BASED_EPT_EXEC: 1 << 22,
  /** Bit 23: sub-page write permissions for EPT. */
  SUB_PAGE_WRITE_PERMISSIONS: 1 << 23,
  /** Bit 25: use TSC scaling. */
  USE_TSC_SCALING: 1 << 25,
} as const;

/** Tertiary processor-based VM-execution controls (64-bit; SDM 3C). */
export const TERTIARY = {
  /** Bit 0: LOADIWKEY exiting. */
  LOADIWKEY_EXITING: 1 << 0,
  /** Bit 1: enable HLAT. */
  ENABLE_HLAT: 1 << 1,
  /** Bit 4: IPI virtualization. */
  IPI_VIRTUALIZATION: 1 << 4,
} as const;

/** Primary VM-exit controls (SDM 3C Table "Definitions of Primary VM-Exit Controls"). */
export const VM_EXIT = {
  /** Bit 2: save debug controls. */
  SAVE_DEBUG_CONTROLS: 1 << 2,
  /** Bit 9: host address-space size (64-bit host). */
  HOST_ADDRESS_SPACE_SIZE: 1 << 9,
  /** Bit 12: load IA32_PERF_GLOBAL_CTRL. */
  LOAD_IA32_PERF_GLOBAL_CTRL: 1 << 12,
  /** Bit 15: acknowledge interrupt on exit. */
  ACK_INTR_ON_EXIT: 1 << 15,
  /** Bit 18: save IA32_PAT. */
  SAVE_IA32_PAT: 1 << 18,
  /** Bit 19: load IA32_PAT. */
  LOAD_IA32_PAT: 1 << 19,
  /** Bit 20: save IA32_EFER. */
  SAVE_IA32_EFER: 1 << 20,
  /** Bit 21: load IA32_EFER. */
  LOAD_IA32_EFER: 1 << 21,
  /** Bit 22: save VMX-preemption timer value. */
  SAVE_PREEMPTION_TIMER: 1 << 22,
  /** Bit 23: clear IA32_BNDCFGS. */
  CLEAR_IA32_BNDCFGS: 1 << 23,
  /** Bit 31: activate secondary controls. */
  ACTIVATE_SECONDARY_CONTROLS: 1 << 31,
} as const;

/** VM-entry controls (SDM 3C Table "Definitions of VM-Entry Controls"). */
export const VM_ENTRY = {
  /** Bit 2: load debug controls. */
  LOAD_DEBUG_CONTROLS: 1 << 2,
  /** Bit 9: IA-32e mode guest. */
  IA32E_MODE_GUEST: 1 << 9,
  /** Bit 10: entry to SMM. */
  ENTRY_TO_SMM: 1 << 10,
  /** Bit 11: deactivate dual-monitor treatment. */
  DEACTIVATE_DUAL_MONITOR: 1 << 11,
  /** Bit 13: load IA32_PERF_GLOBAL_CTRL. */
  LOAD_IA32_PERF_GLOBAL_CTRL: 1 << 13,
  /** Bit 14: load IA32_PAT. */
  LOAD_IA32_PAT: 1 << 14,
  /** Bit 15: load IA32_EFER. */
  LOAD_IA32_EFER: 1 << 15,
  /** Bit 16: load IA32_BNDCFGS. */
  LOAD_IA32_BNDCFGS: 1 << 16,
} as const;

/**
 * Interruption-information format, shared by the VM-entry
 * interruption-information field, the VM-exit interruption information and
 * the IDT-vectoring information (SDM 3C "VM-Entry Controls for Event
 * Injection", "Information for VM Exits Due to Vectored Events").
 */
export const INTR_INFO = {
  /** Bits 7:0: vector of the interrupt or exception. */
  VECTOR: bitRange(7, 0),
  /** Bits 10:8: interruption type, one of {@link INTR_TYPE}. */
  TYPE: bitRange(10, 8),
  /** Bit 11: deliver error code (exception error code pushed). */
  DELIVER_ERROR_CODE: bitFlag(11),
  /** Exit information only: NMI unblocking due to IRET. */
  NMI_UNBLOCKING: bitFlag(12),
  /** Bits 30:12: reserved on VM entry (0). */
  RESERVED: bitRange(30, 12),
  /** Bit 31: valid. */
  VALID: bitFlag(31),
} as const;

/** Bit 31 of an interruption-information field (the mask of {@link INTR_INFO}.VALID, for hot paths). */
export const INTR_INFO_VALID = fieldMask(INTR_INFO.VALID) >>> 0;
/** Bit 11 of an interruption-information field (the mask of {@link INTR_INFO}.DELIVER_ERROR_CODE). */
export const INTR_INFO_DELIVER_CODE = fieldMask(INTR_INFO.DELIVER_ERROR_CODE);

/** Interruption types (bits 10:8). */
export const INTR_TYPE = {
  /** 0: external interrupt. */
  EXTERNAL_INTERRUPT: 0,
  /** 2: non-maskable interrupt. */
  NMI: 2,
  /** 3: hardware exception. */
  HARDWARE_EXCEPTION: 3,
  /** 4: software interrupt (INT n). */
  SOFTWARE_INTERRUPT: 4,
  /** 5: privileged software exception (INT1). */
  PRIVILEGED_SOFTWARE_EXCEPTION: 5,
  /** 6: software exception (INT3, INTO). */
  SOFTWARE_EXCEPTION: 6,
  /** 7: other event (MTF with injection). */
  OTHER_EVENT: 7,
} as const;

/** An interruption type number. */
export type IntrType = (typeof INTR_TYPE)[keyof typeof INTR_TYPE];

/** Guest interruptibility state bits (SDM 3C Table "Format of Interruptibility State"). */
export const INTERRUPTIBILITY = {
  /** Bit 0: blocking by STI. */
  BLOCKING_BY_STI: 1 << 0,
  /** Bit 1: blocking by MOV SS. */
  BLOCKING_BY_MOV_SS: 1 << 1,
  /** Bit 2: blocking by SMI. */
  BLOCKING_BY_SMI: 1 << 2,
  /** Bit 3: blocking by NMI. */
  BLOCKING_BY_NMI: 1 << 3,
  /** Bit 4: enclave interruption. */
  ENCLAVE_INTERRUPTION: 1 << 4,
} as const;

/** Guest activity states (SDM 3C "Guest Non-Register State"). */
export const ACTIVITY_STATE = {
  /** 0: active. */
  ACTIVE: 0,
  /** 1: HLT. */
  HLT: 1,
  /** 2: shutdown (after a triple fault). */
  SHUTDOWN: 2,
  /** 3: wait-for-SIPI. */
  WAIT_FOR_SIPI: 3,
} as const;

/** Guest interrupt status (16-bit): RVI in bits 7:0, SVI in bits 15:8 (SDM 3C "Guest Non-Register State"). */
export const GUEST_INTR_STATUS_FIELD = {
  /** Bits 7:0, RVI: requesting virtual interrupt. */
  RVI: bitRange(7,
  0),
  /** Bits 15:8, SVI: servicing virtual interrupt. */
  SVI: bitRange(15,
  8),
} as const;

/** RFLAGS bits the VMX model uses (SDM 1 "EFLAGS Register"). */
export const RFLAGS = { CF: 1 << 0, FIXED1: 1 << 1, PF: 1 << 2, AF: 1 << 4, ZF: 1 << 6, SF: 1 << 7, TF: 1 << 8, IF: 1 << 9, OF: 1 << 11, RF: 1 << 16, VM: 1 << 17 } as const;
