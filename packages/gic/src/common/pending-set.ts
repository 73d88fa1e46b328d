/**
 * The highest-priority-pending selection structure (IHI0069 4.1.1,
 * "Physical CPU interface" prioritization; IHI0048B 3.3): a set of interrupt
 * keys bucketed by (priority, group), with a 512-bit occupancy bitmap and a
 * 16-bit summary per group. Insert, remove and "best" are O(1) — the best
 * lookup reads one summary and one occupancy word whatever the number of
 * interrupts configured or pending, which is what keeps selection flat at 32
 * or 988 SPIs and 65,536 LPIs.
 *
 * Buckets are numbered `priority << 1 | group`, so the lowest occupied bucket
 * is the highest priority, Group 0 before Group 1 at equal priority (the
 * order the CPU interfaces need), and one bit search serves any group mask.
 *
 * Keys are small integers chosen by the owner: INTIDs below 1020 for SGIs,
 * PPIs and SPIs; LPIs get keys above those (see {@link PendingSet.grow}).
 * Within one bucket the order is first pending, first selected: the
 * architecture leaves ties IMPLEMENTATION DEFINED (IHI0069 4.1.1).
 */
const BUCKETS = 512;
const WORDS = BUCKETS / 32;
const NONE = -1;
/** Occupancy bits of Group 0 buckets (even) and Group 1 buckets (odd) in a word. */
const GROUP0_BITS = 0x5555_5555;
const GROUP1_BITS = 0xaaaa_aaaa | 0;
/** Per group mask (bit 0 Group 0, bit 1 Group 1): the occupancy bits it selects. */
const GROUP_BITS = new Int32Array([0, GROUP0_BITS, GROUP1_BITS, -1]);

/** Priority of a bucket number (see {@link PendingSet.bucket}). */
export function bucketPriority(bucket: number): number {
  return bucket >>> 1;
}

/** Group of a bucket number (see {@link PendingSet.bucket}). */
export function bucketGroup(bucket: number): number {
  return bucket & 1;
}

/** Stride of a key's record in `links`: next key, previous key, bucket. */
const LINK = 3;
/** Offset of the per-group-mask summaries in `bits`, after the occupancy words. */
const SUMMARY = WORDS;

/**
 * Pending candidates of one CPU, bucketed by priority and group. The state
 * is three typed arrays (per-key links, per-bucket ends, occupancy bits):
 * few arrays keep the hot insert, remove and lookup short once compiled.
 */
export class PendingSet {
  /** Per key: next key, previous key (-1 at the ends) and bucket (-1 when absent), {@link LINK} words each. */
  private declare links: Int32Array;
  /** Per bucket: head key at `2 * bucket`, tail key at `2 * bucket + 1` (-1 when empty). */
  private readonly ends = new Int32Array(2 * BUCKETS).fill(NONE);
  /**
   * Words 0-15: bit b of word w set iff bucket w * 32 + b is not empty. Then per group mask
   * (SUMMARY + 1 Group 0, + 2 Group 1, + 3 either; + 0 stays empty): bit w set iff occupancy
   * word w holds a bucket of those groups, so a lookup reads one summary and one word.
   */
  private readonly bits = new Int32Array(WORDS + 4);
  private count = 0;

  constructor(capacity: number) {
    this.links = new Int32Array(LINK * capacity).fill(NONE);
  }

  /** Number of keys the set can hold (keys are 0 .. capacity-1). */
  get capacity(): number {
    return this.links.length / LINK;
  }

  /** Number of keys in the set. */
  get size(): number {
    return this.count;
  }

  /** Makes room for keys up to `capacity - 1` (for LPI ranges). */
  grow(capacity: number): void {
    if (LINK * capacity <= this.links.length) return;
    const links = new Int32Array(LINK * capacity).fill(NONE);
    links.set(this.links);
    this.links = links;
  }

  /**
   * The bucket of `key` as `priority << 1 | group` (`bucketPriority`,
   * `bucketGroup`), or -1 when absent.
   */
  bucket(key: number): number {
    return this.links[LINK * key + 2]!;
  }

  /** True when `key` is in the set. */
  has(key: number): boolean {
    return this.links[LINK * key + 2] !== NONE;
  }

  /** Adds `key` at `priority` in `group` (moving it if it was elsewhere); returns whether anything changed. */
  insert(key: number, priority: number, group: number): boolean {
    const bucket = (priority << 1) | group;
    const old = this.links[LINK * key + 2]!;
    if (old !== NONE) return old !== bucket && this.move(key, old, bucket);
    this.count++;
    this.append(key, bucket);
    return true;
  }

  /** {@link insert} of a key already present in another bucket. */
  private move(key: number, old: number, bucket: number): boolean {
    this.unlink(key, old);
    this.append(key, bucket);
    return true;
  }

  /** Links `key` at the tail of `bucket` (last pending, last selected). */
  private append(key: number, bucket: number): void {
    const l = this.links;
    const ends = this.ends;
    const k = LINK * key;
    const t = ends[2 * bucket + 1]!;
    l[k] = NONE;
    l[k + 1] = t;
    l[k + 2] = bucket;
    ends[2 * bucket + 1] = key;
    if (t !== NONE) {
      l[LINK * t] = key;
      return;
    }
    ends[2 * bucket] = key;
    const b = this.bits;
    const w = bucket >>> 5;
    b[w]! |= 1 << (bucket & 31);
    b[SUMMARY + 1 + (bucket & 1)]! |= 1 << w;
    b[SUMMARY + 3]! |= 1 << w;
  }

  /** Removes `key`; returns whether it was present. */
  remove(key: number): boolean {
    const bucket = this.links[LINK * key + 2]!;
    if (bucket === NONE) return false;
    this.unlink(key, bucket);
    this.count--;
    return true;
  }

  /** Takes `key` out of `bucket`'s list and marks it absent. */
  private unlink(key: number, bucket: number): void {
    const l = this.links;
    const k = LINK * key;
    const n = l[k]!;
    const p = l[k + 1]!;
    l[k + 2] = NONE;
    // The neighbours' links, or the bucket's ends where there is none.
    if (p !== NONE) l[LINK * p] = n;
    else this.ends[2 * bucket] = n;
    if (n !== NONE) l[LINK * n + 1] = p;
    else this.ends[2 * bucket + 1] = p;
    if (p === NONE && n === NONE) this.emptied(bucket);
  }

  /** `bucket` lost its last key: clears its occupancy bit and the summaries that no longer hold a bucket of its word. */
  private emptied(bucket: number): void {
    const b = this.bits;
    const w = bucket >>> 5;
    const word = b[w]! & ~(1 << (bucket & 31));
    b[w] = word;
    if ((word & ((bucket & 1) === 0 ? GROUP0_BITS : GROUP1_BITS)) === 0) b[SUMMARY + 1 + (bucket & 1)]! &= ~(1 << w);
    if (word === 0) b[SUMMARY + 3]! &= ~(1 << w);
  }

  /**
   * Lowest occupied bucket among the groups in `groupMask` (bit 0 Group 0,
   * bit 1 Group 1): the highest priority, Group 0 first at equal priority;
   * -1 when none. Its first key is {@link first}.
   */
  bestBucket(groupMask: number): number {
    const b = this.bits;
    const m = groupMask & 3;
    const sum = b[SUMMARY + m]!;
    if (sum === 0) return NONE;
    const w = 31 - Math.clz32(sum & -sum);
    const word = b[w]! & GROUP_BITS[m]!;
    return (w << 5) | (31 - Math.clz32(word & -word));
  }

  /** The first key (first pending) of a non-empty bucket. */
  first(bucket: number): number {
    return this.ends[2 * bucket]!;
  }

  /**
   * Highest-priority key among the groups in `groupMask` (bit 0 Group 0, bit 1
   * Group 1), or -1. Between groups at equal priority Group 0 wins.
   */
  best(groupMask: number): number {
    const b = this.bestBucket(groupMask);
    return b === NONE ? NONE : this.ends[2 * b]!;
  }

  /**
   * Writes the keys of the groups in `groupMask` into `out` in selection
   * order — priority first (Group 0 before Group 1 at equal priority), then
   * first pending first — up to `out.length` keys; returns how many. What
   * repeated "best, then remove it" would give, without changing the set and
   * without allocating.
   */
  ordered(groupMask: number, out: Int32Array): number {
    let n = 0;
    const max = out.length;
    if (max === 0 || this.count === 0) return 0;
    const mask = GROUP_BITS[groupMask & 3]!;
    for (let w = 0; w < WORDS; w++) {
      let word = this.bits[w]! & mask;
      while (word !== 0) {
        const bit = 31 - Math.clz32(word & -word);
        word &= word - 1;
        for (let k = this.ends[2 * ((w << 5) | bit)]!; k !== NONE; k = this.links[LINK * k]!) {
          out[n++] = k;
          if (n === max) return n;
        }
      }
    }
    return n;
  }

  /**
   * Every key, bucket by bucket, each bucket in its selection order (first
   * pending first). Saved with a GIC's state so equal-priority order survives
   * a snapshot; not for hot paths (it allocates).
   */
  keys(): number[] {
    const out: number[] = [];
    for (let b = 0; b < BUCKETS; b++) {
      for (let k = this.ends[2 * b]!; k !== NONE; k = this.links[LINK * k]!) out.push(k);
    }
    return out;
  }

  /**
   * Moves each key of `order` that is in the set to the tail of its bucket,
   * in the given order, so that keys listed keep their relative order and
   * come after keys not listed (those became candidates since). Keys not in
   * the set are skipped.
   */
  reorder(order: readonly number[]): void {
    for (const key of order) {
      if (key < 0 || key >= this.capacity) continue;
      const bucket = this.bucket(key);
      if (bucket === NONE) continue;
      this.remove(key);
      this.insert(key, bucket >>> 1, bucket & 1);
    }
  }

  /**
   * Empties the set, in time proportional to the keys in it (a vPE leaving
   * with a few pending vLPIs out of 57,344): only a key's bucket says
   * whether it is present, and an insert rewrites its links.
   */
  clear(): void {
    const l = this.links;
    const bits = this.bits;
    for (let w = 0; w < WORDS && this.count > 0; w++) {
      let word = bits[w]!;
      while (word !== 0) {
        const bit = 31 - Math.clz32(word & -word);
        word &= word - 1;
        for (let k = this.ends[2 * ((w << 5) | bit)]!; k !== NONE; k = l[LINK * k]!) l[LINK * k + 2] = NONE;
      }
    }
    this.ends.fill(NONE);
    this.bits.fill(0);
    this.count = 0;
  }
}
