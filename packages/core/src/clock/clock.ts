/**
 * Simulated time in cycles and a deterministic event queue. Events run in
 * order of their cycle; events at the same cycle run in the order they were
 * scheduled. The queue is a binary heap over slot indices with the event data
 * in typed arrays, so scheduling and dispatch allocate nothing once the queue
 * has grown to its working size. Nothing here reads wall-clock time.
 */
import { UsageError } from '../errors/hvsim-error.js';
import { assertAddress, describeValue } from '../errors/validate.js';
import { readState } from '../snapshot/state-reader.js';
import { SnapshotError } from '../snapshot/snapshot-error.js';
import type { TimeSource } from './relative-cycles.js';

/** Saved state of a {@link Clock}: the time only (see `Clock.saveState`). */
export interface ClockState {
  /** Snapshot type tag. */
  type: 'hvsim.clock';
  /** Snapshot format version. */
  version: 1;
  /** The cycle the clock stood at. */
  now: number;
}

/** A callback run when simulated time reaches its cycle. */
export type ClockEvent = (now: number) => void;

/**
 * Identifies a scheduled event for {@link Clock.cancel}. Handles are never
 * reused for another event's lifetime, so cancelling a handle whose event has
 * already run or been cancelled does nothing.
 */
export type EventHandle = number;

// Handle = generation * SLOTS + slot; the generation changes each time a slot is reused.
const SLOT_BITS = 22;
const SLOTS = 2 ** SLOT_BITS;

/** Simulated time in cycles with a deterministic event queue (see the file comment). */
export class Clock implements TimeSource {
  private cycle = 0;
  private seq = 0;
  private capacity: number;
  private times: Float64Array;
  private seqs: Float64Array;
  private gens: Float64Array;
  private heapIndex: Int32Array;
  private fns: (ClockEvent | undefined)[];
  private heap: Int32Array;
  private heapSize = 0;
  private free: Int32Array;
  private freeCount: number;

  constructor(initialCapacity = 64) {
    this.capacity = Math.max(4, initialCapacity);
    this.times = new Float64Array(this.capacity);
    this.seqs = new Float64Array(this.capacity);
    this.gens = new Float64Array(this.capacity);
    this.heapIndex = new Int32Array(this.capacity).fill(-1);
    this.fns = new Array<ClockEvent | undefined>(this.capacity).fill(undefined);
    this.heap = new Int32Array(this.capacity);
    this.free = new Int32Array(this.capacity);
    for (let i = 0; i < this.capacity; i++) this.free[i] = this.capacity - 1 - i;
    this.freeCount = this.capacity;
  }

  /** The current cycle. */
  now(): number {
    return this.cycle;
  }

  /** Number of events waiting to run. */
  get pending(): number {
    return this.heapSize;
  }

  /** Cycle of the next event, or undefined when the queue is empty. */
  nextEventAt(): number | undefined {
    return this.heapSize === 0 ? undefined : this.times[this.heap[0]!];
  }

  /** Runs `fn` when time reaches `atCycle` (not before now). */
  schedule(atCycle: number, fn: ClockEvent): EventHandle {
    if (!(atCycle >= this.cycle) || !Number.isSafeInteger(atCycle)) {
      throw new UsageError('bad-argument', `cannot schedule an event at cycle ${describeValue(atCycle)}: it must be an integer cycle not before now (${this.cycle})`);
    }
    if (typeof fn !== 'function') throw new UsageError('bad-argument', `event callback must be a function, got ${describeValue(fn)}`);
    if (this.freeCount === 0) this.grow();
    const slot = this.free[--this.freeCount]!;
    this.times[slot] = atCycle;
    this.seqs[slot] = this.seq++;
    this.fns[slot] = fn;
    const i = this.heapSize++;
    this.heap[i] = slot;
    this.heapIndex[slot] = i;
    this.siftUp(i);
    return this.gens[slot]! * SLOTS + slot;
  }

  /** Runs `fn` `delay` cycles from now. */
  scheduleAfter(delay: number, fn: ClockEvent): EventHandle {
    return this.schedule(this.cycle + delay, fn);
  }

  /** Cancels a pending event; returns false (harmlessly) if it already ran or was cancelled. */
  cancel(handle: EventHandle): boolean {
    if (!Number.isSafeInteger(handle) || handle < 0) return false;
    const slot = handle % SLOTS;
    if (slot >= this.capacity || this.gens[slot] !== Math.floor(handle / SLOTS) || this.heapIndex[slot] === -1) return false;
    this.removeAt(this.heapIndex[slot]!);
    this.release(slot);
    return true;
  }

  /** True while the event of `handle` has not run and was not cancelled. */
  isPending(handle: EventHandle): boolean {
    const slot = handle % SLOTS;
    return slot < this.capacity && this.gens[slot] === Math.floor(handle / SLOTS) && this.heapIndex[slot] !== -1;
  }

  /** Cycle an event is due at, or undefined when it is not pending. */
  dueAt(handle: EventHandle): number | undefined {
    return this.isPending(handle) ? this.times[handle % SLOTS] : undefined;
  }

  /**
   * Runs every event due at or before `cycle`, in order, then sets the time to
   * `cycle`. Events may schedule further events; those due by `cycle` run too.
   */
  runUntil(cycle: number): void {
    // One inline test on the hot path (every device access brings the clock up to date); the checks that name the
    // problem run only when it fails.
    if (!(cycle >= this.cycle) || !Number.isSafeInteger(cycle)) {
      assertAddress(cycle, 'cycle');
      throw new UsageError('bad-argument', `cannot run until cycle ${cycle}: time is already ${this.cycle}`);
    }
    while (this.heapSize > 0 && this.times[this.heap[0]!]! <= cycle) this.dispatchNext();
    this.cycle = cycle;
  }

  /** Advances time by `cycles`, running what falls due. */
  advance(cycles: number): void {
    this.runUntil(this.cycle + cycles);
  }

  /** Runs the next event (moving time to it); returns false when none is pending. */
  step(): boolean {
    if (this.heapSize === 0) return false;
    this.dispatchNext();
    return true;
  }

  /**
   * Runs events until none is pending. `maxEvents` guards against a model that
   * re-schedules itself forever; reaching it throws.
   */
  runUntilIdle(maxEvents = 100_000_000): number {
    let n = 0;
    while (this.heapSize > 0) {
      if (n >= maxEvents) throw new UsageError('bad-state', `clock still has ${this.heapSize} events after running ${maxEvents}; is an event re-scheduling itself forever?`);
      this.dispatchNext();
      n++;
    }
    return n;
  }

  private dispatchNext(): void {
    const slot = this.heap[0]!;
    const fn = this.fns[slot]!;
    this.cycle = this.times[slot]!;
    this.removeAt(0);
    this.release(slot);
    fn(this.cycle);
  }

  /**
   * The current time. Pending events are callbacks and are not saved: each
   * model saves what it has scheduled (a timer's deadline) and schedules it
   * again when it is restored, after the clock.
   */
  saveState(): ClockState {
    return { type: 'hvsim.clock', version: 1, now: this.cycle };
  }

  /**
   * Sets the time from a saved state; the queue must be empty. This is for a
   * whole-host restore (the clock first, then the models). Models restored
   * into a clock that is already running (a migrated VM) do not restore the
   * clock: their states hold cycles relative to the clock at save time
   * (`saveCycle` / `restoreCycle`, `StateReader.cycle`).
   */
  restoreState(state: unknown): void {
    const now = readState(state, 'hvsim.clock', 1).address('now');
    if (this.heapSize !== 0) {
      throw new SnapshotError('shape', `hvsim.clock: restore into a clock with ${this.heapSize} pending events; restore the clock before the models that schedule on it (a model restored into a running clock restores its cycles with restoreCycle instead)`);
    }
    this.cycle = now;
  }

  private release(slot: number): void {
    this.fns[slot] = undefined;
    this.heapIndex[slot] = -1;
    this.gens[slot] = this.gens[slot]! + 1;
    this.free[this.freeCount++] = slot;
  }

  private before(a: number, b: number): boolean {
    const ta = this.times[a]!;
    const tb = this.times[b]!;
    return ta < tb || (ta === tb && this.seqs[a]! < this.seqs[b]!);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const slot = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const ps = heap[parent]!;
      if (!this.before(slot, ps)) break;
      heap[i] = ps;
      this.heapIndex[ps] = i;
      i = parent;
    }
    heap[i] = slot;
    this.heapIndex[slot] = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = this.heapSize;
    const slot = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.before(heap[r]!, heap[l]!)) c = r;
      const cs = heap[c]!;
      if (!this.before(cs, slot)) break;
      heap[i] = cs;
      this.heapIndex[cs] = i;
      i = c;
    }
    heap[i] = slot;
    this.heapIndex[slot] = i;
  }

  private removeAt(i: number): void {
    const last = --this.heapSize;
    if (i === last) return;
    const moved = this.heap[last]!;
    this.heap[i] = moved;
    this.heapIndex[moved] = i;
    if (i > 0 && this.before(moved, this.heap[(i - 1) >> 1]!)) this.siftUp(i);
    else this.siftDown(i);
  }

  private grow(): void {
    const old = this.capacity;
    const cap = old * 2;
    if (cap > SLOTS) throw new UsageError('bad-state', `clock event queue is full (${old} events pending)`);
    const f64 = (a: Float64Array): Float64Array => {
      const n = new Float64Array(cap);
      n.set(a);
      return n;
    };
    this.times = f64(this.times);
    this.seqs = f64(this.seqs);
    this.gens = f64(this.gens);
    const hi = new Int32Array(cap).fill(-1);
    hi.set(this.heapIndex);
    this.heapIndex = hi;
    const heap = new Int32Array(cap);
    heap.set(this.heap);
    this.heap = heap;
    this.fns.length = cap;
    this.fns.fill(undefined, old);
    this.free = new Int32Array(cap);
    this.freeCount = 0;
    for (let s = cap - 1; s >= old; s--) this.free[this.freeCount++] = s;
    this.capacity = cap;
  }
}
