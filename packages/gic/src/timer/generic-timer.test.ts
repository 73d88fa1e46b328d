// Registers, the timer condition and the interrupt output of the generic timer (Arm ARM DDI 0487E.a
// chapter D11 and the CNTP_CTL_EL0 / CNTP_CVAL_EL0 / CNTP_TVAL_EL0 / CNTV_* / CNTHP_* / CNTVOFF_EL2 /
// CNTFRQ_EL0 register pages; section numbers as in regs.ts).
import { describe, expect, it } from 'vitest';
import { Clock } from '@hvsim/core';
import { GenericTimer } from './generic-timer.js';
import { TIMER_PPI } from './regs.js';
import { TIMER_SYSREG } from './sysregs.js';
import { CPT, EN, MASK, STATUS, TWO_64, makeTimer } from './test-rig.js';

describe('reset values (TIMER_RESET; architecturally UNKNOWN, fixed here)', () => {
  it('every PE starts disabled with CVAL, CNTVOFF and CNTKCTL 0, CNTHCTL granting EL1 access and CNTFRQ at the counter frequency', () => {
    const { timer } = makeTimer();
    for (const cpu of [0, 1]) {
      // CTL.ENABLE resets UNKNOWN (CNTP_CTL_EL0 page): the model picks 0, so no timer runs until software enables it.
      expect(timer.read(cpu, 'CNTP_CTL_EL0')).toBe(0n);
      expect(timer.read(cpu, 'CNTV_CTL_EL0')).toBe(0n);
      expect(timer.read(cpu, 'CNTHP_CTL_EL2')).toBe(0n);
      expect(timer.read(cpu, 'CNTP_CVAL_EL0')).toBe(0n);
      expect(timer.read(cpu, 'CNTV_CVAL_EL0')).toBe(0n);
      expect(timer.read(cpu, 'CNTHP_CVAL_EL2')).toBe(0n);
      expect(timer.read(cpu, 'CNTVOFF_EL2')).toBe(0n);
      expect(timer.read(cpu, 'CNTKCTL_EL1')).toBe(0n);
      expect(timer.read(cpu, 'CNTHCTL_EL2')).toBe(0b11n);
      expect(timer.read(cpu, 'CNTFRQ_EL0')).toBe(62_500_000n);
      expect(timer.outputLevel(cpu, 'CNTV')).toBe(false);
    }
    expect(makeTimer({ e2h: true }).timer.read(0, 'CNTHCTL_EL2')).toBe(0b11n << 10n);
  });

  it('reset() restores the registers but the system counter keeps counting (D11.1.2)', () => {
    const { timer, clock } = makeTimer();
    timer.write(0, 'CNTV_CVAL_EL0', 5n);
    timer.write(0, 'CNTV_CTL_EL0', EN);
    clock.advance(10 * CPT);
    expect(timer.outputLevel(0, 'CNTV')).toBe(true);
    timer.reset();
    expect(timer.read(0, 'CNTV_CTL_EL0')).toBe(0n);
    expect(timer.outputLevel(0, 'CNTV')).toBe(false);
    expect(timer.read(0, 'CNTPCT_EL0')).toBe(10n);
    expect(clock.pending).toBe(0);
  });
});

describe('the system counter (D11.1.2) and the virtual count (D11.2.2)', () => {
  it('counts one tick per 40 cycles at 62.5 MHz on a 2.5 GHz clock, the same on every PE', () => {
    const { timer, clock } = makeTimer();
    expect(timer.cyclesPerTick).toBe(40);
    clock.advance(39);
    expect(timer.read(0, 'CNTPCT_EL0')).toBe(0n);
    clock.advance(1);
    expect(timer.read(0, 'CNTPCT_EL0')).toBe(1n);
    clock.advance(40 * 1000);
    expect(timer.read(1, 'CNTPCT_EL0')).toBe(1001n);
  });

  it('models a 1 GHz counter on a 2.5 GHz clock exactly: 2 ticks per 5 cycles', () => {
    const { timer, clock } = makeTimer({ counterFrequencyHz: 1_000_000_000 });
    expect(timer.cyclesPerTick).toBe(2.5);
    const seen: bigint[] = [];
    for (let c = 0; c <= 10; c++) {
      seen.push(timer.read(0, 'CNTPCT_EL0'));
      clock.advance(1);
    }
    expect(seen).toEqual([0n, 0n, 0n, 1n, 1n, 2n, 2n, 2n, 3n, 3n, 4n]);
  });

  it('CNTVCT_EL0 = CNTPCT_EL0 - CNTVOFF_EL2 modulo 2^64, per PE', () => {
    const { timer, clock } = makeTimer();
    clock.advance(100 * CPT);
    timer.write(0, 'CNTVOFF_EL2', 30n);
    expect(timer.read(0, 'CNTVCT_EL0')).toBe(70n);
    expect(timer.read(1, 'CNTVCT_EL0')).toBe(100n);
    timer.write(1, 'CNTVOFF_EL2', 105n);
    expect(timer.read(1, 'CNTVCT_EL0')).toBe(TWO_64 - 5n);
    timer.write(1, 'CNTVOFF_EL2', TWO_64 - 1n);
    expect(timer.read(1, 'CNTVCT_EL0')).toBe(101n);
  });

  it('CNTFRQ_EL0 is only a register: writing it does not change the counter rate', () => {
    const { timer, clock } = makeTimer();
    timer.write(0, 'CNTFRQ_EL0', 1_000_000n);
    expect(timer.read(0, 'CNTFRQ_EL0')).toBe(1_000_000n);
    expect(timer.read(1, 'CNTFRQ_EL0')).toBe(62_500_000n);
    clock.advance(10 * CPT);
    expect(timer.read(0, 'CNTPCT_EL0')).toBe(10n);
    // Bits [63:32] are RES0.
    timer.write(0, 'CNTFRQ_EL0', (1n << 40n) | 7n);
    expect(timer.read(0, 'CNTFRQ_EL0')).toBe(7n);
  });
});

describe('CTL (CNTP_CTL_EL0 page)', () => {
  it('keeps ENABLE and IMASK; ISTATUS is read-only and bits [63:3] are RES0', () => {
    const { timer } = makeTimer();
    timer.write(0, 'CNTP_CVAL_EL0', 1000n);
    timer.write(0, 'CNTP_CTL_EL0', 0xffff_ffff_ffff_ffffn);
    expect(timer.read(0, 'CNTP_CTL_EL0')).toBe(EN | MASK); // condition not met: ISTATUS 0 despite the write
    timer.write(0, 'CNTP_CTL_EL0', STATUS);
    expect(timer.read(0, 'CNTP_CTL_EL0')).toBe(0n);
  });

  it('ISTATUS shows the condition whatever IMASK says, and reads 0 while ENABLE is 0 (UNKNOWN architecturally)', () => {
    const { timer, clock } = makeTimer();
    clock.advance(10 * CPT);
    timer.write(0, 'CNTP_CVAL_EL0', 10n);
    expect(timer.read(0, 'CNTP_CTL_EL0')).toBe(0n);
    timer.write(0, 'CNTP_CTL_EL0', MASK);
    expect(timer.read(0, 'CNTP_CTL_EL0')).toBe(MASK);
    timer.write(0, 'CNTP_CTL_EL0', EN | MASK);
    expect(timer.read(0, 'CNTP_CTL_EL0')).toBe(EN | MASK | STATUS);
    timer.write(0, 'CNTP_CTL_EL0', EN);
    expect(timer.read(0, 'CNTP_CTL_EL0')).toBe(EN | STATUS);
  });
});

describe('TVAL (CNTP_TVAL_EL0 page)', () => {
  it('reads (CVAL - count)[31:0] with bits [63:32] RES0, going negative after expiry', () => {
    const { timer, clock } = makeTimer();
    timer.write(0, 'CNTV_CTL_EL0', EN | MASK);
    timer.write(0, 'CNTV_CVAL_EL0', 100n);
    expect(timer.read(0, 'CNTV_TVAL_EL0')).toBe(100n);
    clock.advance(150 * CPT);
    expect(timer.read(0, 'CNTV_TVAL_EL0')).toBe(0xffff_ffcen); // -50 as a signed 32-bit value
  });

  it('a write sets CVAL = count + SignExtend(TVAL[31:0]), ignoring bits [63:32]', () => {
    const { timer, clock } = makeTimer();
    clock.advance(1000 * CPT);
    timer.write(0, 'CNTP_TVAL_EL0', 0xffff_fff6n); // -10
    expect(timer.read(0, 'CNTP_CVAL_EL0')).toBe(990n);
    timer.write(0, 'CNTP_TVAL_EL0', (0xabcdn << 32n) | 25n);
    expect(timer.read(0, 'CNTP_CVAL_EL0')).toBe(1025n);
    timer.write(0, 'CNTP_TVAL_EL0', 0x7fff_ffffn);
    expect(timer.read(0, 'CNTP_CVAL_EL0')).toBe(1000n + 0x7fff_ffffn);
  });

  it('is relative to the virtual count for CNTV', () => {
    const { timer, clock } = makeTimer();
    clock.advance(1000 * CPT);
    timer.write(0, 'CNTVOFF_EL2', 400n);
    timer.write(0, 'CNTV_TVAL_EL0', 50n);
    expect(timer.read(0, 'CNTV_CVAL_EL0')).toBe(650n);
  });

  it('a negative TVAL below a small count wraps CVAL near 2^64, which the unsigned compare never reaches', () => {
    const { timer, clock } = makeTimer();
    clock.advance(5 * CPT);
    timer.write(0, 'CNTP_TVAL_EL0', 0xffff_fff6n); // -10 at count 5
    expect(timer.read(0, 'CNTP_CVAL_EL0')).toBe(TWO_64 - 5n);
    timer.write(0, 'CNTP_CTL_EL0', EN);
    expect(timer.read(0, 'CNTP_CTL_EL0')).toBe(EN);
    expect(timer.outputLevel(0, 'CNTP')).toBe(false);
  });
});

describe('the timer condition: count >= CVAL as unsigned 64-bit values (D11.2.4)', () => {
  it('a CVAL with bit 63 set is far in the future, not in the past (a signed compare would fire)', () => {
    const { timer, clock } = makeTimer();
    clock.advance(10 * CPT);
    timer.write(0, 'CNTP_CVAL_EL0', 1n << 63n);
    timer.write(0, 'CNTP_CTL_EL0', EN);
    expect(timer.read(0, 'CNTP_CTL_EL0')).toBe(EN);
    expect(timer.nextFireCycle(0, 'CNTP')).toBe(-1); // beyond 2^53 cycles
    expect(clock.pending).toBe(0);
  });

  it('a virtual count that wraps through 2^64 falls below CVAL again at the exact cycle, then reaches it', () => {
    const { timer, clock, changes } = makeTimer();
    clock.advance(100 * CPT);
    timer.write(0, 'CNTVOFF_EL2', 110n); // virtual count 2^64 - 10
    timer.write(0, 'CNTV_CVAL_EL0', 5n);
    timer.write(0, 'CNTV_CTL_EL0', EN);
    expect(timer.outputLevel(0, 'CNTV')).toBe(true); // 2^64 - 10 >= 5
    clock.advance(20 * CPT);
    expect(changes.map((c) => [c.cycle, c.level])).toEqual([
      [100 * CPT, true],
      [110 * CPT, false], // virtual count wrapped to 0
      [115 * CPT, true], // and reached 5
    ]);
  });

  it('CVAL 0 is always met once enabled, and schedules nothing', () => {
    const { timer, clock } = makeTimer();
    timer.write(0, 'CNTV_CTL_EL0', EN);
    expect(timer.outputLevel(0, 'CNTV')).toBe(true);
    expect(clock.pending).toBe(0);
  });
});

describe('the interrupt output: ENABLE && ISTATUS && !IMASK, level-sensitive, on the PPI', () => {
  it('asserts PPI 30 at exactly the cycle CNTPCT reaches CVAL, and stays asserted', () => {
    const { timer, clock, changes, line } = makeTimer();
    timer.write(0, 'CNTP_CVAL_EL0', 100n);
    timer.write(0, 'CNTP_CTL_EL0', EN);
    expect(timer.nextFireCycle(0, 'CNTP')).toBe(100 * CPT);
    clock.advance(100 * CPT - 1);
    expect(line(0, TIMER_PPI.CNTP)).toBe(false);
    clock.advance(1);
    expect(line(0, TIMER_PPI.CNTP)).toBe(true);
    expect(changes).toEqual([{ cycle: 4000, cpu: 0, intid: 30, level: true }]);
    clock.advance(10_000);
    expect(changes).toHaveLength(1);
    expect(timer.nextFireCycle(0, 'CNTP')).toBe(clock.now());
  });

  it('fires on the first cycle of the tick when the counter ticks at a fractional number of cycles', () => {
    const { timer, clock, changes } = makeTimer({ counterFrequencyHz: 1_000_000_000 });
    timer.write(0, 'CNTV_CVAL_EL0', 3n);
    timer.write(0, 'CNTV_CTL_EL0', EN);
    clock.advance(100);
    expect(changes[0]?.cycle).toBe(8); // floor(8 * 2 / 5) = 3, floor(7 * 2 / 5) = 2
  });

  it('the virtual timer drives PPI 27 and the EL2 physical timer PPI 26, each PE its own', () => {
    const { timer, clock, changes } = makeTimer();
    timer.write(1, 'CNTV_CVAL_EL0', 3n);
    timer.write(1, 'CNTV_CTL_EL0', EN);
    timer.write(0, 'CNTHP_CVAL_EL2', 2n);
    timer.write(0, 'CNTHP_CTL_EL2', EN);
    clock.advance(5 * CPT);
    expect(changes).toEqual([
      { cycle: 80, cpu: 0, intid: 26, level: true },
      { cycle: 120, cpu: 1, intid: 27, level: true },
    ]);
  });

  it('uses the PPIs the owner configures', () => {
    const { timer, clock, changes } = makeTimer({ intids: { CNTV: 20 } });
    expect(timer.intid('CNTV')).toBe(20);
    expect(timer.intid('CNTP')).toBe(30);
    timer.write(0, 'CNTV_CTL_EL0', EN);
    clock.advance(1);
    expect(changes[0]?.intid).toBe(20);
  });

  it('IMASK drops the output at once and keeps ISTATUS; clearing it raises the output again', () => {
    const { timer, clock, changes } = makeTimer();
    timer.write(0, 'CNTV_CVAL_EL0', 10n);
    timer.write(0, 'CNTV_CTL_EL0', EN | MASK);
    clock.advance(20 * CPT);
    expect(changes).toEqual([]);
    expect(timer.read(0, 'CNTV_CTL_EL0')).toBe(EN | MASK | STATUS);
    expect(timer.nextFireCycle(0, 'CNTV')).toBe(-1);
    timer.write(0, 'CNTV_CTL_EL0', EN);
    timer.write(0, 'CNTV_CTL_EL0', EN | MASK);
    expect(changes.map((c) => c.level)).toEqual([true, false]);
    expect(changes.every((c) => c.cycle === 20 * CPT)).toBe(true);
  });

  it('disabling drops the output and cancels the pending expiry', () => {
    const { timer, clock, changes } = makeTimer();
    timer.write(0, 'CNTP_CVAL_EL0', 10n);
    timer.write(0, 'CNTP_CTL_EL0', EN);
    expect(clock.pending).toBe(1);
    timer.write(0, 'CNTP_CTL_EL0', 0n);
    expect(clock.pending).toBe(0);
    clock.advance(100 * CPT);
    expect(changes).toEqual([]);
    timer.write(0, 'CNTP_CTL_EL0', EN);
    timer.write(0, 'CNTP_CTL_EL0', 0n);
    expect(changes.map((c) => c.level)).toEqual([true, false]);
  });

  it('moving CVAL cancels the stale expiry: only the new deadline fires', () => {
    const { timer, clock, changes } = makeTimer();
    timer.write(0, 'CNTP_CVAL_EL0', 50n);
    timer.write(0, 'CNTP_CTL_EL0', EN);
    timer.write(0, 'CNTP_CVAL_EL0', 80n);
    expect(clock.pending).toBe(1);
    clock.advance(100 * CPT);
    expect(changes).toEqual([{ cycle: 80 * CPT, cpu: 0, intid: 30, level: true }]);
    // Moving CVAL ahead of the count deasserts the level-sensitive output at once.
    timer.write(0, 'CNTP_CVAL_EL0', 200n);
    expect(changes.at(-1)).toEqual({ cycle: 100 * CPT, cpu: 0, intid: 30, level: false });
  });

  it('a guest handler that rearms with TVAL on each interrupt gets a periodic tick at exact cycles', () => {
    const period = 25n;
    const fired: number[] = [];
    // The handler runs when the line rises, as a guest's timer ISR would: reprogram TVAL, which lowers the line.
    const rig = makeTimer({
      output: (cpu, _intid, level) => {
        if (!level) return;
        fired.push(rig.clock.now());
        rig.timer.write(cpu, 'CNTV_TVAL_EL0', period);
      },
    });
    const { timer, clock } = rig;
    timer.write(0, 'CNTV_TVAL_EL0', period);
    timer.write(0, 'CNTV_CTL_EL0', EN);
    clock.advance(5 * 25 * CPT);
    expect(fired).toEqual([1, 2, 3, 4, 5].map((i) => i * 25 * CPT));
    expect(rig.changes.map((c) => c.level)).toEqual([true, false, true, false, true, false, true, false, true, false]);
  });

  it('a CNTVOFF_EL2 write moves the virtual timer: later, earlier, and at once', () => {
    const { timer, clock, changes } = makeTimer();
    clock.advance(500 * CPT);
    timer.write(0, 'CNTV_CVAL_EL0', 1000n);
    timer.write(0, 'CNTV_CTL_EL0', EN);
    expect(timer.nextFireCycle(0, 'CNTV')).toBe(1000 * CPT);
    timer.write(0, 'CNTVOFF_EL2', 200n); // virtual 300: fires when the physical count is 1200
    expect(timer.nextFireCycle(0, 'CNTV')).toBe(1200 * CPT);
    clock.advance(100 * CPT);
    timer.write(0, 'CNTVOFF_EL2', 0n); // physical 600: fires at 1000 again
    expect(timer.nextFireCycle(0, 'CNTV')).toBe(1000 * CPT);
    timer.write(0, 'CNTVOFF_EL2', TWO_64 - 400n); // virtual 1000: met now
    expect(changes).toEqual([{ cycle: 600 * CPT, cpu: 0, intid: 27, level: true }]);
    expect(clock.pending).toBe(0);
    // The physical timers do not move.
    timer.write(0, 'CNTP_CVAL_EL0', 700n);
    timer.write(0, 'CNTP_CTL_EL0', EN);
    expect(timer.nextFireCycle(0, 'CNTP')).toBe(700 * CPT);
  });

  it('traces each assertion', () => {
    const events: unknown[] = [];
    const { timer, clock } = makeTimer({ tracer: { emit: (e) => events.push(e) } });
    timer.write(0, 'CNTV_CVAL_EL0', 2n);
    timer.write(0, 'CNTV_CTL_EL0', EN);
    clock.advance(3 * CPT);
    expect(events).toEqual([{ kind: 'interrupt.raised', source: 'generic-timer', cycle: 80, cpu: 0, vector: 27 }]);
  });
});

describe('the number path', () => {
  it('reads and writes 64-bit registers as 32-bit halves', () => {
    const { timer, clock } = makeTimer();
    const out = { lo: 0, hi: 0 };
    timer.writeSysreg(0, TIMER_SYSREG.CNTVOFF_EL2, 0x1234_5678, 0x9abc_def0);
    expect(timer.readSysreg(0, TIMER_SYSREG.CNTVOFF_EL2, out)).toEqual({ lo: 0x1234_5678, hi: 0x9abc_def0 });
    expect(timer.read(0, 'CNTVOFF_EL2')).toBe(0x9abc_def0_1234_5678n);
    clock.advance(3 * CPT);
    timer.readSysreg(0, TIMER_SYSREG.CNTPCT_EL0, out);
    expect(out).toEqual({ lo: 3, hi: 0 });
    timer.writeSysreg(0, TIMER_SYSREG.CNTV_TVAL_EL0, 0xffff_ffff, 0); // -1
    timer.readSysreg(0, TIMER_SYSREG.CNTV_CVAL_EL0, out);
    expect((BigInt(out.hi) << 32n) | BigInt(out.lo)).toBe((3n - 0x9abc_def0_1234_5678n - 1n + TWO_64) % TWO_64);
  });
});

describe('bad host arguments are named in the error', () => {
  const clock = new Clock();
  it('rejects bad options', () => {
    expect(() => new GenericTimer({ clock, cpus: 0 })).toThrow('cpus must be an integer in [1, 1024], got 0');
    expect(() => new GenericTimer({ clock: {} as never, cpus: 1 })).toThrow('GenericTimer needs a Clock');
    expect(() => new GenericTimer({ clock: null as never, cpus: 1 })).toThrow('GenericTimer needs a Clock, got null');
    expect(() => new GenericTimer(null as never)).toThrow('GenericTimer options must be an object, got null');
    expect(() => new GenericTimer({ clock, cpus: 1, counterFrequencyHz: 0 })).toThrow('counterFrequencyHz must be an integer in [1, 4294967295] (CNTFRQ_EL0 is 32 bits), got 0');
    expect(() => new GenericTimer({ clock, cpus: 1, counterFrequencyHz: 2 ** 32 })).toThrow('got 4294967296');
    expect(() => new GenericTimer({ clock, cpus: 1, cpuFrequencyHz: 1.5 })).toThrow('cpuFrequencyHz must be a positive safe integer, got 1.5');
    expect(() => new GenericTimer({ clock, cpus: 1, counterFrequencyHz: 4_294_967_291, cpuFrequencyHz: 4_294_967_279 })).toThrow('the product must be at most 2^52');
    expect(() => new GenericTimer({ clock, cpus: 1, intids: { CNTV: 15 } })).toThrow('intids.CNTV must be a PPI INTID in [16, 31], got 15');
    expect(() => new GenericTimer({ clock, cpus: 1, output: 3 as never })).toThrow('output must be a function');
  });

  it('rejects bad PEs, names, values, ids, halves, levels and timers', () => {
    const { timer } = makeTimer();
    expect(() => timer.read(2, 'CNTVCT_EL0')).toThrow('cpu must be an integer in [0, 1], got 2');
    expect(() => timer.read(0, 'CNTV_CTL_EL1' as never)).toThrow('"CNTV_CTL_EL1" is not a generic timer register');
    expect(() => timer.write(0, 'CNTV_CVAL_EL0', -1n)).toThrow('CNTV_CVAL_EL0 must be an unsigned 64-bit bigint');
    expect(() => timer.write(0, 'CNTV_CVAL_EL0', TWO_64)).toThrow('CNTV_CVAL_EL0');
    expect(() => timer.write(0, 'CNTPCT_EL0', 0n)).toThrow('CNTPCT_EL0 is read-only');
    expect(() => timer.write(0, 'CNTVCT_EL0', 0n)).toThrow('CNTVCT_EL0 is read-only');
    expect(() => timer.readSysreg(0, 15 as never, { lo: 0, hi: 0 })).toThrow('register id must be an integer in [0, 14] (TIMER_SYSREG), got 15');
    expect(() => timer.writeSysreg(0, TIMER_SYSREG.CNTV_CVAL_EL0, -1, 0)).toThrow('value halves must be unsigned 32-bit integers, got lo -1, hi 0');
    expect(() => timer.writeSysreg(0, TIMER_SYSREG.CNTV_CVAL_EL0, 0, 2 ** 32)).toThrow('hi 4294967296');
    expect(() => timer.read(0, 'CNTVCT_EL0', 3 as never)).toThrow('el must be 0, 1, 2 or undefined, got 3');
    expect(() => timer.outputLevel(0, 'CNTX' as never)).toThrow('timer must be one of CNTP, CNTV, CNTHP (or 0-2), got "CNTX"');
    expect(() => timer.nextFireCycle(0, 3 as never)).toThrow('got 3');
    expect(() => timer.redirect(0, 'CNTV', {} as never)).toThrow('line must be an InterruptLine');
  });
});
