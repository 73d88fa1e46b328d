/**
 * The SMCCC calling convention (Arm DEN 0028, 2.5 "Register usage"): a
 * function ID in X0 and arguments in X1-X3, HVC #0, the result in X0.
 *
 * `@hvsim/cpu`'s arm64 guest code has no general-purpose registers (guest
 * values live in the generator's variables), so an HVC operation carries
 * the registers the hypervisor reads itself: X0 in the operation's `b`, X1
 * in `c`, and X2 in `a` above the 16-bit immediate (`a` bits 15:0 stay the
 * immediate, which the CPU puts in ESR_EL2.ISS). X3 is not carried (a
 * PSCI CPU_ON context ID reads 0). {@link smcccHvc} builds such an operation.
 */
import type { Arm64Guest, Op } from '@hvsim/cpu';

const IMM16 = 0x1_0000;

/** Builds `HVC #0` with X0 = `x0`, X1 = `x1`, X2 = `x2` (non-negative integers; X2 below 2^37); yield it: the result is X0. */
export function smcccHvc(g: Arm64Guest, x0: number, x1 = 0, x2 = 0): Op {
  const op = g.hvc(0);
  op.b = x0;
  op.c = x1;
  op.a = x2 * IMM16;
  return op;
}

/** The SMCCC registers an HVC operation carries (see the file comment): reused record. */
export class SmcccArgs {
  x0 = 0;
  x1 = 0;
  x2 = 0;
  x3 = 0;

  /** Reads X0-X2 of a trapped HVC operation. */
  readFrom(op: Readonly<Op>): this {
    this.x0 = op.b;
    this.x1 = op.c;
    this.x2 = Math.floor(op.a / IMM16);
    this.x3 = 0;
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
