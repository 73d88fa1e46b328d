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

/** Pending candidates of one CPU, bucketed by priority and group. */
export class PendingSet {
  private next: Int32Array;
  private prev: Int32Array;
  /** Bucket (priority << 1 | group) holding a key, or -1 when absent. */
  private bucketOf: Int16Array;
  private readonly head = new Int32Array(BUCKETS).fill(NONE);
  private readonly tail = new Int32Array(BUCKETS).fill(NONE);
  /** Bit b of word w: bucket w * 32 + b is not empty. */
  private readonly occupied = new Int32Array(WORDS);
  /** Bit w set iff occupancy word w holds a Group 0 bucket. */
  private summary0 = 0;
  /** Bit w set iff occupancy word w holds a Group 1 bucket. */
  private summary1 = 0;
  private count = 0;

  constructor(capacity: number) {
    this.next = new Int32Array(capacity);
    this.prev = new Int32Array(capacity);
    this.bucketOf = new Int16Array(capacity).fill(NONE);
  }

  /** Number of keys the set can hold (keys are 0 .. capacity-1). */
  get capacity(): number {
    return this.bucketOf.length;
  }

  /** Number of keys in the set. */
  get size(): number {
    return this.count;
  }

  /** Makes room for keys up to `capacity - 1` (for LPI ranges). */
  grow(capacity: number): void {
    if (capacity <= this.bucketOf.length) return;
    const next = new Int32Array(capacity);
    next.set(this.next);
    const prev = new Int32Array(capacity);
    prev.set(this.prev);
    const bucketOf = new Int16Array(capacity).fill(NONE);
    bucketOf.set(this.bucketOf);
    this.next = next;
    this.prev = prev;
    this.bucketOf = bucketOf;
  }

  /**
   * The bucket of `key` as `priority << 1 | group` (`bucketPriority`,
   * `bucketGroup`), or -1 when absent.
   */
  bucket(key: number): number {
    return this.bucketOf[key]!;
  }

  /** True when `key` is in the set. */
  has(key: number): boolean {
    return this.bucketOf[key] !== NONE;
  }

  /** Adds `key` at `priority` in `group` (moving it if it was elsewhere); returns whether anything changed. */
  insert(key: number, priority: number, group: number): boolean {
    const bucket = (priority << 1) | group;
    const old = this.bucketOf[key]!;
    if (old === bucket) return false;
    if (old !== NONE) this.unlink(key, old);
    else this.count++;
    this.bucketOf[key] = bucket;
    const t = this.tail[bucket]!;
    this.prev[key] = t;
    this.next[key] = NONE;
    if (t === NONE) {
      this.head[bucket] = key;
      const w = bucket >>> 5;
      this.occupied[w]! |= 1 << (bucket & 31);
      if (group === 0) this.summary0 |= 1 << w;
      else this.summary1 |= 1 << w;
    } else {
      this.next[t] = key;
    }
    this.tail[bucket] = key;
    return true;
  }

  /** Removes `key`; returns whether it was present. */
  remove(key: number): boolean {
    const bucket = this.bucketOf[key]!;
    if (bucket === NONE) return false;
    this.unlink(key, bucket);
    this.bucketOf[key] = NONE;
    this.count--;
    return true;
  }

  private unlink(key: number, bucket: number): void {
    const p = this.prev[key]!;
    const n = this.next[key]!;
    if (p === NONE) this.head[bucket] = n;
    else this.next[p] = n;
    if (n === NONE) this.tail[bucket] = p;
    else this.prev[n] = p;
    if (p === NONE && n === NONE) {
      const w = bucket >>> 5;
      const word = this.occupied[w]! & ~(1 << (bucket & 31));
      this.occupied[w] = word;
      if ((bucket & 1) === 0) {
        if ((word & GROUP0_BITS) === 0) this.summary0 &= ~(1 << w);
      } else if ((word & GROUP1_BITS) === 0) {
        this.summary1 &= ~(1 << w);
      }
    }
  }

  /**
   * Lowest occupied bucket among the groups in `groupMask` (bit 0 Group 0,
   * bit 1 Group 1): the highest priority, Group 0 first at equal priority;
   * -1 when none. Its first key is {@link first}.
   */
  bestBucket(groupMask: number): number {
    const m = groupMask & 3;
    const sum = ((m & 1) !== 0 ? this.summary0 : 0) | ((m & 2) !== 0 ? this.summary1 : 0);
    if (sum === 0) return NONE;
    const w = 31 - Math.clz32(sum & -sum);
    const word = this.occupied[w]! & (m === 3 ? -1 : m === 1 ? GROUP0_BITS : GROUP1_BITS);
    return (w << 5) | (31 - Math.clz32(word & -word));
  }

  /** The first key (first pending) of a non-empty bucket. */
  first(bucket: number): number {
    return this.head[bucket]!;
  }

  /**
   * Highest-priority key among the groups in `groupMask` (bit 0 Group 0, bit 1
   * Group 1), or -1. Between groups at equal priority Group 0 wins.
   */
  best(groupMask: number): number {
    const b = this.bestBucket(groupMask);
    return b === NONE ? NONE : this.head[b]!;
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
    const bits = GROUP_BITS[groupMask & 3]!;
    for (let w = 0; w < WORDS; w++) {
      let word = this.occupied[w]! & bits;
      while (word !== 0) {
        const bit = 31 - Math.clz32(word & -word);
        word &= word - 1;
        for (let k = this.head[(w << 5) | bit]!; k !== NONE; k = this.next[k]!) {
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
      for (let k = this.head[b]!; k !== NONE; k = this.next[k]!) out.push(k);
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
      if (key < 0 || key >= this.bucketOf.length) continue;
      const bucket = this.bucketOf[key]!;
      if (bucket === NONE) continue;
      this.remove(key);
      this.insert(key, bucket >>> 1, bucket & 1);
    }
  }

  /** Empties the set. */
  clear(): void {
    this.bucketOf.fill(NONE);
    this.head.fill(NONE);
    this.tail.fill(NONE);
    this.occupied.fill(0);
    this.summary0 = 0;
    this.summary1 = 0;
    this.count = 0;
  }
}
