import { describe, expect, it } from 'vitest';
import { UsageError } from '@hvsim/core';
import { WalkResult } from '../common/walk-result.js';
import { makeMemory } from '../test-support/fixtures.js';
import { Stage2Builder } from './stage2-builder.js';
import { S2_ACCESS, S2_FAULT_STATUS, S2_ISS } from './stage2-regs.js';
import { Stage2Walker } from './stage2-walker.js';

function setup(startLevel: 0 | 1 = 1, ipaBits = 40, hardwareAf = false) {
  const { memory, tables } = makeMemory();
  const s2 = new Stage2Builder(memory, tables, startLevel, ipaBits);
  const walker = new Stage2Walker(memory);
  walker.setVtcr(s2.vtcr(hardwareAf));
  walker.setVttbr(s2.vttbr(7));
  return { memory, s2, walker };
}

describe('Arm ARM D8.2/D8.3: VMSAv8-64 stage 2 translation, 4 KiB granule', () => {
  it('translates pages (level 3), 2 MiB blocks (level 2) and 1 GiB blocks (level 1)', () => {
    const { s2, walker } = setup();
    s2.map(0x8000_1000, 0x7000);
    s2.map(0x8020_0000, 0x60_0000, { pageSize: 0x20_0000 });
    s2.map(0xc000_0000, 0x4000_0000, { pageSize: 0x4000_0000 });
    expect([walker.walk(0x8000_1234, S2_ACCESS.READ).address, walker.walk(0x8000_1234, S2_ACCESS.READ).references]).toEqual([0x7234, 3]);
    expect([walker.walk(0x8021_2345, S2_ACCESS.READ).address, walker.walk(0x8021_2345, S2_ACCESS.READ).level]).toEqual([0x61_2345, 2]);
    const r = walker.walk(0xc123_4567, S2_ACCESS.WRITE);
    expect([r.address, r.level, r.pageSize, r.references]).toEqual([0x4123_4567, 1, 0x4000_0000, 1]);
    expect(walker.vmid).toBe(7);
  });

  it('indexes two concatenated level 1 tables for a 40-bit IPA space (D8.2, concatenated translation tables)', () => {
    const { s2, walker } = setup();
    s2.map(0x80_0000_0000 + 0x1000, 0x9000); // IPA bit 39 set: the second table
    expect(walker.walk(0x80_0000_1000, S2_ACCESS.READ).address).toBe(0x9000);
    expect(s2.entryFor(0x80_0000_0000, 1)).toBe(s2.root + 512 * 8);
  });

  it('walks four levels from level 0 for a 48-bit IPA space', () => {
    const { s2, walker } = setup(0, 48);
    s2.map(0xabc_0000_1000, 0x5000);
    const out = new WalkResult();
    const refs = out.record();
    expect(walker.walk(0xabc_0000_1008, S2_ACCESS.READ, out).address).toBe(0x5008);
    expect(refs.map((x) => [x.kind, x.level])).toEqual([['stage2', 0], ['stage2', 1], ['stage2', 2], ['stage2', 3]]);
  });
});

describe('Arm ARM D8.15: stage 2 faults with level and fault status code', () => {
  it('an invalid descriptor is a Translation fault at its level; ISS carries WnR', () => {
    const { s2, walker } = setup();
    s2.map(0x8000_1000, 0x7000);
    const r = walker.walk(0x8000_2000, S2_ACCESS.WRITE);
    expect([r.status, r.level, r.faultStatus, r.errorCode, r.guestPhysicalAddress]).toEqual(['stage2-fault', 3, S2_FAULT_STATUS.TRANSLATION + 3, S2_FAULT_STATUS.TRANSLATION + 3 | S2_ISS.WNR, 0x8000_2000]);
    expect(walker.walk(0x4000_0000, S2_ACCESS.READ).faultStatus).toBe(0b000101); // level 1
  });

  it('an IPA beyond T0SZ is a level 0 Translation fault; S1PTW is reported', () => {
    const { walker } = setup();
    const r = walker.walk(0x100_0000_0000, S2_ACCESS.READ | S2_ACCESS.S1PTW);
    expect([r.faultStatus, r.level, r.errorCode & S2_ISS.S1PTW]).toEqual([S2_FAULT_STATUS.TRANSLATION, 0, S2_ISS.S1PTW]);
  });

  it('AF = 0 is an Access flag fault unless VTCR_EL2.HA = 1, which sets AF in memory once the access is permitted', () => {
    const a = setup();
    a.s2.map(0x8000_1000, 0x7000, { accessFlag: false });
    expect(a.walker.walk(0x8000_1000, S2_ACCESS.READ).faultStatus).toBe(S2_FAULT_STATUS.ACCESS_FLAG + 3);
    const b = setup(1, 40, true);
    b.s2.map(0x8000_1000, 0x7000, { accessFlag: false });
    expect(b.walker.walk(0x8000_1000, S2_ACCESS.READ).status).toBe('ok');
    expect(b.memory.read32(b.s2.entryFor(0x8000_1000, 3)) & 0x400).toBe(0x400);
    // Permission is checked before the hardware AF update: a faulting access leaves AF clear.
    b.s2.map(0x8000_2000, 0x8000, { accessFlag: false, write: false });
    const w = b.walker.walk(0x8000_2000, S2_ACCESS.WRITE);
    expect([w.faultStatus, w.adWrites]).toEqual([S2_FAULT_STATUS.PERMISSION + 3, 0]);
    expect(b.memory.read32(b.s2.entryFor(0x8000_2000, 3)) & 0x400).toBe(0);
    // Without HA, an Access flag fault takes priority over a Permission fault.
    a.s2.map(0x8000_2000, 0x8000, { accessFlag: false, write: false });
    expect(a.walker.walk(0x8000_2000, S2_ACCESS.WRITE).faultStatus).toBe(S2_FAULT_STATUS.ACCESS_FLAG + 3);
  });

  it('S2AP and XN permissions give Permission faults at the leaf level (D8.4)', () => {
    const { s2, walker } = setup();
    s2.map(0x8000_1000, 0x7000, { write: false });
    s2.map(0x8000_2000, 0x8000, { read: false });
    s2.map(0x8020_0000, 0x60_0000, { pageSize: 0x20_0000, xn: 2 });
    expect(walker.walk(0x8000_1000, S2_ACCESS.WRITE).faultStatus).toBe(S2_FAULT_STATUS.PERMISSION + 3);
    expect(walker.walk(0x8000_1000, S2_ACCESS.READ).status).toBe('ok');
    expect(walker.walk(0x8000_2000, S2_ACCESS.READ).faultStatus).toBe(S2_FAULT_STATUS.PERMISSION + 3);
    expect(walker.walk(0x8000_2000, S2_ACCESS.WRITE).status).toBe('ok');
    expect(walker.walk(0x8020_0000, S2_ACCESS.EXECUTE).faultStatus).toBe(S2_FAULT_STATUS.PERMISSION + 2);
    expect(walker.walk(0x8000_1000, S2_ACCESS.EXECUTE).status).toBe('ok');
  });

  it('FEAT_XNX: XN = 01 allows EL0 execution only, 11 EL1 only', () => {
    const { memory, tables } = makeMemory();
    const s2 = new Stage2Builder(memory, tables);
    s2.map(0x8000_1000, 0x7000, { xn: 1 });
    s2.map(0x8000_2000, 0x8000, { xn: 3 });
    const w = new Stage2Walker(memory, { xnx: true });
    w.setVtcr(s2.vtcr());
    w.setVttbr(s2.vttbr());
    expect(w.walk(0x8000_1000, S2_ACCESS.EXECUTE | S2_ACCESS.EL0).status).toBe('ok');
    expect(w.walk(0x8000_1000, S2_ACCESS.EXECUTE).status).toBe('stage2-fault');
    expect(w.walk(0x8000_2000, S2_ACCESS.EXECUTE).status).toBe('ok');
    expect(w.walk(0x8000_2000, S2_ACCESS.EXECUTE | S2_ACCESS.EL0).status).toBe('stage2-fault');
  });

  it('an output address beyond VTCR_EL2.PS is an Address size fault', () => {
    const { memory, s2, walker } = setup();
    walker.setVtcr(s2.vtcr() & ~(7n << 16n)); // PS = 32 bits
    s2.map(0x8000_1000, 0x7000);
    const leaf = s2.entryFor(0x8000_1000, 3);
    memory.write32(leaf + 4, 0x1); // output address bit 32
    expect(walker.walk(0x8000_1000, S2_ACCESS.READ).faultStatus).toBe(S2_FAULT_STATUS.ADDRESS_SIZE + 3);
  });

  it('a T0SZ the starting level cannot resolve faults at level 0; other granules are rejected', () => {
    const { s2, walker } = setup();
    walker.setVtcr((s2.vtcr() & ~0x3fn) | 16n); // 48-bit IPA from level 1: 512 tables
    expect(walker.walk(0x1000, S2_ACCESS.READ).faultStatus).toBe(S2_FAULT_STATUS.TRANSLATION);
    expect(() => walker.setVtcr(s2.vtcr() | (1n << 14n))).toThrow(/4 KiB granule/);
  });

  it('saves and restores its registers and counters', () => {
    const { memory, s2, walker } = setup();
    s2.map(0x8000_1000, 0x7000);
    walker.walk(0x8000_1000, S2_ACCESS.READ);
    const copy = new Stage2Walker(memory);
    copy.restoreState(JSON.parse(JSON.stringify(walker.saveState())));
    expect(copy.saveState()).toEqual(walker.saveState());
    expect(copy.walk(0x8000_1000, S2_ACCESS.READ).address).toBe(0x7000);
  });
});

describe('bad input (Stage2Walker.walk)', () => {
  it('rejects unknown access bits and a bad IPA, naming the value', () => {
    const { s2, walker } = setup();
    s2.map(0x1000, 0x2000);
    for (const access of [0x20, 0.5, -1]) expect(() => walker.walk(0x1000, access)).toThrow(UsageError);
    expect(() => walker.walk(0x1000, 0x40)).toThrow(/got 64/);
    for (const ipa of [-1, 1.5]) expect(() => walker.walk(ipa, S2_ACCESS.READ)).toThrow(/IPA/);
    expect(walker.walks).toBe(0);
  });
});
