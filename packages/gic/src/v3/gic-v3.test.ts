import { describe, expect, it } from 'vitest';
import { Clock, CpuException, RecordingTracer, SnapshotError, UsageError } from '@hvsim/core';
import { GicV3 } from './gic-v3.js';
import { bringUpV3, makeV3 } from '../test-support/v3.js';
import { itHoldsGicInvariants, type GicUnderTest } from '../test-support/property.js';
import { GICD, GICR_SGI } from './regs.js';

describe('GicV3 acknowledge and EOI', () => {
  // IHI0069 4.1.2 interrupt lifecycle; 12.2.14 ICC_IAR1_EL1; 12.2.10 ICC_EOIR1_EL1
  it('an enabled edge SPI is signalled, acknowledged, then completed', () => {
    const rig = makeV3({ cpus: 2, spis: 64 });
    const { gic } = rig;
    bringUpV3(rig);
    rig.wgicd(GICD.ISENABLER + 4, 1 << 8); // INTID 40
    rig.wgicd(GICD.ICFGR + 8, 2 << 16); // INTID 40 edge
    gic.signalSpi(40);
    expect(rig.irq[0]).toBe(true);
    expect(gic.read(0, 'ICC_HPPIR1_EL1')).toBe(40n);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(40n);
    expect(rig.irq[0]).toBe(false);
    expect(gic.read(0, 'ICC_RPR_EL1')).toBe(0xa0n);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(1023n);
    gic.write(0, 'ICC_EOIR1_EL1', 40n);
    expect(gic.read(0, 'ICC_RPR_EL1')).toBe(0xffn);
    expect(rig.gicd(GICD.ISACTIVER + 4)).toBe(0);
  });

  it('rejects unknown register names and wrong-direction accesses', () => {
    const { gic } = makeV3({ cpus: 1 });
    // The deprecated string form still compiles; an unknown name is caught at run time.
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    expect(() => gic.read(0, 'ICC_FOO_EL1')).toThrow(UsageError);
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    expect(() => gic.read(0, 'ICC_FOO_EL1')).toThrow(/unknown GICv3 system register "ICC_FOO_EL1"/);
    expect(() => gic.write(0, 'ICC_IAR1_EL1', 0n)).toThrow(CpuException);
    expect(() => gic.read(0, 'ICC_EOIR1_EL1')).toThrow(CpuException);
    expect(() => gic.read(0, 'ICC_AP1R1_EL1')).toThrow(CpuException);
    expect(() => gic.read(2, 'ICC_IAR1_EL1')).toThrow(/cpu must be an integer in \[0, 0\], got 2/);
  });

  // IHI0069 12.2.22 ICC_SGI1R_EL1
  it('SGIs through ICC_SGI1R_EL1 reach the listed PEs', () => {
    const rig = makeV3({ cpus: 4 });
    const { gic } = rig;
    bringUpV3(rig);
    for (let c = 0; c < 4; c++) rig.wsgi(c, GICR_SGI.ISENABLER0, 0xffff);
    gic.write(0, 'ICC_SGI1R_EL1', (3n << 24n) | 0b1010n);
    expect(rig.irq.slice(0, 4)).toEqual([undefined, true, undefined, true]);
    expect(gic.read(1, 'ICC_IAR1_EL1')).toBe(3n);
  });
});

describe('GicV3 invariants (property)', () => {
  const adapt = (rig: ReturnType<typeof makeV3>): GicUnderTest => {
    const g = rig.gic;
    return {
      raise: (i) => g.signalSpi(i),
      setPriority: (i, p) => g.distributorFor(0).mmioWrite(GICD.IPRIORITYR + i, 1, p),
      enable: (i, on) => rig.wgicd((on ? GICD.ISENABLER : GICD.ICENABLER) + 4, 1 << (i - 32)),
      setPmr: (v) => g.write(0, 'ICC_PMR_EL1', BigInt(v)),
      ack: () => Number(g.read(0, 'ICC_IAR1_EL1')),
      eoi: (i) => g.write(0, 'ICC_EOIR1_EL1', BigInt(i)),
      pendingWord: () => rig.gicd(GICD.ISPENDR + 4),
      irq: () => g.irqLevel(0),
    };
  };
  const fresh = (): ReturnType<typeof makeV3> => {
    const rig = makeV3({ cpus: 1, spis: 32 });
    bringUpV3(rig);
    rig.wgicd(GICD.ICFGR + 8, 0xaaaa_aaaa); // SPIs 32-47 edge
    rig.wgicd(GICD.ICFGR + 12, 0xaaaa_aaaa); // SPIs 48-63 edge
    for (let i = 8; i < 16; i++) rig.wgicd(GICD.IPRIORITYR + 4 * i, 0);
    rig.gic.write(0, 'ICC_PMR_EL1', 0n);
    return rig;
  };

  // IHI0069 4.1.1 (highest priority pending), 4.8.5 (priority mask), 4.8.6 (preemption)
  itHoldsGicInvariants(fresh, () => makeV3({ cpus: 1, spis: 32 }), adapt);
});

describe('GicV3 save and restore', () => {
  function drive(rig: ReturnType<typeof makeV3>): void {
    const { gic } = rig;
    bringUpV3(rig);
    rig.wgicd(GICD.ISENABLER + 4, 0xffff_ffff);
    rig.wsgi(1, GICR_SGI.ISENABLER0, 0xffff);
    gic.distributorFor(0).mmioWrite64(GICD.IROUTER + 8 * 35, 1n);
    rig.wgicd(GICD.IPRIORITYR + 32, 0x4080a0c0);
    rig.wgicd(GICD.ICFGR + 8, 0x8a); // 32, 33, 35 edge; 34 level
    gic.signalSpi(32);
    gic.signalSpi(33);
    gic.signalSpi(35);
    gic.setSpiLevel(34, true);
    gic.write(0, 'ICC_SGI1R_EL1', (9n << 24n) | 0b10n);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(34n);
    gic.write(0, 'ICH_HCR_EL2', 1n);
    gic.write(0, 'ICH_VMCR_EL2', (0xf8n << 24n) | 2n);
    gic.write(0, 'ICH_LR2_EL2', (1n << 62n) | (1n << 60n) | (0x50n << 48n) | 70n);
  }

  function trace(rig: ReturnType<typeof makeV3>): bigint[] {
    const { gic } = rig;
    const out: bigint[] = [];
    out.push(gic.read(0, 'ICC_RPR_EL1'));
    gic.setSpiLevel(34, false);
    gic.write(0, 'ICC_EOIR1_EL1', 34n);
    for (let k = 0; k < 3; k++) {
      const id = gic.read(0, 'ICC_IAR1_EL1');
      out.push(id);
      gic.write(0, 'ICC_EOIR1_EL1', id);
    }
    out.push(gic.read(1, 'ICC_IAR1_EL1'), gic.read(1, 'ICC_IAR1_EL1'));
    out.push(gic.read(0, 'ICV_IAR1_EL1'), gic.read(0, 'ICH_LR2_EL2'));
    out.push(BigInt(rig.gicd(GICD.ISPENDR + 4)));
    return out;
  }

  it('save, restore into a fresh instance, continue == never stopping', () => {
    const a = makeV3({ cpus: 2, listRegisters: 4 });
    drive(a);
    const saved = JSON.parse(JSON.stringify(a.gic.saveState()));
    const b = makeV3({ cpus: 2, listRegisters: 4 });
    b.gic.restoreState(saved);
    expect(b.gic.irqLevel(0)).toBe(a.gic.irqLevel(0));
    expect(b.virq[0]).toBe(true);
    const ta = trace(a);
    expect(trace(b)).toEqual(ta);
    expect(ta).toEqual([0x80n, 33n, 32n, 1023n, 35n, 1023n, 70n, (2n << 62n) | (1n << 60n) | (0x50n << 48n) | 70n, 0n]);
  });

  it('rejects foreign, mismatched and malformed states', () => {
    const { gic } = makeV3({ cpus: 2 });
    const saved = gic.saveState();
    expect(() => gic.restoreState({ ...saved, type: 'hvsim.gic-v2' })).toThrow(SnapshotError);
    expect(() => gic.restoreState({ ...saved, version: 2 })).toThrow(/version/);
    expect(() => makeV3({ cpus: 3 }).gic.restoreState(saved)).toThrow(/cpus must be an integer in \[3, 3\]/);
    expect(() => gic.restoreState({ ...saved, perCpu: [] })).toThrow(SnapshotError);
    expect(() => gic.restoreState(null)).toThrow(SnapshotError);
  });
});

describe('kvm-unit-tests arm/gic.c behaviours on GICv3', () => {
  function smp(cpus = 4) {
    const rig = makeV3({ cpus });
    bringUpV3(rig);
    for (let c = 0; c < cpus; c++) rig.wsgi(c, GICR_SGI.ISENABLER0, 0xffff);
    return rig;
  }

  // gic.c ipi_test_self / ipi_send: each CPU receives exactly the IPI sent to it, once.
  it('IPI to each CPU in turn and to self', () => {
    const rig = smp();
    const { gic } = rig;
    for (let target = 0; target < 4; target++) {
      gic.write(0, 'ICC_SGI1R_EL1', (2n << 24n) | (1n << BigInt(target)));
      for (let c = 0; c < 4; c++) {
        const id = gic.read(c, 'ICC_IAR1_EL1');
        expect(id).toBe(c === target ? 2n : 1023n);
        if (id !== 1023n) gic.write(c, 'ICC_EOIR1_EL1', id);
      }
    }
  });

  // gic.c ipi_test_smp broadcast: IRM = 1 reaches every other CPU, never the sender.
  it('IPI broadcast to all but self', () => {
    const rig = smp();
    const { gic } = rig;
    gic.write(2, 'ICC_SGI1R_EL1', (1n << 40n) | (4n << 24n));
    const got = [0, 1, 2, 3].map((c) => gic.read(c, 'ICC_IAR1_EL1'));
    expect(got).toEqual([4n, 4n, 1023n, 4n]);
  });

  // gic.c check_spurious / IAR-EOI ordering: after EOI nothing is left; a second IAR is spurious.
  it('acknowledge, EOI, then IAR reads spurious; an EOI without IAR changes nothing', () => {
    const rig = smp(1);
    const { gic } = rig;
    gic.write(0, 'ICC_EOIR1_EL1', 3n);
    expect(gic.read(0, 'ICC_RPR_EL1')).toBe(0xffn);
    gic.write(0, 'ICC_SGI1R_EL1', (3n << 24n) | 1n);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(3n);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(1023n);
    gic.write(0, 'ICC_EOIR1_EL1', 3n);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(1023n);
    expect(rig.sgi(0, GICR_SGI.ISACTIVER0)).toBe(0);
  });

  // gic.c test_typer_v3 / gicv3 mmio checks: TYPER and IIDR are read-only, priorities RAZ/WI past nr_irqs.
  it('register access rules: read-only identification, priority bits, IRQs past the last line', () => {
    const rig = smp(1);
    const typer = rig.gicd(GICD.TYPER);
    rig.wgicd(GICD.TYPER, ~typer >>> 0);
    expect(rig.gicd(GICD.TYPER)).toBe(typer);
    rig.wgicd(GICD.IIDR, 0);
    expect(rig.gicd(GICD.IIDR)).toBe(0x43b);
    const last = 32 + rig.gic.spis;
    rig.wgicd(GICD.IPRIORITYR + last, 0xffff_ffff);
    expect(rig.gicd(GICD.IPRIORITYR + last)).toBe(0);
    rig.wgicd(GICD.IPRIORITYR + last - 4, 0xffff_ffff);
    expect(rig.gicd(GICD.IPRIORITYR + last - 4)).toBe(0xf8f8_f8f8);
  });

  // gic.c: active state set and cleared through ISACTIVER/ICACTIVER blocks and releases delivery.
  it('an active interrupt is not delivered again until deactivated', () => {
    const rig = smp(1);
    const { gic } = rig;
    rig.wgicd(GICD.ISENABLER + 4, 1);
    rig.wgicd(GICD.ISACTIVER + 4, 1);
    gic.signalSpi(32);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(1023n);
    rig.wgicd(GICD.ICACTIVER + 4, 1);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(32n);
  });
});

describe('GicV3 construction, inputs and tracing', () => {
  it('validates its options', () => {
    expect(() => new GicV3({ cpus: 0 })).toThrow(UsageError);
    expect(() => new GicV3({ cpus: 1, spis: 33 })).toThrow(/spis must be a multiple of 32 or 988, got 33/);
    expect(() => new GicV3({ cpus: 1, listRegisters: 17 })).toThrow(UsageError);
    expect(() => new GicV3({ cpus: 1, virtualPriorityBits: 5, virtualPreemptionBits: 6 })).toThrow(/virtualPreemptionBits/);
    expect(() => new GicV3({ cpus: 2, affinity: () => 7 })).toThrow(/affinity 0x7 of cpu 1 is not unique/);
    expect(() => new GicV3({ cpus: 1, maintenanceIntid: 5 })).toThrow(UsageError);
    const gic = new GicV3({ cpus: 1, spis: 988 });
    expect(gic.distributorFor(0).mmioRead(GICD.TYPER, 4) & 0x1f).toBe(31);
    expect(new GicV3(3).redistributorRegion.size).toBe(3 * 0x20000);
    expect(() => gic.signalSpi(1020)).toThrow(/SPI must be an integer INTID in \[32, 1019\], got 1020/);
  });

  it('accepts message-based SPIs through InterruptTarget (edge = SETSPI, level = line)', () => {
    const rig = makeV3({ cpus: 1 });
    bringUpV3(rig);
    rig.wgicd(GICD.ISENABLER + 4, 0xffff_ffff);
    rig.wgicd(GICD.ICFGR + 8, 0x2);
    rig.gic.acceptInterrupt({ vector: 32, trigger: 'edge' });
    rig.gic.acceptInterrupt({ vector: 33, trigger: 'level' });
    expect(rig.gicd(GICD.ISPENDR + 4)).toBe(3);
    rig.gic.acceptInterrupt({ vector: 33, trigger: 'level', level: false });
    expect(rig.gicd(GICD.ISPENDR + 4)).toBe(1);
  });

  it('emits raise, SGI, acknowledge and EOI trace events at the clock cycle', () => {
    const tracer = new RecordingTracer();
    const clock = new Clock();
    const gic = new GicV3({ cpus: 2, tracer, clock });
    clock.advance(100);
    gic.signalSpi(40);
    gic.write(0, 'ICC_SGI1R_EL1', (1n << 24n) | 2n);
    gic.read(0, 'ICC_IAR1_EL1');
    gic.write(0, 'ICC_EOIR1_EL1', 1023n);
    const ev = tracer.events();
    expect(ev.map((e) => e.kind)).toEqual(['interrupt.raised', 'ipi.sent', 'interrupt.acknowledged', 'interrupt.eoi']);
    expect(ev.every((e) => e.cycle === 100 && e.source === 'gic')).toBe(true);
    expect(ev[0]!.cpu).toBeUndefined();
  });

  it('traces delivery when IRQ rises, and the virtual acknowledge and EOI of the guest', () => {
    const tracer = new RecordingTracer();
    const rig = makeV3({ cpus: 1, tracer });
    bringUpV3(rig);
    rig.wgicd(GICD.ISENABLER + 4, 1);
    rig.gic.signalSpi(32);
    expect(rig.irq[0]).toBe(true);
    rig.gic.write(0, 'ICH_HCR_EL2', 1n);
    rig.gic.write(0, 'ICH_VMCR_EL2', (0xf8n << 24n) | 2n);
    rig.gic.write(0, 'ICH_LR0_EL2', (1n << 62n) | (1n << 60n) | (0x80n << 48n) | 50n);
    rig.gic.write(0, 'ICV_EOIR1_EL1', rig.gic.read(0, 'ICV_IAR1_EL1'));
    const ev = tracer.events().map((e) => [e.kind, 'vector' in e ? e.vector : -1, e.args?.virtual ?? false]);
    expect(ev).toEqual([
      ['interrupt.raised', 32, false],
      ['interrupt.delivered', 32, false],
      ['interrupt.acknowledged', 50, true],
      ['interrupt.eoi', 50, true],
    ]);
  });
});

describe('GicV3 reset', () => {
  it('returns every register to its reset value (IHI0069 12.9, 12.10, 12.2, 12.4)', () => {
    const rig = makeV3({ cpus: 2 });
    const fresh = JSON.stringify(rig.gic.saveState());
    bringUpV3(rig);
    rig.gic.signalSpi(40);
    rig.gic.write(1, 'ICH_LR0_EL2', (1n << 62n) | 5n);
    rig.gic.write(1, 'ICH_HCR_EL2', 0xffffn);
    rig.gic.setVirtualRouting(0, { imo: true, fmo: false });
    rig.gic.reset();
    expect(JSON.stringify(rig.gic.saveState())).toBe(fresh);
    expect(rig.rd(0, 0x14)).toBe(0x6);
    expect(rig.gic.maintenanceLevel(1)).toBe(false);
  });
});

describe('GicV3 input lines', () => {
  it('spiLine and ppiLine are InterruptLines driving the inputs', () => {
    const rig = makeV3({ cpus: 2 });
    bringUpV3(rig);
    rig.wgicd(GICD.ISENABLER + 4, 1 << 5);
    rig.wsgi(1, GICR_SGI.ISENABLER0, 1 << 27);
    const spi = rig.gic.spiLine(37);
    const timer = rig.gic.ppiLine(1, 27);
    spi.setLevel(true);
    timer.setLevel(true);
    expect(rig.gic.read(0, 'ICC_IAR1_EL1')).toBe(37n);
    expect(rig.gic.read(1, 'ICC_IAR1_EL1')).toBe(27n);
    timer.setLevel(false);
    expect(rig.sgi(1, GICR_SGI.ISPENDR0)).toBe(0);
    expect(() => rig.gic.spiLine(31)).toThrow(UsageError);
    expect(() => rig.gic.ppiLine(2, 27)).toThrow(UsageError);
  });
});
