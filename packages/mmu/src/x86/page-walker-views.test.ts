import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '@hvsim/core';
import { makeMemory } from '../test-support/fixtures.js';
import { PageAllocator } from '../common/page-allocator.js';
import { X86PageTableBuilder } from './page-table-builder.js';
import { X86PageWalker } from './page-walker.js';
import { X86PagingContext } from './paging-context.js';
import { ACCESS } from './regs.js';

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
