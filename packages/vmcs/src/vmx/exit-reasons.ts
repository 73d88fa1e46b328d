/**
 * Basic exit reasons (SDM 3C Appendix C "VMX Basic Exit Reasons") and the
 * flag bits of the 32-bit exit-reason field (SDM 3C "Basic VM-Exit
 * Information").
 */

/** Basic exit reasons (exit reason bits 15:0). */
export const EXIT_REASON = {
  /** 0: exception or non-maskable interrupt (NMI). */
  EXCEPTION_NMI: 0,
  /** 1: external interrupt. */
  EXTERNAL_INTERRUPT: 1,
  /** 2: triple fault. */
  TRIPLE_FAULT: 2,
  /** 3: INIT signal. */
  INIT_SIGNAL: 3,
  /** 4: start-up IPI (SIPI). */
  SIPI: 4,
  /** 5: I/O system-management interrupt (SMI). */
  IO_SMI: 5,
  /** 6: other SMI. */
  OTHER_SMI: 6,
  /** 7: interrupt window. */
  INTERRUPT_WINDOW: 7,
  /** 8: NMI window. */
  NMI_WINDOW: 8,
  /** 9: task switch. */
  TASK_SWITCH: 9,
  /** 10: CPUID. */
  CPUID: 10,
  /** 11: GETSEC. */
  GETSEC: 11,
  /** 12: HLT. */
  HLT: 12,
  /** 13: INVD. */
  INVD: 13,
  /** 14: INVLPG. */
  INVLPG: 14,
  /** 15: RDPMC. */
  RDPMC: 15,
  /** 16: RDTSC. */
  RDTSC: 16,
  /** 17: RSM in SMM. */
  RSM: 17,
  /** 18: VMCALL. */
  VMCALL: 18,
  /** 19: VMCLEAR. */
  VMCLEAR: 19,
  /** 20: VMLAUNCH. */
  VMLAUNCH: 20,
  /** 21: VMPTRLD. */
  VMPTRLD: 21,
  /** 22: VMPTRST. */
  VMPTRST: 22,
  /** 23: VMREAD. */
  VMREAD: 23,
  /** 24: VMRESUME. */
  VMRESUME: 24,
  /** 25: VMWRITE. */
  VMWRITE: 25,
  /** 26: VMXOFF. */
  VMXOFF: 26,
  /** 27: VMXON. */
  VMXON: 27,
  /** 28: control-register accesses. */
  CR_ACCESS: 28,
  /** 29: MOV DR. */
  DR_ACCESS: 29,
  /** 30: I/O instruction. */
  IO_INSTRUCTION: 30,
  /** 31: RDMSR. */
  MSR_READ: 31,
  /** 32: WRMSR. */
  MSR_WRITE: 32,
  /** 33: VM-entry failure due to invalid guest state. */
  INVALID_GUEST_STATE: 33,
  /** 34: VM-entry failure due to MSR loading. */
  MSR_LOADING: 34,
  /** 36: MWAIT. */
  MWAIT_INSTRUCTION: 36,
  /** 37: monitor trap flag. */
  MONITOR_TRAP_FLAG: 37,
  /** 39: MONITOR. */
  MONITOR_INSTRUCTION: 39,
  /** 40: PAUSE. */
  PAUSE_INSTRUCTION: 40,
  /** 41: VM-entry failure due to machine-check event. */
  MCE_DURING_VMENTRY: 41,
  /** 43: TPR below threshold. */
  TPR_BELOW_THRESHOLD: 43,
  /** 44: APIC access. */
  APIC_ACCESS: 44,
  /** 45: virtualized EOI. */
  EOI_INDUCED: 45,
  /** 46: access to GDTR or IDTR. */
  GDTR_IDTR: 46,
  /** 47: access to LDTR or TR. */
  LDTR_TR: 47,
  /** 48: EPT violation. */
  EPT_VIOLATION: 48,
  /** 49: EPT misconfiguration. */
  EPT_MISCONFIG: 49,
  /** 50: INVEPT. */
  INVEPT: 50,
  /** 51: RDTSCP. */
  RDTSCP: 51,
  /** 52: VMX-preemption timer expired. */
  PREEMPTION_TIMER: 52,
  /** 53: INVVPID. */
  INVVPID: 53,
  /** 54: WBINVD or WBNOINVD. */
  WBINVD: 54,
  /** 55: XSETBV. */
  XSETBV: 55,
  /** 56: APIC write. */
  APIC_WRITE: 56,
  /** 57: RDRAND. */
  RDRAND: 57,
  /** 58: INVPCID. */
  INVPCID: 58,
  /** 59: VMFUNC. */
  VMFUNC: 59,
  /** 60: ENCLS. */
  ENCLS: 60,
  /** 61: RDSEED. */
  RDSEED: 61,
  /** 62: page-modification log full. */
  PML_FULL: 62,
  /** 63: XSAVES. */
  XSAVES: 63,
  /** 64: XRSTORS. */
  XRSTORS: 64,
  /** 65: PCONFIG. */
  PCONFIG: 65,
  /** 66: SPP-related event. */
  SPP_EVENT: 66,
  /** 67: UMWAIT. */
  UMWAIT: 67,
  /** 68: TPAUSE. */
  TPAUSE: 68,
  /** 69: LOADIWKEY. */
  LOADIWKEY: 69,
  /** 70: ENCLV. */
  ENCLV: 70,
  /** 72: ENQCMD PASID translation failure. */
  ENQCMD_PASID_FAILURE: 72,
  /** 73: ENQCMDS PASID translation failure. */
  ENQCMDS_PASID_FAILURE: 73,
  /** 74: bus lock. */
  BUS_LOCK: 74,
  /** 75: instruction timeout. */
  INSTRUCTION_TIMEOUT: 75,
  /** 76: SEAMCALL. */
  SEAMCALL: 76,
  /** 77: TDCALL. */
  TDCALL: 77,
  /** 78: RDMSRLIST. */
  RDMSRLIST: 78,
  /** 79: WRMSRLIST. */
  WRMSRLIST: 79,
} as const;

/** Name of a basic exit reason. */
export type ExitReasonName = keyof typeof EXIT_REASON;

/** Flag bits of the 32-bit exit-reason field. */
export const EXIT_REASON_FLAG = {
  /** Bit 27: the exit came from enclave mode. */
  ENCLAVE_MODE: 1 << 27,
  /** Bit 28: pending MTF VM exit. */
  PENDING_MTF: 1 << 28,
  /** Bit 29: VM exit from VMX root operation (SMM monitor). */
  FROM_VMX_ROOT: 1 << 29,
  /** `0x80000000` */
  VM_ENTRY_FAILURE: 0x8000_0000,
} as const;

const NAMES: string[] = [];
for (const [name, value] of Object.entries(EXIT_REASON)) NAMES[value] = name;

/** Name of basic exit reason `reason` (`'EXTERNAL_INTERRUPT'`), or `'UNKNOWN_<n>'`. */
export function exitReasonName(reason: number): string {
  return NAMES[reason & 0xffff] ?? `UNKNOWN_${reason & 0xffff}`;
}
