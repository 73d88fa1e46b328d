/**
 * The interrupt remapping table as an OS driver keeps it (Linux's
 * `intel_irq_remapping.c`: `alloc_irte` / `modify_irte` / `free_irte`): a
 * power-of-two number of 16-byte IRTEs at a 4 KiB-aligned address, an
 * allocation bitmap, and aligned blocks for multi-message MSI (whose vectors
 * share one handle with sub-handles, VT-d 5.1.2.2). Writing an entry only
 * changes memory; the unit's interrupt entry cache keeps the old entry until
 * the driver invalidates it.
 */
import { UsageError, assertInteger, describeValue, type Memory } from '@hvsim/core';
import { IRTE_SIZE, type Words128 } from '../interrupts/irte.js';
import { TABLE_PAGE } from './page-source.js';
import { checkTablePage } from './second-level-builder.js';

/** An interrupt remapping table and its allocator. */
export class InterruptRemappingTable {
  /** log2(entries) − 1: IRTA_REG.S. */
  readonly sizeField: number;
  private readonly used: Uint8Array;

  /** A table of `entries` (2 to 65536, a power of two) IRTEs at `base`; the table is cleared. */
  constructor(
    private readonly memory: Memory,
    /** Physical address of the table (4 KiB aligned), for IRTA.IRTA. */
    readonly base: number,
    /** Number of IRTEs (2^(IRTA.S+1)). */
    readonly entries: number,
  ) {
    checkTablePage(base, 'interrupt remapping table address');
    assertInteger(entries, 'interrupt remapping table entries', 2, 0x1_0000);
    if ((entries & (entries - 1)) !== 0) throw new UsageError('bad-argument', `interrupt remapping table entries must be a power of two, got ${describeValue(entries)}`);
    this.sizeField = Math.log2(entries) - 1;
    this.used = new Uint8Array(entries);
    this.memory.writeBytes(base, new Uint8Array(Math.max(TABLE_PAGE, entries * IRTE_SIZE)));
  }

  /** Bytes the table occupies. */
  get size(): number {
    return this.entries * IRTE_SIZE;
  }

  /** IRTA_REG value for this table (VT-d 11.4.10.1): address, EIME (bit 11) and S. */
  irta(extendedInterruptMode: boolean): bigint {
    return BigInt(this.base) | (extendedInterruptMode ? 0x800n : 0n) | BigInt(this.sizeField);
  }

  /**
   * Allocates `count` consecutive entries (a power of two up to 32, aligned to
   * `count`, as multi-message MSI needs); returns the first index. Throws
   * when the table is full.
   */
  allocate(count = 1): number {
    assertInteger(count, 'IRTE count', 1, 32);
    if ((count & (count - 1)) !== 0) throw new UsageError('bad-argument', `IRTE count must be a power of two, got ${count}`);
    for (let first = 0; first + count <= this.entries; first += count) {
      let free = true;
      for (let i = first; i < first + count; i++) {
        if (this.used[i] === 1) {
          free = false;
          break;
        }
      }
      if (free) {
        this.used.fill(1, first, first + count);
        return first;
      }
    }
    throw new UsageError('bad-state', `no ${count} free consecutive IRTEs left in the ${this.entries}-entry interrupt remapping table`);
  }

  /** Frees `count` entries from `index` and clears them in memory (not present). */
  free(index: number, count = 1): void {
    this.checkIndex(index, count);
    for (let i = index; i < index + count; i++) {
      if (this.used[i] === 0) throw new UsageError('bad-state', `IRTE ${i} is not allocated`);
    }
    for (let i = index; i < index + count; i++) {
      this.used[i] = 0;
      this.write(i, [0, 0, 0, 0]);
    }
  }

  /** True when entry `index` is allocated. */
  isAllocated(index: number): boolean {
    this.checkIndex(index, 1);
    return this.used[index] === 1;
  }

  /** Writes IRTE `index` (VT-d 9.10/9.11 words, e.g. from `encodeRemappedIrte`/`encodePostedIrte`). */
  write(index: number, words: Words128): void {
    this.checkIndex(index, 1);
    const at = this.base + index * IRTE_SIZE;
    // The word holding P goes last and the high qword first, as modify_irte orders its writes.
    this.memory.write32(at + 8, words[2] >>> 0);
    this.memory.write32(at + 12, words[3] >>> 0);
    this.memory.write32(at + 4, words[1] >>> 0);
    this.memory.write32(at, words[0] >>> 0);
  }

  /** Reads IRTE `index` as four words. */
  read(index: number): Words128 {
    this.checkIndex(index, 1);
    const at = this.base + index * IRTE_SIZE;
    return [this.memory.read32(at), this.memory.read32(at + 4), this.memory.read32(at + 8), this.memory.read32(at + 12)];
  }

  private checkIndex(index: number, count: number): void {
    assertInteger(index, 'IRTE index', 0, this.entries - 1);
    assertInteger(count, 'IRTE count', 1, this.entries - index);
  }
}
