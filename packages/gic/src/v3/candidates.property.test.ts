/**
 * The per-PE candidate sets the GIC keeps incrementally (an SPI routed to one
 * PE is placed on that PE alone; routing changes re-place it everywhere)
 * always equal the sets rebuilt from the interrupt state, whatever the
 * sequence of raises, clears, acknowledges, EOIs, enables, priorities,
 * GICD_IROUTER rewrites (IHI0069 12.9.22, including 1-of-N) and
 * redistributor sleep changes (12.11.42). A restored copy rebuilds its sets
 * from the saved state, so comparing what each PE could be given checks it.
 */
import fc from 'fast-check';
import { describe, expect } from 'vitest';
import { itInParts, propertyRuns } from '../test-support/property-share.js';
import { bringUpV3, makeV3 } from '../test-support/v3.js';
import { GICD, GICR } from './regs.js';

type Op =
  | { kind: 'raise' | 'clear' | 'enable' | 'disable'; intid: number }
  | { kind: 'priority'; intid: number; priority: number }
  | { kind: 'route'; intid: number; target: number }
  | { kind: 'sleep'; cpu: number; asleep: boolean }
  | { kind: 'ack' | 'eoi'; cpu: number };

const CPUS = 3;
const intid = fc.integer({ min: 32, max: 47 });
const cpu = fc.nat({ max: CPUS - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom('raise' as const, 'clear' as const, 'enable' as const, 'disable' as const), intid }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('priority' as const), intid, priority: fc.nat({ max: 30 }).map((p) => p << 3) }) },
  // target CPUS means 1-of-N (Interrupt_Routing_Mode = 1), CPUS + 1 an affinity no PE has.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('route' as const), intid, target: fc.nat({ max: CPUS + 1 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sleep' as const), cpu, asleep: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('ack' as const, 'eoi' as const), cpu }) },
);

describe('candidate sets kept incrementally', () => {
  itInParts('equal the sets rebuilt from the state after any operations (property)', propertyRuns(100), 4, ({ seed, numRuns }) => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 5, maxLength: 40 }), (ops) => {
        const rig = makeV3({ cpus: CPUS, spis: 32 });
        bringUpV3(rig);
        const { gic } = rig;
        const d = gic.distributorFor(0);
        const acked: number[][] = Array.from({ length: CPUS }, () => []);
        for (const o of ops) {
          switch (o.kind) {
            case 'raise':
              gic.signalSpi(o.intid);
              break;
            case 'clear':
              gic.signalSpi(o.intid, false);
              break;
            case 'enable':
            case 'disable':
              d.mmioWrite((o.kind === 'enable' ? GICD.ISENABLER : GICD.ICENABLER) + 4, 4, 1 << (o.intid - 32));
              break;
            case 'priority':
              d.mmioWrite(GICD.IPRIORITYR + o.intid, 1, o.priority);
              break;
            case 'route':
              if (o.target === CPUS) d.mmioWrite64(GICD.IROUTER + 8 * o.intid, 1n << 31n);
              else d.mmioWrite64(GICD.IROUTER + 8 * o.intid, BigInt(o.target > CPUS ? 0xff : gic.affinityOf(o.target)));
              break;
            case 'sleep':
              gic.redistributorRegion.mmioWrite(o.cpu * gic.redistributorRegion.stride + GICR.WAKER, 4, o.asleep ? 2 : 0);
              break;
            case 'ack': {
              const id = gic.cpuInterface(o.cpu).readIar(1);
              if (id !== 1023) acked[o.cpu]!.push(id);
              break;
            }
            case 'eoi': {
              const id = acked[o.cpu]!.pop();
              if (id !== undefined) gic.cpuInterface(o.cpu).writeEoir(1, id);
              break;
            }
          }
        }
        const copy = makeV3({ cpus: CPUS, spis: 32 });
        copy.gic.restoreState(JSON.parse(JSON.stringify(gic.saveState())));
        const out = new Int32Array(64);
        for (let c = 0; c < CPUS; c++) {
          const n = gic.pendingInterrupts(c, out);
          const mine = Array.from(out.subarray(0, n));
          const m = copy.gic.pendingInterrupts(c, out);
          expect({ cpu: c, candidates: mine }).toEqual({ cpu: c, candidates: Array.from(out.subarray(0, m)) });
          expect({ cpu: c, irq: rig.irq[c] === true }).toEqual({ cpu: c, irq: gic.irqLevel(c) });
          expect(gic.cpuInterface(c).readHppir(1)).toBe(copy.gic.cpuInterface(c).readHppir(1));
        }
      }),
      { seed, numRuns },
    );
  });
});
