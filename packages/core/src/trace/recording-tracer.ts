/**
 * A tracer that keeps events in memory, optionally in a bounded ring buffer
 * that keeps the newest `capacity` events and counts what it dropped.
 */
import { assertInteger, assertOptions } from '../errors/validate.js';
import type { TraceEvent, Tracer } from './events.js';

/** Options of {@link RecordingTracer}. */
export interface RecordingTracerOptions {
  /** Keep at most this many events, dropping the oldest (default: unbounded). */
  capacity?: number;
}

/** Keeps emitted events in memory, optionally in a ring of bounded capacity. */
export class RecordingTracer implements Tracer {
  private readonly capacity: number;
  private buffer: TraceEvent[] = [];
  // Index of the oldest event once the ring is full.
  private head = 0;
  private droppedCount = 0;

  constructor(options: RecordingTracerOptions = {}) {
    assertOptions(options, ['capacity'], 'RecordingTracer');
    const capacity = options.capacity ?? Infinity;
    if (capacity !== Infinity) assertInteger(capacity, 'tracer capacity', 1, 2 ** 31);
    this.capacity = capacity;
  }

  /** Records `event` (the oldest is dropped when the buffer is full). */
  emit(event: TraceEvent): void {
    if (this.buffer.length < this.capacity) {
      this.buffer.push(event);
      return;
    }
    this.buffer[this.head] = event;
    this.head = (this.head + 1) % this.buffer.length;
    this.droppedCount++;
  }

  /** Events kept, oldest first. */
  events(): TraceEvent[] {
    return this.head === 0 ? this.buffer.slice() : [...this.buffer.slice(this.head), ...this.buffer.slice(0, this.head)];
  }

  /** Number of events kept. */
  get size(): number {
    return this.buffer.length;
  }

  /** Number of events the ring dropped to stay within capacity. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Forgets every recorded event and the dropped count. */
  clear(): void {
    this.buffer = [];
    this.head = 0;
    this.droppedCount = 0;
  }
}

/** A tracer that forwards every event to several tracers. */
export class FanoutTracer implements Tracer {
  private readonly targets: readonly Tracer[];

  constructor(...targets: Tracer[]) {
    this.targets = targets;
  }

  /** Passes `event` to every target, in order. */
  emit(event: TraceEvent): void {
    for (const t of this.targets) t.emit(event);
  }
}
