/**
 * Generic timer speed: arm (TVAL + CTL writes) -> fire (the Clock event at
 * the deadline drives the PPI) -> acknowledge, on the number path, with a
 * no-op output and with a real GICv3 (ICC_IAR1 / ICC_EOIR1 through the
 * number API); and counter reads (CNTVCT_EL0) on the number path and by name.
 */
import { bench, describe } from 'vitest';
import { Clock } from '@hvsim/core';
import { GicV3 } from '../v3/gic-v3.js';
import { GICR, GICR_SGI, GICR_SGI_BASE } from '../v3/regs.js';
import { GenericTimer } from './generic-timer.js';
import { TIMER_SYSREG } from './sysregs.js';

/** Operations per benchmark call, so the harness's per-call timing does not dominate: ops/s = hz x LOOP. */
const LOOP = 1000;
const PERIOD_TICKS = 10;
const PERIOD_CYCLES = PERIOD_TICKS * 40;

describe('generic timer: arm -> fire (no consumer)', () => {
  const clock = new Clock();
  let fired = 0;
  const timer = new GenericTimer({ clock, cpus: 1, output: (_cpu, _intid, level) => (fired += level ? 1 : 0) });
  bench('TVAL + CTL write, Clock advance to the deadline, IMASK write (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      timer.writeSysreg(0, TIMER_SYSREG.CNTV_TVAL_EL0, PERIOD_TICKS, 0);
      timer.writeSysreg(0, TIMER_SYSREG.CNTV_CTL_EL0, 1, 0);
      clock.advance(PERIOD_CYCLES);
      timer.writeSysreg(0, TIMER_SYSREG.CNTV_CTL_EL0, 3, 0);
    }
  });
});

describe('generic timer -> GICv3 PPI 27 -> ICC_IAR1 -> ICC_EOIR1 (a guest tick)', () => {
  const gic = new GicV3({ cpus: 1 });
  const region = gic.redistributorRegion;
  region.mmioWrite(GICR.WAKER, 4, 0);
  region.mmioWrite(GICR_SGI_BASE + GICR_SGI.IGROUPR0, 4, 0xffff_ffff);
  region.mmioWrite(GICR_SGI_BASE + GICR_SGI.ISENABLER0, 4, 1 << 27);
  gic.write(0, 'ICC_PMR_EL1', 0xf0n);
  gic.write(0, 'ICC_IGRPEN1_EL1', 1n);
  const cpu = gic.cpuInterface(0);
  const clock = new Clock();
  const timer = new GenericTimer({ clock, cpus: 1, output: (c, intid, level) => gic.setPpiLevel(c, intid, level) });
  timer.writeSysreg(0, TIMER_SYSREG.CNTV_CTL_EL0, 1, 0);
  bench('arm with TVAL, advance, IAR, mask (CTL.IMASK), EOIR, unmask (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      timer.writeSysreg(0, TIMER_SYSREG.CNTV_TVAL_EL0, PERIOD_TICKS, 0);
      timer.writeSysreg(0, TIMER_SYSREG.CNTV_CTL_EL0, 1, 0);
      clock.advance(PERIOD_CYCLES);
      const id = cpu.readIar(1);
      timer.writeSysreg(0, TIMER_SYSREG.CNTV_CTL_EL0, 3, 0);
      cpu.writeEoir(1, id);
    }
  });
});

describe('generic timer: counter reads', () => {
  const clock = new Clock();
  const timer = new GenericTimer({ clock, cpus: 1 });
  timer.write(0, 'CNTVOFF_EL2', 12345n);
  const out = { lo: 0, hi: 0 };
  let sink = 0;
  bench('CNTVCT_EL0, number path (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      clock.advance(7);
      sink += timer.readSysreg(0, TIMER_SYSREG.CNTVCT_EL0, out).lo;
    }
    if (sink < 0) throw new Error('keeps the reads alive');
  });
  bench('CNTVCT_EL0, by name with bigint (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      clock.advance(7);
      sink += Number(timer.read(0, 'CNTVCT_EL0') & 1n);
    }
    if (sink < 0) throw new Error('keeps the reads alive');
  });
});
