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
  /** The address the code was entered at. */
  entry: number;
  /** The vector the code was entered with (a handler), or -1. */
  vector: number;
  /** The error code the code was entered with, or -1. */
  errorCode: number;
  /** Operations completed since the code started (its synthetic RIP is entry + index). */
  index: number;
  /** A `FRAME_STATE`: not started, resume with `result`, or retry the pending operation. */
  state: number;
  /** The result of the last completed operation. */
  result: number;
  /** The label of the last checkpoint passed, or -1 (the log starts there). */
  checkpointLabel: number;
  /** The pending operation: code, size, a, b, c, d, e (states saved before d and e existed have five). */
  pending: number[];
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
    // d and e are operands of an HVC only (other builders leave them as they were).
    pending: f.saved.code === OP.HVC ? [f.saved.code, f.saved.size, f.saved.a, f.saved.b, f.saved.c, f.saved.d, f.saved.e] : [f.saved.code, f.saved.size, f.saved.a, f.saved.b, f.saved.c, 0, 0],
    log: Array.from(f.log.subarray(0, f.logLength)),
  }));
}

/** Reads and checks saved frames (a `SnapshotError` names the bad field). */
export function readSavedFrames(r: StateReader, key: string): SavedFrame[] {
  return r.array(key, (f, i) => {
    const raw = f.raw('pending');
    const pending = f.intArray('pending', -(2 ** 53), 2 ** 53, Array.isArray(raw) && raw.length === 5 ? 5 : 7);
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
    at += 2 + (kind === LOG_KIND.WIDE ? 2 : kind === LOG_KIND.CPUID ? 4 : kind === LOG_KIND.HVC ? 6 : 0);
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
  if (op.code !== p[0] || op.size !== p[1] || op.a !== p[2] || op.b !== p[3] || op.c !== p[4]) return false;
  return op.code !== OP.HVC || (op.d === (p[5] ?? 0) && op.e === (p[6] ?? 0));
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
    const p = s.pending;
    f.saved.code = p[0]!;
    f.saved.size = p[1]!;
    f.saved.a = p[2]!;
    f.saved.b = p[3]!;
    f.saved.c = p[4]!;
    f.saved.d = p[5] ?? 0;
    f.saved.e = p[6] ?? 0;
    f.logLength = 0;
    for (const v of s.log) f.record(v);
  }
}
