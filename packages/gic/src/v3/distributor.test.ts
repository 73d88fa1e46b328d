import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { propertyParams } from '../test-support/property.js';
import { itInParts } from '../test-support/property-share.js';
import { CpuException } from '@hvsim/core';
import { bringUpV3, makeV3 } from '../test-support/v3.js';
import { GICD } from './regs.js';

describe('GICv3 distributor registers (IHI0069 12.9)', () => {
  // Conformance table: register, written value, expected read-back.
  it.each([
    ['GICD_CTLR enables, ARE and DS RAO/WI (12.9.4)', GICD.CTLR, 0xffff_ffff, 0x53],
    ['GICD_CTLR cleared keeps ARE and DS (12.9.4)', GICD.CTLR, 0, 0x50],
    ['GICD_TYPER is read-only (12.9.38)', GICD.TYPER, 0xffff_ffff, 0x0049_0002],
    ['GICD_IIDR is read-only (12.9.17)', GICD.IIDR, 0, 0x43b],
    ['GICD_PIDR2 ArchRev 3 (12.1.13)', GICD.PIDR2, 0, 0x3b],
    ['IGROUPR0 (SGIs/PPIs) is RAZ/WI with ARE (12.9.13)', GICD.IGROUPR, 0xffff_ffff, 0],
    ['ISENABLER0 is RAZ/WI with ARE (12.9.26)', GICD.ISENABLER, 0xffff_ffff, 0],
    ['IPRIORITYR0 is RAZ/WI with ARE (12.9.20)', GICD.IPRIORITYR, 0xffff_ffff, 0],
    ['ITARGETSR is RES0 with ARE (12.9.30)', GICD.ITARGETSR + 32, 0xffff_ffff, 0],
    ['IGRPMODR is RAZ/WI with DS = 1 (12.9.15)', GICD.IGRPMODR + 4, 0xffff_ffff, 0],
    ['NSACR is RAZ/WI with DS = 1 (12.9.31)', GICD.NSACR + 8, 0xffff_ffff, 0],
    ['SGIR is RES0 with ARE (12.9.35)', GICD.SGIR, 0x0201_0001, 0],
    ['IGROUPR1 is RW (12.9.13)', GICD.IGROUPR + 4, 0x8000_0001, 0x8000_0001],
    ['IPRIORITYR8 keeps 5 implemented bits (12.9.20)', GICD.IPRIORITYR + 32, 0xffff_ffff, 0xf8f8_f8f8],
    ['ICFGR2 keeps Int_config[1] only (12.9.9)', GICD.ICFGR + 8, 0xffff_ffff, 0xaaaa_aaaa],
    ['SPI beyond ITLinesNumber is RAZ/WI', GICD.ISENABLER + 12, 0xffff_ffff, 0],
    ['reserved offset is RAZ/WI', 0x0020, 0xffff_ffff, 0],
  ])('%s', (_name, offset, value, expected) => {
    const rig = makeV3({ cpus: 2, spis: 64 });
    rig.wgicd(offset, value);
    expect(rig.gicd(offset)).toBe(expected);
  });

  it('GICD_TYPER reports ITLinesNumber for 988 SPIs, MBIS, IDbits and no LPIs (12.9.38)', () => {
    const rig = makeV3({ cpus: 1, spis: 64 });
    expect(rig.gicd(GICD.TYPER) & 0x1f).toBe(rig.gic.spis / 32);
    const big = makeV3({ cpus: 1, spis: 960 });
    expect(big.gicd(GICD.TYPER) & 0x1f).toBe(30);
    expect((big.gicd(GICD.TYPER) >>> 16) & 1).toBe(1); // MBIS
    expect((big.gicd(GICD.TYPER) >>> 17) & 1).toBe(0); // LPIS
    expect((big.gicd(GICD.TYPER) >>> 19) & 0x1f).toBe(9); // 10 INTID bits
  });

  it('set/clear enable, pending and active pairs (12.9.26, 12.9.7, 12.9.28, 12.9.11, 12.9.24, 12.9.5)', () => {
    const rig = makeV3({ cpus: 1 });
    rig.wgicd(GICD.ISENABLER + 4, 0x0000_00f0);
    rig.wgicd(GICD.ISENABLER + 4, 0x0000_000f);
    expect(rig.gicd(GICD.ICENABLER + 4)).toBe(0xff);
    rig.wgicd(GICD.ICENABLER + 4, 0x0000_0011);
    expect(rig.gicd(GICD.ISENABLER + 4)).toBe(0xee);
    rig.wgicd(GICD.ISPENDR + 4, 0x0000_0300);
    expect(rig.gicd(GICD.ICPENDR + 4)).toBe(0x300);
    rig.wgicd(GICD.ICPENDR + 4, 0x0000_0100);
    expect(rig.gicd(GICD.ISPENDR + 4)).toBe(0x200);
    rig.wgicd(GICD.ISACTIVER + 4, 0x8000_0000);
    expect(rig.gicd(GICD.ICACTIVER + 4)).toBe(0x8000_0000);
    rig.wgicd(GICD.ICACTIVER + 4, 0xffff_ffff);
    expect(rig.gicd(GICD.ISACTIVER + 4)).toBe(0);
  });

  it('IPRIORITYR is byte-accessible; other sizes abort (12.1.3)', () => {
    const { gic } = makeV3({ cpus: 1 });
    const d = gic.distributorFor(0);
    d.mmioWrite(GICD.IPRIORITYR + 33, 1, 0x47);
    expect(d.mmioRead(GICD.IPRIORITYR + 33, 1)).toBe(0x40);
    expect(d.mmioRead(GICD.IPRIORITYR + 32, 4)).toBe(0x4000);
    expect(() => d.mmioRead(GICD.ISENABLER + 4, 1)).toThrow(CpuException);
    expect(() => d.mmioWrite(GICD.CTLR, 2, 1)).toThrow(/2-byte write to GICD offset 0x0 is not a supported access/);
    expect(() => d.mmioRead(GICD.IPRIORITYR + 33, 4)).toThrow(CpuException);
    expect(() => d.mmioRead64(GICD.CTLR)).toThrow(CpuException);
  });

  // IHI0069 12.9.22 GICD_IROUTER<n>, 4.5.1 routing with affinity
  it('GICD_IROUTER routes an SPI to the PE with that affinity, as 64-bit or 32-bit halves', () => {
    const rig = makeV3({ cpus: 20 });
    bringUpV3(rig);
    const { gic } = rig;
    const d = gic.distributorFor(0);
    rig.wgicd(GICD.ISENABLER + 4, 1 << 1); // INTID 33
    d.mmioWrite64(GICD.IROUTER + 8 * 33, 0x0000_00ff_0000_0103n);
    gic.signalSpi(33);
    expect(rig.irq.some(Boolean)).toBe(false); // no PE has Aff3 = 0xff
    d.mmioWrite(GICD.IROUTER + 8 * 33 + 4, 4, 0);
    // Aff1 = 1, Aff0 = 3 -> cpu 19 with the default (KVM) affinity layout
    expect(rig.irq[19]).toBe(true);
    expect(d.mmioRead64(GICD.IROUTER + 8 * 33)).toBe(0x103n);
    d.mmioWrite64(GICD.IROUTER + 8 * 33, 0xffff_ffff_ffff_ffffn);
    expect(d.mmioRead64(GICD.IROUTER + 8 * 33)).toBe(0xff_80ff_ffffn); // RES0 bits 63:40, 30:24
  });

  it('1-of-N routing (Interrupt_Routing_Mode = 1) offers the SPI to every awake PE; the first to acknowledge takes it', () => {
    const rig = makeV3({ cpus: 3 });
    bringUpV3(rig);
    const { gic } = rig;
    rig.wr(1, 0x14, 0x2); // PE 1 asleep
    rig.wgicd(GICD.ISENABLER + 4, 1 << 2);
    gic.distributorFor(0).mmioWrite(GICD.IROUTER + 8 * 34, 4, 0x8000_0000);
    gic.signalSpi(34);
    expect([rig.irq[0], rig.irq[1], rig.irq[2]]).toEqual([true, undefined, true]);
    expect(gic.read(2, 'ICC_IAR1_EL1')).toBe(34n);
    expect([rig.irq[0], rig.irq[2]]).toEqual([false, false]);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(1023n);
  });

  it('GICD_SETSPI_NSR / CLRSPI_NSR: edge becomes pending, level is asserted until CLRSPI (12.9.33, 12.9.1)', () => {
    const rig = makeV3({ cpus: 1 });
    rig.wgicd(GICD.ICFGR + 8, 0x2); // INTID 32 edge
    rig.wgicd(GICD.SETSPI_NSR, 32);
    rig.wgicd(GICD.SETSPI_NSR, 33);
    expect(rig.gicd(GICD.ISPENDR + 4)).toBe(3);
    rig.wgicd(GICD.CLRSPI_NSR, 33);
    expect(rig.gicd(GICD.ISPENDR + 4)).toBe(1);
    rig.wgicd(GICD.CLRSPI_NSR, 32);
    expect(rig.gicd(GICD.ISPENDR + 4)).toBe(0);
    rig.wgicd(GICD.SETSPI_NSR, 1000); // not an implemented SPI: ignored
    rig.wgicd(GICD.SETSPI_NSR, 5); // not an SPI: ignored
    expect(rig.gicd(GICD.ISPENDR)).toBe(0);
  });

  it('disabling a group in GICD_CTLR stops forwarding its interrupts (12.9.4)', () => {
    const rig = makeV3({ cpus: 1 });
    bringUpV3(rig);
    rig.wgicd(GICD.ISENABLER + 4, 1);
    rig.gic.signalSpi(32);
    expect(rig.irq[0]).toBe(true);
    rig.wgicd(GICD.CTLR, 0x1);
    expect(rig.irq[0]).toBe(false);
    rig.wgicd(GICD.CTLR, 0x2);
    expect(rig.irq[0]).toBe(true);
  });
});

describe('1-of-N delivery (property)', () => {
  // IHI0069 4.5.1, 12.9.22: a 1-of-N SPI goes to exactly one participating PE, whichever asks first.
  itInParts('exactly one awake PE acknowledges a 1-of-N SPI, never a sleeping one', propertyParams.numRuns, 2, (params) => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 15 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 4, maxLength: 12 }), (awake, order) => {
        const rig = makeV3({ cpus: 4 });
        bringUpV3(rig);
        for (let c = 0; c < 4; c++) if (((awake >>> c) & 1) === 0) rig.wr(c, 0x14, 0x2);
        rig.wgicd(GICD.ISENABLER + 4, 1);
        rig.gic.distributorFor(0).mmioWrite(GICD.IROUTER + 8 * 32, 4, 0x8000_0000);
        rig.gic.signalSpi(32);
        const takers: number[] = [];
        for (const c of order) if (rig.gic.read(c, 'ICC_IAR1_EL1') === 32n) takers.push(c);
        const firstAwake = order.find((c) => ((awake >>> c) & 1) === 1);
        expect(takers).toEqual(firstAwake === undefined ? [] : [firstAwake]);
      }),
      params,
    );
  });
});
