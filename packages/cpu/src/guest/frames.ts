/**
 * The stack of guest code a CPU is running: the interrupted code at the
 * bottom, each interrupt or exception handler above the code it interrupted.
 * A frame remembers how far its code got (its synthetic RIP is the entry
 * address plus the number of operations completed) and, when it was
 * interrupted, whether its pending operation completed (resume the generator
 * with the result) or faulted (execute the operation again after the
 * handler's IRET, as a fault's saved RIP points at the faulting instruction).
 */
import type { Guest } from './guest.js';
import { Op } from './ops.js';
import type { CodeEntry, GuestRoutine } from './program.js';

/** A frame's step function: a program's `GuestSteps` with the guest type erased (the CPU passes its own guest). */
export type FrameSteps = (g: Guest, pc: number, result: number, vector: number, errorCode: number) => Op | null;

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
  /** The result, then bits 31:0 and 63:32 of X0, then X0-X3 as the HVC returned them (arm64 `hvcResults`). */
  HVC: 3,
} as const;

/**
 * One running piece of guest code (pooled: fields are reset on reuse). Its
 * operations come from a generator (`routine`) or a step function
 * (`steps`, called with the frame's `index` and `result`); neither is a
 * frame whose entry address holds no code.
 */
export class Frame {
  routine: GuestRoutine | null = null;
  steps: FrameSteps | null = null;
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

  /** The frame on top, or undefined with no code (kept in a field: read before every operation). */
  top: Frame | undefined = undefined;

  /** The frame below the top, or undefined. */
  get below(): Frame | undefined {
    return this.depth > 1 ? this.frames[this.depth - 2] : undefined;
  }

  /**
   * Pushes a frame running `code` entered at `entry` with `vector` and
   * `errorCode` (undefined: no code there, the first fetch is #UD /
   * UNDEFINED). A generator is created for generator code; step code
   * allocates nothing.
   */
  enter<G extends Guest>(code: CodeEntry<G> | undefined, entry: number, guest: G, vector: number, errorCode: number): Frame {
    if (code === undefined) return this.push(null, null, entry, `no code at 0x${entry.toString(16)}`, vector, errorCode);
    const steps = code.steps;
    if (steps !== null) return this.push(null, steps as unknown as FrameSteps, entry, code.name, vector, errorCode);
    return this.push(code.code(guest, vector, errorCode), null, entry, code.name, vector, errorCode);
  }

  /** Pushes a frame for `routine` or `steps` entered at `entry` (neither: no code there, the first fetch is #UD). */
  push(routine: GuestRoutine | null, steps: FrameSteps | null, entry: number, name: string, vector = -1, errorCode = -1): Frame {
    let f = this.frames[this.depth];
    if (!f) {
      f = new Frame();
      this.frames.push(f);
    }
    f.routine = routine;
    f.steps = steps;
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
    this.top = f;
    return f;
  }

  /**
   * Pops the top frame (its code returned, or executed IRET/ERET). A
   * generator suspended at its IRET is dropped, not closed: nothing after
   * the return instruction runs, as on a processor (and closing costs a
   * quarter of an interrupt round trip).
   */
  pop(): void {
    const f = this.frames[this.depth - 1];
    if (!f) return;
    f.routine = null;
    f.steps = null;
    this.depth--;
    this.top = this.depth > 0 ? this.frames[this.depth - 1] : undefined;
  }

  /** Pops every frame, closing their generators (the code is abandoned: `finally` blocks run). */
  clear(): void {
    while (this.depth > 0) {
      this.frames[this.depth - 1]!.routine?.return();
      this.pop();
    }
  }

  /** The frames from the bottom up (a copy), for inspection. */
  list(): Frame[] {
    return this.frames.slice(0, this.depth);
  }
}
