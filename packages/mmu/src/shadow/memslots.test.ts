import { MemoryError, KVM_MEM_LOG_DIRTY_PAGES, Memslots as CoreMemslots } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { Memslots, type GuestPhysicalMap } from './memslots.js';

describe('Memslots (gfn -> host address by slot: Linux include/linux/kvm_host.h), as @hvsim/mmu exports them', () => {
  it('is the core memslot table, so a VMM and the shadow MMU share one', () => {
    expect(Memslots).toBe(CoreMemslots);
    const map: GuestPhysicalMap = new Memslots();
    expect(map.translate(0)).toBe(-1);
  });

  it('translates inside slots, returns -1 outside, and bumps the generation on changes', () => {
    const m = new Memslots();
    m.add({ id: 0, guestPhysical: 0, size: 0x10_0000, hostPhysical: 0x80_0000 });
    m.add({ id: 1, guestPhysical: 0x100_0000, size: 0x1000, hostPhysical: 0x2000, readOnly: true });
    expect(m.translate(0x1234)).toBe(0x80_1234);
    expect(m.translate(0x100_0fff)).toBe(0x2fff);
    expect(m.translate(0x10_0000)).toBe(-1);
    expect(m.isReadOnly(0x100_0000)).toBe(true);
    expect(m.generation).toBe(2);
    m.remove(1);
    expect(m.translate(0x100_0000)).toBe(-1);
    expect(m.generation).toBe(3);
  });

  it('rejects overlaps, duplicate ids, misalignment and unknown ids, naming the values', () => {
    const m = new Memslots();
    m.add({ id: 0, guestPhysical: 0x1000, size: 0x2000, hostPhysical: 0 });
    expect(() => m.add({ id: 1, guestPhysical: 0x2000, size: 0x1000, hostPhysical: 0 })).toThrow(/overlaps memslot 0/);
    expect(() => m.add({ id: 0, guestPhysical: 0x8000, size: 0x1000, hostPhysical: 0 })).toThrow(/id 0 is already in use/);
    expect(() => m.add({ id: 2, guestPhysical: 0x8800, size: 0x1000, hostPhysical: 0 })).toThrow(MemoryError);
    expect(() => m.remove(9)).toThrow(/no memslot has id 9/);
  });

  it('saves and restores its slots, and still reads states saved by the former mmu table', () => {
    const m = new Memslots();
    m.add({ id: 3, guestPhysical: 0x4000, size: 0x2000, hostPhysical: 0x9000, flags: KVM_MEM_LOG_DIRTY_PAGES });
    const n = new Memslots();
    n.restoreState(JSON.parse(JSON.stringify(m.saveState())));
    expect(n.translate(0x5000)).toBe(0xa000);
    expect(n.saveState()).toEqual(m.saveState());
    const legacy = { type: 'hvsim.mmu.memslots', version: 1, generation: 4, slots: [{ id: 1, guestPhysical: 0, size: 0x1000, hostPhysical: 0x3000, readOnly: true }] };
    const before = n.generation;
    n.restoreState(legacy);
    expect(n.translate(0x10)).toBe(0x3010);
    expect(n.isReadOnly(0)).toBe(true);
    // A restore bumps the generation (never sets it back), so the shadow MMU drops pages built on the old slots.
    expect(n.generation).toBe(before + 1);
    expect(() => n.restoreState({ type: 'hvsim.mmu.memslots', version: 1, generation: 0, slots: [{ id: 1 }] })).toThrow(/guestPhysical/);
    expect(n.translate(0x10)).toBe(0x3010);
  });
});
