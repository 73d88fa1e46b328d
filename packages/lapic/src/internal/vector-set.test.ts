import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bitmap } from '@hvsim/core';
import { VectorSet } from './vector-set.js';
import { numRuns, seed } from '../test-support/helpers.js';

describe('VectorSet (256-bit IRR/ISR/TMR, SDM 3A 11.8.4)', () => {
  it('property: behaves like core Bitmap(256) for set, clear, clearAndFindHighest, test, findHighest and words', () => {
    const op = fc.tuple(fc.constantFrom('set', 'clear', 'word', 'clearAndFind'), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff_ffff }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 100 }), (ops) => {
        const v = new VectorSet();
        const b = new Bitmap(256);
        // Every observation after every step, compared once per run (one expect per step made this test slow).
        const got: unknown[] = [];
        const want: unknown[] = [];
        for (const [k, bit, word] of ops) {
          if (k === 'set') {
            got.push(v.set(bit));
            want.push(b.set(bit));
          } else if (k === 'clear') {
            got.push(v.clear(bit));
            want.push(b.clear(bit));
          } else if (k === 'clearAndFind') {
            // Clears a set vector (the highest, or `bit` when set) and returns the new highest, as clear + findHighest.
            const target = b.test(bit) ? bit : b.findHighest();
            if (target >= 0) {
              b.clear(target);
              got.push(v.clearAndFindHighest(target));
              want.push(b.findHighest());
            }
          } else {
            v.setWord(bit & 7, word);
            b.setWord(bit & 7, word);
          }
          got.push(v.findHighest(), v.isEmpty(), v.test(bit), ...v.words);
          want.push(b.findHighest(), b.isEmpty(), b.test(bit), ...b.words);
        }
        expect(got).toEqual(want);
        v.clearAll();
        expect(v.findHighest()).toBe(-1);
        expect(v.isEmpty()).toBe(true);
      }),
      { seed, numRuns },
    );
  });
});
