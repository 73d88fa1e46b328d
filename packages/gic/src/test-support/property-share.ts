/**
 * Property-test parameters shared by the gic tests: the project's fixed seed
 * and bounded run count from the environment, and a way to split one
 * property into parts so that no single test depends on the machine's speed
 * (each part runs its share of the runs with its own seed; the total is the
 * same, and `HVSIM_PROPERTY_RUNS` still scales it).
 */
import { it } from 'vitest';

/** The seed (`HVSIM_PROPERTY_SEED`) every property starts from. */
export const PROPERTY_SEED = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);

/** The run count (`HVSIM_PROPERTY_RUNS`), or `fallback` when it is not set. */
export function propertyRuns(fallback: number): number {
  return Number(process.env.HVSIM_PROPERTY_RUNS ?? fallback);
}

/** fast-check parameters for part `part` of `parts` of a property of `total` runs. */
export function propertyShare(total: number, parts: number, part: number): { seed: number; numRuns: number } {
  return { seed: PROPERTY_SEED + part, numRuns: Math.max(1, Math.ceil(total / parts)) };
}

/**
 * Declares `parts` tests named `name (part i/parts)`, each running
 * `body(params)` with its share of `total` runs and its own seed.
 */
export function itInParts(name: string, total: number, parts: number, body: (params: { seed: number; numRuns: number }) => void): void {
  for (let part = 0; part < parts; part++) {
    it(`${name} (part ${part + 1}/${parts})`, () => {
      body(propertyShare(total, parts, part));
    });
  }
}
