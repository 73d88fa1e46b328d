/**
 * Non-overlapping address ranges mapped to devices, looked up by binary
 * search with a one-entry cache of the last hit. The bus classes build on it.
 */
import { assertAddress, assertInteger, describeValue } from '../errors/validate.js';
import { BusError } from './bus-error.js';

/** One device mapped on `[base, base + size)`. */
export interface BusMapping<D> {
  /** First address of the mapping. */
  readonly base: number;
  /** Size of the mapping in addresses (bytes, ports or MSR numbers). */
  readonly size: number;
  /** The device that decodes accesses to the range. */
  readonly device: D;
  /** Name of the mapping, shown in errors. */
  readonly name: string;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Non-overlapping ranges of one address space, each mapped to a device. */
export class AddressMap<D> {
  private entries: BusMapping<D>[] = [];
  private last: BusMapping<D> | undefined;

  constructor(
    /** Name of the address space for messages, e.g. `MMIO`. */
    readonly spaceName: string,
    /** One past the highest address of the space. */
    readonly limit: number,
  ) {}

  /** Maps `device` on `[base, base + size)`. Overlaps and empty ranges are errors. */
  map(base: number, size: number, device: D, name = `device@${hex(base)}`): BusMapping<D> {
    assertAddress(base, `${this.spaceName} base`);
    if (size === 0) throw new BusError('empty-range', base, `${this.spaceName} mapping ${name} at ${hex(base)} has size 0`);
    assertInteger(size, `${this.spaceName} mapping size`, 1, this.limit);
    if (base + size > this.limit) {
      throw new BusError('bad-argument', base, `${this.spaceName} mapping ${name} [${hex(base)}, ${hex(base + size)}) runs past the end of the space at ${hex(this.limit)}`);
    }
    for (const e of this.entries) {
      if (base < e.base + e.size && e.base < base + size) {
        throw new BusError(
          'overlap',
          base,
          `${this.spaceName} mapping ${name} [${hex(base)}, ${hex(base + size)}) overlaps ${e.name} [${hex(e.base)}, ${hex(e.base + e.size)})`,
        );
      }
    }
    const m: BusMapping<D> = Object.freeze({ base, size, device, name });
    this.entries.push(m);
    this.entries.sort((a, b) => a.base - b.base);
    return m;
  }

  /** Removes the mapping that starts at `base`. */
  unmap(base: number): BusMapping<D> {
    const i = this.entries.findIndex((e) => e.base === base);
    if (i < 0) throw new BusError('not-mapped', base, `no ${this.spaceName} mapping starts at ${describeValue(base)}`);
    const [m] = this.entries.splice(i, 1);
    this.last = undefined;
    return m!;
  }

  /** The mapping containing `addr`, or undefined when no device claims it. */
  lookup(addr: number): BusMapping<D> | undefined {
    const last = this.last;
    if (last !== undefined && addr >= last.base && addr < last.base + last.size) return last;
    // NaN compares false both ways and would "match" the middle entry.
    if (!(addr >= 0)) return undefined;
    const es = this.entries;
    let lo = 0;
    let hi = es.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const e = es[mid]!;
      if (addr < e.base) hi = mid - 1;
      else if (addr >= e.base + e.size) lo = mid + 1;
      else {
        this.last = e;
        return e;
      }
    }
    return undefined;
  }

  /** All mappings, sorted by base. */
  mappings(): readonly BusMapping<D>[] {
    return this.entries;
  }

  /**
   * The mapping an access of `size` bytes at `addr` goes to. Throws
   * `unclaimed` when no device claims `addr` and `crosses-range` when the
   * access runs past the end of the device's range.
   */
  resolve(addr: number, size: number, op: string): BusMapping<D> {
    const m = this.lookup(addr);
    if (m === undefined) {
      if (!Number.isSafeInteger(addr) || addr < 0) assertAddress(addr, `${this.spaceName} address`);
      throw new BusError('unclaimed', addr, `${this.spaceName} ${op} of ${size} byte(s) at ${hex(addr)}: no device is mapped there`);
    }
    if (addr + size > m.base + m.size) {
      throw new BusError('crosses-range', addr, `${this.spaceName} ${op} of ${size} byte(s) at ${hex(addr)} runs past the end of ${m.name} at ${hex(m.base + m.size)}`);
    }
    return m;
  }
}
