import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { UsageError } from '../errors/hvsim-error.js';
import { Bitmap } from './bitmap.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 200);

describe('Bitmap', () => {
  it('starts empty', () => {
    const b = new Bitmap(256);
    expect(b.isEmpty()).toBe(true);
    expect(b.findHighest()).toBe(-1);
    expect(b.findLowest()).toBe(-1);
    expect(b.count()).toBe(0);
  });

  it('sets, tests and clears, reporting the previous state (for coalescing)', () => {
    const b = new Bitmap(256);
    expect(b.set(0x31)).toBe(false);
    expect(b.set(0x31)).toBe(true);
    expect(b.test(0x31)).toBe(true);
    expect(b.clear(0x31)).toBe(true);
    expect(b.clear(0x31)).toBe(false);
    expect(b.isEmpty()).toBe(true);
  });

  it('finds the highest and lowest set bit across words', () => {
    const b = new Bitmap(256);
    for (const bit of [3, 31, 32, 200, 255]) b.set(bit);
    expect(b.findHighest()).toBe(255);
    expect(b.findLowest()).toBe(3);
    b.clear(255);
    expect(b.findHighest()).toBe(200);
    b.clear(3);
    expect(b.findLowest()).toBe(31);
    expect(b.toArray()).toEqual([31, 32, 200]);
    expect(b.count()).toBe(3);
  });

  it('iterates with findNext across the summary level of a large map', () => {
    const b = new Bitmap(65536);
    const bits = [8192, 8193, 40000, 65535];
    for (const x of bits) b.set(x);
    expect(b.findNext(0)).toBe(8192);
    expect(b.findNext(8194)).toBe(40000);
    expect(b.findNext(40001)).toBe(65535);
    expect(b.findNext(65536)).toBe(-1);
    expect(b.findNext(-5)).toBe(8192);
    expect(b.toArray()).toEqual(bits);
  });

  it('reads and writes whole words, masking bits past the size', () => {
    const b = new Bitmap(40);
    b.setWord(1, 0xffffffff);
    expect(b.getWord(1)).toBe(0xff);
    expect(b.findHighest()).toBe(39);
    b.setWord(1, 0);
    expect(b.isEmpty()).toBe(true);
    expect(() => b.getWord(2)).toThrow(/word index must be in \[0, 1\], got 2/);
  });

  it('copies from a bitmap of the same size only', () => {
    const a = new Bitmap(256);
    a.set(100);
    const b = new Bitmap(256);
    b.copyFrom(a);
    expect(b.findHighest()).toBe(100);
    expect(() => new Bitmap(128).copyFrom(a)).toThrow(/cannot copy a 256-bit bitmap into a 128-bit one/);
  });

  it('rejects bad sizes and indices with the value in the message', () => {
    expect(() => new Bitmap(0)).toThrow(/bitmap size must be an integer in \[1, 2\^26\], got 0/);
    const b = new Bitmap(256);
    expect(() => b.set(256)).toThrow(/bit index must be an integer in \[0, 255\], got 256/);
    expect(() => b.test(-1)).toThrow(UsageError);
    expect(() => b.clear(1.5)).toThrow(UsageError);
    expect(() => b.set(Number.NaN)).toThrow(UsageError);
  });

  it('agrees with a reference set for any sequence of sets and clears (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 200 }),
        (size, ops) => {
          const b = new Bitmap(size);
          const ref = new Set<number>();
          for (const [isSet, raw] of ops) {
            const bit = raw % size;
            if (isSet) {
              expect(b.set(bit)).toBe(ref.has(bit));
              ref.add(bit);
            } else {
              expect(b.clear(bit)).toBe(ref.has(bit));
              ref.delete(bit);
            }
          }
          const sorted = [...ref].sort((x, y) => x - y);
          expect(b.findHighest()).toBe(sorted.length ? sorted[sorted.length - 1] : -1);
          expect(b.findLowest()).toBe(sorted.length ? sorted[0] : -1);
          expect(b.toArray()).toEqual(sorted);
          expect(b.count()).toBe(sorted.length);
          expect(b.isEmpty()).toBe(sorted.length === 0);
        },
      ),
      { seed, numRuns },
    );
  });
});
