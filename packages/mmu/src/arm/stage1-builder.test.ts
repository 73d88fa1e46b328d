import { describe, expect, it } from 'vitest';
import { makeMemory } from '../test-support/fixtures.js';
import { Stage1Builder } from './stage1-builder.js';
import { Stage1Context } from './stage1-context.js';
import { S1_ACCESS, TCR_EL1 } from './stage1-regs.js';
import { Stage1Walker } from './stage1-walker.js';
import { getField64 } from '@hvsim/core';

describe('Stage1Builder (Arm ARM D8.3 descriptor formats; TCR_EL1 and TTBRn_EL1 register pages)', () => {
  it('writes descriptors with AP, UXN/PXN, AF, nG, AttrIndx, DBM and the output address', () => {
    const { memory, tables } = makeMemory();
    const b = new Stage1Builder(memory, tables);
    b.map(0x40_1000, 0x12_3000, { el0: true, readOnly: true, uxn: true, pxn: true, global: false, attrIndx: 5, dbm: true });
    const a = b.entryFor(0x40_1000, 3);
    // lo: valid|page, AttrIndx 5 << 2, AP[1] bit 6, AP[2] bit 7, SH 0b11, AF, nG, address.
    expect(memory.read32(a)).toBe((0x12_3000 | 0x3 | (5 << 2) | 0x40 | 0x80 | 0x300 | 0x400 | 0x800) >>> 0);
    // hi: DBM bit 51, PXN bit 53, UXN bit 54.
    expect(memory.read32(a + 4)).toBe(((1 << 19) | (1 << 21) | (1 << 22)) >>> 0);
  });

  it('TTBR1 addresses as bigints; unmap clears a page or a block', () => {
    const { memory, tables } = makeMemory();
    const b1 = new Stage1Builder(memory, tables);
    b1.map(0xffff_0000_0020_0000n, 0x40_0000, { pageSize: 0x20_0000 });
    b1.map(0xffff_0000_0000_1000n, 0x5000);
    const ctx = new Stage1Context({ tcr: Stage1Builder.tcr(), ttbr1: b1.ttbr() });
    const walker = new Stage1Walker(memory);
    expect(walker.walk64(ctx, 0xffff_0000, 0x21_0000, S1_ACCESS.READ).address).toBe(0x41_0000);
    expect(b1.unmap(0xffff_0000_0020_0000n)).toBe(true);
    expect(b1.unmap(0xffff_0000_0000_1000n)).toBe(true);
    expect(b1.unmap(0xffff_0000_0000_2000n)).toBe(false);
    expect(walker.walk64(ctx, 0xffff_0000, 0x21_0000, S1_ACCESS.READ).faultStatus).toBe(0b000110);
    expect(walker.walk64(ctx, 0xffff_0000, 0x1000, S1_ACCESS.READ).faultStatus).toBe(0b000111);
  });

  it('tcr() composes TnSZ, TG0 = 4 KiB, TG1 = 4 KiB, IPS and the flags', () => {
    const tcr = Stage1Builder.tcr({ t0Bits: 39, t1Bits: 42, ipsBits: 40, a1: true, tbi1: true, ha: true });
    expect([getField64(tcr, TCR_EL1.T0SZ), getField64(tcr, TCR_EL1.T1SZ), getField64(tcr, TCR_EL1.TG0), getField64(tcr, TCR_EL1.TG1), getField64(tcr, TCR_EL1.IPS)]).toEqual([25n, 22n, 0n, 2n, 2n]);
    expect([getField64(tcr, TCR_EL1.A1), getField64(tcr, TCR_EL1.TBI1), getField64(tcr, TCR_EL1.HA), getField64(tcr, TCR_EL1.AS), getField64(tcr, TCR_EL1.HD)]).toEqual([1n, 1n, 1n, 1n, 0n]);
  });

  it('bad arguments name the value', () => {
    const { memory, tables } = makeMemory();
    expect(() => new Stage1Builder(memory, tables, 49)).toThrow(/stage 1 input size must be 25-48 bits, got 49/);
    const b = new Stage1Builder(memory, tables, 30);
    expect(() => b.map(0, 0, { pageSize: 0x4000_0000 })).toThrow(/does not fit a 30-bit region starting at level 2/);
    expect(() => b.map(0x1000, 0x1000, { attrIndx: 8 })).toThrow(/attrIndx must be 0-7, got 8/);
    expect(() => b.map(0x1800, 0x1000)).toThrow(/must be aligned to the page size 0x1000/);
    expect(() => b.map(-1n, 0x1000)).toThrow(/VA must be an unsigned 64-bit value, got -1n/);
    expect(() => b.limitTable(0, 1, {})).toThrow(/table level must be 2-2, got 1/);
    expect(() => b.ttbr(0x1_0000)).toThrow(/ASID must be 0-0xffff, got 65536/);
    expect(() => Stage1Builder.tcr({ t0Bits: 24 })).toThrow(/t0Bits must be 25-48, got 24/);
    expect(() => Stage1Builder.tcr({ ipsBits: 52 })).toThrow(/ipsBits must be 32, 36, 40, 42, 44 or 48, got 52/);
  });
});
