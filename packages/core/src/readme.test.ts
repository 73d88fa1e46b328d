// The README's examples. Its ```ts blocks build on each other (the device of
// the first is mapped in the third, the memory of the second is the address
// space's RAM), so they are extracted from README.md and run in order as one
// program, as written: the README is the only copy. The tests after that
// repeat them with the values their comments state.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  Clock,
  GuestPhysicalMemory,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  MemoryError,
  Memslots,
  MmioBus,
  PhysicalAddressSpace,
  PhysicalMemory,
  RecordingTracer,
  TaggingTracer,
  restoreCycle,
  saveCycle,
  toChromeTrace,
  type AccessSize,
  type MmioDevice,
} from './index.js';
import { checkAtomicRestore } from './testing/index.js';
import { readmeBlocks, runReadmeProgram, scratchDirectory } from '../../../test-support/readme-blocks.js';

describe('README.md: the ```ts blocks, extracted and run in order as written', () => {
  const blocks = readmeBlocks(join(import.meta.dirname, '..', 'README.md'));

  it('finds every block', () => {
    expect(blocks.map((b) => b.heading)).toEqual([
      'A device on a bus',
      'Guest-physical memory: memslots, dirty logging, a guest view',
      'One physical address space: RAM and devices',
      'Tracing to Perfetto',
      'Host and guests in one trace',
      'Snapshots',
      'Snapshots',
      'Time in saved states',
    ]);
  });

  it('runs them (the trace example writes trace.json into a scratch directory)', async () => {
    const dir = scratchDirectory();
    await runReadmeProgram(blocks, 'core-readme', dir);
    expect(existsSync(join(dir, 'trace.json'))).toBe(true);
  });
});

class Scratch implements MmioDevice {
  private value = 0;
  mmioRead(offset: number, _size: AccessSize): number {
    return offset === 0 ? this.value : 0;
  }
  mmioWrite(offset: number, _size: AccessSize, value: number): void {
    if (offset === 0) this.value = value >>> 0;
  }
}

describe('README examples', () => {
  it('a device on a bus, RAM and a clock', () => {
    const bus = new MmioBus();
    bus.map(0xfed0_0000, 0x1000, new Scratch(), 'scratch');
    bus.write(0xfed0_0000, 4, 42);
    expect(bus.read(0xfed0_0000, 4)).toBe(42);
    expect(bus.lookup(0xfee0_0000)).toBeUndefined();

    const ram = new PhysicalMemory();
    ram.addRegion(0, 64 << 20, { name: 'ram' });
    ram.write64(0x1000, 0x8000_0000_0000_1067n);
    expect(ram.read64Halves(0x1000, { lo: 0, hi: 0 })).toEqual({ lo: 0x1067, hi: 0x80000000 });

    const clock = new Clock();
    const fired: number[] = [];
    const timer = clock.schedule(1000, (now) => fired.push(now));
    clock.runUntil(500);
    expect(clock.cancel(timer)).toBe(true);
    clock.runUntilIdle();
    expect(fired).toEqual([]);

    const state = JSON.parse(JSON.stringify(ram.saveState())) as unknown;
    const copy = new PhysicalMemory();
    copy.restoreState(state);
    expect(copy.read64(0x1000)).toBe(0x8000_0000_0000_1067n);
  });

  it('tracing to a Chrome trace', () => {
    const tracer = new RecordingTracer({ capacity: 100_000 });
    tracer.emit({ kind: 'interrupt.raised', cycle: 2500, source: 'nic', vector: 0x41, flow: 7 });
    tracer.emit({ kind: 'interrupt.acknowledged', cycle: 5000, cpu: 0, source: 'lapic', vector: 0x41, flow: 7 });
    const trace = toChromeTrace(tracer.events(), { clockHz: 2.5e9 });
    expect(trace.traceEvents.find((e) => e.name === 'interrupt.acknowledged 0x41')?.ts).toBe(2);
  });

  it('guest-physical memory, dirty logging and one physical address space', () => {
    const host = new PhysicalMemory();
    host.addRegion(0x4000_0000, 64 << 20, { name: 'vm0 ram' });
    const slots = new Memslots();
    slots.add({ id: 0, guestPhysical: 0, size: 32 << 20, hostPhysical: 0x4000_0000, flags: KVM_MEM_LOG_DIRTY_PAGES });
    slots.add({ id: 1, guestPhysical: 0xfff0_0000, size: 1 << 20, hostPhysical: 0x4200_0000, flags: KVM_MEM_READONLY });
    const guest = new GuestPhysicalMemory(host, slots);
    guest.write32(0x1000, 0xcafe);
    expect(host.read32(0x4000_1000)).toBe(0xcafe);
    const detach = slots.logHostWrites(host);
    host.write8(0x4000_5000, 1);
    expect(slots.getDirtyLog(0)[0]).toBe(0b10_0010);
    expect(slots.getDirtyLog(0)[0]).toBe(0);
    detach();
    expect(() => guest.read32(0x0200_0000)).toThrow(MemoryError);

    const devices = new MmioBus();
    devices.map(0xfed0_0000, 0x1000, new Scratch(), 'scratch');
    const space = new PhysicalAddressSpace(guest, devices);
    const out = { lo: 0, hi: 0 };
    expect(space.write(0xfed0_0000, 4, 42)).toBe('mmio');
    expect(space.read(0x1000, 8, out)).toBe('ram');
    expect(out).toEqual({ lo: 0xcafe, hi: 0 });
    expect(space.read(0xd000_0000, 4, out)).toBe('unclaimed');
  });

  it('host and guests in one trace', () => {
    const tracer = new RecordingTracer();
    const vm1 = new TaggingTracer(tracer, { vm: 1 });
    vm1.emit({ kind: 'interrupt.delivered', cycle: 7500, cpu: 0, source: 'lapic', vector: 0x41, flow: 7 });
    const trace = toChromeTrace(tracer.events(), { clockHz: 2.5e9, vmName: (vm) => `guest ${vm}` });
    expect(trace.traceEvents.find((e) => e.name === 'process_name' && e.pid === 3)?.args?.name).toBe('guest 1');
  });

  it('atomic restores and time in saved states', () => {
    const ram = new PhysicalMemory();
    ram.addRegion(0, 0x2000);
    ram.write8(0x10, 1);
    const state = ram.saveState();
    checkAtomicRestore(new PhysicalMemory(), state, [{ label: 'overlapping regions', state: { ...state, regions: [...state.regions, state.regions[0]] } }]);

    const src = new Clock();
    src.advance(1000);
    const saved = saveCycle(src, 1500);
    expect(saved).toBe(500);
    const dst = new Clock();
    dst.advance(9_000_000);
    const fired: number[] = [];
    dst.schedule(restoreCycle(dst, saved), (now) => fired.push(now));
    dst.runUntilIdle();
    expect(fired).toEqual([9_000_500]);
  });
});
