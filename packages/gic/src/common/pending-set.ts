/**
 * The highest-priority-pending selection structure (IHI0069 4.1.1,
 * "Physical CPU interface" prioritization; IHI0048B 3.3): a set of interrupt
 * keys bucketed by (group, priority), with a 256-bit occupancy bitmap per
 * group. Insert, remove and "best" are O(1) — the best lookup touches at most
 * 16 words whatever the number of interrupts configured or pending, which is
 * what keeps selection flat at 32 or 988 SPIs and, later, 65,536 LPIs.
 *
 * Keys are small integers chosen by the owner: INTIDs below 1020 for SGIs,
 * PPIs and SPIs; LPIs get keys above those (see {@link PendingSet.grow}).
 * Within one priority the order is first pending, first selected: the
 * architecture leaves ties IMPLEMENTATION DEFINED (IHI0069 4.1.1).
 */
const BUCKETS = 512;
const NONE = -1;

/** Pending candidates of one CPU, bucketed by group and priority. */
export class PendingSet {
  private next: Int32Array;
  private prev: Int32Array;
  /** Bucket (group * 256 + priority) holding a key, or -1 when absent. */
  private bucketOf: Int16Array;
  private readonly head = new Int32Array(BUCKETS).fill(NONE);
  private readonly tail = new Int32Array(BUCKETS).fill(NONE);
  /** Bit b of word w: bucket w * 32 + b is not empty. Words 0-7 Group 0, 8-15 Group 1. */
  private readonly occupied = new Uint32Array(BUCKETS / 32);
  /** Per group, bit w set iff occupancy word (group * 8 + w) is not zero: one clz finds the best bucket. */
  private readonly summary = new Uint32Array(2);
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

  /** The bucket of `key` as `group << 8 | priority`, or -1 when absent. */
  bucket(key: number): number {
    return this.bucketOf[key]!;
  }

  /** True when `key` is in the set. */
  has(key: number): boolean {
    return this.bucketOf[key] !== NONE;
  }

  /** Adds `key` at `priority` in `group` (moving it if it was elsewhere); returns whether anything changed. */
  insert(key: number, priority: number, group: number): boolean {
    const bucket = (group << 8) | priority;
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
      this.summary[w >>> 3]! |= 1 << (w & 7);
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
    if (this.head[bucket] === NONE) {
      const w = bucket >>> 5;
      const word = this.occupied[w]! & ~(1 << (bucket & 31));
      this.occupied[w] = word;
      if (word === 0) this.summary[w >>> 3]! &= ~(1 << (w & 7));
    }
  }

  /** Lowest occupied bucket of `group`, or -1. */
  private lowestBucket(group: number): number {
    const sum = this.summary[group]!;
    if (sum === 0) return NONE;
    const w = (group << 3) + 31 - Math.clz32(sum & -sum);
    const word = this.occupied[w]!;
    return (w << 5) + (31 - Math.clz32(word & -word));
  }

  /**
   * Highest-priority key among the groups in `groupMask` (bit 0 Group 0, bit 1
   * Group 1), or -1. Between groups at equal priority Group 0 wins.
   */
  best(groupMask: number): number {
    const b0 = (groupMask & 1) !== 0 ? this.lowestBucket(0) : NONE;
    const b1 = (groupMask & 2) !== 0 ? this.lowestBucket(1) : NONE;
    if (b0 === NONE) return b1 === NONE ? NONE : this.head[b1]!;
    if (b1 === NONE || (b0 & 0xff) <= (b1 & 0xff)) return this.head[b0]!;
    return this.head[b1]!;
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
    for (let w = 0; w < 8; w++) {
      const w0 = (groupMask & 1) !== 0 ? this.occupied[w]! : 0;
      const w1 = (groupMask & 2) !== 0 ? this.occupied[8 + w]! : 0;
      let both = w0 | w1;
      while (both !== 0) {
        const bit = 31 - Math.clz32(both & -both);
        both &= both - 1;
        const prio = (w << 5) + bit;
        if (((w0 >>> bit) & 1) !== 0) {
          for (let k = this.head[prio]!; k !== NONE; k = this.next[k]!) {
            out[n++] = k;
            if (n === max) return n;
          }
        }
        if (((w1 >>> bit) & 1) !== 0) {
          for (let k = this.head[256 + prio]!; k !== NONE; k = this.next[k]!) {
            out[n++] = k;
            if (n === max) return n;
          }
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
      this.insert(key, bucket & 0xff, bucket >>> 8);
    }
  }

  /** Empties the set. */
  clear(): void {
    this.bucketOf.fill(NONE);
    this.head.fill(NONE);
    this.tail.fill(NONE);
    this.occupied.fill(0);
    this.summary.fill(0);
    this.count = 0;
  }
}
