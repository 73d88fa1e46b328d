/**
 * What the CPUs of every architecture do the same way around guest code:
 * completing an operation (and logging its result for snapshots), passing a
 * checkpoint, stopping at a faulting operation, COMPUTE, charging cycles
 * (and what a memory access cost beyond its base), keeping the clock in step, idling a halted/waiting CPU to the next clock event, and
 * the end of the bottom frame. `X86CpuState` and `Arm64CpuState` extend it
 * and declare the state it uses.
 */
import { UsageError, describeValue, type Clock, type U64Halves } from '@hvsim/core';
import type { CostProfileBase } from '../cost/profile.js';
import type { PageCache } from '../memory/page-cache.js';
import { CpuCounters } from '../stats.js';
import { FRAME_STATE as IMPORTED_FRAME_STATE, FrameStack, LOG_KIND as IMPORTED_LOG_KIND, type Frame } from './frames.js';
import type { Guest } from './guest.js';
import type { Op } from './ops.js';

// Module-local copies: an imported binding is a getter call under Node's ESM loader (see x86-cpu-state.ts).
const FRAME_STATE = IMPORTED_FRAME_STATE;
const LOG_KIND = IMPORTED_LOG_KIND;
const TWO_32 = 0x1_0000_0000;

/** The shared helpers of a CPU running guest code (see the file comment). */
export abstract class GuestCpuCore {
  /** The guest interface handed to guest code. */
  abstract readonly guest: Guest;

  /** This CPU's local time in cycles. */
  localTime = 0;

  /** Memory access through the MMU and the CPU-side translation cache. */
  abstract readonly memory: PageCache;

  /** Cycle costs in use. */
  abstract readonly costs: CostProfileBase;

  protected abstract readonly clock: Clock | undefined;

  /** Whether frames log their results, so `saveState` works in the middle of guest code (option `snapshots`). */
  protected abstract readonly recording: boolean;

  /** The guest code running, bottom (entry code) first. */
  protected readonly frames = new FrameStack();

  protected readonly counters = new CpuCounters();

  /** Scratch for 64-bit results (reused). */
  protected readonly halves: U64Halves = { lo: 0, hi: 0 };

  /**
   * The next operation of `frame`'s code: its generator resumed with the
   * last result, or its step function called with its position and the last
   * result; null when the code ended. (A frame with no code is the caller's:
   * its first fetch faults.)
   */
  protected nextOperation(frame: Frame): Op | null {
    const steps = frame.steps;
    if (steps !== null) return steps(this.guest, frame.index, frame.result, frame.vector, frame.errorCode);
    const r = frame.routine!.next(frame.result);
    return r.done === true ? null : r.value;
  }

  /** The operation completed with `result` (logged while recording for snapshots; step code needs no log). */
  protected complete(frame: Frame, result: number): void {
    frame.index++;
    frame.state = FRAME_STATE.RESUME;
    frame.result = result;
    if (this.recording && frame.steps === null) {
      frame.record(LOG_KIND.PLAIN);
      frame.record(result);
    }
  }

  /** A 64-bit result: the halves go to `g.lo`/`g.hi` (and to the log). */
  protected complete64(frame: Frame, lo: number, hi: number): void {
    const g = this.guest;
    g.lo = lo >>> 0;
    g.hi = hi >>> 0;
    const result = g.lo + g.hi * TWO_32;
    frame.index++;
    frame.state = FRAME_STATE.RESUME;
    frame.result = result;
    if (this.recording && frame.steps === null) {
      frame.record(LOG_KIND.WIDE);
      frame.record(result);
      frame.record(g.lo);
      frame.record(g.hi);
    }
  }

  /** A checkpoint: what came before it in this frame will not be replayed (see `Guest.checkpoint`). */
  protected passCheckpoint(frame: Frame, label: number): void {
    frame.checkpointLabel = label;
    frame.logLength = 0;
    this.complete(frame, 0);
  }

  /** The operation did not complete: it runs again when the frame resumes. */
  protected stopAt(frame: Frame, op: Op): void {
    if (frame.saved !== op) frame.saved.copyFrom(op);
    frame.state = FRAME_STATE.RETRY;
  }

  /** COMPUTE: pure work for `op.a` cycles (a bad count is the guest code's bug: a UsageError naming it). */
  protected compute(op: Op, frame: Frame): void {
    if (!(op.a >= 0) || !Number.isFinite(op.a)) throw new UsageError('bad-argument', `compute needs a non-negative cycle count, got ${describeValue(op.a)}`);
    this.charge(op.a);
    this.complete(frame, 0);
  }

  /**
   * Charges what the last access cost beyond its base: walk references, a
   * device. The common case (a cached translation to RAM) is a two-field
   * test, small enough to leave the inlining budget of a load or store to
   * the translation and the access themselves.
   */
  protected accountAccess(): void {
    const mem = this.memory;
    if (mem.walkReferences !== 0 || mem.lastTarget !== 'ram') this.accountSlowAccess();
  }

  private accountSlowAccess(): void {
    const mem = this.memory;
    if (mem.walkReferences !== 0) {
      this.counters.walkReferences += mem.walkReferences;
      this.charge(mem.walkReferences * this.costs.walkReference);
    }
    const target = mem.lastTarget;
    if (target === 'mmio') {
      this.counters.deviceAccesses++;
      this.charge(this.costs.mmio);
    } else if (target === 'unclaimed') {
      this.counters.unclaimedAccesses++;
    }
  }

  protected charge(cycles: number): void {
    this.localTime += cycles;
    this.counters.busyCycles += cycles;
  }

  /** Brings the clock to this CPU's time, running the events due. */
  protected syncClock(): void {
    const clock = this.clock;
    // `<=`: an event due at exactly this CPU's time runs too (a halted CPU waits for it at that time).
    if (clock && clock.now() <= this.localTime) clock.runUntil(this.localTime);
  }

  /**
   * A halted or waiting CPU with nothing to wake it skips to the next clock
   * event (or `untilCycle`); false when that is the budget's end.
   */
  protected idle(untilCycle: number): boolean {
    const next = this.clock?.nextEventAt();
    const wakeAt = next === undefined ? untilCycle : Math.min(untilCycle, Math.max(next, this.localTime));
    this.counters.haltedCycles += wakeAt - this.localTime;
    this.localTime = wakeAt;
    if (next === undefined || next >= untilCycle) return false;
    this.syncClock();
    return true;
  }

  /** A frame's code returned: the bottom frame ends the run; a handler must end with its exception return (`returnName`). */
  protected frameEnded(frame: Frame, returnName: string): boolean {
    if (this.frames.size > 1) throw new UsageError('bad-state', `guest handler ${frame.name} returned without ${returnName}: a handler must end with yield g.${returnName.toLowerCase()}()`);
    this.frames.pop();
    return false;
  }
}
