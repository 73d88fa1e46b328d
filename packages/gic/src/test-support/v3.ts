/** Shared set-up for GICv3 tests: a GIC with recorded outputs and the Linux-style bring-up. */
import { GicV3, type GicV3Options } from '../v3/gic-v3.js';
import { GICD, GICR, GICR_SGI_BASE, GICR_STRIDE, GICR_SGI } from '../v3/regs.js';
import { recordOutputs, type OutputLevels } from './outputs.js';

export interface V3Rig extends OutputLevels {
  gic: GicV3;
  rd: (cpu: number, off: number) => number;
  wr: (cpu: number, off: number, v: number) => void;
  sgi: (cpu: number, off: number) => number;
  wsgi: (cpu: number, off: number, v: number) => void;
  gicd: (off: number) => number;
  wgicd: (off: number, v: number) => void;
}

/**
 * A GICv3 with its outputs recorded. With `physicalListeners` false the GIC
 * gets no onIrq/onFiq (its physical outputs are then computed on demand:
 * read them with `gic.irqLevel(cpu)`; `irq`/`fiq` stay empty).
 */
export function makeV3(options: Partial<GicV3Options> & { cpus: number }, physicalListeners = true): V3Rig {
  const { levels, callbacks } = recordOutputs();
  const { onIrq, onFiq, ...virtual } = callbacks;
  const gic = new GicV3({ ...options, ...(physicalListeners ? { onIrq, onFiq } : {}), ...virtual });
  const region = gic.redistributorRegion;
  return {
    gic,
    ...levels,
    rd: (cpu, off) => region.mmioRead(cpu * GICR_STRIDE + off, 4),
    wr: (cpu, off, v) => region.mmioWrite(cpu * GICR_STRIDE + off, 4, v),
    sgi: (cpu, off) => region.mmioRead(cpu * GICR_STRIDE + GICR_SGI_BASE + off, 4),
    wsgi: (cpu, off, v) => region.mmioWrite(cpu * GICR_STRIDE + GICR_SGI_BASE + off, 4, v),
    gicd: (off) => gic.distributorFor(0).mmioRead(off, 4),
    wgicd: (off, v) => gic.distributorFor(0).mmioWrite(off, 4, v),
  };
}

/**
 * What a Linux-like driver does at boot (IHI0069 12.11.42, 12.9.4): wake
 * every redistributor, enable both groups in the distributor, make all
 * interrupts Group 1 at priority 0xA0, open PMR and enable Group 1.
 */
export function bringUpV3(rig: V3Rig): void {
  const { gic } = rig;
  for (let c = 0; c < gic.cpus; c++) {
    rig.wr(c, GICR.WAKER, 0);
    rig.wsgi(c, GICR_SGI.IGROUPR0, 0xffff_ffff);
    for (let i = 0; i < 8; i++) rig.wsgi(c, GICR_SGI.IPRIORITYR0 + 4 * i, 0xa0a0a0a0);
    gic.write(c, 'ICC_PMR_EL1', 0xf0n);
    gic.write(c, 'ICC_IGRPEN1_EL1', 1n);
  }
  rig.wgicd(GICD.CTLR, 0x3);
  for (let i = 1; i < (gic.spis + 32) / 32; i++) rig.wgicd(GICD.IGROUPR + 4 * i, 0xffff_ffff);
  for (let i = 8; i < (gic.spis + 32) / 4; i++) rig.wgicd(GICD.IPRIORITYR + 4 * i, 0xa0a0a0a0);
}
