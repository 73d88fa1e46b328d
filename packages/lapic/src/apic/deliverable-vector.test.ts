// The kept highest deliverable vector (what the processor asks at every instruction boundary) always equals the
// SDM's definition recomputed from scratch: the highest IRR vector whose priority class is above PPR's, none while
// the APIC is globally disabled (SDM 3A 11.8.3.1 PPR, 11.8.4 acceptance, 11.8.5 EOI, 11.4.3 global disable).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LocalApic } from './local-apic.js';
import { APIC } from './regs.js';
import { makeApic, numRuns, seed } from '../test-support/helpers.js';

const irr = new Uint32Array(8);

/** The SDM's definition, from the registers as software reads them. */
function referenceDeliverable(apic: LocalApic): number {
  if (apic.mode === 'disabled') return -1;
  apic.copyIrr(irr);
  let v = 255;
  while (v >= 0 && ((irr[v >>> 5]! >>> (v & 31)) & 1) === 0) v--;
  return v >= 0 && (v & 0xf0) > (apic.ppr & 0xf0) ? v : -1;
}

const vector = fc.integer({ min: 0, max: 255 });
const words = fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { minLength: 8, maxLength: 8 });
const operation = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('accept' as const), vector, level: fc.boolean() }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('acknowledge' as const) }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('eoi' as const) }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('tpr' as const), value: fc.integer({ min: 0, max: 0xff }) }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('cr8' as const), value: fc.integer({ min: 0, max: 15 }) }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('loadIrr' as const), words }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('loadIsr' as const), words }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('base' as const), to: fc.constantFrom('disabled', 'xapic', 'x2apic') }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('svr' as const), enabled: fc.boolean() }), weight: 6 },
  // A snapshot round trip and a KVM register page round trip: rarer, they cost the most.
  { arbitrary: fc.record({ kind: fc.constant('restore' as const) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('kvmPage' as const) }), weight: 1 },
);
type Operation = typeof operation extends fc.Arbitrary<infer T> ? T : never;

const BASE = { disabled: 0xfee0_0000n, xapic: 0xfee0_0800n, x2apic: 0xfee0_0c00n } as const;

function apply(apic: LocalApic, op: Operation): void {
  switch (op.kind) {
    case 'accept':
      apic.acceptInterrupt({ vector: op.vector, trigger: op.level ? 'level' : 'edge' });
      return;
    case 'acknowledge':
      apic.acknowledge();
      return;
    case 'eoi':
      if (apic.mode === 'x2apic') apic.writeMsr(0x80b, 0);
      else apic.mmioWrite(APIC.EOI, 4, 0);
      return;
    case 'tpr':
      apic.loadTpr(op.value);
      return;
    case 'cr8':
      apic.writeCr8(op.value);
      return;
    case 'loadIrr':
      apic.loadIrr(Uint32Array.from(op.words));
      return;
    case 'loadIsr':
      apic.loadIsr(Uint32Array.from(op.words));
      return;
    case 'base':
      // A host-initiated write may make any transition to a valid state (SDM 3A 11.12.5; KVM's host writes).
      apic.setApicBase(BASE[op.to], true);
      return;
    case 'svr':
      if (apic.mode === 'x2apic') apic.writeMsr(0x80f, op.enabled ? 0x1ff : 0xff);
      else apic.mmioWrite(APIC.SVR, 4, op.enabled ? 0x1ff : 0xff);
      return;
    case 'restore':
      apic.restoreState(JSON.parse(JSON.stringify(apic.saveState())));
      return;
    case 'kvmPage':
      apic.setKvmLapicState(apic.getKvmLapicState());
      return;
  }
}

describe('the highest deliverable vector, kept incrementally (SDM 3A 11.8.3-11.8.5)', () => {
  it('equals the definition recomputed from the registers after every operation', () => {
    fc.assert(
      fc.property(fc.array(operation, { minLength: 12, maxLength: 30 }), (ops) => {
        const { apic } = makeApic();
        for (const op of ops) {
          apply(apic, op);
          const want = referenceDeliverable(apic);
          expect(apic.highestDeliverableVector()).toBe(want);
          expect(apic.hasPendingInterrupt()).toBe(want >= 0);
        }
      }),
      { seed, numRuns },
    );
  });

  it('a vector accepted above the highest pending one becomes deliverable at once; a lower one waits behind it', () => {
    const { apic } = makeApic();
    apic.acceptInterrupt({ vector: 0x51, trigger: 'edge' });
    expect(apic.highestDeliverableVector()).toBe(0x51);
    apic.acceptInterrupt({ vector: 0x40, trigger: 'edge' });
    expect(apic.highestDeliverableVector()).toBe(0x51);
    apic.acceptInterrupt({ vector: 0x92, trigger: 'edge' });
    expect(apic.highestDeliverableVector()).toBe(0x92);
    expect(apic.acknowledge()).toBe(0x92);
    // PPR = 0x90 now: 0x51 is pending but masked until the EOI (SDM 3A 11.8.3.1).
    expect(apic.highestDeliverableVector()).toBe(-1);
    apic.mmioWrite(APIC.EOI, 4, 0);
    expect(apic.highestDeliverableVector()).toBe(0x51);
    // Disabling the APIC globally clears the IRR and leaves nothing deliverable (SDM 3A 11.4.3).
    apic.setApicBase(BASE.disabled);
    expect(apic.highestDeliverableVector()).toBe(-1);
  });
});
