import { describe, expect, it } from 'vitest';
import { Clock } from '@hvsim/core';
import { APIC } from '@hvsim/lapic';
import type { X86Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { LAYOUT, enableApic, eoi, setGate, smpMachine } from '../test-support/x86-machine.js';
import { CpuScheduler, type SchedulableCpu } from './scheduler.js';

type Routine = Generator<Op, void, number>;

/** A CPU that spends a fixed number of cycles per run step and records when it ran. */
class FakeCpu implements SchedulableCpu {
  localTime = 0;
  readonly slices: [number, number][] = [];
  constructor(private readonly stopAt = Number.POSITIVE_INFINITY, private readonly step = 10) {}
  run(until: number): string {
    const start = this.localTime;
    while (this.localTime < until) {
      if (this.localTime >= this.stopAt) return 'finished';
      this.localTime += this.step;
    }
    this.slices.push([start, this.localTime]);
    return 'budget';
  }
}

describe('CpuScheduler', () => {
  it('keeps every CPU within a quantum of the one furthest behind', () => {
    const cpus = [new FakeCpu(), new FakeCpu(Number.POSITIVE_INFINITY, 7), new FakeCpu(Number.POSITIVE_INFINITY, 13)];
    const s = new CpuScheduler(cpus, { quantum: 100 });
    expect(s.run(10_000)).toBe('time');
    for (const cpu of cpus) {
      expect(cpu.localTime).toBeGreaterThanOrEqual(10_000);
      for (const [start] of cpu.slices) {
        // When a slice started, no other CPU was behind it by more than the quantum.
        expect(start).toBeLessThanOrEqual(10_000);
      }
    }
    const ends = cpus.map((c) => c.localTime);
    expect(Math.max(...ends) - Math.min(...ends)).toBeLessThanOrEqual(100 + 13);
  });

  it('stops scheduling CPUs that finished', () => {
    const a = new FakeCpu(500);
    const b = new FakeCpu(Number.POSITIVE_INFINITY);
    const s = new CpuScheduler([a, b], { quantum: 50 });
    expect(s.run(2000)).toBe('time');
    expect(a.localTime).toBe(500);
    expect(b.localTime).toBeGreaterThanOrEqual(2000);
    expect(new CpuScheduler([new FakeCpu(0)]).run(100)).toBe('stopped');
  });

  it('advances the shared clock to the CPU furthest behind, never beyond', () => {
    const clock = new Clock();
    const seen: number[] = [];
    clock.schedule(250, () => seen.push(clock.now()));
    const cpus = [new FakeCpu(), new FakeCpu()];
    new CpuScheduler(cpus, { clock, quantum: 100 }).run(1000);
    expect(seen).toEqual([250]);
    expect(clock.now()).toBeLessThanOrEqual(Math.min(...cpus.map((c) => c.localTime)));
  });

  it('rejects bad arguments, naming them', () => {
    expect(() => new CpuScheduler([])).toThrow(/at least one CPU/);
    expect(() => new CpuScheduler([new FakeCpu()], { quantum: 0 })).toThrow(/quantum must be a positive integer of cycles, got 0/);
    const cpu = new FakeCpu();
    const s = new CpuScheduler([cpu]);
    expect(() => s.add(cpu)).toThrow(/already scheduled/);
    expect(() => s.run(-1)).toThrow(/run needs a cycle, got -1/);
  });

  it('runs an IPI ping-pong between two x86 CPUs in time order (SDM 3A 11.6 IPIs)', () => {
    const m = smpMachine(2);
    const FLAG = LAYOUT.DATA;
    const received: [number, number][] = [];
    m.program.define(0x2000_0000, function* ipi(g: X86Guest): Routine {
      const n = yield g.ld32(FLAG);
      yield g.st32(FLAG, n + 1);
      yield eoi(g);
      yield g.iret();
    });
    const [cpu0, cpu1] = m.cpus as [(typeof m.cpus)[0], (typeof m.cpus)[0]];
    m.program.define(0x1000_0000, function* bsp(g: X86Guest): Routine {
      yield* setGate(g, 0x40, { target: 0x2000_0000 });
      yield* enableApic(g);
      for (let round = 1; round <= 3; round++) {
        yield g.st32(LAYOUT.APIC + APIC.ICR_HIGH, 1 << 24);
        yield g.st32(LAYOUT.APIC + APIC.ICR_LOW, 0x40); // fixed IPI to APIC 1
        const sent = cpu0.cpu.localTime;
        while ((yield g.ld32(FLAG)) < round) yield g.pause();
        received.push([round, cpu0.cpu.localTime - sent]);
      }
    });
    m.program.define(0x1100_0000, function* ap(g: X86Guest): Routine {
      yield* enableApic(g);
      for (;;) {
        yield g.sti();
        yield g.hlt();
        yield g.cli();
      }
    });
    cpu0.cpu.start(0x1000_0000);
    cpu1.cpu.start(0x1100_0000);
    const s = new CpuScheduler([cpu0.cpu, cpu1.cpu], { clock: m.clock, quantum: 200 });
    s.run(2_000_000);
    expect(received.map(([round]) => round)).toEqual([1, 2, 3]);
    // The answer is seen within a few quanta of the send, not after the whole run.
    for (const [, latency] of received) expect(latency).toBeLessThan(5_000);
    expect(cpu1.cpu.stats().delivered[0x40]).toBe(3);
  });

  it('wakes a halted CPU for a clock event due at exactly the current cycle (SDM 3A 8.10.2 HLT)', () => {
    const m = smpMachine(1);
    const cpu = m.cpus[0]!;
    let handled = 0;
    m.program.define(0x2000_0000, function* handler(g: X86Guest): Routine {
      handled++;
      yield eoi(g);
      yield g.iret();
    });
    m.program.define(0x1000_0000, function* idle(g: X86Guest): Routine {
      yield* setGate(g, 0x40, { target: 0x2000_0000 });
      yield* enableApic(g);
      for (;;) {
        yield g.sti();
        yield g.hlt();
      }
    });
    cpu.cpu.start(0x1000_0000);
    const s = new CpuScheduler([cpu.cpu], { clock: m.clock, quantum: 200 });
    s.run(10_000);
    expect(cpu.cpu.isHalted).toBe(true);
    const now = m.clock.now();
    expect(cpu.cpu.localTime).toBe(now);
    // An event scheduled for "now" while every CPU is halted at now: the CPU must run it and wake, not spin.
    m.clock.schedule(now, () => cpu.apic.acceptInterrupt({ vector: 0x40, trigger: 'edge', level: true }));
    expect(s.run(20_000)).toBe('time');
    expect(handled).toBe(1);
  });
});
