/**
 * Host misuse of the VMX model's API (not an architectural fault — those are
 * `CpuException`s — and not a VMX instruction failure, which is returned as a
 * VMfail outcome). Per the project's error convention it is core's
 * `UsageError`; {@link VmxError} remains as its subclass so that existing
 * `instanceof VmxError` checks keep working.
 */
import { UsageError, type UsageErrorKind } from '@hvsim/core';

/**
 * Kinds of {@link VmxError}: core's `UsageErrorKind`. The former
 * `'unknown-field'` (a VMCS field encoding or name that does not exist) is now
 * `'unknown-name'`.
 *
 * @deprecated Use core's `UsageErrorKind`.
 */
export type VmxErrorKind = UsageErrorKind;

/**
 * A caller used the VMX model wrongly: a bad argument (`'bad-argument'`), an
 * unknown VMCS field (`'unknown-name'`), or a call the processor's state does
 * not allow (`'bad-state'`). The package's own checks throw it; checks it
 * shares with core (`assertInteger`: capability numbers, vectors, MSR indices)
 * throw core's `UsageError` itself, so a host catches `UsageError`.
 *
 * @deprecated Catch core's `UsageError` (`instanceof UsageError`, the one check
 * a host needs for every package); `VmxError` is kept only so that existing
 * `instanceof VmxError` checks keep working.
 */
export class VmxError extends UsageError {
  constructor(kind: UsageErrorKind, message: string, options?: { cause?: unknown }) {
    super(kind, message, options);
  }
}

/**
 * The package's way to throw host misuse: a {@link VmxError} (hence a core
 * `UsageError`) with `kind` and a message naming the bad value.
 */
export function vmxUsageError(kind: UsageErrorKind, message: string, options?: { cause?: unknown }): UsageError {
  // The one place the deprecated class is named: callers keep `instanceof VmxError`.
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  return new VmxError(kind, message, options);
}
