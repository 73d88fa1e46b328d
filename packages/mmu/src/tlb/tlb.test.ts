import { CpuException, UsageError } from '@hvsim/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WalkResult } from '../common/walk-result.js';
import { PROPERTY_PARAMS, makeMemory, propertyShare } from '../test-support/fixtures.js';
import { X86PageTableBuilder } from '../x86/page-table-builder.js';
import { ACCESS, PFEC, PTE_LO } from '../x86/regs.js';
import { X86Mmu } from '../x86/x86-mmu.js';
import { X86PagingContext } from '../x86/paging-context.js';
import { NestedWalker } from '../nested/nested-walker.js';
import { EptBuilder } from '../ept/ept-builder.js';
import { INVEPT_TYPE, INVPCID_TYPE, INVVPID_TYPE, VM_INSTRUCTION_ERROR_INVALID_INVEPT_INVVPID } from './invalidation.js';
import { NO_EP4TA, Tlb } from './tlb.js';

function walkOf(address: number, pageSize = 4096): WalkResult {
  const w = new WalkResult();
  w.address = address;
  w.pageSize = pageSize;
  w.writable = true;
  w.user = true;
  w.executable = true;
  w.dirty = true;
  return w;
}

describe('Tlb geometry and replacement', () => {
  it('rejects a bad geometry naming the value', () => {
    expect(() => new Tlb({ entries: 48 })).toThrow(/entries must be a power of two.*48/);
    expect(() => new Tlb({ entries: 16, ways: 32 })).toThrow(/ways/);
    expect(() => new Tlb({ replacement: 'mru' as 'lru' })).toThrow(/mru/);
  });

  it('rejects tags its arrays cannot hold (VPID > 16 bits, PCID > 12 bits, an unaligned EP4TA), naming them', () => {
    const tlb = new Tlb();
    expect(() => tlb.fill(0x1_0000, 0, NO_EP4TA, 0, 0x1000, walkOf(0x2000), false)).toThrow(/65536/);
    expect(() => tlb.fill(0, 0x1000, NO_EP4TA, 0, 0x1000, walkOf(0x2000), false)).toThrow(/PCID/);
    expect(() => tlb.fill(0, 0, 0x1234, 0, 0x1000, walkOf(0x2000), false)).toThrow(/EP4TA/);
    expect(() => tlb.fill(-1, 0, NO_EP4TA, 0, 0x1000, walkOf(0x2000), false)).toThrow(UsageError);
    expect(tlb.size).toBe(0);
  });

  it('hits after a fill, keeps the page offset, and counts hits and misses', () => {
    const tlb = new Tlb();
    expect(tlb.lookup(0, 0, NO_EP4TA, 0, 0x5000)).toBe(-1);
    tlb.fill(0, 0, NO_EP4TA, 0, 0x5000, walkOf(0x9000), false);
    const i = tlb.lookup(0, 0, NO_EP4TA, 0, 0x5abc);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(tlb.physical(i, 0x5abc)).toBe(0x9abc);
    expect([tlb.hits, tlb.misses, tlb.fills]).toEqual([1, 1, 1]);
  });

  it('caches 2 MiB and 1 GiB pages as one entry each', () => {
    const tlb = new Tlb();
    tlb.fill(0, 0, NO_EP4TA, 0, 0x20_1234, walkOf(0x40_1234, 0x20_0000), false);
    tlb.fill(0, 0, NO_EP4TA, 1, 0x4000_0000, walkOf(0x8000_0000, 0x4000_0000), false);
    expect(tlb.physical(tlb.lookup(0, 0, NO_EP4TA, 0, 0x3f_fff0), 0x3f_fff0)).toBe(0x5f_fff0);
    expect(tlb.physical(tlb.lookup(0, 0, NO_EP4TA, 1, 0x7fff_0000), 0x7fff_0000)).toBe(0xbfff_0000);
    expect(tlb.size).toBe(2);
  });

  it('LRU evicts the least recently used way; FIFO the oldest fill', () => {
    for (const [replacement, survivor] of [
      ['lru', 0],
      ['fifo', 1],
    ] as const) {
      const tlb = new Tlb({ entries: 2, ways: 2, replacement });
      tlb.fill(0, 0, NO_EP4TA, 0, 0x0000, walkOf(0x1000), false);
      tlb.fill(0, 0, NO_EP4TA, 0, 0x1000, walkOf(0x2000), false);
      tlb.lookup(0, 0, NO_EP4TA, 0, 0x0000); // touch page 0
      tlb.fill(0, 0, NO_EP4TA, 0, 0x2000, walkOf(0x3000), false);
      expect(tlb.lookup(0, 0, NO_EP4TA, 0, survivor * 0x1000)).toBeGreaterThanOrEqual(0);
      expect(tlb.lookup(0, 0, NO_EP4TA, 0, (1 - survivor) * 0x1000)).toBe(-1);
    }
  });

  it('random replacement is deterministic for a seed', () => {
    const run = (): number[] => {
      const tlb = new Tlb({ entries: 4, ways: 4, replacement: 'random', seed: 7 });
      for (let p = 0; p < 32; p++) tlb.fill(0, 0, NO_EP4TA, 0, p * 0x1000, walkOf(p * 0x1000), false);
      return Array.from({ length: 32 }, (_, p) => tlb.lookup(0, 0, NO_EP4TA, 0, p * 0x1000));
    };
    expect(run()).toEqual(run());
  });
});

describe('SDM 3A 4.10.1 / SDM 3C 28.3.1: tags', () => {
  it('entries match only their VPID, PCID and EP4TA; global entries match any PCID', () => {
    const tlb = new Tlb();
    tlb.fill(1, 5, NO_EP4TA, 0, 0x5000, walkOf(0x9000), false);
    tlb.fill(1, 5, NO_EP4TA, 0, 0x6000, walkOf(0xa000), true);
    expect(tlb.lookup(2, 5, NO_EP4TA, 0, 0x5000)).toBe(-1);
    expect(tlb.lookup(1, 6, NO_EP4TA, 0, 0x5000)).toBe(-1);
    expect(tlb.lookup(1, 5, 0x1000, 0, 0x5000)).toBe(-1);
    expect(tlb.lookup(1, 6, NO_EP4TA, 0, 0x6000)).toBeGreaterThanOrEqual(0);
    expect(tlb.lookup(2, 6, NO_EP4TA, 0, 0x6000)).toBe(-1);
  });

  it('keeps the widest tags apart (VPID 0xffff, PCID 0xfff, 1 GiB pages of upper-half addresses) and reports every field', () => {
    // The tag packs VPID, PCID, G, the page size and V into one int32: the extremes must not alias.
    const tlb = new Tlb();
    const big = walkOf(0x4000_0000, 0x4000_0000);
    big.protectionKey = 13;
    big.writable = false;
    tlb.fill(0xffff, 0xfff, NO_EP4TA, 0xffff_ffff, 0xc000_0000, big, false);
    tlb.fill(0xfffe, 0xfff, NO_EP4TA, 0xffff_ffff, 0xc000_0000, walkOf(0x8000_0000, 0x4000_0000), true);
    const i = tlb.lookup(0xffff, 0xfff, NO_EP4TA, 0xffff_ffff, 0xc123_4567);
    expect(i).toBeGreaterThanOrEqual(0);
    const out = new WalkResult();
    tlb.readInto(i, 0xffff_ffff, 0xc123_4567, out);
    expect([out.address, out.pageSize, out.writable, out.user, out.executable, out.dirty, out.global, out.protectionKey, out.eptPermissions]).toEqual([0x4123_4567, 0x4000_0000, false, true, true, true, false, 13, 7]);
    expect(tlb.lookup(0xffff, 0xffe, NO_EP4TA, 0xffff_ffff, 0xc000_0000)).toBe(-1);
    // The global entry of VPID 0xfffe answers any PCID, and only VPID 0xfffe.
    expect(tlb.physical(tlb.lookup(0xfffe, 0, NO_EP4TA, 0xffff_ffff, 0xc000_0000), 0xc000_0000)).toBe(0x8000_0000);
    expect(tlb.lookup(0x7ffe, 0xfff, NO_EP4TA, 0xffff_ffff, 0xc000_0000)).toBe(-1);
    // 2 MiB and 4 KiB probes of the same address do not see the 1 GiB entries as theirs.
    tlb.fill(0xffff, 0xfff, NO_EP4TA, 0xffff_ffff, 0xc020_0000, walkOf(0x60_0000, 0x20_0000), false);
    expect(tlb.physical(tlb.lookup(0xffff, 0xfff, NO_EP4TA, 0xffff_ffff, 0xc020_0001), 0xc020_0001)).toBe(0x60_0001);
  });
});

describe('SDM 3A 4.10.4.1 "Operations that Invalidate TLBs and Paging-Structure Caches"', () => {
  function mmuSetup() {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    pt.map(0x40_0000, 0x10_0000, { accessed: true, dirty: true });
    pt.map(0x40_1000, 0x11_0000, { global: true, accessed: true, dirty: true });
    const mmu = new X86Mmu(memory, { context: { cr3: pt.root, cr4Pge: true, cr4Pcide: true } });
    return { memory, pt, mmu };
  }

  it('INVLPG drops the page for the current PCID and its global entry, not other pages', () => {
    const { mmu } = mmuSetup();
    mmu.translate(0x40_0000, ACCESS.READ);
    mmu.translate(0x40_1000, ACCESS.READ);
    expect(mmu.tlb.size).toBe(2);
    mmu.invlpg(0x40_1000);
    expect(mmu.tlb.lookup(0, 0, NO_EP4TA, 0, 0x40_1000)).toBe(-1);
    expect(mmu.tlb.lookup(0, 0, NO_EP4TA, 0, 0x40_0000)).toBeGreaterThanOrEqual(0);
  });

  it('MOV to CR3 flushes non-global entries of the new PCID unless bit 63 is set', () => {
    const { pt, mmu } = mmuSetup();
    mmu.translate(0x40_0000, ACCESS.READ);
    mmu.translate(0x40_1000, ACCESS.READ);
    mmu.movToCr3(BigInt(pt.root) | (1n << 63n));
    expect(mmu.tlb.size).toBe(2);
    mmu.movToCr3(BigInt(pt.root));
    expect(mmu.tlb.size).toBe(1);
    expect(mmu.tlb.isGlobal(mmu.tlb.lookup(0, 0, NO_EP4TA, 0, 0x40_1000))).toBe(true);
    // Another PCID's entries survive a CR3 load of PCID 0.
    mmu.movToCr3(BigInt(pt.root) | 3n);
    mmu.translate(0x40_0000, ACCESS.READ);
    mmu.movToCr3(BigInt(pt.root));
    expect(mmu.tlb.lookup(0, 3, NO_EP4TA, 0, 0x40_0000)).toBeGreaterThanOrEqual(0);
  });

  it('MOV to CR3 with bit 63 while CR4.PCIDE = 0, or bits above MAXPHYADDR, raises #GP(0)', () => {
    const { pt, mmu } = mmuSetup();
    mmu.context.cr4Pcide = false;
    expect(() => mmu.movToCr3(BigInt(pt.root) | (1n << 63n))).toThrow(CpuException);
    expect(() => mmu.movToCr3(1n << 50n)).toThrow(/MAXPHYADDR/);
  });

  it('INVPCID: types 0-3 and their #GP cases (SDM 2 "INVPCID")', () => {
    const { mmu } = mmuSetup();
    const fill = (): void => {
      mmu.translate(0x40_0000, ACCESS.READ);
      mmu.translate(0x40_1000, ACCESS.READ);
    };
    fill();
    mmu.invpcid(INVPCID_TYPE.INDIVIDUAL_ADDRESS, 0, 0x40_1000); // never drops a global translation
    expect(mmu.tlb.size).toBe(2);
    mmu.invpcid(INVPCID_TYPE.INDIVIDUAL_ADDRESS, 0, 0x40_0000);
    expect(mmu.tlb.size).toBe(1);
    fill();
    mmu.invpcid(INVPCID_TYPE.SINGLE_CONTEXT, 0);
    expect(mmu.tlb.size).toBe(1);
    fill();
    mmu.invpcid(INVPCID_TYPE.ALL_CONTEXT, 0);
    expect(mmu.tlb.size).toBe(1);
    mmu.invpcid(INVPCID_TYPE.ALL_CONTEXT_INCLUDING_GLOBALS, 0);
    expect(mmu.tlb.size).toBe(0);
    for (const [type, pcid, linear] of [
      [4, 0, 0],
      [1, 0x1000, 0],
      [0, 0, 0x8000_0000_0000],
    ] as const) {
      expect(() => mmu.invpcid(type, pcid, linear)).toThrow(CpuException);
    }
    mmu.context.cr4Pcide = false;
    expect(() => mmu.invpcid(INVPCID_TYPE.SINGLE_CONTEXT, 1)).toThrow(/PCIDE = 0/);
  });

  it('a page fault invalidates stale entries for the faulting address', () => {
    const { memory, pt, mmu } = mmuSetup();
    mmu.translate(0x40_0000, ACCESS.READ);
    const pte = pt.existingEntry(0x40_0000, 1);
    memory.write32(pte, memory.read32(pte) & ~2); // read-only now; the TLB still says writable
    mmu.context.cr0Wp = true;
    expect(mmu.translate(0x40_0000, ACCESS.WRITE).status).toBe('ok'); // stale hit is allowed until invalidated
    mmu.invlpg(0x40_0000);
    expect(mmu.translate(0x40_0000, ACCESS.WRITE).status).toBe('page-fault');
  });

  it('a write through a TLB entry whose D flag is clear walks again and sets D (SDM 3A 4.8)', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    pt.map(0x40_0000, 0x10_0000);
    const mmu = new X86Mmu(memory, { context: { cr3: pt.root } });
    mmu.translate(0x40_0000, ACCESS.READ);
    expect(mmu.translate(0x40_0000, ACCESS.WRITE).references).toBe(4);
    expect(memory.read32(pt.existingEntry(0x40_0000, 1)) & 0x40).toBe(0x40);
    expect(mmu.translate(0x40_0000, ACCESS.WRITE).references).toBe(0);
  });
});

describe('SDM 3C 28.3.3 "Invalidating Cached Translation Information": INVVPID and INVEPT', () => {
  it('INVVPID types, and VM-instruction error 28 for VPID 0, bad types and non-canonical addresses', () => {
    const tlb = new Tlb();
    const { memory } = makeMemory();
    const mmu = new X86Mmu(memory, { tlb });
    const fill = (): void => {
      for (const vpid of [0, 1, 2]) {
        tlb.fill(vpid, 0, NO_EP4TA, 0, 0x5000, walkOf(0x9000), false);
        tlb.fill(vpid, 0, NO_EP4TA, 0, 0x6000, walkOf(0xa000), true);
      }
    };
    fill();
    expect(mmu.invvpid(INVVPID_TYPE.INDIVIDUAL_ADDRESS, 1, 0x6000)).toBe(0);
    expect(tlb.lookup(1, 0, NO_EP4TA, 0, 0x6000)).toBe(-1);
    expect(tlb.size).toBe(5);
    expect(mmu.invvpid(INVVPID_TYPE.SINGLE_CONTEXT_RETAINING_GLOBALS, 2)).toBe(0);
    expect(tlb.lookup(2, 0, NO_EP4TA, 0, 0x6000)).toBeGreaterThanOrEqual(0);
    expect(tlb.lookup(2, 0, NO_EP4TA, 0, 0x5000)).toBe(-1);
    expect(mmu.invvpid(INVVPID_TYPE.SINGLE_CONTEXT, 2)).toBe(0);
    expect(tlb.lookup(2, 0, NO_EP4TA, 0, 0x6000)).toBe(-1);
    fill();
    expect(mmu.invvpid(INVVPID_TYPE.ALL_CONTEXT, 0)).toBe(0);
    expect(tlb.size).toBe(2); // VPID 0 entries stay
    expect(mmu.invvpid(INVVPID_TYPE.SINGLE_CONTEXT, 0)).toBe(VM_INSTRUCTION_ERROR_INVALID_INVEPT_INVVPID);
    expect(mmu.invvpid(4, 1)).toBe(28);
    expect(mmu.invvpid(INVVPID_TYPE.INDIVIDUAL_ADDRESS, 1, 0x8000_0000_0000)).toBe(28);
  });

  it('INVEPT single-context drops combined mappings of one EP4TA across VPIDs; all-context drops every combined one', () => {
    const { memory, tables } = makeMemory();
    const a = new EptBuilder(memory, tables);
    const b = new EptBuilder(memory, tables);
    const tlb = new Tlb();
    tlb.fill(1, 0, a.root, 0, 0x5000, walkOf(0x9000), false);
    tlb.fill(2, 0, a.root, 0, 0x5000, walkOf(0x9000), false);
    tlb.fill(1, 0, b.root, 0, 0x5000, walkOf(0x9000), false);
    tlb.fill(1, 0, NO_EP4TA, 0, 0x5000, walkOf(0x9000), false);
    const mmu = new X86Mmu(memory, { tlb });
    expect(mmu.invept(INVEPT_TYPE.SINGLE_CONTEXT, a.eptp())).toBe(0);
    expect(tlb.size).toBe(2);
    expect(mmu.invept(INVEPT_TYPE.ALL_CONTEXT, 0n)).toBe(0);
    expect(tlb.size).toBe(1);
    expect(mmu.invept(INVEPT_TYPE.SINGLE_CONTEXT, 0x1234n)).toBe(28);
    expect(mmu.invept(3, a.eptp())).toBe(28);
  });

  it('an EPT-mode MMU tags combined mappings with the EP4TA and hits only under that EPTP', () => {
    const { memory, tables } = makeMemory();
    const ept = new EptBuilder(memory, tables);
    ept.identityMap(0, 0x200_0000, { pageSize: 0x20_0000 });
    const pt = new X86PageTableBuilder(memory, tables);
    ept.identityMap(0x200_0000, 0x200_0000, { pageSize: 0x20_0000 });
    pt.map(0x40_0000, 0x10_0000, { accessed: true, dirty: true });
    const mmu = new X86Mmu(memory, { ept: true, context: { cr3: pt.root } });
    mmu.setEptp(ept.eptp());
    mmu.vpid = 1;
    expect(mmu.translate(0x40_0000, ACCESS.READ).references).toBeGreaterThan(4);
    expect(mmu.translate(0x40_0000, ACCESS.READ).references).toBe(0);
    expect(mmu.tlb.lookup(1, 0, ept.root, 0, 0x40_0000)).toBeGreaterThanOrEqual(0);
    mmu.invept(INVEPT_TYPE.SINGLE_CONTEXT, ept.eptp());
    expect(mmu.translate(0x40_0000, ACCESS.READ).references).toBeGreaterThan(4);
  });
});

describe('TLB save and restore', () => {
  it('restoring into a fresh TLB and continuing equals never stopping', () => {
    const ops = (tlb: Tlb, from: number, to: number): number[] => {
      const seen: number[] = [];
      for (let p = from; p < to; p++) {
        tlb.fill(p % 3, 0, NO_EP4TA, 0, (p % 40) * 0x1000, walkOf(p * 0x1000), p % 5 === 0);
        seen.push(tlb.lookup(p % 3, 0, NO_EP4TA, 0, ((p * 7) % 40) * 0x1000));
      }
      return seen;
    };
    const a = new Tlb({ entries: 16, ways: 4, replacement: 'random', seed: 3 });
    ops(a, 0, 50);
    const b = new Tlb({ entries: 16, ways: 4, replacement: 'random', seed: 99 });
    b.restoreState(JSON.parse(JSON.stringify(a.saveState())));
    expect(ops(b, 50, 120)).toEqual(ops(a, 50, 120));
    expect(b.saveState()).toEqual(a.saveState());
    expect(() => new Tlb({ entries: 32 }).restoreState(a.saveState())).toThrow(/16 entries/);
    expect(() => b.restoreState({ type: 'hvsim.mmu.tlb', version: 2 })).toThrow(/version/);
  });

  it('rejects a saved entry with a field wider than the entry holds, changing nothing', () => {
    const a = new Tlb({ entries: 16, ways: 4 });
    a.fill(3, 7, NO_EP4TA, 0, 0x5000, walkOf(0x9000), true);
    const saved = a.saveState();
    const row = saved.live[0]!;
    // [index, vpn, shift, vpid, pcid, ep4ta, global, frame, attrs, eptPerms, pkey, stamp, linear shift]
    for (const [k, v] of [[3, 0x1_0000], [4, 0x1000], [6, 2], [8, 16], [9, 8], [10, 16], [3, 1.5]] as const) {
      const bad = structuredClone(saved);
      bad.live[0]![k] = v;
      const b = new Tlb({ entries: 16, ways: 4 });
      b.fill(1, 0, NO_EP4TA, 0, 0x1000, walkOf(0x2000), false);
      const before = b.saveState();
      expect(() => { b.restoreState(bad); }).toThrow(new RegExp(`live\\[0\\]\\[${k}\\] must be an integer`));
      expect(b.saveState()).toEqual(before);
    }
    expect(row[3]).toBe(3);
  });
});

describe('property: a TLB never returns a translation the invalidation rules say must be gone', () => {
  type Op =
    | { op: 'fill'; vpid: number; pcid: number; ep: number; page: number; global: boolean; large: boolean }
    | { op: 'lookup'; vpid: number; pcid: number; ep: number; page: number }
    | { op: 'addr'; vpid: number; pcid: number; page: number; global: boolean }
    | { op: 'pcid'; vpid: number; pcid: number; keepGlobal: boolean }
    | { op: 'vpid'; vpid: number; keepGlobal: boolean }
    | { op: 'ept'; ep: number }
    | { op: 'allEpt' }
    | { op: 'allButZero' };
  const small = fc.integer({ min: 0, max: 2 });
  const page = fc.integer({ min: 0, max: 1023 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('fill' as const), vpid: small, pcid: small, ep: small, page, global: fc.boolean(), large: fc.boolean() }) },
    { weight: 5, arbitrary: fc.record({ op: fc.constant('lookup' as const), vpid: small, pcid: small, ep: small, page }) },
    fc.record({ op: fc.constant('addr' as const), vpid: small, pcid: small, page, global: fc.boolean() }),
    fc.record({ op: fc.constant('pcid' as const), vpid: small, pcid: small, keepGlobal: fc.boolean() }),
    fc.record({ op: fc.constant('vpid' as const), vpid: small, keepGlobal: fc.boolean() }),
    fc.record({ op: fc.constant('ept' as const), ep: small }),
    fc.constant({ op: 'allEpt' as const }),
    fc.constant({ op: 'allButZero' as const }),
  );
  const epOf = (ep: number): number => (ep === 0 ? NO_EP4TA : ep * 0x1000);

  it('holds for random fills, lookups and invalidations', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), fc.constantFrom<[number, number]>([16, 4], [8, 8], [64, 2]), (ops, [entries, ways]) => {
        const tlb = new Tlb({ entries, ways });
        // Reference: translations that may still be cached (the TLB may have evicted any of them).
        type Live = { vpid: number; pcid: number; ep: number; base: number; size: number; global: boolean; frame: number };
        let live: Live[] = [];
        let serial = 1;
        for (const o of ops) {
          switch (o.op) {
            case 'fill': {
              const size = o.large ? 0x20_0000 : 0x1000;
              const linear = o.page * 0x1000;
              const base = linear - (linear % size);
              const frame = serial++ * 0x40_0000;
              live = live.filter((l) => !(l.vpid === o.vpid && l.pcid === o.pcid && l.ep === epOf(o.ep) && l.base === base && l.size === size));
              tlb.fill(o.vpid, o.pcid, epOf(o.ep), 0, linear, walkOf(frame + (linear - base), size), o.global);
              live.push({ vpid: o.vpid, pcid: o.pcid, ep: epOf(o.ep), base, size, global: o.global, frame });
              break;
            }
            case 'lookup': {
              const linear = o.page * 0x1000;
              const i = tlb.lookup(o.vpid, o.pcid, epOf(o.ep), 0, linear);
              if (i >= 0) {
                const phys = tlb.physical(i, linear);
                const ok = live.some(
                  (l) => l.vpid === o.vpid && l.ep === epOf(o.ep) && (l.pcid === o.pcid || l.global) && linear >= l.base && linear < l.base + l.size && l.frame + (linear - l.base) === phys,
                );
                expect(ok).toBe(true);
              }
              break;
            }
            case 'addr': {
              const linear = o.page * 0x1000;
              tlb.invalidateAddress(o.vpid, o.pcid, 0, linear, o.global);
              live = live.filter((l) => !(l.vpid === o.vpid && linear >= l.base && linear < l.base + l.size && (l.global ? o.global : l.pcid === o.pcid)));
              break;
            }
            case 'pcid':
              tlb.invalidatePcid(o.vpid, o.pcid, o.keepGlobal);
              live = live.filter((l) => !(l.vpid === o.vpid && l.pcid === o.pcid && !(l.global && o.keepGlobal)));
              break;
            case 'vpid':
              tlb.invalidateVpid(o.vpid, o.keepGlobal);
              live = live.filter((l) => !(l.vpid === o.vpid && !(l.global && o.keepGlobal)));
              break;
            case 'ept':
              tlb.invalidateEp4ta(epOf(o.ep));
              live = live.filter((l) => l.ep !== epOf(o.ep));
              break;
            case 'allEpt':
              tlb.invalidateAllCombined();
              live = live.filter((l) => l.ep === NO_EP4TA);
              break;
            case 'allButZero':
              tlb.invalidateAllVpidsExceptZero();
              live = live.filter((l) => l.vpid === 0);
              break;
          }
        }
      }),
      PROPERTY_PARAMS,
    );
  }, 120_000);
});

describe('SDM 3A 4.10.3 "Paging-Structure Caches"', () => {
  function pscSetup() {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    for (let p = 0; p < 8; p++) pt.map(0x40_0000 + p * 4096, 0x10_0000 + p * 4096, { accessed: true, dirty: true });
    pt.map(0x8000_0000, 0x20_0000, { accessed: true, dirty: true });
    const mmu = new X86Mmu(memory, { context: { cr3: pt.root, cr4Pcide: true }, tlb: { pagingStructureCache: 8 } });
    return { memory, pt, mmu };
  }

  it('a PDE-cache hit reads only the PTE; a PDPTE-cache hit reads the PDE and the PTE (4.10.3.2)', () => {
    const { mmu } = pscSetup();
    expect(mmu.translate(0x40_0000, ACCESS.READ).references).toBe(4);
    expect(mmu.translate(0x40_1000, ACCESS.READ).references).toBe(1);
    expect(mmu.translate(0x40_1000, ACCESS.READ).references).toBe(0); // TLB hit
    expect(mmu.translate(0x8000_0000, ACCESS.READ).references).toBe(3); // same PML4E: PML4E-cache hit
    expect(mmu.tlb.psc!.hits).toBe(2);
  });

  it('keeps accumulated rights: a PDE-cache hit below a read-only PDE still faults on a user write', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    for (let p = 0; p < 2; p++) pt.map(0x40_0000 + p * 4096, 0x10_0000, { tableFlags: PTE_LO.P | PTE_LO.US, accessed: true, dirty: true });
    const mmu = new X86Mmu(memory, { context: { cr3: pt.root }, tlb: { pagingStructureCache: 8 } });
    mmu.translate(0x40_0000, ACCESS.READ);
    const r = mmu.translate(0x40_1000, ACCESS.USER | ACCESS.WRITE);
    expect([r.status, r.references, r.errorCode]).toEqual(['page-fault', 1, PFEC.P | PFEC.W | PFEC.U]);
  });

  it("may use a stale PDE until INVLPG (or a CR3 load) drops the PCID's entries, whatever their address (4.10.4.1)", () => {
    const { memory, pt, mmu } = pscSetup();
    mmu.translate(0x40_0000, ACCESS.READ);
    memory.write32(pt.existingEntry(0x40_0000, 2), 0); // the guest clears the PDE without invalidating
    expect(mmu.translate(0x40_2000, ACCESS.READ).status).toBe('ok');
    mmu.invlpg(0x7000_0000); // any address: the PCID's paging-structure-cache entries go
    expect(mmu.translate(0x40_3000, ACCESS.READ).status).toBe('page-fault');
  });

  it("MOV to CR3 drops the new PCID's entries unless bit 63 is set; INVVPID/INVPCID drop them too", () => {
    const { pt, mmu } = pscSetup();
    mmu.translate(0x40_0000, ACCESS.READ);
    mmu.movToCr3(BigInt(pt.root) | (1n << 63n));
    expect(mmu.translate(0x40_1000, ACCESS.READ).references).toBe(1);
    mmu.movToCr3(BigInt(pt.root));
    expect(mmu.translate(0x40_2000, ACCESS.READ).references).toBe(4);
    mmu.invpcid(INVPCID_TYPE.SINGLE_CONTEXT, 0);
    expect(mmu.translate(0x40_3000, ACCESS.READ).references).toBe(4);
    mmu.tlb.invalidateVpid(0, true);
    expect(mmu.tlb.psc!.size).toBe(0);
  });
});

describe('property: through X86Mmu, no translation survives the architectural operation that invalidates it', () => {
  // SDM 3A 4.10.4.1 (INVLPG, MOV to CR3, MOV to CR4.PGE), 4.10.4.3, SDM 2 "INVPCID",
  // SDM 3C 28.3.3.1 (INVVPID). The reference is written from those rules, not
  // from the Tlb: it keeps, per (VPID, PCID, page) and per (VPID, page) for
  // global entries, the frames the TLB may still hold after the guest rewrote
  // its PTEs without invalidating. Every translation must be the current one
  // or one of those.
  type Op =
    | { op: 'access'; page: number; write: boolean }
    | { op: 'pte'; page: number; frame: number; present: boolean; global: boolean }
    | { op: 'invlpg'; page: number }
    | { op: 'cr3'; pcid: number; noFlush: boolean }
    | { op: 'invpcid'; type: number; pcid: number; page: number }
    | { op: 'invvpid'; type: number; vpid: number; page: number }
    | { op: 'vpid'; vpid: number }
    | { op: 'pge' };
  // Few pages, PCIDs and VPIDs, so that fills, rewrites and invalidations meet often.
  const page = fc.integer({ min: 0, max: 3 });
  const small = fc.integer({ min: 0, max: 2 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 8, arbitrary: fc.record({ op: fc.constant('access' as const), page, write: fc.boolean() }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('pte' as const), page, frame: fc.integer({ min: 0, max: 15 }), present: fc.boolean(), global: fc.boolean() }) },
    fc.record({ op: fc.constant('invlpg' as const), page }),
    fc.record({ op: fc.constant('cr3' as const), pcid: small, noFlush: fc.boolean() }),
    fc.record({ op: fc.constant('invpcid' as const), type: fc.integer({ min: 0, max: 3 }), pcid: small, page }),
    fc.record({ op: fc.constant('invvpid' as const), type: fc.integer({ min: 0, max: 3 }), vpid: small, page }),
    { weight: 2, arbitrary: fc.record({ op: fc.constant('vpid' as const), vpid: small }) },
    fc.constant({ op: 'pge' as const }),
  );

  // One test without and one with paging-structure caches, half the runs each.
  it.each([false, true])('for random accesses, PTE rewrites and invalidations (TLB geometries; paging-structure caches: %s)', (psc) => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 100, size: 'medium' }), fc.constantFrom<[number, number]>([8, 2], [16, 16], [64, 4]), (ops, [entries, ways]) => {
        const { memory, tables } = makeMemory();
        const pt = new X86PageTableBuilder(memory, tables);
        const linearOf = (p: number): number => 0x40_0000 + p * 4096;
        const frameOf = (f: number): number => 0x10_0000 + f * 4096;
        for (let p = 0; p < 4; p++) pt.map(linearOf(p), frameOf(p), { global: p % 2 === 0 });
        const mmu = new X86Mmu(memory, { context: { cr3: pt.root, cr4Pge: true, cr4Pcide: true }, tlb: { entries, ways, pagingStructureCache: psc ? 4 : 0 } });
        const ctx = mmu.context;
        // Frames that may still be cached: key `${vpid}:${pcid}:${page}` and, for global entries, `${vpid}:g:${page}`.
        const cached = new Map<string, Set<number>>();
        const add = (key: string, frame: number): void => {
          const set = cached.get(key) ?? new Set<number>();
          set.add(frame);
          cached.set(key, set);
        };
        const drop = (match: (vpid: number, pcid: number | 'g', page: number) => boolean): void => {
          for (const key of [...cached.keys()]) {
            const [v, p, g] = key.split(':');
            if (match(Number(v), p === 'g' ? 'g' : Number(p), Number(g))) cached.delete(key);
          }
        };
        for (const o of ops) {
          const vpid = mmu.vpid;
          const pcid = ctx.pcid;
          switch (o.op) {
            case 'access': {
              const r = mmu.translate(linearOf(o.page) + 8, o.write ? ACCESS.WRITE : ACCESS.READ, new WalkResult());
              if (r.status !== 'ok') break;
              const frame = r.address - 8;
              const current = pt.readEntry(pt.existingEntry(linearOf(o.page), 1));
              const currentOk = (current & 1n) === 1n && Number(current & 0xf_ffff_f000n) === frame;
              const stale = (cached.get(`${vpid}:${pcid}:${o.page}`)?.has(frame) ?? false) || (cached.get(`${vpid}:g:${o.page}`)?.has(frame) ?? false);
              if (!(currentOk || stale)) expect.fail(`page ${o.page}: frame 0x${frame.toString(16)} is neither the current mapping nor one the TLB may still hold`);
              add(r.global && ctx.cr4Pge ? `${vpid}:g:${o.page}` : `${vpid}:${pcid}:${o.page}`, frame);
              break;
            }
            case 'pte':
              // The guest rewrites a PTE and does not invalidate.
              if (o.present) pt.map(linearOf(o.page), frameOf(o.frame), { global: o.global });
              else pt.unmap(linearOf(o.page));
              break;
            case 'invlpg':
              mmu.invlpg(linearOf(o.page));
              drop((v, p, g) => v === vpid && g === o.page && (p === pcid || p === 'g'));
              break;
            case 'cr3':
              mmu.movToCr3(BigInt(pt.root + o.pcid) | (o.noFlush ? 1n << 63n : 0n));
              if (!o.noFlush) drop((v, p) => v === vpid && p === o.pcid);
              break;
            case 'invpcid':
              mmu.invpcid(o.type, o.pcid, linearOf(o.page));
              if (o.type === 0) drop((v, p, g) => v === vpid && p === o.pcid && g === o.page);
              else if (o.type === 1) drop((v, p) => v === vpid && p === o.pcid);
              else if (o.type === 2) drop((v) => v === vpid);
              else drop((v, p) => v === vpid && p !== 'g');
              break;
            case 'invvpid': {
              const error = mmu.invvpid(o.type, o.vpid, linearOf(o.page));
              if (o.vpid === 0 && o.type !== 2) {
                expect(error).toBe(VM_INSTRUCTION_ERROR_INVALID_INVEPT_INVVPID);
                break;
              }
              expect(error).toBe(0);
              if (o.type === 0) drop((v, _p, g) => v === o.vpid && g === o.page);
              else if (o.type === 1) drop((v) => v === o.vpid);
              else if (o.type === 2) drop((v) => v !== 0);
              else drop((v, p) => v === o.vpid && p !== 'g');
              break;
            }
            case 'vpid':
              mmu.vpid = o.vpid;
              break;
            case 'pge':
              // Toggling CR4.PGE flushes everything, global entries included; toggle it back the same way.
              mmu.movToCr4({ pge: false, pcide: true, smep: false });
              mmu.movToCr4({ pge: true, pcide: true, smep: false });
              drop((v) => v === vpid);
              break;
          }
        }
      }),
      propertyShare(2, psc ? 1 : 0),
    );
  }, 120_000);
});

describe('property: with EPT, no combined mapping survives INVEPT, INVVPID or INVLPG (SDM 3C 28.3.3.1)', () => {
  // Combined mappings are tagged by EP4TA, VPID and PCID. The reference keeps
  // the host frames each tag may still cache; EPT and guest PTE rewrites do
  // not invalidate anything by themselves.
  type Op =
    | { op: 'access'; page: number }
    | { op: 'pte'; page: number; frame: number; global: boolean }
    | { op: 'ept'; which: number; frame: number; host: number }
    | { op: 'eptp'; which: number }
    | { op: 'invept'; type: number; which: number }
    | { op: 'invlpg'; page: number }
    | { op: 'invvpid'; type: number; vpid: number; page: number }
    | { op: 'vpid'; vpid: number };
  const page = fc.integer({ min: 0, max: 3 });
  const frame = fc.integer({ min: 0, max: 3 });
  const which = fc.integer({ min: 0, max: 1 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 8, arbitrary: fc.record({ op: fc.constant('access' as const), page }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('pte' as const), page, frame, global: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('ept' as const), which, frame, host: fc.integer({ min: 0, max: 7 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('eptp' as const), which }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('invept' as const), type: fc.integer({ min: 1, max: 2 }), which }) },
    fc.record({ op: fc.constant('invlpg' as const), page }),
    fc.record({ op: fc.constant('invvpid' as const), type: fc.integer({ min: 0, max: 3 }), vpid: fc.integer({ min: 1, max: 2 }), page }),
    fc.record({ op: fc.constant('vpid' as const), vpid: fc.integer({ min: 1, max: 2 }) }),
  );

  // One test per TLB geometry, half the runs each.
  it.each([
    [8, 2],
    [32, 4],
  ])('for random accesses, guest PTE and EPT rewrites, EPTP switches and invalidations (%i entries, %i ways)', (entries, ways) => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80, size: 'medium' }), (ops) => {
        const { memory, tables } = makeMemory();
        const linearOf = (p: number): number => 0x40_0000 + p * 4096;
        const gpaOf = (f: number): number => 0x10_0000 + f * 4096;
        const hostOf = (e: number, h: number): number => 0x100_0000 + e * 0x80_0000 + h * 4096;
        const pt = new X86PageTableBuilder(memory, tables);
        for (let p = 0; p < 4; p++) pt.map(linearOf(p), gpaOf(p), { global: p % 2 === 0 });
        const epts = [new EptBuilder(memory, tables), new EptBuilder(memory, tables)] as const;
        for (const [e, ept] of epts.entries()) {
          ept.identityMap(0x200_0000, 0x20_0000, { pageSize: 0x20_0000 }); // the guest's paging structures (allocated in [32 MiB, 33 MiB)): one 2 MiB leaf, cheaper to build than 256 PTEs
          for (let f = 0; f < 4; f++) ept.map(gpaOf(f), hostOf(e, f));
        }
        const mmu = new X86Mmu(memory, { context: { cr3: pt.root, cr4Pge: true }, ept: true, tlb: { entries, ways } });
        mmu.vpid = 1;
        let current = 0;
        mmu.setEptp(epts[0].eptp());
        const cached = new Map<string, Set<number>>();
        const drop = (match: (ep: number, vpid: number, page: number) => boolean): void => {
          for (const key of [...cached.keys()]) {
            const [e, v, , g] = key.split(':').map(Number);
            if (match(e!, v!, g!)) cached.delete(key);
          }
        };
        const reference = new WalkResult();
        // What a fresh nested walk through the current EPTP gives (no TLB: the walk alone).
        const fresh = new NestedWalker(memory);
        const freshContext = new X86PagingContext({ cr3: pt.root });
        for (const o of ops) {
          const vpid = mmu.vpid;
          switch (o.op) {
            case 'access': {
              const r = mmu.translate(linearOf(o.page) + 8, ACCESS.READ, new WalkResult());
              fresh.ept.setEptp(epts[current]!.eptp());
              const want = fresh.walk(freshContext, linearOf(o.page) + 8, ACCESS.READ, reference);
              if (r.status !== 'ok') break;
              const now = want.status === 'ok' && want.address === r.address;
              const stale = [`${current}:${vpid}:p:${o.page}`, `${current}:${vpid}:g:${o.page}`].some((k) => cached.get(k)?.has(r.address) ?? false);
              if (!(now || stale)) expect.fail(`page ${o.page}: 0x${r.address.toString(16)} is neither the current translation nor one the TLB may still hold`);
              const key = `${current}:${vpid}:${r.global ? 'g' : 'p'}:${o.page}`;
              cached.set(key, (cached.get(key) ?? new Set<number>()).add(r.address));
              break;
            }
            case 'pte':
              pt.map(linearOf(o.page), gpaOf(o.frame), { global: o.global });
              break;
            case 'ept':
              epts[o.which]!.map(gpaOf(o.frame), hostOf(o.which, o.host));
              break;
            case 'eptp':
              current = o.which;
              mmu.setEptp(epts[o.which]!.eptp());
              break;
            case 'invept':
              expect(mmu.invept(o.type, epts[o.which]!.eptp())).toBe(0);
              if (o.type === 1) drop((e) => e === o.which);
              else drop(() => true);
              break;
            case 'invlpg':
              mmu.invlpg(linearOf(o.page));
              drop((_e, v, g) => v === vpid && g === o.page); // any EP4TA (28.3.3.1)
              break;
            case 'invvpid':
              expect(mmu.invvpid(o.type, o.vpid, linearOf(o.page))).toBe(0);
              if (o.type === 0) drop((_e, v, g) => v === o.vpid && g === o.page);
              else if (o.type === 2) drop((_e, v) => v !== 0);
              else if (o.type === 1) drop((_e, v) => v === o.vpid);
              else for (const key of [...cached.keys()]) if (key.split(':')[1] === String(o.vpid) && key.split(':')[2] === 'p') cached.delete(key);
              break;
            case 'vpid':
              mmu.vpid = o.vpid;
              break;
          }
        }
      }),
      propertyShare(2, entries === 8 ? 0 : 1),
    );
  }, 120_000);
});
