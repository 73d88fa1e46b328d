import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordingTracer } from '@hvsim/core';
import { computeApr, computePpr, priorityClass } from './priority.js';
import { APIC } from './regs.js';
import { makeApic, numRuns, rd, seed, wr } from '../test-support/helpers.js';

describe('priority arithmetic (SDM 3A 11.8.3.1, 11.6.2.4)', () => {
  it('PPR is TPR when TPR class >= ISRV class, else ISRV class', () => {
    expect(computePpr(0x35, 0x20)).toBe(0x35);
    expect(computePpr(0x35, 0x31)).toBe(0x35);
    expect(computePpr(0x35, 0x41)).toBe(0x40);
    expect(computePpr(0, 0)).toBe(0);
    expect(priorityClass(0xe3)).toBe(0xe);
  });

  it('APR follows the P6 formula', () => {
    expect(computeApr(0x50, 0, 0x41)).toBe(0x50); // TPR >= IRRV and TPR > ISRV
    expect(computeApr(0x20, 0, 0x41)).toBe(0x40); // max(TPR & ISRV, IRRV)
    expect(computeApr(0x30, 0x31, 0)).toBe(0x30 & 0x30); // TPR not > ISRV: max(3 & 3, 0) << 4
  });
});

describe('acceptance, acknowledge and EOI (SDM 3A 11.8.3-11.8.5)', () => {
  it('acknowledge moves the highest vector from IRR to ISR and raises PPR; EOI clears it', () => {
    const { apic } = makeApic();
    apic.acceptInterrupt({ vector: 0x31, trigger: 'edge' });
    apic.acceptInterrupt({ vector: 0x62, trigger: 'edge' });
    expect(rd(apic, APIC.IRR0 + 0x10)).toBe((1 << 17) >>> 0); // 0x31 = word 1 bit 17
    expect(rd(apic, APIC.IRR0 + 0x30)).toBe(1 << 2); // 0x62 = word 3 bit 2
    expect(apic.acknowledge()).toBe(0x62);
    expect(rd(apic, APIC.ISR0 + 0x30)).toBe(1 << 2);
    expect(rd(apic, APIC.PPR)).toBe(0x60);
    // 0x31 is below PPR now
    expect(apic.hasPendingInterrupt()).toBe(false);
    wr(apic, APIC.EOI, 0);
    expect(rd(apic, APIC.PPR)).toBe(0);
    expect(apic.acknowledge()).toBe(0x31);
  });

  it('a vector is deliverable only if its class is above PPR (same class as TPR is blocked)', () => {
    const { apic } = makeApic();
    wr(apic, APIC.TPR, 0x40);
    apic.acceptInterrupt({ vector: 0x4f, trigger: 'edge' });
    expect(apic.hasPendingInterrupt()).toBe(false);
    apic.acceptInterrupt({ vector: 0x50, trigger: 'edge' });
    expect(apic.highestDeliverableVector()).toBe(0x50);
    wr(apic, APIC.TPR, 0x3f);
    expect(apic.acknowledge()).toBe(0x50);
    expect(apic.hasPendingInterrupt()).toBe(false); // 0x4f class 4 <= PPR class 5
    wr(apic, APIC.EOI, 0);
    expect(apic.acknowledge()).toBe(0x4f);
  });

  it('nested: a higher class interrupts a lower one in service; EOI ends the highest first', () => {
    const { apic } = makeApic();
    apic.acceptInterrupt({ vector: 0x40, trigger: 'edge' });
    expect(apic.acknowledge()).toBe(0x40);
    apic.acceptInterrupt({ vector: 0x80, trigger: 'edge' });
    expect(apic.acknowledge()).toBe(0x80);
    expect(rd(apic, APIC.PPR)).toBe(0x80);
    wr(apic, APIC.EOI, 0);
    expect(apic.isInService(0x80)).toBe(false);
    expect(apic.isInService(0x40)).toBe(true);
    expect(rd(apic, APIC.PPR)).toBe(0x40);
  });

  it('edge interrupts of a vector already in IRR coalesce', () => {
    const tracer = new RecordingTracer();
    const { apic } = makeApic({ tracer });
    apic.acceptInterrupt({ vector: 0x55, trigger: 'edge' });
    apic.acceptInterrupt({ vector: 0x55, trigger: 'edge' });
    expect(tracer.events().filter((e) => e.kind === 'interrupt.coalesced')).toHaveLength(1);
    expect(apic.acknowledge()).toBe(0x55);
    expect(apic.acknowledge()).toBe(0xff);
  });

  it('level acceptance sets TMR, edge clears it (SDM 3A 11.8.4)', () => {
    const { apic } = makeApic();
    apic.acceptInterrupt({ vector: 0x70, trigger: 'level', level: true });
    expect(apic.isLevelTriggered(0x70)).toBe(true);
    expect(rd(apic, APIC.TMR0 + 0x30)).toBe((1 << 16) >>> 0);
    apic.acceptInterrupt({ vector: 0x71, trigger: 'level', level: false }); // de-assert: nothing
    expect(apic.isRequested(0x71)).toBe(false);
  });

  it('EOI with an empty ISR does nothing', () => {
    const { apic } = makeApic();
    wr(apic, APIC.EOI, 0);
    expect(rd(apic, APIC.PPR)).toBe(0);
  });

  it('the notifier fires when an interrupt becomes deliverable, including after EOI and TPR lowering', () => {
    let wakes = 0;
    const { apic } = makeApic({ onInterrupt: () => wakes++ });
    wr(apic, APIC.TPR, 0x50);
    apic.acceptInterrupt({ vector: 0x45, trigger: 'edge' });
    expect(wakes).toBe(0);
    wr(apic, APIC.TPR, 0);
    expect(wakes).toBe(1);
    apic.acknowledge();
    apic.acceptInterrupt({ vector: 0x44, trigger: 'edge' });
    expect(wakes).toBe(1);
    wr(apic, APIC.EOI, 0);
    expect(wakes).toBe(2);
  });

  // Two halves of the runs (seeds seed and seed + 1), so that no test depends on the machine's speed.
  it.each([0, 1])('property (half %i): the acknowledged vector is always the highest deliverable one; nothing is lost but by coalescing', (half) => {
    type Op = { kind: 'accept'; vector: number } | { kind: 'ack' } | { kind: 'eoi' } | { kind: 'tpr'; value: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('accept' as const), vector: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('ack' as const) }),
      fc.record({ kind: fc.constant('eoi' as const) }),
      fc.record({ kind: fc.constant('tpr' as const), value: fc.integer({ min: 0, max: 255 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const { apic } = makeApic();
        const irr = new Set<number>();
        const isr: number[] = [];
        let tpr = 0;
        let accepted = 0;
        let coalesced = 0;
        let delivered = 0;
        // Acknowledged vectors and PPR after every step, compared once per run (one expect per step made this test slow).
        const got: number[] = [];
        const want: number[] = [];
        for (const o of ops) {
          if (o.kind === 'accept') {
            apic.acceptInterrupt({ vector: o.vector, trigger: 'edge' });
            if (o.vector < 16) continue;
            accepted++;
            if (irr.has(o.vector)) coalesced++;
            irr.add(o.vector);
          } else if (o.kind === 'tpr') {
            wr(apic, APIC.TPR, o.value);
            tpr = o.value;
          } else if (o.kind === 'eoi') {
            wr(apic, APIC.EOI, 0);
            if (isr.length > 0) isr.splice(isr.indexOf(Math.max(...isr)), 1);
          } else {
            const isrv = isr.length === 0 ? 0 : Math.max(...isr);
            const ppr = computePpr(tpr, isrv);
            const candidates = [...irr].filter((v) => (v & 0xf0) > (ppr & 0xf0));
            const highest = candidates.length === 0 ? 0xff : Math.max(...candidates);
            got.push(apic.acknowledge());
            want.push(highest);
            if (candidates.length > 0) {
              irr.delete(highest);
              isr.push(highest);
              delivered++;
            }
          }
          got.push(rd(apic, APIC.PPR));
          want.push(computePpr(tpr, isr.length === 0 ? 0 : Math.max(...isr)));
        }
        expect(got).toEqual(want);
        // Conservation: every accepted interrupt is delivered, still pending, or was coalesced.
        expect(delivered + irr.size + coalesced).toBe(accepted);
        const vectors = Array.from({ length: 240 }, (_, i) => i + 16);
        expect(vectors.filter((v) => apic.isRequested(v))).toEqual(vectors.filter((v) => irr.has(v)));
      }),
      { seed: seed + half, numRuns: Math.ceil(numRuns / 2) },
    );
  });
});
