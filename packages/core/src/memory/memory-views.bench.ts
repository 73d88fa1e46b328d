// Benchmarks of the guest-physical view and the combined physical address
// space against PhysicalMemory itself. Each iteration runs a batch; `[ops=N]`
// tells scripts/bench.mjs the batch size.
import { bench, describe } from 'vitest';
import { MmioBus } from '../bus/buses.js';
import type { AccessSize, MmioDevice } from '../bus/devices.js';
import { GuestPhysicalMemory } from './guest-physical-memory.js';
import { KVM_MEM_LOG_DIRTY_PAGES, Memslots } from './memslots.js';
import { PhysicalAddressSpace } from './physical-address-space.js';
import { PhysicalMemory } from './physical-memory.js';

const BATCH = 1000;
const MiB = 1 << 20;

const host = new PhysicalMemory();
host.addRegion(0, 64 * MiB);
const slots = new Memslots();
slots.add({ id: 0, guestPhysical: 0, size: 16 * MiB, hostPhysical: 32 * MiB });
slots.add({ id: 1, guestPhysical: 0x1_0000_0000, size: 16 * MiB, hostPhysical: 16 * MiB, flags: KVM_MEM_LOG_DIRTY_PAGES });
const guest = new GuestPhysicalMemory(host, slots);
for (let a = 0; a < 4096; a += 4) {
  guest.write32(0x3000 + a, a);
  guest.write32(0x5000 + a, a);
}

describe('guest-physical memory', () => {
  let sink = 0;
  bench(`host read32, one page (baseline) [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) s += host.read32(32 * MiB + 0x3000 + ((i << 2) & 0xffc));
    sink ^= s;
  });
  bench(`guest read32, one page (translation cached) [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) s += guest.read32(0x3000 + ((i << 2) & 0xffc));
    sink ^= s;
  });
  bench(`guest read32 alternating two pages [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) s += guest.read32((i & 1 ? 0x3000 : 0x5000) + ((i << 2) & 0xffc));
    sink ^= s;
  });
  bench(`guest read32 alternating two slots [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) s += guest.read32((i & 1 ? 0x3000 : 0x1_0000_3000) + ((i << 2) & 0xffc));
    sink ^= s;
  });
  bench(`guest write32, one page [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) guest.write32(0x3000 + ((i << 2) & 0xffc), i);
  });
  bench(`guest write32, one page, dirty logging on [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) guest.write32(0x1_0000_3000 + ((i << 2) & 0xffc), i);
  });
  const out = { lo: 0, hi: 0 };
  bench(`guest read64Halves, one page [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) s += guest.read64Halves(0x3000 + ((i << 3) & 0xff8), out).lo;
    sink ^= s;
  });
  void sink;
});

describe('physical address space', () => {
  class Reg implements MmioDevice {
    value = 0;
    mmioRead(offset: number, _size: AccessSize): number {
      return this.value + offset;
    }
    mmioWrite(_offset: number, _size: AccessSize, value: number): void {
      this.value = value;
    }
  }
  const bus = new MmioBus();
  bus.map(0xfee0_0000, 0x1000, new Reg(), 'lapic');
  const space = new PhysicalAddressSpace(host, bus);
  const guestSpace = new PhysicalAddressSpace(guest, bus);
  const out = { lo: 0, hi: 0 };
  let sink = 0;
  bench(`read 4 bytes of RAM [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) {
      space.read(32 * MiB + 0x3000 + ((i << 2) & 0xffc), 4, out);
      s += out.lo;
    }
    sink ^= s;
  });
  bench(`write 8 bytes of RAM [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) space.write(32 * MiB + 0x3000 + ((i << 3) & 0xff8), 8, i, 0);
  });
  bench(`read 4 bytes of guest RAM [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) {
      guestSpace.read(0x3000 + ((i << 2) & 0xffc), 4, out);
      s += out.lo;
    }
    sink ^= s;
  });
  bench(`read 4 bytes of MMIO [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) {
      space.read(0xfee0_0030, 4, out);
      s += out.lo;
    }
    sink ^= s;
  });
  bench(`read 4 bytes of nothing (unclaimed) [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) if (space.read(0xd000_0000, 4, out) === 'unclaimed') s++;
    sink ^= s;
  });
  void sink;
});
