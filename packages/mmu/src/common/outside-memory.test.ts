// Issue 12 bug 9: a paging-structure entry that points outside memory. The
// rule (common/memory-access.ts): a read no memory backs returns all ones
// (master abort), a write there is dropped. As an entry, all ones sets
// reserved bits: #PF with P | RSVD (SDM 3A 4.7) or an EPT misconfiguration
// (SDM 3C 28.2.3.1). No walker throws MemoryError for it.
import { PhysicalMemory } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { EptBuilder } from '../ept/ept-builder.js';
import { EPT_ACCESS } from '../ept/regs.js';
import { EptWalker } from '../ept/ept-walker.js';
import { NestedWalker } from '../nested/nested-walker.js';
import { Memslots } from '../shadow/memslots.js';
import { ShadowMmu } from '../shadow/shadow-mmu.js';
import { makeMemory } from '../test-support/fixtures.js';
import { X86PageTableBuilder } from '../x86/page-table-builder.js';
import { X86PageWalker } from '../x86/page-walker.js';
import { X86PagingContext } from '../x86/paging-context.js';
import { ACCESS, PFEC, PTE_LO } from '../x86/regs.js';
import { X86Mmu } from '../x86/x86-mmu.js';
import { PageAllocator } from './page-allocator.js';
import { WalkResult } from './walk-result.js';

const OUTSIDE = 0x1_0000_0000; // 4 GiB: no region there
const TABLE_FLAGS = PTE_LO.P | PTE_LO.RW | PTE_LO.US;

describe('a paging-structure entry pointing outside memory reads as all ones (common/memory-access.ts)', () => {
  it('x86 walker and X86Mmu: a PDE pointing outside memory gives #PF P | RSVD at the PTE level (SDM 3A 4.7)', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    pt.map(0x40_0000, 0x10_0000);
    pt.writeEntry(pt.existingEntry(0x40_0000, 2), TABLE_FLAGS, OUTSIDE / 2 ** 32);
    const ctx = new X86PagingContext({ cr3: pt.root });
    const r = new X86PageWalker(memory).walk(ctx, 0x40_0000, ACCESS.WRITE, new WalkResult());
    expect([r.status, r.errorCode, r.level]).toEqual(['page-fault', PFEC.P | PFEC.RSVD | PFEC.W, 1]);
    const mmu = new X86Mmu(memory, { context: ctx });
    expect(mmu.translate(0x40_0000, ACCESS.READ).errorCode).toBe(PFEC.P | PFEC.RSVD);
  });

  it('a CR3 outside memory: all ones at the PML4E, PS = 1 there is reserved', () => {
    const { memory } = makeMemory();
    const r = new X86PageWalker(memory).walk(new X86PagingContext({ cr3: OUTSIDE, maxPhyAddr: 52, eferNxe: true }), 0x1000, ACCESS.READ);
    expect([r.status, r.errorCode, r.level]).toEqual(['page-fault', PFEC.P | PFEC.RSVD, 4]);
  });

  it('EPT walker: an EPT PDE pointing outside memory is an EPT misconfiguration (bits 51:N of the all-ones PTE, SDM 3C 28.2.3.1)', () => {
    const { memory, tables } = makeMemory();
    const ept = new EptBuilder(memory, tables);
    ept.map(0x20_0000, 0x20_0000);
    ept.write(ept.entryFor(0x20_0000, 2), 7, OUTSIDE / 2 ** 32);
    const walker = new EptWalker(memory);
    walker.setEptp(ept.eptp(true));
    const r = walker.walk(0x20_0000, EPT_ACCESS.READ);
    expect([r.status, r.level, r.guestPhysicalAddress]).toEqual(['ept-misconfig', 1, 0x20_0000]);
  });

  it('nested walk: a guest table that EPT maps outside memory gives the guest #PF P | RSVD', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    pt.map(0x40_0000, 0x10_0000);
    const ptPage = pt.existingEntry(0x40_0000, 1) & ~0xfff;
    const ept = new EptBuilder(memory, tables);
    ept.identityMap(0, 0x400_0000);
    ept.map(ptPage, OUTSIDE); // the guest's page table lives nowhere
    const nested = new NestedWalker(memory);
    nested.ept.setEptp(ept.eptp());
    const r = nested.walk(new X86PagingContext({ cr3: pt.root }), 0x40_0000, ACCESS.READ);
    expect([r.status, r.errorCode, r.level]).toEqual(['page-fault', PFEC.P | PFEC.RSVD, 1]);
  });

  it('shadow paging: a memslot over host addresses no memory backs; guest tables there read as all ones', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x400_0000);
    const memslots = new Memslots();
    memslots.add({ id: 0, guestPhysical: 0, size: 0x100_0000, hostPhysical: 0x100_0000 });
    memslots.add({ id: 1, guestPhysical: 0x100_0000, size: 0x100_0000, hostPhysical: OUTSIDE });
    const pt = new X86PageTableBuilder(memory, new PageAllocator(0x80_0000, 0x80_0000), 4, (g) => memslots.translate(g));
    pt.map(0x40_0000, 0x10_0000);
    pt.writeEntry(pt.existingEntry(0x40_0000, 2), (0x100_0000 | TABLE_FLAGS) >>> 0, 0);
    const shadow = new ShadowMmu(memory, { memslots, shadowPages: new PageAllocator(0x300_0000, 0x100_0000), context: { cr3: pt.root } });
    const r = shadow.translate(0x40_0000, ACCESS.READ);
    expect([r.status, r.event, r.errorCode]).toEqual(['page-fault', 'guest-fault', PFEC.P | PFEC.RSVD]);
    // A guest store to guest RAM no host memory backs is dropped, not thrown.
    pt.writeEntry(pt.existingEntry(0x40_0000, 2), TABLE_FLAGS, 0);
    pt.map(0x40_0000, 0x100_0000);
    const w = shadow.write(0x40_0000, 4, 1);
    expect([w.status, w.address]).toEqual(['ok', OUTSIDE]);
    expect(() => shadow.emulateWrite(0x100_0000, 4, 1)).not.toThrow();
  });

  it('accessed/dirty writes to tables in a read-only region are dropped; the walk completes', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    pt.map(0x40_0000, 0x10_0000);
    const state = memory.saveState();
    const rom = new PhysicalMemory();
    rom.restoreState({ ...state, regions: state.regions.map((r) => ({ ...r, readOnly: true })) });
    const r = new X86PageWalker(rom).walk(new X86PagingContext({ cr3: pt.root }), 0x40_0000, ACCESS.WRITE);
    expect([r.status, r.address, r.adWrites]).toEqual(['ok', 0x10_0000, 0]);
  });
});
