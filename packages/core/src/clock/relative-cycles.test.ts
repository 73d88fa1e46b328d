import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors/hvsim-error.js';
import { readState } from '../snapshot/state-reader.js';
import { SnapshotError } from '../snapshot/snapshot-error.js';
import { Clock } from './clock.js';
import { restoreCycle, saveCycle } from './relative-cycles.js';

/** A one-shot countdown timer as a model would write it: an anchor (count start) and a deadline. */
class Countdown {
  anchor = 0;
  deadline = -1;
  fired: number[] = [];
  private handle = -1;
  constructor(private readonly clock: Clock) {}
  start(cycles: number): void {
    this.anchor = this.clock.now();
    this.arm(this.anchor + cycles);
  }
  elapsed(): number {
    return this.clock.now() - this.anchor;
  }
  private arm(at: number): void {
    this.deadline = at;
    this.handle = this.clock.schedule(at, (now) => {
      this.fired.push(now);
      this.deadline = -1;
    });
  }
  saveState(): { type: 'test.countdown'; version: 1; anchor: number; deadline: number | null } {
    // The rule: cycles relative to the clock at save time.
    return { type: 'test.countdown', version: 1, anchor: saveCycle(this.clock, this.anchor), deadline: this.deadline < 0 ? null : saveCycle(this.clock, this.deadline) };
  }
  restoreState(state: unknown): void {
    const r = readState(state, 'test.countdown', 1);
    const anchor = r.cycle('anchor', this.clock);
    const deadline = r.raw('deadline') === null ? -1 : r.cycle('deadline', this.clock, 0);
    this.clock.cancel(this.handle);
    this.anchor = anchor;
    this.deadline = -1;
    if (deadline >= 0) this.arm(deadline);
  }
}

describe('relative cycles in saved states (migration into a running clock)', () => {
  it('saves relative to now and restores relative to the new clock now', () => {
    const a = new Clock();
    a.advance(1000);
    expect(saveCycle(a, 1500)).toBe(500);
    expect(saveCycle(a, 400)).toBe(-600);
    const b = new Clock();
    b.advance(9_000_000);
    expect(restoreCycle(b, 500)).toBe(9_000_500);
    expect(restoreCycle(b, -600)).toBe(8_999_400);
    expect(() => saveCycle(a, 1.5)).toThrow('cycle to save must be a safe integer, got 1.5');
    expect(() => restoreCycle(b, Number.MAX_SAFE_INTEGER)).toThrow(UsageError);
  });

  it('migrates a running timer into a host clock far ahead, with other events pending, losing no tick', () => {
    const src = new Clock();
    src.advance(1_000);
    const timer = new Countdown(src);
    timer.start(700); // due at 1,700
    src.advance(200); // 200 elapsed, 500 to go
    const state = JSON.parse(JSON.stringify(timer.saveState())) as unknown;
    expect(state).toMatchObject({ anchor: -200, deadline: 500 });

    const host = new Clock();
    host.advance(50_000_000);
    const other: number[] = [];
    host.scheduleAfter(300, (now) => other.push(now)); // another VM's event: the queue is not empty
    expect(() => host.restoreState(src.saveState())).toThrow(SnapshotError); // a whole-clock restore is not what migration does
    const migrated = new Countdown(host);
    migrated.restoreState(state);
    expect(migrated.elapsed()).toBe(200);
    host.advance(499);
    expect(migrated.fired).toEqual([]);
    host.advance(1);
    expect(migrated.fired).toEqual([50_000_500]);
    expect(other).toEqual([50_000_300]);
    // Saved and restored again with nothing pending, as never stopping.
    expect(migrated.saveState()).toEqual({ type: 'test.countdown', version: 1, anchor: -700, deadline: null });
  });

  it('refuses a deadline saved in the past and a cycle that does not fit, naming the field', () => {
    const clock = new Clock();
    const t = new Countdown(clock);
    expect(() => t.restoreState({ type: 'test.countdown', version: 1, anchor: 0, deadline: -5 })).toThrow('test.countdown.deadline must be an integer in [0, 9007199254740991], got -5');
    clock.advance(10);
    expect(() => t.restoreState({ type: 'test.countdown', version: 1, anchor: Number.MAX_SAFE_INTEGER, deadline: null })).toThrow(
      /test.countdown.anchor must be a relative cycle that lands in range at cycle 10/,
    );
  });
});
