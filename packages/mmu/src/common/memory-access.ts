/**
 * How the models touch memory a guest controls the address of. One rule for
 * every walker and the shadow MMU (issue 12, bug 9): a read of an address
 * no memory backs returns all ones, and a write there is dropped. That is
 * what a PC platform does with a read nobody claims (the bus master-aborts
 * and the requester sees all ones; SDM 3A 4.5 leaves paging-structure
 * accesses to "physical memory" to the platform). Read as a paging-structure
 * entry, all ones sets reserved bits (PS in a PML4E/PML5E, bits 51:MAXPHYADDR,
 * bits 20:13 of a 2 MiB and 29:13 of a 1 GiB leaf), so the architectural
 * outcome is a #PF with RSVD = 1 (SDM 3A 4.7), and for EPT an EPT
 * misconfiguration (SDM 3C 28.2.3.1: bits 51:N reserved, W without R is
 * impossible, memory type 7 is reserved). Walkers never throw core's
 * `MemoryError` for a guest-chosen address.
 */
import type { Clock, Memory, U64Halves } from '@hvsim/core';

const ZERO_PAGE = new Uint8Array(4096);

/** Zeroes the 4 KiB page at `address` (a page the host allocated: misuse throws). */
export function zeroPage(memory: Memory, address: number): void {
  memory.writeBytes(address, ZERO_PAGE);
}

/** Reads 8 bytes as halves into `out`; all ones where no memory backs them. */
export function readEntrySafe(memory: Memory, address: number, out: U64Halves): void {
  if (memory.isBacked(address, 8)) {
    memory.read64Halves(address, out);
  } else {
    out.lo = 0xffff_ffff;
    out.hi = 0xffff_ffff;
  }
}

/** A 32-bit read; all ones where no memory backs it. */
export function read32Safe(memory: Memory, address: number): number {
  return memory.isBacked(address, 4) ? memory.read32(address) : 0xffff_ffff;
}

/** A 32-bit write, dropped where no writable memory backs it (abort semantics). Returns true when written. */
export function write32Safe(memory: Memory, address: number, value: number): boolean {
  if (!memory.isWritable(address, 4)) return false;
  memory.write32(address, value);
  return true;
}

/** Time options every model of the package takes. */
export interface TimeOptions {
  /** Clock whose `now()` stamps trace events. */
  clock?: Pick<Clock, 'now'>;
  /**
   * Cycle source for trace events.
   * @deprecated Use `clock` (the core `Clock`), as every other package does.
   */
  now?: () => number;
}

/** The cycle source for trace events from {@link TimeOptions}: `clock` first, then the deprecated `now`, else 0. */
export function timeSource(options: TimeOptions): () => number {
  const clock = options.clock;
  if (clock !== undefined) return () => clock.now();
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the one place that still honours the old option
  return options.now ?? (() => 0);
}

/** `{ clock }` to hand to an inner model: the same time source as `options`, or nothing when it has none. */
export function innerClock(options: TimeOptions): { clock?: Pick<Clock, 'now'> } {
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the one place that still honours the old option
  if (options.clock === undefined && options.now === undefined) return {};
  const now = timeSource(options);
  return { clock: { now } };
}
