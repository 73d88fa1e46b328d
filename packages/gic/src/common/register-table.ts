/**
 * Registers described once (as QEMU's vtd_define_long/quad with wmask and
 * w1cmask, and Linux's vgic-mmio REGISTER_DESC tables, describe theirs): each
 * register of a frame is one {@link RegisterSpec} — its spec mnemonic,
 * offset, width, reset value, writable and write-1-to-clear masks and its
 * read and write handlers — and a {@link RegisterTable} serves every access
 * to the frame from those descriptions: 32-bit accesses to either word of a
 * 64-bit register, 64-bit accesses, RAZ/WI for offsets no register holds,
 * and writes masked to the bits the register lets software change.
 * The per-interrupt arrays (GICD_ISENABLER<n> and the like) are described by
 * `array-access.ts` in the same way, one description per array.
 */
import { UsageError } from '@hvsim/core';

/** One register of a frame, described once for every view of it. */
export interface RegisterSpec<D> {
  /** The spec's mnemonic, e.g. `GICD_CTLR`. */
  readonly name: string;
  /** Byte offset in the frame (of the low word for a 64-bit register). */
  readonly offset: number;
  /** 32 or 64 bits (default 32): a 64-bit register also takes 64-bit accesses. */
  readonly width?: 32 | 64;
  /**
   * Value of the low word after reset; absent where the value depends on
   * the configuration (GICD_TYPER, GICR_TYPER, ...).
   */
  readonly reset?: number;
  /** Value of the high word of a 64-bit register after reset (default 0 when `reset` is given). */
  readonly resetHigh?: number;
  /** Bits of the low word a write changes (default 0: read-only); other bits are RO, RES0, RAZ or RAO/WI. */
  readonly writable?: number;
  /** Bits of the high word a write changes (64-bit registers; default 0). */
  readonly writableHigh?: number;
  /** Write-1-to-clear bits of the low word: the handler sees them as written, a 1 clears. */
  readonly w1c?: number;
  /** Reads word `word` (0: bits [31:0], 1: bits [63:32]) of the register on `dev`. */
  read(dev: D, word: number): number;
  /**
   * Writes word `word` with the value masked to the writable and
   * write-1-to-clear bits; absent for read-only registers (writes ignored).
   */
  write?(dev: D, value: number, word: number): void;
}

/** The registers of one frame, found by offset. */
export class RegisterTable<D> {
  /** Per 32-bit word of the frame: index + 1 of the register holding it, 0 for none. */
  private readonly slots: Uint16Array;
  /** The descriptions, in the order given. */
  readonly registers: readonly RegisterSpec<D>[];

  /**
   * Builds the table of frame `frame` (`bytes` long) from `registers`;
   * overlapping or misplaced descriptions are a bug in the table and throw.
   */
  constructor(
    readonly frame: string,
    bytes: number,
    registers: readonly RegisterSpec<D>[],
  ) {
    this.registers = registers;
    this.slots = new Uint16Array(bytes >>> 2);
    registers.forEach((r, i) => {
      const words = r.width === 64 ? 2 : 1;
      if (r.offset % (words * 4) !== 0 || r.offset + words * 4 > bytes) {
        throw new UsageError('bad-argument', `${frame} register ${r.name} at 0x${r.offset.toString(16)} is misaligned or outside the frame`);
      }
      for (let w = 0; w < words; w++) {
        const slot = (r.offset >>> 2) + w;
        if (this.slots[slot] !== 0) throw new UsageError('bad-argument', `${frame} registers ${this.registers[this.slots[slot]! - 1]!.name} and ${r.name} overlap`);
        this.slots[slot] = i + 1;
      }
    });
  }

  /** The register holding the 32-bit word at `offset` (word aligned), or undefined. */
  at(offset: number): RegisterSpec<D> | undefined {
    const i = offset >>> 2 < this.slots.length ? this.slots[offset >>> 2]! : 0;
    return i === 0 ? undefined : this.registers[i - 1];
  }

  /** The register named `name` (its spec mnemonic), or undefined. */
  named(name: string): RegisterSpec<D> | undefined {
    return this.registers.find((r) => r.name === name);
  }

  /** A 32-bit read at word-aligned `offset`: the register's word, 0 where no register is (RAZ). */
  read(dev: D, offset: number): number {
    const r = this.at(offset);
    if (r === undefined) return 0;
    return r.read(dev, (offset - r.offset) >>> 2) >>> 0;
  }

  /** A 32-bit write at word-aligned `offset`, masked as the register says; ignored where no register is or it is read-only (WI). */
  write(dev: D, offset: number, value: number): void {
    const r = this.at(offset);
    if (r?.write === undefined) return;
    const word = (offset - r.offset) >>> 2;
    const mask = word === 0 ? (r.writable ?? 0) | (r.w1c ?? 0) : (r.writableHigh ?? 0);
    r.write(dev, (value & mask) >>> 0, word);
  }

  /** True when a 64-bit register starts at `offset` (so a 64-bit access there is supported). */
  is64(offset: number): boolean {
    const r = this.at(offset);
    return r !== undefined && r.width === 64 && r.offset === offset;
  }
}
