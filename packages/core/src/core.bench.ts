// Benchmarks for the speed targets. Each iteration runs a batch of
// operations; `[ops=N]` in the name tells scripts/bench.mjs the batch size so
// bench-results/summary.json reports operations per second.
import { bench, describe } from 'vitest';
import { Bitmap } from './bits/bitmap.js';
import { MmioBus } from './bus/buses.js';
import type { AccessSize, MmioDevice } from './bus/devices.js';
import { Clock } from './clock/clock.js';
import { PhysicalMemory } from './memory/physical-memory.js';
import { SeededRandom } from './random/seeded-random.js';

const BATCH = 1000;

describe('clock', () => {
  // Target: 5 million schedule+dispatch pairs per second with 10,000 events pending.
  const clock = new Clock(16384);
  const rng = new SeededRandom(1);
  const noop = (): void => {};
  for (let i = 0; i < 10_000; i++) clock.schedule(rng.nextInt(1, 1_000_000), noop);
  // Each dispatched event schedules a replacement, so 10,000 stay pending.
  const offsets = Uint32Array.from({ length: 4096 }, () => rng.nextInt(1, 1_000_000));
  let k = 0;
  const refill = (now: number): void => {
    clock.schedule(now + offsets[k++ & 4095]!, refill);
  };
  for (let i = 0; i < 10_000; i++) clock.schedule(rng.nextInt(1, 1_000_000), refill);
  bench(`schedule+dispatch with 10,000 pending [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) clock.step();
  });
});

describe('physical memory', () => {
  // Target: 50 million read32 per second on a populated page.
  const mem = new PhysicalMemory();
  mem.addRegion(0, 1 << 20);
  for (let a = 0; a < 4096; a += 4) mem.write32(0x3000 + a, a);
  let sink = 0;
  bench(`read32 on a populated page [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) s += mem.read32(0x3000 + ((i << 2) & 0xffc));
    sink ^= s;
  });
  bench(`read32 alternating two pages [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) s += mem.read32((i & 1 ? 0x3000 : 0x5000) + ((i << 2) & 0xffc));
    sink ^= s;
  });
  bench(`write32 on a populated page [ops=${BATCH}]`, () => {
    for (let i = 0; i < BATCH; i++) mem.write32(0x3000 + ((i << 2) & 0xffc), i);
  });
  void sink;
});

describe('mmio bus', () => {
  // Target: 20 million dispatches per second to a device among 64 mapped ranges.
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
  for (let i = 0; i < 64; i++) bus.map(0xe000_0000 + i * 0x10000, 0x1000, new Reg(), `dev${i}`);
  const targets = Float64Array.from({ length: 1024 }, (_, i) => 0xe000_0000 + ((i * 37) % 64) * 0x10000 + 0x10);
  let sink = 0;
  bench(`read dispatch, same device [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) s += bus.read(0xe020_0010, 4);
    sink ^= s;
  });
  bench(`read dispatch, rotating over 64 devices [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) s += bus.read(targets[i & 1023]!, 4);
    sink ^= s;
  });
  void sink;
});

describe('bitmap', () => {
  // Target: 50 million find-highest per second over 256 bits.
  const irr = new Bitmap(256);
  irr.set(0x31);
  irr.set(0x80);
  const sparse = new Bitmap(256);
  sparse.set(17);
  let sink = 0;
  bench(`findHighest over 256 bits [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) s += irr.findHighest();
    sink ^= s;
  });
  bench(`findHighest over 256 bits, lowest word set [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) s += sparse.findHighest();
    sink ^= s;
  });
  bench(`set+clear+findHighest over 256 bits [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) {
      irr.set(0x40 + (i & 31));
      s += irr.findHighest();
      irr.clear(0x40 + (i & 31));
    }
    sink ^= s;
  });
  const lpis = new Bitmap(65536);
  lpis.set(8192);
  bench(`findHighest over 65,536 bits, one low bit set [ops=${BATCH}]`, () => {
    let s = 0;
    for (let i = 0; i < BATCH; i++) s += lpis.findHighest();
    sink ^= s;
  });
  void sink;
});
