/** Shared set-up for the generic timer tests: a clock, a timer and a recording fake GIC line. */
import { Clock } from '@hvsim/core';
import { GenericTimer, type GenericTimerOptions } from './generic-timer.js';

/** One output level change as the fake GIC saw it. */
export interface LevelChange {
  cycle: number;
  cpu: number;
  intid: number;
  level: boolean;
}

export interface TimerRig {
  clock: Clock;
  timer: GenericTimer;
  /** Every output change, in order. */
  changes: LevelChange[];
  /** Current level of each (cpu, intid) line as the fake GIC holds it. */
  line: (cpu: number, intid: number) => boolean;
}

/** Cycles per tick at the default 62.5 MHz counter on the 2.5 GHz clock. */
export const CPT = 40;

export function makeTimer(options: Partial<GenericTimerOptions> = {}): TimerRig {
  const clock = options.clock ?? new Clock();
  const changes: LevelChange[] = [];
  const levels = new Map<string, boolean>();
  const timer = new GenericTimer({
    cpus: 2,
    ...options,
    clock,
    output: (cpu, intid, level) => {
      changes.push({ cycle: clock.now(), cpu, intid, level });
      levels.set(`${cpu}:${intid}`, level);
      options.output?.(cpu, intid, level);
    },
  });
  return { clock, timer, changes, line: (cpu, intid) => levels.get(`${cpu}:${intid}`) ?? false };
}

/** ENABLE. */
export const EN = 1n;
/** IMASK. */
export const MASK = 2n;
/** ISTATUS. */
export const STATUS = 4n;
/** 2^64. */
export const TWO_64 = 1n << 64n;
