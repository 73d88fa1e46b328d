/**
 * What a CPU counted while it ran: operations by kind, events delivered by
 * vector, and where its cycles went. Counters are plain numbers in typed
 * arrays, so counting allocates nothing.
 */
import { OP_NAME } from './guest/ops.js';

/** A copy of a CPU's counters (`cpu.stats()`). */
export interface CpuStats {
  /** Operations executed, by operation name. */
  ops: Record<string, number>;
  /** Interrupts and exceptions delivered, by vector (x86) or exception class (arm64); only non-zero entries. */
  delivered: Record<number, number>;
  /** Cycles spent running operations and delivering events. */
  busyCycles: number;
  /** Cycles spent halted (HLT, WFI). */
  haltedCycles: number;
  /** Accesses that reached a device register. */
  deviceAccesses: number;
  /** Accesses that reached nothing (read as all ones, write dropped). */
  unclaimedAccesses: number;
  /** Translations answered by the CPU-side cache. */
  translationCacheHits: number;
  /** Translations the CPU-side cache missed and sent to the MMU. */
  translationCacheMisses: number;
  /** Paging-structure references of page walks. */
  walkReferences: number;
  /** Double faults raised. */
  doubleFaults: number;
  /** Times the CPU shut down (triple fault). */
  shutdowns: number;
}

/** Mutable counters of one CPU. */
export class CpuCounters {
  readonly ops = new Float64Array(128);
  readonly delivered = new Float64Array(256);
  busyCycles = 0;
  haltedCycles = 0;
  deviceAccesses = 0;
  unclaimedAccesses = 0;
  walkReferences = 0;
  doubleFaults = 0;
  shutdowns = 0;

  /** A JSON-safe copy; `cacheHits`/`cacheMisses` come from the CPU's translation cache. */
  snapshot(cacheHits: number, cacheMisses: number): CpuStats {
    const ops: Record<string, number> = {};
    this.ops.forEach((n, code) => {
      if (n > 0) ops[OP_NAME[code] ?? String(code)] = n;
    });
    const delivered: Record<number, number> = {};
    this.delivered.forEach((n, v) => {
      if (n > 0) delivered[v] = n;
    });
    return {
      ops,
      delivered,
      busyCycles: this.busyCycles,
      haltedCycles: this.haltedCycles,
      deviceAccesses: this.deviceAccesses,
      unclaimedAccesses: this.unclaimedAccesses,
      translationCacheHits: cacheHits,
      translationCacheMisses: cacheMisses,
      walkReferences: this.walkReferences,
      doubleFaults: this.doubleFaults,
      shutdowns: this.shutdowns,
    };
  }
}
