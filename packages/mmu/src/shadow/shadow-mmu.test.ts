import { PhysicalMemory, UsageError } from '@hvsim/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PageAllocator } from '../common/page-allocator.js';
import { WalkResult } from '../common/walk-result.js';
import { expectSame, firstDifference, propertyShare } from '../test-support/fixtures.js';
import { X86PageTableBuilder } from '../x86/page-table-builder.js';
import { X86PageWalker } from '../x86/page-walker.js';
import { X86PagingContext } from '../x86/paging-context.js';
import { ACCESS, PFEC, PTE_LO } from '../x86/regs.js';
import { MemslotStage } from './memslot-stage.js';
import { Memslots } from './memslots.js';
import { ShadowMmu } from './shadow-mmu.js';
import { ShadowPageTables } from './shadow-page-tables.js';
import { SHADOW_ROLE } from './shadow-pages.js';

const MiB = 0x10_0000;
/** Host memory: guest RAM slot 0 (gpa [0,16M) at hpa 16M), shadow pool [32M,48M), slot 1 (gpa 1G.. at hpa 48M). */
function setup(contextOptions: ConstructorParameters<typeof X86PagingContext>[0] = {}, poolPages = 4096) {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 64 * MiB);
  const memslots = new Memslots();
  memslots.add({ id: 0, guestPhysical: 0, size: 16 * MiB, hostPhysical: 16 * MiB });
  memslots.add({ id: 1, guestPhysical: 0x4000_0000, size: 16 * MiB, hostPhysical: 48 * MiB });
  const guestTables = new PageAllocator(8 * MiB, 8 * MiB);
  const toHost = (gpa: number): number => memslots.translate(gpa);
  const pt = new X86PageTableBuilder(memory, guestTables, 4, toHost);
  const ctx = new X86PagingContext({ cr3: pt.root, eferNxe: true, ...contextOptions });
  const shadow = new ShadowMmu(memory, { memslots, shadowPages: new PageAllocator(32 * MiB, poolPages * 4096), context: ctx });
  const reference = new X86PageWalker(memory, { stage: new MemslotStage(memslots) });
  return { memory, memslots, guestTables, pt, ctx, shadow, reference, toHost };
}

/** {@link setup} with two vCPUs of one VM sharing the shadow pages, each with a TLB in front, both in the guest context. */
function setupTwoVcpus(contextOptions: ConstructorParameters<typeof X86PagingContext>[0] = {}, poolPages = 4096) {
  const s = setup(contextOptions, 8);
  const vm = new ShadowPageTables(s.memory, { memslots: s.memslots, shadowPages: new PageAllocator(32 * MiB, poolPages * 4096) });
  const vcpus = [1, 2].map((vpid) => new ShadowMmu(s.memory, { vm, vpid, context: s.ctx, tlb: { entries: 16, ways: 2 } }));
  return { ...s, vm, vcpus };
}

describe('shadow paging (Linux Documentation/virt/kvm/x86/mmu.rst): translations and exits', () => {
  it('a first access exits and is fixed silently; the next one hits the shadow tables', () => {
    const { pt, shadow } = setup();
    pt.map(0x40_1000, 0x30_0000);
    const a = shadow.translate(0x40_1234, ACCESS.READ);
    expect([a.status, a.event, a.address, a.guestPhysicalAddress]).toEqual(['ok', 'fixed', 0x30_0234 + 16 * MiB, 0x30_0234]);
    const b = shadow.translate(0x40_1234, ACCESS.READ);
    expect([b.status, b.event, b.address, b.guestPhysicalAddress]).toEqual(['ok', 'hit', 0x30_0234 + 16 * MiB, 0x30_0234]);
    expect(b.references).toBe(4);
    const s = shadow.stats();
    expect([s.accesses, s.hits, s.exits, s.fixed, s.pagesInUse]).toEqual([2, 1, 1, 1, 4]);
  });

  it('the shadow tables are real x86-64 tables: a host walk from the shadow root gives the host address', () => {
    const { memory, pt, shadow } = setup();
    pt.map(0x40_1000, 0x30_0000);
    shadow.translate(0x40_1000, ACCESS.READ);
    const host = new X86PageWalker(memory);
    const r = host.walk(new X86PagingContext({ cr3: shadow.shadowRoot, maxPhyAddr: 52 }), 0x40_1010, ACCESS.READ);
    expect(r.address).toBe(0x30_0010 + 16 * MiB);
  });

  it('a guest page fault is reflected with the architectural error code (SDM 3A 4.7)', () => {
    const { pt, shadow } = setup({ cr0Wp: true });
    pt.map(0x40_1000, 0x30_0000, { writable: false, user: false });
    const r = shadow.translate(0x40_1000, ACCESS.USER | ACCESS.WRITE);
    expect([r.status, r.event, r.errorCode, r.linearAddress]).toEqual(['page-fault', 'guest-fault', PFEC.P | PFEC.W | PFEC.U, 0x40_1000]);
    const n = shadow.translate(0x50_0000, ACCESS.READ);
    expect([n.event, n.errorCode]).toEqual(['guest-fault', 0]);
    expect(shadow.stats().guestFaults).toBe(2);
  });

  it('rejects a bad access or linear address before counting it, naming the value', () => {
    const { pt, shadow } = setup();
    pt.map(0x40_1000, 0x30_0000);
    expect(() => shadow.translate(0x40_1000, ACCESS.USER | ACCESS.IMPLICIT)).toThrow(/got 65540/);
    expect(() => shadow.translate(-1, ACCESS.READ)).toThrow(/linear address/);
    expect(() => shadow.write(0x40_1000, 4, 0, 0, ACCESS.FETCH)).toThrow(UsageError);
    expect(() => shadow.write(0x40_1000, 3, 0)).toThrow(/1, 2, 4 or 8/);
    expect(() => shadow.write(0x40_1ffc, 8, 0)).toThrow(/crosses a page/);
    expect(() => shadow.emulateWrite(0x1000, 16, 0)).toThrow(/got 16/);
    expect(() => shadow.emulateWrite(-8, 8, 0)).toThrow(/guest-physical address/);
    expect(() => shadow.invlpg(Number.NaN)).toThrow(/INVLPG linear address/);
    expect(shadow.stats().accesses).toBe(0);
  });

  it('an unbacked guest-physical address exits as MMIO', () => {
    const { pt, shadow } = setup();
    pt.map(0x40_1000, 0x200_0000); // gpa 32 MiB: no memslot
    const r = shadow.translate(0x40_1000, ACCESS.READ);
    expect([r.status, r.event, r.guestPhysicalAddress]).toEqual(['no-memslot', 'mmio', 0x200_0000]);
  });

  it('a memslot change drops every shadow page: no spte keeps a host address of the old slots (mmu.rst; memslot generation in include/linux/kvm_host.h)', () => {
    const { pt, shadow, memslots, memory } = setup();
    pt.map(0x40_1000, 0x30_0000);
    expect(shadow.translate(0x40_1000, ACCESS.READ).address).toBe(0x30_0000 + 16 * MiB);
    expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('hit');
    const zaps = shadow.stats().zapAlls;
    // Move guest RAM to host 0: copy it (tables included) and re-create slot 0 there.
    memory.writeBytes(0, memory.readBytes(16 * MiB, 16 * MiB));
    memslots.remove(0);
    memslots.add({ id: 0, guestPhysical: 0, size: 16 * MiB, hostPhysical: 0 });
    const r = shadow.translate(0x40_1000, ACCESS.READ);
    expect([r.event, r.address]).toEqual(['fixed', 0x30_0000]);
    expect(shadow.stats().zapAlls).toBe(zaps + 1);
  });

  it('guest 2 MiB and 1 GiB pages are shadowed by 4 KiB direct pages', () => {
    const { pt, shadow } = setup();
    pt.map(0x20_0000, 0x60_0000, { pageSize: 0x20_0000 });
    pt.map(0x4000_0000, 0x4000_0000, { pageSize: 0x4000_0000 });
    for (const [linear, hpa] of [
      [0x21_2345, 0x61_2345 + 16 * MiB],
      [0x4012_3456, 0x12_3456 + 48 * MiB],
    ]) {
      expect(shadow.translate(linear!, ACCESS.READ).address).toBe(hpa);
      const again = shadow.translate(linear!, ACCESS.READ);
      expect([again.event, again.address, again.pageSize]).toEqual(['hit', hpa, 4096]);
    }
  });
});

describe('shadow paging: accessed and dirty flags (SDM 3A 4.8) reach the guest entries', () => {
  it('sets guest A on the first access and D on the first write, trapping that write', () => {
    const { memory, pt, shadow, toHost } = setup();
    pt.map(0x40_1000, 0x30_0000);
    const pte = toHost(pt.existingEntry(0x40_1000, 1));
    shadow.translate(0x40_1000, ACCESS.READ);
    expect(memory.read32(pte) & (PTE_LO.A | PTE_LO.D)).toBe(PTE_LO.A);
    expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('hit');
    const w = shadow.translate(0x40_1000, ACCESS.WRITE);
    expect(w.event).toBe('fixed');
    expect(memory.read32(pte) & PTE_LO.D).toBe(PTE_LO.D);
    expect(shadow.translate(0x40_1000, ACCESS.WRITE).event).toBe('hit');
    for (const l of [4, 3, 2]) expect(memory.read32(toHost(pt.existingEntry(0x40_1000, l))) & PTE_LO.A).toBe(PTE_LO.A);
  });
});

describe('shadow paging: accessed and dirty flags of guest large pages (SDM 3A 4.8)', () => {
  it('after the guest clears D in a 2 MiB PDE, a write to any 4 KiB piece traps and sets D again', () => {
    const { memory, pt, shadow, toHost } = setup();
    pt.map(0x20_0000, 0x60_0000, { pageSize: 0x20_0000, accessed: true, dirty: true });
    const pde = pt.existingEntry(0x20_0000, 2);
    shadow.translate(0x20_1000, ACCESS.WRITE);
    expect(shadow.translate(0x20_1000, ACCESS.WRITE).event).toBe('hit');
    // The guest clears D (an emulated write to its page directory), then reads another piece.
    shadow.emulateWrite(pde, 4, (memory.read32(toHost(pde)) & ~PTE_LO.D) >>> 0);
    expect(shadow.translate(0x20_2000, ACCESS.READ).event).toBe('fixed');
    expect(memory.read32(toHost(pde)) & PTE_LO.D).toBe(0);
    // The piece written before must not still be writable in the shadow tables.
    expect(shadow.translate(0x20_1000, ACCESS.WRITE).event).toBe('fixed');
    expect(memory.read32(toHost(pde)) & PTE_LO.D).toBe(PTE_LO.D);
    expect(shadow.translate(0x20_1000, ACCESS.WRITE).event).toBe('hit');
  });

  it('direct leaves follow the guest leaf\'s PWT/PCD/PAT after it changes', () => {
    const { memory, pt, shadow, toHost } = setup();
    pt.map(0x20_0000, 0x60_0000, { pageSize: 0x20_0000, accessed: true, dirty: true });
    const pde = pt.existingEntry(0x20_0000, 2);
    shadow.translate(0x20_1000, ACCESS.READ);
    shadow.emulateWrite(pde, 4, (memory.read32(toHost(pde)) | PTE_LO.PCD | 0x1000) >>> 0);
    shadow.translate(0x20_1000, ACCESS.READ);
    const host = new X86PageWalker(memory);
    const hctx = new X86PagingContext({ cr3: shadow.shadowRoot, maxPhyAddr: 52 });
    host.walk(hctx, 0x20_1000, ACCESS.READ);
    // PCD copied, the large leaf's PAT (bit 12) is a 4 KiB leaf's PAT (bit 7).
    expect(host.lastEntryLo(1) & (PTE_LO.PCD | PTE_LO.PS)).toBe(PTE_LO.PCD | PTE_LO.PS);
  });
});

describe('shadow paging: write-protected guest page tables', () => {
  function withSelfMap() {
    const env = setup();
    const { pt } = env;
    pt.map(0x40_1000, 0x30_0000, { accessed: true, dirty: true });
    // Map the guest PT page that holds the PTE for 0x40_1000 at linear 0x60_0000.
    const pteGpa = pt.existingEntry(0x40_1000, 1);
    const ptPage = pteGpa - (pteGpa % 4096);
    pt.map(0x60_0000, ptPage);
    return { ...env, pteGpa, ptPage, pteLinear: 0x60_0000 + (pteGpa % 4096) };
  }

  it('a shadowed guest table frame is write-protected; a write to it exits and must be emulated', () => {
    const { shadow, ptPage, pteLinear } = withSelfMap();
    shadow.translate(0x40_1000, ACCESS.READ);
    expect(shadow.isWriteProtected(ptPage / 4096)).toBe(true);
    const read = shadow.translate(pteLinear, ACCESS.READ);
    expect(read.event).toBe('fixed');
    const w = shadow.translate(pteLinear, ACCESS.WRITE);
    expect([w.status, w.event]).toEqual(['ok', 'write-protected']);
    expect(shadow.translate(pteLinear, ACCESS.WRITE).event).toBe('write-protected');
    expect(shadow.stats().writeProtectExits).toBe(2);
  });

  it('an emulated PTE write updates the shadow entry in place: the new mapping hits at once', () => {
    const { shadow, pteLinear, memory, toHost, pteGpa } = withSelfMap();
    expect(shadow.translate(0x40_1000, ACCESS.READ).address).toBe(0x30_0000 + 16 * MiB);
    const r = shadow.write(pteLinear, 8, (0x31_0000 | PTE_LO.P | PTE_LO.RW | PTE_LO.A | PTE_LO.D) >>> 0);
    expect(r.event).toBe('write-protected');
    expect(memory.read32(toHost(pteGpa)) >>> 12).toBe(0x310);
    const after = shadow.translate(0x40_1000, ACCESS.READ);
    expect([after.event, after.address]).toEqual(['hit', 0x31_0000 + 16 * MiB]);
    expect(shadow.stats().sptesUpdated).toBe(1);
    expect(shadow.stats().emulatedWrites).toBe(1);
  });

  it('an emulated write that clears a PTE drops the shadow entry: the guest then faults', () => {
    const { shadow, pteLinear } = withSelfMap();
    shadow.translate(0x40_1000, ACCESS.READ);
    shadow.write(pteLinear, 8, 0);
    const r = shadow.translate(0x40_1000, ACCESS.READ);
    expect([r.status, r.event, r.errorCode]).toEqual(['page-fault', 'guest-fault', 0]);
    expect(shadow.stats().sptesZapped).toBeGreaterThanOrEqual(1);
  });

  it('a write to a page-directory entry drops the link to the shadow table below it', () => {
    const { shadow, pt, toHost, memory } = withSelfMap();
    shadow.translate(0x40_1000, ACCESS.READ);
    const pde = pt.existingEntry(0x40_1000, 2);
    shadow.emulateWrite(pde, 8, 0);
    expect(memory.read32(toHost(pde))).toBe(0);
    expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('guest-fault');
  });

  it('stops shadowing a table frame nothing reaches any more when it is written again', () => {
    const { shadow, pt, ptPage } = withSelfMap();
    shadow.translate(0x40_1000, ACCESS.READ);
    shadow.emulateWrite(pt.existingEntry(0x40_1000, 2), 8, 0); // unlink the PT page
    shadow.emulateWrite(ptPage, 8, 0);
    expect(shadow.isWriteProtected(ptPage / 4096)).toBe(false);
    expect(shadow.stats().pagesUnshadowed).toBe(1);
  });

  it('CR0.WP = 0: a supervisor write to a read-only page is allowed but emulated', () => {
    const { pt, shadow } = setup({ cr0Wp: false });
    pt.map(0x40_1000, 0x30_0000, { writable: false, accessed: true, dirty: true });
    const r = shadow.translate(0x40_1000, ACCESS.WRITE);
    expect([r.status, r.event, r.address]).toEqual(['ok', 'write-protected', 0x30_0000 + 16 * MiB]);
    expect(shadow.translate(0x40_1000, ACCESS.WRITE | ACCESS.USER).event).toBe('guest-fault');
  });
});

describe('shadow paging: roots per guest CR3, INVLPG, context changes', () => {
  it('keeps shadow roots per CR3: switching back reuses the shadow tables', () => {
    const { memory, memslots, pt, shadow, guestTables, toHost } = setup();
    pt.map(0x40_1000, 0x30_0000);
    const pt2 = new X86PageTableBuilder(memory, guestTables, 4, toHost);
    pt2.map(0x40_1000, 0x31_0000);
    void memslots;
    expect(shadow.translate(0x40_1000, ACCESS.READ).address).toBe(0x30_0000 + 16 * MiB);
    shadow.setCr3(pt2.root);
    expect(shadow.translate(0x40_1000, ACCESS.READ).address).toBe(0x31_0000 + 16 * MiB);
    const created = shadow.stats().pagesCreated;
    shadow.setCr3(pt.root);
    const back = shadow.translate(0x40_1000, ACCESS.READ);
    expect([back.event, back.address]).toEqual(['hit', 0x30_0000 + 16 * MiB]);
    expect(shadow.stats().pagesCreated).toBe(created);
    expect(shadow.stats().rootHits).toBe(1);
  });

  it('INVLPG drops the shadow leaf so the next access refills it from the guest tables', () => {
    const { pt, shadow } = setup();
    pt.map(0x40_1000, 0x30_0000);
    shadow.translate(0x40_1000, ACCESS.READ);
    shadow.invlpg(0x40_1000);
    expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('fixed');
    expect(shadow.stats().invlpgs).toBe(1);
  });

  it('an exhausted pool is zapped and refilled; zapAll drops everything', () => {
    const { pt, shadow } = setup({}, 8);
    for (let p = 0; p < 8; p++) pt.map(0x40_0000 + p * 0x20_0000, 0x30_0000 + p * 4096);
    for (let p = 0; p < 8; p++) expect(shadow.translate(0x40_0000 + p * 0x20_0000, ACCESS.READ).address).toBe(0x30_0000 + p * 4096 + 16 * MiB);
    expect(shadow.stats().zapAlls).toBeGreaterThan(0);
    const before = shadow.stats().zapAlls;
    shadow.zapAll();
    expect(shadow.stats().zapAlls).toBe(before + 1);
    expect(shadow.stats().pagesInUse).toBe(0);
  });

  it('a context change picks shadow pages of the new role (kvm_mmu_page_role cr0_wp, efer_nx): the old ones stay', () => {
    const { pt, ctx, shadow } = setup({ cr0Wp: true });
    pt.map(0x40_1000, 0x30_0000);
    expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('fixed');
    const pages = shadow.stats().pagesInUse;
    const rootGfn = ctx.rootAddress / 4096;
    ctx.cr0Wp = false;
    shadow.contextChanged();
    expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('fixed');
    expect(shadow.stats().pagesInUse).toBe(pages * 2);
    expect(shadow.stats().zapAlls).toBe(0);
    expect(shadow.vm.rolesOf(rootGfn).map((r) => r & SHADOW_ROLE.CR0_WP).sort()).toEqual([0, SHADOW_ROLE.CR0_WP]);
    // Back to CR0.WP = 1: the first pages are found again.
    ctx.cr0Wp = true;
    shadow.contextChanged();
    expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('hit');
    expect(shadow.stats().rootHits).toBeGreaterThan(0);
  });

  it('save, restore into a fresh MMU, continue: the same translations and counters (shadows rebuilt lazily)', () => {
    const a = setup();
    a.pt.map(0x40_1000, 0x30_0000);
    a.pt.map(0x40_2000, 0x30_1000, { writable: false });
    a.shadow.translate(0x40_1000, ACCESS.READ);
    const saved = JSON.parse(JSON.stringify(a.shadow.saveState()));
    const b = new ShadowMmu(a.memory, { memslots: a.memslots, shadowPages: new PageAllocator(32 * MiB, 4096 * 4096) });
    b.restoreState(saved);
    expect(b.context.cr3).toBe(a.ctx.cr3);
    for (const [linear, access] of [
      [0x40_1000, ACCESS.WRITE],
      [0x40_2000, ACCESS.USER | ACCESS.WRITE],
      [0x40_3000, ACCESS.READ],
    ] as const) {
      const x = a.shadow.translate(linear, access, undefined);
      const [s1, c1, e1] = [x.status, x.address, x.errorCode];
      const y = b.translate(linear, access);
      expect([y.status, y.address, y.errorCode]).toEqual([s1, c1, e1]);
    }
    expect(() => b.restoreState({ type: 'hvsim.mmu.tlb', version: 1 })).toThrow(/cannot restore/);
  });
});

describe('property: shadow translation equals the guest walk composed with the memslots', () => {
  const mapping = fc.record({
    page: fc.integer({ min: 0, max: 63 }),
    kind: fc.constantFrom('4k', '4k', '4k', '2m', 'table', 'mmio'),
    frame: fc.integer({ min: 0, max: 0x7ff }),
    writable: fc.boolean(),
    user: fc.boolean(),
    noExecute: fc.boolean(),
    pkey: fc.integer({ min: 0, max: 3 }),
    accessed: fc.boolean(),
    dirty: fc.boolean(),
    tableFlags: fc.constantFrom(PTE_LO.P | PTE_LO.RW | PTE_LO.US, PTE_LO.P | PTE_LO.US, PTE_LO.P | PTE_LO.RW, PTE_LO.P),
  });
  const op = fc.oneof(
    { weight: 8, arbitrary: fc.record({ op: fc.constant('access' as const), pick: fc.nat(), stray: fc.integer({ min: 0, max: 9 }), page: fc.integer({ min: 0, max: 70 }), offset: fc.integer({ min: 0, max: 3 * 4096 + 4095 }), access: fc.constantFrom(0, 2, 4, 6, 16, 20, 0x10000) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('pte' as const), pick: fc.nat(), frame: fc.integer({ min: 0, max: 0x7ff }), flags: fc.integer({ min: 0, max: 0x7f }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('invlpg' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('pde' as const), pick: fc.nat(), frame: fc.integer({ min: 0, max: 7 }), flags: fc.integer({ min: 0, max: 0x7f }), pat: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('store' as const), pick: fc.nat(), slot: fc.constantFrom(0, 0, 0, 1, 511), frame: fc.integer({ min: 0, max: 0x7ff }), flags: fc.integer({ min: 0, max: 0x7f }) }) },
  );
  const context = fc.record({ cr0Wp: fc.boolean(), cr4Smep: fc.boolean(), cr4Smap: fc.boolean(), rflagsAc: fc.boolean(), cr4Pke: fc.boolean(), pkru: fc.integer({ min: 0, max: 0xff }), eferNxe: fc.boolean() });

  // Two tests of a quarter of HVSIM_PROPERTY_RUNS each (two guests and two vCPUs per run are costly), seeds of their own.
  it.each([0, 1])('for random guest tables, contexts, accesses and guest PTE writes; A/D flags end up as with native paging (part %i of 2)', (part) => {
    const tally: Record<string, number> = {};
    fc.assert(
      fc.property(fc.array(mapping, { minLength: 1, maxLength: 24 }), fc.array(op, { minLength: 1, maxLength: 80, size: 'medium' }), context, (maps, ops, ctxOptions) => {
        const pageOf = (pick: number): number => maps[pick % maps.length]!.page;
        // Two identical guests: one run under shadow paging (two vCPUs sharing
        // the shadow pages, each with a TLB, taking turns), one walked natively (the reference).
        const s = setupTwoVcpus(ctxOptions, 64);
        const vcpu = (pick: number): ShadowMmu => s.vcpus[pick & 1]!;
        const r = setup(ctxOptions, 64);
        const base = 0x4000_0000;
        for (const env of [s, r]) {
          for (const [k, m] of maps.entries()) {
            const linear = base + m.page * 0x20_0000;
            const opts = { writable: m.writable, user: m.user, noExecute: m.noExecute, protectionKey: m.pkey, accessed: m.accessed, dirty: m.dirty, tableFlags: m.tableFlags };
            if (m.kind === '2m') env.pt.map(linear, (m.frame % 8) * 0x20_0000, { ...opts, pageSize: 0x20_0000 });
            else if (m.kind === 'mmio') env.pt.map(linear, 0x200_0000 + m.frame * 4096, opts);
            else if (m.kind === 'table') {
              // Map a guest paging-structure page (the PT of the previous mapping) into the guest.
              const pte = env.pt.existingEntry(base + (maps[Math.max(0, k - 1)]?.page ?? 0) * 0x20_0000, 1);
              env.pt.map(linear, pte < 0 ? 8 * MiB : pte - (pte % 4096), opts);
            } else env.pt.map(linear, m.frame * 4096, opts);
          }
        }
        const ref = new WalkResult();
        for (const o of ops) {
          if (o.op === 'access') {
            const linear = base + (o.stray < 2 ? o.page : pageOf(o.pick)) * 0x20_0000 + o.offset;
            const got = vcpu(o.pick + o.page).translate(linear, o.access);
            tally[got.event] = (tally[got.event] ?? 0) + 1;
            const want = r.reference.walk(r.ctx, linear, o.access, ref);
            if (want.status === 'ok') {
              const hpa = r.memslots.translate(want.address);
              if (hpa < 0) expectSame([got.status, got.guestPhysicalAddress], ['no-memslot', want.address]);
              else expectSame([got.status, got.address, got.guestPhysicalAddress], ['ok', hpa, want.address]);
            } else {
              expectSame([got.status, got.errorCode], [want.status, want.errorCode]);
            }
          } else if (o.op === 'pte') {
            // The guest rewrites a PTE (emulated under shadow paging, plain on the reference).
            const linear = base + pageOf(o.pick) * 0x20_0000;
            const gpa = s.pt.existingEntry(linear, 1);
            if (gpa < 0) continue;
            const lo = (o.frame * 4096 + (o.flags & 0x67)) >>> 0;
            vcpu(o.pick).emulateWrite(gpa, 8, lo, 0);
            r.memory.write32(r.toHost(gpa), lo);
            r.memory.write32(r.toHost(gpa) + 4, 0);
          } else if (o.op === 'pde') {
            // The guest rewrites the PDE of a 2 MiB page (A, D, R/W, U/S, PWT/PCD, PAT, frame).
            const linear = base + pageOf(o.pick) * 0x20_0000;
            const gpa = s.pt.existingEntry(linear, 2);
            if (gpa < 0 || (s.memory.read32(s.toHost(gpa)) & PTE_LO.PS) === 0) continue;
            const lo = (o.frame * 0x20_0000 + (o.flags & 0x7f) + PTE_LO.PS + (o.pat ? 0x1000 : 0)) >>> 0;
            vcpu(o.pick).emulateWrite(gpa, 4, lo);
            r.memory.write32(r.toHost(gpa), lo);
          } else if (o.op === 'store') {
            // A guest store through its own mapping (often of a page table: the 'table' mappings).
            const tables = maps.filter((m) => m.kind === 'table');
            const page = tables.length > 0 ? tables[o.pick % tables.length]!.page : pageOf(o.pick);
            const linear = base + page * 0x20_0000 + o.slot * 8;
            const lo = (o.frame * 4096 + (o.flags & 0x67)) >>> 0;
            const got = vcpu(o.pick + o.slot).write(linear, 8, lo, 0);
            const want = r.reference.walk(r.ctx, linear, ACCESS.WRITE, ref);
            const hpa = want.status === 'ok' ? r.memslots.translate(want.address) : -1;
            expect(got.status).toBe(want.status === 'ok' && hpa < 0 ? 'no-memslot' : want.status);
            if (hpa >= 0) {
              r.memory.write32(hpa, lo);
              r.memory.write32(hpa + 4, 0);
            }
          } else {
            vcpu(o.pick).invlpg(base + pageOf(o.pick) * 0x20_0000);
          }
        }
        // Guest tables (gpa 8..16 MiB) are byte-identical, A/D flags included.
        const used = s.guestTables.used * 4096;
        expect(firstDifference(s.memory.readBytes(24 * MiB, used), r.memory.readBytes(24 * MiB, used))).toBe(-1);
      }),
      // Kept well under a second on a loaded machine; HVSIM_PROPERTY_RUNS runs it longer.
      propertyShare(4, part),
    );
    // The generated cases exercise every outcome.
    expect(Object.keys(tally).sort()).toEqual(['fixed', 'guest-fault', 'hit', 'mmio', 'write-protected']);
  }, 120_000);
});

describe('property: guest large pages under shadow paging (direct pages, SDM 3A 4.8)', () => {
  // One test with CR0.WP clear and one with it set, half the runs each.
  it.each([false, true])('translations, faults and the guest PDE (A/D included) equal native paging under random PDE rewrites (CR0.WP %s)', (cr0Wp) => {
    const op = fc.oneof(
      { weight: 4, arbitrary: fc.record({ op: fc.constant('access' as const), piece: fc.integer({ min: 0, max: 3 }), access: fc.constantFrom(0, 2, 4, 6, 16) }) },
      // Mostly present, writable, accessed rewrites of the same frame (D set or clear), some anything.
      { weight: 1, arbitrary: fc.record({ op: fc.constant('pde' as const), frame: fc.constantFrom(1, 1, 1, 2), flags: fc.oneof(fc.constantFrom(0x23, 0x27, 0x63, 0x67), fc.integer({ min: 0, max: 0x7f })), pat: fc.boolean() }) },
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 40, size: 'medium' }), (ops) => {
        const s = setup({ cr0Wp });
        const r = setup({ cr0Wp });
        for (const env of [s, r]) env.pt.map(0x20_0000, 0x60_0000, { pageSize: 0x20_0000 });
        const pde = s.pt.existingEntry(0x20_0000, 2);
        const ref = new WalkResult();
        for (const o of ops) {
          if (o.op === 'pde') {
            const lo = (o.frame * 0x20_0000 + 0x40_0000 + (o.flags | PTE_LO.P) + PTE_LO.PS + (o.pat ? 0x1000 : 0)) >>> 0;
            s.shadow.emulateWrite(pde, 4, lo);
            r.memory.write32(r.toHost(pde), lo);
            continue;
          }
          const linear = 0x20_0000 + o.piece * 4096 + 8;
          const got = s.shadow.translate(linear, o.access);
          const want = r.reference.walk(r.ctx, linear, o.access, ref);
          expectSame([got.status, got.errorCode], [want.status, want.errorCode]);
          if (want.status === 'ok') expect(got.address).toBe(r.memslots.translate(want.address));
        }
        expect(s.memory.read32(s.toHost(pde))).toBe(r.memory.read32(r.toHost(pde)));
      }),
      propertyShare(2, cr0Wp ? 1 : 0),
    );
  }, 120_000);
});

describe('shadow paging with 5-level guest paging (CR4.LA57)', () => {
  it('shadows a 5-level guest with 5-level shadow tables', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 64 * MiB);
    const memslots = new Memslots();
    memslots.add({ id: 0, guestPhysical: 0, size: 16 * MiB, hostPhysical: 16 * MiB });
    const pt = new X86PageTableBuilder(memory, new PageAllocator(8 * MiB, 8 * MiB), 5, (g) => memslots.translate(g));
    pt.map(0x1_0000_0000_3000, 0x30_0000);
    const shadow = new ShadowMmu(memory, { memslots, shadowPages: new PageAllocator(32 * MiB, 16 * MiB), context: { cr3: pt.root, cr4La57: true } });
    expect(shadow.translate64(0x1_0000, 0x3010, ACCESS.READ).event).toBe('fixed');
    const r = shadow.translate64(0x1_0000, 0x3010, ACCESS.READ);
    expect([r.event, r.address, r.references]).toEqual(['hit', 0x30_0010 + 16 * MiB, 5]);
  });
});

describe('shadow paging: read-only memslots', () => {
  it('a write to a read-only slot exits to userspace (mmio) with the translation; reads hit', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 64 * MiB);
    const memslots = new Memslots();
    memslots.add({ id: 0, guestPhysical: 0, size: 16 * MiB, hostPhysical: 16 * MiB });
    memslots.add({ id: 1, guestPhysical: 0x100_0000, size: MiB, hostPhysical: 48 * MiB, readOnly: true });
    const pt = new X86PageTableBuilder(memory, new PageAllocator(8 * MiB, 8 * MiB), 4, (g) => memslots.translate(g));
    pt.map(0x40_1000, 0x100_0000, { accessed: true, dirty: true });
    const shadow = new ShadowMmu(memory, { memslots, shadowPages: new PageAllocator(32 * MiB, 16 * MiB), context: { cr3: pt.root } });
    const w = shadow.translate(0x40_1000, ACCESS.WRITE);
    expect([w.status, w.event, w.address]).toEqual(['ok', 'mmio', 48 * MiB]);
    expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('hit');
    expect(shadow.translate(0x40_1000, ACCESS.WRITE).event).toBe('mmio');
  });
});

describe('shadow paging: partial writes and tables outside guest RAM', () => {
  it('emulates 1-, 2- and 4-byte guest writes to a PTE (each resyncs the entry)', () => {
    const { memory, pt, shadow, toHost } = setup();
    pt.map(0x40_1000, 0x30_0000, { accessed: true, dirty: true });
    const pteGpa = pt.existingEntry(0x40_1000, 1);
    pt.map(0x60_0000, pteGpa - (pteGpa % 4096), { accessed: true, dirty: true });
    const pteLinear = 0x60_0000 + (pteGpa % 4096);
    shadow.translate(0x40_1000, ACCESS.READ);
    shadow.write(pteLinear + 2, 1, 0x31); // frame byte: 0x30_0000 -> 0x31_0000
    expect(memory.read32(toHost(pteGpa)) >>> 12).toBe(0x310);
    expect(shadow.translate(0x40_1000, ACCESS.READ).address).toBe(0x31_0000 + 16 * MiB);
    shadow.write(pteLinear + 2, 2, 0x0032);
    expect(shadow.translate(0x40_1000, ACCESS.READ).address).toBe(0x32_0000 + 16 * MiB);
    shadow.write(pteLinear, 4, 0);
    expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('guest-fault');
    expect(() => shadow.write(pteLinear, 3, 0)).toThrow(/1, 2, 4 or 8/);
    expect(() => shadow.write(0x60_0ffc, 8, 0)).toThrow(/crosses a page/);
    expect(() => shadow.emulateWrite(0x200_0000, 8, 0)).toThrow(/no memslot/);
  });

  it('a guest paging structure outside every memslot exits as MMIO', () => {
    const { memory, pt, shadow, toHost } = setup();
    pt.map(0x40_1000, 0x30_0000);
    const pde = toHost(pt.existingEntry(0x40_1000, 2));
    memory.write32(pde, (0x200_0000 | 0x7) >>> 0); // the PT now lies at gpa 32 MiB: no memslot
    const r = shadow.translate(0x40_1000, ACCESS.READ);
    expect([r.status, r.event, r.guestPhysicalAddress]).toEqual(['no-memslot', 'mmio', 0x200_0000 + 8]);
  });
});
