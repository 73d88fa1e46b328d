import { describe, expect, it } from 'vitest';
import { intidKind, isSpecialIntid } from './intid.js';

// IHI0069 2.2.1 Table 2-1 INTID ranges; IHI0048B 2.2.1.
describe('INTID ranges', () => {
  it.each([
    [0, 'sgi'],
    [15, 'sgi'],
    [16, 'ppi'],
    [31, 'ppi'],
    [32, 'spi'],
    [1019, 'spi'],
    [1020, 'special'],
    [1023, 'special'],
    [1024, 'reserved'],
    [8191, 'reserved'],
    [8192, 'lpi'],
  ])('INTID %i is %s', (intid, kind) => {
    expect(intidKind(intid)).toBe(kind);
    expect(isSpecialIntid(intid)).toBe(kind === 'special');
  });
});
