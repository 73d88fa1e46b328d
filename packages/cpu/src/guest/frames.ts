/**
 * The stack of guest code a CPU is running: the interrupted code at the
 * bottom, each interrupt or exception handler above the code it interrupted.
 * A frame remembers how far its code got (its synthetic RIP is the entry
 * address plus the number of operations completed) and, when it was
 * interrupted, whether its pending operation completed (resume the generator
 * with the result) or faulted (execute the operation again after the
 * handler's IRET, as a fault's saved RIP points at the faulting instruction).
 */
import { Op } from './ops.js';
import type { GuestRoutine } from './program.js';

/** What a frame does when it runs next. */
export const FRAME_STATE = {
  /** Not started: call `next()` with no value. */
  START: 0,
  /** Its last operation completed: resume the generator with `result`. */
  RESUME: 1,
  /** Its last operation faulted: execute `saved` again. */
  RETRY: 2,
} as const;

/** Kinds of entries in a frame's replay log: what follows the result. */
export const LOG_KIND = {
  /** The result alone. */
  PLAIN: 0,
  /** The result, then bits 31:0 and 63:32 of a 64-bit result (`g.lo`, `g.hi`). */
  WIDE: 1,
  /** The result, then CPUID's EAX, EBX, ECX, EDX. */
  CPUID: 2,
} as const;

/** One running piece of guest code (pooled: fields are reset on reuse). */
export class Frame {
  routine: GuestRoutine | null = null;
  /** Entry address of the code. */
  entry = 0;
  /** Name of the code, for messages. */
  name = '';
  /** The vector and error code the code was entered with (-1: none), to re-create it on restore. */
  vector = -1;
  errorCode = -1;
  /** Label of the last checkpoint the code passed, or -1: a restore re-creates the code there. */
  checkpointLabel = -1;
  /**
   * Results of the operations completed since the code started (or since its
   * last checkpoint), kept only while the CPU records for snapshots: a
   * restore re-runs the code and feeds it these results.
   */
  log = new Float64Array(16);
  logLength = 0;

  /** Appends to the replay log, growing it as needed. */
  record(value: number): void {
    if (this.logLength === this.log.length) {
      const bigger = new Float64Array(this.log.length * 2);
      bigger.set(this.log);
      this.log = bigger;
    }
    this.log[this.logLength++] = value;
  }
  /** Operations completed so far. */
  index = 0;
  state: number = FRAME_STATE.START;
  /** Result of the last completed operation. */
  result = 0;
  /** The pending operation, kept while a handler runs above a faulted frame. */
  readonly saved = new Op();

  /** Synthetic RIP / PC: where the next operation of this code is. */
  get rip(): number {
    return this.entry + this.index;
  }
}

/** A stack of frames that reuses its frame objects. */
export class FrameStack {
  private readonly frames: Frame[] = [];
  private depth = 0;

  /** Number of frames running (0 = no code). */
  get size(): number {
    return this.depth;
  }

  /** The frame on top, or undefined with no code. */
  get top(): Frame | undefined {
    return this.depth > 0 ? this.frames[this.depth - 1] : undefined;
  }

  /** The frame below the top, or undefined. */
  get below(): Frame | undefined {
    return this.depth > 1 ? this.frames[this.depth - 2] : undefined;
  }

  /** Pushes a frame for `routine` entered at `entry` (null: no code there, the first fetch is #UD). */
  push(routine: GuestRoutine | null, entry: number, name: string, vector = -1, errorCode = -1): Frame {
    let f = this.frames[this.depth];
    if (!f) {
      f = new Frame();
      this.frames.push(f);
    }
    f.routine = routine;
    f.entry = entry;
    f.name = name;
    f.index = 0;
    f.state = FRAME_STATE.START;
    f.result = 0;
    f.vector = vector;
    f.errorCode = errorCode;
    f.checkpointLabel = -1;
    f.logLength = 0;
    this.depth++;
    return f;
  }

  /** Pops the top frame, closing its generator. */
  pop(): void {
    const f = this.frames[this.depth - 1];
    if (!f) return;
    f.routine?.return();
    f.routine = null;
    this.depth--;
  }

  /** Pops every frame. */
  clear(): void {
    while (this.depth > 0) this.pop();
  }

  /** The frames from the bottom up (a copy), for inspection. */
  list(): Frame[] {
    return this.frames.slice(0, this.depth);
  }
}
