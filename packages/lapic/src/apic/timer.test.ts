import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordingTracer } from '@hvsim/core';
import { timerDivisor } from './timer.js';
import { APIC } from './regs.js';
import { expectGp, makeApic, numRuns, rd, seed, toX2apic, wr } from '../test-support/helpers.js';

// Timer clock = TSC: 1 cycle per timer tick before the divider keeps the arithmetic readable.
const opts = { tscFrequencyHz: 1_000_000_000, timerFrequencyHz: 1_000_000_000 };
const ONE_SHOT = 0x00;
const PERIODIC = 1 << 17;
const DEADLINE = 2 << 17;
const VEC = 0xec;

describe('APIC timer (SDM 3A 11.5.4)', () => {
  it('divide configuration encodes 2..128 and 1 (SDM 3A Figure 11-10)', () => {
    expect([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xa, 0xb].map(timerDivisor)).toEqual([2, 4, 8, 16, 32, 64, 128, 1]);
  });

  it('one-shot counts down at clock/divisor, fires once, then reads 0 (kvm-unit-tests test_apic_timer_one_shot)', () => {
    const { apic, clock } = makeApic(opts);
    wr(apic, APIC.LVT_TIMER, ONE_SHOT | VEC);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0x0); // divide by 2
    wr(apic, APIC.TIMER_INITIAL_COUNT, 100);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(100);
    clock.advance(50);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(75);
    clock.advance(149);
    expect(apic.isRequested(VEC)).toBe(false); // not before initial count x divisor
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(1);
    clock.advance(1);
    expect(apic.isRequested(VEC)).toBe(true);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(0);
    expect(apic.acknowledge()).toBe(VEC);
    wr(apic, APIC.EOI, 0);
    clock.advance(10_000);
    expect(apic.isRequested(VEC)).toBe(false);
    expect(rd(apic, APIC.TIMER_INITIAL_COUNT)).toBe(100);
  });

  it('periodic reloads from the initial count and fires every period', () => {
    const { apic, clock } = makeApic(opts);
    wr(apic, APIC.LVT_TIMER, PERIODIC | VEC);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb); // divide by 1
    wr(apic, APIC.TIMER_INITIAL_COUNT, 10);
    let fired = 0;
    for (let i = 0; i < 5; i++) {
      clock.advance(10);
      if (apic.acknowledge() === VEC) {
        fired++;
        wr(apic, APIC.EOI, 0);
      }
      expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(10);
    }
    expect(fired).toBe(5);
    clock.advance(3);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(7);
  });

  it('writing initial count 0 stops the timer; rewriting re-arms from the new count', () => {
    const { apic, clock } = makeApic(opts);
    wr(apic, APIC.LVT_TIMER, VEC);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 100);
    clock.advance(40);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 100);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(100);
    clock.advance(99);
    expect(apic.isRequested(VEC)).toBe(false);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 0);
    clock.advance(1000);
    expect(apic.isRequested(VEC)).toBe(false);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('a masked timer counts but never delivers', () => {
    const { apic, clock } = makeApic(opts);
    wr(apic, APIC.LVT_TIMER, (1 << 16) | PERIODIC | VEC);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 10);
    clock.advance(35);
    expect(apic.isRequested(VEC)).toBe(false);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(5);
    wr(apic, APIC.LVT_TIMER, PERIODIC | VEC);
    clock.advance(5);
    expect(apic.isRequested(VEC)).toBe(true);
  });

  it('changing the divider keeps the current count and continues at the new rate', () => {
    const { apic, clock } = makeApic(opts);
    wr(apic, APIC.LVT_TIMER, VEC);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 100);
    clock.advance(20);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0x1); // divide by 4
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(80);
    clock.advance(8);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(78);
    clock.advance(78 * 4 - 8 - 1);
    expect(apic.isRequested(VEC)).toBe(false);
    clock.advance(9);
    expect(apic.isRequested(VEC)).toBe(true);
  });

  it('one-shot <-> periodic keeps TMICT and does not reload TMCCT; expired one-shot stays 0 (kvm-unit-tests test_apic_change_mode)', () => {
    const { apic, clock } = makeApic(opts);
    wr(apic, APIC.LVT_TIMER, ONE_SHOT | VEC);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 100);
    clock.advance(30);
    wr(apic, APIC.LVT_TIMER, PERIODIC | VEC);
    expect(rd(apic, APIC.TIMER_INITIAL_COUNT)).toBe(100);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(70);
    clock.advance(70);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(100); // periodic reloaded at 0
    wr(apic, APIC.LVT_TIMER, ONE_SHOT | VEC);
    clock.advance(100);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(0);
    wr(apic, APIC.LVT_TIMER, PERIODIC | VEC);
    clock.advance(500);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(0);
  });

  it('TSC-deadline: fires when TSC reaches the deadline, then reads 0 (SDM 3A 11.5.4.1; kvm-unit-tests test_tsc_deadline_timer)', () => {
    const { apic, clock } = makeApic(opts);
    wr(apic, APIC.LVT_TIMER, DEADLINE | 0xef);
    clock.advance(1000);
    apic.writeMsr(0x6e0, 1500n);
    expect(apic.readMsr(0x6e0)).toBe(1500n);
    clock.advance(499);
    expect(apic.isRequested(0xef)).toBe(false);
    clock.advance(1);
    expect(apic.isRequested(0xef)).toBe(true);
    expect(apic.readMsr(0x6e0)).toBe(0n);
    apic.acknowledge();
    wr(apic, APIC.EOI, 0);
    // deadline = now fires immediately, exactly once
    apic.writeMsr(0x6e0, BigInt(clock.now()));
    expect(apic.acknowledge()).toBe(0xef);
    wr(apic, APIC.EOI, 0);
    clock.advance(10_000);
    expect(apic.isRequested(0xef)).toBe(false);
  });

  it('TSC-deadline: 0 disarms; TMICT writes are ignored and TMCCT reads 0', () => {
    const { apic, clock } = makeApic(opts);
    wr(apic, APIC.LVT_TIMER, DEADLINE | VEC);
    apic.writeMsr(0x6e0, 100n);
    apic.writeMsr(0x6e0, 0n);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 10);
    expect(rd(apic, APIC.TIMER_INITIAL_COUNT)).toBe(0);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(0);
    clock.advance(1000);
    expect(apic.isRequested(VEC)).toBe(false);
  });

  it('the deadline MSR is ignored and reads 0 in other modes; switching into or out of deadline mode disarms', () => {
    const { apic, clock } = makeApic(opts);
    wr(apic, APIC.LVT_TIMER, VEC);
    apic.writeMsr(0x6e0, 100n);
    expect(apic.readMsr(0x6e0)).toBe(0n);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 50);
    wr(apic, APIC.LVT_TIMER, DEADLINE | VEC); // disarms the one-shot count
    expect(rd(apic, APIC.TIMER_INITIAL_COUNT)).toBe(0);
    clock.advance(100);
    expect(apic.isRequested(VEC)).toBe(false);
    apic.writeMsr(0x6e0, 500n);
    wr(apic, APIC.LVT_TIMER, VEC); // out of deadline mode disarms the deadline
    clock.advance(1000);
    expect(apic.isRequested(VEC)).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('without TSC-deadline support the mode is not selectable and the MSR faults', () => {
    const { apic } = makeApic({ ...opts, tscDeadline: false });
    wr(apic, APIC.LVT_TIMER, DEADLINE | VEC);
    expect(rd(apic, APIC.LVT_TIMER)).toBe(VEC);
    expectGp(() => apic.writeMsr(0x6e0, 1n));
    toX2apic(apic);
    expectGp(() => apic.writeMsr(0x832, BigInt(DEADLINE | VEC)));
  });

  it('default frequencies: 25 MHz timer under a 2.5 GHz TSC is 100 cycles per tick', () => {
    const { apic, clock } = makeApic();
    wr(apic, APIC.LVT_TIMER, VEC);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 10);
    clock.advance(999);
    expect(apic.isRequested(VEC)).toBe(false);
    clock.advance(1);
    expect(apic.isRequested(VEC)).toBe(true);
    expect(() => makeApic({ tscFrequencyHz: 1000, timerFrequencyHz: 300 })).toThrow('timerFrequencyHz (300) must divide tscFrequencyHz (1000)');
  });
});

describe('TSC offset (VMX TSC offsetting for IA32_TSC_DEADLINE)', () => {
  it('the deadline compares with clock + offset; changing the offset re-arms it', () => {
    const { apic, clock } = makeApic({ ...opts, tscOffset: 1000 });
    wr(apic, APIC.LVT_TIMER, DEADLINE | VEC);
    apic.writeMsr(0x6e0, 1500n); // TSC 1500 = cycle 500
    clock.advance(499);
    expect(apic.isRequested(VEC)).toBe(false);
    clock.advance(1);
    expect(apic.isRequested(VEC)).toBe(true);
    apic.acknowledge();
    wr(apic, APIC.EOI, 0);
    apic.writeMsr(0x6e0, 3000n); // cycle 2000
    apic.tscOffset = 2500; // now TSC = 3000: due at once
    expect(apic.isRequested(VEC)).toBe(true);
    expect(() => (apic.tscOffset = 0.5)).toThrow('tscOffset must be an integer');
  });

  it('highestRequestedVector / highestInServiceVector expose RVI / SVI', () => {
    const { apic } = makeApic();
    expect([apic.highestRequestedVector(), apic.highestInServiceVector()]).toEqual([-1, -1]);
    wr(apic, APIC.TPR, 0xf0);
    apic.acceptInterrupt({ vector: 0x33, trigger: 'edge' });
    expect(apic.highestRequestedVector()).toBe(0x33);
    wr(apic, APIC.TPR, 0);
    apic.acknowledge();
    expect(apic.highestInServiceVector()).toBe(0x33);
  });
});

describe('timer tracing', () => {
  it('an expiry is traced as raised through the timer LVT, then delivered', () => {
    const tracer = new RecordingTracer();
    const { apic, clock } = makeApic({ ...opts, tracer });
    wr(apic, APIC.LVT_TIMER, VEC);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 10);
    clock.advance(10);
    expect(tracer.events().map((e) => [e.kind, e.cycle, e.args?.lvt])).toEqual([
      ['interrupt.raised', 10, 'timer'],
      ['interrupt.delivered', 10, undefined],
    ]);
  });
});

describe('timer count and expiries against a reference model (SDM 3A 11.5.4)', () => {
  it('property: TMCCT = TMICT - elapsed ticks (reloading when periodic); one expiry per period, one in one-shot mode', () => {
    // 4 clock cycles per timer tick before the divider, so ticks never fall on every cycle.
    const freq = { tscFrequencyHz: 1_000_000_000, timerFrequencyHz: 250_000_000 };
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 1, max: 300 }),
        fc.constantFrom(0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xa, 0xb),
        fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 12 }),
        (periodic, initial, divide, advances) => {
          const tracer = new RecordingTracer();
          const { apic, clock } = makeApic({ ...freq, tracer });
          wr(apic, APIC.LVT_TIMER, (periodic ? PERIODIC : ONE_SHOT) | VEC);
          wr(apic, APIC.TIMER_DIVIDE_CONFIG, divide);
          const start = clock.now();
          wr(apic, APIC.TIMER_INITIAL_COUNT, initial);
          const cyclesPerCount = 4 * timerDivisor(divide);
          for (const n of advances) {
            clock.advance(n);
            const ticks = Math.floor((clock.now() - start) / cyclesPerCount);
            let count: number;
            let expiries: number;
            if (periodic) {
              count = ticks < initial ? initial - ticks : initial - ((ticks - initial) % initial);
              expiries = Math.floor(ticks / initial);
            } else {
              count = Math.max(initial - ticks, 0);
              expiries = ticks >= initial ? 1 : 0;
            }
            expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(count);
            expect(tracer.events().filter((e) => e.kind === 'interrupt.raised' && e.args?.lvt === 'timer')).toHaveLength(expiries);
          }
        },
      ),
      { seed, numRuns },
    );
  });
});
