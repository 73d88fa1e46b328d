/** A seeded pseudo-random generator (mulberry32): the same seed gives the same sequence, with no Math.random. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An exponentially distributed interval with the given mean (a Poisson arrival process). */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }
}
