// The virtual timer's PPI 27 through a real GICv3 redistributor to ICC_IAR1_EL1 (Arm ARM D11.2.4; IHI0069
// GICR_WAKER and GICR_ISENABLER0, 12.2.14 ICC_IAR1_EL1, 12.2.10 ICC_EOIR1_EL1), with the level-sensitive handshake
// of a Linux-style timer handler: acknowledge, mask the timer (IMASK), EOI, rearm and unmask.
import { describe, expect, it } from 'vitest';
import { Clock } from '@hvsim/core';
import { bringUpV3, makeV3 } from '../test-support/v3.js';
import { GICR_SGI } from '../v3/regs.js';
import { GenericTimer } from './generic-timer.js';

describe('GenericTimer wired to a GicV3', () => {
  it('PPI 27 becomes pending at the exact cycle, is acknowledged through ICC_IAR1_EL1, and re-fires per period', () => {
    const rig = makeV3({ cpus: 2 });
    bringUpV3(rig);
    rig.wsgi(1, GICR_SGI.ISENABLER0, 1 << 27);
    const clock = new Clock();
    const timer = new GenericTimer({ clock, cpus: 2, output: (cpu, intid, level) => rig.gic.setPpiLevel(cpu, intid, level) });
    const period = 100n; // ticks: 4000 cycles
    timer.write(1, 'CNTV_TVAL_EL0', period);
    timer.write(1, 'CNTV_CTL_EL0', 1n);

    const acks: [number, bigint][] = [];
    for (let n = 1; n <= 3; n++) {
      clock.runUntil(n * 4000 - 1);
      expect(rig.irq[1] ?? false).toBe(false);
      clock.runUntil(n * 4000);
      expect(rig.irq[1]).toBe(true);
      expect(rig.irq[0] ?? false).toBe(false);
      // The guest's handler.
      const intid = rig.gic.read(1, 'ICC_IAR1_EL1');
      acks.push([clock.now(), intid]);
      timer.write(1, 'CNTV_CTL_EL0', 0b11n); // IMASK: the line falls before the EOI, so it is not taken again
      rig.gic.write(1, 'ICC_EOIR1_EL1', intid);
      expect(rig.gic.read(1, 'ICC_IAR1_EL1')).toBe(1023n);
      timer.write(1, 'CNTV_TVAL_EL0', period);
      timer.write(1, 'CNTV_CTL_EL0', 1n);
    }
    expect(acks).toEqual([
      [4000, 27n],
      [8000, 27n],
      [12000, 27n],
    ]);
  });

  it('a level still high after the EOI is taken again (the timer is level-sensitive)', () => {
    const rig = makeV3({ cpus: 1 });
    bringUpV3(rig);
    rig.wsgi(0, GICR_SGI.ISENABLER0, 1 << 30);
    const clock = new Clock();
    const timer = new GenericTimer({ clock, cpus: 1, output: (cpu, intid, level) => rig.gic.setPpiLevel(cpu, intid, level) });
    timer.write(0, 'CNTP_CTL_EL0', 1n); // CVAL 0: met at once
    expect(rig.gic.read(0, 'ICC_IAR1_EL1')).toBe(30n);
    rig.gic.write(0, 'ICC_EOIR1_EL1', 30n);
    expect(rig.gic.read(0, 'ICC_IAR1_EL1')).toBe(30n);
    rig.gic.write(0, 'ICC_EOIR1_EL1', 30n);
    timer.write(0, 'CNTP_CTL_EL0', 0n);
    expect(rig.gic.read(0, 'ICC_IAR1_EL1')).toBe(1023n);
  });
});
