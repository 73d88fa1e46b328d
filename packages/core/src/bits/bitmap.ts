/**
 * A fixed-size set of bits over a Uint32Array, with a one-word-per-32-words
 * summary so that finding the highest or lowest set bit touches a handful of
 * words, not every bit: 256 bits (an APIC's IRR/ISR/TMR) are one summary
 * word over eight data words; 65,536 bits (GIC LPIs) are 64 summary words.
 * No operation allocates.
 */
import { UsageError } from '../errors/hvsim-error.js';
import { describeValue } from '../errors/validate.js';

/** Highest set bit of a non-zero 32-bit word. */
function highBit(word: number): number {
  return 31 - Math.clz32(word);
}

/** Lowest set bit of a non-zero 32-bit word. */
function lowBit(word: number): number {
  return 31 - Math.clz32(word & -word);
}

/** A fixed-size bit set with fast highest/lowest search (see the file comment). */
export class Bitmap {
  /** Number of bits in the set. */
  readonly size: number;
  /** The bits, 32 per word, bit i of the set is bit (i & 31) of word (i >> 5). */
  readonly words: Uint32Array;
  /** Bit w set iff words[w] is non-zero. */
  private readonly summary: Uint32Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1 || size > 1 << 26) {
      throw new UsageError('bad-argument', `bitmap size must be an integer in [1, 2^26], got ${describeValue(size)}`);
    }
    this.size = size;
    this.words = new Uint32Array((size + 31) >>> 5);
    this.summary = new Uint32Array((this.words.length + 31) >>> 5);
  }

  private check(bit: number): void {
    if (!(bit >= 0 && bit < this.size) || !Number.isInteger(bit)) {
      throw new UsageError('bad-argument', `bit index must be an integer in [0, ${this.size - 1}], got ${describeValue(bit)}`);
    }
  }

  /** True when `bit` is set. */
  test(bit: number): boolean {
    this.check(bit);
    return ((this.words[bit >>> 5]! >>> (bit & 31)) & 1) === 1;
  }

  /** Sets `bit`; returns whether it was already set (for coalescing). */
  set(bit: number): boolean {
    this.check(bit);
    const w = bit >>> 5;
    const m = 1 << (bit & 31);
    const old = this.words[w]!;
    if ((old & m) !== 0) return true;
    this.words[w] = old | m;
    this.summary[w >>> 5]! |= 1 << (w & 31);
    return false;
  }

  /** Clears `bit`; returns whether it was set. */
  clear(bit: number): boolean {
    this.check(bit);
    const w = bit >>> 5;
    const m = 1 << (bit & 31);
    const old = this.words[w]!;
    if ((old & m) === 0) return false;
    const now = (old & ~m) >>> 0;
    this.words[w] = now;
    if (now === 0) this.summary[w >>> 5]! &= ~(1 << (w & 31));
    return true;
  }

  /** Sets or clears `bit` to `value`. */
  assign(bit: number, value: boolean): void {
    if (value) this.set(bit);
    else this.clear(bit);
  }

  /** Highest set bit, or -1 when the set is empty. */
  findHighest(): number {
    const s = this.summary;
    for (let i = s.length - 1; i >= 0; i--) {
      const sw = s[i]!;
      if (sw !== 0) {
        const w = (i << 5) + highBit(sw);
        return (w << 5) + highBit(this.words[w]!);
      }
    }
    return -1;
  }

  /** Lowest set bit, or -1 when the set is empty. */
  findLowest(): number {
    const s = this.summary;
    for (let i = 0; i < s.length; i++) {
      const sw = s[i]!;
      if (sw !== 0) {
        const w = (i << 5) + lowBit(sw);
        return (w << 5) + lowBit(this.words[w]!);
      }
    }
    return -1;
  }

  /** Lowest set bit at or above `from`, or -1 (for iterating set bits). */
  findNext(from: number): number {
    if (from >= this.size) return -1;
    if (from < 0) from = 0;
    let w = from >>> 5;
    const first = (this.words[w]! >>> (from & 31)) << (from & 31);
    if (first !== 0) return (w << 5) + lowBit(first);
    w++;
    // Continue through the summary from the next word on.
    while (w < this.words.length) {
      const si = w >>> 5;
      const sw = ((this.summary[si]! >>> (w & 31)) << (w & 31)) >>> 0;
      if (sw !== 0) {
        const found = (si << 5) + lowBit(sw);
        return (found << 5) + lowBit(this.words[found]!);
      }
      w = (si + 1) << 5;
    }
    return -1;
  }

  /** True when no bit is set. */
  isEmpty(): boolean {
    const s = this.summary;
    for (let i = 0; i < s.length; i++) if (s[i] !== 0) return false;
    return true;
  }

  /** Number of set bits. */
  count(): number {
    let n = 0;
    for (let i = 0; i < this.words.length; i++) {
      let v = this.words[i]!;
      v = v - ((v >>> 1) & 0x55555555);
      v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
      n += (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
    }
    return n;
  }

  /** Clears every bit. */
  clearAll(): void {
    this.words.fill(0);
    this.summary.fill(0);
  }

  /** The 32 bits starting at bit `32 * index` (how register views read a set). */
  getWord(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.words.length) {
      throw new UsageError('bad-argument', `word index must be in [0, ${this.words.length - 1}], got ${describeValue(index)}`);
    }
    return this.words[index]!;
  }

  /** Replaces the 32 bits starting at bit `32 * index`; bits past `size` stay clear. */
  setWord(index: number, value: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.words.length) {
      throw new UsageError('bad-argument', `word index must be in [0, ${this.words.length - 1}], got ${describeValue(index)}`);
    }
    let v = value >>> 0;
    const bitsInWord = this.size - index * 32;
    if (bitsInWord < 32) v = (v & ((1 << bitsInWord) - 1)) >>> 0;
    this.words[index] = v;
    if (v === 0) this.summary[index >>> 5]! &= ~(1 << (index & 31));
    else this.summary[index >>> 5]! |= 1 << (index & 31);
  }

  /** Copies every bit from `other`, which must be the same size. */
  copyFrom(other: Bitmap): void {
    if (other.size !== this.size) throw new UsageError('bad-argument', `cannot copy a ${other.size}-bit bitmap into a ${this.size}-bit one`);
    this.words.set(other.words);
    this.summary.set(other.summary);
  }

  /** Calls `fn` for each set bit in ascending order. */
  forEach(fn: (bit: number) => void): void {
    for (let b = this.findLowest(); b !== -1; b = this.findNext(b + 1)) fn(b);
  }

  /** The set bits in ascending order (allocates; for tests and snapshots). */
  toArray(): number[] {
    const out: number[] = [];
    this.forEach((b) => out.push(b));
    return out;
  }
}
