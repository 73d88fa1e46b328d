/**
 * The saved state of a GenericTimer and its validation (docs/conventions.md
 * "Snapshots"): a JSON-safe object with no absolute cycle, read and checked
 * in full before anything is changed.
 */
import { SnapshotError, readState } from '@hvsim/core';
import { CNTKCTL_WRITABLE, CNT_CTL_WRITABLE, MAX_TIMER_CPUS, TIMERS_PER_CPU } from './regs.js';

/** Saved state of one timer. */
export interface GenericTimerTimerState {
  /** ENABLE and IMASK. */
  ctl: number;
  /** CVAL as hex. */
  cval: string;
}

/** Saved state of one PE's timer registers. */
export interface GenericTimerCpuState {
  /** CNTFRQ_EL0 in Hz. */
  cntfrq: number;
  /** CNTKCTL_EL1. */
  cntkctl: number;
  /** CNTHCTL_EL2. */
  cnthctl: number;
  /** CNTVOFF_EL2 as hex. */
  cntvoff: string;
  /** CNTP, CNTV, CNTHP. */
  timers: GenericTimerTimerState[];
}

/**
 * Saved state of {@link GenericTimer}. The counter is saved as its count at
 * the start of the current counter period plus the cycles into that period,
 * not as absolute clock cycles, and every deadline is a CVAL compared with
 * that count: restored into a clock at any time, the counter continues from
 * the same count and phase, so each timer fires after exactly the cycles it
 * had left (a migrated VM loses no tick).
 */
export interface GenericTimerState {
  /** Snapshot kind. */
  type: 'hvsim.generic-timer';
  /** Snapshot format version. */
  version: 1;
  /** Number of PEs. */
  cpus: number;
  /** System counter frequency in Hz. */
  counterFrequencyHz: number;
  /** CPU clock rate in Hz. */
  cpuFrequencyHz: number;
  /** Physical count at the start of the current period (hex). */
  count: string;
  /** Cycles into the current period. */
  phase: number;
  /** Each PE's timer registers. */
  perCpu: GenericTimerCpuState[];
}

/** What a state must match to be restored into a given timer. */
export interface TimerStateShape {
  cpus: number;
  counterFrequencyHz: number;
  cpuFrequencyHz: number;
  /** Clock cycles per counter period (the phase is below it). */
  cyclesPerPeriod: number;
  /** Implemented CNTHCTL_EL2 bits (by HCR_EL2.E2H). */
  cnthctlMask: number;
}

/** A validated state, with 64-bit values as bigint. */
export interface ParsedTimerState {
  count: bigint;
  phase: number;
  perCpu: { cntfrq: number; cntkctl: number; cnthctl: number; cntvoff: bigint; timers: { ctl: number; cval: bigint }[] }[];
}

function checkMask(v: number, mask: number, path: string): number {
  if ((v & ~mask) !== 0) throw new SnapshotError('shape', `${path} = 0x${v.toString(16)} sets bits outside 0x${mask.toString(16)}`);
  return v;
}

/**
 * Reads and validates a whole saved state against the timer it is for,
 * throwing a SnapshotError that names the first bad field; changes nothing.
 */
export function parseTimerState(state: unknown, shape: TimerStateShape): ParsedTimerState {
  const r = readState(state, 'hvsim.generic-timer', 1);
  const cpus = r.int('cpus', 1, MAX_TIMER_CPUS);
  if (cpus !== shape.cpus) throw new SnapshotError('shape', `hvsim.generic-timer.cpus is ${cpus}, but this timer has ${shape.cpus} PEs`);
  const freq = r.int('counterFrequencyHz', 1, 0xffff_ffff);
  const cpuHz = r.address('cpuFrequencyHz');
  if (freq !== shape.counterFrequencyHz || cpuHz !== shape.cpuFrequencyHz) {
    throw new SnapshotError(
      'shape',
      `hvsim.generic-timer was saved with a ${freq} Hz counter on a ${cpuHz} Hz clock, but this timer has ${shape.counterFrequencyHz} Hz on ${shape.cpuFrequencyHz} Hz`,
    );
  }
  const phase = r.int('phase', 0, shape.cyclesPerPeriod - 1);
  const count = r.bigint('count');
  const perCpu = r.array(
    'perCpu',
    (c) => ({
      cntfrq: c.u32('cntfrq'),
      cntkctl: checkMask(c.u32('cntkctl'), CNTKCTL_WRITABLE, `${c.path}.cntkctl`),
      cnthctl: checkMask(c.u32('cnthctl'), shape.cnthctlMask, `${c.path}.cnthctl`),
      cntvoff: c.bigint('cntvoff'),
      timers: c.array('timers', (tr) => ({ ctl: tr.int('ctl', 0, CNT_CTL_WRITABLE), cval: tr.bigint('cval') }), TIMERS_PER_CPU),
    }),
    shape.cpus,
  );
  return { count, phase, perCpu };
}
