// Issue 12 bug 10: every mmu restoreState validates the whole state first and
// changes nothing when it throws. Each model goes through core's shared
// check (`checkAtomicRestore` from @hvsim/core/testing): the named bad states
// corrupt a part that is read late, after parts a non-atomic restore would
// already have applied, and every field-by-field corruption of a good state
// (`stateCorruptions`) is either accepted or refused with an HvsimError that
// leaves the model's saved state unchanged.
import { PhysicalMemory } from '@hvsim/core';
import { checkAtomicRestore } from '@hvsim/core/testing';
import type { AtomicRestoreReport } from '@hvsim/core/testing';
import { describe, expect, it } from 'vitest';
import { ArmMmu } from './arm/arm-mmu.js';
import { ArmTlb } from './arm/arm-tlb.js';
import { Stage1Builder } from './arm/stage1-builder.js';
import { Stage1Context } from './arm/stage1-context.js';
import { S1_ACCESS } from './arm/stage1-regs.js';
import { Stage2Builder } from './arm/stage2-builder.js';
import { Stage2Walker } from './arm/stage2-walker.js';
import { PageAllocator } from './common/page-allocator.js';
import { EptBuilder } from './ept/ept-builder.js';
import { EptWalker } from './ept/ept-walker.js';
import { NestedWalker } from './nested/nested-walker.js';
import { Memslots } from './shadow/memslots.js';
import { ShadowMmu } from './shadow/shadow-mmu.js';
import { ShadowPageTables } from './shadow/shadow-page-tables.js';
import { savedCopy } from './test-support/atomic-restore.js';
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

function armWorld() {
  const { memory, tables } = makeMemory();
  const s1 = new Stage1Builder(memory, tables);
  s1.map(0x40_1000, 0x12_3000, { el0: true, global: false });
  const s2 = new Stage2Builder(memory, tables);
  s2.map(0, 0, { pageSize: 0x20_0000 });
  const ctx = new Stage1Context({ tcr: Stage1Builder.tcr(), ttbr0: s1.ttbr(5) });
  return { memory, s1, s2, ctx };
}

/** Every named bad state was refused, and the corruption sweep ran and refused some. */
function expectChecked(report: AtomicRestoreReport, bad: number): void {
  expect(report.refused).toBe(bad);
  expect(report.corruptionsTried).toBeGreaterThan(0);
  expect(report.corruptionsRefused).toBeGreaterThan(0);
}

describe('atomic restoreState for every mmu model (checkAtomicRestore)', () => {
  it('X86PagingContext', () => {
    const good = savedCopy(new X86PagingContext({ cr3: 0x5000, cr0Wp: true }));
    const b = new X86PagingContext({ cr3: 0x9000 });
    expectChecked(checkAtomicRestore(b, good, [{ label: 'page1gb not a boolean', state: { ...good, page1gb: 'yes' } }]), 1);
    expect(b.cr3).toBe(0x5000);
  });

  it('X86PageWalker', () => {
    const { memory, pt } = world();
    const a = new X86PageWalker(memory);
    a.walk(new X86PagingContext({ cr3: pt.root }), 0x40_0000, ACCESS.READ);
    const good = savedCopy(a);
    expectChecked(checkAtomicRestore(new X86PageWalker(memory), good, [{ label: 'faults -1', state: { ...good, faults: -1 } }]), 1);
  });

  it('EptWalker: a bad counter after a good EPTP leaves the old EPTP loaded', () => {
    const { memory, ept } = world();
    const a = new EptWalker(memory);
    a.setEptp(ept.eptp());
    const good = savedCopy(a);
    const b = new EptWalker(memory);
    expectChecked(checkAtomicRestore(b, good, [{ label: 'misconfigs 1.5', state: { ...good, misconfigs: 1.5 } }]), 1);
    expect(b.getEptp()).toBe(ept.eptp());
  });

  it('NestedWalker: a bad EPT part leaves the counters', () => {
    const { memory, pt, ept } = world();
    const a = new NestedWalker(memory);
    a.ept.setEptp(ept.eptp());
    a.walk(new X86PagingContext({ cr3: pt.root }), 0x40_0000, ACCESS.READ);
    const good = savedCopy(a);
    expectChecked(checkAtomicRestore(new NestedWalker(memory), good, [{ label: 'ept.violations -2', state: { ...good, ept: { ...(good.ept as object), violations: -2 } } }]), 1);
  });

  it('Tlb: a bad row after good counters', () => {
    const a = new Tlb({ entries: 8, ways: 2 });
    const { memory, pt } = world();
    const walk = new X86PageWalker(memory).walk(new X86PagingContext({ cr3: pt.root }), 0x40_0000, ACCESS.READ);
    a.fill(0, 0, -1, 0, 0x40_0000, walk, false);
    const good = savedCopy(a);
    const b = new Tlb({ entries: 8, ways: 2 });
    b.lookup(0, 0, -1, 0, 0);
    expectChecked(checkAtomicRestore(b, good, [{ label: 'live row of the wrong width', state: { ...good, live: [[0, 0, 13]] } }]), 1);
  });

  it('X86Mmu: a bad nested part does not switch EPT on or touch the TLB', () => {
    const { memory, pt, ept } = world();
    const a = new X86Mmu(memory, { ept: true, context: { cr3: pt.root } });
    a.setEptp(ept.eptp());
    a.translate(0x40_0000, ACCESS.READ);
    const good = savedCopy(a);
    const b = new X86Mmu(memory, { context: { cr3: pt.root } });
    b.translate(0x40_0000, ACCESS.READ);
    const off = savedCopy(b);
    expectChecked(checkAtomicRestore(b, off, [{ label: 'nested counters cut short', state: { ...good, nested: { ...(good.nested as object), counters: [1] } } }]), 1);
    expect(b.eptEnabled).toBe(false);
    b.restoreState(good);
    expect(b.eptEnabled).toBe(true);
    expectChecked(checkAtomicRestore(b, good, [{ label: 'tlb not an object', state: { ...good, tlb: 7 } }]), 1);
  });

  it('PageAllocator: a free page never handed out', () => {
    const a = new PageAllocator(0x1_0000, 0x4000);
    a.allocate();
    a.release(a.allocate());
    const good = savedCopy(a);
    const b = new PageAllocator(0x1_0000, 0x4000);
    const report = checkAtomicRestore(b, good, [{ label: 'free page never handed out', state: { ...good, free: [0x1_2000] } }]);
    expectChecked(report, 1);
    expect(() => b.restoreState({ ...good, free: [0x1_2000] })).toThrow(/free page 0x12000 is unaligned, never handed out or listed twice/);
  });

  it('ShadowMmu and ShadowPageTables', () => {
    const { memory, pt } = world();
    const memslots = new Memslots();
    memslots.add({ id: 0, guestPhysical: 0, size: 0x100_0000, hostPhysical: 0 });
    const vm = new ShadowPageTables(memory, { memslots, shadowPages: new PageAllocator(0x100_0000, 0x100_0000) });
    const v = new ShadowMmu(memory, { vm, context: { cr3: pt.root }, tlb: { entries: 8, ways: 2 } });
    v.translate(0x40_0000, ACCESS.READ);
    const good = savedCopy(v);
    v.translate(0x40_0000, ACCESS.READ);
    expectChecked(checkAtomicRestore(v, good, [{ label: 'vpid beyond 16 bits', state: { ...good, vpid: 0x1_0000 } }]), 1);
    const vmGood = savedCopy(vm);
    expectChecked(checkAtomicRestore(vm, vmGood, [{ label: 'counters cut short', state: { ...vmGood, counters: { sptesZapped: 0 } } }]), 1);
  });

  it('Stage1Context', () => {
    const { ctx } = armWorld();
    const good = savedCopy(ctx);
    const b = new Stage1Context();
    expectChecked(checkAtomicRestore(b, good, [{ label: 'tcr not a hex bigint', state: { ...good, tcr: 'zz' } }]), 1);
    expect(b.saveState()).toEqual(good);
  });

  it('Stage2Walker', () => {
    const { memory, s2 } = armWorld();
    const a = new Stage2Walker(memory);
    a.setVtcr(s2.vtcr());
    a.setVttbr(s2.vttbr(3));
    a.walk(0x1000, 1);
    const good = savedCopy(a);
    expectChecked(checkAtomicRestore(new Stage2Walker(memory), good, [{ label: 'vttbr not a bigint', state: { ...good, vttbr: 12 } }]), 1);
  });

  it('ArmTlb and ArmMmu', () => {
    const { memory, ctx } = armWorld();
    const mmu = new ArmMmu(memory, { context: ctx, tlb: { entries: 8, ways: 2 } });
    mmu.translate(0x40_1000, S1_ACCESS.READ | S1_ACCESS.EL0);
    const good = savedCopy(mmu);
    const fresh = new ArmMmu(new PhysicalMemory(), { tlb: { entries: 8, ways: 2 } });
    expectChecked(checkAtomicRestore(fresh, good, [{ label: 'vmid beyond 16 bits', state: { ...good, vmid: 0x1_0000 } }]), 1);
    const tlb = new ArmTlb({ entries: 8, ways: 2 });
    const tlbGood = savedCopy(mmu.tlb);
    expectChecked(checkAtomicRestore(tlb, tlbGood, [{ label: 'entries of another geometry', state: { ...tlbGood, entries: 16 } }]), 1);
  });
});
