/**
 * AArch64 system registers by MRS/MSR encoding (Arm ARM C5.3, the
 * "Accessing" section of each register page in D19): the registers the
 * processor model owns, and name lookup across those, the GICv3 CPU
 * interface's (IHI0069 12.1.6) and the generic timer's (D11.2). An encoding
 * is `op0 << 14 | op1 << 11 | CRn << 7 | CRm << 3 | op2`, as `@hvsim/gic`'s
 * `sysregEncoding` (and Linux's `sys_reg()`) pack it.
 */
import { UsageError, describeValue } from '@hvsim/core';
import { GICV3_SYSREGS, TIMER_SYSREGS, sysregEncoding } from '@hvsim/gic';

/** The MRS/MSR encoding of (op0, op1, CRn, CRm, op2) as one 16-bit number. */
export function arm64SysregEncoding(op0: number, op1: number, crn: number, crm: number, op2: number): number {
  for (const [v, max, what] of [[op0, 3, 'op0'], [op1, 7, 'op1'], [crn, 15, 'CRn'], [crm, 15, 'CRm'], [op2, 7, 'op2']] as const) {
    if (!Number.isInteger(v) || v < 0 || v > max) throw new UsageError('bad-argument', `system register ${what} must be an integer in [0, ${max}], got ${describeValue(v)}`);
  }
  return sysregEncoding(op0, op1, crn, crm, op2);
}

/** Encodings of the system registers `Arm64Cpu` itself holds (register pages of Arm ARM D19). */
export const ARM64_SYSREG = {
  /** Main ID register (read-only). */
  MIDR_EL1: sysregEncoding(3, 0, 0, 0, 0),
  /** Multiprocessor affinity register (read-only): Aff0 is the CPU number. */
  MPIDR_EL1: sysregEncoding(3, 0, 0, 0, 5),
  /** Memory model feature register 0 (read-only): PARange, granules. */
  ID_AA64MMFR0_EL1: sysregEncoding(3, 0, 0, 7, 0),
  /** System control register: M (bit 0) enables stage 1 translation. */
  SCTLR_EL1: sysregEncoding(3, 0, 1, 0, 0),
  /** Translation table base for the lower VA range. */
  TTBR0_EL1: sysregEncoding(3, 0, 2, 0, 0),
  /** Translation table base for the upper VA range. */
  TTBR1_EL1: sysregEncoding(3, 0, 2, 0, 1),
  /** Translation control: T0SZ/T1SZ, granules, IPS. */
  TCR_EL1: sysregEncoding(3, 0, 2, 0, 2),
  /** PSTATE saved on an exception taken to EL1. */
  SPSR_EL1: sysregEncoding(3, 0, 4, 0, 0),
  /** Return address of an exception taken to EL1. */
  ELR_EL1: sysregEncoding(3, 0, 4, 0, 1),
  /** The EL0 stack pointer. */
  SP_EL0: sysregEncoding(3, 0, 4, 1, 0),
  /** Stack pointer select: 0 SP_EL0, 1 SP_ELx (name `SPSel` too). */
  SPSEL: sysregEncoding(3, 0, 4, 2, 0),
  /** Current exception level in bits 3:2 (read-only; name `CurrentEL` too). */
  CURRENT_EL: sysregEncoding(3, 0, 4, 2, 2),
  /** Syndrome of an exception taken to EL1. */
  ESR_EL1: sysregEncoding(3, 0, 5, 2, 0),
  /** Faulting virtual address of an abort taken to EL1. */
  FAR_EL1: sysregEncoding(3, 0, 6, 0, 0),
  /** Memory attribute indirection register. */
  MAIR_EL1: sysregEncoding(3, 0, 10, 2, 0),
  /** Vector base address for exceptions taken to EL1 (bits 10:0 RES0). */
  VBAR_EL1: sysregEncoding(3, 0, 12, 0, 0),
  /** Context ID (the OS's process identifier, for debug and trace). */
  CONTEXTIDR_EL1: sysregEncoding(3, 0, 13, 0, 1),
  /** Thread ID register for EL1 software. */
  TPIDR_EL1: sysregEncoding(3, 0, 13, 0, 4),
  /** Condition flags N, Z, C, V in bits 31:28 (EL0-accessible). */
  NZCV: sysregEncoding(3, 3, 4, 2, 0),
  /** Interrupt masks D, A, I, F in bits 9:6. */
  DAIF: sysregEncoding(3, 3, 4, 2, 1),
  /** Thread ID register for EL0 software (EL0-accessible). */
  TPIDR_EL0: sysregEncoding(3, 3, 13, 0, 2),
} as const;

/** A name of a register in {@link ARM64_SYSREG}. */
export type Arm64SysregName = keyof typeof ARM64_SYSREG;

/** Registers an EL0 access may reach (others are UNDEFINED at EL0 in this model; SCTLR_EL1.UMA is not modelled). */
export const EL0_SYSREGS: ReadonlySet<number> = new Set([ARM64_SYSREG.NZCV, ARM64_SYSREG.TPIDR_EL0]);

/** Registers that are read-only (an MSR is UNDEFINED). */
export const READ_ONLY_SYSREGS: ReadonlySet<number> = new Set([ARM64_SYSREG.MIDR_EL1, ARM64_SYSREG.MPIDR_EL1, ARM64_SYSREG.ID_AA64MMFR0_EL1, ARM64_SYSREG.CURRENT_EL]);

const BY_NAME: ReadonlyMap<string, number> = new Map<string, number>([
  ...Object.entries(ARM64_SYSREG),
  ['SPSel', ARM64_SYSREG.SPSEL],
  ['CurrentEL', ARM64_SYSREG.CURRENT_EL],
  ...[...GICV3_SYSREGS.values()].map((i) => [i.name, i.encoding] as [string, number]),
  ...[...TIMER_SYSREGS.values()].map((i) => [i.name, sysregEncoding(i.op0, i.op1, i.crn, i.crm, i.op2)] as [string, number]),
]);

const NAME_OF: ReadonlyMap<number, string> = new Map([...BY_NAME].reverse().map(([n, e]) => [e, n]));

/**
 * The encoding of a system register by its architectural name: the CPU's
 * own ({@link ARM64_SYSREG}), ICC_* / ICV_* / ICH_* (the GIC) and CNT* (the
 * generic timer). An unknown name is a `UsageError` naming it.
 */
export function arm64SysregByName(name: string): number {
  const e = BY_NAME.get(name);
  if (e === undefined) throw new UsageError('unknown-name', `unknown arm64 system register ${describeValue(name)}`);
  return e;
}

/** The name of a system register encoding, or `S<op0>_<op1>_C<n>_C<m>_<op2>` (the assembler's generic form). */
export function arm64SysregName(encoding: number): string {
  return NAME_OF.get(encoding) ?? `S${(encoding >>> 14) & 3}_${(encoding >>> 11) & 7}_C${(encoding >>> 7) & 15}_C${(encoding >>> 3) & 15}_${encoding & 7}`;
}
