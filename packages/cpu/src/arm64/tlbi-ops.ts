/**
 * The TLBI operations an arm64 guest may issue (the names of `@hvsim/mmu`'s
 * `ARM_TLBI`), numbered so an operation record carries a number.
 */
import { UsageError, describeValue } from '@hvsim/core';
import { ARM_TLBI, type ArmTlbiOp } from '@hvsim/mmu';

/** TLBI operation names by their number in an operation record. */
export const ARM64_TLBI_OPS: readonly ArmTlbiOp[] = Object.freeze(Object.keys(ARM_TLBI) as ArmTlbiOp[]);

const INDEX: ReadonlyMap<string, number> = new Map(ARM64_TLBI_OPS.map((n, i) => [n, i]));

/** The number of TLBI operation `name`; an unknown name is a `UsageError` naming it. */
export function tlbiOpNumber(name: string): number {
  const i = INDEX.get(name);
  if (i === undefined) throw new UsageError('unknown-name', `unknown TLBI operation ${describeValue(name)} (one of ${ARM64_TLBI_OPS.join(', ')})`);
  return i;
}
