/**
 * Checks the snapshot contract's atomicity rule: `restoreState` validates the
 * whole state first and changes nothing when it throws. Framework-free (it
 * throws an `Error` describing the first failure), so any test runner can
 * call it.
 */
import { HvsimError } from '../errors/hvsim-error.js';
import type { Snapshottable } from '../snapshot/snapshot.js';

/** A state that must be refused, with a label for the failure message. */
export interface BadState {
  /** What is wrong with it (shown when the check fails). */
  readonly label: string;
  /** The state `restoreState` must refuse. */
  readonly state: unknown;
}

/** Options of {@link checkAtomicRestore}. */
export interface AtomicRestoreOptions {
  /**
   * Also try every {@link stateCorruptions} of `good`. Those need not be
   * refused (a corrupted field may still be valid), but a refusal must leave
   * the model unchanged and be an `HvsimError` (never a `TypeError` or
   * `RangeError`). Default true.
   */
  corruptions?: boolean;
  /** Cap on the corruptions tried (default 2000). */
  maxCorruptions?: number;
}

/** What {@link checkAtomicRestore} did. */
export interface AtomicRestoreReport {
  /** Bad states tried (all refused). */
  refused: number;
  /** Corruptions tried. */
  corruptionsTried: number;
  /** Corruptions refused (each left the model unchanged). */
  corruptionsRefused: number;
}

function snapshotText(model: Snapshottable): string {
  return JSON.stringify(model.saveState());
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * Restores `good` into `model`, then for each bad state (a {@link BadState}
 * or a bare state): restoring it must
 * throw, and `saveState()` afterwards must equal what it was before. With
 * corruptions on (the default), every corruption of `good` that is refused
 * must be refused with an `HvsimError` and change nothing. Throws an `Error`
 * naming the first failing state and what changed.
 */
export function checkAtomicRestore(model: Snapshottable, good: unknown, bad: readonly unknown[], options: AtomicRestoreOptions = {}): AtomicRestoreReport {
  model.restoreState(good);
  const before = snapshotText(model);
  const report: AtomicRestoreReport = { refused: 0, corruptionsTried: 0, corruptionsRefused: 0 };
  bad.forEach((entry, i) => {
    const labelled = typeof entry === 'object' && entry !== null && 'label' in entry && 'state' in entry;
    const label = labelled ? (entry as BadState).label : `bad state #${i}`;
    const state = labelled ? (entry as BadState).state : entry;
    let threw: unknown;
    try {
      model.restoreState(state);
    } catch (e) {
      threw = e ?? new Error('undefined thrown');
    }
    if (threw === undefined) {
      model.restoreState(good);
      throw new Error(`restoreState accepted ${label}; it must throw`);
    }
    const after = snapshotText(model);
    if (after !== before) throw new Error(`restoreState of ${label} threw (${describe(threw)}) but changed the model: ${firstDifference(before, after)}`);
    report.refused++;
  });
  if (options.corruptions ?? true) {
    const max = options.maxCorruptions ?? 2000;
    for (const { path, state } of stateCorruptions(good)) {
      if (report.corruptionsTried >= max) break;
      report.corruptionsTried++;
      try {
        model.restoreState(state);
      } catch (e) {
        if (!(e instanceof HvsimError)) throw new Error(`restoreState with ${path} threw ${describe(e)}; a bad state must be refused with the package's error`);
        const after = snapshotText(model);
        if (after !== before) throw new Error(`restoreState with ${path} threw (${describe(e)}) but changed the model: ${firstDifference(before, after)}`);
        report.corruptionsRefused++;
        continue;
      }
      // Accepted: fine, but go back to the good state for the next try.
      model.restoreState(good);
    }
  }
  return report;
}

/** One corrupted copy of a state and where it differs. */
export interface StateCorruption {
  /** JSON path of the corrupted field and what was done, e.g. `lvt[3].mask = "x"`. */
  readonly path: string;
  /** The corrupted copy. */
  readonly state: unknown;
}

// Replacement values that a validating reader should refuse for most fields.
const FOREIGN_VALUES: readonly unknown[] = ['x', -1, 1.5, 2 ** 53, null, true, [], {}];

/**
 * Corrupted copies of a JSON state: for every field and array element (at
 * any depth), the field removed and replaced by values of the wrong type or
 * range (`'x'`, -1, 1.5, 2^53, null, a boolean, an empty array or object);
 * and every array with its last element dropped. `type` and `version` are
 * left alone at the top (those are checked first anyway).
 */
export function* stateCorruptions(state: unknown): Generator<StateCorruption> {
  const root = JSON.parse(JSON.stringify(state)) as unknown;
  yield* corruptAt(root, [], '');
}

function* corruptAt(root: unknown, keys: (string | number)[], path: string): Generator<StateCorruption> {
  const node = getAt(root, keys);
  if (Array.isArray(node)) {
    if (node.length > 0) yield { path: `${path || '(root)'} minus its last element`, state: setAt(root, keys, node.slice(0, -1)) };
    for (let i = 0; i < node.length; i++) yield* corruptField(root, [...keys, i], `${path}[${i}]`);
  } else if (typeof node === 'object' && node !== null) {
    for (const key of Object.keys(node)) {
      if (keys.length === 0 && (key === 'type' || key === 'version')) continue;
      yield* corruptField(root, [...keys, key], path === '' ? key : `${path}.${key}`);
    }
  }
}

function* corruptField(root: unknown, keys: (string | number)[], path: string): Generator<StateCorruption> {
  const current = getAt(root, keys);
  if (typeof keys[keys.length - 1] === 'string') yield { path: `${path} removed`, state: setAt(root, keys, undefined) };
  for (const v of FOREIGN_VALUES) {
    if (JSON.stringify(v) === JSON.stringify(current)) continue;
    yield { path: `${path} = ${JSON.stringify(v)}`, state: setAt(root, keys, v) };
  }
  if (typeof current === 'object' && current !== null) yield* corruptAt(root, keys, path);
}

function getAt(root: unknown, keys: readonly (string | number)[]): unknown {
  let node = root;
  for (const k of keys) node = (node as Record<string | number, unknown>)[k];
  return node;
}

/** A deep copy of `root` with the value at `keys` replaced (or removed when `value` is undefined). */
function setAt(root: unknown, keys: readonly (string | number)[], value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(root)) as unknown;
  let node = copy as Record<string | number, unknown>;
  for (let i = 0; i < keys.length - 1; i++) node = node[keys[i]!] as Record<string | number, unknown>;
  const last = keys[keys.length - 1]!;
  if (value === undefined && !Array.isArray(node)) {
    // Rebuild without the key rather than `delete` a computed key.
    const without = Object.fromEntries(Object.entries(node).filter(([k]) => k !== String(last)));
    if (keys.length === 1) return without;
    const holder = getAt(copy, keys.slice(0, -2)) as Record<string | number, unknown>;
    holder[keys[keys.length - 2]!] = without;
    return copy;
  }
  node[last] = value;
  return copy;
}

function firstDifference(before: string, after: string): string {
  let i = 0;
  while (i < before.length && before[i] === after[i]) i++;
  const from = Math.max(0, i - 40);
  return `saveState() differs at character ${i}: before …${before.slice(from, i + 40)}… after …${after.slice(from, i + 40)}…`;
}
