// X86Mmu for a host: the invalidation epoch a CPU-side translation cache
// checks, EPT on/off at run time, 64-bit INVLPG operands, the clock option.
import { Clock, RecordingTracer } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { EptBuilder } from '../ept/ept-builder.js';
import { makeMemory } from '../test-support/fixtures.js';
import { Tlb } from '../tlb/tlb.js';
import { X86PageTableBuilder } from './page-table-builder.js';
import { ACCESS } from './regs.js';
import { X86Mmu } from './x86-mmu.js';

function build() {
  const { memory, tables } = makeMemory();
  const pt = new X86PageTableBuilder(memory, tables);
  pt.map(0x40_0000, 0x10_0000, { accessed: true, dirty: true });
  // An upper-half mapping: bits 47:0 of 0xffff_8000_0000_1000 (PML4 entry 256).
  pt.map(0x8000_0000_1000, 0x11_0000, { accessed: true, dirty: true });
  const mmu = new X86Mmu(memory, { context: { cr3: pt.root }, tlb: { entries: 16, ways: 4 } });
  const ept = new EptBuilder(memory, tables);
  ept.identityMap(0, 0x400_0000, { pageSize: 0x20_0000 });
  return { memory, tables, pt, mmu, ept };
}

describe('the invalidation epoch (a CPU-side micro-TLB knows when it is stale)', () => {
  it('is stable across hits, misses and fills, and changes at every invalidation and context change', () => {
    const { mmu } = build();
    const e0 = mmu.epoch;
    mmu.translate(0x40_0000, ACCESS.READ);
    mmu.translate(0x40_0000, ACCESS.READ);
    expect(mmu.epoch).toBe(e0);
    const steps: [string, () => void][] = [
      ['INVLPG', () => mmu.invlpg(0x40_0000)],
      ['INVLPG of an address nothing caches', () => mmu.invlpg(0x7000_0000)],
      ['MOV to CR3', () => mmu.movToCr3(BigInt(mmu.context.cr3))],
      ['MOV to CR4', () => mmu.movToCr4({ pge: true, pcide: false, smep: false })],
      ['INVPCID', () => mmu.invpcid(2, 0)],
      ['INVVPID', () => mmu.invvpid(2, 0)],
      ['INVEPT', () => mmu.invept(2, 0n)],
      ['VM transition without VPID', () => mmu.vmTransitionWithoutVpid()],
      ['VPID change', () => (mmu.vpid = 3)],
      ['direct context write', () => mmu.contextChanged()],
      ['EPT on', () => mmu.setEptEnabled(true)],
    ];
    for (const [what, step] of steps) {
      const before = mmu.epoch;
      step();
      expect(mmu.epoch, what).toBeGreaterThan(before);
    }
  });

  it('a #PF that drops the address bumps it; Tlb.epoch counts every invalidation, even one that finds nothing', () => {
    const { mmu } = build();
    const e = mmu.epoch;
    expect(mmu.translate(0x50_0000, ACCESS.READ).status).toBe('page-fault');
    expect(mmu.epoch).toBeGreaterThan(e);
    const tlb = new Tlb();
    tlb.invalidateAll();
    tlb.invalidateAddress(0, 0, 0, 0x1000, true);
    expect(tlb.epoch).toBe(2);
    tlb.restoreState(tlb.saveState());
    expect(tlb.epoch).toBe(3);
  });
});

describe('EPT on and off at run time (one pCPU hosting shadow-paging and EPT guests)', () => {
  it('switches walkers without a flush: linear and combined mappings are tagged apart (SDM 3C 28.3.1)', () => {
    const { mmu, ept } = build();
    expect([mmu.eptEnabled, mmu.nested]).toEqual([false, null]);
    expect(() => mmu.setEptp(ept.eptp())).toThrow(/needs EPT enabled/);
    expect(mmu.translate(0x40_0000, ACCESS.READ).address).toBe(0x10_0000);
    mmu.setEptEnabled(true);
    mmu.setEptp(ept.eptp());
    const r = mmu.translate(0x40_0000, ACCESS.READ);
    expect([r.status, r.address, r.references]).toEqual(['ok', 0x10_0000, 19]);
    mmu.setEptEnabled(false);
    // The linear mapping cached before is still there: a hit with no references.
    expect(mmu.translate(0x40_0000, ACCESS.READ).references).toBe(0);
    mmu.setEptEnabled(true);
    expect(mmu.nested?.ept.getEptp()).toBe(ept.eptp());
    expect(mmu.translate(0x40_0000, ACCESS.READ).references).toBe(0);
    expect(() => mmu.setEptEnabled(1 as unknown as boolean)).toThrow(/takes a boolean, got 1/);
  });

  it('a state saved with EPT off keeps the EPTP for the next switch; restore takes the saved mode', () => {
    const { memory, mmu, ept } = build();
    mmu.setEptEnabled(true);
    mmu.setEptp(ept.eptp());
    mmu.setEptEnabled(false);
    const saved = JSON.parse(JSON.stringify(mmu.saveState())) as Record<string, unknown>;
    const fresh = new X86Mmu(memory, { ept: true, tlb: { entries: 16, ways: 4 } });
    fresh.restoreState(saved);
    expect(fresh.eptEnabled).toBe(false);
    fresh.setEptEnabled(true);
    expect(fresh.nested?.ept.getEptp()).toBe(ept.eptp());
    expect(() => fresh.restoreState({ ...saved, eptEnabled: true, nested: undefined })).toThrow(/eptEnabled but no nested/);
    expect(fresh.eptEnabled).toBe(true);
  });
});

describe('64-bit INVLPG, INVPCID and INVVPID operands (upper-half addresses)', () => {
  it('invalidates an upper-half address given as an unsigned bigint; a number of the same low bits is non-canonical, a no-op (SDM 2 "INVLPG")', () => {
    const { mmu } = build();
    const [hi, lo] = [0xffff_8000, 0x1000];
    expect(mmu.translate64(hi, lo, ACCESS.READ).address).toBe(0x11_0000);
    expect(mmu.translate64(hi, lo, ACCESS.READ).references).toBe(0);
    mmu.invlpg(0x8000_0000_1000); // bit 47 set, bits 63:48 clear: non-canonical
    expect(mmu.translate64(hi, lo, ACCESS.READ).references).toBe(0);
    mmu.invlpg(0xffff_8000_0000_1000n);
    expect(mmu.translate64(hi, lo, ACCESS.READ).references).toBe(4);
    mmu.invlpg64(hi, lo);
    expect(mmu.translate64(hi, lo, ACCESS.READ).references).toBe(4);
    mmu.invpcid(0, 0, 0xffff_8000_0000_1000n);
    expect(mmu.translate64(hi, lo, ACCESS.READ).references).toBe(4);
    expect(() => mmu.invlpg(-1n)).toThrow(/unsigned 64-bit value, got -1n/);
    expect(() => mmu.invlpg(2 ** 60)).toThrow(/INVLPG linear address must be a non-negative safe integer/);
    expect(() => mmu.invlpg64(2 ** 32, 0)).toThrow(/halves must be unsigned 32-bit integers, got hi 4294967296 \(0x100000000\), lo 0/);
  });
});

describe('the clock option (a core Clock, as every package; `now` still works)', () => {
  it('stamps trace events with clock.now()', () => {
    const { memory, pt } = build();
    const clock = new Clock();
    clock.advance(1234);
    const tracer = new RecordingTracer();
    const mmu = new X86Mmu(memory, { context: { cr3: pt.root }, tracer, clock });
    mmu.translate(0x40_0000, ACCESS.READ);
    expect(tracer.events().map((e) => e.cycle)).toEqual([1234, 1234]);
    const old = new RecordingTracer();
    new X86Mmu(memory, { context: { cr3: pt.root }, tracer: old, now: () => 7 }).translate(0x40_0000, ACCESS.READ);
    expect(old.events().map((e) => e.cycle)).toEqual([7, 7]);
  });
});
