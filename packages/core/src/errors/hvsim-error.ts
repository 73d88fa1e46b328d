/**
 * Base class of every error an hvsim model throws for misuse or for a
 * condition of the simulation itself (not an architectural fault: those are
 * {@link CpuException}). Each concern has one subclass with a `kind`
 * discriminant, so callers can switch on it and tests can check it.
 */
export abstract class HvsimError<K extends string = string> extends Error {
  /** What went wrong, as a stable machine-readable tag. */
  readonly kind: K;

  protected constructor(kind: K, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}

/** Kinds of {@link UsageError}. */
export type UsageErrorKind = 'bad-argument' | 'bad-state' | 'unknown-name';

/**
 * A caller used a model's API wrongly: an argument out of range or of the wrong
 * type, an unknown register name, or a call the model's current state does
 * not allow. Never thrown for something a guest can do to hardware.
 */
export class UsageError extends HvsimError<UsageErrorKind> {
  constructor(kind: UsageErrorKind, message: string, options?: { cause?: unknown }) {
    super(kind, message, options);
  }
}
