import { describe, expect, it } from 'vitest';
import { CpuException } from '@hvsim/core';
import { bringUpV2, makeV2 } from '../test-support/v2.js';
import { GICC, GICD } from './regs.js';

describe('GICv2 distributor (IHI0048B 4.3)', () => {
  it.each([
    ['GICD_CTLR EnableGrp0/1 (4.3.1)', GICD.CTLR, 0xffff_ffff, 0x3],
    ['GICD_TYPER read-only: 64 SPIs, 4 CPUs (4.3.2)', GICD.TYPER, 0, 0x62],
    ['GICD_IIDR read-only (4.3.3)', GICD.IIDR, 0, 0x43b],
    ['ICPIDR2 ArchRev 2', GICD.PIDR2, 0, 0x2b],
    ['IGROUPR1 RW (4.3.4)', GICD.IGROUPR + 4, 0x1234_5678, 0x1234_5678],
    ['IPRIORITYR8 keeps 5 bits (4.3.11)', GICD.IPRIORITYR + 32, 0xffff_ffff, 0xf8f8_f8f8],
    ['ICFGR0 SGIs read-only edge (4.3.13)', GICD.ICFGR, 0, 0xaaaa_aaaa],
    ['ICFGR2 Int_config[1] only (4.3.13)', GICD.ICFGR + 8, 0xffff_ffff, 0xaaaa_aaaa],
    ['ITARGETSR0 (SGIs) read as this CPU, read-only (4.3.12)', GICD.ITARGETSR, 0xffff_ffff, 0x0404_0404],
    ['ITARGETSR8 (SPIs) keeps implemented CPUs (4.3.12)', GICD.ITARGETSR + 32, 0xffff_ffff, 0x0f0f_0f0f],
    ['NSACR RAZ/WI without Security Extensions (4.3.14)', GICD.NSACR + 8, 0xffff_ffff, 0],
    ['GICD_SGIR write-only (4.3.15)', GICD.SGIR, 0x1, 0],
    ['INTIDs beyond ITLinesNumber RAZ/WI', GICD.ISENABLER + 12, 0xffff_ffff, 0],
    ['reserved offset RAZ/WI', 0x00c, 0xffff_ffff, 0],
  ])('%s', (_n, offset, value, expected) => {
    const rig = makeV2({ cpus: 4, spis: 64 });
    rig.wgicd(2, offset, value);
    expect(rig.gicd(2, offset)).toBe(expected);
  });

  it('banks SGI and PPI registers per CPU interface (4.3 banking)', () => {
    const rig = makeV2({ cpus: 2 });
    rig.wgicd(0, GICD.ISENABLER, 0x0001_0002);
    rig.wgicd(1, GICD.IPRIORITYR + 16, 0x8000_0000);
    expect(rig.gicd(1, GICD.ISENABLER)).toBe(0);
    expect(rig.gicd(0, GICD.ISENABLER)).toBe(0x0001_0002);
    expect(rig.gicd(0, GICD.IPRIORITYR + 16)).toBe(0);
    expect(rig.gicd(1, GICD.IPRIORITYR + 16)).toBe(0x8000_0000);
    expect(rig.gicd(1, GICD.ITARGETSR + 16)).toBe(0x0202_0202);
  });

  it('is RAZ/WI for ITARGETSR on a uniprocessor, with every SPI going to CPU 0 (4.3.12)', () => {
    const rig = makeV2({ cpus: 1 });
    rig.wgicd(0, GICD.ITARGETSR + 32, 0x0202_0202);
    expect(rig.gicd(0, GICD.ITARGETSR + 32)).toBe(0);
    expect(rig.gicd(0, GICD.ITARGETSR)).toBe(0);
    rig.wgicd(0, GICD.ISENABLER + 4, 1);
    rig.wgicd(0, GICD.CTLR, 1);
    rig.wgicc(0, GICC.CTLR, 1);
    rig.wgicc(0, GICC.PMR, 0xff);
    rig.gic.setSpiLevel(32, true);
    expect(rig.irq[0]).toBe(true);
  });

  it('ITARGETSR routes an SPI to several CPUs; the first to acknowledge takes it', () => {
    const rig = makeV2({ cpus: 3 });
    bringUpV2(rig);
    rig.gic.distributorFor(0).mmioWrite(GICD.ITARGETSR + 33, 1, 0b110);
    rig.wgicd(0, GICD.ISENABLER + 4, 2);
    rig.gic.setSpiLevel(33, true);
    expect([rig.irq[0], rig.irq[1], rig.irq[2]]).toEqual([undefined, true, true]);
    expect(rig.gicc(2, GICC.IAR)).toBe(33);
    expect(rig.irq[1]).toBe(false);
    expect(rig.gicc(1, GICC.IAR)).toBe(1023);
  });

  // IHI0048B 4.3.15 TargetListFilter
  it.each([
    ['target list', 0x0005_0003, [true, false, true, false]],
    ['all but self', 0x0100_0003, [true, false, true, true]],
    ['self only', 0x0200_0003, [false, true, false, false]],
    ['reserved filter sends nothing', 0x0300_0003, [false, false, false, false]],
    ['CPUs that do not exist are ignored', 0x00f0_0003, [false, false, false, false]],
  ])('GICD_SGIR %s', (_n, value, expected) => {
    const rig = makeV2({ cpus: 4 });
    bringUpV2(rig);
    rig.wgicd(1, GICD.SGIR, value);
    expect([0, 1, 2, 3].map((c) => (rig.gicd(c, GICD.ISPENDR) & 8) !== 0)).toEqual(expected);
  });

  // IHI0048B 4.3.16-4.3.17 GICD_CPENDSGIRn / GICD_SPENDSGIRn, 3.2.4 SGI pending per source
  it('keeps SGI pending state per source CPU; SPENDSGIR / CPENDSGIR set and clear sources', () => {
    const rig = makeV2({ cpus: 4 });
    bringUpV2(rig);
    rig.wgicd(1, GICD.SGIR, 0x0001_0005);
    rig.wgicd(3, GICD.SGIR, 0x0001_0005);
    expect(rig.gic.distributorFor(0).mmioRead(GICD.SPENDSGIR + 5, 1)).toBe(0b1010);
    expect(rig.gicd(0, GICD.CPENDSGIR + 4)).toBe(0b1010 << 8);
    rig.gic.distributorFor(0).mmioWrite(GICD.CPENDSGIR + 5, 1, 0b0010);
    expect(rig.gicd(0, GICD.SPENDSGIR + 4)).toBe(0b1000 << 8);
    rig.gic.distributorFor(0).mmioWrite(GICD.SPENDSGIR + 5, 1, 0b1_0001); // source 4 does not exist
    expect(rig.gicd(0, GICD.SPENDSGIR + 4)).toBe(0b1001 << 8);
    // ISPENDR0/ICPENDR0 SGI bits: read the state, writes ignored (4.3.7, 4.3.8)
    expect(rig.gicd(0, GICD.ISPENDR) & 0x20).toBe(0x20);
    rig.wgicd(0, GICD.ICPENDR, 0x20);
    expect(rig.gicd(0, GICD.ISPENDR) & 0x20).toBe(0x20);
    rig.wgicd(0, GICD.ISPENDR, 0x40);
    expect(rig.gicd(0, GICD.ISPENDR) & 0x40).toBe(0);
  });

  it('accepts byte accesses to IPRIORITYR, ITARGETSR and the SGI pending registers only (4.1.4)', () => {
    const { gic } = makeV2({ cpus: 2 });
    const d = gic.distributorFor(0);
    d.mmioWrite(GICD.IPRIORITYR + 41, 1, 0x88);
    expect(d.mmioRead(GICD.IPRIORITYR + 40, 4)).toBe(0x8800);
    expect(d.mmioRead(GICD.ITARGETSR + 3, 1)).toBe(1);
    expect(() => d.mmioRead(GICD.CTLR, 1)).toThrow(CpuException);
    expect(() => d.mmioWrite(GICD.ISENABLER, 2, 1)).toThrow(/2-byte write to GICD offset 0x100/);
    expect(() => d.mmioRead(GICD.TYPER + 1, 4)).toThrow(CpuException);
  });

  it('level-sensitive SPIs: pending follows the line; ICPENDR cannot clear an asserted line (3.2.4)', () => {
    const rig = makeV2({ cpus: 1 });
    rig.gic.setSpiLevel(40, true);
    rig.wgicd(0, GICD.ICPENDR + 4, 1 << 8);
    expect(rig.gicd(0, GICD.ISPENDR + 4)).toBe(1 << 8);
    rig.gic.setSpiLevel(40, false);
    expect(rig.gicd(0, GICD.ISPENDR + 4)).toBe(0);
    rig.wgicd(0, GICD.ISPENDR + 4, 1 << 8);
    expect(rig.gicd(0, GICD.ISPENDR + 4)).toBe(1 << 8);
  });
});
