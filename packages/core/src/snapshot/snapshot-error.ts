import { HvsimError } from '../errors/hvsim-error.js';

/** Kinds of {@link SnapshotError}. */
export type SnapshotErrorKind = 'foreign' | 'version' | 'shape';

/**
 * A saved state that cannot be restored: made by another model (`foreign`),
 * by an unsupported version (`version`), or malformed (`shape`). The message
 * names the path of the bad field.
 */
export class SnapshotError extends HvsimError<SnapshotErrorKind> {
  constructor(kind: SnapshotErrorKind, message: string) {
    super(kind, message);
  }
}
