/**
 * Architectural exceptions: what a processor raises when an instruction
 * faults. Models throw these where the CPU itself would fault (a WRMSR to a
 * reserved x2APIC bit raises #GP), never for API misuse.
 */
import { brand, isBranded } from './hvsim-error.js';

/** x86 exception vectors (SDM 3A 6.3.1, "Vectors"). */
export const X86_VECTOR = {
  /** #DE, divide error. */
  DE: 0,
  /** #DB, debug. */
  DB: 1,
  /** NMI, the non-maskable interrupt. */
  NMI: 2,
  /** #BP, breakpoint (INT3). */
  BP: 3,
  /** #OF, overflow (INTO). */
  OF: 4,
  /** #BR, BOUND range exceeded. */
  BR: 5,
  /** #UD, invalid opcode. */
  UD: 6,
  /** #NM, device not available. */
  NM: 7,
  /** #DF, double fault (error code 0). */
  DF: 8,
  /** #TS, invalid TSS (error code). */
  TS: 10,
  /** #NP, segment or gate not present (error code). */
  NP: 11,
  /** #SS, stack-segment fault (error code). */
  SS: 12,
  /** #GP, general protection (error code). */
  GP: 13,
  /** #PF, page fault (error code; CR2 holds the address). */
  PF: 14,
  /** #MF, x87 floating-point error. */
  MF: 16,
  /** #AC, alignment check (error code 0). */
  AC: 17,
  /** #MC, machine check. */
  MC: 18,
  /** #XM, SIMD floating-point exception. */
  XM: 19,
  /** #VE, virtualization exception. */
  VE: 20,
  /** #CP, control-protection exception (error code). */
  CP: 21,
} as const;

/** Name of an x86 exception vector, e.g. `'GP'`. */
export type X86VectorName = keyof typeof X86_VECTOR;

/**
 * AArch64 exception classes as reported in ESR_ELx.EC (Arm ARM D17.2.37).
 * For an Arm exception, {@link CpuException.vector} holds the class.
 */
export const ARM64_EXCEPTION_CLASS = {
  /** `0x00` */
  UNKNOWN: 0x00,
  /** `0x01` */
  WFX: 0x01,
  /** `0x0e` */
  ILLEGAL_STATE: 0x0e,
  /** `0x15` */
  SVC64: 0x15,
  /** `0x16` */
  HVC64: 0x16,
  /** `0x17` */
  SMC64: 0x17,
  /** `0x18` */
  SYS64: 0x18,
  /** `0x20` */
  INSTRUCTION_ABORT_LOWER: 0x20,
  /** `0x21` */
  INSTRUCTION_ABORT_SAME: 0x21,
  /** `0x22` */
  PC_ALIGNMENT: 0x22,
  /** `0x24` */
  DATA_ABORT_LOWER: 0x24,
  /** `0x25` */
  DATA_ABORT_SAME: 0x25,
  /** `0x26` */
  SP_ALIGNMENT: 0x26,
  /** `0x2f` */
  SERROR: 0x2f,
} as const;

/**
 * Offsets of the AArch64 vector table entries (Arm ARM D1.3.1): the base for
 * where the exception is taken from, plus the offset for its type.
 */
export const ARM64_VECTOR_OFFSET = {
  /** `0x000` */
  CURRENT_EL_SP0: 0x000,
  /** `0x200` */
  CURRENT_EL_SPX: 0x200,
  /** `0x400` */
  LOWER_EL_AARCH64: 0x400,
  /** `0x600` */
  LOWER_EL_AARCH32: 0x600,
  /** `0x000` */
  SYNCHRONOUS: 0x000,
  /** `0x080` */
  IRQ: 0x080,
  /** `0x100` */
  FIQ: 0x100,
  /** `0x180` */
  SERROR: 0x180,
} as const;

/** Which architecture an exception belongs to. */
export type CpuArch = 'x86' | 'arm64';

/** Options of a {@link CpuException}. */
export interface CpuExceptionOptions {
  /** Architecture; `'x86'` unless given. */
  arch?: CpuArch;
  /** x86 error code pushed with the exception, or the Arm ESR ISS field. */
  errorCode?: number;
  /** Faulting address: CR2 for a #PF, FAR_ELx for an Arm abort. */
  faultAddress?: number;
  /** Extra words for the message, e.g. which MSR and value. */
  detail?: string;
}

const x86Names: readonly string[] = (() => {
  const names: string[] = [];
  for (const [name, v] of Object.entries(X86_VECTOR)) names[v] = name;
  return names;
})();

/**
 * An architectural fault. `vector` is the x86 vector number (13 for #GP), or
 * for arm64 the ESR exception class.
 */
export class CpuException extends Error {
  /** The architecture whose exception this is. */
  readonly arch: CpuArch;
  /** x86: the exception vector ({@link X86_VECTOR}); Arm: the exception class ({@link ARM64_EXCEPTION_CLASS}). */
  readonly vector: number;
  /** The error code pushed with the exception (x86) or the ISS (Arm), when it has one. */
  readonly errorCode: number | undefined;
  /** The faulting address (CR2 for #PF, FAR_ELx on Arm), when the exception has one. */
  readonly faultAddress: number | undefined;

  constructor(vector: number, options: CpuExceptionOptions = {}) {
    const arch = options.arch ?? 'x86';
    const label = arch === 'x86' ? `#${x86Names[vector] ?? `vector ${vector}`}` : `arm64 EC 0x${vector.toString(16)}`;
    const code = options.errorCode === undefined ? '' : ` (error code 0x${options.errorCode.toString(16)})`;
    const detail = options.detail === undefined ? '' : `: ${options.detail}`;
    super(`${label}${code}${detail}`);
    this.name = 'CpuException';
    this.arch = arch;
    this.vector = vector;
    this.errorCode = options.errorCode;
    this.faultAddress = options.faultAddress;
    brand(this, CpuException);
  }

  /**
   * Whether `value` is a `CpuException`, also when thrown by another copy of
   * `@hvsim/core` (ESM and CJS builds side by side), where `instanceof` says no.
   */
  static is(value: unknown): value is CpuException {
    return isBranded(value, 'CpuException');
  }

  /** #GP with error code 0 (the common case for MSR and APIC faults). */
  static gp(detail?: string, errorCode = 0): CpuException {
    return new CpuException(X86_VECTOR.GP, { errorCode, detail });
  }

  /** #UD, which pushes no error code. */
  static ud(detail?: string): CpuException {
    return new CpuException(X86_VECTOR.UD, { detail });
  }

  /** #PF with its error code and the faulting linear address (CR2). */
  static pf(errorCode: number, faultAddress: number, detail?: string): CpuException {
    return new CpuException(X86_VECTOR.PF, { errorCode, faultAddress, detail });
  }

  /** True when `e` is a CpuException with the given x86 vector. */
  static isVector(e: unknown, vector: number): e is CpuException {
    return e instanceof CpuException && e.arch === 'x86' && e.vector === vector;
  }
}
