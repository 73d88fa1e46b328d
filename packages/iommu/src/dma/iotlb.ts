/**
 * The IOTLB (VT-d 6.2.2 "IOTLB"): translations tagged by domain ID and input
 * page, direct-mapped over typed arrays so a hit allocates nothing. Each
 * entry maps one 4 KiB input page and remembers the size of the mapping it
 * came from, so an invalidation of any part of a 2 MiB or 1 GiB page removes
 * it (VT-d 6.5.1.2). Entries stay in use after the page tables change until
 * an IOTLB invalidation removes them; a conflicting fill may evict one,
 * which the architecture allows at any time.
 */

/** Saved form: one row per valid entry. */
export type IotlbState = [did: number, page: number, frame: number, perm: number, pageShift: number][];

/** Number of entries. */
export const IOTLB_ENTRIES = 4096;
const MASK = IOTLB_ENTRIES - 1;
const PAGE = 4096;

/** Direct-mapped IOTLB. */
export class Iotlb {
  /** Domain ID of each entry; -1 = invalid. */
  private readonly did = new Int32Array(IOTLB_ENTRIES).fill(-1);
  /** Input page number (IOVA / 4 KiB). */
  private readonly page = new Float64Array(IOTLB_ENTRIES);
  /** Physical address of the 4 KiB frame. */
  private readonly frame = new Float64Array(IOTLB_ENTRIES);
  /** Bit 0 read, bit 1 write. */
  private readonly perm = new Uint8Array(IOTLB_ENTRIES);
  /** log2 of the mapping's page size. */
  private readonly pageShift = new Uint8Array(IOTLB_ENTRIES);

  /** Slot of a (domain, page) pair. */
  private static slot(did: number, page: number): number {
    return ((page >>> 0) ^ (did << 6)) & MASK;
  }

  /**
   * Frame address for `page` in domain `did` when cached with the permission
   * `need` (1 read, 2 write); -1 on a miss.
   */
  lookup(did: number, page: number, need: number): number {
    const s = Iotlb.slot(did, page);
    if (this.did[s] !== did || this.page[s] !== page || (this.perm[s]! & need) === 0) return -1;
    return this.frame[s]!;
  }

  fill(did: number, page: number, frame: number, perm: number, pageShift: number): void {
    const s = Iotlb.slot(did, page);
    this.did[s] = did;
    this.page[s] = page;
    this.frame[s] = frame;
    this.perm[s] = perm;
    this.pageShift[s] = pageShift;
  }

  /** Number of valid entries. */
  get size(): number {
    let n = 0;
    for (let s = 0; s < IOTLB_ENTRIES; s++) if (this.did[s]! >= 0) n++;
    return n;
  }

  /** Global invalidation. */
  invalidateAll(): void {
    this.did.fill(-1);
  }

  /** Domain-selective invalidation. */
  invalidateDomain(did: number): void {
    for (let s = 0; s < IOTLB_ENTRIES; s++) if (this.did[s] === did) this.did[s] = -1;
  }

  /**
   * Page-selective-within-domain invalidation: every entry of `did` whose
   * mapping overlaps the 2^(12 + addressMask) bytes at `address` (aligned down).
   */
  invalidatePages(did: number, address: number, addressMask: number): void {
    const span = 2 ** (12 + addressMask);
    const first = Math.floor(address / span) * span;
    const end = first + span;
    for (let s = 0; s < IOTLB_ENTRIES; s++) {
      if (this.did[s] !== did) continue;
      const size = 2 ** this.pageShift[s]!;
      const base = Math.floor((this.page[s]! * PAGE) / size) * size;
      if (base < end && base + size > first) this.did[s] = -1;
    }
  }

  saveState(): IotlbState {
    const rows: IotlbState = [];
    for (let s = 0; s < IOTLB_ENTRIES; s++) {
      if (this.did[s]! >= 0) rows.push([this.did[s]!, this.page[s]!, this.frame[s]!, this.perm[s]!, this.pageShift[s]!]);
    }
    return rows;
  }

  restoreState(rows: IotlbState): void {
    this.invalidateAll();
    for (const [did, page, frame, perm, shift] of rows) this.fill(did, page, frame, perm, shift);
  }
}
