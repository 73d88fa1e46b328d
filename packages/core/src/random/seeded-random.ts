/**
 * The only source of randomness models and workloads may use: xoshiro128**
 * (Blackman and Vigna), seeded through SplitMix32 so that any 32-bit seed
 * gives a well-mixed state. Same seed, same sequence, on every platform.
 */
import { UsageError } from '../errors/hvsim-error.js';
import { assertInteger, describeValue } from '../errors/validate.js';
import { readState } from '../snapshot/state-reader.js';

/** Saved state of a {@link SeededRandom}. */
export interface SeededRandomState {
  /** Snapshot type tag. */
  type: 'hvsim.random';
  /** Snapshot format version. */
  version: 1;
  /** The four 32-bit words of the xoshiro128** state. */
  s: [number, number, number, number];
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Seeded xoshiro128** generator: the only source of randomness models may use. */
export class SeededRandom {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  constructor(seed: number) {
    assertInteger(seed, 'random seed', -(2 ** 31), 2 ** 32 - 1);
    // SplitMix32 expands the seed into the four state words (never all zero).
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in `[min, max]` (both inclusive), unbiased; the span is at most 2^32. */
  nextInt(min: number, max: number): number {
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max < min || max - min >= 2 ** 32) {
      throw new UsageError('bad-argument', `nextInt needs integers min <= max spanning at most 2^32, got ${describeValue(min)}, ${describeValue(max)}`);
    }
    const span = max - min + 1;
    if (span === 2 ** 32) return min + this.nextU32();
    // Rejection sampling: draw below the largest multiple of span.
    const limit = 2 ** 32 - (2 ** 32 % span);
    for (;;) {
      const r = this.nextU32();
      if (r < limit) return min + (r % span);
    }
  }

  /** True with probability `p`. */
  nextBool(p = 0.5): boolean {
    return this.nextFloat() < p;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new UsageError('bad-argument', 'cannot pick from an empty array');
    return items[this.nextInt(0, items.length - 1)]!;
  }

  /** Exponentially distributed value with the given mean (for inter-arrival times). */
  nextExponential(mean: number): number {
    return -Math.log(1 - this.nextFloat()) * mean;
  }

  /** An independent generator seeded from this one's stream. */
  fork(): SeededRandom {
    return new SeededRandom(this.nextU32());
  }

  /** Saves the generator's state: restoring it replays the same sequence. */
  saveState(): SeededRandomState {
    return { type: 'hvsim.random', version: 1, s: [this.s0, this.s1, this.s2, this.s3] };
  }

  /** Restores a state from {@link SeededRandom.saveState}; a bad state throws and changes nothing. */
  restoreState(state: unknown): void {
    const [a, b, c, d] = readState(state, 'hvsim.random', 1).intArray('s', 0, 0xffff_ffff, 4) as [number, number, number, number];
    if ((a | b | c | d) === 0) throw new UsageError('bad-argument', 'hvsim.random: an all-zero state never changes');
    this.s0 = a;
    this.s1 = b;
    this.s2 = c;
    this.s3 = d;
  }
}
