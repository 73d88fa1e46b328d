import { describe, expect, it } from 'vitest';
import { UsageError } from '@hvsim/core';
import { WalkResult } from '../common/walk-result.js';
import { makeMemory } from '../test-support/fixtures.js';
import { EptBuilder } from './ept-builder.js';
import { EptWalker, decodeEptp } from './ept-walker.js';
import { EPTE_LO, EPT_ACCESS, EPT_QUAL } from './regs.js';

function setup(levels: 4 | 5 = 4, ad = false) {
  const { memory, tables } = makeMemory();
  const ept = new EptBuilder(memory, tables, levels);
  const walker = new EptWalker(memory, { maxPhyAddr: 46 });
  walker.setEptp(ept.eptp(ad));
  return { memory, ept, walker };
}

describe('SDM 3C 24.6.11 "Extended-Page-Table Pointer (EPTP)"', () => {
  it('decodes memory type, walk length, A/D enable and the PML4 address', () => {
    expect(decodeEptp(0x1234_5000n | 0x40n | 0x18n | 6n)).toEqual({ memoryType: 6, levels: 4, accessedDirty: true, root: 0x1234_5000 });
    expect(decodeEptp(0x5000n | 0x20n).levels).toBe(5);
  });

  it('rejects memory types other than UC/WB, bad walk lengths and reserved bits, naming the value', () => {
    expect(() => decodeEptp(0x5000n | 0x18n | 1n)).toThrow(/memory type 1/);
    expect(() => decodeEptp(0x5000n | 0x10n | 6n)).toThrow(/page-walk length 3/);
    expect(() => decodeEptp(0x5000n | 0x20n | 6n, 46, false)).toThrow(/page-walk length 5/);
    expect(() => decodeEptp(0x5000n | 0x100n | 0x18n | 6n)).toThrow(UsageError);
    expect(() => decodeEptp((1n << 46n) | 0x18n | 6n, 46)).toThrow(/reserved/);
  });
});

describe('SDM 3C 28.2.2 "EPT Translation Mechanism"', () => {
  it('translates 4 KiB, 2 MiB and 1 GiB pages with 4 / 3 / 2 references', () => {
    const { ept, walker } = setup();
    ept.map(0x1000, 0x7000);
    ept.map(0x20_0000, 0x60_0000, { pageSize: 0x20_0000 });
    ept.map(0x4000_0000, 0x8000_0000, { pageSize: 0x4000_0000 });
    let r = walker.walk(0x1234, EPT_ACCESS.READ);
    expect([r.status, r.address, r.references, r.pageSize]).toEqual(['ok', 0x7234, 4, 4096]);
    r = walker.walk(0x21_2345, EPT_ACCESS.WRITE);
    expect([r.address, r.references, r.pageSize]).toEqual([0x61_2345, 3, 0x20_0000]);
    r = walker.walk(0x4123_4567, EPT_ACCESS.FETCH);
    expect([r.address, r.references, r.pageSize]).toEqual([0x8123_4567, 2, 0x4000_0000]);
    expect(r.eptPermissions).toBe(7);
  });

  it('walks 5-level EPT (EPTP walk length 4)', () => {
    const { ept, walker } = setup(5);
    ept.map(0x1_0000_0000_0000, 0x7000);
    const r = walker.walk(0x1_0000_0000_0010, EPT_ACCESS.READ);
    expect([r.status, r.address, r.references]).toEqual(['ok', 0x7010, 5]);
  });

  it('records EPT references with kind "ept"', () => {
    const { ept, walker } = setup();
    ept.map(0x1000, 0x7000);
    const out = new WalkResult();
    const refs = out.record();
    walker.walk(0x1000, EPT_ACCESS.READ, out);
    expect(refs.map((x) => [x.kind, x.level])).toEqual([['ept', 4], ['ept', 3], ['ept', 2], ['ept', 1]]);
  });
});

describe('SDM 3C 28.2.3.2 "EPT Violations" and Table 27-7 exit qualification', () => {
  it('a not-present entry is a violation with bits 5:3 = 0', () => {
    const { walker } = setup();
    const r = walker.walk(0x5000, EPT_ACCESS.WRITE);
    expect(r.status).toBe('ept-violation');
    expect(r.exitQualification).toBe(EPT_QUAL.WRITE);
    expect(r.guestPhysicalAddress).toBe(0x5000);
    expect(r.level).toBe(4);
  });

  it('reports the access type and the AND of R/W/X over the entries used', () => {
    const { ept, walker } = setup();
    ept.map(0x1000, 0x7000, { permissions: 1 }); // read-only
    const r = walker.walk(0x1000, EPT_ACCESS.WRITE);
    expect(r.status).toBe('ept-violation');
    expect(r.exitQualification).toBe(EPT_QUAL.WRITE | EPT_QUAL.READABLE);
    const f = walker.walk(0x1000, EPT_ACCESS.FETCH);
    expect(f.exitQualification).toBe(EPT_QUAL.FETCH | EPT_QUAL.READABLE);
    ept.map(0x40_0000, 0x8000, { permissions: 7, tablePermissions: 3 });
    const g = walker.walk(0x40_0000, EPT_ACCESS.FETCH);
    expect(g.exitQualification).toBe(EPT_QUAL.FETCH | EPT_QUAL.READABLE | EPT_QUAL.WRITABLE);
  });

  it('execute-only pages allow fetches and not reads', () => {
    const { ept, walker } = setup();
    ept.map(0x1000, 0x7000, { permissions: 4 });
    expect(walker.walk(0x1000, EPT_ACCESS.FETCH).status).toBe('ok');
    expect(walker.walk(0x1000, EPT_ACCESS.READ).exitQualification).toBe(EPT_QUAL.READ | EPT_QUAL.EXECUTABLE);
  });
});

describe('SDM 3C 28.2.3.1 "EPT Misconfigurations"', () => {
  const cases: [string, (ept: EptBuilder, m: ReturnType<typeof makeMemory>['memory']) => void][] = [
    ['write permission without read (bits 2:0 = 010b)', (e) => e.map(0x1000, 0x7000, { permissions: 2 })],
    ['write and execute without read (110b)', (e) => e.map(0x1000, 0x7000, { permissions: 6 })],
    ['leaf memory type 2', (e) => e.map(0x1000, 0x7000, { memoryType: 2 })],
    ['leaf memory type 3', (e) => e.map(0x1000, 0x7000, { memoryType: 3 })],
    ['leaf memory type 7', (e) => e.map(0x1000, 0x7000, { memoryType: 7 })],
    ['address bit at MAXPHYADDR', (e, m) => {
      e.map(0x1000, 0x7000);
      const a = e.entryFor(0x1000, 1);
      m.write32(a + 4, 1 << 14);
    }],
    ['bits 7:3 of a PML4E', (e, m) => {
      e.map(0x1000, 0x7000);
      m.write32(e.root, m.read32(e.root) | 0x08);
    }],
    ['bits 6:3 of a non-leaf PDE', (e, m) => {
      e.map(0x1000, 0x7000);
      const a = e.entryFor(0x1000, 2);
      m.write32(a, m.read32(a) | 0x40);
    }],
    ['bits 20:12 of a 2 MiB leaf', (e, m) => {
      e.map(0x20_0000, 0x60_0000, { pageSize: 0x20_0000 });
      const a = e.entryFor(0x20_0000, 2);
      m.write32(a, m.read32(a) | 0x1000);
    }],
  ];
  for (const [name, make] of cases) {
    it(name, () => {
      const { memory, ept, walker } = setup();
      make(ept, memory);
      const gpa = name.includes('2 MiB') ? 0x20_0000 : 0x1000;
      const r = walker.walk(gpa, EPT_ACCESS.READ);
      expect(r.status).toBe('ept-misconfig');
      expect(r.guestPhysicalAddress).toBe(gpa);
    });
  }

  it('execute-only is a misconfiguration without the capability', () => {
    const { memory, tables } = makeMemory();
    const ept = new EptBuilder(memory, tables);
    ept.map(0x1000, 0x7000, { permissions: 4 });
    const walker = new EptWalker(memory, { executeOnly: false });
    walker.setEptp(ept.eptp());
    expect(walker.walk(0x1000, EPT_ACCESS.FETCH).status).toBe('ept-misconfig');
  });

  it('bit 7 of a PTE is ignored; memory type and ignore-PAT are reported', () => {
    const { memory, ept, walker } = setup();
    ept.map(0x1000, 0x7000, { memoryType: 4, ignorePat: true });
    const a = ept.entryFor(0x1000, 1);
    memory.write32(a, memory.read32(a) | EPTE_LO.LARGE);
    expect(walker.walk(0x1000, EPT_ACCESS.READ).status).toBe('ok');
    expect(walker.lastMemoryType).toBe(4);
    expect(walker.lastIgnorePat).toBe(true);
  });
});

describe('SDM 3C 28.2.4 "Accessed and Dirty Flags for EPT"', () => {
  it('with EPTP bit 6 sets A in every entry and D in the leaf on a write', () => {
    const { memory, ept, walker } = setup(4, true);
    ept.map(0x1000, 0x7000);
    walker.walk(0x1000, EPT_ACCESS.READ);
    for (const l of [4, 3, 2, 1]) expect(memory.read32(ept.entryFor(0x1000, l)) & EPTE_LO.A).toBe(EPTE_LO.A);
    expect(memory.read32(ept.entryFor(0x1000, 1)) & EPTE_LO.D).toBe(0);
    walker.walk(0x1000, EPT_ACCESS.WRITE);
    expect(memory.read32(ept.entryFor(0x1000, 1)) & EPTE_LO.D).toBe(EPTE_LO.D);
  });

  it('without EPTP bit 6 leaves bits 8 and 9 alone', () => {
    const { memory, ept, walker } = setup(4, false);
    ept.map(0x1000, 0x7000);
    walker.walk(0x1000, EPT_ACCESS.WRITE);
    expect(memory.read32(ept.entryFor(0x1000, 1)) & (EPTE_LO.A | EPTE_LO.D)).toBe(0);
  });

  it('saves and restores the EPTP and counters', () => {
    const { memory, ept, walker } = setup(4, true);
    ept.map(0x1000, 0x7000);
    walker.walk(0x1000, EPT_ACCESS.READ);
    walker.walk(0x9000, EPT_ACCESS.READ);
    const copy = new EptWalker(memory);
    copy.restoreState(JSON.parse(JSON.stringify(walker.saveState())));
    expect(copy.getEptp()).toBe(ept.eptp(true));
    expect(copy.saveState()).toEqual(walker.saveState());
    expect(copy.walk(0x1000, EPT_ACCESS.READ).address).toBe(0x7000);
  });
});

describe('bad input (EptWalker.walk)', () => {
  it('rejects an access outside exit-qualification bits 2:0 and a bad guest-physical address', () => {
    const { ept, walker } = setup();
    ept.map(0x1000, 0x2000);
    for (const access of [0, 8, 1.5, -1]) expect(() => walker.walk(0x1000, access)).toThrow(UsageError);
    expect(() => walker.walk(0x1000, 9)).toThrow(/got 9/);
    for (const gpa of [-4096, 0.5, Number.NaN]) expect(() => walker.walk(gpa, EPT_ACCESS.READ)).toThrow(/guest-physical address/);
    expect(walker.walk(0x1000, EPT_ACCESS.READ | EPT_ACCESS.WRITE).address).toBe(0x2000);
  });
});
