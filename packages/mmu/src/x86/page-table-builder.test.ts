// X86PageTableBuilder range edits and re-attaching (host-seams G9a).
import { describe, expect, it } from 'vitest';
import { PageAllocator } from '../common/page-allocator.js';
import { makeMemory } from '../test-support/fixtures.js';
import { X86PageTableBuilder } from './page-table-builder.js';
import { X86PageWalker } from './page-walker.js';
import { X86PagingContext } from './paging-context.js';
import { ACCESS, PFEC } from './regs.js';

function setup() {
  const { memory, tables } = makeMemory();
  const pt = new X86PageTableBuilder(memory, tables);
  for (let p = 0; p < 8; p++) pt.map(0x40_0000 + p * 4096, 0x10_0000 + p * 4096);
  pt.map(0x80_0000, 0x20_0000, { pageSize: 0x20_0000 });
  const walker = new X86PageWalker(memory);
  const ctx = new X86PagingContext({ cr3: pt.root, cr0Wp: true });
  const walk = (la: number, access: number = ACCESS.READ) => {
    const r = walker.walk(ctx, la, access);
    return r.status === 'ok' ? r.address : -r.errorCode - 1;
  };
  return { memory, tables, pt, walk };
}

describe('X86PageTableBuilder: unmap, write-protect and zap ranges (SDM 3A 4.5 entry formats)', () => {
  it('unmapRange clears the leaves in the range only', () => {
    const { pt, walk } = setup();
    expect(pt.unmapRange(0x40_2000, 0x2000)).toBe(2);
    expect([walk(0x40_1000), walk(0x40_2000), walk(0x40_3000), walk(0x40_4000)]).toEqual([0x10_1000, -1, -1, 0x10_4000]);
  });

  it('writeProtect clears R/W in every leaf of the range (dirty logging): a write then faults with P | W (SDM 3A 4.6)', () => {
    const { pt, walk } = setup();
    expect(pt.writeProtect(0x40_0000, 0x4000)).toBe(4);
    expect(pt.writeProtect(0x40_0000, 0x4000)).toBe(0);
    expect(walk(0x40_0000, ACCESS.WRITE)).toBe(-(PFEC.P | PFEC.W) - 1);
    expect(walk(0x40_0000)).toBe(0x10_0000);
    expect(walk(0x40_4000, ACCESS.WRITE)).toBe(0x10_4000);
    // A 2 MiB leaf overlapping the range is protected whole.
    expect(pt.writeProtect(0x80_1000, 0x1000)).toBe(1);
    expect(walk(0x9f_f000, ACCESS.WRITE)).toBe(-(PFEC.P | PFEC.W) - 1);
  });

  it('zapRange frees the tables wholly inside the range back to the allocator', () => {
    const { tables, pt, walk } = setup();
    const used = tables.used;
    expect(pt.zapRange(0x40_0000, 0x20_0000)).toBe(1); // the PDE pointing at the PT
    expect(tables.used).toBe(used - 1);
    expect(walk(0x40_0000)).toBe(-1);
    expect(walk(0x80_0000)).toBe(0x20_0000);
    pt.map(0x40_0000, 0x10_0000);
    expect(walk(0x40_0000)).toBe(0x10_0000);
  });

  it('attach re-uses existing tables after a restore without allocating a root', () => {
    const { memory, tables, pt, walk } = setup();
    const saved = { memory: memory.saveState(), tables: tables.saveState() };
    memory.fill(0, 0x400_0000, 0);
    memory.restoreState(saved.memory);
    const allocator = new PageAllocator(tables.base, tables.size);
    allocator.restoreState(saved.tables);
    const again = X86PageTableBuilder.attach(memory, allocator, pt.root);
    expect(again.root).toBe(pt.root);
    expect(allocator.used).toBe(tables.used);
    again.map(0x40_8000, 0x30_0000);
    expect([walk(0x40_0000), walk(0x40_8000)]).toEqual([0x10_0000, 0x30_0000]);
    expect(() => X86PageTableBuilder.attach(memory, allocator, 0x123)).toThrow(/root 0x123 must be 4 KiB aligned/);
    expect(() => X86PageTableBuilder.attach(memory, allocator, 0x1_0000_0000)).toThrow(/root 0x100000000 is not in memory/);
    expect(() => pt.unmapRange(0x1000, 0)).toThrow(/unmap range \[0x1000, \+0x0\) must be a non-empty range/);
    expect(() => new X86PageTableBuilder(memory, allocator, 3 as 4)).toThrow(/levels must be 4 or 5, got 3/);
  });
});
