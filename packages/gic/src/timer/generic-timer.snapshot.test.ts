// Snapshots of the generic timer: JSON-safe, atomic restore, and deadlines relative to the counter, so a
// restore into a clock that is already far ahead (a migrated VM) loses no tick (Arm ARM D11.1.2: the
// counter never goes backwards; docs/conventions.md "Time" and "Snapshots").
import { describe, expect, it } from 'vitest';
import { Clock, SnapshotError } from '@hvsim/core';
import type { GenericTimerState } from './timer-state.js';
import { CPT, EN, makeTimer, type TimerRig } from './test-rig.js';

function programmed(counterFrequencyHz?: number): TimerRig {
  const rig = makeTimer(counterFrequencyHz === undefined ? {} : { counterFrequencyHz });
  const { timer, clock } = rig;
  clock.advance(1234);
  timer.write(0, 'CNTVOFF_EL2', 7n);
  timer.write(0, 'CNTV_TVAL_EL0', 300n);
  timer.write(0, 'CNTV_CTL_EL0', EN);
  timer.write(1, 'CNTP_TVAL_EL0', 100n);
  timer.write(1, 'CNTP_CTL_EL0', EN);
  timer.write(1, 'CNTHP_CVAL_EL2', 0xffff_ffff_ffff_fff0n);
  timer.write(1, 'CNTHP_CTL_EL2', 3n);
  timer.write(0, 'CNTKCTL_EL1', 3n);
  timer.write(1, 'CNTFRQ_EL0', 24_000_000n);
  return rig;
}

/** Cycles from now to each output change, and the registers a guest sees, over `cycles`. */
function future(rig: TimerRig, cycles: number): unknown {
  const start = rig.clock.now();
  const from = rig.changes.length;
  const regs = (): unknown => [rig.timer.read(0, 'CNTVCT_EL0'), rig.timer.read(1, 'CNTP_TVAL_EL0'), rig.timer.read(0, 'CNTV_CTL_EL0')];
  const before = regs();
  rig.clock.advance(cycles);
  return { before, after: regs(), changes: rig.changes.slice(from).map((c) => ({ ...c, cycle: c.cycle - start })) };
}

describe('GenericTimer snapshots', () => {
  it('are JSON-safe, versioned, and hold no absolute cycle', () => {
    const { timer } = programmed();
    const s = timer.saveState();
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    expect(s).toMatchObject({ type: 'hvsim.generic-timer', version: 1, cpus: 2, counterFrequencyHz: 62_500_000, cpuFrequencyHz: 2_500_000_000, count: '0x1e', phase: 34 });
    expect(s.perCpu[1]!.timers[2]).toEqual({ ctl: 3, cval: '0xfffffffffffffff0' });
  });

  it('save, restore into a fresh timer on a clock at the same time, continue == never stopping', () => {
    for (const hz of [undefined, 1_000_000_000]) {
      const a = programmed(hz);
      const b = makeTimer(hz === undefined ? {} : { counterFrequencyHz: hz });
      b.clock.advance(a.clock.now());
      b.timer.restoreState(JSON.parse(JSON.stringify(a.timer.saveState())));
      b.changes.length = 0;
      a.changes.length = 0;
      expect(future(b, 20_000)).toEqual(future(a, 20_000));
    }
  });

  it('restored into a clock far ahead (migration), every timer fires after exactly the cycles it had left', () => {
    for (const hz of [undefined, 1_000_000_000, 24_000_000]) {
      const a = programmed(hz);
      const state = JSON.parse(JSON.stringify(a.timer.saveState())) as GenericTimerState;
      const farClock = new Clock();
      farClock.advance(987_654_321_987);
      const b = makeTimer({ clock: farClock, ...(hz === undefined ? {} : { counterFrequencyHz: hz }) });
      b.timer.restoreState(state);
      expect(b.timer.read(0, 'CNTVCT_EL0')).toBe(a.timer.read(0, 'CNTVCT_EL0'));
      expect(future(b, 20_000)).toEqual(future(a, 20_000));
    }
  });

  it('drives each output to its restored level', () => {
    const a = programmed();
    a.clock.advance(200 * CPT); // CNTP of PE 1 has fired
    const b = makeTimer();
    b.timer.restoreState(a.timer.saveState());
    expect(b.line(1, 30)).toBe(true);
    expect(b.timer.outputLevel(1, 'CNTP')).toBe(true);
    expect(b.line(0, 27)).toBe(false);
  });

  it('restore is atomic: a bad field anywhere changes nothing, and the error names it', () => {
    const a = programmed();
    const before = a.timer.saveState();
    const pending = a.clock.pending;
    const bad = (edit: (s: GenericTimerState) => void): unknown => {
      const s = structuredClone(before);
      edit(s);
      return s;
    };
    const cases: [unknown, string][] = [
      [bad((s) => (s.perCpu[1]!.timers[2]!.ctl = 7)), 'hvsim.generic-timer.perCpu[1].timers[2].ctl must be an integer in [0, 3], got 7'],
      [bad((s) => (s.perCpu[1]!.cntvoff = '0x1' + '0'.repeat(16))), 'perCpu[1].cntvoff = 0x10000000000000000 does not fit in 64 bits'],
      [bad((s) => (s.perCpu[0]!.cntkctl = 0x400)), 'perCpu[0].cntkctl = 0x400 sets bits outside 0x3ff'],
      [bad((s) => (s.perCpu[0]!.cnthctl = 0x100)), 'perCpu[0].cnthctl = 0x100 sets bits outside 0xff'],
      [bad((s) => (s.phase = 40)), 'hvsim.generic-timer.phase must be an integer in [0, 39], got 40'],
      [bad((s) => (s.count = 'soon')), 'hvsim.generic-timer.count must be a 0x-prefixed hex string'],
      [bad((s) => void s.perCpu.pop()), 'perCpu must be an array of 2'],
      [bad((s) => (s.cpus = 3)), 'hvsim.generic-timer.cpus is 3, but this timer has 2 PEs'],
      [bad((s) => (s.counterFrequencyHz = 50_000_000)), 'saved with a 50000000 Hz counter on a 2500000000 Hz clock, but this timer has 62500000 Hz on 2500000000 Hz'],
      [{ ...before, type: 'hvsim.lapic' }, 'cannot restore a state of type "hvsim.lapic"'],
      [{ ...before, version: 2 }, 'state version 2 (0x2) is not supported'],
    ];
    for (const [state, message] of cases) {
      expect(() => a.timer.restoreState(state)).toThrow(SnapshotError);
      expect(() => a.timer.restoreState(state)).toThrow(message);
      expect(a.timer.saveState()).toEqual(before);
      expect(a.clock.pending).toBe(pending);
    }
    // And the timers still fire as before.
    a.clock.advance(100 * CPT);
    expect(a.changes.some((c) => c.cpu === 1 && c.intid === 30 && c.level)).toBe(true);
  });
});
