// The system counter derived from clock cycles (Arm ARM D11.1.2) and the 64-bit helpers it uses.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SystemCounter } from './counter.js';
import { add64, floorDiv, fromBigint, geU64, sub64, toBigint, toSafeNumber } from './u64.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);
const M64 = (1n << 64n) - 1n;

describe('SystemCounter', () => {
  it('reduces the frequency ratio to lowest terms', () => {
    const c = new SystemCounter(62_500_000, 2_500_000_000);
    expect([c.ticksPerPeriod, c.cyclesPerPeriod]).toEqual([1, 40]);
    const g = new SystemCounter(1_000_000_000, 2_500_000_000);
    expect([g.ticksPerPeriod, g.cyclesPerPeriod]).toEqual([2, 5]);
    const odd = new SystemCounter(24_000_000, 3_000_000_000);
    expect([odd.ticksPerPeriod, odd.cyclesPerPeriod]).toEqual([1, 125]);
  });

  it('ticksAt is floor(cycles * f / F) and cycleOfTicks is its least inverse, for any ratio', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2_000_000_000 }), fc.integer({ min: 1, max: 4_000_000_000 }), fc.integer({ min: 0, max: 2 ** 40 }), (f, cpu, now) => {
        // Exact while the count since the epoch stays below 2^53 (only a counter faster than the clock gets near).
        fc.pre((BigInt(now) * BigInt(f)) / BigInt(cpu) < 2n ** 52n);
        const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
        const g = gcd(f, cpu);
        fc.pre((f / g) * (cpu / g) <= 2 ** 52); // larger ratios are refused by the constructor
        const c = new SystemCounter(f, cpu);
        const t = c.ticksAt(now);
        expect(BigInt(t)).toBe((BigInt(now) * BigInt(f)) / BigInt(cpu));
        const at = c.cycleOfTicks(t + 1);
        expect(at).toBeGreaterThan(now);
        // A counter faster than the clock skips values (D11.1.2 allows increments above 1): at least t + 1.
        expect(c.ticksAt(at)).toBeGreaterThanOrEqual(t + 1);
        expect(c.ticksAt(at - 1)).toBeLessThan(t + 1);
      }),
      { seed, numRuns },
    );
  });

  it('keeps count and phase across setPosition at another time', () => {
    const c = new SystemCounter(1_000_000_000, 2_500_000_000);
    const out = { lo: 0, hi: 0 };
    const pos = c.position(1003, { countLo: 0, countHi: 0, phase: 0 }, out); // 401.2 ticks: period 200 starts at 1000
    expect(pos).toEqual({ countLo: 400, countHi: 0, phase: 3 });
    c.setPosition(7_000_000, pos);
    expect(c.countAt(7_000_000, out).lo).toBe(401); // what cycle 1003 read before
    expect(c.countAt(7_000_002, out).lo).toBe(402); // what cycle 1005 read before
  });
});

describe('u64 helpers', () => {
  const u64 = fc.bigInt({ min: 0n, max: M64 });
  it('add, subtract and compare as unsigned 64-bit values', () => {
    fc.assert(
      fc.property(u64, u64, (a, b) => {
        const A = fromBigint(a, { lo: 0, hi: 0 });
        const B = fromBigint(b, { lo: 0, hi: 0 });
        const out = { lo: 0, hi: 0 };
        expect(toBigint(add64(A.lo, A.hi, B.lo, B.hi, out).lo, out.hi)).toBe((a + b) & M64);
        expect(toBigint(sub64(A.lo, A.hi, B.lo, B.hi, out).lo, out.hi)).toBe((a - b) & M64);
        expect(geU64(A.lo, A.hi, B.lo, B.hi)).toBe(a >= b);
      }),
      { seed, numRuns },
    );
  });

  it('floorDiv is exact near 2^53 and toSafeNumber refuses values from 2^53', () => {
    expect(floorDiv(2 ** 53 - 1, 3)).toBe(Number((2n ** 53n - 1n) / 3n));
    expect(floorDiv(2 ** 53 - 2, 2 ** 26 + 1)).toBe(Number((2n ** 53n - 2n) / (2n ** 26n + 1n)));
    expect(toSafeNumber(0xffff_ffff, 0x1f_ffff)).toBe(2 ** 53 - 1);
    expect(toSafeNumber(0, 0x20_0000)).toBe(-1);
  });
});
