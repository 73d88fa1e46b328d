/**
 * Builds VMSAv8-64 stage 1 tables of the EL1&0 regime (4 KiB granule) in
 * memory, and matching TTBRn_EL1 / TCR_EL1 values, for tests, teaching and
 * guest kernels (Arm ARM D8.2, D8.3 descriptor formats, D8.4 permissions).
 * One builder is one table tree: one for TTBR0_EL1 (VA bit 55 = 0) and one
 * for TTBR1_EL1. Addresses written into descriptors are output addresses
 * (IPAs under a stage 2); `toPhysical` says where such an address is in
 * `memory` when they differ.
 */
import type { Memory } from '@hvsim/core';
import { describeValue } from '@hvsim/core';
import { TWO_32, checkAddress, highHalf } from '../common/address.js';
import { zeroPage } from '../common/memory-access.js';
import { MmuUsageError } from '../common/mmu-error.js';
import { checkPageMapping } from '../common/page-size.js';
import type { PageAllocator } from '../common/page-allocator.js';
import { S1_HI, S1_LO } from './stage1-regs.js';

/** Attributes of a stage 1 mapping. */
export interface Stage1MapOptions {
  /** 4096 (page, level 3), 2 MiB (level 2 block) or 1 GiB (level 1 block). Default 4096. */
  pageSize?: number;
  /** AP[1]: EL0 may access. Default false. */
  el0?: boolean;
  /** AP[2]: read-only. Default false. */
  readOnly?: boolean;
  /** UXN. Default false. */
  uxn?: boolean;
  /** PXN. Default false. */
  pxn?: boolean;
  /** Access flag. Default true. */
  accessFlag?: boolean;
  /** Global (nG = 0). Default true. */
  global?: boolean;
  /** AttrIndx[2:0] (MAIR_EL1 index). Default 0. */
  attrIndx?: number;
  /** Dirty Bit Modifier. Default false. */
  dbm?: boolean;
}

/** Hierarchical limits of a table descriptor ({@link Stage1Builder.limitTable}). */
export interface Stage1TableLimits {
  /** APTable[0]: no EL0 data access below. */
  noEl0?: boolean;
  /** APTable[1]: no write access below. */
  readOnly?: boolean;
  /** UXNTable. */
  uxn?: boolean;
  /** PXNTable. */
  pxn?: boolean;
}

/** Fields of {@link Stage1Builder.tcr}. */
export interface Stage1TcrOptions {
  /** VA bits of the TTBR0_EL1 region (T0SZ = 64 - bits). Default 48. */
  t0Bits?: number;
  /** VA bits of the TTBR1_EL1 region. Default 48. */
  t1Bits?: number;
  /** Output size in bits (IPS: 32, 36, 40, 42, 44, 48). Default 48. */
  ipsBits?: number;
  /** 16-bit ASIDs (TCR_EL1.AS). Default true. */
  asid16?: boolean;
  /** TTBR1_EL1 holds the ASID (TCR_EL1.A1). Default false. */
  a1?: boolean;
  /** TCR_EL1.EPD0 (bit 7): no walks from TTBR0_EL1 (a TLB miss there faults). Default false. */
  epd0?: boolean;
  /** TCR_EL1.EPD1 (bit 23): no walks from TTBR1_EL1. Default false. */
  epd1?: boolean;
  /** TCR_EL1.TBI0 (bit 37): top byte ignored in TTBR0_EL1 addresses. Default false. */
  tbi0?: boolean;
  /** TCR_EL1.TBI1 (bit 38): top byte ignored in TTBR1_EL1 addresses. Default false. */
  tbi1?: boolean;
  /** Hardware Access flag update. */
  ha?: boolean;
  /** Hardware dirty state update. */
  hd?: boolean;
  /** TCR_EL1.HPD0 (bit 41): hierarchical permissions (APTable, PXNTable, UXNTable) ignored under TTBR0_EL1. Default false. */
  hpd0?: boolean;
  /** TCR_EL1.HPD1 (bit 42): hierarchical permissions ignored under TTBR1_EL1. Default false. */
  hpd1?: boolean;
}

const IPS_CODE: Readonly<Record<number, bigint>> = { 32: 0n, 36: 1n, 40: 2n, 42: 3n, 44: 4n, 48: 5n };

/** Writes one stage 1 table tree. */
export class Stage1Builder {
  /** Output address of the starting-level table (TTBRn_EL1.BADDR). */
  readonly root: number;
  /** Level of the first lookup. */
  readonly startLevel: number;
  private readonly toPhysical: (address: number) => number;

  constructor(
    private readonly memory: Memory,
    private readonly allocator: PageAllocator,
    /** VA bits of the region (64 - TnSZ), 25..48. Default 48. */
    readonly inputBits = 48,
    /** Where an output address (an IPA under stage 2) lies in `memory`. Default: the same address. */
    toPhysical?: (address: number) => number,
  ) {
    if (!Number.isInteger(inputBits) || inputBits < 25 || inputBits > 48) throw new MmuUsageError('bad-argument', `stage 1 input size must be 25-48 bits, got ${describeValue(inputBits)}`);
    this.toPhysical = toPhysical ?? ((a) => a);
    this.startLevel = 4 - Math.ceil((inputBits - 12) / 9);
    this.root = this.newTable();
  }

  /** TCR_EL1 for 4 KiB granules in both regions (TG0 = 0b00, TG1 = 0b10). */
  static tcr(options: Stage1TcrOptions = {}): bigint {
    const t0 = options.t0Bits ?? 48;
    const t1 = options.t1Bits ?? 48;
    for (const [name, v] of [['t0Bits', t0], ['t1Bits', t1]] as const) {
      if (!Number.isInteger(v) || v < 25 || v > 48) throw new MmuUsageError('bad-argument', `${name} must be 25-48, got ${describeValue(v)}`);
    }
    const ips = IPS_CODE[options.ipsBits ?? 48];
    if (ips === undefined) throw new MmuUsageError('bad-argument', `ipsBits must be 32, 36, 40, 42, 44 or 48, got ${describeValue(options.ipsBits)}`);
    const flag = (on: boolean | undefined, bit: bigint): bigint => (on === true ? 1n << bit : 0n);
    return (
      BigInt(64 - t0) |
      (BigInt(64 - t1) << 16n) |
      (2n << 30n) |
      (ips << 32n) |
      flag(options.asid16 ?? true, 36n) |
      flag(options.a1, 22n) |
      flag(options.epd0, 7n) |
      flag(options.epd1, 23n) |
      flag(options.tbi0, 37n) |
      flag(options.tbi1, 38n) |
      flag(options.ha, 39n) |
      flag(options.hd, 40n) |
      flag(options.hpd0, 41n) |
      flag(options.hpd1, 42n)
    );
  }

  /** TTBRn_EL1 for this tree and `asid`. */
  ttbr(asid = 0): bigint {
    if (!Number.isInteger(asid) || asid < 0 || asid > 0xffff) throw new MmuUsageError('bad-argument', `ASID must be 0-0xffff, got ${describeValue(asid)}`);
    return BigInt(this.root) | (BigInt(asid) << 48n);
  }

  /** Maps `va` (a number, or a bigint for a TTBR1_EL1 address; bits above the region are ignored) to `pa`. */
  map(va: number | bigint, pa: number, options: Stage1MapOptions = {}): void {
    const size = options.pageSize ?? 4096;
    const offset = this.offset(va);
    const leafLevel = 4 - checkPageMapping(size, offset, pa, ['va', 'pa']);
    const attr = options.attrIndx ?? 0;
    if (!Number.isInteger(attr) || attr < 0 || attr > 7) throw new MmuUsageError('bad-argument', `attrIndx must be 0-7, got ${describeValue(attr)}`);
    if (leafLevel < this.startLevel) throw new MmuUsageError('bad-argument', `a ${size}-byte block does not fit a ${this.inputBits}-bit region starting at level ${this.startLevel}`);
    const a = this.entryFor(va, leafLevel);
    let lo = S1_LO.VALID | (leafLevel === 3 ? S1_LO.TABLE : 0) | (attr << 2) | (3 << 8);
    if (options.el0 === true) lo |= S1_LO.AP_EL0;
    if (options.readOnly === true) lo |= S1_LO.AP_RO;
    if (options.accessFlag ?? true) lo |= S1_LO.AF;
    if (!(options.global ?? true)) lo |= S1_LO.NG;
    let hi = highHalf(pa);
    if (options.uxn === true) hi |= S1_HI.UXN;
    if (options.pxn === true) hi |= S1_HI.PXN;
    if (options.dbm === true) hi |= S1_HI.DBM;
    this.write(a, (lo | (pa % TWO_32)) >>> 0, hi >>> 0);
  }

  /** Clears the leaf that maps `va` (any level); returns false when there is none. */
  unmap(va: number | bigint): boolean {
    const offset = this.offset(va);
    let table = this.root;
    for (let level = this.startLevel; level <= 3; level++) {
      const a = this.toPhysical(table + this.index(level, offset) * 8);
      const lo = this.memory.read32(a);
      if ((lo & S1_LO.VALID) === 0) return false;
      if ((lo & S1_LO.TABLE) === 0 || level === 3) {
        this.write(a, 0, 0);
        return true;
      }
      table = (this.memory.read32(a + 4) & S1_HI.ADDRESS) * TWO_32 + ((lo & S1_LO.ADDRESS) >>> 0);
    }
    return false;
  }

  /** Sets the hierarchical limits of the table descriptor at `level` (0-2) on the way to `va`, creating tables. */
  limitTable(va: number | bigint, level: number, limits: Stage1TableLimits): void {
    if (!Number.isInteger(level) || level < this.startLevel || level > 2) throw new MmuUsageError('bad-argument', `table level must be ${this.startLevel}-2, got ${describeValue(level)}`);
    this.entryFor(va, level + 1);
    const a = this.entryFor(va, level);
    let hi = this.memory.read32(a + 4) & ~(S1_HI.AP_TABLE_NO_EL0 | S1_HI.AP_TABLE_RO | S1_HI.UXN_TABLE | S1_HI.PXN_TABLE);
    if (limits.noEl0 === true) hi |= S1_HI.AP_TABLE_NO_EL0;
    if (limits.readOnly === true) hi |= S1_HI.AP_TABLE_RO;
    if (limits.uxn === true) hi |= S1_HI.UXN_TABLE;
    if (limits.pxn === true) hi |= S1_HI.PXN_TABLE;
    this.memory.write32(a + 4, hi >>> 0);
  }

  /** Memory address of the descriptor at `level` for `va`, creating tables above it. */
  entryFor(va: number | bigint, level: number): number {
    const offset = this.offset(va);
    let table = this.root;
    for (let l = this.startLevel; l < level; l++) {
      const a = this.toPhysical(table + this.index(l, offset) * 8);
      const lo = this.memory.read32(a);
      if ((lo & (S1_LO.VALID | S1_LO.TABLE)) !== (S1_LO.VALID | S1_LO.TABLE)) {
        const next = this.newTable();
        this.write(a, (S1_LO.VALID | S1_LO.TABLE | (next % TWO_32)) >>> 0, highHalf(next));
        table = next;
      } else {
        table = (this.memory.read32(a + 4) & S1_HI.ADDRESS) * TWO_32 + ((lo & S1_LO.ADDRESS) >>> 0);
      }
    }
    return this.toPhysical(table + this.index(level, offset) * 8);
  }

  /** Writes a descriptor at memory address `a` as halves. */
  write(a: number, lo: number, hi: number): void {
    this.memory.write32(a, lo >>> 0);
    this.memory.write32(a + 4, hi >>> 0);
  }

  private offset(va: number | bigint): number {
    if (typeof va === 'bigint') {
      if (va < 0n || va >= 1n << 64n) throw new MmuUsageError('bad-argument', `VA must be an unsigned 64-bit value, got ${describeValue(va)}`);
      return Number(va & ((1n << BigInt(this.inputBits)) - 1n));
    }
    checkAddress(va, 'va');
    return va % 2 ** this.inputBits;
  }

  private index(level: number, offset: number): number {
    return Math.floor(offset / 2 ** (12 + 9 * (3 - level))) % 512;
  }

  private newTable(): number {
    const t = this.allocator.allocate();
    zeroPage(this.memory, this.toPhysical(t));
    return t;
  }
}
