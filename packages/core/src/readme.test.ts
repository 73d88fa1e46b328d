// The README's examples, run as written, so the documentation cannot rot.
import { describe, expect, it } from 'vitest';
import { Clock, MmioBus, PhysicalMemory, RecordingTracer, toChromeTrace, type AccessSize, type MmioDevice } from './index.js';

describe('README examples', () => {
  it('a device on a bus, RAM and a clock', () => {
    class Scratch implements MmioDevice {
      private value = 0;
      mmioRead(offset: number, _size: AccessSize): number {
        return offset === 0 ? this.value : 0;
      }
      mmioWrite(offset: number, _size: AccessSize, value: number): void {
        if (offset === 0) this.value = value >>> 0;
      }
    }
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
});
