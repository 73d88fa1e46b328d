// EptBuilder unmap, range edits and re-attaching (host-seams G9a).
import { describe, expect, it } from 'vitest';
import { PageAllocator } from '../common/page-allocator.js';
import { makeMemory } from '../test-support/fixtures.js';
import { EptBuilder } from './ept-builder.js';
import { EptWalker } from './ept-walker.js';
import { EPT_ACCESS, EPT_QUAL } from './regs.js';

function setup() {
  const { memory, tables } = makeMemory();
  const ept = new EptBuilder(memory, tables);
  ept.identityMap(0, 0x40_0000);
  ept.map(0x4000_0000, 0x60_0000, { pageSize: 0x20_0000 });
  const walker = new EptWalker(memory);
  walker.setEptp(ept.eptp());
  const walk = (gpa: number, access: number = EPT_ACCESS.READ) => {
    const r = walker.walk(gpa, access);
    return r.status === 'ok' ? r.address : r.status;
  };
  return { memory, tables, ept, walker, walk };
}

describe('EptBuilder: unmap, write-protect, zap and attach (SDM 3C 28.2.2 formats)', () => {
  it('unmap and unmapRange clear leaves: the next access is an EPT violation', () => {
    const { ept, walk } = setup();
    ept.unmap(0x1000);
    expect(ept.existingEntry(0x1000, 1)).toBeGreaterThan(0);
    expect(ept.unmapRange(0x2000, 0x2000)).toBe(2);
    expect([walk(0), walk(0x1000), walk(0x2000), walk(0x3000), walk(0x4000)]).toEqual([0, 'ept-violation', 'ept-violation', 'ept-violation', 0x4000]);
    expect(ept.existingEntry(0x8000_0000, 1)).toBe(-1);
  });

  it('writeProtect clears W (dirty logging): a write is a violation with qualification W and R|X allowed', () => {
    const { ept, walker, walk } = setup();
    expect(ept.writeProtect(0x10_0000, 0x10_0000)).toBe(256);
    const r = walker.walk(0x10_0000, EPT_ACCESS.WRITE);
    expect([r.status, r.exitQualification & 0x3f]).toEqual(['ept-violation', EPT_QUAL.WRITE | ((EPT_ACCESS.READ | EPT_ACCESS.FETCH) << 3)]);
    expect(walk(0x10_0000)).toBe(0x10_0000);
    expect(walk(0x20_0000, EPT_ACCESS.WRITE)).toBe(0x20_0000);
  });

  it('zapRange frees the tables under a removed memslot', () => {
    const { tables, ept, walk } = setup();
    const used = tables.used;
    expect(ept.zapRange(0, 0x40_0000)).toBe(2); // two PDEs, each pointing at a PT wholly inside
    expect(tables.used).toBe(used - 2);
    expect([walk(0), walk(0x4000_0000)]).toEqual(['ept-violation', 0x60_0000]);
  });

  it('attach(memory, alloc, root) after a restore: no new root, new mappings go into the old tables', () => {
    const { memory, tables, ept, walk } = setup();
    const alloc = new PageAllocator(tables.base, tables.size);
    alloc.restoreState(tables.saveState());
    const again = EptBuilder.attach(memory, alloc, ept.root);
    expect([again.root, again.eptp(), alloc.used]).toEqual([ept.root, ept.eptp(), tables.used]);
    again.map(0x80_0000, 0x90_0000);
    expect(walk(0x80_0000)).toBe(0x90_0000);
    expect(() => EptBuilder.attach(memory, alloc, 0x800)).toThrow(/EPT root 0x800 must be 4 KiB aligned/);
  });
});
