/**
 * The system counter that feeds every PE's generic timers (Arm ARM D11.1.2
 * "The system counter"): a 64-bit count that increases at a fixed frequency,
 * derived here from the core Clock's cycles. The counter advances
 * `ticksPerPeriod` ticks every `cyclesPerPeriod` cycles (the ratio of the
 * counter frequency to the CPU clock rate in lowest terms), so any pair of
 * integer frequencies is exact: 62.5 MHz on a 2.5 GHz clock is 1 tick per 40
 * cycles, 1 GHz on a 2.5 GHz clock 2 ticks per 5 cycles (D11.1.2 allows a
 * counter that increments by more than one at a lower rate). Nothing reads
 * wall time.
 *
 * count(now) = base + floor((now - epoch) * P / Q)  (mod 2^64)
 *
 * `epoch` and `base` change only on a restore, which keeps the count and the
 * phase within the current period, so a state restored into a clock that is
 * already far ahead continues from the same count (D11.1.2: the count must
 * not go backwards, and no tick is lost).
 */
import { UsageError, describeValue } from '@hvsim/core';
import { add64, floorDiv, type U64 } from './u64.js';

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Largest product of the reduced ratio's terms that keeps every intermediate exact. */
const MAX_RATIO_PRODUCT = 2 ** 52;

/** The count and phase of a counter at one instant, relative to nothing (see the file comment). */
export interface CounterPosition {
  /** Count at the start of the current period, low half. */
  countLo: number;
  /** Count at the start of the current period, high half. */
  countHi: number;
  /** Cycles since the start of the current period, in [0, cyclesPerPeriod). */
  phase: number;
}

/** A system counter on the simulated clock (internal to GenericTimer). */
export class SystemCounter {
  /** P: counter ticks per period. */
  readonly ticksPerPeriod: number;
  /** Q: clock cycles per period. */
  readonly cyclesPerPeriod: number;
  private epoch = 0;
  private baseLo = 0;
  private baseHi = 0;

  constructor(
    /** Counter frequency in Hz (what CNTFRQ_EL0 reports). */
    readonly frequencyHz: number,
    /** Clock cycles per second. */
    readonly cpuFrequencyHz: number,
  ) {
    if (!Number.isInteger(frequencyHz) || frequencyHz < 1 || frequencyHz > 0xffff_ffff) {
      throw new UsageError('bad-argument', `counterFrequencyHz must be an integer in [1, 4294967295] (CNTFRQ_EL0 is 32 bits), got ${describeValue(frequencyHz)}`);
    }
    if (!Number.isSafeInteger(cpuFrequencyHz) || cpuFrequencyHz < 1) {
      throw new UsageError('bad-argument', `cpuFrequencyHz must be a positive safe integer, got ${describeValue(cpuFrequencyHz)}`);
    }
    const g = gcd(frequencyHz, cpuFrequencyHz);
    this.ticksPerPeriod = frequencyHz / g;
    this.cyclesPerPeriod = cpuFrequencyHz / g;
    if (this.ticksPerPeriod * this.cyclesPerPeriod > MAX_RATIO_PRODUCT) {
      throw new UsageError(
        'bad-argument',
        `counterFrequencyHz ${frequencyHz} and cpuFrequencyHz ${cpuFrequencyHz} reduce to ${this.ticksPerPeriod} ticks per ${this.cyclesPerPeriod} cycles; the product must be at most 2^52`,
      );
    }
  }

  /** Ticks since the epoch at cycle `now` (exact while below 2^53). */
  ticksAt(now: number): number {
    const e = now - this.epoch;
    const q = this.cyclesPerPeriod;
    const p = this.ticksPerPeriod;
    if (p === 1) return floorDiv(e, q);
    const a = floorDiv(e, q);
    return a * p + floorDiv((e - a * q) * p, q);
  }

  /** The physical count (64-bit) at cycle `now`, into `out`. */
  countAt(now: number, out: U64): U64 {
    return this.countOfTicks(this.ticksAt(now), out);
  }

  /** The physical count (64-bit) `ticks` after the epoch, into `out`. */
  countOfTicks(ticks: number, out: U64): U64 {
    const hi = Math.floor(ticks / 4294967296);
    return add64(this.baseLo, this.baseHi, ticks - hi * 4294967296, hi, out);
  }

  /** The first cycle at which `ticksAt` reaches `ticks`, or -1 when that is beyond 2^53 - 1. */
  cycleOfTicks(ticks: number): number {
    const p = this.ticksPerPeriod;
    const q = this.cyclesPerPeriod;
    const a = floorDiv(ticks, p);
    const b = ticks - a * p;
    // ceil(b * q / p), with b * q + p - 1 below 2^53 by the ratio bound.
    const within = b === 0 ? 0 : floorDiv(b * q + p - 1, p);
    const e = a * q + within;
    const cycle = this.epoch + e;
    return Number.isSafeInteger(e) && Number.isSafeInteger(cycle) ? cycle : -1;
  }

  /** Where the counter is at cycle `now`, for a snapshot. */
  position(now: number, out: CounterPosition, scratch: U64): CounterPosition {
    const e = now - this.epoch;
    const a = floorDiv(e, this.cyclesPerPeriod);
    const t = a * this.ticksPerPeriod;
    const hi = Math.floor(t / 4294967296);
    add64(this.baseLo, this.baseHi, t - hi * 4294967296, hi, scratch);
    out.countLo = scratch.lo;
    out.countHi = scratch.hi;
    out.phase = e - a * this.cyclesPerPeriod;
    return out;
  }

  /** Continues from a saved position at cycle `now` (validated by the caller). */
  setPosition(now: number, pos: CounterPosition): void {
    this.epoch = now - pos.phase;
    this.baseLo = pos.countLo;
    this.baseHi = pos.countHi;
  }
}
