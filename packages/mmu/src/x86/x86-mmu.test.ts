import { RecordingTracer, UsageError } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { EptBuilder } from '../ept/ept-builder.js';
import { makeMemory } from '../test-support/fixtures.js';
import { movToCr4 } from '../tlb/invalidation.js';
import { NO_EP4TA } from '../tlb/tlb.js';
import { X86PageTableBuilder } from './page-table-builder.js';
import { ACCESS } from './regs.js';
import { X86Mmu } from './x86-mmu.js';

function build(ept = false) {
  const { memory, tables } = makeMemory();
  const pt = new X86PageTableBuilder(memory, tables);
  for (let p = 0; p < 16; p++) pt.map(0x40_0000 + p * 4096, 0x10_0000 + p * 4096, { global: p % 4 === 0 });
  const tracer = new RecordingTracer();
  const mmu = new X86Mmu(memory, { context: { cr3: pt.root, cr4Pge: true }, ept, tlb: { entries: 8, ways: 2 }, tracer });
  if (ept) {
    const e = new EptBuilder(memory, tables);
    e.identityMap(0, 0x400_0000, { pageSize: 0x20_0000 });
    mmu.setEptp(e.eptp(true));
  }
  return { memory, pt, mmu, tracer };
}

describe('X86Mmu: TLB in front of the walker (SDM 3A 4.10.2 "Translation Lookaside Buffers")', () => {
  it('emits mmu.walk, tlb.miss and tlb.hit trace events when a tracer is attached', () => {
    const { mmu, tracer } = build();
    mmu.translate(0x40_0000, ACCESS.READ);
    mmu.translate(0x40_0000, ACCESS.READ);
    const kinds = tracer.events().map((e) => e.kind);
    expect(kinds).toEqual(['tlb.miss', 'mmu.walk', 'tlb.hit']);
    expect(mmu.stats()).toEqual({ translations: 2, tlbHits: 1, tlbMisses: 1, walks: 1, walkReferences: 4, eptReferences: 0, pagingStructureCacheHits: 0 });
  });

  it('with EPT A/D, a write through a combined entry filled by a read walks again and sets the EPT dirty flag (SDM 3C 28.2.4)', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    pt.map(0x40_0000, 0x10_0000, { accessed: true, dirty: true });
    const e = new EptBuilder(memory, tables);
    e.identityMap(0, 0x400_0000, { pageSize: 0x20_0000 });
    const mmu = new X86Mmu(memory, { ept: true, context: { cr3: pt.root } });
    mmu.setEptp(e.eptp(true));
    mmu.translate(0x40_0000, ACCESS.READ);
    const leaf = e.entryFor(0x10_0000, 2);
    expect(memory.read32(leaf) & 0x200).toBe(0);
    expect(mmu.translate(0x40_0000, ACCESS.WRITE).references).toBeGreaterThan(0);
    expect(memory.read32(leaf) & 0x200).toBe(0x200);
    expect(mmu.translate(0x40_0000, ACCESS.WRITE).references).toBe(0);
  });

  it('counts EPT references separately in EPT mode', () => {
    const { mmu } = build(true);
    mmu.translate(0x40_0000, ACCESS.READ);
    const s = mmu.stats();
    expect([s.walks, s.walkReferences, s.eptReferences]).toEqual([1, 19, 15]); // 2 MiB EPT pages: 3 per translation
  });

  it('MOV to CR4 that changes PGE flushes global entries too (SDM 3A 4.10.4.1)', () => {
    const { mmu } = build();
    mmu.translate(0x40_0000, ACCESS.READ);
    mmu.translate(0x40_1000, ACCESS.READ);
    expect(mmu.tlb.size).toBe(2);
    // SMEP 0 -> 1 flushes the current PCID's entries (globals tagged with it too: over-invalidation is always allowed).
    movToCr4(mmu.tlb, mmu.context, mmu.vpid, { pge: true, pcide: false, smep: true });
    expect(mmu.tlb.size).toBe(0);
    mmu.translate(0x40_0000, ACCESS.READ);
    movToCr4(mmu.tlb, mmu.context, mmu.vpid, { pge: true, pcide: false, smep: true });
    expect(mmu.tlb.size).toBe(1); // no change: no flush
    mmu.context.cr4Pcide = false;
    mmu.movToCr4({ pge: false, pcide: false, smep: true });
    expect(mmu.tlb.size).toBe(0);
    expect(mmu.context.cr4Pge).toBe(false);
  });

  it('without VPIDs, VM entries and exits drop VPID 0 mappings (SDM 3C 28.3.3.1)', () => {
    const { mmu } = build();
    mmu.translate(0x40_0000, ACCESS.READ);
    mmu.vpid = 5;
    mmu.translate(0x40_0000, ACCESS.READ);
    mmu.vmTransitionWithoutVpid();
    expect(mmu.tlb.size).toBe(1);
    expect(mmu.tlb.lookup(5, 0, NO_EP4TA, 0, 0x40_0000)).toBeGreaterThanOrEqual(0);
  });

  for (const ept of [false, true]) {
    it(`save, restore into a fresh MMU, continue equals never stopping (${ept ? 'EPT' : 'native'})`, () => {
      const run = (mmu: X86Mmu, from: number, to: number): number[] => {
        const seen: number[] = [];
        for (let k = from; k < to; k++) {
          const r = mmu.translate(0x40_0000 + ((k * 7) % 20) * 4096, k % 3 === 0 ? ACCESS.WRITE : ACCESS.READ);
          seen.push(r.status === 'ok' ? r.address : -r.errorCode - 1, r.references);
        }
        return seen;
      };
      const a = build(ept);
      run(a.mmu, 0, 30);
      const saved = JSON.parse(JSON.stringify(a.mmu.saveState()));
      const reference = run(a.mmu, 30, 80);
      const b = build(ept);
      // Same memory contents as `a` at the save point: replay the first 30 on b's own memory.
      run(b.mmu, 0, 30);
      const fresh = new X86Mmu(b.memory, { ept, tlb: { entries: 8, ways: 2 } });
      fresh.restoreState(saved);
      expect(run(fresh, 30, 80)).toEqual(reference);
      expect(fresh.tlb.lookup(0, 0, ept ? fresh.nested!.ept.ep4ta : NO_EP4TA, 0, 0x40_0000)).toBeGreaterThanOrEqual(-1);
      // EPT on/off is not fixed at construction: a restore takes the saved mode.
      const other = new X86Mmu(b.memory, { ept: !ept, tlb: { entries: 8, ways: 2 } });
      other.restoreState(saved);
      expect(other.eptEnabled).toBe(ept);
      // A bad part is rejected before anything changes.
      const before = JSON.stringify(fresh.saveState());
      expect(() => fresh.restoreState({ ...saved, tlb: { ...saved.tlb, live: [[0, 0, 13]] } })).toThrow(/live\[0\]/);
      expect(JSON.stringify(fresh.saveState())).toBe(before);
    });
  }
});

describe('X86Mmu bad input', () => {
  it('rejects a bad access (even on a TLB hit), a bad linear address and a VPID outside 16 bits', () => {
    const { mmu } = build();
    expect(mmu.translate(0x40_0000, ACCESS.READ).status).toBe('ok');
    expect(() => mmu.translate(0x40_0000, ACCESS.USER | ACCESS.IMPLICIT)).toThrow(UsageError);
    expect(() => mmu.translate(0x40_0000, 0x40)).toThrow(/got 64/);
    expect(() => mmu.translate(-0x1000, ACCESS.READ)).toThrow(/linear address/);
    for (const vpid of [-1, 0x1_0000, 1.5]) expect(() => (mmu.vpid = vpid)).toThrow(/VPID/);
    expect(() => mmu.invlpg(-1)).toThrow(/INVLPG linear address/);
    expect(() => mmu.invpcid(0, 0, 0.5)).toThrow(/INVPCID linear address/);
    expect(() => mmu.invvpid(0, 1, Number.NaN)).toThrow(/INVVPID linear address/);
    mmu.vpid = 0xffff;
    expect(mmu.vpid).toBe(0xffff);
  });
});

describe('SDM 2 "INVLPG" (footnote) and 3A 4.10.2.3: a large page cached as several entries', () => {
  it('INVLPG of one address drops every piece of a guest 2 MiB page that EPT maps with 4 KiB pages', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    pt.map(0x20_0000, 0x40_0000, { pageSize: 0x20_0000 });
    const e = new EptBuilder(memory, tables);
    e.identityMap(0, 0x400_0000); // 4 KiB EPT pages: combined entries are 4 KiB pieces
    const mmu = new X86Mmu(memory, { context: { cr3: pt.root }, ept: true, tlb: { entries: 16, ways: 4 } });
    mmu.setEptp(e.eptp());
    expect(mmu.translate(0x20_0000, ACCESS.READ).pageSize).toBe(4096);
    expect(mmu.translate(0x20_1000, ACCESS.READ).address).toBe(0x40_1000);
    expect(mmu.tlb.size).toBe(2);
    // The guest moves its 2 MiB page and invalidates one address inside it.
    pt.map(0x20_0000, 0x60_0000, { pageSize: 0x20_0000 });
    mmu.invlpg(0x20_0000);
    expect(mmu.tlb.size).toBe(0);
    expect(mmu.translate(0x20_1000, ACCESS.READ).address).toBe(0x60_1000);
    // INVVPID individual-address (and INVPCID type 0) work on the same page.
    mmu.vpid = 3;
    mmu.translate(0x20_0000, ACCESS.READ);
    mmu.translate(0x20_1000, ACCESS.READ);
    expect(mmu.tlb.size).toBe(3);
    expect(mmu.invvpid(0, 3, 0x20_0000)).toBe(0);
    expect(mmu.tlb.size).toBe(1); // the VPID 0 piece stays
  });
});

describe('X86Mmu save/restore with non-default EPT capabilities', () => {
  it('accepts a saved EPTP that is valid for this MMU\'s MAXPHYADDR (52) though not for the default (46)', () => {
    const { memory } = makeMemory();
    const a = new X86Mmu(memory, { ept: true, eptOptions: { maxPhyAddr: 52 } });
    a.setEptp((1n << 48n) | 0x1en);
    const b = new X86Mmu(memory, { ept: true, eptOptions: { maxPhyAddr: 52 } });
    b.restoreState(JSON.parse(JSON.stringify(a.saveState())));
    expect(b.nested?.ept.getEptp()).toBe((1n << 48n) | 0x1en);
    expect(() => new X86Mmu(memory, { ept: true }).restoreState(JSON.parse(JSON.stringify(a.saveState())))).toThrow(/reserved bits/);
  });
});
