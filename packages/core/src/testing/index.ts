/**
 * @hvsim/core/testing: helpers for the tests of hvsim models (and of models
 * built on hvsim): the snapshot atomicity check every model's tests run.
 *
 * @packageDocumentation
 */
export {
  /** Checks that refused restores leave a model's saved state unchanged. */
  checkAtomicRestore,
  /** Corrupted copies of a JSON state, field by field. */
  stateCorruptions,
} from './atomic-restore.js';
export type {
  /** A state that must be refused, with a label. */
  BadState,
  /** Options of checkAtomicRestore. */
  AtomicRestoreOptions,
  /** What checkAtomicRestore did. */
  AtomicRestoreReport,
  /** One corrupted copy of a state. */
  StateCorruption,
} from './atomic-restore.js';
