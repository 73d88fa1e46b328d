/**
 * A redistributor's access to an LPI table in memory that is not backed
 * (IHI0069 5.1: the tables must be in memory the GIC can reach; what a
 * failed access does is IMPLEMENTATION DEFINED). A register write that makes
 * the redistributor read or write such a table (EnableLPIs, INVLPIR,
 * VPENDBASER) reports it to the PE as an SError, as GIC-600 reports bus
 * errors on table walks.
 */
import { ARM64_EXCEPTION_CLASS, CpuException, MemoryError } from '@hvsim/core';

/** Runs `fn` and returns its result; a {@link MemoryError} it raises becomes the SError the PE takes. */
export function withTableFaults<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof MemoryError)) throw e;
    throw new CpuException(ARM64_EXCEPTION_CLASS.SERROR, { arch: 'arm64', faultAddress: e.address, detail: `${what}: LPI table access failed (${e.message})` });
  }
}
