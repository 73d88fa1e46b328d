import { describe, expect, it } from 'vitest';
import { decodeArrayAccess, forEachSetBit, registerArray, type ArrayAccess } from './register-array.js';

// IHI0048B 4.3 / IHI0069 12.9: 1, 2 and 8 bits per INTID arrays.
describe('decodeArrayAccess', () => {
  const arrays = [registerArray('ISENABLER', 0x100, 1), registerArray('IPRIORITYR', 0x400, 8), registerArray('ICFGR', 0xc00, 2)];
  const out: ArrayAccess = { intid: 0, count: 0 };

  it.each([
    [0x100, 4, 'ISENABLER', 0, 32],
    [0x11c, 4, 'ISENABLER', 224, 32],
    [0x404, 4, 'IPRIORITYR', 4, 4],
    [0x40b, 1, 'IPRIORITYR', 11, 1],
    [0x7f8, 4, 'IPRIORITYR', 1016, 4],
    [0xc08, 4, 'ICFGR', 32, 16],
  ])('offset 0x%s size %i is %s from INTID %i covering %i', (offset, size, name, intid, count) => {
    expect(decodeArrayAccess(arrays, offset, size, out)?.name).toBe(name);
    expect(out).toEqual({ intid, count });
  });

  it('returns undefined outside every array', () => {
    expect(decodeArrayAccess(arrays, 0x000, 4, out)).toBeUndefined();
    expect(decodeArrayAccess(arrays, 0x180, 4, out)).toBeUndefined();
    expect(decodeArrayAccess(arrays, 0xd00, 4, out)).toBeUndefined();
  });

  it('bounds the span by the INTIDs given', () => {
    expect(registerArray('IGROUPR0', 0x80, 1, 32).bytes).toBe(4);
    expect(registerArray('IPRIORITYR', 0x400, 8, 32).bytes).toBe(32);
  });
});

describe('forEachSetBit', () => {
  it('visits each 1 bit as an INTID, within count', () => {
    const seen: number[] = [];
    forEachSetBit(0x8000_0005, 32, 32, (i) => seen.push(i));
    expect(seen).toEqual([32, 34, 63]);
    seen.length = 0;
    forEachSetBit(0xff, 0, 4, (i) => seen.push(i));
    expect(seen).toEqual([0, 1, 2, 3]);
  });
});
