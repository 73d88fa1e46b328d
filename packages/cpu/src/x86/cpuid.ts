/**
 * The CPUID leaves a guest kernel reads at boot (SDM 2A "CPUID"), as this
 * model answers them natively. A VMM replaces them (KVM_SET_CPUID2) with the
 * `cpuid` option of the CPU.
 */

/** The four registers CPUID returns. */
export interface CpuidResult {
  /** EAX after CPUID (a 32-bit unsigned number). */
  eax: number;
  /** EBX after CPUID. */
  ebx: number;
  /** ECX after CPUID. */
  ecx: number;
  /** EDX after CPUID. */
  edx: number;
}

/** Answers CPUID `leaf`/`subleaf` into `out`. */
export type CpuidFunction = (leaf: number, subleaf: number, out: CpuidResult) => void;

/** "GenuineIntel" as EBX, EDX, ECX (SDM 2A CPUID leaf 0). */
const VENDOR = [0x756e_6547, 0x4965_6e69, 0x6c65_746e] as const;

/** CPUID.01H:ECX and EDX feature bits this model implements (SDM 2A Tables 3-10, 3-11). */
export const CPUID_FEATURE = {
  /** ECX bit 21: x2APIC. */
  ECX_X2APIC: 1 << 21,
  /** ECX bit 24: TSC deadline. */
  ECX_TSC_DEADLINE: 1 << 24,
  /** ECX bit 31: running under a hypervisor (0 natively). Value `0x80000000`. */
  ECX_HYPERVISOR: 0x8000_0000,
  /** EDX bit 4: TSC. */
  EDX_TSC: 1 << 4,
  /** EDX bit 5: RDMSR/WRMSR. */
  EDX_MSR: 1 << 5,
  /** EDX bit 6: PAE. */
  EDX_PAE: 1 << 6,
  /** EDX bit 9: on-chip APIC. */
  EDX_APIC: 1 << 9,
  /** EDX bit 13: PGE. */
  EDX_PGE: 1 << 13,
} as const;

/**
 * The default native CPUID: GenuineIntel, family 6, the features above with
 * the initial APIC ID in CPUID.01H:EBX[31:24] and the x2APIC ID in leaf 0BH;
 * leaves beyond the maximum return zeros (this model's choice; real
 * processors return the highest basic leaf's data, SDM 2A CPUID).
 */
export function defaultCpuid(apicId: number): CpuidFunction {
  return (leaf, subleaf, out) => {
    out.eax = 0;
    out.ebx = 0;
    out.ecx = 0;
    out.edx = 0;
    switch (leaf) {
      case 0:
        out.eax = 0xb;
        out.ebx = VENDOR[0];
        out.edx = VENDOR[1];
        out.ecx = VENDOR[2];
        return;
      case 1:
        // Family 6, model 0x55, stepping 4 (Skylake-SP); initial APIC ID in EBX[31:24], CLFLUSH 8 lines.
        out.eax = 0x0005_0654;
        out.ebx = (((apicId & 0xff) << 24) | (1 << 16) | (8 << 8)) >>> 0;
        out.ecx = (CPUID_FEATURE.ECX_X2APIC | CPUID_FEATURE.ECX_TSC_DEADLINE) >>> 0;
        out.edx = CPUID_FEATURE.EDX_TSC | CPUID_FEATURE.EDX_MSR | CPUID_FEATURE.EDX_PAE | CPUID_FEATURE.EDX_APIC | CPUID_FEATURE.EDX_PGE;
        return;
      case 0xb:
        // Extended topology: one thread per core, one core per package (SDM 2A CPUID leaf 0BH).
        out.edx = apicId >>> 0;
        out.ecx = subleaf & 0xff;
        if (subleaf === 0) {
          out.eax = 0;
          out.ebx = 1;
          out.ecx |= 1 << 8;
        } else if (subleaf === 1) {
          out.eax = 0;
          out.ebx = 1;
          out.ecx |= 2 << 8;
        }
        return;
      default:
    }
  };
}
