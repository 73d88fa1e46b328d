import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bitmap } from '@hvsim/core';
import { VectorSet } from './vector-set.js';
import { numRuns, seed } from '../test-support/helpers.js';

describe('VectorSet (256-bit IRR/ISR/TMR, SDM 3A 11.8.4)', () => {
  it('property: behaves like core Bitmap(256) for set, clear, test, findHighest and words', () => {
    const op = fc.tuple(fc.constantFrom('set', 'clear', 'word'), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff_ffff }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 100 }), (ops) => {
        const v = new VectorSet();
        const b = new Bitmap(256);
        for (const [k, bit, word] of ops) {
          if (k === 'set') expect(v.set(bit)).toBe(b.set(bit));
          else if (k === 'clear') expect(v.clear(bit)).toBe(b.clear(bit));
          else {
            v.setWord(bit & 7, word);
            b.setWord(bit & 7, word);
          }
          expect(v.findHighest()).toBe(b.findHighest());
          expect(v.isEmpty()).toBe(b.isEmpty());
          expect(v.test(bit)).toBe(b.test(bit));
          expect(Array.from(v.words)).toEqual(Array.from(b.words));
        }
        v.clearAll();
        expect(v.findHighest()).toBe(-1);
      }),
      { seed, numRuns },
    );
  });
});
