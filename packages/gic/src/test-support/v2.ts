/** Shared set-up for GICv2 tests: a GIC with recorded outputs and a Linux-style bring-up. */
import { GicV2, type GicV2Options } from '../v2/gic-v2.js';
import { GICC, GICD } from '../v2/regs.js';
import { recordOutputs, type OutputLevels } from './outputs.js';

export interface V2Rig extends OutputLevels {
  gic: GicV2;
  /** Distributor read/write as `cpu`. */
  gicd: (cpu: number, off: number) => number;
  wgicd: (cpu: number, off: number, v: number) => void;
  gicc: (cpu: number, off: number) => number;
  wgicc: (cpu: number, off: number, v: number) => void;
  gich: (cpu: number, off: number) => number;
  wgich: (cpu: number, off: number, v: number) => void;
  gicv: (cpu: number, off: number) => number;
  wgicv: (cpu: number, off: number, v: number) => void;
}

export function makeV2(options: Partial<GicV2Options> & { cpus: number }): V2Rig {
  const { levels, callbacks } = recordOutputs();
  const gic = new GicV2({ ...options, ...callbacks });
  return {
    gic,
    ...levels,
    gicd: (c, o) => gic.distributorFor(c).mmioRead(o, 4),
    wgicd: (c, o, v) => gic.distributorFor(c).mmioWrite(o, 4, v),
    gicc: (c, o) => gic.cpuInterface(c).mmioRead(o, 4),
    wgicc: (c, o, v) => gic.cpuInterface(c).mmioWrite(o, 4, v),
    gich: (c, o) => gic.hypervisorInterface(c).mmioRead(o, 4),
    wgich: (c, o, v) => gic.hypervisorInterface(c).mmioWrite(o, 4, v),
    gicv: (c, o) => gic.virtualCpuInterface(c).mmioRead(o, 4),
    wgicv: (c, o, v) => gic.virtualCpuInterface(c).mmioWrite(o, 4, v),
  };
}

/**
 * Bring-up as Linux's gic_dist_init/gic_cpu_init do (IHI0048B 4.3, 4.4):
 * everything Group 0 at priority 0xA0, SPIs to CPU 0, SGIs enabled, PMR 0xF0,
 * distributor and CPU interface enabled.
 */
export function bringUpV2(rig: V2Rig): void {
  const { gic } = rig;
  const lines = 32 + gic.spis;
  for (let i = 32; i < lines; i += 4) rig.wgicd(0, GICD.ITARGETSR + i, 0x0101_0101);
  for (let c = 0; c < gic.cpus; c++) {
    for (let i = 0; i < 32; i += 4) rig.wgicd(c, GICD.IPRIORITYR + i, 0xa0a0_a0a0);
    rig.wgicd(c, GICD.ISENABLER, 0xffff);
    rig.wgicc(c, GICC.PMR, 0xf0);
    rig.wgicc(c, GICC.CTLR, 0x1);
  }
  for (let i = 32; i < lines; i += 4) rig.wgicd(0, GICD.IPRIORITYR + i, 0xa0a0_a0a0);
  rig.wgicd(0, GICD.CTLR, 0x1);
}
