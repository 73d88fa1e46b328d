import { PhysicalMemory } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { EntryReader } from '../internal/entry-reader.js';
import { isCanonical, splitAddress, addressToBigint } from './address.js';
import { PageAllocator } from './page-allocator.js';
import { Stage2Builder } from '../arm/stage2-builder.js';
import { EptBuilder } from '../ept/ept-builder.js';
import { X86PageTableBuilder } from '../x86/page-table-builder.js';
import { MmuError } from './mmu-error.js';
import { makeMemory } from '../test-support/fixtures.js';

describe('SDM 3A 3.3.7.1 "Canonical Addressing"', () => {
  it('checks bits 63:47 (4-level) or 63:56 (LA57)', () => {
    expect(isCanonical(0x0000_7fff, 0xffff_ffff, false)).toBe(true);
    expect(isCanonical(0xffff_8000, 0, false)).toBe(true);
    expect(isCanonical(0x0000_8000, 0, false)).toBe(false);
    expect(isCanonical(0x0000_8000, 0, true)).toBe(true);
    expect(isCanonical(0x0100_0000, 0, true)).toBe(false);
    expect(splitAddress(0xffff_8000_0000_1000n)).toEqual([0xffff_8000, 0x1000]);
    expect(addressToBigint(0xffff_8000, 0x1000)).toBe(0xffff_8000_0000_1000n);
    expect(() => splitAddress(-1n)).toThrow(/unsigned 64-bit/);
  });
});

describe('PageAllocator', () => {
  it('hands out, reuses and tracks pages; rejects foreign pages and bad ranges', () => {
    const a = new PageAllocator(0x1_0000, 0x3000);
    const p = [a.allocate(), a.allocate(), a.allocate()];
    expect(p).toEqual([0x1_0000, 0x1_1000, 0x1_2000]);
    expect(a.tryAllocate()).toBe(-1);
    expect(() => a.allocate()).toThrow(/exhausted/);
    a.release(0x1_1000);
    expect(a.used).toBe(2);
    expect(a.allocate()).toBe(0x1_1000);
    expect(() => a.release(0x5000)).toThrow(/was not allocated/);
    expect(() => new PageAllocator(0x800, 0x1000)).toThrow(/multiples of 4 KiB/);
    const b = new PageAllocator(0x1_0000, 0x3000);
    b.restoreState(JSON.parse(JSON.stringify(a.saveState())));
    expect(b.saveState()).toEqual(a.saveState());
    expect(() => new PageAllocator(0, 0x1000).restoreState(a.saveState())).toThrow(/covers/);
  });
});

describe('EntryReader (64-bit entries as halves over PhysicalMemory)', () => {
  it('reads exactly what read32 reads, sees region removal and restores, and reads all ones outside RAM', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x10_000);
    memory.write32(0x2008, 0x1234_5678);
    memory.write32(0x200c, 0x9abc_def0);
    const r = new EntryReader(memory);
    r.read(0x2008);
    expect([r.lo, r.hi]).toEqual([memory.read32(0x2008), memory.read32(0x200c)]);
    r.read(0x3000); // never written: zero
    expect([r.lo, r.hi]).toEqual([0, 0]);
    const saved = memory.saveState();
    memory.write32(0x2008, 1);
    memory.restoreState(saved);
    r.read(0x2008);
    expect(r.lo).toBe(0x1234_5678);
    memory.removeRegion(0);
    // Outside memory an entry reads as all ones (master-abort; common/memory-access.ts), never a MemoryError.
    r.read(0x2008);
    expect([r.lo, r.hi]).toEqual([0xffff_ffff, 0xffff_ffff]);
  });
});

describe('table builders share one mapping check (4 KiB / 2 MiB / 1 GiB, aligned, non-negative)', () => {
  it('rejects bad sizes, misaligned or negative addresses in all three formats, naming the values', () => {
    const { memory, tables } = makeMemory();
    const x86 = new X86PageTableBuilder(memory, tables);
    const ept = new EptBuilder(memory, tables);
    const s2 = new Stage2Builder(memory, tables, 1, 40);
    expect(() => x86.map(0x1000, 0x2000, { pageSize: 0x1_0000 })).toThrow(/got 65536/);
    expect(() => x86.map(-0x1000, 0x2000)).toThrow(/linear must be a non-negative/);
    expect(() => ept.map(0x20_0000, 0x1000, { pageSize: 0x20_0000 })).toThrow(/gpa 0x200000 and hpa 0x1000 must be aligned/);
    expect(() => s2.map(0x1000, Number.NaN)).toThrow(/pa must be a non-negative/);
    expect(() => s2.map(0x1000, 0x2000, { pageSize: 3 })).toThrow(MmuError);
  });
});
