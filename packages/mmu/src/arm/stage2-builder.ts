/**
 * Builds VMSAv8-64 stage 2 tables (4 KiB granule) in memory, and the
 * matching VTCR_EL2 and VTTBR_EL2, for tests, teaching and Arm hypervisors
 * (Arm ARM D8.2, D8.3). Besides `map`, a hypervisor gets what KVM's stage 2
 * code does to a VM's tables: `unmap` (memslot delete or move), `protect` /
 * `writeProtect` (dirty logging by write protection), `leafFor` (inspect
 * without creating tables) and `attach` (re-open the tables of a restored VM
 * from its root). Blocks a range only partly covers are split first, so
 * the rest of the block keeps its mapping. The caller invalidates TLBs
 * afterwards (TLBI IPAS2E1IS per page then VMALLE1IS, or VMALLS12E1IS).
 */
import type { Memory } from '@hvsim/core';
import { describeValue, getField64 } from '@hvsim/core';
import { TWO_32, checkAddress, highHalf } from '../common/address.js';
import { zeroPage } from '../common/memory-access.js';
import { MmuUsageError } from '../common/mmu-error.js';
import { checkPageMapping } from '../common/page-size.js';
import type { PageAllocator } from '../common/page-allocator.js';
import { S2_LO, VTCR_EL2, VTTBR_EL2 } from './stage2-regs.js';

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

/** Permission changes of {@link Stage2Builder.protect}; absent fields are left as they are. */
export interface Stage2ProtectOptions {
  /** S2AP[0] (bit 6): reads allowed. Default true. */
  read?: boolean;
  /** S2AP[1] (bit 7): writes allowed. Default true. */
  write?: boolean;
  /** XN bits 54:53. */
  xn?: number;
}

/** A leaf descriptor found by {@link Stage2Builder.leafFor}. */
export interface Stage2Leaf {
  /** Address of the descriptor. */
  address: number;
  /** Its level (1 or 2: block, 3: page). */
  level: number;
  /** Bytes it maps. */
  size: number;
  /** Output address of the block or page. */
  output: number;
}

const BLOCK_SIZE = [0, 0x4000_0000, 0x20_0000, 4096];

/** Writes stage 2 tables starting at level 0 or 1 (by default a 40-bit IPA space: 2 concatenated level 1 tables). */
export class Stage2Builder {
  /** Address of the (concatenated) starting-level table. */
  readonly root: number;
  /** Tables unlinked because an `unmap` left them empty. */
  tablesReleased = 0;

  constructor(
    private readonly memory: Memory,
    private readonly allocator: PageAllocator,
    /** Starting level (0 or 1). */
    readonly startLevel: 0 | 1 = 1,
    /** IPA size in bits. */
    readonly ipaBits = 40,
    /** An existing root to build on (see {@link Stage2Builder.attach}); a new one is allocated when absent. */
    root?: number,
  ) {
    const start: number = startLevel;
    if (start !== 0 && start !== 1) throw new MmuUsageError('bad-argument', `stage 2 starting level must be 0 or 1, got ${describeValue(startLevel)}`);
    const maxBits = startLevel === 0 ? 48 : 43; // at most 16 concatenated level 1 tables
    if (!Number.isInteger(ipaBits) || ipaBits < (startLevel === 0 ? 40 : 31) || ipaBits > maxBits) {
      throw new MmuUsageError('bad-argument', `IPA size ${describeValue(ipaBits)} bits cannot start at level ${startLevel} (level 0: 40-48, level 1: 31-43)`);
    }
    if (root !== undefined) {
      checkAddress(root, 'stage 2 root');
      if (root % 4096 !== 0) throw new MmuUsageError('bad-argument', `stage 2 root 0x${root.toString(16)} must be 4 KiB aligned`);
      this.root = root;
      return;
    }
    const tables = startLevel === 1 ? 2 ** Math.max(0, ipaBits - 39) : 1;
    let first = -1;
    for (let i = 0; i < tables; i++) {
      const t = this.newTable();
      if (first < 0) first = t;
      else if (t !== first + i * 4096) throw new MmuUsageError('bad-argument', 'concatenated stage 2 tables must be contiguous: use a fresh allocator');
    }
    this.root = first;
  }

  /**
   * Re-opens existing tables (after a restore): the root, starting level and
   * IPA size come from VTTBR_EL2.BADDR, VTCR_EL2.SL0 and VTCR_EL2.T0SZ.
   * Tables created later come from `allocator` (restore its state too).
   */
  static attach(memory: Memory, allocator: PageAllocator, vtcr: bigint, vttbr: bigint): Stage2Builder {
    if (typeof vtcr !== 'bigint' || typeof vttbr !== 'bigint') throw new MmuUsageError('bad-argument', `VTCR_EL2 and VTTBR_EL2 must be bigints, got ${describeValue(vtcr)}, ${describeValue(vttbr)}`);
    const sl0 = Number(getField64(vtcr, VTCR_EL2.SL0));
    if (sl0 !== 1 && sl0 !== 2) throw new MmuUsageError('bad-argument', `VTCR_EL2.SL0 ${sl0} is not a starting level the builder writes (1: level 1, 2: level 0)`);
    const ipaBits = 64 - Number(getField64(vtcr, VTCR_EL2.T0SZ));
    const root = Number(getField64(vttbr, VTTBR_EL2.BADDR) << 1n);
    return new Stage2Builder(memory, allocator, sl0 === 1 ? 1 : 0, ipaBits, root);
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
    this.checkIpa(ipa, size);
    const a = this.entryFor(ipa, leafLevel);
    let lo = S2_LO.VALID | (leafLevel === 3 ? S2_LO.TABLE : 0) | (((options.memAttr ?? 0xf) & 0xf) << 2);
    if (options.read ?? true) lo |= S2_LO.S2AP_READ;
    if (options.write ?? true) lo |= S2_LO.S2AP_WRITE;
    if (options.accessFlag ?? true) lo |= S2_LO.AF;
    lo |= 3 << 8; // inner shareable
    const hi = highHalf(pa) | (((options.xn ?? 0) & 3) << 21);
    this.memory.write32(a, (lo | (pa % TWO_32)) >>> 0);
    this.memory.write32(a + 4, hi >>> 0);
  }

  /**
   * Removes every mapping in `[ipa, ipa + size)` (4 KiB aligned); a block
   * that lies partly outside is split first. Returns the leaf descriptors
   * cleared. Tables left with no valid descriptor are unlinked and, when
   * they came from this builder's allocator, released to it (as KVM frees
   * the table pages of a deleted memslot); the starting-level tables stay.
   */
  unmap(ipa: number, size: number): number {
    const n = this.eachLeaf(ipa, size, 'unmap', (a) => {
      this.memory.write32(a, 0);
      this.memory.write32(a + 4, 0);
    });
    if (n > 0) this.prune(this.root, this.startLevel, ipa, ipa + size);
    return n;
  }

  /** Unlinks (and releases) the empty tables below `table` that `[start, end)` overlaps; true when `table` itself is now empty. */
  private prune(table: number, level: number, start: number, end: number): boolean {
    const span = 2 ** (12 + 9 * (3 - level));
    const entries = level === this.startLevel ? this.rootEntries() : 512;
    const base = level === this.startLevel ? 0 : start - (start % (span * 512));
    if (level < 3) {
      const first = Math.floor((start - base) / span);
      const last = Math.min(entries - 1, Math.floor((end - 1 - base) / span));
      for (let i = first; i <= last; i++) {
        const a = table + i * 8;
        const lo = this.memory.read32(a);
        if ((lo & (S2_LO.VALID | S2_LO.TABLE)) !== (S2_LO.VALID | S2_LO.TABLE)) continue;
        const child = (this.memory.read32(a + 4) & 0xffff) * TWO_32 + ((lo & S2_LO.ADDRESS) >>> 0);
        const childStart = base + i * span;
        if (this.prune(child, level + 1, Math.max(start, childStart), Math.min(end, childStart + span))) {
          this.memory.write32(a, 0);
          this.memory.write32(a + 4, 0);
          const alloc = this.allocator;
          if (child >= alloc.base && child < alloc.base + alloc.size) alloc.release(child);
          this.tablesReleased++;
        }
      }
    }
    if (level === this.startLevel) return false;
    for (let i = 0; i < 512; i++) if ((this.memory.read32(table + i * 8) & S2_LO.VALID) !== 0) return false;
    return true;
  }

  private rootEntries(): number {
    return 2 ** (this.ipaBits - (12 + 9 * (3 - this.startLevel)));
  }

  /**
   * Changes S2AP and XN of every mapping in `[ipa, ipa + size)` (4 KiB
   * aligned), splitting blocks partly inside. Returns the leaves changed.
   */
  protect(ipa: number, size: number, options: Stage2ProtectOptions): number {
    const { read, write, xn } = options;
    if (xn !== undefined && (!Number.isInteger(xn) || xn < 0 || xn > 3)) throw new MmuUsageError('bad-argument', `XN must be 0-3, got ${describeValue(xn)}`);
    return this.eachLeaf(ipa, size, 'protect', (a) => {
      let lo = this.memory.read32(a);
      if (read !== undefined) lo = read ? lo | S2_LO.S2AP_READ : lo & ~S2_LO.S2AP_READ;
      if (write !== undefined) lo = write ? lo | S2_LO.S2AP_WRITE : lo & ~S2_LO.S2AP_WRITE;
      this.memory.write32(a, lo >>> 0);
      if (xn !== undefined) this.memory.write32(a + 4, ((this.memory.read32(a + 4) & ~(3 << 21)) | (xn << 21)) >>> 0);
    });
  }

  /** Clears S2AP write in `[ipa, ipa + size)` (dirty logging); returns the leaves changed. */
  writeProtect(ipa: number, size: number): number {
    return this.protect(ipa, size, { write: false });
  }

  /** The valid leaf (block or page) that maps `ipa`, without creating tables; undefined when none does. */
  leafFor(ipa: number): Stage2Leaf | undefined {
    checkAddress(ipa, 'ipa');
    if (ipa >= 2 ** this.ipaBits) return undefined;
    let table = this.root;
    for (let level: number = this.startLevel; level <= 3; level++) {
      const a = table + this.index(level, ipa) * 8;
      const lo = this.memory.read32(a);
      if ((lo & S2_LO.VALID) === 0) return undefined;
      const next = (this.memory.read32(a + 4) & 0xffff) * TWO_32 + ((lo & S2_LO.ADDRESS) >>> 0);
      if ((lo & S2_LO.TABLE) === 0 || level === 3) {
        if (level === 0 || ((lo & S2_LO.TABLE) === 0 && level === 3)) return undefined;
        const size = BLOCK_SIZE[level] ?? 4096;
        return { address: a, level, size, output: next - (next % size) };
      }
      table = next;
    }
    return undefined;
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

  /** Calls `fn` on every valid leaf inside the range, splitting blocks that lie partly outside it. */
  private eachLeaf(ipa: number, size: number, what: string, fn: (address: number) => void): number {
    checkAddress(ipa, 'ipa');
    checkAddress(size, 'size');
    if (ipa % 4096 !== 0 || size % 4096 !== 0) throw new MmuUsageError('bad-argument', `${what}: ipa 0x${ipa.toString(16)} and size 0x${size.toString(16)} must be 4 KiB aligned`);
    this.checkIpa(ipa, size);
    const end = ipa + size;
    let n = 0;
    let at = ipa;
    while (at < end) {
      const leaf = this.leafFor(at);
      if (leaf === undefined) {
        at = this.nextCandidate(at);
        continue;
      }
      const start = at - (at % leaf.size);
      if (start < ipa || start + leaf.size > end) {
        this.split(leaf);
        continue; // look again at the smaller pieces
      }
      fn(leaf.address);
      n++;
      at = start + leaf.size;
    }
    return n;
  }

  /** The next IPA worth looking at after `at` found no leaf (skips whole unmapped tables). */
  private nextCandidate(at: number): number {
    let table = this.root;
    for (let level: number = this.startLevel; level <= 3; level++) {
      const span = 2 ** (12 + 9 * (3 - level));
      const a = table + this.index(level, at) * 8;
      const lo = this.memory.read32(a);
      if ((lo & S2_LO.VALID) === 0 || level === 3 || (lo & S2_LO.TABLE) === 0) return at - (at % span) + span;
      table = (this.memory.read32(a + 4) & 0xffff) * TWO_32 + ((lo & S2_LO.ADDRESS) >>> 0);
    }
    return at + 4096;
  }

  /** Replaces a block by a table of the next level with the same mappings (break-before-make is the caller's TLB maintenance). */
  private split(leaf: Stage2Leaf): void {
    const lo = this.memory.read32(leaf.address);
    const hi = this.memory.read32(leaf.address + 4);
    const childLevel = leaf.level + 1;
    const childSize = BLOCK_SIZE[childLevel] ?? 4096;
    const attrsLo = lo & 0xfff & ~S2_LO.TABLE;
    const attrsHi = hi & ~0xffff;
    const table = this.newTable();
    for (let i = 0; i < 512; i++) {
      const out = leaf.output + i * childSize;
      this.memory.write32(table + i * 8, (attrsLo | (childLevel === 3 ? S2_LO.TABLE : 0) | (out % TWO_32)) >>> 0);
      this.memory.write32(table + i * 8 + 4, (attrsHi | highHalf(out)) >>> 0);
    }
    this.memory.write32(leaf.address, (S2_LO.VALID | S2_LO.TABLE | (table % TWO_32)) >>> 0);
    this.memory.write32(leaf.address + 4, highHalf(table));
  }

  private checkIpa(ipa: number, size: number): void {
    if (ipa + size > 2 ** this.ipaBits) throw new MmuUsageError('bad-argument', `IPA range 0x${ipa.toString(16)} + 0x${size.toString(16)} is beyond the ${this.ipaBits}-bit IPA space`);
  }

  private index(level: number, ipa: number): number {
    const span = 2 ** (12 + 9 * (3 - level));
    const idx = Math.floor(ipa / span);
    return level === this.startLevel ? idx : idx % 512;
  }

  private newTable(): number {
    const t = this.allocator.allocate();
    zeroPage(this.memory, t);
    return t;
  }
}
