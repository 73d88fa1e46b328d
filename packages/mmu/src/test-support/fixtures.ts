/** Shared test fixtures: memory, allocators, a property-test config. */
import { PhysicalMemory } from '@hvsim/core';
import { PageAllocator } from '../common/page-allocator.js';

/**
 * fast-check settings from the common brief: fixed seed, 100 runs (each test
 * stays well under a second on a loaded 2-core machine), more by env var.
 */
export const PROPERTY_PARAMS = {
  seed: Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124),
  numRuns: Number(process.env.HVSIM_PROPERTY_RUNS ?? 100),
};

/** 64 MiB of RAM at 0 plus an allocator for tables in [32 MiB, 64 MiB). */
export function makeMemory(size = 0x400_0000): { memory: PhysicalMemory; tables: PageAllocator } {
  const memory = new PhysicalMemory();
  memory.addRegion(0, size, { name: 'ram' });
  const tables = new PageAllocator(size / 2, size / 2);
  return { memory, tables };
}
