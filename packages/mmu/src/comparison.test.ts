// Shadow paging versus nested paging on the same memory-intensive guest
// workload (Linux Documentation/virt/kvm/x86/mmu.rst; SDM 3C 28.2.1): the counters a simulator compares.
import { PhysicalMemory } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { PageAllocator } from './common/page-allocator.js';
import { EptBuilder } from './ept/ept-builder.js';
import { Memslots } from './shadow/memslots.js';
import { ShadowMmu } from './shadow/shadow-mmu.js';
import { X86PageTableBuilder } from './x86/page-table-builder.js';
import { ACCESS, PTE_LO } from './x86/regs.js';
import { X86Mmu } from './x86/x86-mmu.js';

const MiB = 0x10_0000;
const PAGES = 256;

/** Guest RAM gpa [0, 16 MiB) at host 16 MiB; guest tables in gpa [8, 16) MiB. */
function guest() {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 64 * MiB);
  const memslots = new Memslots();
  memslots.add({ id: 0, guestPhysical: 0, size: 16 * MiB, hostPhysical: 16 * MiB });
  const pt = new X86PageTableBuilder(memory, new PageAllocator(8 * MiB, 8 * MiB), 4, (g) => memslots.translate(g));
  for (let p = 0; p < PAGES; p++) pt.map(0x4000_0000 + p * 4096, p * 4096);
  return { memory, memslots, pt };
}

/** A plain test first, expect only on a failure: an expect per access costs more than the translation. */
function expectOk(status: string): void {
  if (status !== 'ok') expect(status).toBe('ok');
}

/** Touch every page (read then write), then the guest remaps 16 pages through PTE writes, then touch again. */
function workload(access: (linear: number, write: boolean) => void, writePte: (index: number, frame: number) => void): void {
  for (let round = 0; round < 2; round++) {
    for (let p = 0; p < PAGES; p++) access(0x4000_0000 + p * 4096, false);
    for (let p = 0; p < PAGES; p++) access(0x4000_0000 + p * 4096, true);
    if (round === 0) for (let p = 0; p < 16; p++) writePte(p, 0x20_0000 + p * 4096);
  }
}

describe('shadow versus nested paging: what each costs on the same workload', () => {
  it('shadow paging exits on first touches, first writes (dirty tracking) and PTE writes; walks stay 4 references', () => {
    const g = guest();
    const shadow = new ShadowMmu(g.memory, { memslots: g.memslots, shadowPages: new PageAllocator(32 * MiB, 16 * MiB), context: { cr3: g.pt.root } });
    workload(
      (linear, write) => expectOk(shadow.translate(linear, write ? ACCESS.WRITE : ACCESS.READ).status),
      (index, frame) => shadow.emulateWrite(g.pt.existingEntry(0x4000_0000 + index * 4096, 1), 8, (frame | PTE_LO.P | PTE_LO.RW | PTE_LO.US) >>> 0),
    );
    const s = shadow.stats();
    // First read of each page and first write of each page exit; the remapped 16 pages (A = 0 after the guest's write) exit again twice.
    expect(s.exits).toBe(PAGES * 2 + 16 * 2);
    expect(s.emulatedWrites).toBe(16);
    expect(s.hits).toBe(PAGES * 4 - s.exits);
    // Every exit walks the guest tables in software (4 entries); hardware walks read at most 4.
    expect(s.guestReferences).toBe(s.exits * 4);
    expect(s.hardwareReferences).toBeLessThanOrEqual(s.accesses * 4);
  });

  it('with the same TLB in front of shadow paging, a hit costs no walk: references are charged only on TLB misses', () => {
    const g = guest();
    const shadow = new ShadowMmu(g.memory, { memslots: g.memslots, shadowPages: new PageAllocator(32 * MiB, 16 * MiB), context: { cr3: g.pt.root }, tlb: { entries: 64, ways: 4 } });
    workload(
      (linear, write) => expectOk(shadow.translate(linear, write ? ACCESS.WRITE : ACCESS.READ).status),
      (index, frame) => shadow.emulateWrite(g.pt.existingEntry(0x4000_0000 + index * 4096, 1), 8, (frame | PTE_LO.P | PTE_LO.RW | PTE_LO.US) >>> 0),
    );
    const s = shadow.stats();
    const tlb = shadow.tlb!;
    // The same exits as without a TLB (the TLB never hides a write-protect or dirty-tracking fault).
    expect(s.exits).toBe(PAGES * 2 + 16 * 2);
    expect(s.tlbHits).toBe(tlb.hits);
    expect(tlb.hits + tlb.misses).toBe(s.accesses);
    // Hardware walks only on TLB misses, at most 4 references each; each PTE rewrite changed a present spte: a remote flush.
    expect(s.hardwareReferences).toBeLessThanOrEqual(tlb.misses * 4);
    expect(s.remoteFlushes).toBe(16);
  });

  it('nested paging never exits for guest page-table activity but pays up to 24 references per TLB miss', () => {
    const g = guest();
    const tables = new PageAllocator(48 * MiB, 16 * MiB);
    const ept = new EptBuilder(g.memory, tables);
    // 4 KiB EPT pages (a 4-level EPT walk per guest reference) over what the guest touches: its data
    // pages [0, 1 MiB), the frames it remaps to at 2 MiB, and its tables at 8 MiB (building all 16 MiB costs more than the test).
    for (const [from, size] of [[0, PAGES * 4096], [0x20_0000, 16 * 4096], [8 * MiB, 16 * 4096]] as const) {
      for (let a = from; a < from + size; a += 4096) ept.map(a, a + 16 * MiB);
    }
    const mmu = new X86Mmu(g.memory, { ept: true, context: { cr3: g.pt.root }, tlb: { entries: 64, ways: 4 } });
    mmu.setEptp(ept.eptp(true));
    workload(
      (linear, write) => expectOk(mmu.translate(linear, write ? ACCESS.WRITE : ACCESS.READ).status),
      (index, frame) => {
        const pte = g.memslots.translate(g.pt.existingEntry(0x4000_0000 + index * 4096, 1));
        g.memory.write32(pte, (frame | PTE_LO.P | PTE_LO.RW | PTE_LO.US) >>> 0);
        mmu.invlpg(0x4000_0000 + index * 4096);
      },
    );
    const s = mmu.stats();
    expect(mmu.nested!.stats().exits).toBe(0);
    expect(s.walkReferences).toBeLessThanOrEqual(s.walks * 24);
    expect(s.eptReferences).toBeGreaterThan(s.walkReferences / 2);
    expect(s.tlbMisses).toBe(s.walks);
  });
});
