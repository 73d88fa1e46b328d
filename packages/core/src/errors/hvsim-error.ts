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
    brand(this, new.target);
  }

  /**
   * Whether `value` is an error of this class or a subclass, also when it was
   * thrown by another copy of the package (the ESM and CJS builds loaded side
   * by side, or two installed versions), where `instanceof` says no:
   * `UsageError.is(e)`, `MemoryError.is(e)`, `HvsimError.is(e)`.
   */
  static is<T>(this: { readonly name: string; readonly prototype: T }, value: unknown): value is T {
    return isBranded(value, this.name);
  }
}

/** Brand: the class names of an error, most derived first, under a registry-wide symbol. */
const BRAND = Symbol.for('@hvsim/core.error-classes');

/** Records the names of `error`'s class chain so that `is` works across package copies. */
export function brand(error: Error, leaf: { readonly name: string }): void {
  const names: string[] = [];
  for (let c: unknown = leaf; typeof c === 'function' && c !== Error && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    names.push((c as { name: string }).name);
  }
  Object.defineProperty(error, BRAND, { value: names, enumerable: false });
}

/** Whether `value` carries the brand of a class named `name`. */
export function isBranded(value: unknown, name: string): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const names = (value as { [BRAND]?: unknown })[BRAND];
  return Array.isArray(names) && names.includes(name);
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
