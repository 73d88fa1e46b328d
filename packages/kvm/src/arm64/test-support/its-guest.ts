/**
 * A guest's ITS driver for tests (what Linux's irq-gic-v3-its.c and
 * kvm-unit-tests lib/arm64/gic-v3-its*.c do, in this model's guest code):
 * the LPI configuration and pending tables (IHI 0069 5.1.1, 5.1.2), the
 * redistributors' GICR_PROPBASER / GICR_PENDBASER / GICR_CTLR.EnableLPIs,
 * the ITS's device and collection tables (GITS_BASER0/1), its command
 * queue (GITS_CBASER), and commands written into the queue with
 * GITS_CWRITER moved past them (IHI 0069 5.3, 12.19).
 */
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { GICR, GITS, encodeItsCommand, type ItsCommandFields, type ItsCommandName } from '@hvsim/gic';
import { ARM_GUEST } from './arm64-vmm.js';

type Routine = Generator<Op, void, number>;

/** Guest-physical layout of the ITS's and the LPIs' tables (inside the VMM's RAM). */
export const ITS_GUEST = {
  /** ITS_base. */
  ITS: ARM_GUEST.ITS,
  /** The LPI configuration table: one byte per LPI from 8192 (64 KiB aligned). */
  PROP: 0x4050_0000,
  /** Per-redistributor pending tables, 64 KiB each. */
  PEND: 0x4060_0000,
  DEVICES: 0x4070_0000,
  COLLECTIONS: 0x4071_0000,
  QUEUE: 0x4072_0000,
  /** ITTs, 0x100 per device. */
  ITT: 0x4073_0000,
} as const;

/** The first LPI. */
export const LPI_BASE = 8192;
/** GITS_TRANSLATER's guest-physical address: where a device's MSI goes. */
export const GITS_TRANSLATER_ADDR = ITS_GUEST.ITS + GITS.TRANSLATER;

/** LPI configuration byte (IHI 0069 5.1.1): priority 7:2, bit 1 RES1, Enable bit 0. */
export function lpiConfig(priority: number, enable: boolean): number {
  return (priority & 0xfc) | 2 | (enable ? 1 : 0);
}

/** The guest's driver: table set-up, then commands. */
export class GuestItsDriver {
  private cwriter = 0;

  /**
   * Redistributor `cpu`'s LPIs (IHI 0069 12.11.33 PROPBASER with IDbits 15
   * for 16 INTID bits, 12.11.32 PENDBASER with PTZ, 12.11.2 EnableLPIs).
   * The configuration bytes of `lpis` LPIs are written first (priority 0xa0,
   * enabled) on CPU 0.
   */
  *initRedistributor(g: Arm64Guest, cpu: number, lpis: number): Routine {
    if (cpu === 0) for (let n = 0; n < lpis; n++) yield g.st8(ITS_GUEST.PROP + n, lpiConfig(0xa0, true));
    const rd = ARM_GUEST.GICR + cpu * 0x2_0000;
    yield g.st64(rd + GICR.PROPBASER, ITS_GUEST.PROP | 15);
    yield g.st64Halves(rd + GICR.PENDBASER, ITS_GUEST.PEND + cpu * 0x1_0000, 1 << 30);
    yield g.st32(rd + GICR.CTLR, 1);
  }

  /** GITS_BASER0 (devices) and BASER1 (collections), one 4 KiB page each, GITS_CBASER (4 KiB), then GITS_CTLR.Enabled. */
  *initIts(g: Arm64Guest): Routine {
    const its = ITS_GUEST.ITS;
    const valid = 1 << 31;
    yield g.st64Halves(its + GITS.BASER, ITS_GUEST.DEVICES, valid);
    yield g.st64Halves(its + GITS.BASER + 8, ITS_GUEST.COLLECTIONS, valid);
    yield g.st64Halves(its + GITS.CBASER, ITS_GUEST.QUEUE, valid);
    yield g.st32(its + GITS.CTLR, 1);
    this.cwriter = 0;
  }

  /** One command at GITS_CWRITER's position, then CWRITER moved past it (the vITS runs it at once). */
  *command(g: Arm64Guest, name: ItsCommandName, fields: Partial<ItsCommandFields> = {}): Routine {
    const w = encodeItsCommand(name, fields);
    for (let i = 0; i < 8; i += 2) yield g.st64Halves(ITS_GUEST.QUEUE + this.cwriter + 4 * i, w[i]!, w[i + 1]!);
    this.cwriter = (this.cwriter + 32) % 0x1000;
    yield g.st64(ITS_GUEST.ITS + GITS.CWRITER, this.cwriter);
  }
}
