// Generic timer system register encodings (op0, op1, CRn, CRm, op2) from each register page's "Accessing"
// section (Arm ARM; also Linux arch/arm64/include/asm/sysreg.h).
import { describe, expect, it } from 'vitest';
import { TIMER_SYSREG, TIMER_SYSREGS, TIMER_SYSREG_INFO, timerSysregId, timerSysregName, type TimerSysregName } from './sysregs.js';

const ENCODINGS: [TimerSysregName, number, number, number, number, number][] = [
  ['CNTFRQ_EL0', 3, 3, 14, 0, 0],
  ['CNTPCT_EL0', 3, 3, 14, 0, 1],
  ['CNTVCT_EL0', 3, 3, 14, 0, 2],
  ['CNTVOFF_EL2', 3, 4, 14, 0, 3],
  ['CNTKCTL_EL1', 3, 0, 14, 1, 0],
  ['CNTHCTL_EL2', 3, 4, 14, 1, 0],
  ['CNTP_TVAL_EL0', 3, 3, 14, 2, 0],
  ['CNTP_CTL_EL0', 3, 3, 14, 2, 1],
  ['CNTP_CVAL_EL0', 3, 3, 14, 2, 2],
  ['CNTV_TVAL_EL0', 3, 3, 14, 3, 0],
  ['CNTV_CTL_EL0', 3, 3, 14, 3, 1],
  ['CNTV_CVAL_EL0', 3, 3, 14, 3, 2],
  ['CNTHP_TVAL_EL2', 3, 4, 14, 2, 0],
  ['CNTHP_CTL_EL2', 3, 4, 14, 2, 1],
  ['CNTHP_CVAL_EL2', 3, 4, 14, 2, 2],
];

describe('timer system registers by name and by encoding', () => {
  it.each(ENCODINGS)('%s is S%i_%i_C%i_C%i_%i', (name, op0, op1, crn, crm, op2) => {
    const info = TIMER_SYSREGS.get(name);
    expect(info).toMatchObject({ name, op0, op1, crn, crm, op2 });
    expect(timerSysregId(op0, op1, crn, crm, op2)).toBe(TIMER_SYSREG[name]);
    expect(timerSysregName(op0, op1, crn, crm, op2)).toBe(name);
    expect(TIMER_SYSREG_INFO[TIMER_SYSREG[name]]).toBe(info);
  });

  it('covers every register once', () => {
    expect(TIMER_SYSREGS.size).toBe(ENCODINGS.length);
    expect(TIMER_SYSREG_INFO.map((i) => i.id)).toEqual(ENCODINGS.map((_, i) => i));
  });

  it('answers -1 / undefined for other encodings and for out-of-range or fractional fields', () => {
    expect(timerSysregId(3, 0, 4, 6, 0)).toBe(-1); // ICC_PMR_EL1
    expect(timerSysregId(3, 3, 14, 3, 3)).toBe(-1);
    expect(timerSysregId(3, 4, 14, 3, 1)).toBe(-1); // CNTHV_CTL_EL2 (FEAT_VHE) is not implemented
    expect(timerSysregId(4, 3, 14, 0, 0)).toBe(-1);
    expect(timerSysregId(3, 3, 30, 0, 0)).toBe(-1);
    expect(timerSysregId(3, 3, 14, 0, 0.5)).toBe(-1);
    expect(timerSysregName(3, 3, 14, 0, 9)).toBeUndefined();
  });
});
