import type { Memory } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { PageAllocator } from '../common/page-allocator.js';
import { WalkResult } from '../common/walk-result.js';
import { makeMemory } from '../test-support/fixtures.js';
import { Stage1Builder } from './stage1-builder.js';
import type { Stage1MapOptions } from './stage1-builder.js';
import { Stage1Context } from './stage1-context.js';
import { ARM_FAULT_STATUS, ARM_ISS, S1_ACCESS, S1_PERM } from './stage1-regs.js';
import { Stage1Walker } from './stage1-walker.js';
import { Stage2Builder } from './stage2-builder.js';
import { S2_FAULT_STATUS, S2_ISS } from './stage2-regs.js';
import { Stage2Walker } from './stage2-walker.js';

const { READ, WRITE, EXECUTE, EL0, PAN } = S1_ACCESS;
const { TRANSLATION, ACCESS_FLAG, PERMISSION, ADDRESS_SIZE, EXTERNAL_ON_WALK } = ARM_FAULT_STATUS;

function setup(tcr = Stage1Builder.tcr(), bits = 48) {
  const { memory, tables } = makeMemory();
  const b0 = new Stage1Builder(memory, tables, bits);
  const b1 = new Stage1Builder(memory, tables, bits);
  const ctx = new Stage1Context({ tcr, ttbr0: b0.ttbr(5), ttbr1: b1.ttbr(9) });
  const walker = new Stage1Walker(memory);
  return { memory, tables, b0, b1, ctx, walker };
}

function halves(va: bigint): [number, number] {
  return [Number(va >> 32n), Number(va & 0xffff_ffffn)];
}

describe('Arm ARM D8.2/D8.3: stage 1 translation, 4 KiB granule', () => {
  it('translates pages (level 3), 2 MiB blocks (level 2) and 1 GiB blocks (level 1) from a level 0 start', () => {
    const { b0, ctx, walker } = setup();
    b0.map(0x40_1000, 0x12_3000);
    b0.map(0x60_0000, 0x80_0000, { pageSize: 0x20_0000 });
    b0.map(0x80_0000_0000, 0x4000_0000, { pageSize: 0x4000_0000 });
    const out = new WalkResult();
    const refs = out.record();
    walker.walk(ctx, 0x40_1abc, READ, out);
    expect([out.status, out.address, out.level, out.pageSize, out.references]).toEqual(['ok', 0x12_3abc, 3, 4096, 4]);
    expect(refs.map((r) => [r.kind, r.level])).toEqual([['guest', 0], ['guest', 1], ['guest', 2], ['guest', 3]]);
    expect([walker.walk(ctx, 0x61_2345, READ).address, walker.walk(ctx, 0x61_2345, READ).level]).toEqual([0x81_2345, 2]);
    const r = walker.walk(ctx, 0x80_1234_5678, READ);
    expect([r.address, r.level, r.pageSize, r.references]).toEqual([0x5234_5678, 1, 0x4000_0000, 2]);
  });

  it('VA bit 55 selects TTBR1_EL1 for the upper range (D8.2, VA ranges)', () => {
    const { b0, b1, ctx, walker } = setup();
    b1.map(0xffff_8000_0000_1000n, 0x7000);
    b0.map(0x8000_0000_1000, 0x9000);
    const [hi, lo] = halves(0xffff_8000_0000_1008n);
    expect(walker.walk64(ctx, hi, lo, READ).address).toBe(0x7008);
    expect(walker.walk(ctx, 0x8000_0000_1008, READ).address).toBe(0x9008);
  });

  it('the starting level follows TnSZ: level 1 for 39 bits, level 1 with two entries for 31 bits, level 2 for 30 bits (D8.2.3)', () => {
    for (const [bits, start, refs] of [[39, 1, 3], [31, 1, 3], [30, 2, 2]] as const) {
      const { b0, ctx, walker } = setup(Stage1Builder.tcr({ t0Bits: bits, t1Bits: bits }), bits);
      expect(b0.startLevel).toBe(start);
      b0.map(0x4000_1000 % 2 ** bits, 0x5000);
      const r = walker.walk(ctx, (0x4000_1000 % 2 ** bits) + 4, READ);
      expect([r.status, r.address, r.references, ctx.region0.startLevel]).toEqual(['ok', 0x5004, refs, start]);
    }
  });

  it('a VA outside both ranges is a level 0 Translation fault with no walk (D8.2, TnSZ); ESR WnR and FAR', () => {
    const { b0, ctx, walker } = setup();
    b0.map(0, 0x1000);
    const r = walker.walk(ctx, 0x1_0000_0000_0000, WRITE); // bit 48 set, T0SZ = 16
    expect([r.status, r.level, r.faultStatus, r.errorCode, r.references, r.linearAddress]).toEqual(['stage1-fault', 0, TRANSLATION, TRANSLATION | ARM_ISS.WNR, 0, 0x1_0000_0000_0000]);
    const [hi, lo] = halves(0xfff0_0000_0000_0000n); // bit 55 = 1 but bits 54:48 not all ones
    const u = walker.walk64(ctx, hi, lo, EXECUTE);
    expect([u.faultStatus, u.errorCode & ARM_ISS.WNR, u.linearAddressBigint()]).toEqual([TRANSLATION, 0, 0xfff0_0000_0000_0000n]);
  });

  it('TBI0 ignores the top byte of data addresses; TBID0 keeps it for instruction fetches (D8.2, address tagging)', () => {
    const { b0, ctx, walker } = setup(Stage1Builder.tcr({ tbi0: true }) | (1n << 51n));
    b0.map(0x40_1000, 0x12_3000);
    const [hi, lo] = halves(0x5a00_0000_0040_1010n);
    expect(walker.walk64(ctx, hi, lo, READ).address).toBe(0x12_3010);
    expect(walker.walk64(ctx, hi, lo, EXECUTE).faultStatus).toBe(TRANSLATION);
    ctx.setTcr(Stage1Builder.tcr());
    expect(walker.walk64(ctx, hi, lo, READ).faultStatus).toBe(TRANSLATION);
  });

  it('EPD0/EPD1 = 1 make a walk in that range a level 0 Translation fault (TCR_EL1.EPDn)', () => {
    const { b0, b1, ctx, walker } = setup(Stage1Builder.tcr({ epd0: true }));
    b0.map(0x1000, 0x2000);
    b1.map(0xffff_0000_0000_1000n, 0x2000);
    expect([walker.walk(ctx, 0x1000, READ).faultStatus, walker.walk(ctx, 0x1000, READ).references]).toEqual([TRANSLATION, 0]);
    const [hi, lo] = halves(0xffff_0000_0000_1000n);
    expect(walker.walk64(ctx, hi, lo, READ).status).toBe('ok');
    ctx.setTcr(Stage1Builder.tcr({ epd1: true }));
    expect(walker.walk64(ctx, hi, lo, READ).faultStatus).toBe(TRANSLATION);
    expect(walker.walk(ctx, 0x1000, READ).status).toBe('ok');
  });

  it('an invalid descriptor is a Translation fault at its level; a level 0 block and a level 3 0b01 descriptor are invalid (D8.3)', () => {
    const { memory, b0, ctx, walker } = setup();
    b0.map(0x40_1000, 0x12_3000);
    expect(walker.walk(ctx, 0x40_2000, READ).faultStatus).toBe(TRANSLATION + 3);
    expect(walker.walk(ctx, 0x80_0000, READ).faultStatus).toBe(TRANSLATION + 2);
    expect(walker.walk(ctx, 0x4000_0000, READ).faultStatus).toBe(TRANSLATION + 1);
    expect(walker.walk(ctx, 0x80_0000_0000, READ).faultStatus).toBe(TRANSLATION + 0);
    const leaf = b0.entryFor(0x40_1000, 3);
    memory.write32(leaf, memory.read32(leaf) & ~2); // 0b01 at level 3
    expect(walker.walk(ctx, 0x40_1000, READ).faultStatus).toBe(TRANSLATION + 3);
    const l0 = b0.entryFor(0x40_1000, 0);
    memory.write32(l0, memory.read32(l0) & ~2); // block at level 0
    expect([walker.walk(ctx, 0x40_1000, READ).faultStatus, walker.walk(ctx, 0x40_1000, READ).level]).toEqual([TRANSLATION, 0]);
  });

  it('AttrIndx, NS, SH, the Contiguous hint, software bits 58:55 and PBHA 62:59 of a leaf do not change the translation (D8.3; attributes not modelled)', () => {
    const { memory, b0, ctx, walker } = setup();
    b0.map(0x40_1000, 0x12_3000, { attrIndx: 7 });
    const leaf = b0.entryFor(0x40_1000, 3);
    memory.write32(leaf, memory.read32(leaf) | 0x20 | 0x300); // NS, SH
    memory.write32(leaf + 4, (memory.read32(leaf + 4) | (1 << 20) | (0xf << 23) | (0xf << 27)) >>> 0); // Contiguous, software, PBHA
    const r = walker.walk(ctx, 0x40_1008, WRITE);
    expect([r.status, r.address, r.permissions]).toEqual(['ok', 0x12_3008, S1_PERM.PR | S1_PERM.PW | S1_PERM.PX | S1_PERM.UX]);
  });

  it('an output address beyond TCR_EL1.IPS is an Address size fault at that level; a TTBR beyond it at level 0 (D8.15)', () => {
    const { memory, b0, ctx, walker } = setup(Stage1Builder.tcr({ ipsBits: 32 }));
    b0.map(0x40_1000, 0x12_3000);
    expect(walker.walk(ctx, 0x40_1000, READ).status).toBe('ok');
    const leaf = b0.entryFor(0x40_1000, 3);
    memory.write32(leaf + 4, 1); // output address bit 32
    expect(walker.walk(ctx, 0x40_1000, READ).faultStatus).toBe(ADDRESS_SIZE + 3);
    ctx.setTtbr0(1n << 32n);
    expect([walker.walk(ctx, 0x40_1000, READ).faultStatus, walker.walk(ctx, 0x40_1000, READ).level]).toEqual([ADDRESS_SIZE, 0]);
    // The implemented PA size caps IPS.
    const small = new Stage1Context({ tcr: Stage1Builder.tcr({ ipsBits: 48 }), paBits: 36 });
    expect(small.outBits).toBe(36);
  });

  it('tables outside memory are a Synchronous External abort on the walk (DFSC 0b0101xx), never a host error (D8.15)', () => {
    const { memory, b0, ctx, walker } = setup();
    b0.map(0x40_1000, 0x12_3000);
    const l1 = b0.entryFor(0x40_1000, 1);
    memory.write32(l1, (0x7000_0000 | 3) >>> 0); // level 2 table at 1.75 GiB: not backed
    const r = walker.walk(ctx, 0x40_1000, WRITE);
    expect([r.status, r.faultStatus, r.level, r.errorCode]).toEqual(['stage1-fault', EXTERNAL_ON_WALK + 2, 2, (EXTERNAL_ON_WALK + 2) | ARM_ISS.WNR]);
    ctx.setTtbr0(0x8000_0000n);
    expect(walker.walk(ctx, 0x40_1000, READ).faultStatus).toBe(EXTERNAL_ON_WALK + 0);
  });

  it('a hardware Access flag update that no writable memory takes is an external abort on the walk', () => {
    const { memory, b0 } = setup();
    b0.map(0x1000, 0x2000, { accessFlag: false });
    const leafPage = b0.entryFor(0x1000, 3) & ~0xfff;
    // The same memory, but the leaf table's page is not writable (a ROM-like region).
    const readOnlyTables = new Proxy(memory, {
      get(target, p, receiver) {
        if (p === 'isWritable') return (a: number) => a < leafPage || a >= leafPage + 4096;
        const v: unknown = Reflect.get(target, p, receiver);
        return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
      },
    }) as Memory;
    const ctx = new Stage1Context({ tcr: Stage1Builder.tcr({ ha: true }), ttbr0: b0.ttbr() });
    const r = new Stage1Walker(readOnlyTables).walk(ctx, 0x1000, READ);
    expect([r.status, r.faultStatus, r.adWrites]).toEqual(['stage1-fault', EXTERNAL_ON_WALK + 3, 0]);
    expect(new Stage1Walker(memory).walk(ctx, 0x1000, READ).adWrites).toBe(1);
  });
});

describe('Arm ARM D8.4: access permissions', () => {
  // D8.4.1 "Data access permissions", Table "Data access permissions for stage 1 translations" (AP[2:1]).
  const table: [string, Stage1MapOptions, [boolean, boolean, boolean, boolean]][] = [
    ['AP=00: EL1 RW, EL0 none', {}, [true, true, false, false]],
    ['AP=01: EL1 RW, EL0 RW', { el0: true }, [true, true, true, true]],
    ['AP=10: EL1 RO, EL0 none', { readOnly: true }, [true, false, false, false]],
    ['AP=11: EL1 RO, EL0 RO', { el0: true, readOnly: true }, [true, false, true, false]],
  ];
  it.each(table)('%s', (_name, options, [el1r, el1w, el0r, el0w]) => {
    const { b0, ctx, walker } = setup();
    b0.map(0x40_1000, 0x12_3000, options);
    const ok = (access: number): boolean => walker.walk(ctx, 0x40_1000, access).status === 'ok';
    expect([ok(READ), ok(WRITE), ok(READ | EL0), ok(WRITE | EL0)]).toEqual([el1r, el1w, el0r, el0w]);
    const f = walker.walk(ctx, 0x40_1000, WRITE | EL0);
    if (!el0w) expect([f.faultStatus, f.level, f.errorCode]).toEqual([PERMISSION + 3, 3, (PERMISSION + 3) | ARM_ISS.WNR]);
  });

  it('UXN/PXN control EL0/EL1 execution; memory writable at EL0 is never executable at EL1 (D8.4.2)', () => {
    const { b0, ctx, walker } = setup();
    b0.map(0x1000, 0x1000, {});
    b0.map(0x2000, 0x2000, { uxn: true });
    b0.map(0x3000, 0x3000, { pxn: true });
    b0.map(0x4000, 0x4000, { el0: true }); // AP=01: EL0 writable
    b0.map(0x5000, 0x5000, { el0: true, readOnly: true });
    const x = (va: number, el0: boolean): boolean => walker.walk(ctx, va, EXECUTE | (el0 ? EL0 : 0)).status === 'ok';
    expect([x(0x1000, false), x(0x1000, true)]).toEqual([true, true]);
    expect([x(0x2000, false), x(0x2000, true)]).toEqual([true, false]);
    expect([x(0x3000, false), x(0x3000, true)]).toEqual([false, true]);
    expect([x(0x4000, false), x(0x4000, true)]).toEqual([false, true]);
    expect([x(0x5000, false), x(0x5000, true)]).toEqual([true, true]);
    const f = walker.walk(ctx, 0x3000, EXECUTE);
    expect([f.faultStatus, f.errorCode]).toEqual([PERMISSION + 3, PERMISSION + 3]); // IFSC, no WnR
    expect(walker.walk(ctx, 0x1000, READ).permissions).toBe(S1_PERM.PR | S1_PERM.PW | S1_PERM.PX | S1_PERM.UX);
  });

  it('SCTLR_EL1.WXN makes writable memory execute-never at the same level', () => {
    const { b0, ctx, walker } = setup();
    b0.map(0x1000, 0x1000, {});
    b0.map(0x2000, 0x2000, { readOnly: true });
    b0.map(0x3000, 0x3000, { el0: true });
    ctx.setSctlr(1n | (1n << 19n));
    expect(walker.walk(ctx, 0x1000, EXECUTE).status).toBe('stage1-fault');
    expect(walker.walk(ctx, 0x2000, EXECUTE).status).toBe('ok');
    expect(walker.walk(ctx, 0x3000, EXECUTE | EL0).status).toBe('stage1-fault');
    expect(walker.walk(ctx, 0x1000, EXECUTE | EL0).status).toBe('ok'); // not writable at EL0
  });

  it('PSTATE.PAN: privileged data accesses to EL0-accessible memory fault; unprivileged and fetches do not', () => {
    const { b0, ctx, walker } = setup();
    b0.map(0x1000, 0x1000, { el0: true, readOnly: true });
    b0.map(0x2000, 0x2000, {});
    expect(walker.walk(ctx, 0x1000, READ | PAN).faultStatus).toBe(PERMISSION + 3);
    expect(walker.walk(ctx, 0x1000, READ | PAN | EL0).status).toBe('ok'); // LDTR
    expect(walker.walk(ctx, 0x1000, EXECUTE | PAN).status).toBe('ok');
    expect(walker.walk(ctx, 0x2000, WRITE | PAN).status).toBe('ok');
  });

  it('hierarchical limits: APTable[0] no EL0, APTable[1] read-only, UXNTable, PXNTable; TCR_EL1.HPD0 ignores them (D8.4.x)', () => {
    const { b0, ctx, walker } = setup();
    const [A, B, C, D] = [0x4000_1000, 0x8000_1000, 0xc000_1000, 0x1_0000_1000]; // one level 1 entry each
    b0.map(A, 0x1000, { el0: true });
    b0.map(B, 0x1000, { el0: true });
    b0.map(C, 0x1000, { el0: true, readOnly: true });
    b0.map(D, 0x1000, { el0: true, readOnly: true });
    b0.limitTable(A, 2, { noEl0: true });
    b0.limitTable(B, 2, { readOnly: true });
    b0.limitTable(C, 2, { uxn: true });
    b0.limitTable(D, 1, { pxn: true }); // a level 1 table descriptor limits everything below it
    const ok = (va: number, access: number): boolean => walker.walk(ctx, va, access).status === 'ok';
    expect([ok(A, READ | EL0), ok(A, WRITE)]).toEqual([false, true]);
    expect([ok(B, WRITE), ok(B, WRITE | EL0), ok(B, READ | EL0)]).toEqual([false, false, true]);
    expect([ok(C, EXECUTE | EL0), ok(C, EXECUTE)]).toEqual([false, true]);
    expect([ok(D, EXECUTE), ok(D, EXECUTE | EL0)]).toEqual([false, true]);
    expect([ok(A, EXECUTE), ok(B, EXECUTE)]).toEqual([true, true]); // neither is writable at EL0 any more: EL1 may execute
    expect(walker.walk(ctx, B, WRITE).faultStatus).toBe(PERMISSION + 3);
    ctx.setTcr(Stage1Builder.tcr({ hpd0: true }));
    expect([ok(A, READ | EL0), ok(B, WRITE), ok(C, EXECUTE | EL0), ok(D, EXECUTE)]).toEqual([true, true, true, true]);
  });
});

describe('Arm ARM D8.4: Access flag and hardware dirty state', () => {
  it('AF = 0 is an Access flag fault at the leaf level, before a Permission fault', () => {
    const { b0, ctx, walker } = setup();
    b0.map(0x1000, 0x1000, { accessFlag: false, readOnly: true });
    b0.map(0x20_0000, 0x20_0000, { accessFlag: false, pageSize: 0x20_0000 });
    expect(walker.walk(ctx, 0x1000, WRITE).faultStatus).toBe(ACCESS_FLAG + 3);
    expect(walker.walk(ctx, 0x20_0000, READ).faultStatus).toBe(ACCESS_FLAG + 2);
  });

  it('TCR_EL1.HA sets AF in memory for a permitted access only', () => {
    const { memory, b0, ctx, walker } = setup(Stage1Builder.tcr({ ha: true }));
    b0.map(0x1000, 0x1000, { accessFlag: false, readOnly: true });
    const leaf = b0.entryFor(0x1000, 3);
    const w = walker.walk(ctx, 0x1000, WRITE);
    expect([w.faultStatus, w.adWrites, memory.read32(leaf) & 0x400]).toEqual([PERMISSION + 3, 0, 0]);
    const r = walker.walk(ctx, 0x1000, READ);
    expect([r.status, r.adWrites, memory.read32(leaf) & 0x400]).toEqual(['ok', 1, 0x400]);
    expect(walker.walk(ctx, 0x1000, READ).adWrites).toBe(0);
  });

  it('TCR_EL1.HD with DBM: a write to a clean page clears AP[2] instead of faulting; without HD (or under APTable[1]) it faults', () => {
    const { memory, b0, ctx, walker } = setup(Stage1Builder.tcr({ ha: true, hd: true }));
    b0.map(0x1000, 0x1000, { readOnly: true, dbm: true });
    b0.map(0x40_1000, 0x2000, { readOnly: true, dbm: true });
    b0.limitTable(0x40_1000, 2, { readOnly: true });
    const leaf = b0.entryFor(0x1000, 3);
    expect([walker.walk(ctx, 0x1000, READ).dirty, walker.walk(ctx, 0x1000, READ).permissions & S1_PERM.PW]).toEqual([false, 0]);
    const w = walker.walk(ctx, 0x1000, WRITE);
    expect([w.status, w.dirty, w.adWrites, memory.read32(leaf) & 0x80]).toEqual(['ok', true, 1, 0]);
    expect(walker.walk(ctx, 0x40_1000, WRITE).faultStatus).toBe(PERMISSION + 3);
    b0.map(0x1000, 0x1000, { readOnly: true, dbm: true });
    ctx.setTcr(Stage1Builder.tcr({ hd: true })); // HD without HA: no dirty state management
    expect(walker.walk(ctx, 0x1000, WRITE).faultStatus).toBe(PERMISSION + 3);
  });
});

describe('TCR_EL1 / TTBRn_EL1 / SCTLR_EL1 register fields', () => {
  it('nG marks ASID-tagged translations; TCR_EL1.A1 picks the TTBR holding the ASID; AS = 0 keeps 8 bits', () => {
    const { b0, ctx, walker } = setup();
    b0.map(0x1000, 0x1000, { global: false });
    b0.map(0x2000, 0x2000);
    expect([walker.walk(ctx, 0x1000, READ).global, walker.walk(ctx, 0x2000, READ).global]).toEqual([false, true]);
    expect(ctx.asid).toBe(5);
    ctx.setTcr(Stage1Builder.tcr({ a1: true }));
    expect(ctx.asid).toBe(9);
    ctx.setTtbr1(ctx.ttbr1 | (0x1200n << 48n));
    ctx.setTcr(Stage1Builder.tcr({ a1: true, asid16: false }));
    expect(ctx.asid).toBe(0x09);
    ctx.setTcr(Stage1Builder.tcr({ a1: true }));
    expect(ctx.asid).toBe(0x1209);
  });

  it('TG0/TG1 naming another granule is treated as 4 KiB, the only size implemented (TCR_EL1.TG0); TnSZ out of range acts as the limit', () => {
    const { b0, ctx, walker } = setup();
    b0.map(0x1000, 0x5000);
    ctx.setTcr(Stage1Builder.tcr() | (1n << 14n)); // TG0 = 64 KiB
    expect([ctx.granuleIgnored, walker.walk(ctx, 0x1000, READ).address]).toEqual([true, 0x5000]);
    ctx.setTcr((Stage1Builder.tcr() & ~0x3fn) | 8n); // T0SZ = 8: treated as 16
    expect([ctx.region0.inputBits, walker.walk(ctx, 0x1_0000_0000_0000, READ).faultStatus]).toEqual([48, TRANSLATION]);
    ctx.setTcr((Stage1Builder.tcr() & ~0x3fn) | 63n); // T0SZ = 63: treated as 39
    expect(ctx.region0.inputBits).toBe(25);
  });

  it('SCTLR_EL1.M = 0: VA = PA, every access allowed, an address beyond the PA size is an Address size fault', () => {
    const { ctx, walker } = setup();
    ctx.setSctlr(0n);
    const r = walker.walk(ctx, 0x1234_5678, WRITE | EL0);
    expect([r.status, r.address, r.references]).toEqual(['ok', 0x1234_5678, 0]);
    expect(walker.walk(ctx, 2 ** 48, READ).faultStatus).toBe(ADDRESS_SIZE);
  });

  it('bad host arguments throw UsageError naming the value', () => {
    const { ctx, walker } = setup();
    expect(() => walker.walk(ctx, -1, READ)).toThrow(/VA must be a non-negative safe integer, got -1/);
    expect(() => walker.walk(ctx, 0, 0)).toThrow(/stage 1 access must be S1_ACCESS flags .* got 0/);
    expect(() => walker.walk(ctx, 0, WRITE | EXECUTE)).toThrow(/got 6/);
    expect(() => walker.walk(ctx, 0, 0x100 | READ)).toThrow(/got 257/);
    expect(() => walker.walk64(ctx, 2 ** 32, 0, READ)).toThrow(/VA halves must be unsigned 32-bit integers, got hi 4294967296/);
    expect(() => ctx.setTcr(-1n)).toThrow(/TCR_EL1 must be an unsigned 64-bit bigint, got -1/);
    expect(() => ctx.setTtbr0(1n << 64n)).toThrow(/TTBR0_EL1 must be/);
    expect(() => new Stage1Context({ paBits: 52 })).toThrow(/paBits must be an integer in \[32, 48\], got 52/);
  });
});

describe('Arm ARM D8.2: stage 1 over stage 2 (guest walk)', () => {
  const SHIFT = 0x100_0000;
  function guest() {
    const { memory, tables } = makeMemory();
    const s2 = new Stage2Builder(memory, tables);
    for (let ipa = 0; ipa < 0x100_0000; ipa += 0x20_0000) s2.map(ipa, ipa + SHIFT, { pageSize: 0x20_0000 });
    const s2walker = new Stage2Walker(memory);
    s2walker.setVtcr(s2.vtcr());
    s2walker.setVttbr(s2.vttbr(3));
    // Guest tables at IPA [8, 12) MiB, i.e. PA [24, 28) MiB.
    const b = new Stage1Builder(memory, new PageAllocator(0x80_0000, 0x40_0000), 48, (ipa) => ipa + SHIFT);
    const ctx = new Stage1Context({ tcr: Stage1Builder.tcr(), ttbr0: b.ttbr(1), stage2: s2walker });
    return { memory, s2, b, ctx, walker: new Stage1Walker(memory) };
  }

  it('translates every table access and the output through stage 2: 4 + 5 x 2 references (2 MiB stage 2 blocks)', () => {
    const { b, ctx, walker } = guest();
    b.map(0x40_1000, 0x30_0000);
    const out = new WalkResult();
    const refs = out.record();
    walker.walk(ctx, 0x40_1abc, READ, out);
    expect([out.status, out.address, out.guestPhysicalAddress, out.references, out.secondStageReferences]).toEqual(['ok', 0x30_0abc + SHIFT, 0x30_0abc, 14, 10]);
    expect(refs.filter((r) => r.kind === 'guest').length).toBe(4);
    expect(walker.lastStage2PageSize).toBe(0x20_0000);
  });

  it('a stage 2 fault on a table access reports S1PTW and the table IPA; on the output, no S1PTW (D8.15, ISS.S1PTW)', () => {
    const { s2, b, ctx, walker } = guest();
    b.map(0x40_1000, 0x30_0000);
    b.map(0x40_2000, 0xf0_0000); // output IPA beyond stage 2 mappings
    s2.unmap(0x80_0000, 0x20_0000); // the guest tables' stage 2 mapping
    const r = walker.walk(ctx, 0x40_1000, READ);
    expect([r.status, r.faultStatus, r.errorCode & S2_ISS.S1PTW, r.guestPhysicalAddress, r.linearAddress]).toEqual(['stage2-fault', S2_FAULT_STATUS.TRANSLATION + 2, S2_ISS.S1PTW, b.root, 0x40_1000]);
    s2.map(0x80_0000, 0x80_0000 + SHIFT, { pageSize: 0x20_0000 });
    s2.unmap(0xe0_0000, 0x20_0000);
    const w = walker.walk(ctx, 0x40_2008, WRITE);
    expect([w.status, w.faultStatus, w.errorCode & (S2_ISS.S1PTW | S2_ISS.WNR), w.guestPhysicalAddress]).toEqual(['stage2-fault', S2_FAULT_STATUS.TRANSLATION + 2, S2_ISS.WNR, 0xf0_0008]);
    s2.writeProtect(0, 0x80_0000);
    expect(walker.walk(ctx, 0x40_1000, WRITE).faultStatus).toBe(S2_FAULT_STATUS.PERMISSION + 2);
  });

  it('a hardware Access flag update needs stage 2 write permission on the table (a stage 2 fault with S1PTW and WnR)', () => {
    const { s2, b, ctx, walker } = guest();
    ctx.setTcr(Stage1Builder.tcr({ ha: true }));
    b.map(0x40_1000, 0x30_0000, { accessFlag: false });
    s2.writeProtect(0x80_0000, 0x20_0000);
    const r = walker.walk(ctx, 0x40_1000, READ);
    expect([r.status, r.faultStatus, r.errorCode & (S2_ISS.S1PTW | S2_ISS.WNR)]).toEqual(['stage2-fault', S2_FAULT_STATUS.PERMISSION + 2, S2_ISS.S1PTW | S2_ISS.WNR]);
  });
});
