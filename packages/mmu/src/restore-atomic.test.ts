// Issue 12 bug 10: every mmu restoreState validates the whole state first and
// changes nothing when it throws. Each case corrupts a part that is read late,
// after parts a non-atomic restore would already have applied.
import { describe, expect, it } from 'vitest';
import { PageAllocator } from './common/page-allocator.js';
import { EptBuilder } from './ept/ept-builder.js';
import { EptWalker } from './ept/ept-walker.js';
import { NestedWalker } from './nested/nested-walker.js';
import { Memslots } from './shadow/memslots.js';
import { ShadowMmu } from './shadow/shadow-mmu.js';
import { ShadowPageTables } from './shadow/shadow-page-tables.js';
import { expectAtomicRestore, savedCopy } from './test-support/atomic-restore.js';
import { makeMemory } from './test-support/fixtures.js';
import { Tlb } from './tlb/tlb.js';
import { X86PageTableBuilder } from './x86/page-table-builder.js';
import { X86PageWalker } from './x86/page-walker.js';
import { X86PagingContext } from './x86/paging-context.js';
import { ACCESS } from './x86/regs.js';
import { X86Mmu } from './x86/x86-mmu.js';

function world() {
  const { memory, tables } = makeMemory();
  const pt = new X86PageTableBuilder(memory, tables);
  pt.map(0x40_0000, 0x10_0000);
  const ept = new EptBuilder(memory, tables);
  ept.identityMap(0, 0x400_0000, { pageSize: 0x20_0000 });
  return { memory, tables, pt, ept };
}

describe('atomic restoreState for every mmu model', () => {
  it('X86PagingContext', () => {
    const a = new X86PagingContext({ cr3: 0x5000, cr0Wp: true });
    const good = savedCopy(a);
    const b = new X86PagingContext({ cr3: 0x9000 });
    expectAtomicRestore(b, { ...good, page1gb: 'yes' }, /page1gb/);
    b.restoreState(good);
    expect(b.cr3).toBe(0x5000);
  });

  it('X86PageWalker', () => {
    const { memory, pt } = world();
    const a = new X86PageWalker(memory);
    a.walk(new X86PagingContext({ cr3: pt.root }), 0x40_0000, ACCESS.READ);
    const b = new X86PageWalker(memory);
    expectAtomicRestore(b, { ...savedCopy(a), faults: -1 }, /faults/);
  });

  it('EptWalker: a bad counter after a good EPTP leaves the old EPTP loaded', () => {
    const { memory, ept } = world();
    const a = new EptWalker(memory);
    a.setEptp(ept.eptp());
    const b = new EptWalker(memory);
    b.setEptp(ept.eptp(true));
    expectAtomicRestore(b, { ...savedCopy(a), misconfigs: 1.5 }, /misconfigs/);
    expect(b.getEptp()).toBe(ept.eptp(true));
  });

  it('NestedWalker: a bad EPT part leaves the counters', () => {
    const { memory, pt, ept } = world();
    const a = new NestedWalker(memory);
    a.ept.setEptp(ept.eptp());
    a.walk(new X86PagingContext({ cr3: pt.root }), 0x40_0000, ACCESS.READ);
    const good = savedCopy(a);
    const b = new NestedWalker(memory);
    expectAtomicRestore(b, { ...good, ept: { ...(good.ept as object), violations: -2 } }, /violations/);
  });

  it('Tlb: a bad row after good counters', () => {
    const a = new Tlb({ entries: 8, ways: 2 });
    const { memory, pt } = world();
    const walk = new X86PageWalker(memory).walk(new X86PagingContext({ cr3: pt.root }), 0x40_0000, ACCESS.READ);
    a.fill(0, 0, -1, 0, 0x40_0000, walk, false);
    const b = new Tlb({ entries: 8, ways: 2 });
    b.lookup(0, 0, -1, 0, 0);
    expectAtomicRestore(b, { ...savedCopy(a), live: [[0, 0, 13]] }, /live\[0\]/);
  });

  it('X86Mmu: a bad nested part does not switch EPT on or touch the TLB', () => {
    const { memory, pt, ept } = world();
    const a = new X86Mmu(memory, { ept: true, context: { cr3: pt.root } });
    a.setEptp(ept.eptp());
    a.translate(0x40_0000, ACCESS.READ);
    const good = savedCopy(a);
    const b = new X86Mmu(memory, { context: { cr3: pt.root } });
    b.translate(0x40_0000, ACCESS.READ);
    expectAtomicRestore(b, { ...good, nested: { ...(good.nested as object), counters: [1] } }, /counters/);
    expect(b.eptEnabled).toBe(false);
    b.restoreState(good);
    expect(b.eptEnabled).toBe(true);
  });

  it('PageAllocator: a free page never handed out', () => {
    const a = new PageAllocator(0x1_0000, 0x4000);
    a.allocate();
    const b = new PageAllocator(0x1_0000, 0x4000);
    expectAtomicRestore(b, { ...savedCopy(a), free: [0x1_2000] }, /free page 0x12000 is unaligned, never handed out or listed twice/);
  });

  it('ShadowMmu and ShadowPageTables', () => {
    const { memory, pt } = world();
    const memslots = new Memslots();
    memslots.add({ id: 0, guestPhysical: 0, size: 0x100_0000, hostPhysical: 0 });
    const vm = new ShadowPageTables(memory, { memslots, shadowPages: new PageAllocator(0x100_0000, 0x100_0000) });
    const v = new ShadowMmu(memory, { vm, context: { cr3: pt.root } });
    v.translate(0x40_0000, ACCESS.READ);
    const good = savedCopy(v);
    v.translate(0x40_0000, ACCESS.READ);
    expectAtomicRestore(v, { ...good, vpid: 0x1_0000 }, /vpid/);
    expectAtomicRestore(vm, { ...savedCopy(vm), counters: { sptesZapped: 0 } }, /pagesUnshadowed/);
  });
});
