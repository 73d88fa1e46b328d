import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors/hvsim-error.js';
import { BusError } from './bus-error.js';
import { MmioBus, MsrBus, PioBus } from './buses.js';
import type { AccessSize, MmioDevice, MsrDevice, PioDevice } from './devices.js';

class Recorder implements MmioDevice, PioDevice {
  log: string[] = [];
  mmioRead(offset: number, size: AccessSize): number {
    this.log.push(`r${size}@${offset}`);
    return offset + 0x100;
  }
  mmioWrite(offset: number, size: AccessSize, value: number): void {
    this.log.push(`w${size}@${offset}=${value}`);
  }
  pioRead(offset: number, size: AccessSize): number {
    return this.mmioRead(offset, size);
  }
  pioWrite(offset: number, size: AccessSize, value: number): void {
    this.mmioWrite(offset, size, value);
  }
}

class Wide extends Recorder {
  mmioRead64(offset: number): bigint {
    return BigInt(offset) << 32n;
  }
  mmioWrite64(offset: number, value: bigint): void {
    this.log.push(`w8@${offset}=${value}`);
  }
}

function catchError(fn: () => unknown): BusError {
  try {
    fn();
  } catch (e) {
    return e as BusError;
  }
  throw new Error('expected a throw');
}

describe('MmioBus', () => {
  it('dispatches with offsets relative to the mapping base', () => {
    const bus = new MmioBus();
    const apic = new Recorder();
    const ioapic = new Recorder();
    bus.map(0xfee00000, 0x1000, apic, 'lapic');
    bus.map(0xfec00000, 0x20, ioapic, 'ioapic');
    expect(bus.read(0xfee00030, 4)).toBe(0x130);
    bus.write(0xfec00010, 4, 7);
    expect(apic.log).toEqual(['r4@48']);
    expect(ioapic.log).toEqual(['w4@16=7']);
  });

  it('reports an unclaimed address to the caller', () => {
    const bus = new MmioBus();
    bus.map(0x1000, 0x100, new Recorder());
    expect(bus.lookup(0x2000)).toBeUndefined();
    const e = catchError(() => bus.read(0x2000, 4));
    expect(e).toBeInstanceOf(BusError);
    expect(e.kind).toBe('unclaimed');
    expect(e.address).toBe(0x2000);
    expect(e.message).toBe('MMIO read of 4 byte(s) at 0x2000: no device is mapped there');
  });

  it('claims no NaN or negative address (a binary search would otherwise match the middle range)', () => {
    const bus = new MmioBus();
    for (let i = 0; i < 3; i++) bus.map(0x1000 * i, 0x100, new Recorder());
    expect(bus.lookup(Number.NaN)).toBeUndefined();
    expect(bus.lookup(-1)).toBeUndefined();
    expect(() => bus.read(Number.NaN, 4)).toThrow(/MMIO address must be a non-negative safe integer, got NaN/);
  });

  it('rejects an access that runs past the end of the range', () => {
    const bus = new MmioBus();
    bus.map(0x1000, 0x100, new Recorder(), 'dev');
    const e = catchError(() => bus.write(0x10fe, 4, 0));
    expect(e.kind).toBe('crosses-range');
    expect(e.message).toMatch(/runs past the end of dev at 0x1100/);
  });

  it('rejects overlapping and zero-sized mappings with both ranges named', () => {
    const bus = new MmioBus();
    bus.map(0x1000, 0x1000, new Recorder(), 'a');
    const e = catchError(() => bus.map(0x1800, 0x1000, new Recorder(), 'b'));
    expect(e.kind).toBe('overlap');
    expect(e.message).toBe('MMIO mapping b [0x1800, 0x2800) overlaps a [0x1000, 0x2000)');
    expect(catchError(() => bus.map(0x3000, 0, new Recorder())).kind).toBe('empty-range');
    expect(() => bus.map(-1, 4, new Recorder())).toThrow(UsageError);
    // Adjacent ranges are fine.
    bus.map(0x2000, 0x1000, new Recorder(), 'c');
    expect(bus.mappings().map((m) => m.name)).toEqual(['a', 'c']);
  });

  it('rejects access sizes other than 1, 2 and 4', () => {
    const bus = new MmioBus();
    bus.map(0, 0x100, new Recorder());
    expect(() => bus.read(0, 3 as AccessSize)).toThrow(/access size must be one of 1, 2, 4 bytes, got 3/);
    expect(() => bus.write(0, 8 as AccessSize, 0)).toThrow(UsageError);
  });

  it('unmaps, after which the range is unclaimed (and the lookup cache forgets it)', () => {
    const bus = new MmioBus();
    bus.map(0x1000, 0x100, new Recorder(), 'dev');
    expect(bus.read(0x1000, 4)).toBe(0x100);
    expect(bus.unmap(0x1000).name).toBe('dev');
    expect(catchError(() => bus.read(0x1000, 4)).kind).toBe('unclaimed');
    expect(catchError(() => bus.unmap(0x1000)).kind).toBe('not-mapped');
  });

  it('finds the right device among many ranges (binary search)', () => {
    const bus = new MmioBus();
    const devs: Recorder[] = [];
    // Map in shuffled order; lookup must not depend on insertion order.
    const order = Array.from({ length: 64 }, (_, i) => (i * 37) % 64);
    for (const i of order) {
      devs[i] = new Recorder();
      bus.map(0x10000 * i, 0x1000, devs[i], `d${i}`);
    }
    for (let i = 0; i < 64; i++) {
      expect(bus.lookup(0x10000 * i + 0xfff)?.name).toBe(`d${i}`);
      expect(bus.lookup(0x10000 * i + 0x1000)).toBeUndefined();
    }
  });

  it('carries 64-bit accesses to devices that decode them, and refuses otherwise', () => {
    const bus = new MmioBus();
    bus.map(0x8000_0000, 0x1_0000, new Wide(), 'gicd');
    bus.map(0x9000_0000, 0x1000, new Recorder(), 'uart');
    expect(bus.read64(0x8000_0008)).toBe(8n << 32n);
    bus.write64(0x8000_0010, 5n);
    const e = catchError(() => bus.read64(0x9000_0000));
    expect(e.kind).toBe('no-64-bit-access');
    expect(e.message).toMatch(/uart does not decode 64-bit accesses/);
    expect(catchError(() => bus.write64(0x9000_0000, 1n)).kind).toBe('no-64-bit-access');
  });
});

describe('PioBus', () => {
  it('covers ports 0 to 0xFFFF only', () => {
    const bus = new PioBus();
    const uart = new Recorder();
    bus.map(0x3f8, 8, uart, 'com1');
    bus.write(0x3f9, 1, 0x0f);
    expect(bus.read(0x3fd, 1)).toBe(0x105);
    expect(uart.log).toEqual(['w1@1=15', 'r1@5']);
    expect(() => bus.map(0xfff0, 0x20, new Recorder(), 'x')).toThrow(/runs past the end of the space at 0x10000/);
  });
});

describe('MsrBus', () => {
  it('passes the architectural MSR index, not an offset', () => {
    const seen: number[] = [];
    const dev: MsrDevice = {
      readMsr: (index) => {
        seen.push(index);
        return 0x1234n;
      },
      writeMsr: (index, value) => {
        seen.push(index, Number(value));
      },
    };
    const bus = new MsrBus();
    bus.map(0x800, 0x100, dev, 'x2apic');
    expect(bus.read(0x80b)).toBe(0x1234n);
    bus.write(0x830, 7n);
    expect(seen).toEqual([0x80b, 0x830, 7]);
    expect(catchError(() => bus.read(0x1b)).kind).toBe('unclaimed');
  });
});
