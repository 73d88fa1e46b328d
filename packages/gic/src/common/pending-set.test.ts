import { describe, expect, it } from 'vitest';
import { PendingSet, bucketGroup, bucketPriority } from './pending-set.js';

// IHI0069 4.1.1 / IHI0048B 3.3: the highest-priority (lowest value) pending interrupt is selected.
describe('PendingSet', () => {
  it('selects the lowest priority value, then the first inserted at equal priority', () => {
    const s = new PendingSet(64);
    expect(s.best(3)).toBe(-1);
    s.insert(40, 0xa0, 1);
    s.insert(33, 0x80, 1);
    s.insert(50, 0x80, 1);
    expect(s.best(3)).toBe(33);
    expect(s.size).toBe(3);
    s.remove(33);
    expect(s.best(3)).toBe(50);
    expect(s.remove(33)).toBe(false);
  });

  it('filters by group and prefers Group 0 at equal priority', () => {
    const s = new PendingSet(64);
    s.insert(10, 0x40, 1);
    s.insert(11, 0x40, 0);
    s.insert(12, 0x20, 1);
    expect(s.best(1)).toBe(11);
    expect(s.best(2)).toBe(12);
    expect(s.best(3)).toBe(12);
    s.remove(12);
    expect(s.best(3)).toBe(11);
    expect(s.best(0)).toBe(-1);
  });

  it('moves a key when its priority or group changes and reports whether anything changed', () => {
    const s = new PendingSet(8);
    expect(s.insert(1, 0x10, 0)).toBe(true);
    expect(s.insert(1, 0x10, 0)).toBe(false);
    s.insert(2, 0x20, 0);
    expect(s.insert(1, 0x30, 0)).toBe(true);
    expect(s.best(1)).toBe(2);
    expect(s.size).toBe(2);
    s.insert(1, 0x30, 1);
    expect(s.best(2)).toBe(1);
    expect(s.has(1)).toBe(true);
    s.clear();
    expect(s.has(1)).toBe(false);
    expect(s.best(3)).toBe(-1);
  });

  it('grows to hold keys above the SPI range (room for LPIs) keeping its contents', () => {
    const s = new PendingSet(1020);
    s.insert(1019, 0x50, 1);
    s.grow(1020 + 65536);
    s.insert(1020 + 65535, 0x40, 1);
    expect(s.best(2)).toBe(1020 + 65535);
    s.remove(1020 + 65535);
    expect(s.best(2)).toBe(1019);
    s.grow(10);
    expect(s.capacity).toBe(1020 + 65536);
  });

  it('keeps bucket lists intact when removing from the middle and the tail', () => {
    const s = new PendingSet(16);
    for (const k of [1, 2, 3, 4]) s.insert(k, 0x80, 1);
    s.remove(2);
    s.remove(4);
    expect(s.best(2)).toBe(1);
    s.remove(1);
    expect(s.best(2)).toBe(3);
    s.insert(5, 0x80, 1);
    s.remove(3);
    expect(s.best(2)).toBe(5);
  });
});

// IHI0069 4.1.1: one lookup finds the best bucket for any group mask; its number carries priority and group.
describe('PendingSet buckets', () => {
  it('numbers buckets priority << 1 | group, so Group 0 comes first at equal priority', () => {
    const s = new PendingSet(64);
    s.insert(20, 0x48, 1);
    s.insert(21, 0x48, 0);
    s.insert(22, 0x50, 0);
    const b = s.bestBucket(3);
    expect([bucketPriority(b), bucketGroup(b), s.first(b)]).toEqual([0x48, 0, 21]);
    expect(s.bucket(20)).toBe((0x48 << 1) | 1);
    const g1 = s.bestBucket(2);
    expect([bucketPriority(g1), bucketGroup(g1), s.first(g1)]).toEqual([0x48, 1, 20]);
    s.remove(21);
    expect(s.first(s.bestBucket(1))).toBe(22);
    expect(s.bestBucket(0)).toBe(-1);
  });

  it('clear empties every bucket and reorder puts listed keys last in their buckets', () => {
    const s = new PendingSet(64);
    for (const k of [5, 6, 7]) s.insert(k, 0x40, 1);
    s.insert(9, 0x40, 0);
    s.reorder([5, 63, 6]); // 63 is absent: skipped
    expect(s.keys()).toEqual([9, 7, 5, 6]);
    s.clear();
    expect([s.size, s.bestBucket(3), s.has(5), s.keys()]).toEqual([0, -1, false, []]);
    s.insert(5, 0x10, 1);
    expect(s.first(s.bestBucket(2))).toBe(5);
  });

  it('clear removes every key of every bucket (it walks the occupied buckets), and the set is reusable at once', () => {
    const s = new PendingSet(2048);
    for (let k = 0; k < 2048; k += 3) s.insert(k, (k * 7) & 0xff, k & 1);
    s.clear();
    for (let k = 0; k < 2048; k++) expect(s.has(k)).toBe(false);
    expect([s.size, s.bestBucket(3), s.keys()]).toEqual([0, -1, []]);
    // Re-inserted keys form fresh lists: no stale link of a cleared key shows up.
    s.insert(300, 0x20, 1);
    s.insert(3, 0x20, 1);
    s.insert(6, 0x10, 0);
    expect(s.keys()).toEqual([6, 300, 3]);
    s.remove(300);
    expect(s.keys()).toEqual([6, 3]);
  });

  it('keeps the per-group summaries exact when buckets of one word empty (every priority, both groups)', () => {
    const s = new PendingSet(600);
    for (let p = 0; p < 256; p++) s.insert(2 * p, p, 0);
    for (let p = 0; p < 256; p++) s.insert(2 * p + 1, p, 1);
    for (let p = 0; p < 255; p++) {
      s.remove(2 * p);
      expect(bucketPriority(s.bestBucket(1))).toBe(p + 1);
      expect(bucketPriority(s.bestBucket(2))).toBe(p);
      s.remove(2 * p + 1);
      expect(bucketPriority(s.bestBucket(2))).toBe(p + 1);
    }
    const out = new Int32Array(4);
    expect(s.ordered(3, out)).toBe(2);
    expect(Array.from(out.subarray(0, 2))).toEqual([510, 511]);
  });
});
