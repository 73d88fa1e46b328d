// The physical timer's PPI 30 through a real GICv2 to GICC_IAR (Arm ARM D11.2.4; IHI0048B 4.3.5
// GICD_ISENABLERn, 4.4.4 GICC_IAR): the same output callback serves either GIC.
import { describe, expect, it } from 'vitest';
import { Clock } from '@hvsim/core';
import { bringUpV2, makeV2 } from '../test-support/v2.js';
import { GICC, GICD } from '../v2/regs.js';
import { GenericTimer } from './generic-timer.js';

describe('GenericTimer wired to a GicV2', () => {
  it('PPI 30 of CPU 1 is acknowledged on CPU 1 only, at the deadline', () => {
    const rig = makeV2({ cpus: 2 });
    bringUpV2(rig);
    rig.wgicd(1, GICD.ISENABLER, 1 << 30);
    const clock = new Clock();
    const timer = new GenericTimer({ clock, cpus: 2, output: (cpu, intid, level) => rig.gic.setPpiLevel(cpu, intid, level) });
    timer.write(1, 'CNTP_CVAL_EL0', 50n);
    timer.write(1, 'CNTP_CTL_EL0', 1n);
    clock.runUntil(50 * 40 - 1);
    expect(rig.irq[1] ?? false).toBe(false);
    clock.runUntil(50 * 40);
    expect(rig.irq[1]).toBe(true);
    expect(rig.irq[0] ?? false).toBe(false);
    expect(rig.gicc(1, GICC.IAR)).toBe(30);
    timer.write(1, 'CNTP_CTL_EL0', 0n);
    rig.wgicc(1, GICC.EOIR, 30);
    expect(rig.gicc(1, GICC.IAR)).toBe(1023);
  });
});
