// The generic timer example of README.md, kept runnable (Arm ARM D11.2.4; IHI0069 GICR_WAKER,
// GICR_ISENABLER0, ICC_IAR1_EL1).
import { describe, expect, it } from 'vitest';
import { Clock } from '@hvsim/core';
import { GicV3 } from '../v3/gic-v3.js';
import { GICD, GICR, GICR_SGI, GICR_SGI_BASE } from '../v3/regs.js';
import { GenericTimer, TIMER_SYSREG, timerSysregId } from './index.js';

describe('README generic timer example', () => {
  it('runs', () => {
    const irq: boolean[] = [];
    const clock = new Clock();
    const gic = new GicV3({ cpus: 1, onIrq: (cpu, level) => (irq[cpu] = level) });
    // "with PPI 27 enabled in the GIC": the bring-up an OS does.
    gic.redistributorRegion.mmioWrite(GICR.WAKER, 4, 0);
    gic.distributor.mmioWrite(GICD.CTLR, 4, 0x2);
    gic.redistributorRegion.mmioWrite(GICR_SGI_BASE + GICR_SGI.IGROUPR0, 4, 1 << 27);
    gic.redistributorRegion.mmioWrite(GICR_SGI_BASE + GICR_SGI.ISENABLER0, 4, 1 << 27);
    gic.write(0, 'ICC_PMR_EL1', 0xf0n);
    gic.write(0, 'ICC_IGRPEN1_EL1', 1n);
    const timer = new GenericTimer({
      clock,
      cpus: 1,
      output: (cpu, intid, level) => gic.setPpiLevel(cpu, intid, level),
    });

    timer.write(0, 'CNTV_TVAL_EL0', 100n);
    timer.write(0, 'CNTV_CTL_EL0', 1n);
    clock.runUntil(3999);
    expect(irq[0] ?? false).toBe(false);
    clock.runUntil(4000);
    expect(irq[0]).toBe(true);
    expect(timer.read(0, 'CNTV_CTL_EL0')).toBe(0b101n);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(27n);

    const id = timerSysregId(3, 3, 14, 3, 1);
    expect(id).toBe(TIMER_SYSREG.CNTV_CTL_EL0);
    if (id !== -1) timer.writeSysreg(0, id, 0b11, 0);
    expect(timer.outputLevel(0, 'CNTV')).toBe(false);
    const out = { lo: 0, hi: 0 };
    timer.readSysreg(0, TIMER_SYSREG.CNTVCT_EL0, out);
    expect(out).toEqual({ lo: 100, hi: 0 });
  });
});
