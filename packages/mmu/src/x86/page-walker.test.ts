import { describe, expect, it } from 'vitest';
import { UsageError } from '@hvsim/core';
import { WalkResult } from '../common/walk-result.js';
import { makeMemory } from '../test-support/fixtures.js';
import { X86PageTableBuilder } from './page-table-builder.js';
import { X86PageWalker } from './page-walker.js';
import { X86PagingContext } from './paging-context.js';
import { ACCESS, PFEC, PTE_LO } from './regs.js';

function setup(levels: 4 | 5 = 4, ctxOptions: ConstructorParameters<typeof X86PagingContext>[0] = {}) {
  const { memory, tables } = makeMemory();
  const pt = new X86PageTableBuilder(memory, tables, levels);
  const ctx = new X86PagingContext({ cr3: pt.root, cr4La57: levels === 5, eferNxe: true, ...ctxOptions });
  const walker = new X86PageWalker(memory);
  return { memory, pt, ctx, walker };
}

describe('SDM 3A 4.5 "4-Level Paging and 5-Level Paging": translation', () => {
  it('translates a 4 KiB page and keeps the page offset (Table 4-20)', () => {
    const { pt, ctx, walker } = setup();
    pt.map(0x40_1000, 0x12_3000);
    const r = walker.walk(ctx, 0x40_1abc, ACCESS.READ);
    expect(r.status).toBe('ok');
    expect(r.address).toBe(0x12_3abc);
    expect(r.pageSize).toBe(4096);
    expect(r.level).toBe(1);
    expect(r.references).toBe(4);
  });

  it('translates a 2 MiB page through a PDE with PS = 1 (Table 4-18)', () => {
    const { pt, ctx, walker } = setup();
    pt.map(0x4000_0000, 0x60_0000, { pageSize: 0x20_0000 });
    const r = walker.walk(ctx, 0x4012_3456, ACCESS.READ);
    expect(r.address).toBe(0x72_3456);
    expect(r.pageSize).toBe(0x20_0000);
    expect(r.references).toBe(3);
  });

  it('translates a 1 GiB page through a PDPTE with PS = 1 (Table 4-16)', () => {
    const { pt, ctx, walker } = setup();
    pt.map(0x80_0000_0000, 0x4000_0000, { pageSize: 0x4000_0000 });
    const r = walker.walk(ctx, 0x80_1234_5678, ACCESS.READ);
    expect(r.address).toBe(0x5234_5678);
    expect(r.pageSize).toBe(0x4000_0000);
    expect(r.references).toBe(2);
  });

  it('walks five levels with CR4.LA57 = 1 and uses linear bits 56:48 (4.5.1)', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables, 5);
    const ctx = new X86PagingContext({ cr3: pt.root, cr4La57: true });
    // Linear 0x01_0000_0000_3000 has PML5 index 1.
    pt.map(0x1_0000_0000_3000, 0x5000);
    const walker = new X86PageWalker(memory);
    const r = walker.walk64(ctx, 0x1_0000, 0x3010, ACCESS.READ);
    expect(r.status).toBe('ok');
    expect(r.address).toBe(0x5010);
    expect(r.references).toBe(5);
    // The same address with LA57 = 0 ignores bits 56:48 and misses.
    const ctx4 = new X86PagingContext({ cr3: pt.root });
    expect(walker.walk64(ctx4, 0x1_0000, 0x3010, ACCESS.READ).status).toBe('page-fault');
  });

  it('translates upper-half (kernel) addresses given as halves', () => {
    const { pt, ctx, walker } = setup();
    // 0xffff_8000_0000_1000: PML4 index 256; the builder takes bits 47:0.
    pt.map(0x8000_0000_1000, 0x9000, { user: false });
    const r = walker.walk64(ctx, 0xffff_8000, 0x1008, ACCESS.READ);
    expect(r.address).toBe(0x9008);
    expect(r.linearAddressBigint()).toBe(0xffff_8000_0000_1008n);
  });

  it('records every entry read with its level, address and value when asked', () => {
    const { pt, ctx, walker } = setup();
    pt.map(0x40_1000, 0x12_3000);
    const out = new WalkResult();
    const refs = out.record();
    walker.walk(ctx, 0x40_1000, ACCESS.READ, out);
    expect(refs.map((r) => r.level)).toEqual([4, 3, 2, 1]);
    expect(refs[0]!.address).toBe(pt.root + 0);
    expect(refs[3]!.address).toBe(pt.existingEntry(0x40_1000, 1));
    expect(refs[3]!.value & 0xffff_f000n).toBe(0x12_3000n);
    expect(refs.every((r) => r.kind === 'guest')).toBe(true);
  });
});

describe('SDM 3A 4.7 "Page-Fault Exceptions": not-present entries', () => {
  it('faults with P = 0 and the access bits, at the level of the missing entry', () => {
    const { pt, ctx, walker } = setup();
    pt.map(0x40_1000, 0x12_3000);
    const r = walker.walk(ctx, 0x40_2000, ACCESS.WRITE | ACCESS.USER);
    expect(r.status).toBe('page-fault');
    expect(r.errorCode).toBe(PFEC.W | PFEC.U);
    expect(r.level).toBe(1);
    expect(r.linearAddress).toBe(0x40_2000);
    const r2 = walker.walk(ctx, 0x8000_0000, ACCESS.READ);
    expect(r2.errorCode).toBe(0);
    expect(r2.level).toBe(3);
  });

  it('reports I/D only when IA32_EFER.NXE = 1 or CR4.SMEP = 1', () => {
    const { ctx, walker } = setup();
    ctx.eferNxe = false;
    expect(walker.walk(ctx, 0x1000, ACCESS.FETCH).errorCode).toBe(0);
    ctx.eferNxe = true;
    expect(walker.walk(ctx, 0x1000, ACCESS.FETCH).errorCode).toBe(PFEC.ID);
    ctx.eferNxe = false;
    ctx.cr4Smep = true;
    expect(walker.walk(ctx, 0x1000, ACCESS.FETCH).errorCode).toBe(PFEC.ID);
  });
});

describe('SDM 3A 4.5 Tables 4-15..4-20: reserved bits give #PF with RSVD = 1', () => {
  const cases: [string, number, number, number, number][] = [
    // name, level to corrupt, lo bits to OR, hi bits to OR, maxPhyAddr
    ['PTE address bit at MAXPHYADDR (46)', 1, 0, 1 << 14, 46],
    ['PDE address bit 51 with MAXPHYADDR 40', 2, 0, 1 << 19, 40],
    ['PS in a PML4E', 4, PTE_LO.PS, 0, 46],
  ];
  for (const [name, level, lo, hi, m] of cases) {
    it(name, () => {
      const { memory, pt, ctx, walker } = setup(4, { maxPhyAddr: m });
      pt.map(0x40_1000, 0x12_3000);
      const a = pt.existingEntry(0x40_1000, level);
      memory.write32(a, (memory.read32(a) | lo) >>> 0);
      memory.write32(a + 4, (memory.read32(a + 4) | hi) >>> 0);
      const r = walker.walk(ctx, 0x40_1000, ACCESS.WRITE);
      expect(r.status).toBe('page-fault');
      expect(r.errorCode).toBe(PFEC.P | PFEC.RSVD | PFEC.W);
      expect(r.level).toBe(level);
    });
  }

  it('XD (bit 63) is reserved when IA32_EFER.NXE = 0 and honoured when 1', () => {
    const { pt, ctx, walker } = setup();
    pt.map(0x40_1000, 0x12_3000, { noExecute: true });
    expect(walker.walk(ctx, 0x40_1000, ACCESS.READ).status).toBe('ok');
    ctx.eferNxe = false;
    const r = walker.walk(ctx, 0x40_1000, ACCESS.READ);
    expect(r.errorCode).toBe(PFEC.P | PFEC.RSVD);
  });

  it('bits 20:13 of a 2 MiB PDE and 29:13 of a 1 GiB PDPTE are reserved; bit 12 (PAT) is not', () => {
    const { memory, pt, ctx, walker } = setup();
    pt.map(0x20_0000, 0x40_0000, { pageSize: 0x20_0000 });
    pt.map(0x4000_0000, 0x4000_0000, { pageSize: 0x4000_0000 });
    const pde = pt.existingEntry(0x20_0000, 2);
    memory.write32(pde, memory.read32(pde) | 0x1000);
    expect(walker.walk(ctx, 0x20_0000, ACCESS.READ).status).toBe('ok');
    memory.write32(pde, memory.read32(pde) | 0x2000);
    expect(walker.walk(ctx, 0x20_0000, ACCESS.READ).errorCode).toBe(PFEC.P | PFEC.RSVD);
    const pdpte = pt.existingEntry(0x4000_0000, 3);
    memory.write32(pdpte, memory.read32(pdpte) | 0x1000_0000);
    expect(walker.walk(ctx, 0x4000_0000, ACCESS.READ).errorCode).toBe(PFEC.P | PFEC.RSVD);
  });

  it('PS in a PDPTE is reserved without 1 GiB page support (CPUID Page1GB)', () => {
    const { pt, ctx, walker } = setup(4, { page1gb: false });
    pt.map(0x4000_0000, 0x4000_0000, { pageSize: 0x4000_0000 });
    expect(walker.walk(ctx, 0x4000_0000, ACCESS.READ).errorCode).toBe(PFEC.P | PFEC.RSVD);
  });

  it('bits 62:52 are ignored, not reserved', () => {
    const { memory, pt, ctx, walker } = setup();
    pt.map(0x40_1000, 0x12_3000);
    const a = pt.existingEntry(0x40_1000, 1);
    memory.write32(a + 4, memory.read32(a + 4) | 0x7ff0_0000);
    expect(walker.walk(ctx, 0x40_1000, ACCESS.READ).status).toBe('ok');
  });
});

describe('SDM 3A 4.6.1 "Determination of Access Rights"', () => {
  // [name, leaf options, context, access, expected error code or 0]
  type Row = [string, Parameters<X86PageTableBuilder['map']>[2], Partial<X86PagingContext>, number, number];
  const P = PFEC.P;
  const rows: Row[] = [
    ['user read of a supervisor page', { user: false }, {}, ACCESS.USER, P | PFEC.U],
    ['user read of a user page', {}, {}, ACCESS.USER, 0],
    ['user write of a read-only page (CR0.WP = 0 too)', { writable: false }, { cr0Wp: false }, ACCESS.USER | ACCESS.WRITE, P | PFEC.U | PFEC.W],
    ['supervisor write of a read-only page, CR0.WP = 0', { writable: false, user: false }, { cr0Wp: false }, ACCESS.WRITE, 0],
    ['supervisor write of a read-only page, CR0.WP = 1', { writable: false, user: false }, { cr0Wp: true }, ACCESS.WRITE, P | PFEC.W],
    ['fetch from an XD page (NXE = 1)', { noExecute: true }, {}, ACCESS.FETCH, P | PFEC.ID],
    ['user fetch from an XD page', { noExecute: true }, {}, ACCESS.FETCH | ACCESS.USER, P | PFEC.ID | PFEC.U],
    ['supervisor fetch from a user page, SMEP = 0', {}, {}, ACCESS.FETCH, 0],
    ['supervisor fetch from a user page, SMEP = 1', {}, { cr4Smep: true }, ACCESS.FETCH, P | PFEC.ID],
    ['supervisor read of a user page, SMAP = 1, AC = 0', {}, { cr4Smap: true }, ACCESS.READ, P],
    ['supervisor read of a user page, SMAP = 1, AC = 1', {}, { cr4Smap: true, rflagsAc: true }, ACCESS.READ, 0],
    ['implicit supervisor read of a user page, SMAP = 1, AC = 1', {}, { cr4Smap: true, rflagsAc: true }, ACCESS.IMPLICIT, P],
    ['supervisor write of a read-only user page, SMAP = 1, AC = 1, WP = 0', { writable: false }, { cr4Smap: true, rflagsAc: true }, ACCESS.WRITE, 0],
    ['supervisor read of a supervisor page, SMAP = 1', { user: false }, { cr4Smap: true }, ACCESS.READ, 0],
  ];
  for (const [name, leaf, ctxFields, access, expected] of rows) {
    it(name, () => {
      const { pt, ctx, walker } = setup();
      Object.assign(ctx, ctxFields);
      pt.map(0x40_1000, 0x12_3000, leaf);
      const r = walker.walk(ctx, 0x40_1000, access);
      expect(r.errorCode).toBe(expected);
      expect(r.status).toBe(expected === 0 ? 'ok' : 'page-fault');
    });
  }

  it('combines R/W and U/S over every level, not just the leaf', () => {
    const { pt, ctx, walker } = setup();
    pt.map(0x40_1000, 0x12_3000, { tableFlags: PTE_LO.P | PTE_LO.US });
    const r = walker.walk(ctx, 0x40_1000, ACCESS.USER | ACCESS.WRITE);
    expect(r.errorCode).toBe(PFEC.P | PFEC.W | PFEC.U);
    const r2 = walker.walk(ctx, 0x40_1000, ACCESS.USER);
    expect(r2.writable).toBe(false);
    expect(r2.user).toBe(true);
    pt.map(0x80_1000, 0x12_3000, { tableNoExecute: true });
    expect(walker.walk(ctx, 0x80_1000, ACCESS.FETCH).errorCode).toBe(PFEC.P | PFEC.ID);
  });
});

describe('SDM 3A 4.6.2 "Protection Keys"', () => {
  it('PKRU.AD forbids data reads of user pages with that key; fetches are unaffected', () => {
    const { pt, ctx, walker } = setup(4, { cr4Pke: true, pkru: 1 << (2 * 5) });
    pt.map(0x40_1000, 0x12_3000, { protectionKey: 5 });
    expect(walker.walk(ctx, 0x40_1000, ACCESS.USER).errorCode).toBe(PFEC.P | PFEC.U | PFEC.PK);
    expect(walker.walk(ctx, 0x40_1000, ACCESS.READ).errorCode).toBe(PFEC.P | PFEC.PK);
    expect(walker.walk(ctx, 0x40_1000, ACCESS.FETCH).status).toBe('ok');
    expect(walker.walk(ctx, 0x40_1000, ACCESS.FETCH).protectionKey).toBe(5);
  });

  it('PKRU.WD forbids user writes, and supervisor writes only when CR0.WP = 1', () => {
    const { pt, ctx, walker } = setup(4, { cr4Pke: true, pkru: 2 << (2 * 3) });
    pt.map(0x40_1000, 0x12_3000, { protectionKey: 3 });
    expect(walker.walk(ctx, 0x40_1000, ACCESS.USER).status).toBe('ok');
    expect(walker.walk(ctx, 0x40_1000, ACCESS.USER | ACCESS.WRITE).errorCode).toBe(PFEC.P | PFEC.W | PFEC.U | PFEC.PK);
    expect(walker.walk(ctx, 0x40_1000, ACCESS.WRITE).status).toBe('ok');
    ctx.cr0Wp = true;
    expect(walker.walk(ctx, 0x40_1000, ACCESS.WRITE).errorCode).toBe(PFEC.P | PFEC.W | PFEC.PK);
  });

  it('keys are ignored with CR4.PKE = 0, and IA32_PKRS governs supervisor pages with CR4.PKS = 1', () => {
    const { pt, ctx, walker } = setup(4, { pkru: 0xffff_ffff, pkrs: 1 << 2 });
    pt.map(0x40_1000, 0x12_3000, { protectionKey: 1 });
    pt.map(0x40_2000, 0x12_3000, { protectionKey: 1, user: false });
    expect(walker.walk(ctx, 0x40_1000, ACCESS.USER).status).toBe('ok');
    expect(walker.walk(ctx, 0x40_2000, ACCESS.READ).status).toBe('ok');
    ctx.cr4Pks = true;
    expect(walker.walk(ctx, 0x40_2000, ACCESS.READ).errorCode).toBe(PFEC.P | PFEC.PK);
    expect(walker.walk(ctx, 0x40_1000, ACCESS.USER).status).toBe('ok');
  });
});

describe('SDM 3A 4.8 "Accessed and Dirty Flags"', () => {
  it('sets A in every entry used, and D in the leaf only on a write', () => {
    const { memory, pt, ctx, walker } = setup();
    pt.map(0x40_1000, 0x12_3000);
    const entries = [4, 3, 2, 1].map((l) => pt.existingEntry(0x40_1000, l));
    let r = walker.walk(ctx, 0x40_1000, ACCESS.READ);
    expect(r.adWrites).toBe(4);
    for (const e of entries) expect(memory.read32(e) & PTE_LO.A).toBe(PTE_LO.A);
    expect(memory.read32(entries[3]!) & PTE_LO.D).toBe(0);
    expect(r.dirty).toBe(false);
    r = walker.walk(ctx, 0x40_1000, ACCESS.WRITE);
    expect(r.adWrites).toBe(1);
    expect(r.dirty).toBe(true);
    expect(memory.read32(entries[3]!) & PTE_LO.D).toBe(PTE_LO.D);
    // D is never set in a non-leaf entry.
    expect(memory.read32(entries[2]!) & PTE_LO.D).toBe(0);
    expect(walker.walk(ctx, 0x40_1000, ACCESS.WRITE).adWrites).toBe(0);
  });

  it('sets D in the PDE of a 2 MiB page', () => {
    const { memory, pt, ctx, walker } = setup();
    pt.map(0x20_0000, 0x40_0000, { pageSize: 0x20_0000 });
    walker.walk(ctx, 0x20_0010, ACCESS.WRITE);
    expect(memory.read32(pt.existingEntry(0x20_0000, 2)) & (PTE_LO.A | PTE_LO.D)).toBe(PTE_LO.A | PTE_LO.D);
  });

  it('leaves A and D untouched when the access faults', () => {
    const { memory, pt, ctx, walker } = setup();
    pt.map(0x40_1000, 0x12_3000, { writable: false });
    ctx.cr0Wp = true;
    walker.walk(ctx, 0x40_1000, ACCESS.WRITE);
    for (const l of [4, 3, 2, 1]) expect(memory.read32(pt.existingEntry(0x40_1000, l)) & PTE_LO.A).toBe(0);
  });
});

describe('walker counters and state', () => {
  it('counts walks, references and faults and saves them', () => {
    const { pt, ctx, walker, memory } = setup();
    pt.map(0x40_1000, 0x12_3000);
    walker.walk(ctx, 0x40_1000, ACCESS.READ);
    walker.walk(ctx, 0x8000_0000, ACCESS.READ);
    expect(walker.walks).toBe(2);
    expect(walker.faults).toBe(1);
    expect(walker.references).toBe(4 + 2); // the second walk stops at the missing PDPTE
    const copy = new X86PageWalker(memory);
    copy.restoreState(JSON.parse(JSON.stringify(walker.saveState())));
    expect(copy.saveState()).toEqual(walker.saveState());
    expect(() => copy.restoreState({ type: 'hvsim.lapic', version: 1 })).toThrow(/cannot restore/);
  });
});

describe('bad input: the walker rejects what no CPU access can be, naming the value', () => {
  it('rejects unknown access bits, USER with IMPLICIT, WRITE with FETCH, and bad linear addresses', () => {
    const { pt, ctx, walker } = setup();
    pt.map(0x40_1000, 0x12_3000);
    for (const access of [0x1, 0x8, 0x20_0000, ACCESS.USER | ACCESS.IMPLICIT, ACCESS.WRITE | ACCESS.FETCH, 2.5, Number.NaN]) {
      expect(() => walker.walk(ctx, 0x40_1000, access)).toThrow(UsageError);
    }
    expect(() => walker.walk(ctx, 0x40_1000, 0x8)).toThrow(/access must be ACCESS flags.*got 8/);
    for (const linear of [-1, 0.5, 2 ** 53, Number.NaN]) expect(() => walker.walk(ctx, linear, ACCESS.READ)).toThrow(/linear address/);
    expect(walker.walks).toBe(0);
    expect(walker.walk(ctx, 0x40_1000, ACCESS.IMPLICIT | ACCESS.WRITE).status).toBe('ok');
  });
});
