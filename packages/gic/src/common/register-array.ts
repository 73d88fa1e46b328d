/**
 * Banked register arrays described as data (IHI0048B 4.3, IHI0069 12.9): a
 * register array holds `bitsPerIrq` bits for each INTID starting at `base`,
 * and {@link decodeArrayAccess} turns a byte offset into the first INTID and
 * count of INTIDs it covers. One tested function serves every array:
 * IGROUPR (1 bit), ISENABLER (1), ICFGR (2), IPRIORITYR (8), ITARGETSR (8).
 */

/** One register array in a frame. */
export interface RegisterArray {
  readonly name: string;
  /** Byte offset of the first register. */
  readonly base: number;
  /** Bits per INTID: 1, 2 or 8. */
  readonly bitsPerIrq: 1 | 2 | 8;
  /** Bytes the array spans. */
  readonly bytes: number;
}

/** Makes a register array spanning `intids` interrupts. */
export function registerArray(name: string, base: number, bitsPerIrq: 1 | 2 | 8, intids = 1024): RegisterArray {
  return Object.freeze({ name, base, bitsPerIrq, bytes: (intids * bitsPerIrq) / 8 });
}

/** What one access to a register array covers. */
export interface ArrayAccess {
  /** First INTID the access covers. */
  intid: number;
  /** Number of INTIDs covered. */
  count: number;
}

/**
 * Finds the array `offset` falls in and the INTIDs an access of `size` bytes
 * covers, or returns undefined when no array holds the offset. Writes into
 * `out` so the hot path allocates nothing.
 */
export function decodeArrayAccess<A extends RegisterArray>(arrays: readonly A[], offset: number, size: number, out: ArrayAccess): A | undefined {
  for (const a of arrays) {
    const rel = offset - a.base;
    if (rel >= 0 && rel < a.bytes) {
      out.intid = (rel * 8) / a.bitsPerIrq;
      out.count = (size * 8) / a.bitsPerIrq;
      return a;
    }
  }
  return undefined;
}

/**
 * Applies a write to a set/clear register pair (ISENABLER/ICENABLER and the
 * like, IHI0048B 4.3.5): every 1 bit calls `apply(intid)`; 0 bits have no
 * effect. The caller's `apply` knows whether it sets or clears.
 */
export function forEachSetBit(value: number, firstIntid: number, count: number, apply: (intid: number) => void): void {
  let v = value >>> 0;
  if (count < 32) v &= (1 << count) - 1;
  while (v !== 0) {
    const low = v & -v;
    apply(firstIntid + 31 - Math.clz32(low));
    v = (v & ~low) >>> 0;
  }
}
