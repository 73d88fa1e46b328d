/**
 * Runs several CPUs against one `Clock`, each with its own local time: the
 * CPU furthest behind runs next, for at most a quantum beyond the next one,
 * so no CPU gets more than a quantum ahead of another and device events (a
 * timer, an IPI's arrival) are seen in time order up to that bound — the
 * scheme of quantum-based parallel simulators (gem5, QEMU's TCG round robin).
 * The clock never moves past the time of the CPU that is behind: a CPU
 * brings it forward to its own time before touching a device.
 */
import { UsageError, describeValue, type Clock } from '@hvsim/core';

/** What the scheduler needs of a CPU (an `X86Cpu` is one). */
export interface SchedulableCpu {
  /** The CPU's local time in cycles. */
  localTime: number;
  /** Runs until `untilCycle` or a stop; returns why it stopped (`'budget'`, `'halted'`, `'shutdown'`, `'finished'`, ...). */
  run(untilCycle: number): string;
}

/** Options of a {@link CpuScheduler}. */
export interface CpuSchedulerOptions {
  /** The clock the CPUs share; idle time jumps to its next event. */
  clock?: Clock;
  /** Longest a CPU may run ahead of the one behind it, in cycles (default 1000). */
  quantum?: number;
}

/** Why {@link CpuScheduler.run} returned. */
export type SchedulerResult =
  /** Every running CPU reached the requested time. */
  | 'time'
  /** Every CPU has stopped for good (finished or shut down). */
  | 'stopped';

/** Interleaves CPUs by local time (see the file comment). */
export class CpuScheduler {
  private readonly cpus: SchedulableCpu[] = [];
  private readonly done: boolean[] = [];
  private readonly halted: boolean[] = [];
  private readonly quantum: number;
  private readonly clock: Clock | undefined;
  /** Runs of individual CPUs so far (each a slice of at most a quantum). */
  slices = 0;

  constructor(cpus: readonly SchedulableCpu[], options: CpuSchedulerOptions = {}) {
    const list: unknown = cpus;
    if (!Array.isArray(list) || list.length === 0) throw new UsageError('bad-argument', `a CpuScheduler needs at least one CPU, got ${describeValue(cpus)}`);
    const quantum = options.quantum ?? 1000;
    if (!Number.isSafeInteger(quantum) || quantum < 1) throw new UsageError('bad-argument', `quantum must be a positive integer of cycles, got ${describeValue(quantum)}`);
    this.quantum = quantum;
    this.clock = options.clock;
    for (const cpu of cpus) this.add(cpu);
  }

  /** Adds a CPU (a hot-plugged vCPU); it starts at its own local time. */
  add(cpu: SchedulableCpu): void {
    if (typeof (cpu as unknown) !== 'object' || typeof cpu.run !== 'function' || !Number.isFinite(cpu.localTime)) {
      throw new UsageError('bad-argument', `not a schedulable CPU: ${describeValue(cpu)}`);
    }
    if (this.cpus.includes(cpu)) throw new UsageError('bad-argument', 'this CPU is already scheduled');
    this.cpus.push(cpu);
    this.done.push(false);
    this.halted.push(false);
  }

  /** The smallest local time among CPUs still running (Infinity when none). */
  get time(): number {
    let t = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.cpus.length; i++) if (!this.done[i]) t = Math.min(t, this.cpus[i]!.localTime);
    return t;
  }

  private allHalted(): boolean {
    for (let i = 0; i < this.cpus.length; i++) if (!this.done[i] && !this.halted[i]) return false;
    return true;
  }

  /**
   * Runs the CPUs until every one still running has reached `untilCycle`.
   * A CPU that finishes or shuts down is not run again.
   */
  run(untilCycle: number): SchedulerResult {
    if (!Number.isSafeInteger(untilCycle) || untilCycle < 0) throw new UsageError('bad-argument', `run needs a cycle, got ${describeValue(untilCycle)}`);
    const cpus = this.cpus;
    // The host may have raised interrupts since the last run: nobody counts as halted yet.
    this.halted.fill(false);
    for (;;) {
      // The CPU furthest behind, and the time of the one after it.
      let first = -1;
      let second = Number.POSITIVE_INFINITY;
      for (let i = 0; i < cpus.length; i++) {
        if (this.done[i]) continue;
        const t = cpus[i]!.localTime;
        if (first < 0 || t < cpus[first]!.localTime) {
          if (first >= 0) second = Math.min(second, cpus[first]!.localTime);
          first = i;
        } else {
          second = Math.min(second, t);
        }
      }
      if (first < 0) return 'stopped';
      const cpu = cpus[first]!;
      if (cpu.localTime >= untilCycle) return 'time';
      let limit = Math.min(untilCycle, Number.isFinite(second) ? second + this.quantum : untilCycle, cpu.localTime + this.quantum);
      // When every CPU is halted only a clock event can wake one: all may skip to it together.
      if (this.allHalted()) limit = Math.max(limit, Math.min(untilCycle, this.clock?.nextEventAt() ?? untilCycle));
      this.slices++;
      const dueBefore = this.clock?.nextEventAt();
      const why = cpu.run(Math.max(limit, cpu.localTime + 1));
      if (why === 'finished' || why === 'shutdown') this.done[first] = true;
      this.halted[first] = why === 'halted';
      // A clock event that ran during the slice may have woken another CPU.
      if (dueBefore !== undefined && this.clock!.now() >= dueBefore) this.halted.fill(false);
      const clock = this.clock;
      // The clock follows the CPUs: it may advance to the time of the one furthest behind.
      if (clock) {
        const behind = this.time;
        if (Number.isFinite(behind) && behind > clock.now()) {
          const due = clock.nextEventAt();
          const to = Math.min(behind, untilCycle);
          clock.runUntil(to);
          // An event may have woken any CPU: none counts as halted until it runs again.
          if (due !== undefined && due <= to) this.halted.fill(false);
        }
      }
    }
  }
}
