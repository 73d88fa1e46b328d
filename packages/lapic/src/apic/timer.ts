/**
 * The local APIC timer on the simulated clock (SDM 3A 11.5.4): one-shot and
 * periodic countdown at the timer frequency divided by the divide
 * configuration, and TSC-deadline mode (11.5.4.1). The current count is
 * derived from the clock when read; expiry is a scheduled clock event, so
 * nothing polls. One clock cycle is one TSC tick.
 */
import { SnapshotError, bigintToHex, type Clock, type EventHandle, type StateReader } from '@hvsim/core';
import { DIVIDE_CONFIG_MASK, TIMER_MODE } from './regs.js';

/** Divisor for a divide-configuration value: bits 3,1,0 select 2,4,...,128 or 1 for 0b111 (SDM 3A Figure 11-10). */
export function timerDivisor(config: number): number {
  const t = ((config & 3) | ((config & 8) >>> 1)) + 1;
  return 1 << (t & 7);
}

/** Saved timer state (part of the local APIC's state). */
export interface ApicTimerState {
  /** Timer mode, one of {@link TIMER_MODE}. */
  mode: number;
  /** Initial count register (TMICT). */
  initialCount: number;
  /** Divide configuration register (TDCR). */
  divideConfig: number;
  /** The countdown is running. */
  running: boolean;
  /** Clock cycle at which the current count was `anchorCount`. */
  anchorCycle: number;
  /** Current count at `anchorCycle`; it decrements once per divided bus tick from there. */
  anchorCount: number;
  /** IA32_TSC_DEADLINE as hex (0 disarmed). */
  deadline: string;
  /**
   * The clock's cycle when the state was saved. On restore, cycle values are
   * rebased by (clock now - savedAt), so a timer restored into a clock that
   * is far ahead (a migrated VM) keeps its remaining time. Absent in older
   * states: the cycles are then taken as absolute.
   */
  savedAt?: number;
  /**
   * The TSC offset in use at the save (TSC = clock cycle + offset). A pending
   * TSC deadline is due `deadline - (savedAt + savedTscOffset)` cycles after
   * the restore, whatever offset the APIC it is restored into has: a VMM that
   * keeps the guest's TSC continuous may set the new offset before or after
   * the restore. Absent in older states: the restoring APIC's offset is used.
   */
  savedTscOffset?: number;
}

/** A validated timer state, ready to be committed (see ApicTimer.parseState). */
export interface ParsedTimerState {
  mode: number;
  initialCount: number;
  divideConfig: number;
  running: boolean;
  anchorCycle: number;
  anchorCount: number;
  deadline: bigint;
  /** Clock cycles to add to saved cycle values. */
  delta: number;
  /** The TSC offset at the save, or undefined in states from before it was saved. */
  savedTscOffset: number | undefined;
}

/** The local APIC timer's counting state on the clock (internal to LocalApic). */
export class ApicTimer {
  /** LVT timer mode currently programmed (TIMER_MODE). */
  private mode: number = TIMER_MODE.ONE_SHOT;
  private initialCount = 0;
  private divideConfig = 0;
  private tickCycles: number;
  private running = false;
  /** Cycle at which the count was `anchorCount`; it then decrements once per `tickCycles`. */
  private anchorCycle = 0;
  private anchorCount = 0;
  private deadline = 0n;
  /** TSC = clock cycle + offset (VMX TSC offsetting); the deadline compares with the TSC. */
  private offset = 0;
  private handle: EventHandle = -1;
  private readonly onExpiry: (now: number) => void;

  constructor(
    private readonly clock: Clock,
    /** Clock cycles per timer tick before the divider (TSC frequency / timer frequency). */
    private readonly cyclesPerTick: number,
    /** Called at each expiry; the owner delivers through the LVT (if unmasked). */
    private readonly fire: () => void,
  ) {
    this.tickCycles = cyclesPerTick * 2;
    this.onExpiry = (now) => {
      this.expire(now);
    };
  }

  /** TMICT as software reads it. */
  get initial(): number {
    return this.initialCount;
  }

  /** TDCR as software reads it. */
  get divide(): number {
    return this.divideConfig;
  }

  /** Next expiry cycle, or undefined when not armed. */
  get nextExpiry(): number | undefined {
    return this.handle === -1 ? undefined : this.clock.dueAt(this.handle);
  }

  /** Writes TMICT: starts (or with 0 stops) the countdown. Ignored in TSC-deadline mode (SDM 3A 11.5.4.1). */
  setInitialCount(value: number): void {
    if (this.mode === TIMER_MODE.TSC_DEADLINE) return;
    this.initialCount = value >>> 0;
    this.cancel();
    if (this.initialCount === 0) {
      this.running = false;
      return;
    }
    this.startCount(this.clock.now(), this.initialCount);
  }

  /**
   * Loads TMICT and resumes counting from a saved TMCCT, as KVM_SET_LAPIC
   * does (KVM __start_apic_timer(apic, APIC_TMCCT)): a count above TMICT is
   * clamped to it; a periodic timer saved at 0 restarts a full period; a
   * one-shot timer saved at 0 has expired and stays stopped.
   */
  resumeCount(initialCount: number, currentCount: number): void {
    this.cancel();
    this.running = false;
    if (this.mode === TIMER_MODE.TSC_DEADLINE) return;
    this.initialCount = initialCount >>> 0;
    if (this.initialCount === 0) return;
    let count = Math.min(currentCount >>> 0, this.initialCount);
    if (count === 0) {
      if (this.mode !== TIMER_MODE.PERIODIC) return;
      count = this.initialCount;
    }
    this.startCount(this.clock.now(), count);
  }

  /** TMCCT: derived from the clock; 0 when stopped or in TSC-deadline mode. */
  currentCount(): number {
    if (!this.running || this.mode === TIMER_MODE.TSC_DEADLINE) return 0;
    const elapsed = Math.floor((this.clock.now() - this.anchorCycle) / this.tickCycles);
    if (elapsed < this.anchorCount) return this.anchorCount - elapsed;
    if (this.mode === TIMER_MODE.PERIODIC && this.initialCount > 0) return this.initialCount - ((elapsed - this.anchorCount) % this.initialCount);
    return 0;
  }

  /** Writes TDCR (bits 0, 1, 3); a running count continues from its current value at the new rate. */
  setDivideConfig(value: number): void {
    const config = value & DIVIDE_CONFIG_MASK;
    if (config === this.divideConfig) return;
    const count = this.currentCount();
    this.divideConfig = config;
    this.tickCycles = this.cyclesPerTick * timerDivisor(config);
    if (this.running && this.mode !== TIMER_MODE.TSC_DEADLINE) {
      this.cancel();
      if (count > 0) this.startCount(this.clock.now(), count);
      else this.running = false;
    }
  }

  /**
   * The LVT timer mode changed. Into or out of TSC-deadline mode disarms the
   * timer (SDM 3A 11.5.4.1); like KVM, TMICT and the deadline are zeroed.
   * One-shot and periodic switch without touching the count (kvm-unit-tests
   * apic.c test_apic_change_mode).
   */
  setMode(mode: number): void {
    if (mode === this.mode) return;
    const deadlineChange = (mode === TIMER_MODE.TSC_DEADLINE) !== (this.mode === TIMER_MODE.TSC_DEADLINE);
    this.mode = mode;
    if (deadlineChange) {
      this.cancel();
      this.running = false;
      this.initialCount = 0;
      this.deadline = 0n;
      return;
    }
    // Otherwise the pending expiry stays; at expiry the then-current mode decides reload or stop.
  }

  /** IA32_TSC_DEADLINE as read: 0 outside TSC-deadline mode (SDM 3A 11.5.4.1). */
  readDeadline(): bigint {
    return this.mode === TIMER_MODE.TSC_DEADLINE ? this.deadline : 0n;
  }

  /** WRMSR IA32_TSC_DEADLINE: arms at the deadline, 0 disarms; ignored outside TSC-deadline mode. */
  writeDeadline(value: bigint): void {
    if (this.mode !== TIMER_MODE.TSC_DEADLINE) return;
    this.cancel();
    this.deadline = value;
    this.armDeadline();
  }

  /** The TSC offset: TSC = clock cycle + offset. Changing it re-arms a pending deadline. */
  get tscOffset(): number {
    return this.offset;
  }

  set tscOffset(offset: number) {
    this.offset = offset;
    if (this.mode === TIMER_MODE.TSC_DEADLINE) {
      this.cancel();
      this.armDeadline();
    }
  }

  /** Schedules the deadline's expiry, or fires now when the TSC has already reached it. */
  private armDeadline(): void {
    if (this.deadline === 0n) return;
    const now = this.clock.now();
    const at = this.deadline - BigInt(this.offset);
    if (at <= BigInt(now)) {
      this.expire(now);
      return;
    }
    if (at <= BigInt(Number.MAX_SAFE_INTEGER)) this.handle = this.clock.schedule(Number(at), this.onExpiry);
  }

  /** Stops everything (reset/INIT). */
  reset(): void {
    this.cancel();
    this.mode = TIMER_MODE.ONE_SHOT;
    this.initialCount = 0;
    this.divideConfig = 0;
    this.tickCycles = this.cyclesPerTick * 2;
    this.running = false;
    this.anchorCycle = 0;
    this.anchorCount = 0;
    this.deadline = 0n;
  }

  private startCount(now: number, count: number): void {
    this.running = true;
    this.anchorCycle = now;
    this.anchorCount = count;
    this.handle = this.clock.schedule(now + count * this.tickCycles, this.onExpiry);
  }

  private expire(now: number): void {
    this.handle = -1;
    if (this.mode === TIMER_MODE.TSC_DEADLINE) {
      // The deadline disarms itself (SDM 3A 11.5.4.1; kvm-unit-tests reads 0 back).
      this.deadline = 0n;
    } else if (this.mode === TIMER_MODE.PERIODIC && this.initialCount > 0) {
      this.startCount(now, this.initialCount);
    } else {
      this.running = false;
    }
    this.fire();
  }

  private cancel(): void {
    if (this.handle !== -1) {
      this.clock.cancel(this.handle);
      this.handle = -1;
    }
  }

  saveState(): ApicTimerState {
    return {
      mode: this.mode,
      initialCount: this.initialCount,
      divideConfig: this.divideConfig,
      running: this.running,
      anchorCycle: this.anchorCycle,
      anchorCount: this.anchorCount,
      deadline: bigintToHex(this.deadline),
      savedAt: this.clock.now(),
      savedTscOffset: this.offset,
    };
  }

  /**
   * Validates a saved timer state against the clock (which must be restored
   * first, or be a running clock the state is migrated into) without
   * changing anything; {@link commitState} then applies it.
   */
  parseState(r: StateReader): ParsedTimerState {
    const mode = r.int('mode', 0, 2);
    const initialCount = r.u32('initialCount');
    const divideConfig = r.int('divideConfig', 0, 15);
    if ((divideConfig & ~DIVIDE_CONFIG_MASK) !== 0) throw new SnapshotError('shape', `${r.path}.divideConfig has reserved bits set`);
    const running = r.bool('running');
    const anchorCycle = r.int('anchorCycle', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    const anchorCount = r.u32('anchorCount');
    const deadline = r.bigint('deadline');
    const now = this.clock.now();
    const delta = r.has('savedAt') ? now - r.address('savedAt') : 0;
    const savedTscOffset = r.has('savedTscOffset') ? r.int('savedTscOffset', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) : undefined;
    if (mode !== TIMER_MODE.TSC_DEADLINE && running) {
      const due = anchorCycle + delta + anchorCount * this.cyclesPerTick * timerDivisor(divideConfig);
      if (due < now) throw new SnapshotError('shape', `${r.path}: timer expiry at cycle ${due} is before the clock's time ${now}; restore the clock first`);
    }
    return { mode, initialCount, divideConfig, running, anchorCycle, anchorCount, deadline, delta, savedTscOffset };
  }

  /**
   * Applies a parsed state and re-schedules what was pending. Saved cycles
   * move by `delta`; a TSC deadline keeps its TSC value and is due the same
   * number of cycles after the restore as it was after the save, measured
   * with the offset saved with it (what a VMM that keeps the guest TSC
   * continuous gets by lowering the TSC offset by delta, before or after the
   * restore; the `tscOffset` setter re-arms against the new offset).
   */
  commitState(p: ParsedTimerState): void {
    this.cancel();
    this.mode = p.mode;
    this.initialCount = p.initialCount;
    this.divideConfig = p.divideConfig;
    this.tickCycles = this.cyclesPerTick * timerDivisor(p.divideConfig);
    this.running = p.running;
    this.anchorCycle = p.anchorCycle + p.delta;
    this.anchorCount = p.anchorCount;
    this.deadline = p.deadline;
    const now = this.clock.now();
    if (this.mode === TIMER_MODE.TSC_DEADLINE) {
      this.running = false;
      const at = this.deadline - BigInt(p.savedTscOffset ?? this.offset) + BigInt(p.delta);
      if (this.deadline !== 0n && at <= BigInt(Number.MAX_SAFE_INTEGER)) {
        this.handle = this.clock.schedule(Math.max(now, Number(at)), this.onExpiry);
      }
    } else if (this.running) {
      this.handle = this.clock.schedule(this.anchorCycle + this.anchorCount * this.tickCycles, this.onExpiry);
    }
  }

  /** Restores and re-schedules what was pending (parseState + commitState). */
  restoreState(r: StateReader): void {
    this.commitState(this.parseState(r));
  }
}
