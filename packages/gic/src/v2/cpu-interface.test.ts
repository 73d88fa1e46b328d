import { describe, expect, it } from 'vitest';
import { CpuException } from '@hvsim/core';
import { bringUpV2, makeV2 } from '../test-support/v2.js';
import { GICC, GICD } from './regs.js';

function ready(cpus = 2) {
  const rig = makeV2({ cpus });
  bringUpV2(rig);
  rig.wgicd(0, GICD.ISENABLER + 4, 0xffff_ffff);
  return rig;
}

describe('GICv2 CPU interface (IHI0048B 4.4)', () => {
  it.each([
    ['GICC_CTLR all fields (4.4.1)', GICC.CTLR, 0xffff_ffff, 0x7ff],
    ['GICC_PMR keeps 5 bits (4.4.2)', GICC.PMR, 0xff, 0xf8],
    ['GICC_BPR minimum 2 (4.4.3)', GICC.BPR, 0, 2],
    ['GICC_ABPR minimum 3 (4.4.8)', GICC.ABPR, 1, 3],
    ['GICC_IIDR read-only (4.4.14)', GICC.IIDR, 0, 0x2043b],
    ['GICC_RPR read-only, idle 0xFF (4.4.6)', GICC.RPR, 0, 0xff],
    ['GICC_HPPIR spurious when idle (4.4.7)', GICC.HPPIR, 0, 1023],
    ['GICC_APR0 (4.4.12)', GICC.APR0, 0x10, 0x10],
    ['GICC_NSAPR0 (4.4.13)', GICC.NSAPR0, 0x20, 0x20],
    ['GICC_APR1 not implemented with 5 bits', GICC.APR0 + 4, 0x20, 0],
    ['reserved offset RAZ/WI', 0x40, 0xffff_ffff, 0],
  ])('%s', (_n, offset, value, expected) => {
    const rig = makeV2({ cpus: 1 });
    rig.wgicc(0, offset, value);
    expect(rig.gicc(0, offset)).toBe(expected);
  });

  it('GICC_IAR returns the SGI source in CPUID and keeps other sources pending (4.4.4, 3.2.4)', () => {
    const rig = ready(4);
    rig.wgicd(3, GICD.SGIR, 0x0001_0007);
    rig.wgicd(2, GICD.SGIR, 0x0001_0007);
    expect(rig.gicc(0, GICC.HPPIR)).toBe((2 << 10) | 7);
    expect(rig.gicc(0, GICC.IAR)).toBe((2 << 10) | 7);
    rig.wgicc(0, GICC.EOIR, (2 << 10) | 7);
    expect(rig.gicc(0, GICC.IAR)).toBe((3 << 10) | 7);
    rig.wgicc(0, GICC.EOIR, (3 << 10) | 7);
    expect(rig.gicc(0, GICC.IAR)).toBe(1023);
  });

  it('GICC_IAR answers 1022 for a Group 1 interrupt unless AckCtl; GICC_AIAR takes Group 1 (4.4.4, 4.4.9)', () => {
    const rig = ready(1);
    rig.wgicd(0, GICD.IGROUPR + 4, 1);
    rig.wgicd(0, GICD.CTLR, 3);
    rig.wgicc(0, GICC.CTLR, 0x3);
    rig.gic.setSpiLevel(32, true);
    expect(rig.gicc(0, GICC.HPPIR)).toBe(1022);
    expect(rig.gicc(0, GICC.IAR)).toBe(1022);
    expect(rig.gicc(0, GICC.AHPPIR)).toBe(32);
    expect(rig.gicc(0, GICC.AIAR)).toBe(32);
    rig.wgicc(0, GICC.AEOIR, 32);
    rig.gic.setSpiLevel(32, false);
    rig.gic.setSpiLevel(33, true); // Group 0
    expect(rig.gicc(0, GICC.AIAR)).toBe(1023);
    rig.wgicc(0, GICC.CTLR, 0x7); // AckCtl
    rig.gic.setSpiLevel(33, false);
    rig.gic.setSpiLevel(32, true);
    expect(rig.gicc(0, GICC.IAR)).toBe(32);
  });

  it('FIQEn signals Group 0 as FIQ (4.4.1)', () => {
    const rig = ready(1);
    rig.wgicc(0, GICC.CTLR, 0x9);
    rig.gic.setSpiLevel(34, true);
    expect([rig.gic.irqLevel(0), rig.gic.fiqLevel(0)]).toEqual([false, true]);
    rig.wgicc(0, GICC.CTLR, 0x1);
    expect([rig.gic.irqLevel(0), rig.gic.fiqLevel(0)]).toEqual([true, false]);
  });

  it('EOImodeS = 1 splits priority drop and deactivation; GICC_DIR deactivates (4.4.5, 4.4.15)', () => {
    const rig = ready(1);
    rig.wgicc(0, GICC.CTLR, 0x201);
    rig.gic.setSpiLevel(35, true);
    expect(rig.gicc(0, GICC.IAR)).toBe(35);
    rig.gic.setSpiLevel(35, false);
    rig.wgicc(0, GICC.EOIR, 35);
    expect(rig.gicc(0, GICC.RPR)).toBe(0xff);
    expect(rig.gicd(0, GICD.ISACTIVER + 4)).toBe(1 << 3);
    rig.wgicc(0, GICC.DIR, 35);
    expect(rig.gicd(0, GICD.ISACTIVER + 4)).toBe(0);
  });

  it('CBPR makes Group 1 preemption use GICC_BPR; GICC_ABPR keeps its value (4.4.1, 4.4.7)', () => {
    const rig = ready(1);
    rig.wgicd(0, GICD.IGROUPR + 4, 0x3);
    rig.wgicd(0, GICD.CTLR, 3);
    rig.wgicd(0, GICD.IPRIORITYR + 32, 0x6070); // 32 at 0x70, 33 at 0x60
    rig.wgicc(0, GICC.ABPR, 3); // Group 1 group priority [7:3]
    rig.wgicc(0, GICC.BPR, 4); // Group 0 group priority [7:5]
    rig.wgicc(0, GICC.CTLR, 0x13); // both groups, CBPR
    expect(rig.gicc(0, GICC.ABPR)).toBe(3);
    rig.gic.setSpiLevel(32, true);
    expect(rig.gicc(0, GICC.AIAR)).toBe(32);
    expect(rig.gicc(0, GICC.RPR)).toBe(0x60); // 0x70 under BPR 4
    rig.gic.setSpiLevel(33, true);
    expect(rig.gic.irqLevel(0)).toBe(false); // 0x60 does not preempt 0x60
    rig.wgicc(0, GICC.CTLR, 0x3); // CBPR off: ABPR 3 gives [7:3], but the running priority stays 0x60
    expect(rig.gic.irqLevel(0)).toBe(false);
  });

  it('the binary point decides preemption (3.3.3)', () => {
    const rig = ready(1);
    rig.wgicd(0, GICD.IPRIORITYR + 32, 0x6070); // 32 at 0x70, 33 at 0x60
    rig.wgicc(0, GICC.BPR, 4); // group priority [7:5]
    rig.gic.setSpiLevel(32, true);
    expect(rig.gicc(0, GICC.IAR)).toBe(32);
    expect(rig.gicc(0, GICC.RPR)).toBe(0x60);
    rig.gic.setSpiLevel(33, true);
    expect(rig.gic.irqLevel(0)).toBe(false); // 0x60 and 0x70 share group priority 0x60
    rig.wgicc(0, GICC.BPR, 3); // group priority [7:4]: 0x60 < 0x70
    expect(rig.gic.irqLevel(0)).toBe(false); // the running priority was recorded as 0x60
    rig.wgicc(0, GICC.EOIR, 32);
    rig.gic.setSpiLevel(32, false);
    expect(rig.gicc(0, GICC.IAR)).toBe(33);
    expect(rig.gicc(0, GICC.RPR)).toBe(0x60);
  });

  it('only word accesses are supported (4.1.4)', () => {
    const rig = makeV2({ cpus: 1 });
    expect(() => rig.gic.cpuInterface(0).mmioRead(GICC.IAR, 1)).toThrow(CpuException);
    expect(() => rig.gic.cpuInterface(0).mmioWrite(GICC.PMR, 2, 0)).toThrow(CpuException);
  });
});
