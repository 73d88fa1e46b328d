// Issue 12, "nothing escapes": core's guest-reachable surfaces thrown random
// and malformed accesses. The only host errors allowed are core's own
// (MemoryError, BusError, UsageError) — never a TypeError, RangeError or NaN.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BusError } from './bus/bus-error.js';
import { MmioBus, MsrBus, PioBus } from './bus/buses.js';
import type { AccessSize, MmioDevice } from './bus/devices.js';
import { UsageError } from './errors/hvsim-error.js';
import { GuestPhysicalMemory } from './memory/guest-physical-memory.js';
import type { Memory } from './memory/memory.js';
import { MemoryError } from './memory/memory-error.js';
import { KVM_MEM_LOG_DIRTY_PAGES, Memslots } from './memory/memslots.js';
import { PhysicalAddressSpace, type PhysicalAccessSize } from './memory/physical-address-space.js';
import { PhysicalMemory } from './memory/physical-memory.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

/** Addresses near the interesting edges: backed, unbacked, page ends, 2^32, 2^52, 2^53 and beyond, negative, fractional. */
const address = fc.oneof(
  fc.integer({ min: 0, max: 0x3_0000 }),
  fc.integer({ min: 0, max: 2 ** 53 - 1 }),
  fc.constantFrom(0xfff, 0xffe, 0xffc, 0xff9, 0x1_0000_0000 - 4, 2 ** 52 - 4, 2 ** 53 - 8, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 64, -1, -4096, 0.5, 4095.5, Number.NaN, Infinity),
);
const anySize = fc.constantFrom(0, 1, 2, 3, 4, 8, 16, -1, 1.5);

function allowed(e: unknown): boolean {
  return e instanceof MemoryError || e instanceof BusError || e instanceof UsageError;
}

function expectContained(fn: () => unknown): void {
  try {
    const v = fn();
    if (typeof v === 'number') expect(Number.isNaN(v)).toBe(false);
  } catch (e) {
    if (!allowed(e)) throw e;
  }
}

class Dev implements MmioDevice {
  mmioRead(offset: number, size: AccessSize): number {
    return (offset * size) >>> 0;
  }
  mmioWrite(): void {}
  mmioRead64(offset: number): bigint {
    return BigInt(offset);
  }
}

function memories(): Memory[] {
  const host = new PhysicalMemory();
  host.addRegion(0, 0x2_0000);
  host.addRegion(0x2_0000, 0x1000, { readOnly: true });
  const slots = new Memslots();
  slots.add({ id: 0, guestPhysical: 0x1000, size: 0x1_0000, hostPhysical: 0x1000, flags: KVM_MEM_LOG_DIRTY_PAGES });
  slots.add({ id: 1, guestPhysical: 0x10_0000_0000, size: 0x1000, hostPhysical: 0x2_0000 });
  slots.add({ id: 2, guestPhysical: 2 ** 53 - 0x2000, size: 0x2000, hostPhysical: 0x3_0000 }); // host memory missing
  slots.add({ id: 3, guestPhysical: 0x2_0000, size: 0x1000, hostPhysical: 0x1000, flags: 2 });
  return [host, new GuestPhysicalMemory(host, slots)];
}

describe('nothing escapes core (issue 12)', () => {
  it('memory and guest-physical views: random accesses of every kind', () => {
    const op = fc.record({ kind: fc.integer({ min: 0, max: 14 }), addr: address, size: anySize, value: fc.integer({ min: 0, max: 0xffff_ffff }) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        for (const mem of memories()) {
          const out = { lo: 0, hi: 0 };
          for (const { kind, addr, size, value } of ops) {
            expectContained(() => {
              switch (kind) {
                case 0:
                  return mem.read8(addr);
                case 1:
                  return mem.read16(addr);
                case 2:
                  return mem.read32(addr);
                case 3:
                  return mem.read64(addr);
                case 4:
                  return mem.read64Halves(addr, out).lo;
                case 5:
                  return mem.write8(addr, value);
                case 6:
                  return mem.write16(addr, value);
                case 7:
                  return mem.write32(addr, value);
                case 8:
                  return mem.write64(addr, BigInt(value) << 31n);
                case 9:
                  return mem.readBytes(addr, size).length;
                case 10:
                  return mem.writeBytes(addr, new Uint8Array(Math.max(0, Math.min(64, Math.floor(size)) || 0)));
                case 11:
                  mem.noteWritten(addr, 4);
                  return 0;
                default:
                  // Queries never throw at all.
                  mem.isBacked(addr, size);
                  mem.isWritable(addr, size);
                  mem.pageView(addr);
                  return 0;
              }
            });
            expect(Number.isNaN(out.lo) || Number.isNaN(out.hi)).toBe(false);
          }
        }
      }),
      { seed, numRuns },
    );
  });

  it('a bigint where a number is expected (and the reverse) is a UsageError naming it, not a TypeError', () => {
    const bus = new MmioBus();
    bus.map(0, 0x1000, new Dev(), 'dev');
    for (const mem of memories()) {
      const space = new PhysicalAddressSpace(mem, bus);
      const calls: (() => unknown)[] = [
        () => mem.read8(0x1000n as never),
        () => mem.read16(0x1000n as never),
        () => mem.read32(0x1000n as never),
        () => mem.read64(0x1000n as never),
        () => mem.read64Halves(0x1000n as never, { lo: 0, hi: 0 }),
        () => mem.write8(0x1000n as never, 1),
        () => mem.write16(0x1000, 1n as never),
        () => mem.write32(0x1000, 1n as never),
        () => mem.write64(0x1000, 1 as never),
        () => mem.readBytes(0x1000n as never, 4),
        () => space.read(0x1000n as never, 4, { lo: 0, hi: 0 }),
        () => space.write(0x1000, 4, 1n as never),
      ];
      for (const call of calls) expect(call).toThrow(UsageError);
    }
    expect(() => memories()[1]!.read32(0x10n as never)).toThrow('guest-physical address must be a number, got 16n');
    expect(() => memories()[0]!.write64(0x10, 5 as never)).toThrow('64-bit value must be a bigint, got 5 (0x5)');
  });

  it('queries (isBacked, isWritable, pageView, translate) never throw', () => {
    fc.assert(
      fc.property(address, anySize, (addr, size) => {
        for (const mem of memories()) {
          expect(typeof mem.isBacked(addr, size)).toBe('boolean');
          expect(typeof mem.isWritable(addr, size)).toBe('boolean');
          mem.pageView(addr);
          if (mem instanceof GuestPhysicalMemory) {
            expect(Number.isNaN(mem.translate(addr))).toBe(false);
            mem.memslots.markDirty(addr, 8);
          }
        }
      }),
      { seed, numRuns },
    );
  });

  it('bus dispatch with random addresses, offsets and sizes', () => {
    const mmio = new MmioBus();
    mmio.map(0x1000, 0x100, new Dev(), 'a');
    mmio.map(0xfee0_0000, 0x1000, new Dev(), 'b');
    const pio = new PioBus();
    pio.map(0x3f8, 8, { pioRead: () => 0xff, pioWrite: () => undefined }, 'com1');
    const msr = new MsrBus();
    msr.map(0x800, 0x100, { readMsr: () => 0n, writeMsr: () => undefined }, 'x2apic');
    const base = fc.constantFrom(0x1000, 0xfee0_0000, 0x3f8, 0x800, 0);
    fc.assert(
      fc.property(base, fc.oneof(fc.integer({ min: -8, max: 0x1008 }), address), anySize, fc.integer({ min: 0, max: 5 }), (b, off, size, kind) => {
        const addr = typeof off === 'number' && Math.abs(off) <= 0x1008 ? b + off : off;
        expectContained(() => {
          switch (kind) {
            case 0:
              return mmio.read(addr, size as AccessSize);
            case 1:
              return mmio.write(addr, size as AccessSize, 1);
            case 2:
              return Number(mmio.read64(addr));
            case 3:
              return pio.read(addr, size as AccessSize);
            case 4:
              return Number(msr.read(addr));
            default:
              return mmio.lookup(addr)?.base ?? 0;
          }
        });
      }),
      { seed, numRuns: numRuns * 5 },
    );
  });

  it('the physical address space: valid addresses always give a result, never an exception', () => {
    const [host, guest] = memories();
    const bus = new MmioBus();
    bus.map(0x1_0000, 0x100, new Dev(), 'dev');
    bus.map(0x40_0000, 0x1000, new Dev(), 'dev2');
    const spaces = [new PhysicalAddressSpace(host!, bus), new PhysicalAddressSpace(guest!, bus, { priority: 'mmio' })];
    const size = fc.constantFrom<PhysicalAccessSize>(1, 2, 4, 8);
    fc.assert(
      fc.property(address, size, fc.boolean(), (addr, sz, write) => {
        for (const space of spaces) {
          const out = { lo: 0, hi: 0 };
          let result: string;
          try {
            result = write ? space.write(addr, sz, 0x1234, 5) : space.read(addr, sz, out);
          } catch (e) {
            // Only a number that is not an address at all is the caller's bug.
            expect(e).toBeInstanceOf(UsageError);
            expect(Number.isSafeInteger(addr) && addr >= 0).toBe(false);
            continue;
          }
          expect(['ram', 'mmio', 'unclaimed', 'read-only']).toContain(result);
          expect(Number.isInteger(out.lo) && Number.isInteger(out.hi)).toBe(true);
        }
      }),
      { seed, numRuns: numRuns * 2 },
    );
  });
});
