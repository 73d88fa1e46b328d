import { describe, expect, it } from 'vitest';
import { CpuException, DELIVERY_STATUS, RecordingTracer } from '@hvsim/core';
import { makeV3 } from '../test-support/v3.js';
import { GICD, GICR, GICR_SGI, GICR_STRIDE } from './regs.js';

describe('GICv3 redistributor (IHI0069 12.10)', () => {
  // IHI0069 12.11.37 GICR_TYPER
  it('GICR_TYPER reports affinity, processor number and Last; no LPIs', () => {
    const rig = makeV3({ cpus: 18 });
    const region = rig.gic.redistributorRegion;
    expect(region.size).toBe(18 * GICR_STRIDE);
    const t0 = region.mmioRead64(GICR.TYPER);
    expect(t0).toBe(0n);
    const t17 = region.mmioRead64(17 * GICR_STRIDE + GICR.TYPER);
    expect(t17 & 0x10n).toBe(0x10n); // Last
    expect((t17 >> 8n) & 0xffffn).toBe(17n);
    expect(t17 >> 32n).toBe(0x101n); // Aff1 = 1, Aff0 = 1
    expect(rig.rd(17, GICR.TYPER + 4)).toBe(0x101);
    expect(t17 & 0x3n).toBe(0n); // PLPIS, VLPIS
    rig.wr(3, GICR.TYPER, 0xffff_ffff);
    expect(rig.rd(3, GICR.TYPER)).toBe(3 << 8);
    region.mmioWrite64(3 * GICR_STRIDE + GICR.TYPER, 0xffff_ffff_ffff_ffffn); // read-only
    expect(region.mmioRead64(3 * GICR_STRIDE + GICR.TYPER)).toBe(0x3_0000_0300n);
    region.mmioWrite64(GICR.PROPBASER, 0x1234_5000n); // RES0 without LPIs
    expect(region.mmioRead64(GICR.PROPBASER)).toBe(0n);
    expect(() => region.mmioWrite64(GICR.CTLR, 0n)).toThrow(CpuException);
  });

  // IHI0069 12.11.42 GICR_WAKER and the power-up sequence
  it('GICR_WAKER: resets asleep; clearing ProcessorSleep clears ChildrenAsleep', () => {
    const rig = makeV3({ cpus: 1 });
    expect(rig.rd(0, GICR.WAKER)).toBe(0x6);
    rig.wr(0, GICR.WAKER, 0x4); // ChildrenAsleep is read-only
    expect(rig.rd(0, GICR.WAKER)).toBe(0);
    rig.wr(0, GICR.WAKER, 0x2);
    expect(rig.rd(0, GICR.WAKER)).toBe(0x6);
  });

  it('an asleep redistributor forwards nothing and raises a wake request', () => {
    const woken: number[] = [];
    const rig = makeV3({ cpus: 1, onWakeRequest: (c) => woken.push(c) });
    const { gic } = rig;
    rig.wgicd(0, 3);
    gic.write(0, 'ICC_PMR_EL1', 0xffn);
    gic.write(0, 'ICC_IGRPEN0_EL1', 1n);
    rig.wsgi(0, GICR_SGI.ISENABLER0, 1 << 27);
    gic.setPpiLevel(0, 27, true);
    expect(rig.fiq[0]).toBeUndefined();
    expect(woken).toEqual([0]);
    gic.write(0, 'ICC_PMR_EL1', 0xf0n); // further updates do not repeat the request
    expect(woken).toEqual([0]);
    expect(gic.read(0, 'ICC_IAR0_EL1')).toBe(1023n);
    rig.wr(0, GICR.WAKER, 0);
    expect(rig.fiq[0]).toBe(true);
    expect(gic.read(0, 'ICC_IAR0_EL1')).toBe(27n);
  });

  it.each([
    ['IGROUPR0 is RW (12.11.12)', GICR_SGI.IGROUPR0, 0xffff_ffff, 0xffff_ffff],
    ['IPRIORITYR4 keeps implemented bits (12.11.21)', GICR_SGI.IPRIORITYR0 + 16, 0x1234_5678, 0x1030_5078],
    ['ICFGR0 (SGIs) is read-only edge (12.11.7)', GICR_SGI.ICFGR0, 0, 0xaaaa_aaaa],
    ['ICFGR1 (PPIs) is programmable (12.11.8)', GICR_SGI.ICFGR1, 0x0000_0008, 0x0000_0008],
    ['IGRPMODR0 is RAZ/WI with DS = 1 (12.11.14)', GICR_SGI.IGRPMODR0, 0xffff_ffff, 0],
    ['NSACR is RAZ/WI with DS = 1 (12.11.30)', GICR_SGI.NSACR, 0xffff_ffff, 0],
    ['reserved SGI_base offset RAZ/WI', 0x0004, 0xffff_ffff, 0],
  ])('%s', (_name, offset, value, expected) => {
    const rig = makeV3({ cpus: 2 });
    rig.wsgi(1, offset, value);
    expect(rig.sgi(1, offset)).toBe(expected);
    expect(rig.sgi(0, offset)).toBe(offset === GICR_SGI.ICFGR0 ? 0xaaaa_aaaa : 0);
  });

  it.each([
    ['GICR_CTLR (EnableLPIs RES0 without LPIs)', GICR.CTLR, 0x1, 0],
    ['GICR_IIDR', GICR.IIDR, 0, 0x43b],
    ['GICR_PROPBASER (RES0 without LPIs)', GICR.PROPBASER, 0xffff_f000, 0],
    ['GICR_PIDR2', GICR.PIDR2, 0, 0x3b],
  ])('RD_base %s', (_n, offset, value, expected) => {
    const rig = makeV3({ cpus: 1 });
    rig.wr(0, offset, value);
    expect(rig.rd(0, offset)).toBe(expected);
  });

  it('SGI and PPI state is banked per redistributor; accesses beyond the region abort', () => {
    const rig = makeV3({ cpus: 2 });
    rig.wsgi(0, GICR_SGI.ISENABLER0, 0x0001_0001);
    rig.wsgi(1, GICR_SGI.ISPENDR0, 0x2);
    expect(rig.sgi(0, GICR_SGI.ISENABLER0)).toBe(0x0001_0001);
    expect(rig.sgi(1, GICR_SGI.ISENABLER0)).toBe(0);
    expect(rig.sgi(1, GICR_SGI.ISPENDR0)).toBe(0x2);
    rig.wsgi(1, GICR_SGI.ICPENDR0, 0x2);
    expect(rig.sgi(1, GICR_SGI.ISPENDR0)).toBe(0);
    const region = rig.gic.redistributorRegion;
    expect(() => region.mmioRead(2 * GICR_STRIDE, 4)).toThrow(CpuException);
    expect(() => region.mmioRead64(GICR.WAKER)).toThrow(CpuException);
    expect(() => region.mmioRead(GICR.WAKER, 1)).toThrow(CpuException);
  });
});

describe('an interrupt routed to a sleeping redistributor (IHI0069 12.11.42 GICR_WAKER, 12.9.22 GICD_IROUTER)', () => {
  it('calls onWakeRequest once and traces a wake-request event with the INTID and flow; waking delivers it', () => {
    const tracer = new RecordingTracer();
    const wakes: number[] = [];
    const rig = makeV3({ cpus: 2, spis: 32, tracer, onWakeRequest: (cpu) => wakes.push(cpu) });
    const { gic } = rig;
    rig.wr(0, GICR.WAKER, 0); // CPU 1 stays asleep
    rig.wgicd(GICD.CTLR, 0x2);
    rig.wgicd(GICD.IGROUPR + 4, 1 << 8);
    rig.wgicd(GICD.ISENABLER + 4, 1 << 8);
    gic.distributorFor(0).mmioWrite64(GICD.IROUTER + 8 * 40, BigInt(gic.affinityOf(1)));
    gic.write(1, 'ICC_PMR_EL1', 0xf0n);
    gic.write(1, 'ICC_IGRPEN1_EL1', 1n);
    expect(gic.acceptInterrupt({ vector: 40, trigger: 'edge', flow: 9 })).toBe(DELIVERY_STATUS.DELIVERED);
    expect(gic.read(1, 'ICC_IAR1_EL1')).toBe(1023n); // an asleep PE is never signalled
    expect(rig.irq[1]).toBeUndefined();
    expect(wakes).toEqual([1]);
    const hints = tracer.events().filter((e) => e.kind === 'custom');
    expect(hints).toEqual([expect.objectContaining({ name: 'wake-request', source: 'gic', cpu: 1, flow: 9, args: expect.objectContaining({ intid: 40 }) })]);
    gic.signalSpi(41); // disabled: no new request
    expect(wakes).toEqual([1]);
    rig.wr(1, GICR.WAKER, 0);
    expect(rig.irq[1]).toBe(true);
    expect(gic.read(1, 'ICC_IAR1_EL1')).toBe(40n);
  });
});
