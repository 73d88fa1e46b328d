/**
 * Priority, binary point and active priorities, shared by the GICv2 CPU
 * interface, the GICv3 CPU interface and both virtual CPU interfaces
 * (IHI0048B 3.3, IHI0069 4.8 "Interrupt prioritization").
 *
 * Lower values are higher priority; an implementation keeps the top
 * `priorityBits` bits and the others read as zero. The binary point splits a
 * priority into group priority (used for preemption) and subpriority.
 */
import { UsageError, describeValue } from '@hvsim/core';

/** The idle priority: what the running priority reads when nothing is active. */
export const IDLE_PRIORITY = 0xff;

/** Mask of the implemented bits of an 8-bit priority (IHI0069 4.8.1). */
export function implementedPriorityMask(priorityBits: number): number {
  return (0xff << (8 - priorityBits)) & 0xff;
}

/**
 * Minimum Group 0 binary point for `preemptionBits` bits of preemption
 * (IHI0069 4.8.3 Table 4-7; IHI0048B 3.3.3): 5 bits give 2, 7 bits give 0.
 * The Group 1 minimum is one more.
 */
export function minimumBinaryPoint(preemptionBits: number): number {
  return 7 - preemptionBits;
}

/**
 * The binary point a BPR write leaves (IHI0048B 4.4.3, IHI0069 12.2.4-12.2.5):
 * bits [2:0] of the value, raised to the implementation's minimum — the
 * minimum for Group 0, one more for Group 1's own binary point.
 */
export function writtenBinaryPoint(group: number, value: number, minBpr0: number): number {
  return Math.max(value & 7, group === 0 ? minBpr0 : minBpr0 + 1);
}

/**
 * Group-priority mask for an interrupt (IHI0069 4.8.3): with binary point `n`
 * Group 0 keeps bits [7:n+1]; Group 1 using its own BPR1/ABPR keeps [7:n]
 * (the Group 1 binary point counts one higher); with CBPR set Group 1 uses
 * the Group 0 binary point unchanged.
 */
export function groupPriorityMask(group: number, bpr0: number, bpr1: number, cbpr: boolean): number {
  if (group === 0 || cbpr) return (0xff << (bpr0 + 1)) & 0xff;
  return (0xff << (bpr1 > 0 ? bpr1 : 0)) & 0xff;
}

/**
 * Active priorities (GICC_APRn, ICC_AP0Rn/AP1Rn, ICH_AP0Rn/AP1Rn): one bit
 * per preemption level and group, set on acknowledge, cleared by priority
 * drop; the lowest set bit is the running priority (IHI0069 4.8.2,
 * 12.2.1-12.2.2, 12.4.1-12.4.2).
 */
export class ActivePriorities {
  /** Number of 32-bit words used per group: 1, 2 or 4 (IHI0069 12.2.2). */
  declare readonly words: number;
  /** Shift from a priority to its bit index: 8 - preemptionBits. */
  declare readonly shift: number;
  /** Group 0 words then Group 1 words, 4 each. Call {@link recompute} after writing them directly. */
  readonly bits = new Uint32Array(8);
  /** Cached running priority. */
  private rp = IDLE_PRIORITY;

  /** Implemented preemption bits, 4-7. */
  declare readonly preemptionBits: number;

  constructor(preemptionBits: number) {
    if (!Number.isInteger(preemptionBits) || preemptionBits < 4 || preemptionBits > 7) {
      throw new UsageError('bad-argument', `preemption bits must be an integer in [4, 7], got ${describeValue(preemptionBits)}`);
    }
    this.preemptionBits = preemptionBits;
    this.words = Math.max(1, (1 << preemptionBits) >>> 5);
    this.shift = 8 - preemptionBits;
  }

  /** Records `groupPriority` (already masked) as active in `group`. */
  activate(groupPriority: number, group: number): void {
    const bit = groupPriority >>> this.shift;
    this.bits[(group << 2) + (bit >>> 5)]! |= 1 << (bit & 31);
    if (groupPriority < this.rp) this.rp = groupPriority;
  }

  /** The running priority: lowest active priority value, or 0xFF. */
  running(): number {
    return this.rp;
  }

  /** Recomputes the cached running priority from the bits. */
  recompute(): void {
    this.rp = this.scan();
  }

  private scan(): number {
    const b = this.bits;
    for (let w = 0; w < this.words; w++) {
      const word = b[w]! | b[4 + w]!;
      if (word !== 0) return ((w << 5) + (31 - Math.clz32(word & -word))) << this.shift;
    }
    return IDLE_PRIORITY;
  }

  /**
   * Priority drop (IHI0069 4.4.4): clears the highest-priority active bit
   * (Group 0 first when both are set) and returns its priority, or 0xFF when
   * nothing was active.
   */
  drop(): number {
    // The cached running priority is the lowest set bit of either group (recomputed on every change).
    const rp = this.rp;
    if (rp === IDLE_PRIORITY) return IDLE_PRIORITY;
    const bit = rp >>> this.shift;
    const w = bit >>> 5;
    const m = 1 << (bit & 31);
    const b = this.bits;
    if ((b[w]! & m) !== 0) b[w] = b[w]! & ~m;
    else b[4 + w] = b[4 + w]! & ~m;
    this.rp = this.scan();
    return rp;
  }

  /** Word `n` of `group`'s register (0 for unimplemented words). */
  read(group: number, n: number): number {
    return n < this.words ? this.bits[(group << 2) + n]! >>> 0 : 0;
  }

  /** Writes word `n` of `group`'s register (how a hypervisor restores a vCPU). */
  write(group: number, n: number, value: number): void {
    if (n < this.words) this.bits[(group << 2) + n] = value >>> 0;
    this.rp = this.scan();
  }

  /** True when no priority is active. */
  isEmpty(): boolean {
    for (let i = 0; i < 8; i++) if (this.bits[i] !== 0) return false;
    return true;
  }

  /** Clears every bit. */
  reset(): void {
    this.bits.fill(0);
    this.rp = IDLE_PRIORITY;
  }
}
