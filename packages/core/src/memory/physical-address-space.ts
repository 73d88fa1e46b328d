/**
 * The physical address space a CPU sees: RAM (any {@link Memory}: host RAM or
 * a guest-physical view) and memory-mapped devices (an {@link MmioBus}) in
 * one. Each access goes to RAM when RAM backs every byte of it, else to the
 * device that claims it, and an access that reaches neither is reported to
 * the caller as a value (`'unclaimed'`), never thrown: a KVM turns it into
 * KVM_EXIT_MMIO (api.rst 5, `KVM_EXIT_MMIO`), a bare-metal CPU into an
 * all-ones read or an abort. A write to read-only RAM is reported as
 * `'read-only'` (KVM_MEM_READONLY slots exit to userspace as MMIO too).
 * Nothing is allocated per access unless a device's 64-bit register path
 * itself takes a bigint.
 */
import { assertAddress, assertOptions, describeValue, wrongType } from '../errors/validate.js';
import { UsageError } from '../errors/hvsim-error.js';
import type { MmioBus } from '../bus/buses.js';
import type { Memory, U64Halves } from './memory.js';

/**
 * Where an access went: `'ram'`, `'mmio'` (a device handled it), `'unclaimed'`
 * (nothing is there, or the access crosses from RAM into a hole or off the
 * end of a device's range), `'read-only'` (a write to read-only RAM, not done).
 */
export type PhysicalAccessResult = 'ram' | 'mmio' | 'unclaimed' | 'read-only';

/** Sizes of a {@link PhysicalAddressSpace} access in bytes. */
export type PhysicalAccessSize = 1 | 2 | 4 | 8;

/** Options of {@link PhysicalAddressSpace}. */
export interface PhysicalAddressSpaceOptions {
  /**
   * Which wins where RAM and a device both claim an address: `'ram'` (the
   * default) or `'mmio'` (a per-CPU LAPIC page over RAM, as x86 decodes it).
   */
  priority?: 'ram' | 'mmio';
}

const PAGE = 4096;
const PAGE_MASK = PAGE - 1;

/** RAM plus MMIO devices behind one read/write (see the file comment). */
export class PhysicalAddressSpace {
  private readonly mmioFirst: boolean;
  // Last RAM page known backed (and whether writable), valid for one memory
  // generation: adding RAM never un-backs a page, removing it bumps the generation.
  private ramPage = Number.NaN;
  private ramWritable = false;
  private ramGen = -1;

  constructor(
    /** The RAM (host-physical or guest-physical). */
    readonly memory: Memory,
    /** The devices. */
    readonly mmio: MmioBus,
    options: PhysicalAddressSpaceOptions = {},
  ) {
    if (typeof memory !== 'object' || (memory as unknown) === null || typeof memory.read32 !== 'function' || typeof memory.isBacked !== 'function') {
      throw new UsageError('bad-argument', `PhysicalAddressSpace needs a Memory, got ${describeValue(memory)}`);
    }
    if (typeof mmio !== 'object' || (mmio as unknown) === null || typeof mmio.lookup !== 'function') {
      throw new UsageError('bad-argument', `PhysicalAddressSpace needs an MmioBus, got ${describeValue(mmio)}`);
    }
    assertOptions(options, ['priority'], 'PhysicalAddressSpace');
    const priority: unknown = options.priority ?? 'ram';
    if (priority !== 'ram' && priority !== 'mmio') throw new UsageError('bad-argument', `priority must be 'ram' or 'mmio', got ${describeValue(priority)}`);
    this.mmioFirst = priority === 'mmio';
  }

  /**
   * Reads `size` bytes at `addr` into `out` (`out.hi` is 0 below 8 bytes) and
   * says where the access went; on `'unclaimed'` `out` is left as it was.
   * Throws `UsageError` only for host misuse (an address that is not an
   * integer in [0, 2^53), a size other than 1/2/4/8).
   */
  read(addr: number, size: PhysicalAccessSize, out: U64Halves): PhysicalAccessResult {
    if (typeof addr !== 'number') wrongType(addr, 'physical address', 'number');
    checkSize(size);
    if (this.mmioFirst && this.mmio.lookup(addr) !== undefined) return this.mmioRead(addr, size, out);
    if (this.ramBacked(addr, size)) {
      const m = this.memory;
      switch (size) {
        case 1:
          out.lo = m.read8(addr);
          break;
        case 2:
          out.lo = m.read16(addr);
          break;
        case 4:
          out.lo = m.read32(addr);
          break;
        default:
          m.read64Halves(addr, out);
          return 'ram';
      }
      out.hi = 0;
      return 'ram';
    }
    return this.mmioRead(addr, size, out);
  }

  /**
   * Writes `size` bytes of `lo` (and `hi`, bits 63:32, for 8 bytes) at
   * `addr` and says where the access went; nothing is written on
   * `'unclaimed'` or `'read-only'`.
   */
  write(addr: number, size: PhysicalAccessSize, lo: number, hi = 0): PhysicalAccessResult {
    if (typeof addr !== 'number') wrongType(addr, 'physical address', 'number');
    if (typeof lo !== 'number' || typeof hi !== 'number') wrongType(typeof lo !== 'number' ? lo : hi, 'value half', 'number');
    checkSize(size);
    if (this.mmioFirst && this.mmio.lookup(addr) !== undefined) return this.mmioWrite(addr, size, lo, hi);
    if (this.ramBacked(addr, size)) {
      if (!this.ramWritableAt(addr, size)) return 'read-only';
      const m = this.memory;
      switch (size) {
        case 1:
          m.write8(addr, lo);
          break;
        case 2:
          m.write16(addr, lo);
          break;
        case 4:
          m.write32(addr, lo);
          break;
        default:
          // Two 32-bit stores, checked whole above: no bigint on the hot path.
          m.write32(addr, lo);
          m.write32(addr + 4, hi);
      }
      return 'ram';
    }
    return this.mmioWrite(addr, size, lo, hi);
  }

  /** True when RAM backs every byte of the access (caching the page for the next one). */
  private ramBacked(addr: number, size: number): boolean {
    const off = addr & PAGE_MASK;
    const page = addr - off;
    const m = this.memory;
    if (page === this.ramPage && off + size <= PAGE && this.ramGen === m.generation) return true;
    assertAddress(addr, 'physical address');
    if (!m.isBacked(addr, size)) return false;
    if (off + size <= PAGE) {
      this.ramPage = page;
      this.ramWritable = m.isWritable(page, PAGE);
      this.ramGen = m.generation;
    }
    return true;
  }

  private ramWritableAt(addr: number, size: number): boolean {
    const off = addr & PAGE_MASK;
    if (addr - off === this.ramPage && off + size <= PAGE) return this.ramWritable;
    return this.memory.isWritable(addr, size);
  }

  private mmioRead(addr: number, size: PhysicalAccessSize, out: U64Halves): PhysicalAccessResult {
    const map = this.mmio.lookup(addr);
    if (map === undefined || addr + size > map.base + map.size) {
      if (map === undefined) assertAddress(addr, 'physical address');
      return 'unclaimed';
    }
    const dev = map.device;
    const off = addr - map.base;
    if (size !== 8) {
      out.lo = dev.mmioRead(off, size);
      out.hi = 0;
    } else if (dev.mmioRead64) {
      const v = dev.mmioRead64(off);
      out.lo = Number(v & 0xffff_ffffn);
      out.hi = Number((v >> 32n) & 0xffff_ffffn);
    } else {
      // A device without 64-bit registers sees two 32-bit accesses, low half first (as QEMU splits to a device's largest access size).
      out.lo = dev.mmioRead(off, 4);
      out.hi = dev.mmioRead(off + 4, 4);
    }
    return 'mmio';
  }

  private mmioWrite(addr: number, size: PhysicalAccessSize, lo: number, hi: number): PhysicalAccessResult {
    const map = this.mmio.lookup(addr);
    if (map === undefined || addr + size > map.base + map.size) {
      if (map === undefined) assertAddress(addr, 'physical address');
      return 'unclaimed';
    }
    const dev = map.device;
    const off = addr - map.base;
    if (size !== 8) dev.mmioWrite(off, size, lo);
    else if (dev.mmioWrite64) dev.mmioWrite64(off, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
    else {
      dev.mmioWrite(off, 4, lo);
      dev.mmioWrite(off + 4, 4, hi);
    }
    return 'mmio';
  }
}

function checkSize(size: number): void {
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new UsageError('bad-argument', `access size must be one of 1, 2, 4, 8 bytes, got ${describeValue(size)}`);
}
