/**
 * What a KVM x86 vCPU without EPT needs from the shadow MMU, driven the way
 * KVM drives it (Linux arch/x86/kvm/mmu/mmu.c, paging_tmpl.h; Documentation/virt/kvm/x86/mmu.rst):
 * MMIO sptes with a reserved bit and the fast MMIO path, dirty logging
 * through write-protected sptes, and a run of guest events with the
 * counters each one moves.
 */
import { KVM_MEM_LOG_DIRTY_PAGES, PhysicalMemory, UsageError } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { PageAllocator } from '../common/page-allocator.js';
import { X86PageTableBuilder } from '../x86/page-table-builder.js';
import { X86PageWalker } from '../x86/page-walker.js';
import { X86PagingContext } from '../x86/paging-context.js';
import { ACCESS, PFEC, PTE_LO } from '../x86/regs.js';
import { Memslots } from './memslots.js';
import { ShadowMmu } from './shadow-mmu.js';
import { SHADOW_HOST_MAXPHYADDR, ShadowPageTables, mmioSpteGfn } from './shadow-page-tables.js';

const MiB = 0x10_0000;

/** Guest RAM: slot 0 (gpa [0, 16M) at hpa 16M); guest tables at gpa 8M; shadow pool at hpa 32M; nothing at gpa 32M (MMIO). */
function setup(options: { manualDirtyLogProtect?: boolean; tlb?: boolean } = {}) {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 64 * MiB);
  const memslots = new Memslots({ manualDirtyLogProtect: options.manualDirtyLogProtect ?? false });
  memslots.add({ id: 0, guestPhysical: 0, size: 16 * MiB, hostPhysical: 16 * MiB });
  const pt = new X86PageTableBuilder(memory, new PageAllocator(8 * MiB, 8 * MiB), 4, (gpa) => memslots.translate(gpa));
  const ctx = new X86PagingContext({ cr3: pt.root, eferNxe: true, cr0Wp: true });
  const vm = new ShadowPageTables(memory, { memslots, shadowPages: new PageAllocator(32 * MiB, 4096 * 4096) });
  const shadow = new ShadowMmu(memory, { vm, context: ctx, ...(options.tlb === true ? { tlb: { entries: 16, ways: 4 } } : {}) });
  const gpte = (linear: number): number => memslots.translate(pt.existingEntry(linear, 1));
  return { memory, memslots, pt, ctx, vm, shadow, gpte };
}

describe('MMIO sptes: a reserved-bit spte per MMIO page and KVM\'s fast MMIO path (handle_mmio_page_fault)', () => {
  it('the first access walks the guest tables and leaves an MMIO spte; the next faults with RSVD and is answered from it', () => {
    const { memory, pt, shadow } = setup();
    pt.map(0x40_1000, 0x200_0000); // gpa 32 MiB: no memslot
    const first = shadow.translate(0x40_1008, ACCESS.READ);
    expect([first.status, first.event, first.guestPhysicalAddress]).toEqual(['no-memslot', 'mmio', 0x200_0008]);
    const walked = shadow.stats().guestReferences;
    expect(walked).toBeGreaterThan(0);
    // The hardware now faults on the spte's reserved bit 51: SDM 3A 4.7, RSVD = 1 with P = 1.
    const hw = shadow.hardwareTranslate(0x40_1010, ACCESS.READ);
    expect([hw.event, hw.errorCode]).toEqual(['page-fault-exit', PFEC.P | PFEC.RSVD]);
    const again = shadow.pageFault(0x40_1010, ACCESS.READ, hw.errorCode);
    expect([again.status, again.event, again.guestPhysicalAddress, again.linearAddress]).toEqual(['no-memslot', 'mmio', 0x200_0010, 0x40_1010]);
    const s = shadow.stats();
    expect([s.mmioExits, s.mmioSpteExits, s.guestReferences]).toEqual([2, 1, walked]);
    // The leaf really is a reserved-bit entry naming the guest frame: a host walk of the shadow tables says so.
    const host = new X86PageWalker(memory);
    const r = host.walk(new X86PagingContext({ cr3: shadow.shadowRoot, maxPhyAddr: SHADOW_HOST_MAXPHYADDR }), 0x40_1000, ACCESS.READ);
    expect([r.status, r.errorCode, r.level]).toEqual(['page-fault', PFEC.P | PFEC.RSVD, 1]);
    expect(mmioSpteGfn(host.lastEntryLo(1), host.lastEntryHi(1))).toBe(0x2000);
    expect(mmioSpteGfn(host.lastEntryLo(2), host.lastEntryHi(2))).toBe(-1);
  });

  it('an access the cached rights do not allow takes the full path: a user read of a supervisor page is a guest #PF (SDM 3A 4.6.1)', () => {
    const { pt, shadow } = setup();
    pt.map(0x40_1000, 0x200_0000, { user: false });
    expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('mmio');
    const u = shadow.translate(0x40_1000, ACCESS.USER);
    expect([u.status, u.event, u.errorCode]).toEqual(['page-fault', 'guest-fault', PFEC.P | PFEC.U]);
    expect(shadow.stats().mmioSpteExits).toBe(0);
  });

  it('a write to an MMIO page whose guest D flag is clear walks (and sets D, SDM 3A 4.8); later writes use the spte', () => {
    const { memory, pt, shadow, gpte } = setup();
    pt.map(0x40_1000, 0x200_0000);
    expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('mmio');
    expect(memory.read32(gpte(0x40_1000)) & PTE_LO.D).toBe(0);
    expect(shadow.translate(0x40_1004, ACCESS.WRITE).event).toBe('mmio');
    expect(memory.read32(gpte(0x40_1000)) & PTE_LO.D).toBe(PTE_LO.D);
    expect(shadow.stats().mmioSpteExits).toBe(0);
    const w = shadow.translate(0x40_1008, ACCESS.WRITE);
    expect([w.event, w.guestPhysicalAddress]).toEqual(['mmio', 0x200_0008]);
    expect(shadow.stats().mmioSpteExits).toBe(1);
  });

  it('a guest write to the PTE drops the MMIO spte; a new memslot over the frame zaps it (memslot generation)', () => {
    const { memslots, pt, shadow } = setup();
    pt.map(0x40_1000, 0x200_0000);
    shadow.translate(0x40_1000, ACCESS.READ);
    // The guest remaps the page to RAM: a store to its (write-protected) PTE, emulated.
    const pte = pt.existingEntry(0x40_1000, 1);
    shadow.emulateWrite(pte, 4, (0x30_0000 | PTE_LO.P | PTE_LO.RW | PTE_LO.US | PTE_LO.A) >>> 0);
    const r = shadow.translate(0x40_1010, ACCESS.READ);
    expect([r.status, r.address]).toEqual(['ok', 0x30_0010 + 16 * MiB]);
    // Back to MMIO at gpa 32 MiB, then RAM appears there.
    pt.map(0x40_2000, 0x200_0000);
    expect(shadow.translate(0x40_2000, ACCESS.READ).event).toBe('mmio');
    memslots.add({ id: 1, guestPhysical: 0x200_0000, size: MiB, hostPhysical: 60 * MiB });
    const ram = shadow.translate(0x40_2000, ACCESS.READ);
    expect([ram.status, ram.event, ram.address]).toEqual(['ok', 'fixed', 60 * MiB]);
  });

  it('host memory at or above 2^51 cannot be mapped by the shadow tables: bad-state naming the address', () => {
    const { memslots, pt, shadow } = setup();
    memslots.add({ id: 1, guestPhysical: 0x200_0000, size: MiB, hostPhysical: 2 ** 51 });
    pt.map(0x40_1000, 0x200_0000);
    expect(() => shadow.translate(0x40_1000, ACCESS.READ)).toThrow(/host-physical 0x8000000000000, at or above 2\^51/);
  });
});

describe('dirty logging through shadow sptes (api.rst 4.8 KVM_GET_DIRTY_LOG, 4.117 KVM_CLEAR_DIRTY_LOG)', () => {
  /** Guest pages 0x30_0000.. mapped at 0x40_0000.., slot 0 logging. */
  function logging(options: { manualDirtyLogProtect?: boolean; tlb?: boolean } = {}) {
    const s = setup(options);
    for (let i = 0; i < 4; i++) s.pt.map(0x40_0000 + i * 4096, 0x30_0000 + i * 4096);
    s.memslots.setFlags(0, KVM_MEM_LOG_DIRTY_PAGES);
    const page = (gpa: number): [number, number] => [Math.floor(gpa / 4096 / 32), 1 << ((gpa / 4096) % 32)];
    const isDirty = (log: Uint32Array, gpa: number): boolean => {
      const [w, bit] = page(gpa);
      return ((log[w] ?? 0) & bit) !== 0;
    };
    return { ...s, isDirty };
  }

  it('a write logs its page when the spte becomes writable; reads of clean pages do not; the read takes and re-protects', () => {
    const { shadow, vm, memslots, isDirty } = logging();
    expect(shadow.translate(0x40_0000, ACCESS.WRITE).event).toBe('fixed');
    expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('fixed');
    expect(isDirty(memslots.dirtyBitmap(0)!, 0x30_0000)).toBe(true);
    expect(isDirty(memslots.dirtyBitmap(0)!, 0x30_1000)).toBe(false);
    // Later writes need no exit: the spte is writable.
    expect(shadow.translate(0x40_0008, ACCESS.WRITE).event).toBe('hit');
    const flushes = vm.stats().remoteFlushes;
    const log = vm.getDirtyLog(0);
    expect(isDirty(log, 0x30_0000)).toBe(true);
    expect(isDirty(memslots.dirtyBitmap(0)!, 0x30_0000)).toBe(false);
    expect(vm.stats().remoteFlushes).toBe(flushes + 1);
    // Reads still hit; the next write faults (P = 1, W = 1), is fixed and logs the page again.
    expect(shadow.translate(0x40_0010, ACCESS.READ).event).toBe('hit');
    const hw = shadow.hardwareTranslate(0x40_0010, ACCESS.WRITE);
    expect([hw.event, hw.errorCode]).toEqual(['page-fault-exit', PFEC.P | PFEC.W]);
    expect(shadow.pageFault(0x40_0010, ACCESS.WRITE, hw.errorCode).event).toBe('fixed');
    expect(isDirty(memslots.dirtyBitmap(0)!, 0x30_0000)).toBe(true);
    // A read with nothing dirty protects nothing and flushes nothing.
    vm.getDirtyLog(0);
    const quiet = vm.stats().remoteFlushes;
    expect(Array.from(vm.getDirtyLog(0)).every((w) => w === 0)).toBe(true);
    expect(vm.stats().remoteFlushes).toBe(quiet);
  });

  it('a vCPU TLB is flushed by the re-protection, so the write after a log read exits (SDM 3A 4.10.4)', () => {
    const { shadow, vm, memslots, isDirty } = logging({ tlb: true });
    shadow.translate(0x40_0000, ACCESS.WRITE);
    expect(shadow.translate(0x40_0000, ACCESS.WRITE).event).toBe('hit');
    expect(shadow.translate(0x40_0000, ACCESS.WRITE).event).toBe('hit');
    expect(shadow.stats().tlbHits).toBe(1);
    vm.getDirtyLog(0);
    expect(shadow.translate(0x40_0000, ACCESS.WRITE).event).toBe('fixed');
    expect(isDirty(memslots.dirtyBitmap(0)!, 0x30_0000)).toBe(true);
  });

  it('emulated writes to guest page tables are logged (the emulator writes guest memory)', () => {
    const { shadow, pt, memslots, isDirty } = logging();
    shadow.translate(0x40_0000, ACCESS.READ);
    const pte = pt.existingEntry(0x40_0000, 1);
    const w = shadow.write(0x40_0000, 1, 0); // data page: a plain write
    expect(w.event).toBe('fixed');
    shadow.emulateWrite(pte, 8, (0x30_2000 | PTE_LO.P | PTE_LO.RW | PTE_LO.A | PTE_LO.D) >>> 0, 0);
    expect(isDirty(memslots.dirtyBitmap(0)!, pte)).toBe(true);
  });

  it('with manual protection the read leaves pages writable; KVM_CLEAR_DIRTY_LOG protects the cleared ones only', () => {
    const { shadow, vm, memslots, isDirty } = logging({ manualDirtyLogProtect: true });
    shadow.translate(0x40_0000, ACCESS.WRITE);
    shadow.translate(0x40_1000, ACCESS.WRITE);
    const log = vm.getDirtyLog(0);
    expect([isDirty(log, 0x30_0000), isDirty(log, 0x30_1000)]).toEqual([true, true]);
    expect(shadow.translate(0x40_0000, ACCESS.WRITE).event).toBe('hit');
    // Clear page 0x300 only (pages 0x300..0x33f: bit 0 of the 64-page range starting at page 0x300).
    const bitmap = new Uint32Array(2);
    bitmap[0] = 1;
    vm.clearDirtyLog(0, 0x300, 64, bitmap);
    expect([isDirty(memslots.dirtyBitmap(0)!, 0x30_0000), isDirty(memslots.dirtyBitmap(0)!, 0x30_1000)]).toEqual([false, true]);
    expect(shadow.translate(0x40_0000, ACCESS.WRITE).event).toBe('fixed');
    expect(shadow.translate(0x40_1000, ACCESS.WRITE).event).toBe('hit');
    expect(() => vm.clearDirtyLog(0, 0x301, 64, bitmap)).toThrow(/first page 769 must be a multiple of 64/);
  });

  it('needs core Memslots and a logging slot, naming what is wrong', () => {
    const { memory, vm, memslots } = logging();
    memslots.setFlags(0, 0);
    expect(() => vm.getDirtyLog(0)).toThrow('memslot 0 does not log dirty pages (set KVM_MEM_LOG_DIRTY_PAGES)');
    const plain = new ShadowPageTables(memory, { memslots: { translate: (gpa: number) => gpa, generation: 0 }, shadowPages: new PageAllocator(40 * MiB, 64 * 4096) });
    expect(() => plain.getDirtyLog(0)).toThrow(UsageError);
    expect(() => plain.getDirtyLog(0)).toThrow(/getDirtyLog needs the VM's memslots to be core's Memslots/);
  });
});

describe('a vCPU driven by guest events as KVM drives its shadow MMU', () => {
  it('#PF exits, MOV to CR3, INVLPG, guest page-table writes and a memslot change, each counted', () => {
    const { memory, pt, ctx, shadow, memslots } = setup({ tlb: true });
    pt.map(0x40_0000, 0x30_0000);
    pt.map(0x40_1000, 0x30_1000);
    const cr3a = ctx.cr3;
    // A second address space sharing the data pages.
    const other = new X86PageTableBuilder(memory, new PageAllocator(12 * MiB, MiB), 4, (gpa) => memslots.translate(gpa));
    other.map(0x40_0000, 0x30_1000);
    const step = (what: () => unknown): Record<string, number> => {
      const before = shadow.stats() as unknown as Record<string, number>;
      what();
      const after = shadow.stats() as unknown as Record<string, number>;
      return Object.fromEntries(Object.keys(after).filter((k) => after[k] !== before[k]).map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)]));
    };
    // Guest #PF exit (no spte yet): the hardware walk faults, KVM's handler fixes it.
    expect(step(() => shadow.translate(0x40_0000, ACCESS.READ))).toMatchObject({ accesses: 1, exits: 1, fixed: 1 });
    // The retried access walks the shadow tables (no exit) and fills the TLB; the next one hits the TLB.
    expect(step(() => shadow.translate(0x40_0000, ACCESS.READ))).toMatchObject({ accesses: 1, hits: 1 });
    expect(step(() => shadow.translate(0x40_0000, ACCESS.READ))).toMatchObject({ accesses: 1, hits: 1, tlbHits: 1 });
    // MOV to CR3 (intercepted): a new root, then back to the cached one.
    expect(step(() => shadow.setCr3(other.root))).toMatchObject({ rootMisses: 1, tlbFlushes: 1 });
    expect(shadow.translate(0x40_0000, ACCESS.READ).address).toBe(0x30_1000 + 16 * MiB);
    expect(step(() => shadow.setCr3(cr3a))).toMatchObject({ rootHits: 1, tlbFlushes: 1 });
    expect(shadow.translate(0x40_0000, ACCESS.READ).address).toBe(0x30_0000 + 16 * MiB);
    // INVLPG (intercepted): the leaf is dropped and refilled from the guest tables on the next access.
    expect(step(() => shadow.invlpg(0x40_0000))).toMatchObject({ invlpgs: 1, sptesZapped: 1 });
    expect(step(() => shadow.translate(0x40_0000, ACCESS.READ))).toMatchObject({ exits: 1, fixed: 1 });
    // A guest store to its own PTE: write-protected, emulated, the spte updated in place (SDM 3A 4.10.4.3: no INVLPG needed for a new mapping to be seen after a flush).
    const pte = pt.existingEntry(0x40_1000, 1);
    shadow.translate(0x40_1000, ACCESS.READ);
    const linearOfPte = 0x50_0000;
    pt.map(linearOfPte, pte - (pte % 4096));
    expect(step(() => shadow.write(linearOfPte + (pte % 4096), 4, (0x30_2000 | PTE_LO.P | PTE_LO.RW | PTE_LO.US | PTE_LO.A) >>> 0))).toMatchObject({ writeProtectExits: 1, emulatedWrites: 1, sptesUpdated: 1 });
    expect(shadow.translate(0x40_1000, ACCESS.READ).address).toBe(0x30_2000 + 16 * MiB);
    // A memslot change (KVM_SET_USER_MEMORY_REGION): every shadow page goes; the next access rebuilds.
    memslots.add({ id: 1, guestPhysical: 0x200_0000, size: MiB, hostPhysical: 60 * MiB });
    expect(step(() => shadow.translate(0x40_0000, ACCESS.READ))).toMatchObject({ zapAlls: 1, exits: 1, fixed: 1 });
  });
});
