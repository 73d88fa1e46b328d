import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { UsageError } from '../errors/hvsim-error.js';
import {
  bitField,
  bitFlag,
  bitRange,
  fieldMask,
  getField,
  getField64,
  hi32,
  joinU53,
  joinU64,
  lo32,
  mask64,
  setField,
  setField64,
  splitU64,
  testField,
  assertU64,
} from './field.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 200);

describe('bit-field descriptors', () => {
  it('builds descriptors from lsb/width, a flag, and [msb:lsb]', () => {
    expect(bitField(8, 4)).toEqual({ lsb: 8, width: 4 });
    expect(bitFlag(16)).toEqual({ lsb: 16, width: 1 });
    // SDM notation: bits 15:8 are the xAPIC ID's neighbour, 8 bits wide.
    expect(bitRange(15, 8)).toEqual({ lsb: 8, width: 8 });
  });

  it('rejects descriptors that do not fit 64 bits, naming the value', () => {
    expect(() => bitField(-1, 1)).toThrow(/lsb must be an integer in \[0, 63\], got -1/);
    expect(() => bitField(60, 5)).toThrow(/width must be in \[1, 4\] for lsb 60, got 5/);
    expect(() => bitField(0, 0)).toThrow(UsageError);
    expect(() => bitField(1.5, 1)).toThrow(UsageError);
  });

  it('computes 32-bit masks and refuses wider ones', () => {
    expect(fieldMask(bitField(4, 4))).toBe(0xf0);
    expect(fieldMask(bitField(0, 32))).toBe(0xffffffff);
    expect(fieldMask(bitField(31, 1))).toBe(0x80000000);
    expect(() => fieldMask(bitField(30, 4))).toThrow(/does not fit a 32-bit mask/);
  });
});

describe('number fields', () => {
  it('reads and writes fields within 32 bits as unsigned values', () => {
    const vector = bitField(0, 8);
    const mask = bitFlag(16);
    const all = bitField(0, 32);
    expect(getField(0x000100fe, vector)).toBe(0xfe);
    expect(testField(0x00010000, mask)).toBe(true);
    expect(setField(0, bitFlag(31), 1)).toBe(0x80000000);
    expect(setField(0xffffffff, vector, 0x12)).toBe(0xffffff12);
    expect(getField(0xffffffff, all)).toBe(0xffffffff);
    expect(setField(0, all, -1)).toBe(0xffffffff);
    // Values wider than the field are truncated to it.
    expect(setField(0, bitField(4, 4), 0x1f)).toBe(0xf0);
  });

  it('reads and writes fields above bit 31 exactly (page-table address bits 51:12)', () => {
    const addr = bitRange(51, 12);
    const pte = 0x000f_ffff_ffff_f000 + 0x63;
    expect(getField(pte, addr)).toBe(0xff_ffff_ffff);
    const moved = setField(pte, addr, 0x12345);
    expect(moved).toBe(0x12345 * 4096 + 0x63);
    expect(getField(2 ** 52 - 1, bitRange(52, 40))).toBe(2 ** 12 - 1);
  });

  it('agrees with bigint arithmetic for every field and value below 2^53 (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 52 }), fc.integer({ min: 1, max: 53 }), fc.maxSafeNat(), fc.maxSafeNat(), (lsb, w, value, fv) => {
        const width = Math.min(w, 53 - lsb);
        const f = bitField(lsb, width);
        const big = BigInt(value);
        expect(getField(value, f)).toBe(Number(getField64(big, f)));
        if (lsb + width <= 32) {
          const v32 = value >>> 0;
          expect(setField(v32, f, fv >>> 0)).toBe(Number(setField64(BigInt(v32), f, BigInt(fv >>> 0))));
        } else {
          expect(setField(value, f, fv)).toBe(Number(setField64(big, f, BigInt(fv))));
        }
      }),
      { seed, numRuns },
    );
  });
});

describe('bigint fields and halves', () => {
  it('reads and writes 64-bit fields', () => {
    const icrDest = bitRange(63, 32);
    expect(getField64(0xff00000000000030n, bitRange(63, 56))).toBe(0xffn);
    expect(setField64(0x30n, icrDest, 0x12345678n)).toBe(0x1234567800000030n);
    expect(mask64(11, 8)).toBe(0xf00n);
  });

  it('splits and joins halves', () => {
    expect(splitU64(0x1234567890abcdefn)).toEqual({ lo: 0x90abcdef, hi: 0x12345678 });
    expect(joinU64(0x90abcdef, 0x12345678)).toBe(0x1234567890abcdefn);
    expect(joinU53(1, 0x1fffff)).toBe(0x1fffff00000001);
    expect(lo32(0x1_2345_6789)).toBe(0x2345_6789);
    expect(hi32(0x1_2345_6789)).toBe(1);
  });

  it('checks 64-bit bigints', () => {
    expect(() => assertU64(1n << 64n, 'value')).toThrow(/value must be an unsigned 64-bit bigint, got 18446744073709551616n/);
    expect(() => assertU64(-1n, 'value')).toThrow(UsageError);
    expect(() => assertU64(5, 'value')).toThrow(/got 5/);
    expect(() => assertU64(0xffff_ffff_ffff_ffffn, 'value')).not.toThrow();
  });
});
