/**
 * The VMX-preemption timer (SDM 3C "VMX-Preemption Timer"): loaded from the
 * VMCS at VM entry, it counts down by 1 each time bit X of the TSC changes
 * (X = IA32_VMX_MISC[4:0]); at 0 a VM exit is due. Time is core's `Clock`
 * (TSC = clock cycles); the expiry is scheduled, never polled.
 */
import { SnapshotError, restoreCycle, saveCycle, type Clock, type EventHandle, type InterruptNotifier } from '@hvsim/core';
import { vmxUsageError } from '../errors.js';

export class PreemptionTimer {
  /** Cycle at which the count reaches 0, or -1 when not running. */
  private deadline = -1;
  private handle: EventHandle | null = null;
  /** The count reached 0 during this VM entry. */
  expired = false;

  constructor(
    private readonly clock: Clock | undefined,
    /** Rate X: the timer counts at TSC >> X. */
    private readonly rate: number,
    private readonly onExpire: InterruptNotifier | undefined,
  ) {}

  /**
   * Throws the misuse {@link start} would throw for `value` (a running timer
   * on a processor without a clock), so VM entry can refuse before it changes
   * anything.
   */
  assertCanStart(value: number): void {
    if (value !== 0 && !this.clock) throw vmxUsageError('bad-state', 'the VMX-preemption timer is active but the processor has no clock');
  }

  /** Starts counting `value` at VM entry; 0 expires at once. */
  start(value: number): void {
    this.stop();
    this.expired = false;
    this.deadline = -1;
    if (value === 0) {
      this.expired = true;
      return;
    }
    this.assertCanStart(value);
    const clock = this.clock!;
    const unit = 2 ** this.rate;
    this.schedule(clock, (Math.floor(clock.now() / unit) + value) * unit);
  }

  /** No timer in this VM entry. */
  disable(): void {
    this.stop();
    this.expired = false;
    this.deadline = -1;
  }

  /**
   * The value left now (0 once expired), as VM exits save it: the number of
   * changes of TSC bit X still to come before the deadline. A deadline set
   * at VM entry falls on such a change; one restored into another clock (a
   * migrated VM) keeps its cycles left and may fall between two, and still
   * counts whole units (never a fraction, never one short).
   */
  remaining(): number {
    if (this.expired || this.deadline < 0 || !this.clock) return 0;
    const unit = 2 ** this.rate;
    return Math.max(0, Math.ceil((this.deadline - this.clock.now()) / unit));
  }

  /** Stops counting (at VM exit). */
  stop(): void {
    if (this.handle !== null) this.clock?.cancel(this.handle);
    this.handle = null;
  }

  /**
   * Saved form: the cycles from now to the deadline (core's `saveCycle`: a
   * saved state holds cycles relative to the clock), -1 when not running,
   * and whether it expired.
   */
  save(): { remaining: number; expired: boolean } {
    if (this.expired || this.deadline < 0 || !this.clock) return { remaining: -1, expired: this.expired };
    return { remaining: Math.max(0, saveCycle(this.clock, this.deadline)), expired: false };
  }

  /** Throws the SnapshotError {@link restore} would throw for a running timer, before anything changes. */
  assertCanRestore(): void {
    if (!this.clock) throw new SnapshotError('shape', 'hvsim.vmx-processor: a running VMX-preemption timer needs a clock to restore into');
  }

  /** Restores {@link save}'s output, re-scheduling a running timer `remaining` cycles after the clock's now. */
  restore(remaining: number, expired: boolean): void {
    this.stop();
    this.expired = expired;
    this.deadline = -1;
    if (expired || remaining < 0) return;
    this.assertCanRestore();
    const clock = this.clock!;
    this.schedule(clock, restoreCycle(clock, remaining));
  }

  private schedule(clock: Clock, at: number): void {
    this.deadline = at;
    this.handle = clock.schedule(at, () => {
      this.handle = null;
      this.expired = true;
      this.onExpire?.();
    });
  }
}
