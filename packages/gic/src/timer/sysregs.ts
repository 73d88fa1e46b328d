/**
 * The generic timer's system registers by name and by MRS/MSR encoding
 * (op0, op1, CRn, CRm, op2) (Arm ARM D11.2 and the register pages of chapter
 * register pages; encodings as in the "Accessing" section of each page). Register ids are
 * small numbers for the number path; the timer registers are laid out as
 * `TVAL, CTL, CVAL` per timer so `id - CNTP_TVAL_EL0` gives the timer and
 * the view arithmetically.
 */

/** Numeric ids of the generic timer system registers (the number path). */
export const TIMER_SYSREG = {
  /** Counter-timer frequency, S3_3_C14_C0_0. */
  CNTFRQ_EL0: 0,
  /** Physical count, S3_3_C14_C0_1 (read-only). */
  CNTPCT_EL0: 1,
  /** Virtual count, S3_3_C14_C0_2 (read-only). */
  CNTVCT_EL0: 2,
  /** Virtual offset, S3_4_C14_C0_3. */
  CNTVOFF_EL2: 3,
  /** Kernel control, S3_0_C14_C1_0. */
  CNTKCTL_EL1: 4,
  /** Hypervisor control, S3_4_C14_C1_0. */
  CNTHCTL_EL2: 5,
  /** EL1 physical timer value, S3_3_C14_C2_0. */
  CNTP_TVAL_EL0: 6,
  /** EL1 physical timer control, S3_3_C14_C2_1. */
  CNTP_CTL_EL0: 7,
  /** EL1 physical timer compare value, S3_3_C14_C2_2. */
  CNTP_CVAL_EL0: 8,
  /** Virtual timer value, S3_3_C14_C3_0. */
  CNTV_TVAL_EL0: 9,
  /** Virtual timer control, S3_3_C14_C3_1. */
  CNTV_CTL_EL0: 10,
  /** Virtual timer compare value, S3_3_C14_C3_2. */
  CNTV_CVAL_EL0: 11,
  /** EL2 physical timer value, S3_4_C14_C2_0. */
  CNTHP_TVAL_EL2: 12,
  /** EL2 physical timer control, S3_4_C14_C2_1. */
  CNTHP_CTL_EL2: 13,
  /** EL2 physical timer compare value, S3_4_C14_C2_2. */
  CNTHP_CVAL_EL2: 14,
} as const;

/** A generic timer system register name. */
export type TimerSysregName = keyof typeof TIMER_SYSREG;

/** A generic timer system register id, see {@link TIMER_SYSREG}. */
export type TimerSysregId = (typeof TIMER_SYSREG)[TimerSysregName];

/** Id of the first per-timer register; per timer: TVAL, CTL, CVAL. */
export const FIRST_TIMER_SYSREG = TIMER_SYSREG.CNTP_TVAL_EL0;

/** Offsets of the three views within a timer's registers. */
export const TIMER_VIEW = { TVAL: 0, CTL: 1, CVAL: 2 } as const;

/** One generic timer system register. */
export interface TimerSysregInfo {
  /** Architectural name. */
  readonly name: TimerSysregName;
  /** Numeric id ({@link TIMER_SYSREG}). */
  readonly id: TimerSysregId;
  /** MRS/MSR op0 (3). */
  readonly op0: number;
  /** MRS/MSR op1. */
  readonly op1: number;
  /** MRS/MSR CRn (14). */
  readonly crn: number;
  /** MRS/MSR CRm. */
  readonly crm: number;
  /** MRS/MSR op2. */
  readonly op2: number;
  /** `'RO'` for the counters; everything else is read/write. */
  readonly access: 'RW' | 'RO';
  /** Lowest Exception level at which the register exists (EL0 accesses are further gated by CNTKCTL_EL1). */
  readonly minEl: 0 | 1 | 2;
}

function reg(name: TimerSysregName, op1: number, crm: number, op2: number, access: 'RW' | 'RO', minEl: 0 | 1 | 2): TimerSysregInfo {
  return Object.freeze({ name, id: TIMER_SYSREG[name], op0: 3, op1, crn: 14, crm, op2, access, minEl });
}

/** Every register, indexed by id. */
export const TIMER_SYSREG_INFO: readonly TimerSysregInfo[] = [
  reg('CNTFRQ_EL0', 3, 0, 0, 'RW', 0),
  reg('CNTPCT_EL0', 3, 0, 1, 'RO', 0),
  reg('CNTVCT_EL0', 3, 0, 2, 'RO', 0),
  reg('CNTVOFF_EL2', 4, 0, 3, 'RW', 2),
  reg('CNTKCTL_EL1', 0, 1, 0, 'RW', 1),
  reg('CNTHCTL_EL2', 4, 1, 0, 'RW', 2),
  reg('CNTP_TVAL_EL0', 3, 2, 0, 'RW', 0),
  reg('CNTP_CTL_EL0', 3, 2, 1, 'RW', 0),
  reg('CNTP_CVAL_EL0', 3, 2, 2, 'RW', 0),
  reg('CNTV_TVAL_EL0', 3, 3, 0, 'RW', 0),
  reg('CNTV_CTL_EL0', 3, 3, 1, 'RW', 0),
  reg('CNTV_CVAL_EL0', 3, 3, 2, 'RW', 0),
  reg('CNTHP_TVAL_EL2', 4, 2, 0, 'RW', 2),
  reg('CNTHP_CTL_EL2', 4, 2, 1, 'RW', 2),
  reg('CNTHP_CVAL_EL2', 4, 2, 2, 'RW', 2),
];

/** Every register by name. */
export const TIMER_SYSREGS: ReadonlyMap<string, TimerSysregInfo> = new Map(TIMER_SYSREG_INFO.map((i) => [i.name, i]));

function encodingKey(op0: number, op1: number, crn: number, crm: number, op2: number): number {
  return (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2;
}

const BY_ENCODING = new Map<number, TimerSysregId>(TIMER_SYSREG_INFO.map((i) => [encodingKey(i.op0, i.op1, i.crn, i.crm, i.op2), i.id]));

/**
 * The id of the generic timer register an MRS/MSR encoding names, or -1 when
 * it names none (a CPU decodes once and keeps the id). Fields outside their
 * ranges (op0 0-3, op1 and op2 0-7, CRn and CRm 0-15) name no register.
 */
export function timerSysregId(op0: number, op1: number, crn: number, crm: number, op2: number): TimerSysregId | -1 {
  if ((op0 & 3) !== op0 || (op1 & 7) !== op1 || (crn & 15) !== crn || (crm & 15) !== crm || (op2 & 7) !== op2) return -1;
  return BY_ENCODING.get(encodingKey(op0, op1, crn, crm, op2)) ?? -1;
}

/** The name of the register an MRS/MSR encoding names, or undefined. */
export function timerSysregName(op0: number, op1: number, crn: number, crm: number, op2: number): TimerSysregName | undefined {
  const id = timerSysregId(op0, op1, crn, crm, op2);
  return id === -1 ? undefined : TIMER_SYSREG_INFO[id]!.name;
}
