/**
 * Saving a CPU in the middle of guest code. A generator cannot be
 * serialized, so each frame keeps a log of the results its operations
 * completed with (from its start, or from its last checkpoint); a restore
 * re-creates the code at the frame's entry and re-runs it, feeding it the
 * logged results instead of executing the operations, until it stands where
 * it stood. Guest code must therefore depend only on operation results (no
 * state kept in host variables, no `Math.random`), which is the project's
 * determinism rule anyway. Step code keeps no state but its position and
 * last result, so its frames log nothing and are restored as they were
 * saved (a pending operation is checked against the step function).
 */
import { SnapshotError, type StateReader } from '@hvsim/core';
import { FRAME_STATE, LOG_KIND, type Frame, type FrameStack, type FrameSteps } from './frames.js';
import type { Guest } from './guest.js';
import { OP, type Op } from './ops.js';
import type { GuestProgram, GuestRoutine } from './program.js';

/** A frame as saved (JSON-safe). */
export interface SavedFrame {
  entry: number;
  vector: number;
  errorCode: number;
  /** Operations completed since the code started (its synthetic RIP is entry + index). */
  index: number;
  state: number;
  result: number;
  checkpointLabel: number;
  /** The pending operation: code, size, a, b, c. */
  pending: [number, number, number, number, number];
  /** The replay log: per completed operation, its LOG_KIND, its result and the extra registers. */
  log: number[];
}

/** The frames of a stack, bottom first. */
export function saveFrames(frames: FrameStack): SavedFrame[] {
  return frames.list().map((f) => ({
    entry: f.entry,
    vector: f.vector,
    errorCode: f.errorCode,
    index: f.index,
    state: f.state,
    result: f.result,
    checkpointLabel: f.checkpointLabel,
    pending: [f.saved.code, f.saved.size, f.saved.a, f.saved.b, f.saved.c],
    log: Array.from(f.log.subarray(0, f.logLength)),
  }));
}

/** Reads and checks saved frames (a `SnapshotError` names the bad field). */
export function readSavedFrames(r: StateReader, key: string): SavedFrame[] {
  return r.array(key, (f, i) => {
    const pending = f.intArray('pending', -(2 ** 53), 2 ** 53, 5) as [number, number, number, number, number];
    const log = f.raw('log');
    if (!Array.isArray(log) || !log.every((v) => typeof v === 'number' && Number.isFinite(v))) throw new SnapshotError('shape', `${key}[${i}].log must be an array of finite numbers`);
    return {
      entry: f.int('entry', 0, Number.MAX_SAFE_INTEGER),
      vector: f.int('vector', -1, 0xffff_ffff),
      errorCode: f.int('errorCode', -1, 0xffff_ffff),
      index: f.int('index', 0, Number.MAX_SAFE_INTEGER),
      state: f.int('state', FRAME_STATE.START, FRAME_STATE.RETRY),
      result: f.number('result'),
      checkpointLabel: f.int('checkpointLabel', -1, 0xffff_ffff),
      pending,
      log: log as number[],
    };
  });
}

/** A frame re-created by replay, ready to be installed. */
export interface ReplayedFrame {
  saved: SavedFrame;
  routine: GuestRoutine | null;
  steps: FrameSteps | null;
  name: string;
}

/** Puts a logged operation's extra registers back into the guest interface. */
export type LogApplier<G extends Guest> = (guest: G, kind: number, log: readonly number[], at: number) => number;

/** The registers every architecture logs: `lo`/`hi` of a 64-bit result. */
export function applyWideLog(guest: Guest, kind: number, log: readonly number[], at: number): number {
  if (kind === LOG_KIND.WIDE) {
    guest.lo = log[at]!;
    guest.hi = log[at + 1]!;
    return 2;
  }
  return 0;
}

/**
 * Re-creates each saved frame's code and re-runs it on the logged results.
 * Nothing is installed: a divergence (guest code that does not yield the
 * same operation again) throws a `SnapshotError` and changes nothing.
 */
export function replayFrames<G extends Guest>(program: GuestProgram<G>, guest: G, saved: readonly SavedFrame[], apply: LogApplier<G>): ReplayedFrame[] {
  const out: ReplayedFrame[] = [];
  for (const s of saved) {
    const code = program.at(s.entry);
    if (!code) {
      out.push({ saved: s, routine: null, steps: null, name: `no code at 0x${s.entry.toString(16)}` });
      continue;
    }
    if (code.steps !== null) {
      if (s.state === FRAME_STATE.RETRY) {
        const op = code.steps(guest, s.index, s.result, s.vector, s.errorCode);
        if (op === null || !sameOp(op, s.pending)) throw new SnapshotError('shape', `restore: ${code.name} does not step to its pending operation at ${s.index}: is it deterministic?`);
      }
      out.push({ saved: s, routine: null, steps: code.steps as unknown as FrameSteps, name: code.name });
      continue;
    }
    guest.restoreLabel = s.checkpointLabel;
    const routine = code.code(guest, s.vector, s.errorCode);
    try {
      if (s.state !== FRAME_STATE.START) replayOne(routine, guest, s, code.name, apply);
    } finally {
      guest.restoreLabel = -1;
    }
    out.push({ saved: s, routine, steps: null, name: code.name });
  }
  return out;
}

function replayOne<G extends Guest>(routine: GuestRoutine, guest: G, s: SavedFrame, name: string, apply: LogApplier<G>): void {
  // Entries: [kind, result, extras...] per completed operation.
  const entries: number[] = [];
  for (let at = 0; at < s.log.length; ) {
    entries.push(at);
    const kind = s.log[at]!;
    at += 2 + (kind === LOG_KIND.WIDE ? 2 : kind === LOG_KIND.CPUID ? 4 : 0);
  }
  // RESUME: the last completed operation's result is fed by the CPU itself; RETRY: all are fed here.
  const feed = s.state === FRAME_STATE.RESUME ? entries.length - 1 : entries.length;
  let r = routine.next(0);
  if (s.checkpointLabel >= 0 && (r.done === true || r.value.code !== OP.CHECKPOINT || r.value.a !== s.checkpointLabel)) {
    throw new SnapshotError('shape', `restore: ${name} did not go straight to checkpoint ${s.checkpointLabel} when re-created with restoreLabel ${s.checkpointLabel}`);
  }
  for (let i = 0; i < feed; i++) {
    if (r.done === true) throw new SnapshotError('shape', `restore: ${name} ended after ${i} of ${feed} replayed operations: is it deterministic?`);
    const at = entries[i]!;
    apply(guest, s.log[at]!, s.log, at + 2);
    r = routine.next(s.log[at + 1]!);
  }
  if (s.state === FRAME_STATE.RESUME && entries.length > 0) {
    const at = entries[entries.length - 1]!;
    apply(guest, s.log[at]!, s.log, at + 2);
  }
  if (s.state === FRAME_STATE.RETRY && (r.done === true || !sameOp(r.value, s.pending))) {
    throw new SnapshotError('shape', `restore: ${name} does not replay to its pending operation: is it deterministic?`);
  }
}

function sameOp(op: Op, p: readonly number[]): boolean {
  return op.code === p[0] && op.size === p[1] && op.a === p[2] && op.b === p[3] && op.c === p[4];
}

/** Replaces the frames of `stack` with replayed ones. */
export function installFrames(stack: FrameStack, replayed: readonly ReplayedFrame[]): void {
  stack.clear();
  for (const { saved: s, routine, steps, name } of replayed) {
    const f: Frame = stack.push(routine, steps, s.entry, name, s.vector, s.errorCode);
    f.index = s.index;
    f.state = s.state;
    f.result = s.result;
    f.checkpointLabel = s.checkpointLabel;
    [f.saved.code, f.saved.size, f.saved.a, f.saved.b, f.saved.c] = s.pending;
    f.logLength = 0;
    for (const v of s.log) f.record(v);
  }
}
