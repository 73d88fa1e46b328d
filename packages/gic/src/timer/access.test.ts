// Access control of the timer registers: CNTKCTL_EL1 EL0 enables (trap to EL1), CNTHCTL_EL2 EL1PCTEN /
// EL1PCEN (E2H=0, bits 0 and 1) and EL1PCTEN / EL1PTEN (E2H=1, bits 10 and 11) (trap to EL2), EL2-only
// registers, read-only counters, CNTFRQ_EL0 writable only at the highest EL (Arm ARM D11.2 and the
// CNTKCTL_EL1, CNTHCTL_EL2, CNTFRQ_EL0 register pages; ESR_ELx ISS for EC 0x18).
import { describe, expect, it } from 'vitest';
import { ARM64_EXCEPTION_CLASS, CpuException } from '@hvsim/core';
import { TIMER_ACCESS, checkTimerAccess, sysregTrapIss } from './access.js';
import { TIMER_SYSREG as R } from './sysregs.js';
import { makeTimer } from './test-rig.js';

function thrown(fn: () => unknown): CpuException {
  try {
    fn();
  } catch (e) {
    if (e instanceof CpuException) return e;
    throw e;
  }
  throw new Error('expected a CpuException');
}

const ALL_EL0 = 0b11_0000_0011; // EL0PTEN, EL0VTEN, EL0VCTEN, EL0PCTEN

describe('checkTimerAccess', () => {
  it('EL0 needs the CNTKCTL_EL1 enable of each register class, else traps to EL1', () => {
    const cases: [number, number][] = [
      [R.CNTPCT_EL0, 1 << 0],
      [R.CNTVCT_EL0, 1 << 1],
      [R.CNTP_CTL_EL0, 1 << 9],
      [R.CNTP_CVAL_EL0, 1 << 9],
      [R.CNTV_TVAL_EL0, 1 << 8],
      [R.CNTV_CTL_EL0, 1 << 8],
    ];
    for (const [id, bit] of cases) {
      expect(checkTimerAccess(id as never, false, 0, 0, 0b11, false)).toBe(TIMER_ACCESS.TRAP_EL1);
      expect(checkTimerAccess(id as never, false, 0, bit, 0b11, false)).toBe(TIMER_ACCESS.OK);
    }
    // CNTFRQ_EL0 is readable at EL0 when either counter is.
    expect(checkTimerAccess(R.CNTFRQ_EL0, false, 0, 0, 0b11, false)).toBe(TIMER_ACCESS.TRAP_EL1);
    expect(checkTimerAccess(R.CNTFRQ_EL0, false, 0, 1 << 1, 0b11, false)).toBe(TIMER_ACCESS.OK);
    expect(checkTimerAccess(R.CNTFRQ_EL0, false, 0, 1 << 0, 0b11, false)).toBe(TIMER_ACCESS.OK);
  });

  it('EL0 and EL1 physical counter and EL1 physical timer accesses trap to EL2 per CNTHCTL_EL2, after CNTKCTL_EL1', () => {
    expect(checkTimerAccess(R.CNTPCT_EL0, false, 1, 0, 0b10, false)).toBe(TIMER_ACCESS.TRAP_EL2);
    expect(checkTimerAccess(R.CNTP_TVAL_EL0, true, 1, 0, 0b01, false)).toBe(TIMER_ACCESS.TRAP_EL2);
    expect(checkTimerAccess(R.CNTP_TVAL_EL0, true, 0, ALL_EL0, 0b01, false)).toBe(TIMER_ACCESS.TRAP_EL2);
    expect(checkTimerAccess(R.CNTP_TVAL_EL0, true, 0, 0, 0b01, false)).toBe(TIMER_ACCESS.TRAP_EL1); // EL1 trap first
    expect(checkTimerAccess(R.CNTVCT_EL0, false, 1, 0, 0, false)).toBe(TIMER_ACCESS.OK); // virtual: never by these bits
    expect(checkTimerAccess(R.CNTV_CTL_EL0, true, 1, 0, 0, false)).toBe(TIMER_ACCESS.OK);
    // With HCR_EL2.E2H 1 the controls are bits 10 (EL1PCTEN) and 11 (EL1PTEN).
    expect(checkTimerAccess(R.CNTPCT_EL0, false, 1, 0, 0b11, true)).toBe(TIMER_ACCESS.TRAP_EL2);
    expect(checkTimerAccess(R.CNTPCT_EL0, false, 1, 0, 1 << 10, true)).toBe(TIMER_ACCESS.OK);
    expect(checkTimerAccess(R.CNTP_CTL_EL0, false, 1, 0, 1 << 10, true)).toBe(TIMER_ACCESS.TRAP_EL2);
    expect(checkTimerAccess(R.CNTP_CTL_EL0, false, 1, 0, 1 << 11, true)).toBe(TIMER_ACCESS.OK);
  });

  it('EL2 registers are UNDEFINED below EL2, CNTKCTL_EL1 at EL0, counter writes and CNTFRQ_EL0 writes below EL2', () => {
    for (const id of [R.CNTVOFF_EL2, R.CNTHCTL_EL2, R.CNTHP_CTL_EL2, R.CNTHP_CVAL_EL2, R.CNTHP_TVAL_EL2]) {
      expect(checkTimerAccess(id, false, 1, 0, 0b11, false)).toBe(TIMER_ACCESS.UNDEFINED);
      expect(checkTimerAccess(id, true, 2, 0, 0, false)).toBe(TIMER_ACCESS.OK);
    }
    expect(checkTimerAccess(R.CNTKCTL_EL1, false, 0, ALL_EL0, 0b11, false)).toBe(TIMER_ACCESS.UNDEFINED);
    expect(checkTimerAccess(R.CNTKCTL_EL1, true, 1, 0, 0, false)).toBe(TIMER_ACCESS.OK);
    expect(checkTimerAccess(R.CNTPCT_EL0, true, 2, 0, 0b11, false)).toBe(TIMER_ACCESS.UNDEFINED);
    expect(checkTimerAccess(R.CNTVCT_EL0, true, 1, 0, 0b11, false)).toBe(TIMER_ACCESS.UNDEFINED);
    expect(checkTimerAccess(R.CNTFRQ_EL0, true, 1, 0, 0b11, false)).toBe(TIMER_ACCESS.UNDEFINED);
    expect(checkTimerAccess(R.CNTFRQ_EL0, true, 2, 0, 0, false)).toBe(TIMER_ACCESS.OK);
  });

  it('builds the EC 0x18 ISS: Op0, Op2, Op1, CRn, CRm and Direction', () => {
    // CNTVCT_EL0 = S3_3_C14_C0_2 read: Op0 3 <<20, Op2 2 <<17, Op1 3 <<14, CRn 14 <<10, CRm 0, Direction 1.
    expect(sysregTrapIss(R.CNTVCT_EL0, false)).toBe((3 << 20) | (2 << 17) | (3 << 14) | (14 << 10) | 1);
    expect(sysregTrapIss(R.CNTP_CTL_EL0, true)).toBe((3 << 20) | (1 << 17) | (3 << 14) | (14 << 10) | (2 << 1));
  });
});

describe('guest accesses through GenericTimer with an Exception level', () => {
  it('throw the architectural CpuException; host accesses (no level) are never checked', () => {
    const { timer } = makeTimer();
    const trap = thrown(() => timer.read(0, 'CNTVCT_EL0', 0));
    expect(trap.arch).toBe('arm64');
    expect(trap.vector).toBe(ARM64_EXCEPTION_CLASS.SYS64);
    expect(trap.errorCode).toBe(sysregTrapIss(R.CNTVCT_EL0, false));
    expect(trap.message).toContain('MRS CNTVCT_EL0 at EL0 traps to EL1 (CNTKCTL_EL1)');
    timer.write(0, 'CNTKCTL_EL1', 0b10n, 1);
    expect(timer.read(0, 'CNTVCT_EL0', 0)).toBe(0n);

    timer.write(0, 'CNTHCTL_EL2', 0n, 2);
    const el2 = thrown(() => timer.write(0, 'CNTP_CVAL_EL0', 5n, 1));
    expect(el2.message).toContain('MSR CNTP_CVAL_EL0 at EL1 traps to EL2 (CNTHCTL_EL2)');
    expect(timer.read(0, 'CNTP_CVAL_EL0')).toBe(0n); // the trapped write did nothing
    timer.write(0, 'CNTP_CVAL_EL0', 5n, 2);
    expect(timer.read(0, 'CNTP_CVAL_EL0', 2)).toBe(5n);

    const undef = thrown(() => timer.write(0, 'CNTVOFF_EL2', 1n, 1));
    expect(undef.vector).toBe(ARM64_EXCEPTION_CLASS.UNKNOWN);
    expect(undef.message).toContain('MSR CNTVOFF_EL2 is UNDEFINED at EL1');
    expect(thrown(() => timer.write(0, 'CNTVCT_EL0', 1n, 2)).vector).toBe(ARM64_EXCEPTION_CLASS.UNKNOWN);
  });

  it('keep only the implemented bits of CNTKCTL_EL1 and CNTHCTL_EL2', () => {
    const { timer } = makeTimer();
    timer.write(0, 'CNTKCTL_EL1', 0xffff_ffffn);
    expect(timer.read(0, 'CNTKCTL_EL1')).toBe(0x3ffn);
    timer.write(0, 'CNTHCTL_EL2', 0xffff_ffffn);
    expect(timer.read(0, 'CNTHCTL_EL2')).toBe(0xffn);
    const vhe = makeTimer({ e2h: true }).timer;
    vhe.write(0, 'CNTHCTL_EL2', 0xffff_ffffn);
    expect(vhe.read(0, 'CNTHCTL_EL2')).toBe(0xfffn);
  });
});
