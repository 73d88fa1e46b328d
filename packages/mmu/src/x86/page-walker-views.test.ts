import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '@hvsim/core';
import { makeMemory } from '../test-support/fixtures.js';
import { PageAllocator } from '../common/page-allocator.js';
import { X86PageTableBuilder } from './page-table-builder.js';
import { X86PageWalker } from './page-walker.js';
import { X86PagingContext } from './paging-context.js';
import { ACCESS, PTE_LO } from './regs.js';
import { WalkResult } from '../common/walk-result.js';

// The native walk reads entries through cached page views of the tables (core's Memory.pageView);
// these check that the cache never answers with an entry memory no longer holds.
describe('SDM 3A 4.5: the native walk reads the entries memory holds now', () => {
  it('sees an entry rewritten between two walks (the cached view is live)', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    pt.map(0x40_1000, 0x12_3000);
    const ctx = new X86PagingContext({ cr3: pt.root, eferNxe: true });
    const walker = new X86PageWalker(memory);
    expect(walker.walk(ctx, 0x40_1abc, ACCESS.READ).address).toBe(0x12_3abc);
    const pte = walker.lastEntryAddress(1);
    memory.write32(pte, 0x45_6000 | 0x67);
    expect(walker.walk(ctx, 0x40_1abc, ACCESS.READ).address).toBe(0x45_6abc);
    memory.write32(pte, 0);
    const r = walker.walk(ctx, 0x40_1abc, ACCESS.READ);
    expect(r.status).toBe('page-fault');
    expect(r.level).toBe(1);
  });

  it('drops its views when the memory generation changes (restoreState replaces the pages)', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    pt.map(0x40_1000, 0x12_3000);
    const ctx = new X86PagingContext({ cr3: pt.root, eferNxe: true });
    const walker = new X86PageWalker(memory);
    walker.walk(ctx, 0x40_1000, ACCESS.READ);
    const saved = memory.saveState();
    pt.map(0x40_1000, 0x77_7000);
    expect(walker.walk(ctx, 0x40_1000, ACCESS.READ).address).toBe(0x77_7000);
    memory.restoreState(saved);
    expect(walker.walk(ctx, 0x40_1000, ACCESS.READ).address).toBe(0x12_3000);
  });

  it('reads tables in a read-only region (no page view) and drops the A/D writes there', () => {
    // Tables built in RAM, then the same bytes served from a ROM region at the same addresses.
    const ram = new PhysicalMemory();
    ram.addRegion(0, 0x10_0000, { name: 'ram' });
    const pt = new X86PageTableBuilder(ram, new PageAllocator(0x8_0000, 0x8_0000));
    pt.map(0x40_1000, 0x12_3000);
    const rom = new PhysicalMemory();
    rom.addRegion(0, 0x10_0000, { name: 'rom', readOnly: true });
    rom.restoreState({ ...ram.saveState(), regions: [{ base: 0, size: 0x10_0000, name: 'rom', readOnly: true }] });
    expect(rom.pageView(pt.root)).toBeUndefined();
    const ctx = new X86PagingContext({ cr3: pt.root, eferNxe: true });
    const walker = new X86PageWalker(rom);
    const r = walker.walk(ctx, 0x40_1abc, ACCESS.WRITE);
    expect(r.status).toBe('ok');
    expect(r.address).toBe(0x12_3abc);
    expect(r.adWrites).toBe(0);
  });
});

describe('SDM 3A 4.5: a walk reads paging structures and never allocates memory (issue 12)', () => {
  it('walks through a table page nothing has written without populating it', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    pt.map(0x40_1000, 0x12_3000);
    // A PML4E naming a page no one has written: the walk reads its PDPTE (zero, not present).
    const empty = 0x10_0000;
    memory.write32(pt.root + 8 * 1, empty | PTE_LO.P | PTE_LO.RW | PTE_LO.US);
    const ctx = new X86PagingContext({ cr3: pt.root, eferNxe: true });
    const walker = new X86PageWalker(memory);
    const pages = memory.populatedPages;
    const linear = 2 ** 39; // PML4 index 1
    for (let k = 0; k < 3; k++) {
      const r = walker.walk(ctx, linear, ACCESS.READ);
      expect(r.status).toBe('page-fault');
      expect(r.level).toBe(3);
      expect(r.errorCode).toBe(0);
    }
    expect(memory.populatedPages).toBe(pages);
    // Once the table page holds entries, the walk sees them (and may take its view).
    X86PageTableBuilder.attach(memory, tables, pt.root).map(linear + 0x2000, 0x45_6000);
    expect(walker.walk(ctx, linear + 0x2abc, ACCESS.READ).address).toBe(0x45_6abc);
  });

  it('sets A and D through the page view and tells the write observers (SDM 3A 4.8)', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    pt.map(0x40_1000, 0x12_3000);
    const ctx = new X86PagingContext({ cr3: pt.root, eferNxe: true });
    const walker = new X86PageWalker(memory);
    const written: number[] = [];
    memory.addWriteObserver((address) => written.push(address));
    const r = walker.walk(ctx, 0x40_1000, ACCESS.WRITE);
    expect(r.adWrites).toBe(4);
    expect(r.dirty).toBe(true);
    expect(written).toEqual([4, 3, 2, 1].map((level) => walker.lastEntryAddress(level)));
    expect(memory.read32(walker.lastEntryAddress(1)) & (PTE_LO.A | PTE_LO.D)).toBe(PTE_LO.A | PTE_LO.D);
    // Nothing left to set: no writes.
    expect(walker.walk(ctx, 0x40_1000, ACCESS.WRITE).adWrites).toBe(0);
    expect(written).toHaveLength(4);
  });

  it('walks tables at and above 2^43 (beyond the int32 frames of the native path) as below', () => {
    const high = 2 ** 43;
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x100_0000, { name: 'ram' });
    memory.addRegion(high, 0x10_0000, { name: 'high' });
    const ctx = new X86PagingContext({ eferNxe: true });
    const reference = new X86PageWalker(memory);
    for (const base of [0x80_0000, high]) {
      const pt = new X86PageTableBuilder(memory, new PageAllocator(base, 0x8_0000));
      pt.map(0x40_1000, 0x12_3000, { writable: true });
      ctx.cr3 = pt.root;
      const walker = new X86PageWalker(memory);
      const r = walker.walk(ctx, 0x40_1abc, ACCESS.WRITE).clone();
      const recorded = new WalkResult();
      recorded.record();
      reference.walk(ctx, 0x40_1abc, ACCESS.WRITE, recorded);
      expect(r.status).toBe('ok');
      expect(r.address).toBe(0x12_3abc);
      expect(r.references).toBe(4);
      expect(walker.lastEntryAddress(4)).toBe(pt.root);
      expect(recorded.trace?.map((e) => e.address)).toEqual([4, 3, 2, 1].map((level) => walker.lastEntryAddress(level)));
    }
  });
});
