/**
 * Builds VMSAv8-64 stage 2 tables (4 KiB granule) in memory, and the
 * matching VTCR_EL2 and VTTBR_EL2, for tests, teaching and Arm hypervisors.
 */
import type { PhysicalMemory } from '@hvsim/core';
import { TWO_32, highHalf } from '../common/address.js';
import { MmuError } from '../common/mmu-error.js';
import { checkPageMapping } from '../common/page-size.js';
import type { PageAllocator } from '../common/page-allocator.js';
import { S2_LO } from './stage2-regs.js';

/** Attributes of a stage 2 mapping. */
export interface Stage2MapOptions {
  /** 4096 (page), 2 MiB or 1 GiB (blocks). Default 4096. */
  pageSize?: number;
  /** S2AP read permission. Default true. */
  read?: boolean;
  /** S2AP write permission. Default true. */
  write?: boolean;
  /** XN bits 54:53 (0: executable). Default 0. */
  xn?: number;
  /** Access flag. Default true. */
  accessFlag?: boolean;
  /** MemAttr[3:0]. Default 0b1111 (Normal, write-back). */
  memAttr?: number;
}

/** Writes stage 2 tables starting at level 1 (a 40-bit IPA space, 2 concatenated level 1 tables). */
export class Stage2Builder {
  /** Address of the (concatenated) starting-level table. */
  readonly root: number;

  constructor(
    private readonly memory: PhysicalMemory,
    private readonly allocator: PageAllocator,
    /** Starting level (0 or 1). */
    readonly startLevel: 0 | 1 = 1,
    /** IPA size in bits. */
    readonly ipaBits = 40,
  ) {
    const tables = startLevel === 1 ? 2 ** Math.max(0, ipaBits - 39) : 1;
    let first = -1;
    for (let i = 0; i < tables; i++) {
      const t = this.newTable();
      if (first < 0) first = t;
      else if (t !== first + i * 4096) throw new MmuError('bad-argument', 'concatenated stage 2 tables must be contiguous: use a fresh allocator');
    }
    this.root = first;
  }

  /** VTCR_EL2 for these tables: T0SZ, SL0, 4 KiB granule, PS = 48 bits, and HA when `hardwareAccessFlag`. */
  vtcr(hardwareAccessFlag = false): bigint {
    const sl0 = this.startLevel === 1 ? 1n : 2n;
    return BigInt(64 - this.ipaBits) | (sl0 << 6n) | (5n << 16n) | (hardwareAccessFlag ? 1n << 21n : 0n);
  }

  /** VTTBR_EL2 for these tables and `vmid`. */
  vttbr(vmid = 1): bigint {
    return BigInt(this.root) | (BigInt(vmid) << 48n);
  }

  /** Maps `ipa` to `pa`. */
  map(ipa: number, pa: number, options: Stage2MapOptions = {}): void {
    const size = options.pageSize ?? 4096;
    const leafLevel = 4 - checkPageMapping(size, ipa, pa, ['ipa', 'pa']);
    const a = this.entryFor(ipa, leafLevel);
    let lo = S2_LO.VALID | (leafLevel === 3 ? S2_LO.TABLE : 0) | ((options.memAttr ?? 0xf) << 2);
    if (options.read ?? true) lo |= S2_LO.S2AP_READ;
    if (options.write ?? true) lo |= S2_LO.S2AP_WRITE;
    if (options.accessFlag ?? true) lo |= S2_LO.AF;
    lo |= 3 << 8; // inner shareable
    const hi = highHalf(pa) | (((options.xn ?? 0) & 3) << 21);
    this.memory.write32(a, (lo | (pa % TWO_32)) >>> 0);
    this.memory.write32(a + 4, hi >>> 0);
  }

  /** Address of the descriptor at `level` for `ipa`, creating tables above it. */
  entryFor(ipa: number, level: number): number {
    let table = this.root;
    for (let l = this.startLevel; l < level; l++) {
      const a = table + this.index(l, ipa) * 8;
      const lo = this.memory.read32(a);
      if ((lo & (S2_LO.VALID | S2_LO.TABLE)) !== (S2_LO.VALID | S2_LO.TABLE)) {
        const next = this.newTable();
        this.memory.write32(a, (S2_LO.VALID | S2_LO.TABLE | (next % TWO_32)) >>> 0);
        this.memory.write32(a + 4, highHalf(next));
        table = next;
      } else {
        table = (this.memory.read32(a + 4) & 0xffff) * TWO_32 + ((lo & S2_LO.ADDRESS) >>> 0);
      }
    }
    return table + this.index(level, ipa) * 8;
  }

  private index(level: number, ipa: number): number {
    const span = 2 ** (12 + 9 * (3 - level));
    const idx = Math.floor(ipa / span);
    return level === this.startLevel ? idx : idx % 512;
  }

  private newTable(): number {
    const t = this.allocator.allocate();
    this.memory.fill(t, 4096, 0);
    return t;
  }
}
