/**
 * Selection cost of the pending set at LPI scale (the structure issue 8's
 * LPIs use): 65,536 keys above the SPI range, 10 versus 1,000 pending, one
 * acknowledge-like cycle (best, remove, insert again) per operation.
 */
import { bench, describe } from 'vitest';
import { SeededRandom } from '@hvsim/core';
import { PendingSet } from './pending-set.js';

const LOOP = 1000;
const BASE = 1020;

function filled(pending: number): PendingSet {
  const s = new PendingSet(BASE + 65536);
  const rng = new SeededRandom(7);
  for (let i = 0; i < pending; i++) s.insert(BASE + rng.nextInt(0, 65535), rng.nextInt(0, 63) << 2, 1);
  return s;
}

describe('PendingSet best + remove + re-insert with 65,536 LPI keys', () => {
  for (const pending of [10, 1000]) {
    const s = filled(pending);
    bench(`${pending} pending (x1000)`, () => {
      for (let k = 0; k < LOOP; k++) {
        const key = s.best(2);
        s.remove(key);
        s.insert(key, 0xfc, 1);
      }
    });
  }
});
