import type { GicV3SysregName } from './sysregs.js';
import { describe, expect, it } from 'vitest';
import { CpuException } from '@hvsim/core';
import { bringUpV3, makeV3 } from '../test-support/v3.js';
import { GICD, GICR_SGI } from './regs.js';
import { GICV3_SYSREGS, gicv3SysregName } from './sysregs.js';

function ready(cpus = 1, priorityBits = 5) {
  const rig = makeV3({ cpus, priorityBits });
  bringUpV3(rig);
  rig.wgicd(GICD.ISENABLER + 4, 0xffff_ffff);
  for (let c = 0; c < cpus; c++) rig.wsgi(c, GICR_SGI.ISENABLER0, 0xffff_ffff);
  return rig;
}

describe('GICv3 CPU interface system registers (IHI0069 12.2)', () => {
  it.each([
    ['ICC_PMR_EL1 keeps implemented bits (12.2.19)', 'ICC_PMR_EL1', 0xffn, 0xf8n],
    ['ICC_BPR0_EL1 below minimum reads the minimum (12.2.4)', 'ICC_BPR0_EL1', 0n, 2n],
    ['ICC_BPR0_EL1 (12.2.4)', 'ICC_BPR0_EL1', 5n, 5n],
    ['ICC_BPR1_EL1 below minimum reads the minimum (12.2.5)', 'ICC_BPR1_EL1', 1n, 3n],
    ['ICC_CTLR_EL1 EOImode and CBPR writable, PRIbits read-only (12.2.6)', 'ICC_CTLR_EL1', 0xffff_ffffn, 0x403n],
    ['ICC_IGRPEN0_EL1 bit 0 (12.2.15)', 'ICC_IGRPEN0_EL1', 0xffn, 1n],
    ['ICC_SRE_EL1 SRE/DFB/DIB RAO/WI (12.2.23)', 'ICC_SRE_EL1', 0n, 7n],
    ['ICC_SRE_EL2 RAO/WI (12.2.24)', 'ICC_SRE_EL2', 0n, 0xfn],
    ['ICC_AP1R0_EL1 (12.2.2)', 'ICC_AP1R0_EL1', 0x8000_0001n, 0x8000_0001n],
  ])('%s', (_n, name, value, expected) => {
    const { gic } = makeV3({ cpus: 1 });
    gic.write(0, name as GicV3SysregName, value);
    expect(gic.read(0, name as GicV3SysregName)).toBe(expected);
  });

  it('reset values: PMR 0, RPR idle, HPPIR spurious, PRIbits (12.2.19, 12.2.20, 12.2.12, 12.2.6)', () => {
    const { gic } = makeV3({ cpus: 1, priorityBits: 8 });
    expect(gic.read(0, 'ICC_PMR_EL1')).toBe(0n);
    expect(gic.read(0, 'ICC_RPR_EL1')).toBe(0xffn);
    expect(gic.read(0, 'ICC_HPPIR1_EL1')).toBe(1023n);
    expect(gic.read(0, 'ICC_CTLR_EL1')).toBe(0x700n);
    expect(gic.read(0, 'ICC_BPR0_EL1')).toBe(0n);
    expect(gic.read(0, 'ICC_AP1R3_EL1')).toBe(0n); // 7 preemption bits: four AP1R registers
  });

  it('with CBPR, ICC_BPR1_EL1 reads BPR0 + 1 and ignores writes (12.2.5)', () => {
    const { gic } = makeV3({ cpus: 1 });
    gic.write(0, 'ICC_BPR0_EL1', 4n);
    gic.write(0, 'ICC_CTLR_EL1', 1n);
    expect(gic.read(0, 'ICC_BPR1_EL1')).toBe(5n);
    gic.write(0, 'ICC_BPR1_EL1', 7n);
    gic.write(0, 'ICC_CTLR_EL1', 0n);
    expect(gic.read(0, 'ICC_BPR1_EL1')).toBe(3n);
  });

  it('the priority mask filters: only priorities below PMR are signalled (4.8.5)', () => {
    const rig = ready();
    const { gic } = rig;
    rig.wgicd(GICD.IPRIORITYR + 32, 0xf0); // INTID 32 at 0xf0
    gic.signalSpi(32);
    expect(gic.irqLevel(0)).toBe(false);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(1023n);
    expect(gic.read(0, 'ICC_HPPIR1_EL1')).toBe(32n); // HPPIR ignores the mask
    gic.write(0, 'ICC_PMR_EL1', 0xf8n);
    expect(rig.irq[0]).toBe(true);
  });

  it('preemption uses group priority: same group priority cannot preempt (4.8.6)', () => {
    const rig = ready();
    const { gic } = rig;
    gic.write(0, 'ICC_BPR1_EL1', 5n); // group priority [7:5]
    rig.wgicd(GICD.IPRIORITYR + 32, 0x6040); // 32 at 0x40, 33 at 0x60
    gic.signalSpi(33);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(33n);
    expect(gic.read(0, 'ICC_RPR_EL1')).toBe(0x60n);
    gic.signalSpi(32);
    expect(rig.irq[0]).toBe(true); // 0x40 group 0x40 < 0x60
    gic.write(0, 'ICC_BPR1_EL1', 7n); // group priority [7:7]: 0x40 and 0x60 are both group 0
    gic.write(0, 'ICC_AP1R0_EL1', 1n << BigInt(0x00 >> 3)); // running priority 0x00 via APR restore
    expect(gic.read(0, 'ICC_RPR_EL1')).toBe(0n);
    expect(rig.irq[0]).toBe(false);
  });

  it('nested interrupts: EOIs drop priorities in order (4.8.2)', () => {
    const rig = ready();
    const { gic } = rig;
    rig.wgicd(GICD.IPRIORITYR + 32, 0x40a0); // 32 at 0xa0, 33 at 0x40
    gic.signalSpi(32);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(32n);
    gic.signalSpi(33);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(33n);
    expect(gic.read(0, 'ICC_RPR_EL1')).toBe(0x40n);
    expect(gic.read(0, 'ICC_AP1R0_EL1')).toBe((1n << 8n) | (1n << 20n));
    gic.write(0, 'ICC_EOIR1_EL1', 33n);
    expect(gic.read(0, 'ICC_RPR_EL1')).toBe(0xa0n);
    gic.write(0, 'ICC_EOIR1_EL1', 32n);
    expect(gic.read(0, 'ICC_RPR_EL1')).toBe(0xffn);
    expect(rig.gicd(GICD.ISACTIVER + 4)).toBe(0);
  });

  it('EOImode = 1: EOIR drops priority only; ICC_DIR_EL1 deactivates (12.2.6 ICC_CTLR_EL1, 12.2.8 ICC_DIR_EL1)', () => {
    const rig = ready();
    const { gic } = rig;
    gic.write(0, 'ICC_CTLR_EL1', 2n);
    gic.signalSpi(40);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(40n);
    gic.write(0, 'ICC_EOIR1_EL1', 40n);
    expect(gic.read(0, 'ICC_RPR_EL1')).toBe(0xffn);
    expect(rig.gicd(GICD.ISACTIVER + 4)).toBe(1 << 8);
    gic.signalSpi(40);
    expect(rig.irq[0]).toBe(false); // active and pending: not signalled
    gic.write(0, 'ICC_DIR_EL1', 40n);
    expect(rig.gicd(GICD.ISACTIVER + 4)).toBe(0);
    expect(rig.irq[0]).toBe(true);
  });

  it('writes of special INTIDs to EOIR and DIR are ignored (12.2.10, 12.2.8)', () => {
    const rig = ready();
    const { gic } = rig;
    gic.signalSpi(40);
    gic.read(0, 'ICC_IAR1_EL1');
    gic.write(0, 'ICC_EOIR1_EL1', 1023n);
    expect(gic.read(0, 'ICC_RPR_EL1')).toBe(0xa0n);
  });

  it('Group 0 is signalled as FIQ and acknowledged only through ICC_IAR0_EL1 (4.6.1)', () => {
    const rig = ready();
    const { gic } = rig;
    rig.wgicd(GICD.IGROUPR + 4, 0xffff_fffe); // INTID 32 Group 0
    gic.write(0, 'ICC_IGRPEN0_EL1', 1n);
    gic.signalSpi(32);
    expect([gic.irqLevel(0), gic.fiqLevel(0)]).toEqual([false, true]);
    expect(gic.read(0, 'ICC_HPPIR1_EL1')).toBe(1023n);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(1023n);
    expect(gic.read(0, 'ICC_HPPIR0_EL1')).toBe(32n);
    expect(gic.read(0, 'ICC_IAR0_EL1')).toBe(32n);
    expect(gic.read(0, 'ICC_AP0R0_EL1')).toBe(1n << 20n);
    gic.write(0, 'ICC_EOIR0_EL1', 32n);
    expect(gic.read(0, 'ICC_RPR_EL1')).toBe(0xffn);
  });

  it('ICC_IGRPEN1_EL1 = 0 stops Group 1 at the CPU interface (12.2.16)', () => {
    const rig = ready();
    const { gic } = rig;
    gic.signalSpi(40);
    expect(rig.irq[0]).toBe(true);
    gic.write(0, 'ICC_IGRPEN1_EL1', 0n);
    expect(rig.irq[0]).toBe(false);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(1023n);
  });

  // IHI0069 12.2.22 ICC_SGI1R_EL1 fields
  it('without an onIrq listener the IRQ output is computed when read, with the same levels and acknowledges (4.1.1, 12.2.14)', () => {
    const wired = ready();
    const polled = makeV3({ cpus: 1 }, false);
    bringUpV3(polled);
    polled.wgicd(GICD.ISENABLER + 4, 0xffff_ffff);
    polled.wsgi(0, GICR_SGI.ISENABLER0, 0xffff_ffff);
    for (const r of [wired, polled]) {
      r.wgicd(GICD.ICFGR + 8, 0xaaaa_aaaa); // SPIs 32-47 edge-triggered
      r.wgicd(GICD.IPRIORITYR + 40, 0x80); // SPI 40 above the 0xa0 of the others
      r.gic.write(0, 'ICC_PMR_EL1', 0xa0n); // only SPI 40 passes the priority mask
    }
    const steps: ((r: typeof wired) => unknown)[] = [
      (r) => r.gic.signalSpi(33),
      (r) => r.gic.signalSpi(40),
      (r) => r.gic.cpuInterface(0).readIar(1),
      (r) => r.gic.cpuInterface(0).readIar(1),
      (r) => r.gic.write(0, 'ICC_PMR_EL1', 0xf0n),
      (r) => r.gic.cpuInterface(0).writeEoir(1, 40),
      (r) => r.gic.cpuInterface(0).readIar(1),
    ];
    const seen: [unknown, boolean, boolean][] = [];
    for (const step of steps) {
      const a = step(wired);
      expect(step(polled)).toBe(a);
      seen.push([a, wired.irq[0] ?? false, polled.gic.irqLevel(0)]);
    }
    expect(seen.map(([a, , level]) => [a, level])).toEqual([
      [undefined, false],
      [undefined, true],
      [40, false],
      [1023, false],
      [undefined, false],
      [undefined, true],
      [33, false],
    ]);
    for (const [, w, p] of seen) expect(p).toBe(w);
    expect(polled.irq).toEqual([]);
  });

  it('SGIs: IRM targets all PEs but self; affinity levels and RS select PEs', () => {
    const rig = ready(20);
    const { gic } = rig;
    gic.write(3, 'ICC_SGI1R_EL1', (1n << 40n) | (5n << 24n));
    for (let c = 0; c < 20; c++) expect(gic.read(c, 'ICC_HPPIR1_EL1')).toBe(c === 3 ? 1023n : 5n);
    for (let c = 0; c < 20; c++) {
      if (c === 3) continue;
      expect(gic.read(c, 'ICC_IAR1_EL1')).toBe(5n);
      gic.write(c, 'ICC_EOIR1_EL1', 5n);
    }
    // Aff1 = 1 selects cpus 16..19; TargetList bit 2 -> cpu 18
    gic.write(0, 'ICC_SGI1R_EL1', (6n << 24n) | (1n << 16n) | 0b100n);
    expect(gic.read(18, 'ICC_IAR1_EL1')).toBe(6n);
    expect(gic.read(2, 'ICC_HPPIR1_EL1')).toBe(1023n);
    // RS = 1 would need Aff0 16..31: no such PE
    gic.write(0, 'ICC_SGI1R_EL1', (7n << 24n) | (1n << 44n) | 0xffffn);
    for (let c = 0; c < 20; c++) expect(gic.read(c, 'ICC_HPPIR1_EL1')).not.toBe(7n);
    // Aff2 = 1: nobody
    gic.write(0, 'ICC_SGI1R_EL1', (7n << 24n) | (1n << 32n) | 0xffffn);
    for (let c = 0; c < 20; c++) expect(gic.read(c, 'ICC_HPPIR1_EL1')).not.toBe(7n);
  });

  it('ICC_SGI0R_EL1 only makes Group 0 SGIs pending (KVM reading of single-Security-state rules)', () => {
    const rig = ready(2);
    const { gic } = rig;
    gic.write(0, 'ICC_SGI0R_EL1', (2n << 24n) | 0b10n);
    expect(rig.sgi(1, GICR_SGI.ISPENDR0)).toBe(0);
    rig.wsgi(1, GICR_SGI.IGROUPR0, 0xffff_fffb); // SGI 2 Group 0
    gic.write(0, 'ICC_SGI0R_EL1', (2n << 24n) | 0b10n);
    expect(rig.sgi(1, GICR_SGI.ISPENDR0)).toBe(0b100);
  });

  it('unimplemented AP registers are UNDEFINED with 5 preemption bits (12.2.1)', () => {
    const { gic } = makeV3({ cpus: 1 });
    expect(() => gic.write(0, 'ICC_AP0R1_EL1', 0n)).toThrow(CpuException);
    expect(() => gic.write(0, 'ICC_PMR_EL1', -1n)).toThrow(/ICC_PMR_EL1 must be an unsigned 64-bit bigint/);
    expect(() => gic.write(0, 'ICC_PMR_EL1', 5 as unknown as bigint)).toThrow(/got 5/);
  });

  it('system register encodings follow Table 12-1', () => {
    expect(gicv3SysregName(3, 0, 12, 12, 0)).toBe('ICC_IAR1_EL1');
    expect(gicv3SysregName(3, 0, 4, 6, 0)).toBe('ICC_PMR_EL1');
    expect(gicv3SysregName(3, 4, 12, 13, 7)).toBe('ICH_LR15_EL2');
    expect(gicv3SysregName(3, 0, 12, 11, 5)).toBe('ICC_SGI1R_EL1');
    expect(gicv3SysregName(3, 0, 0, 0, 0)).toBeUndefined();
    const iar = GICV3_SYSREGS.get('ICV_IAR1_EL1')!;
    expect([iar.op0, iar.op1, iar.crn, iar.crm, iar.op2]).toEqual([3, 0, 12, 12, 0]);
  });
});
