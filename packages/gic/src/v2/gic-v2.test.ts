import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Clock, RecordingTracer, SnapshotError, UsageError } from '@hvsim/core';
import { bringUpV2, makeV2 } from '../test-support/v2.js';
import { itHoldsGicInvariants, propertyParams, type GicUnderTest } from '../test-support/property.js';
import { GicV2 } from './gic-v2.js';
import { GICC, GICD, GICH } from './regs.js';

describe('GicV2 construction', () => {
  it('validates its options', () => {
    expect(() => new GicV2({ cpus: 9 })).toThrow(UsageError);
    expect(() => new GicV2({ cpus: 1, spis: 33 })).toThrow(/spis must be a multiple of 32 or 988, got 33/);
    expect(() => new GicV2({ cpus: 1, listRegisters: 65 })).toThrow(UsageError);
    expect(() => new GicV2({ cpus: 1, maintenanceIntid: 40 })).toThrow(UsageError);
    const gic = new GicV2(2);
    expect(gic.cpus).toBe(2);
    expect(() => gic.cpuInterface(2)).toThrow(/cpu must be an integer in \[0, 1\], got 2/);
    expect(() => gic.setSpiLevel(31, true)).toThrow(/SPI must be an integer INTID in \[32, 95\], got 31/);
    expect(() => gic.setPpiLevel(0, 32, true)).toThrow(/PPI must be an integer INTID in \[16, 31\]/);
  });

  it('emits trace events for raise, SGI and acknowledge', () => {
    const tracer = new RecordingTracer();
    const clock = new Clock();
    const irq: boolean[] = [];
    const gic = new GicV2({ cpus: 2, tracer, clock, onIrq: (c, l) => (irq[c] = l) });
    gic.distributorFor(0).mmioWrite(GICD.ISENABLER, 4, 0xffff);
    gic.distributorFor(1).mmioWrite(GICD.ISENABLER, 4, 0xffff);
    gic.distributorFor(0).mmioWrite(GICD.CTLR, 4, 1);
    gic.cpuInterface(1).mmioWrite(GICC.CTLR, 4, 1);
    gic.cpuInterface(1).mmioWrite(GICC.PMR, 4, 0xff);
    gic.distributorFor(0).mmioWrite(GICD.SGIR, 4, 0x0002_0001);
    gic.setSpiLevel(40, true);
    expect(gic.cpuInterface(1).mmioRead(GICC.IAR, 4)).toBe(1);
    expect(tracer.events().map((e) => e.kind)).toEqual(['ipi.sent', 'interrupt.delivered', 'interrupt.raised', 'interrupt.acknowledged']);
    tracer.clear();
    gic.cpuInterface(1).mmioWrite(GICC.EOIR, 4, 1);
    const h = gic.hypervisorInterface(1);
    h.mmioWrite(GICH.HCR, 4, 1);
    h.mmioWrite(GICH.VMCR, 4, (0x1f << 27) | 1);
    h.mmioWrite(GICH.LR0, 4, (1 << 28) | (10 << 23) | 60);
    const v = gic.virtualCpuInterface(1);
    v.mmioWrite(GICC.EOIR, 4, v.mmioRead(GICC.IAR, 4));
    expect(tracer.events().map((e) => [e.kind, 'vector' in e ? e.vector : -1, e.args?.virtual ?? false])).toEqual([
      ['interrupt.eoi', 1, false],
      ['interrupt.acknowledged', 60, true],
      ['interrupt.eoi', 60, true],
    ]);
  });
});

describe('kvm-unit-tests arm/gic.c behaviours on GICv2', () => {
  function smp(cpus = 4) {
    const rig = makeV2({ cpus });
    bringUpV2(rig);
    return rig;
  }

  // gic.c ipi_test: CPU 0 sends an IPI to each CPU; the receiver sees sender 0 in IAR.CPUID.
  it('IPI to each CPU carries the sender in GICC_IAR.CPUID', () => {
    const rig = smp();
    for (let sender = 0; sender < 4; sender++) {
      for (let target = 0; target < 4; target++) {
        rig.wgicd(sender, GICD.SGIR, ((1 << target) << 16) | 2);
        for (let c = 0; c < 4; c++) {
          const iar = rig.gicc(c, GICC.IAR);
          if (c !== target) {
            expect(iar).toBe(1023);
            continue;
          }
          expect(iar & 0x3ff).toBe(2);
          expect((iar >>> 10) & 7).toBe(sender);
          rig.wgicc(c, GICC.EOIR, iar);
        }
      }
    }
  });

  // gic.c ipi broadcast (TargetListFilter = 1) and self (= 2).
  it('IPI to all but self, and to self', () => {
    const rig = smp();
    rig.wgicd(1, GICD.SGIR, 0x0100_0000);
    expect([0, 1, 2, 3].map((c) => rig.gicc(c, GICC.IAR))).toEqual([1 << 10, 1023, 1 << 10, 1 << 10]);
    for (const c of [0, 2, 3]) rig.wgicc(c, GICC.EOIR, 1 << 10);
    rig.wgicd(3, GICD.SGIR, 0x0200_0001);
    expect([0, 1, 2, 3].map((c) => rig.gicc(c, GICC.IAR))).toEqual([1023, 1023, 1023, (3 << 10) | 1]);
  });

  // gic.c check_spurious and IAR/EOI ordering.
  it('a second IAR before EOI is spurious; after EOI nothing is pending', () => {
    const rig = smp(2);
    rig.wgicd(0, GICD.SGIR, 0x0001_0000);
    expect(rig.gicc(0, GICC.IAR)).toBe(0);
    expect(rig.gicc(0, GICC.IAR)).toBe(1023);
    rig.wgicc(0, GICC.EOIR, 0);
    expect(rig.gicc(0, GICC.IAR)).toBe(1023);
    expect(rig.gicd(0, GICD.ISACTIVER)).toBe(0);
  });

  // gic.c test_typer_v2 / gicd mmio: read-only identification and the ITARGETSR rules.
  it('register access rules: TYPER and IIDR read-only, ITARGETSR bits of absent CPUs RAZ/WI, byte accesses', () => {
    const rig = smp(3);
    const typer = rig.gicd(0, GICD.TYPER);
    expect((typer >>> 5) & 7).toBe(2);
    expect(((typer & 0x1f) + 1) * 32).toBe(96);
    rig.wgicd(0, GICD.TYPER, 0);
    expect(rig.gicd(0, GICD.TYPER)).toBe(typer);
    rig.wgicd(0, GICD.IIDR, 0);
    expect(rig.gicd(0, GICD.IIDR)).toBe(0x43b);
    const d = rig.gic.distributorFor(0);
    d.mmioWrite(GICD.ITARGETSR + 40, 1, 0xff);
    expect(d.mmioRead(GICD.ITARGETSR + 40, 1)).toBe(0x7);
    d.mmioWrite(GICD.ITARGETSR + 2, 1, 0xff);
    expect(d.mmioRead(GICD.ITARGETSR + 2, 1)).toBe(1);
    rig.wgicd(0, GICD.IPRIORITYR + 96, 0xffff_ffff); // past the last INTID
    expect(rig.gicd(0, GICD.IPRIORITYR + 96)).toBe(0);
    d.mmioWrite(GICD.IPRIORITYR + 42, 1, 0xff);
    expect(d.mmioRead(GICD.IPRIORITYR + 40, 4)).toBe(0xa0f8_a0a0);
  });
});

describe('GicV2 invariants (property)', () => {
  const adapt = (rig: ReturnType<typeof makeV2>): GicUnderTest => {
    const d = rig.gic.distributorFor(0);
    return {
      raise: (i) => {
        rig.gic.setSpiLevel(i, true);
        rig.gic.setSpiLevel(i, false);
      },
      setPriority: (i, p) => d.mmioWrite(GICD.IPRIORITYR + i, 1, p),
      enable: (i, on) => rig.wgicd(0, (on ? GICD.ISENABLER : GICD.ICENABLER) + 4, 1 << (i - 32)),
      setPmr: (v) => rig.wgicc(0, GICC.PMR, v),
      ack: () => rig.gicc(0, GICC.IAR),
      eoi: (i) => rig.wgicc(0, GICC.EOIR, i),
      pendingWord: () => rig.gicd(0, GICD.ISPENDR + 4),
      irq: () => rig.gic.irqLevel(0),
    };
  };
  const fresh = (): ReturnType<typeof makeV2> => {
    const rig = makeV2({ cpus: 2, spis: 32 });
    bringUpV2(rig);
    rig.wgicd(0, GICD.ICFGR + 8, 0xaaaa_aaaa);
    rig.wgicd(0, GICD.ICFGR + 12, 0xaaaa_aaaa);
    for (let i = 8; i < 16; i++) rig.wgicd(0, GICD.IPRIORITYR + 4 * i, 0);
    rig.wgicc(0, GICC.PMR, 0);
    return rig;
  };

  // IHI0048B 3.3.2 (highest priority pending), 3.3.3 (preemption), 4.4.2 (priority mask)
  itHoldsGicInvariants(fresh, () => makeV2({ cpus: 2, spis: 32 }), adapt);
});

describe('GicV2 save and restore', () => {
  function drive(rig: ReturnType<typeof makeV2>): void {
    bringUpV2(rig);
    rig.wgicd(0, GICD.ISENABLER + 4, 0xffff_ffff);
    rig.wgicd(0, GICD.ITARGETSR + 36, 0x0202_0202);
    rig.wgicd(0, GICD.IPRIORITYR + 32, 0x4080_a0c0);
    rig.wgicd(0, GICD.ICFGR + 8, 0xaaaa);
    for (const i of [32, 33, 36]) {
      rig.gic.setSpiLevel(i, true);
      rig.gic.setSpiLevel(i, false);
    }
    rig.wgicd(1, GICD.SGIR, 0x0001_0004);
    expect(rig.gicc(0, GICC.IAR)).toBe(33);
    rig.wgicc(0, GICC.CTLR, 0x201);
    rig.wgich(1, GICH.HCR, 1);
    rig.wgich(1, GICH.VMCR, (0x1f << 27) | 1);
    rig.wgich(1, GICH.LR0 + 8, (1 << 28) | (10 << 23) | 77);
  }

  function trace(rig: ReturnType<typeof makeV2>): number[] {
    const out = [rig.gicc(0, GICC.RPR)];
    rig.wgicc(0, GICC.EOIR, 33);
    out.push(rig.gicd(0, GICD.ISACTIVER + 4));
    rig.wgicc(0, GICC.DIR, 33);
    for (let k = 0; k < 3; k++) {
      const id = rig.gicc(0, GICC.IAR);
      out.push(id);
      rig.wgicc(0, GICC.EOIR, id);
      rig.wgicc(0, GICC.DIR, id);
    }
    out.push(rig.gicc(1, GICC.IAR), rig.gicv(1, GICC.IAR), rig.gich(1, GICH.LR0 + 8));
    return out;
  }

  it('save, restore into a fresh instance, continue == never stopping', () => {
    const a = makeV2({ cpus: 2 });
    drive(a);
    const saved = JSON.parse(JSON.stringify(a.gic.saveState()));
    const b = makeV2({ cpus: 2 });
    b.gic.restoreState(saved);
    expect(b.virq[1]).toBe(true);
    const ta = trace(a);
    expect(trace(b)).toEqual(ta);
    expect(ta).toEqual([0xa0, 1 << 1, (1 << 10) | 4, 32, 1023, 36, 77, (2 << 28) | (10 << 23) | 77]);
  });

  it('rejects foreign and malformed states', () => {
    const gic = new GicV2({ cpus: 2 });
    const saved = gic.saveState();
    expect(() => gic.restoreState({ ...saved, type: 'hvsim.gic-v3' })).toThrow(SnapshotError);
    expect(() => new GicV2({ cpus: 2, spis: 96 }).restoreState(saved)).toThrow(/spis must be an integer in \[96, 96\]/);
    expect(() => gic.restoreState({ ...saved, engine: { ...saved.engine, priority: 'x' } })).toThrow(SnapshotError);
  });
});

describe('GicV2 reset', () => {
  it('returns every register to its reset value (IHI0048B 4.3, 4.4, 5.3)', () => {
    const rig = makeV2({ cpus: 2 });
    const fresh = JSON.stringify(rig.gic.saveState());
    bringUpV2(rig);
    rig.wgicd(0, GICD.SGIR, 0x0003_0001);
    rig.wgich(1, GICH.LR0, 0x1000_0005);
    rig.wgich(1, GICH.HCR, 0xff);
    rig.gic.reset();
    expect(JSON.stringify(rig.gic.saveState())).toBe(fresh);
    expect(rig.gicc(0, GICC.IAR)).toBe(1023);
  });
});

describe('GicV2 SGI sources (property)', () => {
  // IHI0048B 3.2.4 / 4.3.15: an SGI is pending per (target, source); each acknowledge takes one source.
  it('every SGI sent from each source is acknowledged exactly once per pending (target, SGI, source)', () => {
    const send = fc.record({ source: fc.integer({ min: 0, max: 3 }), sgi: fc.integer({ min: 0, max: 15 }), targets: fc.integer({ min: 0, max: 15 }) });
    fc.assert(
      fc.property(fc.array(send, { maxLength: 40 }), (sends) => {
        const rig = makeV2({ cpus: 4 });
        bringUpV2(rig);
        const expected = new Set<string>();
        for (const s of sends) {
          rig.wgicd(s.source, GICD.SGIR, (s.targets << 16) | s.sgi);
          for (let t = 0; t < 4; t++) if ((s.targets >>> t) & 1) expected.add(`${t}:${s.sgi}:${s.source}`);
        }
        const seen = new Set<string>();
        for (let t = 0; t < 4; t++) {
          for (let guard = 0; guard < 100; guard++) {
            const iar = rig.gicc(t, GICC.IAR);
            if (iar === 1023) break;
            const key = `${t}:${iar & 0x3ff}:${(iar >>> 10) & 7}`;
            expect(seen.has(key)).toBe(false);
            seen.add(key);
            rig.wgicc(t, GICC.EOIR, iar);
          }
        }
        expect([...seen].sort()).toEqual([...expected].sort());
      }),
      propertyParams,
    );
  });
});
