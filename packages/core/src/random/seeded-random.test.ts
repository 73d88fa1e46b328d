import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors/hvsim-error.js';
import { SnapshotError } from '../snapshot/snapshot-error.js';
import { SeededRandom } from './seeded-random.js';

describe('SeededRandom', () => {
  it('gives the same sequence for the same seed and different ones for different seeds', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const c = new SeededRandom(43);
    const sa = Array.from({ length: 16 }, () => a.nextU32());
    expect(Array.from({ length: 16 }, () => b.nextU32())).toEqual(sa);
    expect(Array.from({ length: 16 }, () => c.nextU32())).not.toEqual(sa);
    expect(sa.every((v) => v >>> 0 === v)).toBe(true);
  });

  it('matches an independent xoshiro128** reference and is pinned for seed 1', () => {
    // Reference values from a separate Python implementation of xoshiro128**
    // (Blackman and Vigna) and of the SplitMix32 seeding. A change here breaks
    // every recorded trace, so it must be deliberate.
    const r = new SeededRandom(0);
    r.restoreState({ type: 'hvsim.random', version: 1, s: [1, 2, 3, 4] });
    expect([r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32()]).toEqual([11520, 0, 5927040, 70819200]);
    const seeded = new SeededRandom(1);
    expect(seeded.saveState().s).toEqual([2527132011, 314344336, 2535364964, 2041432039]);
    expect([seeded.nextU32(), seeded.nextU32(), seeded.nextU32()]).toEqual([2442144158, 3238099751, 3819917871]);
  });

  it('draws unbiased integers in an inclusive range', () => {
    const r = new SeededRandom(7);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 60000; i++) counts[r.nextInt(1, 6) - 1]!++;
    for (const n of counts) expect(Math.abs(n - 10000)).toBeLessThan(500);
    expect(r.nextInt(5, 5)).toBe(5);
    const full = r.nextInt(0, 2 ** 32 - 1);
    expect(full >= 0 && full < 2 ** 32).toBe(true);
    expect(() => r.nextInt(3, 2)).toThrow(/nextInt needs integers min <= max/);
    expect(() => r.nextInt(0, 2 ** 33)).toThrow(UsageError);
  });

  it('draws floats in [0, 1), booleans, picks and exponentials', () => {
    const r = new SeededRandom(9);
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const f = r.nextFloat();
      expect(f >= 0 && f < 1).toBe(true);
      sum += f;
    }
    expect(Math.abs(sum / 10000 - 0.5)).toBeLessThan(0.02);
    expect(r.nextBool(0)).toBe(false);
    expect(r.nextBool(1)).toBe(true);
    expect(['a', 'b']).toContain(r.pick(['a', 'b']));
    expect(() => r.pick([])).toThrow(/empty array/);
    let mean = 0;
    for (let i = 0; i < 20000; i++) mean += r.nextExponential(100) / 20000;
    expect(Math.abs(mean - 100)).toBeLessThan(5);
  });

  it('forks independent, reproducible streams', () => {
    const a = new SeededRandom(3).fork();
    const b = new SeededRandom(3).fork();
    expect(a.nextU32()).toBe(b.nextU32());
  });

  it('saves and restores mid-stream exactly', () => {
    const r = new SeededRandom(11);
    r.nextU32();
    const saved = JSON.parse(JSON.stringify(r.saveState()));
    const expected = [r.nextU32(), r.nextU32()];
    const s = new SeededRandom(0);
    s.restoreState(saved);
    expect([s.nextU32(), s.nextU32()]).toEqual(expected);
    expect(() => s.restoreState({ type: 'hvsim.random', version: 1, s: [0, 0, 0, 0] })).toThrow(/all-zero state/);
    expect(() => s.restoreState({ type: 'hvsim.random', version: 1, s: [1, 2] })).toThrow(SnapshotError);
    expect(() => new SeededRandom(1.5)).toThrow(/random seed must be an integer/);
  });
});
