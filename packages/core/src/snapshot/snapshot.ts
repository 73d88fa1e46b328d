/**
 * The snapshot contract every stateful model follows: `saveState()` returns a
 * plain JSON-serializable object tagged with the model's `type` and a
 * `version`; `restoreState(state)` validates it and rejects a bad or foreign
 * state with a {@link SnapshotError}. Wiring (memory, buses, clock, interrupt
 * outputs) is given to the constructor, never stored in the state, so a state
 * can be restored into a model wired elsewhere. Save, restore and continue
 * behaves exactly like never stopping.
 */

/** The fields every saved state starts with. */
export interface VersionedState {
  /** Which model made the state, e.g. `'hvsim.lapic'`. */
  readonly type: string;
  /** Layout version of the state; bumped when the layout changes. */
  readonly version: number;
}

/** A model whose state can be saved and restored. */
export interface Snapshottable<S extends VersionedState = VersionedState> {
  /** Saves the model's whole state as a JSON-safe object with a type and version. */
  saveState(): S;
  /** Replaces the model's state; throws SnapshotError when `state` is unusable. */
  restoreState(state: unknown): void;
}

/** JSON-safe value: what a saved state may contain. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
