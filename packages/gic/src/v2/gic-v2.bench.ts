/**
 * GICv2 speed: SPI raise -> GICC_IAR -> GICC_EOIR with 988 SPIs configured,
 * and guest GICV_IAR -> GICV_EOIR through a list register.
 */
import { bench, describe } from 'vitest';

/** Operations per benchmark call, so the harness's per-call timing does not dominate: ops/s = hz x LOOP. */
const LOOP = 1000;
import { GicV2 } from './gic-v2.js';
import { GICC, GICD, GICH } from './regs.js';

function setup(spis: number): GicV2 {
  const gic = new GicV2({ cpus: 1, spis });
  const d = gic.distributorFor(0);
  d.mmioWrite(GICD.CTLR, 4, 1);
  for (let i = 1; i < (spis + 32) / 32; i++) d.mmioWrite(GICD.ISENABLER + 4 * i, 4, 0xffff_ffff);
  for (let i = 2; i < (spis + 32) / 16; i++) d.mmioWrite(GICD.ICFGR + 4 * i, 4, 0xaaaa_aaaa);
  for (let i = 8; i < (spis + 32) / 4; i++) d.mmioWrite(GICD.IPRIORITYR + 4 * i, 4, 0xa0a0_a0a0);
  const c = gic.cpuInterface(0);
  c.mmioWrite(GICC.PMR, 4, 0xf0);
  c.mmioWrite(GICC.CTLR, 4, 1);
  return gic;
}

describe('GICv2 physical: SPI edge -> GICC_IAR -> GICC_EOIR, 988 SPIs configured', () => {
  const gic = setup(988);
  const c = gic.cpuInterface(0);
  bench('MMIO (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      gic.setSpiLevel(32, true);
      gic.setSpiLevel(32, false);
      const id = c.mmioRead(GICC.IAR, 4);
      c.mmioWrite(GICC.EOIR, 4, id);
    }
  });
});

describe('GICv2 virtual: GICH_LR write, guest GICV_IAR -> GICV_EOIR', () => {
  const gic = setup(64);
  const h = gic.hypervisorInterface(0);
  const v = gic.virtualCpuInterface(0);
  h.mmioWrite(GICH.HCR, 4, 1);
  h.mmioWrite(GICH.VMCR, 4, (0x1f << 27) | 1);
  const lr = ((1 << 28) | (20 << 23) | 44) >>> 0;
  bench('MMIO (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      h.mmioWrite(GICH.LR0, 4, lr);
      const id = v.mmioRead(GICC.IAR, 4);
      v.mmioWrite(GICC.EOIR, 4, id);
    }
  });
  // The hypervisor's part alone, so the guest's acknowledge + EOI can be read off by subtraction.
  const idle = ((20 << 23) | 44) >>> 0;
  bench('GICH_LR write alone, to subtract (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      h.mmioWrite(GICH.LR0, 4, lr);
      h.mmioWrite(GICH.LR0, 4, idle);
    }
  });
});
