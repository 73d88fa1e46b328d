// Shadow pages shared by the vCPUs of a VM (Linux Documentation/virt/kvm/x86/mmu.rst; KVM mmu.c
// kvm_mmu_find_shadow_page, kvm_mmu_page_role), a TLB in front of shadow
// paging with remote flushes (KVM kvm_flush_remote_tlbs), and the hardware
// walk split from the hypervisor's #PF handler.
import { GuestPhysicalMemory, PhysicalMemory } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { PageAllocator } from '../common/page-allocator.js';
import { X86PageTableBuilder } from '../x86/page-table-builder.js';
import type { X86PagingContextOptions } from '../x86/paging-context.js';
import { ACCESS, PFEC, PTE_LO } from '../x86/regs.js';
import { Memslots } from './memslots.js';
import { ShadowMmu } from './shadow-mmu.js';
import { ShadowPageTables } from './shadow-page-tables.js';
import { SHADOW_ROLE } from './shadow-pages.js';

const MiB = 0x10_0000;
const { P, RW, US, A } = PTE_LO;

/** Guest RAM gpa [0, 16 MiB) at host 16 MiB, guest tables in gpa [8, 16) MiB, shadow pool host [32, 48) MiB. */
function vmSetup(onFlush?: () => void) {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 64 * MiB);
  const memslots = new Memslots();
  memslots.add({ id: 0, guestPhysical: 0, size: 16 * MiB, hostPhysical: 16 * MiB });
  const tables = new PageAllocator(8 * MiB, 8 * MiB);
  const toHost = (gpa: number): number => memslots.translate(gpa);
  const ptA = new X86PageTableBuilder(memory, tables, 4, toHost);
  const ptB = new X86PageTableBuilder(memory, tables, 4, toHost);
  const vm = new ShadowPageTables(memory, { memslots, shadowPages: new PageAllocator(32 * MiB, 16 * MiB), ...(onFlush ? { onFlush } : {}) });
  const vcpu = (vpid: number, context: X86PagingContextOptions, tlb = true): ShadowMmu =>
    new ShadowMmu(memory, { vm, vpid, context: { eferNxe: true, ...context }, ...(tlb ? { tlb: { entries: 64, ways: 4 } } : {}) });
  return { memory, memslots, tables, ptA, ptB, vm, vcpu, toHost };
}

describe('shadow pages shared by the vCPUs of a VM (KVM: per-VM page hash, pages found by gfn and role)', () => {
  it('a second vCPU with the same CR3 and mode uses the pages the first built: its first access hits', () => {
    const { ptA, vm, vcpu } = vmSetup();
    ptA.map(0x40_1000, 0x30_0000);
    const v0 = vcpu(1, { cr3: ptA.root });
    const v1 = vcpu(2, { cr3: ptA.root });
    expect(v0.translate(0x40_1000, ACCESS.READ).event).toBe('fixed');
    const pages = vm.stats().pagesInUse;
    const r = v1.translate(0x40_1234, ACCESS.READ);
    expect([r.event, r.address, r.guestPhysicalAddress]).toEqual(['hit', 0x30_0234 + 16 * MiB, 0x30_0234]);
    expect(vm.stats().pagesInUse).toBe(pages);
    expect(v1.stats().rootHits).toBe(1);
    expect(v1.shadowRoot).toBe(v0.shadowRoot);
  });

  it('a store through vCPU 1 into a guest page table only vCPU 0 shadows is trapped and resyncs vCPU 0 (write protection is per VM)', () => {
    const { ptA, ptB, vm, vcpu } = vmSetup();
    ptA.map(0x40_1000, 0x30_0000);
    const pte = ptA.existingEntry(0x40_1000, 1);
    const table = pte - (pte % 4096);
    // vCPU 1's address space maps vCPU 0's page table as ordinary data.
    ptB.map(0x80_0000, table);
    const v0 = vcpu(1, { cr3: ptA.root });
    const v1 = vcpu(2, { cr3: ptB.root });
    // Before vCPU 0 shadows it, the frame is data: vCPU 1 writes it without an exit once D is set.
    expect(v1.write(0x80_0800, 8, 0x1234).event).toBe('fixed');
    expect(v1.translate(0x80_0800, ACCESS.WRITE).event).toBe('hit');
    expect(v1.translate(0x80_0800, ACCESS.WRITE).event).toBe('hit'); // now from vCPU 1's TLB
    expect(v1.stats().tlbHits).toBe(1);
    // vCPU 0 touches 0x40_1000: its PT frame becomes a shadowed table, VM-wide write-protected,
    // and vCPU 1's writable spte and TLB entry for it go (a remote flush).
    expect(v0.translate(0x40_1000, ACCESS.READ).address).toBe(0x30_0000 + 16 * MiB);
    expect(vm.isWriteProtected(table / 4096)).toBe(true);
    expect(vm.stats().remoteFlushes).toBeGreaterThanOrEqual(1);
    expect(v1.stats().tlbFlushes).toBeGreaterThanOrEqual(1);
    // vCPU 1 rewrites vCPU 0's PTE for 0x40_1000 (entry 1 of the table): trapped, emulated.
    const w = v1.write(0x80_0000 + (pte % 4096), 8, (0x31_0000 | P | RW | US | A) >>> 0);
    expect(w.event).toBe('write-protected');
    expect(vm.stats().emulatedWrites).toBe(1);
    // vCPU 0 sees the new mapping at once (the spte was updated in place).
    const r = v0.translate(0x40_1000, ACCESS.READ);
    expect([r.event, r.address]).toEqual(['hit', 0x31_0000 + 16 * MiB]);
  });

  it('vCPUs in different paging modes get shadow pages of different roles for the same guest table; a guest write resyncs both', () => {
    const { ptA, vm, vcpu } = vmSetup();
    ptA.map(0x40_1000, 0x30_0000, { accessed: true });
    const v0 = vcpu(1, { cr3: ptA.root, cr0Wp: true });
    const v1 = vcpu(2, { cr3: ptA.root, cr0Wp: false, cr4Smep: true });
    v0.translate(0x40_1000, ACCESS.READ);
    v1.translate(0x40_1000, ACCESS.READ);
    const roles = vm.rolesOf(ptA.root / 4096);
    expect(roles.length).toBe(2);
    expect(roles.map((r) => r & (SHADOW_ROLE.CR0_WP | SHADOW_ROLE.SMEP_ANDNOT_WP)).sort()).toEqual([SHADOW_ROLE.CR0_WP, SHADOW_ROLE.SMEP_ANDNOT_WP]);
    expect(roles.every((r) => (r & SHADOW_ROLE.LEVEL) === 4 && (r & SHADOW_ROLE.EFER_NX) !== 0)).toBe(true);
    // The guest rewrites the PTE (a store vCPU 0 makes, emulated): both shadows follow.
    v0.emulateWrite(ptA.existingEntry(0x40_1000, 1), 8, (0x32_0000 | P | RW | US | A) >>> 0);
    expect(v0.translate(0x40_1000, ACCESS.READ).address).toBe(0x32_0000 + 16 * MiB);
    expect(v1.translate(0x40_1000, ACCESS.READ).address).toBe(0x32_0000 + 16 * MiB);
  });

  it('remote flushes reach every attached vCPU and the onFlush hook; dispose detaches', () => {
    let flushes = 0;
    const { ptA, vm, vcpu } = vmSetup(() => flushes++);
    ptA.map(0x40_1000, 0x30_0000);
    const v0 = vcpu(1, { cr3: ptA.root });
    const v1 = vcpu(2, { cr3: ptA.root });
    let heard = 0;
    const remove = vm.addFlushListener(() => heard++);
    v0.translate(0x40_1000, ACCESS.READ);
    v1.translate(0x40_1000, ACCESS.READ);
    const before = [v0.stats().tlbFlushes, v1.stats().tlbFlushes];
    // Clearing the guest PTE drops a present spte: one remote flush.
    v0.emulateWrite(ptA.existingEntry(0x40_1000, 1), 8, 0);
    expect(flushes).toBe(1);
    expect(heard).toBe(1);
    expect([v0.stats().tlbFlushes, v1.stats().tlbFlushes]).toEqual([before[0]! + 1, before[1]! + 1]);
    expect(v1.translate(0x40_1000, ACCESS.READ).event).toBe('guest-fault');
    remove();
    v1.dispose();
    vm.zapAll();
    expect(heard).toBe(1);
    expect(flushes).toBe(2);
    expect(v1.stats().tlbFlushes).toBe(before[1]! + 1);
    expect(() => vm.addFlushListener(1 as unknown as () => void)).toThrow(/must be a function, got number/);
  });

  it('rejects contradictory options, naming them', () => {
    const { memory, memslots, vm } = vmSetup();
    expect(() => new ShadowMmu(memory, { vm, memslots })).toThrow(/either vm or memslots/);
    expect(() => new ShadowMmu(memory, {})).toThrow(/needs vm, or memslots and shadowPages/);
    expect(() => new ShadowMmu(memory, { vm, context: { maxPhyAddr: 40 } })).toThrow(/MAXPHYADDR 40 differs from the VM's 46/);
    expect(() => new ShadowMmu(memory, { vm, vpid: 0x10000 })).toThrow(/VPID must be an integer in \[0, 0xffff\], got 65536/);
    expect(() => new ShadowPageTables(memory, { memslots, shadowPages: new PageAllocator(32 * MiB, 4096), maxPhyAddr: 46 })).toThrow(/at least 8 pages, got 1/);
  });
});

describe('a TLB in front of shadow paging (SDM 3A 4.10.2; KVM flushes it when sptes change)', () => {
  it('a TLB hit costs no walk: references are charged only on misses', () => {
    const { ptA, vcpu } = vmSetup();
    ptA.map(0x40_1000, 0x30_0000);
    const v = vcpu(1, { cr3: ptA.root });
    v.translate(0x40_1000, ACCESS.READ); // exit, fixed
    v.translate(0x40_1000, ACCESS.READ); // hardware walk, TLB fill
    const refs = v.stats().hardwareReferences;
    for (let k = 0; k < 10; k++) expect(v.translate(0x40_1000 + k * 8, ACCESS.READ).guestPhysicalAddress).toBe(0x30_0000 + k * 8);
    expect(v.stats().hardwareReferences).toBe(refs);
    expect(v.stats().tlbHits).toBe(10);
    expect(v.tlb?.hits).toBe(10);
  });

  it('a guest CR3 load flushes the vCPU\'s TLB; INVLPG drops the address (SDM 2 "INVLPG", upper-half addresses as bigint)', () => {
    const { ptA, ptB, vcpu } = vmSetup();
    ptA.map(0x40_1000, 0x30_0000);
    ptB.map(0x40_1000, 0x31_0000);
    const v = vcpu(1, { cr3: ptA.root });
    v.translate(0x40_1000, ACCESS.READ);
    v.translate(0x40_1000, ACCESS.READ);
    v.setCr3(ptB.root);
    expect(v.translate(0x40_1000, ACCESS.READ).address).toBe(0x31_0000 + 16 * MiB);
    v.translate(0x40_1000, ACCESS.READ);
    const hits = v.stats().tlbHits;
    v.invlpg(0x40_1000n);
    expect(v.translate(0x40_1000, ACCESS.READ).event).toBe('fixed');
    expect(v.stats().tlbHits).toBe(hits);
    v.invlpg(0xffff_8000_0000_1000n); // canonical upper half: accepted
    v.invlpg(0x8000_0000_1000n << 4n); // non-canonical: a no-op, counted
    expect(v.stats().invlpgs).toBe(3);
    expect(() => v.invlpg(-1n)).toThrow(/unsigned 64-bit/);
  });

  it('the epoch is stable across hits and changes on remote flushes, CR3 loads and INVLPG', () => {
    const { ptA, vcpu } = vmSetup();
    ptA.map(0x40_1000, 0x30_0000, { accessed: true });
    const v0 = vcpu(1, { cr3: ptA.root });
    const v1 = vcpu(2, { cr3: ptA.root });
    v0.translate(0x40_1000, ACCESS.READ);
    v0.translate(0x40_1000, ACCESS.READ);
    const e = v0.epoch;
    v0.translate(0x40_1000, ACCESS.READ);
    expect(v0.epoch).toBe(e);
    // vCPU 1 rewrites the PTE: the spte changes under vCPU 0.
    v1.emulateWrite(ptA.existingEntry(0x40_1000, 1), 8, (0x32_0000 | P | RW | US | A) >>> 0);
    const e2 = v0.epoch;
    expect(e2).not.toBe(e);
    v0.setCr3(ptA.root);
    expect(v0.epoch).not.toBe(e2);
    const e3 = v0.epoch;
    v0.invlpg(0x40_1000);
    expect(v0.epoch).not.toBe(e3);
  });
});

describe('the hardware walk and the hypervisor\'s #PF handler, separately (G9d)', () => {
  it('hardwareTranslate reports the #PF exit; pageFault fixes it; the retried access hits', () => {
    const { ptA, vcpu } = vmSetup();
    ptA.map(0x40_1000, 0x30_0000);
    const v = vcpu(1, { cr3: ptA.root }, false);
    const exit = v.hardwareTranslate(0x40_1234, ACCESS.WRITE);
    // Not present in the shadow tables: error code W only (SDM 3A 4.7), CR2 the address.
    expect([exit.status, exit.event, exit.errorCode, exit.linearAddress]).toEqual(['page-fault', 'page-fault-exit', PFEC.W, 0x40_1234]);
    expect(v.stats().exits).toBe(1);
    expect(v.stats().fixed).toBe(0);
    const fixed = v.pageFault(0x40_1234, ACCESS.WRITE, exit.errorCode);
    expect([fixed.status, fixed.event, fixed.address]).toEqual(['ok', 'fixed', 0x30_0234 + 16 * MiB]);
    expect(v.hardwareTranslate(0x40_1234, ACCESS.WRITE).event).toBe('hit');
  });

  it('the handler reflects a guest #PF with the guest error code', () => {
    const { ptA, vcpu } = vmSetup();
    ptA.map(0x40_1000, 0x30_0000, { user: false });
    const v = vcpu(1, { cr3: ptA.root }, false);
    const exit = v.hardwareTranslate(0x40_1000, ACCESS.USER);
    const r = v.pageFault(0x40_1000, ACCESS.USER, exit.errorCode);
    expect([r.status, r.event, r.errorCode]).toEqual(['page-fault', 'guest-fault', PFEC.P | PFEC.U]);
    expect(() => v.pageFault(0x40_1000, ACCESS.USER, -1)).toThrow(/error code must be a 32-bit unsigned integer, got -1/);
  });
});

describe('shadow save/restore is atomic', () => {
  it('a vCPU state with one bad counter changes nothing; a good one restores', () => {
    const { ptA, vcpu } = vmSetup();
    ptA.map(0x40_1000, 0x30_0000);
    const v = vcpu(1, { cr3: ptA.root });
    v.translate(0x40_1000, ACCESS.READ);
    const good = JSON.parse(JSON.stringify(v.saveState())) as { counters: Record<string, number>; context: { cr3: number } };
    v.setCr3(ptA.root + 0x1000);
    const before = JSON.stringify(v.saveState());
    expect(() => v.restoreState({ ...good, counters: { ...good.counters, guestReferences: -1 } })).toThrow(/guestReferences/);
    expect(() => v.restoreState({ ...good, context: { ...good.context, cr3: 2 ** 60 } })).toThrow(/cr3/);
    expect(JSON.stringify(v.saveState())).toBe(before);
    v.restoreState(good);
    expect(v.context.cr3).toBe(ptA.root);
    expect(v.translate(0x40_1000, ACCESS.READ).address).toBe(0x30_0000 + 16 * MiB);
  });

  it('the VM\'s state: a bad counter changes nothing; a good one zaps the pages and keeps the counters', () => {
    const { ptA, vm, vcpu } = vmSetup();
    ptA.map(0x40_1000, 0x30_0000);
    vcpu(1, { cr3: ptA.root }).translate(0x40_1000, ACCESS.READ);
    const good = JSON.parse(JSON.stringify(vm.saveState())) as { counters: Record<string, number> };
    const before = JSON.stringify(vm.saveState());
    const pages = vm.stats().pagesInUse;
    expect(() => vm.restoreState({ ...good, counters: { ...good.counters, zapAlls: 'x' } })).toThrow(/zapAlls/);
    expect(JSON.stringify(vm.saveState())).toBe(before);
    expect(vm.stats().pagesInUse).toBe(pages);
    vm.restoreState(good);
    expect(vm.stats().pagesInUse).toBe(0);
    expect(vm.stats().zapAlls).toBe(good.counters.zapAlls);
  });
});

describe('writes through a guest-physical view resync the shadows (core GuestPhysicalMemory write observers)', () => {
  it('a DMA-style write to a shadowed guest PTE through the view is seen without a guestMemoryWritten call', () => {
    const { memory, memslots, ptA, vm, vcpu } = vmSetup();
    ptA.map(0x40_1000, 0x30_0000, { accessed: true });
    const v = vcpu(1, { cr3: ptA.root });
    expect(v.translate(0x40_1000, ACCESS.READ).address).toBe(0x30_0000 + 16 * MiB);
    const view = new GuestPhysicalMemory(memory, memslots);
    const stop = vm.watchWrites(view);
    const pte = ptA.existingEntry(0x40_1000, 1);
    view.write32(pte, (0x33_0000 | P | RW | US | A) >>> 0);
    expect(v.translate(0x40_1000, ACCESS.READ).address).toBe(0x33_0000 + 16 * MiB);
    stop();
    view.write32(pte, (0x34_0000 | P | RW | US | A) >>> 0);
    // Not watched any more: the shadow keeps the old translation until told.
    expect(v.translate(0x40_1000, ACCESS.READ).address).toBe(0x33_0000 + 16 * MiB);
    v.guestMemoryWritten(pte, 8);
    expect(v.translate(0x40_1000, ACCESS.READ).address).toBe(0x34_0000 + 16 * MiB);
  });
});
