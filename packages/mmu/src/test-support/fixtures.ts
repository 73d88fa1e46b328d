/** Shared test fixtures: memory, allocators, a property-test config. */
import { PhysicalMemory } from '@hvsim/core';
import { expect } from 'vitest';
import { PageAllocator } from '../common/page-allocator.js';

/**
 * fast-check settings from the common brief: fixed seed, 100 runs (each test
 * stays well under a second on a loaded 2-core machine), more by env var.
 */
export const PROPERTY_PARAMS = {
  seed: Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124),
  numRuns: Number(process.env.HVSIM_PROPERTY_RUNS ?? 100),
};

/**
 * The settings for one of `parts` tests that share a property's runs: the
 * property is split by a fixed parameter (a mode, a geometry), each test runs
 * its share, and the runs in total stay `HVSIM_PROPERTY_RUNS` (so each test
 * stays well under a second, and a larger value still means more runs).
 * `part` gives each test its own seed, so the parts draw different cases.
 */
export function propertyShare(parts: number, part: number): { seed: number; numRuns: number } {
  return { seed: PROPERTY_PARAMS.seed + part, numRuns: Math.max(1, Math.ceil(PROPERTY_PARAMS.numRuns / parts)) };
}

/** 64 MiB of RAM at 0 plus an allocator for tables in [32 MiB, 64 MiB). */
export function makeMemory(size = 0x400_0000): { memory: PhysicalMemory; tables: PageAllocator } {
  const memory = new PhysicalMemory();
  memory.addRegion(0, size, { name: 'ram' });
  const tables = new PageAllocator(size / 2, size / 2);
  return { memory, tables };
}

/**
 * `expect(actual).toEqual(expected)` for short tuples of primitives, called
 * only when an element differs (`Object.is`): property tests compare
 * thousands of results per run, and an expect per comparison costs more
 * than the model under test. The assertion is the same (the diff too).
 */
export function expectSame(actual: readonly unknown[], expected: readonly unknown[]): void {
  if (actual.length === expected.length && actual.every((v, i) => Object.is(v, expected[i]))) return;
  expect(actual).toEqual(expected);
}

/** Index of the first byte where two equal-length arrays differ, or -1 (a word loop: `toEqual` or `findIndex` on 64 KiB is slow). */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const words = a.length >>> 2;
  const wa = new Uint32Array(a.buffer, a.byteOffset, words);
  const wb = new Uint32Array(b.buffer, b.byteOffset, words);
  let i = 0;
  while (i < words && wa[i] === wb[i]) i++;
  for (let j = i * 4; j < a.length; j++) if (a[j] !== b[j]) return j;
  return -1;
}
