import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors/hvsim-error.js';
import { SnapshotError } from '../snapshot/snapshot-error.js';
import { checkAtomicRestore } from '../testing/atomic-restore.js';
import { MemoryError } from './memory-error.js';
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, Memslots } from './memslots.js';
import { PhysicalMemory } from './physical-memory.js';

const MiB = 1 << 20;

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('Memslots (api.rst 4.35 KVM_SET_USER_MEMORY_REGION, Linux include/linux/kvm_host.h)', () => {
  it('has the KVM flag values', () => {
    // api.rst 4.35: KVM_MEM_LOG_DIRTY_PAGES (1UL << 0), KVM_MEM_READONLY (1UL << 1)
    expect(KVM_MEM_LOG_DIRTY_PAGES).toBe(1);
    expect(KVM_MEM_READONLY).toBe(2);
  });

  it('translates, finds, lists sorted and bumps the generation on every change', () => {
    const m = new Memslots();
    m.add({ id: 7, guestPhysical: 0x1_0000_0000, size: MiB, hostPhysical: 0x20_0000 });
    const low = m.add({ id: 0, guestPhysical: 0, size: 0xa_0000, hostPhysical: 0x100_0000, flags: KVM_MEM_READONLY });
    expect(low).toEqual({ id: 0, guestPhysical: 0, size: 0xa_0000, hostPhysical: 0x100_0000, readOnly: true, flags: 2 });
    expect(Object.isFrozen(low)).toBe(true);
    expect(m.list().map((s) => s.id)).toEqual([0, 7]);
    expect(m.translate(0x1_0000_0123)).toBe(0x20_0123);
    expect(m.translate(0xa_0000)).toBe(-1);
    expect(m.find(0x9_ffff)?.id).toBe(0);
    expect(m.get(7)?.size).toBe(MiB);
    expect(m.isReadOnly(0x5000)).toBe(true);
    expect(m.isReadOnly(0x1_0000_0000)).toBe(false);
    expect(m.generation).toBe(2);
    m.setFlags(0, 0);
    expect(m.isReadOnly(0x5000)).toBe(false);
    expect(m.generation).toBe(3);
    m.remove(7);
    expect(m.translate(0x1_0000_0123)).toBe(-1);
    expect(m.generation).toBe(4);
  });

  it('rejects bad slots with the error kind and the values named', () => {
    const m = new Memslots();
    m.add({ id: 0, guestPhysical: 0x1000, size: 0x2000, hostPhysical: 0 });
    const overlap = caught(() => m.add({ id: 1, guestPhysical: 0x2000, size: 0x1000, hostPhysical: 0 })) as MemoryError;
    expect(overlap).toBeInstanceOf(MemoryError);
    expect(overlap.kind).toBe('region-overlap');
    expect(overlap.message).toBe('memslot 1 [0x2000, +0x1000) overlaps memslot 0 [0x1000, +0x2000)');
    expect(() => m.add({ id: 0, guestPhysical: 0x8000, size: 0x1000, hostPhysical: 0 })).toThrow('memslot id 0 is already in use');
    expect(() => m.add({ id: 2, guestPhysical: 0x8800, size: 0x1000, hostPhysical: 0 })).toThrow(
      'memslot 2: guestPhysical 0x8800, hostPhysical 0x0 and size 0x1000 must be non-zero multiples of 4 KiB',
    );
    expect(() => m.add({ id: 2, guestPhysical: 0x8000, size: 0, hostPhysical: 0 })).toThrow(/non-zero multiples/);
    expect(() => m.add({ id: 2, guestPhysical: -4096, size: 0x1000, hostPhysical: 0 })).toThrow(UsageError);
    expect(() => m.add({ id: 2, guestPhysical: 2 ** 53 - 4096, size: 0x3000, hostPhysical: 0 })).toThrow(/runs past 2\^53/);
    expect(() => m.add({ id: 2, guestPhysical: 0x8000, size: 0x1000, hostPhysical: 0, flags: 4 })).toThrow(
      'memslot 2 (0x2) flags must be a combination of KVM_MEM_LOG_DIRTY_PAGES (1) and KVM_MEM_READONLY (2), got 4 (0x4)',
    );
    expect(() => m.add({ id: 1.5, guestPhysical: 0x8000, size: 0x1000, hostPhysical: 0 })).toThrow(/memslot id must be an integer/);
    expect(() => m.add({ id: 2, guestPhysical: 0x8000, size: 0x1000, hostPhysical: 0, readonly: true } as never)).toThrow(
      'a memslot has no option "readonly" (known: id, guestPhysical, size, hostPhysical, readOnly, flags)',
    );
    expect(() => m.add({ id: 2, guestPhysical: 0x8000, size: 0x1000, hostPhysical: 0, readOnly: 1 as unknown as boolean })).toThrow('memslot 2 readOnly must be a boolean, got 1 (0x1)');
    expect(() => m.add({ id: 2, guestPhysical: 0x8000, size: 0x1000, hostPhysical: 0, flags: 1n as unknown as number })).toThrow(/flags must be a combination .* got 1n/);
    expect((caught(() => m.remove(9)) as MemoryError).kind).toBe('region-not-found');
    expect(() => m.setFlags(9, 0)).toThrow('no memslot has id 9 (0x9)');
    expect(m.generation).toBe(1);
  });

  it('logs dirty pages per slot and hands the bitmap out cleared (api.rst 4.8 KVM_GET_DIRTY_LOG)', () => {
    const m = new Memslots();
    m.add({ id: 1, guestPhysical: 0x10_0000, size: 40 * 4096, hostPhysical: 0, flags: KVM_MEM_LOG_DIRTY_PAGES });
    m.add({ id: 2, guestPhysical: 0x20_0000, size: 4096, hostPhysical: 0x10_0000 });
    expect(m.loggingSlots).toBe(1);
    m.markDirty(0x10_0000 + 3 * 4096 + 5, 1); // page 3
    m.markDirty(0x10_0000 + 33 * 4096 - 2, 4); // pages 32 and 33 (crosses)
    m.markDirty(0x20_0000, 4096); // a slot that does not log
    m.markDirty(0x30_0000, 8); // no slot: nothing to log
    expect(Array.from(m.dirtyBitmap(1)!)).toEqual([1 << 3, 0b11]);
    const log = m.getDirtyLog(1);
    expect(Array.from(log)).toEqual([8, 3]);
    // Cleared on read, as KVM_GET_DIRTY_LOG without manual protect.
    expect(Array.from(m.getDirtyLog(1))).toEqual([0, 0]);
    const into = new Uint32Array(4).fill(0xffff_ffff);
    m.markDirty(0x10_0000 + 39 * 4096, 1);
    expect(m.getDirtyLog(1, into)).toBe(into);
    expect(Array.from(into)).toEqual([0, 1 << 7, 0xffff_ffff, 0xffff_ffff]);
    expect(() => m.getDirtyLog(2)).toThrow('memslot 2 does not log dirty pages (set KVM_MEM_LOG_DIRTY_PAGES)');
    expect(() => m.getDirtyLog(1, new Uint32Array(1))).toThrow('dirty log of memslot 1 needs a Uint32Array of at least 2 words, got 1 words');
    expect(m.dirtyBitmap(2)).toBeUndefined();
  });

  it('with manual protection, reads leave the log and KVM_CLEAR_DIRTY_LOG clears pages (api.rst 4.117, 7.18)', () => {
    const m = new Memslots({ manualDirtyLogProtect: true });
    // 100 pages: not a multiple of 64, so the last range may end unaligned.
    m.add({ id: 0, guestPhysical: 0, size: 100 * 4096, hostPhysical: 0, flags: KVM_MEM_LOG_DIRTY_PAGES });
    for (const page of [0, 1, 31, 64, 65, 99]) m.markDirty(page * 4096, 1);
    expect(Array.from(m.getDirtyLog(0))).toEqual([0x8000_0003, 0, 3, 1 << 3]);
    expect(Array.from(m.getDirtyLog(0))).toEqual([0x8000_0003, 0, 3, 1 << 3]);
    m.clearDirtyLog(0, 0, 64, Uint32Array.of(0x8000_0001, 0xffff_ffff));
    expect(Array.from(m.getDirtyLog(0))).toEqual([2, 0, 3, 1 << 3]);
    // Bits beyond numPages are ignored; 64 + 36 ends at the slot's last page.
    m.clearDirtyLog(0, 64, 36, Uint32Array.of(1, 0xffff_ffff));
    expect(Array.from(m.getDirtyLog(0))).toEqual([2, 0, 2, 0]);
    expect(() => m.clearDirtyLog(0, 32, 32, new Uint32Array(1))).toThrow(
      "dirty log clear of memslot 0: first page 32 must be a multiple of 64, and page count 32 too unless the range ends at the slot's last page (100)",
    );
    expect(() => m.clearDirtyLog(0, 0, 10, new Uint32Array(1))).toThrow(/page count 10 too unless/);
    expect(() => m.clearDirtyLog(0, 64, 64, new Uint32Array(2))).toThrow('page count must be an integer in [0, 36], got 64 (0x40)');
    expect(() => m.clearDirtyLog(0, 0, 64, new Uint32Array(1))).toThrow('dirty log clear of 64 pages needs a Uint32Array of at least 2 words, got 1 words');
    expect(() => new Memslots({ manualDirtyLogProtect: 1 } as never)).toThrow('manualDirtyLogProtect must be a boolean, got 1 (0x1)');
    expect(() => new Memslots({ manualProtect: true } as never)).toThrow('Memslots has no option "manualProtect" (known: manualDirtyLogProtect)');
  });

  it('moves a slot without resizing it (api.rst 4.35, KVM_MR_MOVE)', () => {
    const m = new Memslots();
    m.add({ id: 0, guestPhysical: 0, size: 0x2000, hostPhysical: 0x9000, flags: KVM_MEM_LOG_DIRTY_PAGES });
    m.add({ id: 1, guestPhysical: 0x10000, size: 0x1000, hostPhysical: 0 });
    m.markDirty(0, 1);
    const g = m.generation;
    expect(m.move(0, 0x20000)).toEqual({ id: 0, guestPhysical: 0x20000, size: 0x2000, hostPhysical: 0x9000, readOnly: false, flags: 1 });
    expect(m.generation).toBe(g + 1);
    expect(m.translate(0x21000)).toBe(0xa000);
    expect(m.translate(0)).toBe(-1);
    expect(m.list().map((s) => s.id)).toEqual([1, 0]);
    expect(Array.from(m.getDirtyLog(0))).toEqual([0]);
    expect(() => m.move(0, 0xf000)).toThrow('memslot 0 moved to [0xf000, +0x2000) overlaps memslot 1 [0x10000, +0x1000)');
    expect(() => m.move(0, 0x20800)).toThrow(/must be non-zero multiples of 4 KiB/);
    expect(() => m.move(5, 0)).toThrow('no memslot has id 5 (0x5)');
    expect(m.move(0, 0x21000).guestPhysical).toBe(0x21000); // overlapping its own old place is fine
    expect(m.translate(0x21000)).toBe(0x9000);
  });

  it('starts and stops logging through the flags, keeping what is dirty while it stays on', () => {
    const m = new Memslots();
    m.add({ id: 0, guestPhysical: 0, size: 0x4000, hostPhysical: 0 });
    m.markDirty(0, 1);
    m.setFlags(0, KVM_MEM_LOG_DIRTY_PAGES);
    expect(Array.from(m.getDirtyLog(0))).toEqual([0]);
    m.markDirty(0x1000, 1);
    m.setFlags(0, KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY);
    expect(Array.from(m.getDirtyLog(0))).toEqual([2]);
    m.setFlags(0, 0);
    expect(m.loggingSlots).toBe(0);
    expect(() => m.getDirtyLog(0)).toThrow(UsageError);
  });

  it('logs host-physical writes (DMA, writes through EPT) into every slot that maps them', () => {
    const host = new PhysicalMemory();
    host.addRegion(0, 4 * MiB);
    const m = new Memslots();
    m.add({ id: 0, guestPhysical: 0, size: MiB, hostPhysical: MiB, flags: KVM_MEM_LOG_DIRTY_PAGES });
    // Slot 1 aliases the second half of slot 0's host range.
    m.add({ id: 1, guestPhysical: 0x1000_0000, size: MiB, hostPhysical: MiB + MiB / 2, flags: KVM_MEM_LOG_DIRTY_PAGES });
    const detach = m.logHostWrites(host);
    host.write32(MiB + MiB / 2 + 0x2000, 1); // page 0x82 of slot 0, page 2 of slot 1
    host.writeBytes(0x1000, new Uint8Array(16)); // maps to no slot
    host.write8(MiB + 0x1fff, 1); // page 1 of slot 0
    const log0 = m.getDirtyLog(0);
    expect(log0[0x82 >>> 5]).toBe(1 << (0x82 & 31));
    expect(log0[0]).toBe(1 << 1);
    const slot0 = Array.from(m.getDirtyLog(0));
    expect(slot0.every((w) => w === 0)).toBe(true);
    expect(m.getDirtyLog(1)[0]).toBe(1 << 2);
    detach();
    host.write8(MiB, 1);
    expect(m.getDirtyLog(0).every((w) => w === 0)).toBe(true);
    const seen: [number, number][] = [];
    m.forEachGuestRange(MiB + MiB / 2 - 2, 4, (gpa, size) => seen.push([gpa, size]));
    expect(seen).toEqual([
      [MiB / 2 - 2, 4],
      [0x1000_0000, 2],
    ]);
  });

  it('saves and restores slots and dirty bitmaps, bumping the generation; a bad state changes nothing', () => {
    const m = new Memslots();
    m.add({ id: 3, guestPhysical: 0x4000, size: 0x2000, hostPhysical: 0x9000, flags: KVM_MEM_LOG_DIRTY_PAGES });
    m.add({ id: 4, guestPhysical: 0x10000, size: 0x1000, hostPhysical: 0x9000, readOnly: true });
    m.markDirty(0x5000, 1);
    const saved = JSON.parse(JSON.stringify(m.saveState())) as ReturnType<Memslots['saveState']>;
    expect(saved.slots[0]).toEqual({ id: 3, guestPhysical: 0x4000, size: 0x2000, hostPhysical: 0x9000, flags: 1, dirty: [2] });
    const n = new Memslots();
    n.restoreState(saved);
    expect(n.saveState()).toEqual(m.saveState());
    // Restoring the same slots again still bumps the generation: caches built before are dropped.
    const g = n.generation;
    n.restoreState(saved);
    expect(n.generation).toBe(g + 1);
    expect(Array.from(n.getDirtyLog(3))).toEqual([2]);
    const overlapping = { ...saved, slots: [saved.slots[0], { ...saved.slots[0], id: 9 }] };
    const e = caught(() => n.restoreState(overlapping)) as SnapshotError;
    expect(e).toBeInstanceOf(SnapshotError);
    expect(e.message).toMatch(/^hvsim.memslots: memslot 9: memslot 9 \[0x4000, \+0x2000\) overlaps memslot 3/);
    const report = checkAtomicRestore(n, saved, [
      { label: 'overlapping slots', state: overlapping },
      { label: 'a dirty bitmap of the wrong length', state: { ...saved, slots: [{ ...saved.slots[0], dirty: [0, 0] }] } },
      { label: 'a dirty bitmap on a slot that does not log', state: { ...saved, slots: [{ ...saved.slots[1], dirty: [] }] } },
      { label: 'unknown flags', state: { ...saved, slots: [{ ...saved.slots[1], flags: 8 }] } },
    ]);
    expect(report.refused).toBe(4);
    expect(report.corruptionsRefused).toBeGreaterThan(20);
  });
});
