/**
 * Where the host-driver helpers get the 4 KiB pages for the tables they
 * build. `PageAllocator` from `@hvsim/mmu` fits as it is; so does any object
 * with these two methods.
 */

/** A source of 4 KiB-aligned physical pages for translation tables. */
export interface TablePageSource {
  /** A 4 KiB-aligned page address (its contents need not be zero: the helpers clear it). */
  allocate(): number;
  /** Gives a page back (optional: helpers that free tables call it when present). */
  release?(page: number): void;
}

/** Size of a table page. */
export const TABLE_PAGE = 4096;
