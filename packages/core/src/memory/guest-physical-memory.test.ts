import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors/hvsim-error.js';
import { GuestPhysicalMemory } from './guest-physical-memory.js';
import type { Memory } from './memory.js';
import { MemoryError } from './memory-error.js';
import { KVM_MEM_LOG_DIRTY_PAGES, Memslots } from './memslots.js';
import { PhysicalMemory } from './physical-memory.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);
const MiB = 1 << 20;

/** Host RAM at [16 MiB, 20 MiB); guest RAM 0-1 MiB -> host 16 MiB, 4 GiB + 64 KiB read-only -> host 17 MiB. */
function setup(): { host: PhysicalMemory; slots: Memslots; guest: GuestPhysicalMemory } {
  const host = new PhysicalMemory();
  host.addRegion(16 * MiB, 4 * MiB);
  const slots = new Memslots();
  slots.add({ id: 0, guestPhysical: 0, size: MiB, hostPhysical: 16 * MiB });
  slots.add({ id: 1, guestPhysical: 0x1_0000_0000, size: 0x1_0000, hostPhysical: 17 * MiB, readOnly: true });
  return { host, slots, guest: new GuestPhysicalMemory(host, slots) };
}

function caught(fn: () => unknown): MemoryError {
  try {
    fn();
  } catch (e) {
    return e as MemoryError;
  }
  throw new Error('expected a throw');
}

describe('GuestPhysicalMemory: host memory through memslots (api.rst 4.35, Linux include/linux/kvm_host.h)', () => {
  it('is a Memory: every access lands at the translated host address', () => {
    const { host, guest } = setup();
    const mem: Memory = guest;
    mem.write32(0x1234, 0xdead_beef);
    expect(host.read32(16 * MiB + 0x1234)).toBe(0xdead_beef);
    mem.write64(0x2000, 0x8000_0000_0000_1067n);
    expect(mem.read64(0x2000)).toBe(0x8000_0000_0000_1067n);
    expect(mem.read64Halves(0x2000, { lo: 0, hi: 0 })).toEqual({ lo: 0x1067, hi: 0x8000_0000 });
    mem.write16(0x10, 0xabcd);
    mem.write8(0x12, 0x7f);
    expect(mem.read32(0x10)).toBe(0x7f_abcd);
    expect(mem.read16(0x11)).toBe(0x7fab);
    expect(mem.read8(0x12)).toBe(0x7f);
    host.write32(17 * MiB + 8, 0x1234_5678);
    expect(mem.read32(0x1_0000_0008)).toBe(0x1234_5678);
    expect(guest.translate(0x1_0000_0008)).toBe(17 * MiB + 8);
  });

  it('splits accesses that cross a page, even into another slot', () => {
    const host = new PhysicalMemory();
    host.addRegion(0, MiB);
    const slots = new Memslots();
    // Guest pages 0 and 1 are host pages 5 and 2: contiguous in the guest only.
    slots.add({ id: 0, guestPhysical: 0, size: 0x1000, hostPhysical: 0x5000 });
    slots.add({ id: 1, guestPhysical: 0x1000, size: 0x1000, hostPhysical: 0x2000 });
    const guest = new GuestPhysicalMemory(host, slots);
    guest.write64(0xffc, 0x1122_3344_5566_7788n);
    expect(host.read32(0x5ffc)).toBe(0x5566_7788);
    expect(host.read32(0x2000)).toBe(0x1122_3344);
    expect(guest.read64(0xffc)).toBe(0x1122_3344_5566_7788n);
    expect(guest.read32(0xffe)).toBe(0x3344_5566);
    guest.write16(0xfff, 0xbeef);
    expect(host.read8(0x5fff)).toBe(0xef);
    expect(host.read8(0x2000)).toBe(0xbe);
    expect(guest.read16(0xfff)).toBe(0xbeef);
    guest.write32(0xffd, 0xa1b2_c3d4);
    expect(guest.read32(0xffd)).toBe(0xa1b2_c3d4);
    expect(guest.read64Halves(0xff9, { lo: 0, hi: 0 }).hi).toBe(guest.read32(0xffd));
    guest.writeBytes(0xff0, Uint8Array.from({ length: 32 }, (_, i) => i));
    expect(Array.from(guest.readBytes(0xff0, 32))).toEqual(Array.from({ length: 32 }, (_, i) => i));
    expect(host.read8(0x2000)).toBe(16);
  });

  it('names the guest-physical address of an unbacked access and changes nothing', () => {
    const { host, guest } = setup();
    const e = caught(() => guest.read32(0x10_0000));
    expect(e).toBeInstanceOf(MemoryError);
    expect(e.kind).toBe('unmapped');
    expect(e.address).toBe(0x10_0000);
    expect(e.message).toBe('read of 4 byte(s) at guest-physical address 0x100000 is in no memslot');
    // Crossing out of the slot: the whole access fails before any byte is written.
    const crossing = caught(() => guest.write64(0xf_fffc, 0xffff_ffff_ffff_ffffn));
    expect(crossing.kind).toBe('unmapped');
    expect(crossing.address).toBe(0x10_0000);
    expect(host.read32(16 * MiB + 0xf_fffc)).toBe(0);
    expect(() => guest.writeBytes(0xf_fff0, new Uint8Array(32).fill(1))).toThrow(/guest-physical address 0x100000 is in no memslot/);
    expect(host.read8(16 * MiB + 0xf_fff0)).toBe(0);
    expect(caught(() => guest.readBytes(0xf_ff00, 0x200)).kind).toBe('unmapped');
  });

  it('refuses writes to a read-only slot (KVM_MEM_READONLY) and reads it', () => {
    const { guest } = setup();
    const e = caught(() => guest.write32(0x1_0000_0010, 1));
    expect(e.kind).toBe('read-only');
    expect(e.message).toBe('write of 4 byte(s) at guest-physical address 0x100000010 into read-only memslot 1');
    expect(guest.read32(0x1_0000_0010)).toBe(0);
    expect(guest.isBacked(0x1_0000_0000, 0x1_0000)).toBe(true);
    expect(guest.isWritable(0x1_0000_0000)).toBe(false);
    expect(guest.pageView(0x1_0000_0000)).toBeUndefined();
    // The read cached the page; the write must still be refused.
    guest.read8(0x1_0000_0020);
    expect(caught(() => guest.write8(0x1_0000_0020, 1)).kind).toBe('read-only');
  });

  it('reports a slot whose host memory is missing as unmapped, naming the guest address', () => {
    const host = new PhysicalMemory();
    host.addRegion(0, 0x1000);
    const slots = new Memslots();
    slots.add({ id: 0, guestPhysical: 0x8000, size: 0x2000, hostPhysical: 0 });
    const guest = new GuestPhysicalMemory(host, slots);
    expect(guest.isBacked(0x8000, 0x1000)).toBe(true);
    expect(guest.isBacked(0x8000, 0x1001)).toBe(false);
    const e = caught(() => guest.readBytes(0x8ff0, 0x20));
    expect(e.message).toBe('read of 32 byte(s) at guest-physical address 0x8ff0 reaches host memory that is not backed');
  });

  it('throws UsageError for addresses that are not addresses (negative, fractional, >= 2^53)', () => {
    const { guest } = setup();
    for (const bad of [-1, 1.5, 2 ** 53, 2 ** 60 + 8, Number.NaN, Infinity]) {
      expect(() => guest.read32(bad)).toThrow(UsageError);
      expect(() => guest.write8(bad, 0)).toThrow(UsageError);
      expect(guest.isBacked(bad)).toBe(false);
      expect(guest.pageView(bad)).toBeUndefined();
    }
    expect(() => guest.read32(-1)).toThrow('guest-physical address must be a non-negative safe integer, got -1');
    expect(() => new GuestPhysicalMemory({} as never, new Memslots())).toThrow('GuestPhysicalMemory needs a host Memory, got object');
    expect(() => new GuestPhysicalMemory(new PhysicalMemory(), {} as never)).toThrow('GuestPhysicalMemory needs Memslots, got object');
  });

  it('sees memslot changes at once (the translation cache checks the generation)', () => {
    const { host, slots, guest } = setup();
    host.write32(16 * MiB + 0x100, 1);
    host.write32(18 * MiB + 0x100, 2);
    expect(guest.read32(0x100)).toBe(1);
    slots.remove(0);
    expect(() => guest.read32(0x100)).toThrow(MemoryError);
    slots.add({ id: 0, guestPhysical: 0, size: MiB, hostPhysical: 18 * MiB });
    expect(guest.read32(0x100)).toBe(2);
    // A restore of other slots is a change too, whatever generation they were saved at.
    const other = new Memslots();
    other.add({ id: 0, guestPhysical: 0, size: MiB, hostPhysical: 16 * MiB });
    slots.restoreState(other.saveState());
    expect(guest.read32(0x100)).toBe(1);
  });

  it('gives page views of the host page at the guest address, re-taken when the generation changes', () => {
    const { host, slots, guest } = setup();
    const view = guest.pageView(0x3456)!;
    expect(view.address).toBe(0x3000);
    expect(view.generation).toBe(guest.generation);
    view.words[1] = 0xcafe_f00d;
    expect(guest.read32(0x3004)).toBe(0xcafe_f00d);
    expect(host.read32(16 * MiB + 0x3004)).toBe(0xcafe_f00d);
    expect(guest.pageView(0x3000)).toBe(view);
    slots.setFlags(0, 0);
    expect(guest.generation).not.toBe(view.generation);
    const again = guest.pageView(0x3000)!;
    expect(again).not.toBe(view);
    expect(again.words[1]).toBe(0xcafe_f00d);
    const g = guest.generation;
    host.restoreState(host.saveState());
    expect(guest.generation).not.toBe(g);
    expect(guest.pageView(0x20_0000)).toBeUndefined();
  });

  it('logs dirty pages from its writes, its page views (noteWritten) and host writes (api.rst 4.8 KVM_GET_DIRTY_LOG)', () => {
    const { host, slots, guest } = setup();
    slots.setFlags(0, KVM_MEM_LOG_DIRTY_PAGES);
    expect(guest.observed).toBe(true);
    guest.write32(0x5000, 1); // page 5
    guest.write16(0x6fff, 1); // pages 6 and 7
    guest.writeBytes(0x9000, new Uint8Array(0x1001)); // pages 9 and 10
    const view = guest.pageView(0xc000)!;
    view.bytes[0] = 1;
    if (guest.observed) guest.noteWritten(0xc000, 1); // page 12
    const detach = slots.logHostWrites(host);
    host.write8(16 * MiB + 0x1f000, 1); // page 31 through the host (DMA)
    detach();
    expect(slots.getDirtyLog(0)[0]).toBe(((1 << 5) | (1 << 6) | (1 << 7) | (1 << 9) | (1 << 10) | (1 << 12) | (1 << 31)) >>> 0);
    // Cached translation: the next write to page 5 logs again after the log was taken.
    guest.write32(0x5004, 2);
    expect(slots.getDirtyLog(0)[0]).toBe(1 << 5);
  });

  it('tells its observers guest-physical ranges of every write into mapped host memory', () => {
    const { host, slots, guest } = setup();
    slots.add({ id: 2, guestPhysical: 0x8000_0000, size: 0x1000, hostPhysical: 16 * MiB }); // aliases guest page 0
    const seen: [number, number][] = [];
    expect(host.observed).toBe(false);
    const detach = guest.addWriteObserver((a, n) => seen.push([a, n]));
    expect(guest.observed).toBe(true);
    expect(host.observed).toBe(true);
    guest.write32(0x10, 1);
    host.write8(16 * MiB + 0x20, 1); // DMA
    host.write8(19 * MiB, 1); // mapped by no slot
    const view = guest.pageView(0)!;
    view.bytes[0x30] = 1;
    guest.noteWritten(0x30, 1);
    expect(seen).toEqual([
      [0x10, 4],
      [0x8000_0010, 4],
      [0x20, 1],
      [0x8000_0020, 1],
      [0x30, 1],
      [0x8000_0030, 1],
    ]);
    detach();
    expect(host.observed).toBe(false);
    guest.write32(0x10, 2);
    expect(seen).toHaveLength(6);
    expect(() => guest.addWriteObserver(1 as unknown as () => void)).toThrow(/write observer must be a function, got 1/);
  });

  it('behaves like a byte array indexed by guest-physical address for any access sequence', () => {
    const host = new PhysicalMemory();
    host.addRegion(0, 0x4000);
    const slots = new Memslots();
    // Two guest pages in reverse host order, a hole, a third page.
    slots.add({ id: 0, guestPhysical: 0x10000, size: 0x1000, hostPhysical: 0x1000 });
    slots.add({ id: 1, guestPhysical: 0x11000, size: 0x1000, hostPhysical: 0x0 });
    slots.add({ id: 2, guestPhysical: 0x13000, size: 0x1000, hostPhysical: 0x3000 });
    const base = 0x10000;
    const span = 0x4000;
    const backed = (a: number): boolean => a >= base && a < base + span && !(a >= 0x12000 && a < 0x13000);
    const op = fc.record({ addr: fc.integer({ min: base - 16, max: base + span + 16 }), size: fc.constantFrom(1, 2, 4, 8), value: fc.integer({ min: 0, max: 0xffff_ffff }), write: fc.boolean() });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        host.fill(0, 0x4000, 0);
        const guest = new GuestPhysicalMemory(host, slots);
        const model = new Uint8Array(span + 64);
        for (const { addr, size, value, write } of ops) {
          let ok = true;
          for (let i = 0; i < size; i++) ok &&= backed(addr + i);
          const act = (): number | bigint => {
            if (write) {
              if (size === 1) guest.write8(addr, value & 0xff);
              else if (size === 2) guest.write16(addr, value & 0xffff);
              else if (size === 4) guest.write32(addr, value);
              else guest.write64(addr, BigInt(value) * 0x1_0000_0001n);
              return 0;
            }
            return size === 1 ? guest.read8(addr) : size === 2 ? guest.read16(addr) : size === 4 ? guest.read32(addr) : guest.read64(addr);
          };
          if (!ok) {
            expect(act).toThrow(MemoryError);
            continue;
          }
          const got = act();
          const at = addr - base;
          if (write) {
            const v = size === 8 ? BigInt(value) * 0x1_0000_0001n : BigInt(value);
            for (let i = 0; i < size; i++) model[at + i] = Number((v >> BigInt(8 * i)) & 0xffn);
          } else {
            let v = 0n;
            for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(model[at + i]!);
            expect(BigInt(got)).toBe(v);
          }
        }
        for (let a = 0; a < span; a += 0x1000) {
          // Compared as one string: toEqual over 4 KiB arrays is slow (issue 12).
          if (backed(base + a)) expect(guest.readBytes(base + a, 0x1000).join()).toBe(model.subarray(a, a + 0x1000).join());
        }
      }),
      { seed, numRuns },
    );
  });
});
