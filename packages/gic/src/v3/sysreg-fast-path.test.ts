/**
 * The direct encoding path of ICC_IAR1_EL1, ICC_EOIR1_EL1, ICC_DIR_EL1,
 * ICC_PMR_EL1 and ICC_SGI1R_EL1 (and the ICV_* registers they route to,
 * IHI0069 6.3, 12.2.13, 12.2.10, 12.2.8, 12.2.19, 12.2.22, 12.3) behaves
 * exactly as the table path by name, with SPIs, SGIs and list registers
 * pending, under every routing, EOImode and ICH_HCR_EL2 trap setting; and a
 * GIC nobody listens to (outputs computed on demand) behaves as one whose
 * IRQ output is wired.
 */
import { CpuException } from '@hvsim/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GICV3_SYSREGS } from './sysregs.js';
import { bringUpV3, makeV3, type V3Rig } from '../test-support/v3.js';
import { itInParts, propertyRuns } from '../test-support/property-share.js';
import { GICD, GICR_SGI } from './regs.js';


const IAR1 = GICV3_SYSREGS.get('ICC_IAR1_EL1')!.encoding;
const EOIR1 = GICV3_SYSREGS.get('ICC_EOIR1_EL1')!.encoding;
const PMR = GICV3_SYSREGS.get('ICC_PMR_EL1')!.encoding;
const DIR = GICV3_SYSREGS.get('ICC_DIR_EL1')!.encoding;
const SGI1R = GICV3_SYSREGS.get('ICC_SGI1R_EL1')!.encoding;

type Op =
  | { kind: 'raise'; intid: number }
  | { kind: 'lr'; n: number; intid: number; priority: number }
  | { kind: 'iar' }
  | { kind: 'eoir'; last: boolean; intid: number }
  | { kind: 'pmr'; write: boolean; value: number }
  | { kind: 'dir'; last: boolean; intid: number }
  | { kind: 'sgi'; intid: number; targets: number; irm: boolean }
  | { kind: 'eoimode'; split: boolean }
  | { kind: 'route'; imo: boolean; fmo: boolean }
  | { kind: 'traps'; bits: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('raise' as const), intid: fc.integer({ min: 32, max: 47 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('lr' as const), n: fc.nat({ max: 3 }), intid: fc.integer({ min: 32, max: 40 }), priority: fc.nat({ max: 31 }) }),
  },
  { weight: 4, arbitrary: fc.constant({ kind: 'iar' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('eoir' as const), last: fc.boolean(), intid: fc.integer({ min: 0, max: 1023 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pmr' as const), write: fc.boolean(), value: fc.nat({ max: 0xff }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('route' as const), imo: fc.boolean(), fmo: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('dir' as const), last: fc.boolean(), intid: fc.integer({ min: 0, max: 1023 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('sgi' as const), intid: fc.nat({ max: 15 }), targets: fc.constantFrom(1, 0, 0xffff, 2), irm: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('eoimode' as const), split: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'route' as const, imo: false, fmo: false }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('route' as const), imo: fc.boolean(), fmo: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(0, 1 << 10, 1 << 12, (1 << 10) | (1 << 12), 1 << 14, (1 << 12) | (1 << 14)).map((bits) => ({ kind: 'traps' as const, bits })),
  },
);

function rig(physicalListeners = true): V3Rig {
  const r = makeV3({ cpus: 1, spis: 32 }, physicalListeners);
  bringUpV3(r);
  r.wgicd(GICD.ISENABLER + 4, 0xffff);
  r.wsgi(0, GICR_SGI.ISENABLER0, 0xffff);
  for (let i = 0; i < 16; i += 4) r.wsgi(0, GICR_SGI.IPRIORITYR0 + i, (((i * 5) % 31) << 3) * 0x0101_0101);
  for (let i = 32; i < 48; i += 4) r.wgicd(GICD.IPRIORITYR + i, (((i * 7) % 31) << 3) * 0x0101_0101);
  r.gic.write(0, 'ICH_VMCR_EL2', (0xf8n << 24n) | 0x2n);
  return r;
}

/** The value an access returned, or the exception class it raised. */
function outcome(fn: () => unknown): string {
  try {
    const v = fn();
    return `ok ${typeof v === 'bigint' || typeof v === 'number' ? String(v) : '-'}`;
  } catch (e) {
    if (e instanceof CpuException) return `exception ${e.vector}`;
    throw e;
  }
}

describe('ICC_IAR1/EOIR1/DIR/PMR/SGI1R by encoding: the direct path', () => {
  itInParts('acknowledges, completes and masks exactly as the named registers (property)', propertyRuns(100), 4, ({ seed, numRuns }) => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 10, maxLength: 50 }), (ops) => {
        const a = rig(); // by name
        const b = rig(); // by encoding
        const c = rig(false); // by encoding, no onIrq/onFiq listener: outputs computed on demand
        const all = [a, b, c];
        let lastA = 1023n;
        let lastB = 1023;
        let lastC = 1023;
        for (const o of ops) {
          switch (o.kind) {
            case 'raise':
              for (const r of all) r.gic.signalSpi(o.intid);
              break;
            case 'lr': {
              // Pending, Group 1, the given priority: a virtual interrupt for the guest (IHI0069 12.4.6).
              const hi = (1 << 30) | (1 << 28) | ((o.priority << 3) << 16);
              for (const r of all) r.gic.virtualInterface(0).writeLr(o.n, o.intid, hi);
              break;
            }
            case 'iar': {
              const x = outcome(() => (lastA = a.gic.read(0, 'ICC_IAR1_EL1')));
              const y = outcome(() => (lastB = b.gic.readSysreg(0, IAR1)));
              expect(y).toBe(x);
              expect(outcome(() => (lastC = c.gic.readSysreg(0, IAR1)))).toBe(x);
              break;
            }
            case 'eoir': {
              const x = outcome(() => a.gic.write(0, 'ICC_EOIR1_EL1', o.last ? lastA : BigInt(o.intid)));
              const y = outcome(() => b.gic.writeSysreg(0, EOIR1, o.last ? lastB : o.intid));
              expect(y).toBe(x);
              expect(outcome(() => c.gic.writeSysreg(0, EOIR1, o.last ? lastC : o.intid))).toBe(x);
              break;
            }
            case 'dir': {
              const x = outcome(() => a.gic.write(0, 'ICC_DIR_EL1', o.last ? lastA : BigInt(o.intid)));
              expect(outcome(() => b.gic.writeSysreg(0, DIR, o.last ? lastB : o.intid))).toBe(x);
              expect(outcome(() => c.gic.writeSysreg(0, DIR, o.last ? lastC : o.intid))).toBe(x);
              break;
            }
            case 'sgi': {
              // ICC_SGI1R_EL1 (IHI0069 12.2.22): INTID 27:24, TargetList 15:0, IRM bit 40 (bit 8 of the high half).
              const lo = ((o.intid << 24) | o.targets) >>> 0;
              const hi = o.irm ? 1 << 8 : 0;
              const x = outcome(() => a.gic.write(0, 'ICC_SGI1R_EL1', (BigInt(hi) << 32n) | BigInt(lo)));
              expect(outcome(() => b.gic.writeSysreg(0, SGI1R, lo, hi))).toBe(x);
              expect(outcome(() => c.gic.writeSysreg(0, SGI1R, lo, hi))).toBe(x);
              break;
            }
            case 'eoimode': {
              // ICC_CTLR_EL1.EOImode (IHI0069 12.2.6) by name on all three (routed to ICV_CTLR_EL1, which TC traps).
              const x = outcome(() => a.gic.write(0, 'ICC_CTLR_EL1', o.split ? 2n : 0n));
              for (const r of [b, c]) expect(outcome(() => r.gic.write(0, 'ICC_CTLR_EL1', o.split ? 2n : 0n))).toBe(x);
              break;
            }
            case 'pmr': {
              const x = outcome(() => (o.write ? a.gic.write(0, 'ICC_PMR_EL1', BigInt(o.value)) : a.gic.read(0, 'ICC_PMR_EL1')));
              const y = outcome(() => (o.write ? b.gic.writeSysreg(0, PMR, o.value) : BigInt(b.gic.readSysreg(0, PMR))));
              expect(y).toBe(x);
              expect(outcome(() => (o.write ? c.gic.writeSysreg(0, PMR, o.value) : BigInt(c.gic.readSysreg(0, PMR))))).toBe(x);
              break;
            }
            case 'route':
              for (const r of all) r.gic.setVirtualRouting(0, o);
              break;
            case 'traps':
              for (const r of all) r.gic.write(0, 'ICH_HCR_EL2', BigInt(1 | o.bits));
              break;
          }
          expect(b.irq[0]).toBe(a.irq[0]);
          expect(b.virq[0]).toBe(a.virq[0]);
          expect(c.gic.irqLevel(0)).toBe(a.irq[0] ?? false);
          expect(c.gic.fiqLevel(0)).toBe(a.fiq[0] ?? false);
          expect(c.virq[0]).toBe(a.virq[0]);
        }
        for (const r of all) r.gic.setVirtualRouting(0, { imo: false, fmo: false });
        expect(JSON.stringify(b.gic.saveState())).toBe(JSON.stringify(a.gic.saveState()));
        expect(JSON.stringify(c.gic.saveState())).toBe(JSON.stringify(a.gic.saveState()));
      }),
      { seed, numRuns },
    );
  });

  it('refuses a value that is not a 32-bit number the same way the table path does', () => {
    const { gic } = rig();
    expect(() => gic.writeSysreg(0, PMR, 0x1_0000_0000)).toThrow(/system register value halves must be 32-bit unsigned integers, got lo 4294967296/);
    expect(() => gic.writeSysreg(0, EOIR1, 1.5)).toThrow(/got lo 1\.5/);
    expect(() => gic.readSysreg(1, IAR1)).toThrow(/cpu must be an integer in \[0, 0\], got 1/);
  });
});
