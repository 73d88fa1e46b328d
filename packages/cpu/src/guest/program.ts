/**
 * Guest code lives at guest-virtual addresses, as real code does: a program
 * maps each entry address (the value an IDT gate or a vector table holds) to
 * the code that runs there. A CPU that transfers control to an address
 * fetches from it through the MMU (so a not-present or no-execute code page
 * faults) and starts the code registered there.
 *
 * Code comes in two forms behind one operation-source contract (the CPU asks
 * a running piece of code for its next operation, handing it the result of
 * the last one): a generator function, the readable default, and a step
 * function, which the CPU calls once per operation with the operation's
 * index in the code — nothing is allocated when it is entered, so it suits
 * hot interrupt handlers and interpreters of a bytecode.
 */
import { UsageError, describeValue } from '@hvsim/core';
import type { Op } from './ops.js';

/** The generator a piece of guest code is: it yields operations and is resumed with their results. */
export type GuestRoutine = Generator<Op, void, number>;

/**
 * A piece of guest code. Handlers entered through an IDT gate or a vector
 * get the vector and (x86) the error code (-1 when the event has none).
 */
export type GuestCode<G> = (g: G, vector: number, errorCode: number) => GuestRoutine;

/**
 * The step form of guest code: called for each operation with `pc`, the
 * number of operations this entry of the code has completed (0 first), and
 * `result`, the result of the last one (0 first); returns the next operation
 * (built with `g`, as a generator yields it), or null when the code ends.
 * It keeps no state of its own between calls: what it needs is `pc`,
 * `result`, guest memory and registers, which is what makes entering it free
 * and saving it trivial.
 */
export type GuestSteps<G> = (g: G, pc: number, result: number, vector: number, errorCode: number) => Op | null;

/** Guest code in the step form, as `GuestProgram.define` takes it: `{ steps: (g, pc, result) => ... }`. */
export interface StepCode<G> {
  /** Called once per operation with the frame's position and the last result; returns the next operation, or null to return. */
  readonly steps: GuestSteps<G>;
}

/** One entry point of a program. */
export interface CodeEntry<G> {
  /** The address the code is defined at. */
  readonly address: number;
  /** The code's name in backtraces and traces (the function's name, or the one given). */
  readonly name: string;
  /** The code as a generator function (for step code, one that calls the steps: the two run alike). */
  readonly code: GuestCode<G>;
  /** The step function of code defined in the step form, else null. */
  readonly steps: GuestSteps<G> | null;
}

/** A generator that runs step code, for callers that want every entry as a generator. */
function stepsAsGenerator<G>(steps: GuestSteps<G>): GuestCode<G> {
  return function* stepped(g: G, vector: number, errorCode: number): GuestRoutine {
    let result = 0;
    for (let pc = 0; ; pc++) {
      const op = steps(g, pc, result, vector, errorCode);
      if (op === null) return;
      result = yield op;
    }
  };
}

/** The guest code of one VM or machine, by entry address (see the file comment). */
export class GuestProgram<G> {
  private readonly entries = new Map<number, CodeEntry<G>>();

  /**
   * Places `code` at guest-virtual `address` (its entry point): a generator
   * function, or `{ steps }` (the step form); returns the address. The name
   * (for messages and backtraces) defaults to the function's name.
   */
  define(address: number, code: GuestCode<G> | StepCode<G>, name?: string): number {
    if (!Number.isSafeInteger(address) || address < 0) throw new UsageError('bad-argument', `code address must be a non-negative safe integer, got ${describeValue(address)}`);
    const steps: unknown = typeof code === 'object' && (code as unknown) !== null ? (code as { steps?: unknown }).steps : undefined;
    if (typeof code !== 'function' && typeof steps !== 'function') {
      throw new UsageError('bad-argument', `code at 0x${address.toString(16)} must be a generator function or { steps: function }, got ${describeValue(steps === undefined ? code : steps)}`);
    }
    if (name !== undefined && typeof name !== 'string') throw new UsageError('bad-argument', `code name must be a string, got ${describeValue(name)}`);
    const known = this.entries.get(address);
    if (known) throw new UsageError('bad-argument', `0x${address.toString(16)} already holds ${known.name}`);
    const stepFn = steps as GuestSteps<G>;
    const fn = typeof code === 'function' ? code : stepFn;
    // A step function written as `{ steps: (g, pc) => ... }` or `{ steps(g, pc) {...} }` is named "steps": no name.
    const given = fn.name === 'steps' ? '' : fn.name;
    const entryName = name ?? (given || `code@0x${address.toString(16)}`);
    const entry: CodeEntry<G> = typeof code === 'function' ? { address, name: entryName, code, steps: null } : { address, name: entryName, code: stepsAsGenerator(stepFn), steps: stepFn };
    this.entries.set(address, Object.freeze(entry));
    return address;
  }

  /** The code whose entry point is `address`, if any. */
  at(address: number): CodeEntry<G> | undefined {
    return this.entries.get(address);
  }

  /** Every entry point, by address. */
  list(): CodeEntry<G>[] {
    return [...this.entries.values()].sort((a, b) => a.address - b.address);
  }
}
