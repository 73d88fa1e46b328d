/**
 * A 256-bit set of interrupt vectors (IRR, ISR, TMR; SDM 3A 11.8.4): eight
 * 32-bit words plus an 8-bit summary of the non-zero words, so the highest
 * set vector is two count-leading-zeros. The same layout as core's Bitmap,
 * specialised for the local APIC's hot paths: callers pass vectors already
 * known to be integers in [0, 255], so nothing is re-checked.
 */
export class VectorSet {
  /** Word i holds vectors 32i..32i+31 (the register view's IRRn/ISRn/TMRn). */
  readonly words = new Uint32Array(8);
  /** Bit i set iff words[i] is non-zero. */
  private summary = 0;

  /** Sets `vector`; returns whether it was already set. */
  set(vector: number): boolean {
    const w = vector >>> 5;
    const m = 1 << (vector & 31);
    const old = this.words[w]!;
    if ((old & m) !== 0) return true;
    this.words[w] = old | m;
    this.summary |= 1 << w;
    return false;
  }

  /** Clears `vector`; returns whether it was set. */
  clear(vector: number): boolean {
    const w = vector >>> 5;
    // The summary lives in this object: an empty word is known without reading the words.
    if ((this.summary & (1 << w)) === 0) return false;
    const m = 1 << (vector & 31);
    const old = this.words[w]!;
    if ((old & m) === 0) return false;
    const now = old & ~m;
    this.words[w] = now;
    if (now === 0) this.summary &= ~(1 << w);
    return true;
  }

  /**
   * Clears `vector`, known to be set, and returns the highest vector still
   * set, or -1 (an acknowledge's IRR step, an EOI's ISR step: one call where
   * a clear and a search would be two).
   */
  clearAndFindHighest(vector: number): number {
    const w = vector >>> 5;
    const words = this.words;
    const now = words[w]! & ~(1 << (vector & 31));
    words[w] = now;
    let s = this.summary;
    if (now === 0) {
      s &= ~(1 << w);
      this.summary = s;
    }
    if (s === 0) return -1;
    const top = 31 - Math.clz32(s);
    return (top << 5) | (31 - Math.clz32(words[top]!));
  }

  /** True when `vector` is set. */
  test(vector: number): boolean {
    return ((this.words[vector >>> 5]! >>> (vector & 31)) & 1) === 1;
  }

  /** Highest set vector, or -1. */
  findHighest(): number {
    const s = this.summary;
    if (s === 0) return -1;
    const w = 31 - Math.clz32(s);
    return (w << 5) | (31 - Math.clz32(this.words[w]!));
  }

  /** True when no vector is set. */
  isEmpty(): boolean {
    return this.summary === 0;
  }

  /** Clears every vector. */
  clearAll(): void {
    this.words.fill(0);
    this.summary = 0;
  }

  /** Replaces word `index` (0-7). */
  setWord(index: number, value: number): void {
    this.words[index] = value;
    if (value === 0) this.summary &= ~(1 << index);
    else this.summary |= 1 << index;
  }
}
