export { PhysicalMemory, PAGE_SIZE, type MemoryRegion, type RegionOptions, type PhysicalMemoryState } from './physical-memory.js';
export { MemoryError, type MemoryErrorKind } from './memory-error.js';
