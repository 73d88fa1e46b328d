/**
 * Who may access a generic timer register from which Exception level (Arm ARM
 * D11.2 and the "Accessing" pseudocode of
 * each register page): EL0 through CNTKCTL_EL1's EL0 enables (a trap
 * to EL1), EL0 and EL1 through CNTHCTL_EL2's EL1PCTEN / EL1PCEN (a trap to
 * EL2), `*_EL2` registers not below EL2, the counters read-only, and
 * CNTFRQ_EL0 writable only at the highest Exception level.
 *
 * Assumed: EL2 is implemented and enabled, EL3 is not (so EL2 is the highest
 * level), HCR_EL2.TGE is 0 and FEAT_ECV / FEAT_NV are not implemented.
 */
import { ARM64_EXCEPTION_CLASS, CpuException, testField } from '@hvsim/core';
import { CNTHCTL, CNTHCTL_E2H, CNTKCTL } from './regs.js';
import { FIRST_TIMER_SYSREG, TIMER_SYSREG, TIMER_SYSREG_INFO, type TimerSysregId } from './sysregs.js';
import { TIMER } from './regs.js';

/** Outcome of an access check, see {@link checkTimerAccess}. */
export const TIMER_ACCESS = {
  /** The access goes ahead. */
  OK: 0,
  /** Trapped to EL1 (ESR_EL1.EC 0x18) by CNTKCTL_EL1. */
  TRAP_EL1: 1,
  /** Trapped to EL2 (ESR_EL2.EC 0x18) by CNTHCTL_EL2. */
  TRAP_EL2: 2,
  /** UNDEFINED at this level (EC 0x00 to the current or next level). */
  UNDEFINED: 3,
} as const;

/** A value of {@link TIMER_ACCESS}. */
export type TimerAccessOutcome = (typeof TIMER_ACCESS)[keyof typeof TIMER_ACCESS];

/**
 * Decides an MRS (`write` false) or MSR (`write` true) of register `id` at
 * Exception level `el`, given the PE's CNTKCTL_EL1 and CNTHCTL_EL2 and
 * whether HCR_EL2.E2H is 1 (which moves CNTHCTL_EL2's EL1 controls).
 */
export function checkTimerAccess(id: TimerSysregId, write: boolean, el: 0 | 1 | 2, cntkctl: number, cnthctl: number, e2h: boolean): TimerAccessOutcome {
  const info = TIMER_SYSREG_INFO[id]!;
  if (write && info.access === 'RO') return TIMER_ACCESS.UNDEFINED;
  if (el === 2) return TIMER_ACCESS.OK;
  if (info.minEl > el) return TIMER_ACCESS.UNDEFINED;
  if (id === TIMER_SYSREG.CNTFRQ_EL0 && write) return TIMER_ACCESS.UNDEFINED;
  const timer = id >= FIRST_TIMER_SYSREG ? ((id - FIRST_TIMER_SYSREG) / 3) | 0 : -1;
  if (el === 0) {
    let allowed = true;
    if (id === TIMER_SYSREG.CNTFRQ_EL0) allowed = testField(cntkctl, CNTKCTL.EL0PCTEN) || testField(cntkctl, CNTKCTL.EL0VCTEN);
    else if (id === TIMER_SYSREG.CNTPCT_EL0) allowed = testField(cntkctl, CNTKCTL.EL0PCTEN);
    else if (id === TIMER_SYSREG.CNTVCT_EL0) allowed = testField(cntkctl, CNTKCTL.EL0VCTEN);
    else if (timer === TIMER.CNTP) allowed = testField(cntkctl, CNTKCTL.EL0PTEN);
    else if (timer === TIMER.CNTV) allowed = testField(cntkctl, CNTKCTL.EL0VTEN);
    if (!allowed) return TIMER_ACCESS.TRAP_EL1;
  }
  if (id === TIMER_SYSREG.CNTPCT_EL0 && !testField(cnthctl, e2h ? CNTHCTL_E2H.EL1PCTEN : CNTHCTL.EL1PCTEN)) return TIMER_ACCESS.TRAP_EL2;
  if (timer === TIMER.CNTP && !testField(cnthctl, e2h ? CNTHCTL_E2H.EL1PTEN : CNTHCTL.EL1PCEN)) return TIMER_ACCESS.TRAP_EL2;
  return TIMER_ACCESS.OK;
}

/**
 * The ISS of a trapped MRS/MSR (Arm ARM, ESR_ELx register page, ISS encoding for EC
 * 0x18): Op0, Op2, Op1, CRn, CRm and Direction (1 = read). Rt is left 0; the
 * CPU that decoded the instruction fills it in.
 */
export function sysregTrapIss(id: TimerSysregId, write: boolean): number {
  const i = TIMER_SYSREG_INFO[id]!;
  return ((i.op0 << 20) | (i.op2 << 17) | (i.op1 << 14) | (i.crn << 10) | (i.crm << 1) | (write ? 0 : 1)) >>> 0;
}

/** The exception a non-OK outcome raises, for the CPU to take at the level the outcome names. */
export function timerAccessException(outcome: TimerAccessOutcome, id: TimerSysregId, write: boolean, el: number): CpuException {
  const name = TIMER_SYSREG_INFO[id]!.name;
  const op = write ? 'MSR' : 'MRS';
  if (outcome === TIMER_ACCESS.UNDEFINED) {
    return new CpuException(ARM64_EXCEPTION_CLASS.UNKNOWN, { arch: 'arm64', errorCode: 0, detail: `${op} ${name} is UNDEFINED at EL${el}` });
  }
  const target = outcome === TIMER_ACCESS.TRAP_EL1 ? 'EL1 (CNTKCTL_EL1)' : 'EL2 (CNTHCTL_EL2)';
  return new CpuException(ARM64_EXCEPTION_CLASS.SYS64, { arch: 'arm64', errorCode: sysregTrapIss(id, write), detail: `${op} ${name} at EL${el} traps to ${target}` });
}
