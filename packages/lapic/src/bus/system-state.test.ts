/**
 * Snapshot contract at system level: two local APICs, an IOAPIC and the bus,
 * driven by random IPIs, MSIs, pin changes, INTA/EOI and time; save
 * everything, restore into a freshly wired system, continue: the same as never
 * stopping (SDM 3A 11.6 / 11.8 / 11.11 behaviour; 82093AA Remote IRR).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Clock } from '@hvsim/core';
import { LocalApic } from '../apic/local-apic.js';
import { APIC } from '../apic/regs.js';
import { IoApic } from '../ioapic/io-apic.js';
import { ApicBus } from './apic-bus.js';
import { numRuns, seed } from '../test-support/helpers.js';

interface System {
  clock: Clock;
  bus: ApicBus;
  cpus: LocalApic[];
  io: IoApic;
}

function build(): System {
  const clock = new Clock();
  const bus = new ApicBus();
  const cpus = [0, 1].map((id) => new LocalApic({ id, clock, tscFrequencyHz: 1_000_000, timerFrequencyHz: 1_000_000 }));
  cpus.forEach((c) => bus.attach(c));
  const io = new IoApic();
  bus.attach(io);
  return { clock, bus, cpus, io };
}

function program(s: System): void {
  for (const c of s.cpus) {
    c.mmioWrite(APIC.SVR, 4, 0x1ff);
    c.mmioWrite(APIC.LDR, 4, (1 << (24 + c.id)) >>> 0);
  }
  s.io.writeIndirect(0x10 + 2 * 3, 0x8000 | 0x800 | 0x100 | 0x53); // level, logical, lowest priority
  s.io.writeIndirect(0x11 + 2 * 3, 0x0300_0000);
  s.io.writeIndirect(0x10 + 2 * 4, 0x44); // edge, fixed, to CPU 0
  s.cpus[1]!.mmioWrite(APIC.LVT_TIMER, 4, (1 << 17) | 0xec);
  s.cpus[1]!.mmioWrite(APIC.TIMER_INITIAL_COUNT, 4, 37);
}

type Op =
  | { k: 'ipi'; from: number; vector: number; dest: number; lowest: boolean }
  | { k: 'msi'; vector: number; dest: number }
  | { k: 'pin'; pin: 3 | 4; level: boolean }
  | { k: 'ack'; cpu: number }
  | { k: 'eoi'; cpu: number }
  | { k: 'tpr'; cpu: number; value: number }
  | { k: 'time'; n: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('ipi' as const), from: fc.integer({ min: 0, max: 1 }), vector: fc.integer({ min: 0x20, max: 0xfe }), dest: fc.integer({ min: 0, max: 2 }), lowest: fc.boolean() }),
  fc.record({ k: fc.constant('msi' as const), vector: fc.integer({ min: 0x20, max: 0xfe }), dest: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ k: fc.constant('pin' as const), pin: fc.constantFrom(3 as const, 4 as const), level: fc.boolean() }),
  fc.record({ k: fc.constant('ack' as const), cpu: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ k: fc.constant('eoi' as const), cpu: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ k: fc.constant('tpr' as const), cpu: fc.integer({ min: 0, max: 1 }), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ k: fc.constant('time' as const), n: fc.integer({ min: 0, max: 60 }) }),
);

function run(s: System, ops: readonly Op[], log: number[]): void {
  for (const o of ops) {
    switch (o.k) {
      case 'ipi': {
        const c = s.cpus[o.from]!;
        c.mmioWrite(APIC.ICR_HIGH, 4, o.dest === 2 ? 0xff00_0000 : (o.dest << 24) >>> 0);
        c.mmioWrite(APIC.ICR_LOW, 4, (o.lowest ? 0x100 : 0) | o.vector);
        break;
      }
      case 'msi':
        s.bus.deliverMsi((0xfee00000 | (o.dest << 12)) >>> 0, o.vector);
        break;
      case 'pin':
        s.io.setIrq(o.pin, o.level);
        break;
      case 'ack':
        log.push(s.cpus[o.cpu]!.acknowledge());
        break;
      case 'eoi':
        s.cpus[o.cpu]!.mmioWrite(APIC.EOI, 4, 0);
        break;
      case 'tpr':
        s.cpus[o.cpu]!.mmioWrite(APIC.TPR, 4, o.value);
        break;
      case 'time':
        s.clock.advance(o.n);
        break;
    }
    log.push(s.io.remoteIrr(3) ? 1 : 0, s.cpus[0]!.ppr, s.cpus[1]!.ppr, s.cpus[1]!.mmioRead(APIC.TIMER_CURRENT_COUNT, 4));
  }
}

describe('system save / restore / continue', () => {
  // Two halves of the runs (seeds seed and seed + 1), so that no test depends on the machine's speed.
  it.each([0, 1])('property (half %i): a restored system continues exactly like the original', (half) => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.array(op, { maxLength: 40 }), (before, after) => {
        const a = build();
        program(a);
        run(a, before, []);
        const saved = JSON.parse(
          JSON.stringify({ clock: a.clock.saveState(), bus: a.bus.saveState(), cpus: a.cpus.map((c) => c.saveState()), io: a.io.saveState() }),
        );
        const logA: number[] = [];
        run(a, after, logA);

        const b = build();
        b.clock.restoreState(saved.clock);
        b.bus.restoreState(saved.bus);
        b.cpus.forEach((c, i) => c.restoreState(saved.cpus[i]));
        b.io.restoreState(saved.io);
        const logB: number[] = [];
        run(b, after, logB);
        expect(logB).toEqual(logA);
        // The states compared as JSON text (exact, and cheap enough for every run); a difference is shown field by field.
        const [stateA, stateB] = [a, b].map((x) => JSON.stringify({ cpus: x.cpus.map((c) => c.saveState()), io: x.io.saveState() }));
        if (stateB !== stateA) expect(JSON.parse(stateB!)).toEqual(JSON.parse(stateA!));
        expect(stateB).toBe(stateA);
      }),
      { seed: seed + half, numRuns: Math.ceil(Math.min(numRuns, 100) / 2) },
    );
  });
});
