import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Clock, SnapshotError } from '@hvsim/core';
import { ApicBus } from '../bus/apic-bus.js';
import { LocalApic } from './local-apic.js';
import { APIC } from './regs.js';
import { makeApic, numRuns, rd, seed, toX2apic, wr } from '../test-support/helpers.js';

const opts = { tscFrequencyHz: 1_000_000_000, timerFrequencyHz: 1_000_000_000 };

type Op =
  | { k: 'accept'; v: number; level: boolean }
  | { k: 'ack' }
  | { k: 'eoi' }
  | { k: 'tpr'; v: number }
  | { k: 'timer'; count: number; periodic: boolean }
  | { k: 'advance'; n: number }
  | { k: 'nmi' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('accept' as const), v: fc.integer({ min: 16, max: 255 }), level: fc.boolean() }),
  fc.record({ k: fc.constant('ack' as const) }),
  fc.record({ k: fc.constant('eoi' as const) }),
  fc.record({ k: fc.constant('tpr' as const), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ k: fc.constant('timer' as const), count: fc.integer({ min: 0, max: 500 }), periodic: fc.boolean() }),
  fc.record({ k: fc.constant('advance' as const), n: fc.integer({ min: 0, max: 300 }) }),
  fc.record({ k: fc.constant('nmi' as const) }),
);

function run(apic: LocalApic, clock: Clock, ops: readonly Op[], log: number[]): void {
  for (const o of ops) {
    switch (o.k) {
      case 'accept':
        apic.acceptInterrupt({ vector: o.v, trigger: o.level ? 'level' : 'edge' });
        break;
      case 'ack':
        log.push(apic.acknowledge());
        break;
      case 'eoi':
        wr(apic, APIC.EOI, 0);
        break;
      case 'tpr':
        wr(apic, APIC.TPR, o.v);
        break;
      case 'timer':
        wr(apic, APIC.LVT_TIMER, (o.periodic ? 1 << 17 : 0) | 0xec);
        wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0x1);
        wr(apic, APIC.TIMER_INITIAL_COUNT, o.count);
        break;
      case 'advance':
        clock.advance(o.n);
        break;
      case 'nmi':
        apic.acceptInterrupt({ vector: 2, deliveryMode: 4, trigger: 'edge' });
        break;
    }
    log.push(rd(apic, APIC.PPR), rd(apic, APIC.TIMER_CURRENT_COUNT), apic.pendingSignals);
  }
}

describe('save / restore (snapshot contract)', () => {
  // Two halves of the runs (seeds seed and seed + 1), so that no test depends on the machine's speed.
  it.each([0, 1])('property (half %i): save, restore into a fresh APIC and continue == never stopping', (half) => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), fc.array(opArb, { maxLength: 30 }), (before, after) => {
        const c1 = new Clock();
        const { apic: a } = makeApic({ ...opts, id: 1, clock: c1 });
        const logA: number[] = [];
        run(a, c1, before, logA);
        const saved = JSON.parse(JSON.stringify({ clock: c1.saveState(), apic: a.saveState() }));
        run(a, c1, after, logA);

        const c2 = new Clock();
        const { apic: b } = makeApic({ ...opts, id: 1, clock: c2 }, false);
        c2.restoreState(saved.clock);
        b.restoreState(saved.apic);
        const logB: number[] = [];
        run(b, c2, after, logB);
        const logAfter = logA.slice(logA.length - logB.length);
        expect(logB).toEqual(logAfter);
        expect(b.saveState()).toEqual(a.saveState());
      }),
      { seed: seed + half, numRuns: Math.ceil(Math.min(numRuns, 100) / 2) },
    );
  });

  it('round-trips x2APIC mode and the TSC deadline', () => {
    const clock = new Clock();
    const { apic } = makeApic({ ...opts, id: 7, clock });
    toX2apic(apic);
    apic.writeMsr(0x832, BigInt((2 << 17) | 0xef));
    apic.writeMsr(0x6e0, 1000n);
    const saved = JSON.parse(JSON.stringify(apic.saveState()));
    const clock2 = new Clock();
    const { apic: b } = makeApic({ ...opts, id: 7, clock: clock2 }, false);
    b.restoreState(saved);
    expect(b.mode).toBe('x2apic');
    expect(b.readMsr(0x6e0)).toBe(1000n);
    clock2.advance(1000);
    expect(b.isRequested(0xef)).toBe(true);
  });

  it('rejects foreign, wrong-version, malformed and mismatched states', () => {
    const { apic } = makeApic({ id: 1 });
    const good = apic.saveState();
    const { apic: other } = makeApic({ id: 2 });
    expect(() => other.restoreState({ ...good, type: 'hvsim.ioapic' })).toThrow(SnapshotError);
    expect(() => other.restoreState({ ...good, version: 2 })).toThrow(/state version 2 \(0x2\) is not supported/);
    expect(() => other.restoreState(good)).toThrow("hvsim.lapic.id is 1 but this APIC's id is 2");
    const { apic: same } = makeApic({ id: 1 });
    expect(() => same.restoreState({ ...good, tpr: 256 })).toThrow('hvsim.lapic.tpr must be an integer in [0, 255]');
    expect(() => same.restoreState({ ...good, irr: 'zz' })).toThrow(/irr must be 64 hex digits/);
    expect(() => same.restoreState({ ...good, mode: 'x3apic' })).toThrow(/mode must be one of/);
    expect(() => same.restoreState({ ...good, lint: [1, 2] })).toThrow(/lint must be an array of 2 booleans/);
    expect(() => same.restoreState({ ...good, timer: { ...good.timer, mode: 1 } })).toThrow(/timer.mode does not match/);
    expect(() => same.restoreState(null)).toThrow(SnapshotError);
  });

  it('restore updates the bus indexes', () => {
    const bus = new ApicBus();
    const { apic } = makeApic({ id: 1 });
    bus.attach(apic);
    const { apic: src } = makeApic({ id: 1, xapicIdWritable: true });
    wr(src, APIC.ID, 0x0900_0000);
    apic.restoreState(src.saveState());
    expect(bus.apicById(9)).toBe(apic);
  });
});

describe('atomic restore and CR8 (issue 12 bugs 7 and 10)', () => {
  it('CR8 written while the APIC is globally disabled survives a snapshot (SDM 3A 11.8.6)', () => {
    const { apic } = makeApic();
    apic.writeMsr(0x1b, 0xfee00000n); // globally disabled
    apic.writeCr8(5);
    const copy = new LocalApic({ id: 0 });
    copy.restoreState(JSON.parse(JSON.stringify(apic.saveState())));
    expect(copy.readCr8()).toBe(5);
  });

  it('a state with one bad field changes nothing (LocalApic)', () => {
    const { apic: src } = makeApic();
    toX2apic(src);
    src.writeMsr(0x808, 0x20n);
    const good = src.saveState();
    const { apic } = makeApic();
    wr(apic, APIC.TPR, 0x30);
    apic.acceptInterrupt({ vector: 0x40, trigger: 'edge' });
    const before = JSON.stringify(apic.saveState());
    const bad = (patch: (s: Record<string, unknown>) => void): unknown => {
      const s = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
      patch(s);
      return s;
    };
    for (const state of [
      bad((s) => (s.lint = [true])),
      bad((s) => (s.sipiVector = 300)),
      bad((s) => (s.irr = 'zz')),
      bad((s) => ((s.timer as Record<string, unknown>).divideConfig = 4)),
      bad((s) => (s.cr8 = 16)),
      bad((s) => ((s.timer as Record<string, unknown>).running = 'yes')),
    ]) {
      expect(() => apic.restoreState(state)).toThrow(SnapshotError);
      expect(JSON.stringify(apic.saveState())).toBe(before);
    }
    expect(apic.mode).toBe('xapic');
  });
});
