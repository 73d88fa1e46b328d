import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { UsageError } from '../errors/hvsim-error.js';
import { SnapshotError } from '../snapshot/snapshot-error.js';
import { Clock } from './clock.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 200);

describe('Clock', () => {
  it('starts at cycle 0 with nothing pending', () => {
    const c = new Clock();
    expect(c.now()).toBe(0);
    expect(c.pending).toBe(0);
    expect(c.nextEventAt()).toBeUndefined();
    expect(c.step()).toBe(false);
  });

  it('runs events in cycle order and passes the cycle to each', () => {
    const c = new Clock();
    const log: string[] = [];
    c.schedule(30, (t) => log.push(`c@${t}`));
    c.schedule(10, (t) => log.push(`a@${t}`));
    c.schedule(20, (t) => log.push(`b@${t}`));
    expect(c.nextEventAt()).toBe(10);
    c.runUntil(25);
    expect(log).toEqual(['a@10', 'b@20']);
    expect(c.now()).toBe(25);
    c.runUntilIdle();
    expect(log).toEqual(['a@10', 'b@20', 'c@30']);
    expect(c.now()).toBe(30);
  });

  it('runs events at the same cycle in the order they were scheduled', () => {
    const c = new Clock();
    const log: number[] = [];
    for (let i = 0; i < 50; i++) c.schedule(100, () => log.push(i));
    c.runUntil(100);
    expect(log).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('runs events scheduled by events, including ones due at the current cycle', () => {
    const c = new Clock();
    const log: string[] = [];
    c.schedule(5, (t) => {
      log.push('first');
      c.schedule(t, () => log.push('same-cycle'));
      c.scheduleAfter(10, () => log.push('later'));
    });
    c.runUntil(10);
    expect(log).toEqual(['first', 'same-cycle']);
    c.advance(5);
    expect(log).toEqual(['first', 'same-cycle', 'later']);
  });

  it('cancels pending events; cancelling a run or cancelled event is harmless', () => {
    const c = new Clock();
    const log: string[] = [];
    const a = c.schedule(10, () => log.push('a'));
    const b = c.schedule(20, () => log.push('b'));
    expect(c.isPending(b)).toBe(true);
    expect(c.dueAt(b)).toBe(20);
    expect(c.cancel(b)).toBe(true);
    expect(c.cancel(b)).toBe(false);
    expect(c.dueAt(b)).toBeUndefined();
    c.runUntilIdle();
    expect(log).toEqual(['a']);
    expect(c.cancel(a)).toBe(false);
    // A handle of a cancelled event does not cancel the event that reuses its slot.
    const d = c.schedule(30, () => log.push('d'));
    expect(c.cancel(b)).toBe(false);
    expect(c.cancel(-1)).toBe(false);
    expect(c.isPending(d)).toBe(true);
    c.runUntilIdle();
    expect(log).toEqual(['a', 'd']);
  });

  it('grows past its initial capacity', () => {
    const c = new Clock(4);
    let sum = 0;
    for (let i = 0; i < 1000; i++) c.schedule(1000 - i, () => (sum += i));
    expect(c.pending).toBe(1000);
    expect(c.runUntilIdle()).toBe(1000);
    expect(sum).toBe(499500);
  });

  it('rejects events in the past, non-integer cycles and non-functions', () => {
    const c = new Clock();
    c.runUntil(100);
    expect(() => c.schedule(99, () => {})).toThrow(/cannot schedule an event at cycle 99 \(0x63\): it must be an integer cycle not before now \(100\)/);
    expect(() => c.schedule(100.5, () => {})).toThrow(UsageError);
    expect(() => c.schedule(200, 'x' as never)).toThrow(/event callback must be a function, got "x"/);
    expect(() => c.runUntil(50)).toThrow(/time is already 100/);
    for (const bad of [Number.NaN, 150.5, 2 ** 53, -1, 200n, '200']) expect(() => c.runUntil(bad as number)).toThrow(/cycle must be a non-negative safe integer/);
    expect(c.now()).toBe(100);
  });

  it('stops a runaway self-rescheduling event', () => {
    const c = new Clock();
    const tick = (t: number): void => void c.schedule(t + 1, tick);
    c.schedule(0, tick);
    expect(() => c.runUntilIdle(1000)).toThrow(/re-scheduling itself forever/);
  });

  it('saves and restores the time; restoring into a busy clock is refused', () => {
    const c = new Clock();
    c.runUntil(12345);
    const r = new Clock();
    r.restoreState(JSON.parse(JSON.stringify(c.saveState())));
    expect(r.now()).toBe(12345);
    r.schedule(20000, () => {});
    expect(() => r.restoreState(c.saveState())).toThrow(SnapshotError);
    expect(() => new Clock().restoreState({ type: 'hvsim.clock', version: 1, now: -1 })).toThrow(/now must be an integer/);
  });

  it('dispatches exactly like a stable sort of (cycle, schedule order), with random cancels (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: 50 }), fc.boolean()), { maxLength: 300 }), (ops) => {
        const c = new Clock(2);
        const log: number[] = [];
        const handles = ops.map(([t], i) => c.schedule(t, () => log.push(i)));
        ops.forEach(([, cancel], i) => cancel && c.cancel(handles[i]!));
        c.runUntilIdle();
        const expected = ops
          .map(([t, cancel], i) => ({ t, cancel, i }))
          .filter((e) => !e.cancel)
          .sort((a, b) => a.t - b.t || a.i - b.i)
          .map((e) => e.i);
        expect(log).toEqual(expected);
      }),
      { seed, numRuns },
    );
  });
});
