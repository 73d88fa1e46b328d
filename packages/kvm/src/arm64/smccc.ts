/**
 * The SMCCC calling convention (Arm DEN 0028, 2.5 "Register usage"): a
 * function ID in X0 and arguments in X1-X3, HVC #0, the results in X0-X3.
 *
 * `@hvsim/cpu`'s HVC operation carries X0-X3 (`g.hvc(imm, x0, x1, x2, x3)`,
 * the pending operation's `b`, `c`, `d`, `e`) and the hypervisor answers
 * with `cpu.completePendingHvc(x0, x1, x2, x3)`. {@link smcccHvc} builds
 * `HVC #0`; {@link SmcccArgs} reads a trapped one.
 */
import type { Arm64Guest, Op } from '@hvsim/cpu';

/** Builds `HVC #0` with X0-X3 = `x0`-`x3` (integers below 2^53); yield it: the result is X0. */
export function smcccHvc(g: Arm64Guest, x0: number, x1 = 0, x2 = 0, x3 = 0): Op {
  return g.hvc(0, x0, x1, x2, x3);
}

/** The SMCCC registers of a trapped HVC (see the file comment): reused record. */
export class SmcccArgs {
  x0 = 0;
  x1 = 0;
  x2 = 0;
  x3 = 0;

  /** Reads X0-X3 of a trapped HVC operation. */
  readFrom(op: Readonly<Op>): this {
    this.x0 = op.b;
    this.x1 = op.c;
    this.x2 = op.d;
    this.x3 = op.e;
    return this;
  }
}

/**
 * An HVC's result as a signed number: the X0 value the HVC yielded, or for a
 * negative PSCI code (bits 63:32 all ones, beyond a double's precision) its
 * low half from `g.lo`.
 */
export function smcccResult(g: Arm64Guest, yielded: number): number {
  return yielded >= 2 ** 32 ? g.lo | 0 : yielded;
}
