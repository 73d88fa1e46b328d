import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SnapshotError } from '../snapshot/snapshot-error.js';
import { UsageError } from '../errors/hvsim-error.js';
import { MemoryError } from './memory-error.js';
import { PAGE_SIZE, PhysicalMemory } from './physical-memory.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

function ram(size = 1 << 20, base = 0): PhysicalMemory {
  const m = new PhysicalMemory();
  m.addRegion(base, size, { name: 'ram' });
  return m;
}

describe('PhysicalMemory regions', () => {
  it('reads zero from never-written memory inside a region without allocating', () => {
    const m = ram();
    expect(m.read32(0x1000)).toBe(0);
    expect(m.read64(0x2000)).toBe(0n);
    expect(m.populatedPages).toBe(0);
  });

  it('throws unmapped, naming the address, outside every region', () => {
    const m = ram(0x10000);
    const err = (() => {
      try {
        m.read32(0x20000);
      } catch (e) {
        return e;
      }
    })() as MemoryError;
    expect(err).toBeInstanceOf(MemoryError);
    expect(err.kind).toBe('unmapped');
    expect(err.address).toBe(0x20000);
    expect(err.message).toMatch(/read of 4 byte\(s\) at physical address 0x20000 is outside every memory region/);
    expect(() => m.write8(0x10000, 1)).toThrow(/write of 1 byte\(s\) at physical address 0x10000/);
    // An access that starts inside and runs past the end is outside too.
    expect(() => m.read32(0xfffe)).toThrow(MemoryError);
  });

  it('rejects overlapping, unaligned and empty regions', () => {
    const m = ram(0x10000);
    expect(() => m.addRegion(0x8000, 0x10000, { name: 'mmio-hole' })).toThrow(/region mmio-hole \[0x8000, 0x18000\) overlaps ram \[0x0, 0x10000\)/);
    expect(() => m.addRegion(0x10800, 0x1000)).toThrow(/multiples of 4 KiB/);
    expect(() => m.addRegion(0x20000, 0)).toThrow(UsageError);
    expect(() => m.addRegion(-4096, 4096)).toThrow(/region base must be a non-negative safe integer, got -4096/);
    m.addRegion(0x10000, 0x1000);
    expect(m.getRegions().map((r) => r.base)).toEqual([0, 0x10000]);
  });

  it('removes a region and its contents', () => {
    const m = ram(0x10000);
    m.addRegion(0x100000, 0x2000, { name: 'hi' });
    m.write32(0x100000, 7);
    m.removeRegion(0x100000);
    expect(() => m.read32(0x100000)).toThrow(MemoryError);
    expect(() => m.removeRegion(0x100000)).toThrow(/no memory region starts at 1048576/);
    m.addRegion(0x100000, 0x2000);
    expect(m.read32(0x100000)).toBe(0);
  });

  it('rejects writes to a read-only region', () => {
    const m = ram(0x10000);
    m.addRegion(0xf0000, 0x10000, { name: 'bios', readOnly: true });
    expect(() => m.write8(0xf0000, 1)).toThrow(/write at 0xf0000 into read-only region bios/);
    // A cached page of a writable region stays writable.
    m.write32(0, 1);
    m.write32(4, 2);
    expect(m.read32(4)).toBe(2);
  });

  it('rejects non-integer and negative addresses', () => {
    const m = ram();
    expect(() => m.read32(-4)).toThrow(UsageError);
    expect(() => m.read8(1.5)).toThrow(UsageError);
    // Also when the page is the cached one.
    m.write8(0, 1);
    expect(() => m.read8(0.5)).toThrow(UsageError);
    expect(() => m.write8(2.5, 1)).toThrow(UsageError);
  });
});

describe('PhysicalMemory accesses', () => {
  it('is little-endian at every width', () => {
    const m = ram();
    m.write32(0x100, 0x11223344);
    expect(m.read8(0x100)).toBe(0x44);
    expect(m.read16(0x102)).toBe(0x1122);
    m.write64(0x200, 0x0102030405060708n);
    expect(m.read32(0x200)).toBe(0x05060708);
    expect(m.read32(0x204)).toBe(0x01020304);
    expect(m.read64(0x200)).toBe(0x0102030405060708n);
    m.write16(0x300, 0xbeef);
    expect(m.read8(0x301)).toBe(0xbe);
  });

  it('handles accesses that straddle a page boundary', () => {
    const m = ram();
    m.write32(PAGE_SIZE - 2, 0xaabbccdd);
    expect(m.read8(PAGE_SIZE - 2)).toBe(0xdd);
    expect(m.read8(PAGE_SIZE + 1)).toBe(0xaa);
    expect(m.read32(PAGE_SIZE - 2)).toBe(0xaabbccdd);
    m.write64(2 * PAGE_SIZE - 4, 0xffeeddccbbaa9988n);
    expect(m.read64(2 * PAGE_SIZE - 4)).toBe(0xffeeddccbbaa9988n);
    m.write16(3 * PAGE_SIZE - 1, 0x1234);
    expect(m.read16(3 * PAGE_SIZE - 1)).toBe(0x1234);
  });

  it('reads 64-bit values as halves without allocating, within and across pages', () => {
    const m = ram();
    const out = { lo: -1, hi: -1 };
    expect(m.read64Halves(0x4000, out)).toBe(out);
    expect(out).toEqual({ lo: 0, hi: 0 });
    m.write64(0x4008, 0x8000_0000_1234_5067n);
    expect(m.read64Halves(0x4008, out)).toEqual({ lo: 0x1234_5067, hi: 0x8000_0000 });
    m.write64(PAGE_SIZE * 6 - 4, 0xaabbccdd_11223344n);
    expect(m.read64Halves(PAGE_SIZE * 6 - 4, out)).toEqual({ lo: 0x11223344, hi: 0xaabbccdd });
    expect(() => m.read64Halves(0x100000, out)).toThrow(MemoryError);
  });

  it('keeps pages that share a cache slot apart (page n and n + 64)', () => {
    const m = ram(1 << 20);
    const a = 3 * PAGE_SIZE;
    const b = (3 + 64) * PAGE_SIZE;
    m.write32(a, 1);
    m.write32(b, 2);
    for (let i = 0; i < 3; i++) {
      expect(m.read32(a)).toBe(1);
      expect(m.read32(b)).toBe(2);
    }
    m.write32(a + 4, 3);
    expect(m.read32(b + 4)).toBe(0);
  });

  it('forgets cached pages when their region goes away', () => {
    const m = ram(0x10000);
    m.addRegion(0x20000, 0x1000);
    m.write32(0x20000, 5);
    expect(m.read32(0x20000)).toBe(5);
    m.removeRegion(0x20000);
    expect(() => m.read32(0x20000)).toThrow(/outside every memory region/);
    expect(() => m.write32(0x20000, 1)).toThrow(MemoryError);
  });

  it('truncates values to the access width', () => {
    const m = ram();
    m.write8(0, 0x1ff);
    expect(m.read8(0)).toBe(0xff);
    m.write64(8, -1n);
    expect(m.read64(8)).toBe(0xffff_ffff_ffff_ffffn);
  });

  it('copies byte blocks across pages, reading zeros from unpopulated pages', () => {
    const m = ram();
    const data = Uint8Array.from({ length: 10000 }, (_, i) => i & 0xff);
    m.writeBytes(PAGE_SIZE - 100, data);
    expect(m.readBytes(PAGE_SIZE - 100, 10000)).toEqual(data);
    expect(m.readBytes(0x80000, 8)).toEqual(new Uint8Array(8));
    const into = new Uint8Array(4);
    expect(m.readBytes(PAGE_SIZE - 100, 4, into)).toBe(into);
    expect(() => m.readBytes(0, 8, new Uint8Array(2))).toThrow(/destination holds 2 bytes, 8 requested/);
    expect(() => m.writeBytes(0xffff0, new Uint8Array(32))).toThrow(MemoryError);
  });

  it('fills ranges, allocating nothing for zero fills of fresh pages', () => {
    const m = ram();
    m.fill(0x10000, 3 * PAGE_SIZE, 0);
    expect(m.populatedPages).toBe(0);
    m.fill(0x10010, 8, 0xab);
    expect(m.read32(0x10010)).toBe(0xabababab);
    expect(() => m.fill(0, 4, 256)).toThrow(/fill byte must be an integer in \[0, 255\], got 256/);
  });

  it('behaves like a byte array for any sequence of writes (property)', () => {
    // Two pages, so writes cross the page boundary; compared with one byte
    // comparison (toEqual on a large array costs seconds on a loaded machine).
    const size = 2 * PAGE_SIZE;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(1, 2, 4, 8), fc.integer({ min: 0, max: size - 8 }), fc.nat({ max: 0xffffffff })), { maxLength: 60 }),
        (writes) => {
          const m = ram(size);
          const ref = new Uint8Array(size);
          for (const [width, addr, v] of writes) {
            if (width === 1) m.write8(addr, v);
            else if (width === 2) m.write16(addr, v);
            else if (width === 4) m.write32(addr, v);
            else m.write64(addr, (BigInt(v) << 32n) | BigInt((v ^ 0x5a5a5a5a) >>> 0));
            const bytes = width === 8 ? [...new Uint8Array(new BigUint64Array([(BigInt(v) << 32n) | BigInt((v ^ 0x5a5a5a5a) >>> 0)]).buffer)] : [0, 1, 2, 3].slice(0, width).map((i) => (v >>> (8 * i)) & 0xff);
            ref.set(bytes, addr);
          }
          const got = m.readBytes(0, size);
          const firstDifference = got.findIndex((b, i) => b !== ref[i]);
          expect(firstDifference).toBe(-1);
        },
      ),
      { seed, numRuns },
    );
  });
});

describe('PhysicalMemory snapshots', () => {
  it('round-trips regions and contents, and the restored memory behaves the same', () => {
    const m = ram(0x10000);
    m.addRegion(0x100000, 0x1000, { name: 'rom', readOnly: true });
    m.write32(0x1234, 0xcafef00d);
    m.write8(0x8000, 9);
    const state = JSON.parse(JSON.stringify(m.saveState()));
    const r = new PhysicalMemory();
    r.restoreState(state);
    expect(r.read32(0x1234)).toBe(0xcafef00d);
    expect(r.read8(0x8000)).toBe(9);
    expect(r.getRegions()).toEqual(m.getRegions());
    expect(() => r.write8(0x100000, 1)).toThrow(/read-only/);
    expect(r.saveState()).toEqual(state);
  });

  it('rejects foreign, wrong-version and malformed states', () => {
    const m = new PhysicalMemory();
    expect(() => m.restoreState({ type: 'hvsim.lapic', version: 1 })).toThrow(/cannot restore a state of type "hvsim.lapic"/);
    expect(() => m.restoreState({ type: 'hvsim.physical-memory', version: 2, regions: [], pages: {} })).toThrow(/version 2 .* not supported/);
    expect(() => m.restoreState({ type: 'hvsim.physical-memory', version: 1, regions: [{ base: 'x' }], pages: {} })).toThrow(SnapshotError);
    expect(() =>
      m.restoreState({ type: 'hvsim.physical-memory', version: 1, regions: [{ base: 0, size: 4096, name: 'a', readOnly: false }], pages: { '5': 'AAAA' } }),
    ).toThrow(/pages.5 holds 3 bytes, expected 4096/);
    const page = 'A'.repeat(5460) + 'AA==';
    expect(() =>
      m.restoreState({ type: 'hvsim.physical-memory', version: 1, regions: [{ base: 0, size: 4096, name: 'a', readOnly: false }], pages: { '7': page } }),
    ).toThrow(/page 7 lies outside every region/);
    expect(() => m.restoreState(null)).toThrow(/must be an object, got null/);
  });
});
