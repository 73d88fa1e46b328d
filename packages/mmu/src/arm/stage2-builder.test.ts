import { describe, expect, it } from 'vitest';
import { PageAllocator } from '../common/page-allocator.js';
import { makeMemory } from '../test-support/fixtures.js';
import { Stage2Builder } from './stage2-builder.js';
import { S2_ACCESS, S2_FAULT_STATUS } from './stage2-regs.js';
import { Stage2Walker } from './stage2-walker.js';

function setup() {
  const { memory, tables } = makeMemory();
  const s2 = new Stage2Builder(memory, tables);
  const walker = new Stage2Walker(memory);
  walker.setVtcr(s2.vtcr());
  walker.setVttbr(s2.vttbr(2));
  return { memory, tables, s2, walker };
}

describe('Stage2Builder for a hypervisor: unmap, protect, re-attach (Arm ARM D8.3 descriptors, D8.4 S2AP/XN)', () => {
  it('unmap clears pages; the walk then takes a Translation fault at level 3', () => {
    const { s2, walker } = setup();
    s2.map(0x8000_0000, 0x10_0000);
    s2.map(0x8000_1000, 0x10_1000);
    expect(s2.unmap(0x8000_0000, 0x1000)).toBe(1);
    expect(walker.walk(0x8000_0000, S2_ACCESS.READ).faultStatus).toBe(S2_FAULT_STATUS.TRANSLATION + 3);
    expect(walker.walk(0x8000_1000, S2_ACCESS.READ).address).toBe(0x10_1000);
    expect(s2.unmap(0x9000_0000, 0x4000_0000)).toBe(0); // nothing mapped there
  });

  it('tables an unmap leaves empty are unlinked and returned to the allocator; the rest stay', () => {
    const { tables, s2, walker } = setup();
    const before = tables.used;
    s2.map(0x8000_0000, 0x10_0000);
    s2.map(0x8000_1000, 0x10_1000);
    s2.map(0x8040_0000, 0x20_0000);
    expect(tables.used).toBe(before + 3); // a level 2 table and two level 3 tables
    s2.unmap(0x8000_0000, 0x1000);
    expect(tables.used).toBe(before + 3); // the first level 3 table still maps 0x80001000
    s2.unmap(0x8000_1000, 0x1000);
    expect([tables.used, s2.tablesReleased]).toEqual([before + 2, 1]);
    s2.unmap(0x8000_0000, 0x4000_0000);
    expect([tables.used, s2.tablesReleased]).toEqual([before, 3]);
    expect(walker.walk(0x8040_0000, S2_ACCESS.READ).faultStatus).toBe(S2_FAULT_STATUS.TRANSLATION + 1);
    s2.map(0x8040_0000, 0x20_0000); // tables are made again
    expect(walker.walk(0x8040_0000, S2_ACCESS.READ).address).toBe(0x20_0000);
  });

  it('unmapping part of a 2 MiB block splits it: the rest keeps its mapping and attributes', () => {
    const { s2, walker } = setup();
    s2.map(0x8020_0000, 0x40_0000, { pageSize: 0x20_0000, write: false });
    expect(s2.unmap(0x8030_0000, 0x2000)).toBe(2);
    expect(walker.walk(0x8030_0000, S2_ACCESS.READ).faultStatus).toBe(S2_FAULT_STATUS.TRANSLATION + 3);
    expect(walker.walk(0x8030_1fff, S2_ACCESS.READ).status).toBe('stage2-fault');
    const r = walker.walk(0x8030_2004, S2_ACCESS.READ);
    expect([r.address, r.level, r.writable]).toEqual([0x50_2004, 3, false]);
    expect(walker.walk(0x8020_0000, S2_ACCESS.WRITE).faultStatus).toBe(S2_FAULT_STATUS.PERMISSION + 3);
    expect(s2.leafFor(0x8020_0000)).toEqual({ address: s2.entryFor(0x8020_0000, 3), level: 3, size: 4096, output: 0x40_0000 });
  });

  it('a 1 GiB block split twice on the way to a 4 KiB unmap', () => {
    const { s2, walker } = setup();
    s2.map(0xc000_0000, 0x4000_0000, { pageSize: 0x4000_0000 });
    s2.unmap(0xc123_4000, 0x1000);
    expect(walker.walk(0xc123_4000, S2_ACCESS.READ).status).toBe('stage2-fault');
    expect(walker.walk(0xc123_5000, S2_ACCESS.READ).address).toBe(0x4123_5000);
    expect(walker.walk(0xc000_0000, S2_ACCESS.READ).level).toBe(2);
    expect(walker.walk(0xc120_0000, S2_ACCESS.READ).level).toBe(3);
  });

  it('writeProtect clears S2AP write for dirty logging; protect restores it and sets read/XN', () => {
    const { s2, walker } = setup();
    for (let p = 0; p < 4; p++) s2.map(0x8000_0000 + p * 0x1000, 0x10_0000 + p * 0x1000);
    s2.map(0x8020_0000, 0x40_0000, { pageSize: 0x20_0000 });
    expect(s2.writeProtect(0x8000_0000, 0x40_0000)).toBe(5);
    for (const ipa of [0x8000_0000, 0x8000_3000, 0x8021_0000]) {
      expect(walker.walk(ipa, S2_ACCESS.WRITE).faultStatus).toBe(S2_FAULT_STATUS.PERMISSION + (ipa === 0x8021_0000 ? 2 : 3));
      expect(walker.walk(ipa, S2_ACCESS.READ).status).toBe('ok');
    }
    // The dirty-log fault handler makes one page writable again.
    expect(s2.protect(0x8000_2000, 0x1000, { write: true })).toBe(1);
    expect(walker.walk(0x8000_2000, S2_ACCESS.WRITE).status).toBe('ok');
    expect(walker.walk(0x8000_1000, S2_ACCESS.WRITE).status).toBe('stage2-fault');
    s2.protect(0x8000_0000, 0x1000, { read: false, xn: 2 });
    expect(walker.walk(0x8000_0000, S2_ACCESS.READ).faultStatus).toBe(S2_FAULT_STATUS.PERMISSION + 3);
    expect(walker.walk(0x8000_0000, S2_ACCESS.EXECUTE).faultStatus).toBe(S2_FAULT_STATUS.PERMISSION + 3);
  });

  it('attach re-opens the tables of a restored VM from VTCR_EL2/VTTBR_EL2 and keeps building on them', () => {
    const { memory, tables, s2, walker } = setup();
    s2.map(0x8000_0000, 0x10_0000);
    const saved = tables.saveState();
    const again = new PageAllocator(tables.base, tables.size);
    again.restoreState(saved);
    const attached = Stage2Builder.attach(memory, again, s2.vtcr(), s2.vttbr(2));
    expect([attached.root, attached.startLevel, attached.ipaBits]).toEqual([s2.root, 1, 40]);
    attached.map(0x9000_0000, 0x20_0000);
    attached.unmap(0x8000_0000, 0x1000);
    expect(walker.walk(0x9000_0000, S2_ACCESS.READ).address).toBe(0x20_0000);
    expect(walker.walk(0x8000_0000, S2_ACCESS.READ).status).toBe('stage2-fault');
    const l0 = new Stage2Builder(memory, again, 0, 48);
    expect(Stage2Builder.attach(memory, again, l0.vtcr(), l0.vttbr()).startLevel).toBe(0);
  });

  it('VTTBR_EL2.VMID is 8 bits unless VTCR_EL2.VS = 1 (VTTBR_EL2, VTCR_EL2 register pages)', () => {
    const { s2, walker } = setup();
    walker.setVttbr(s2.vttbr(0x1234));
    expect(walker.vmid).toBe(0x34);
    walker.setVtcr(s2.vtcr() | (1n << 19n));
    expect(walker.vmid).toBe(0x1234);
  });

  it('bad arguments name the value', () => {
    const { memory, tables, s2 } = setup();
    expect(() => s2.unmap(0x8000_0800, 0x1000)).toThrow(/unmap: ipa 0x80000800 and size 0x1000 must be 4 KiB aligned/);
    expect(() => s2.unmap(0xff_ffff_f000, 0x2000)).toThrow(/beyond the 40-bit IPA space/);
    expect(() => s2.protect(0, 0x1000, { xn: 4 })).toThrow(/XN must be 0-3, got 4/);
    expect(() => new Stage2Builder(memory, tables, 1, 48)).toThrow(/IPA size 48 \(0x30\) bits cannot start at level 1/);
    expect(() => new Stage2Builder(memory, tables, 2 as 1)).toThrow(/starting level must be 0 or 1, got 2/);
    expect(() => new Stage2Builder(memory, tables, 1, 40, 0x1234)).toThrow(/root 0x1234 must be 4 KiB aligned/);
    expect(() => Stage2Builder.attach(memory, tables, 0n, s2.vttbr())).toThrow(/VTCR_EL2.SL0 0 is not a starting level the builder writes/);
    expect(() => s2.map(0x100_0000_0000, 0)).toThrow(/beyond the 40-bit IPA space/);
  });
});
