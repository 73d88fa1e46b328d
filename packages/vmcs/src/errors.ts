/**
 * The package's error class: misuse of the VMX model's API (not an
 * architectural fault — those are `CpuException`s, and VMX instruction
 * failures are returned as VMfail outcomes).
 */
import { HvsimError } from '@hvsim/core';

/** Kinds of {@link VmxError}. */
export type VmxErrorKind = 'bad-argument' | 'bad-state' | 'unknown-field';

/** A caller used the VMX model wrongly: a bad argument, an unknown field name, or a call the processor's state does not allow. */
export class VmxError extends HvsimError<VmxErrorKind> {
  constructor(kind: VmxErrorKind, message: string, options?: { cause?: unknown }) {
    super(kind, message, options);
  }
}
