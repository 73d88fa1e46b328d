/**
 * Basic exit reasons (SDM 3C Appendix C "VMX Basic Exit Reasons") and the
 * flag bits of the 32-bit exit-reason field (SDM 3C "Basic VM-Exit
 * Information").
 */

/** Basic exit reasons (exit reason bits 15:0). */
export const EXIT_REASON = {
  EXCEPTION_NMI: 0,
  EXTERNAL_INTERRUPT: 1,
  TRIPLE_FAULT: 2,
  INIT_SIGNAL: 3,
  SIPI: 4,
  IO_SMI: 5,
  OTHER_SMI: 6,
  INTERRUPT_WINDOW: 7,
  NMI_WINDOW: 8,
  TASK_SWITCH: 9,
  CPUID: 10,
  GETSEC: 11,
  HLT: 12,
  INVD: 13,
  INVLPG: 14,
  RDPMC: 15,
  RDTSC: 16,
  RSM: 17,
  VMCALL: 18,
  VMCLEAR: 19,
  VMLAUNCH: 20,
  VMPTRLD: 21,
  VMPTRST: 22,
  VMREAD: 23,
  VMRESUME: 24,
  VMWRITE: 25,
  VMXOFF: 26,
  VMXON: 27,
  CR_ACCESS: 28,
  DR_ACCESS: 29,
  IO_INSTRUCTION: 30,
  MSR_READ: 31,
  MSR_WRITE: 32,
  INVALID_GUEST_STATE: 33,
  MSR_LOADING: 34,
  MWAIT_INSTRUCTION: 36,
  MONITOR_TRAP_FLAG: 37,
  MONITOR_INSTRUCTION: 39,
  PAUSE_INSTRUCTION: 40,
  MCE_DURING_VMENTRY: 41,
  TPR_BELOW_THRESHOLD: 43,
  APIC_ACCESS: 44,
  EOI_INDUCED: 45,
  GDTR_IDTR: 46,
  LDTR_TR: 47,
  EPT_VIOLATION: 48,
  EPT_MISCONFIG: 49,
  INVEPT: 50,
  RDTSCP: 51,
  PREEMPTION_TIMER: 52,
  INVVPID: 53,
  WBINVD: 54,
  XSETBV: 55,
  APIC_WRITE: 56,
  RDRAND: 57,
  INVPCID: 58,
  VMFUNC: 59,
  ENCLS: 60,
  RDSEED: 61,
  PML_FULL: 62,
  XSAVES: 63,
  XRSTORS: 64,
  PCONFIG: 65,
  SPP_EVENT: 66,
  UMWAIT: 67,
  TPAUSE: 68,
  LOADIWKEY: 69,
  ENCLV: 70,
  ENQCMD_PASID_FAILURE: 72,
  ENQCMDS_PASID_FAILURE: 73,
  BUS_LOCK: 74,
  INSTRUCTION_TIMEOUT: 75,
  SEAMCALL: 76,
  TDCALL: 77,
  RDMSRLIST: 78,
  WRMSRLIST: 79,
} as const;

/** Name of a basic exit reason. */
export type ExitReasonName = keyof typeof EXIT_REASON;

/** Flag bits of the 32-bit exit-reason field. */
export const EXIT_REASON_FLAG = {
  ENCLAVE_MODE: 1 << 27,
  PENDING_MTF: 1 << 28,
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
