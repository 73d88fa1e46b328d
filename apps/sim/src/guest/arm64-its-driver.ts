/**
 * The arm64 kernel's ITS driver (what Linux's irq-gic-v3-its.c does at
 * boot, in this model's guest code), the same natively and on KVM's vITS:
 * the LPI configuration and pending tables and each redistributor's
 * GICR_PROPBASER / GICR_PENDBASER / GICR_CTLR.EnableLPIs (IHI0069 5.1.1,
 * 5.1.2, 12.11.2, 12.11.32, 12.11.33), the ITS's device and collection
 * tables (GITS_BASER0/1) and command queue (GITS_CBASER), and the commands
 * that map the NIC's MSI: MAPD (its ITT), MAPC (collection 0 to CPU 0's
 * redistributor), MAPTI (EventID 0 to its LPI), INV (its configuration,
 * written after EnableLPIs) and a SYNC (IHI0069 5.3).
 * Under KVM every GITS_* and GICR_* access here traps to the vGIC.
 */
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { GICR, GITS, encodeItsCommand, type ItsCommandFields, type ItsCommandName } from '@hvsim/gic';
import { ARM64_GICR_STRIDE, ARM64_GUEST, ARM64_INTID, ARM64_NIC_MSI } from './arm64-layout.js';

type Routine = Generator<Op, void, number>;

/** The kernel's LPI priority (the other interrupts' too) and the configuration byte's Enable (IHI0069 5.1.1; bit 1 RES1). */
const LPI_CONFIG = 0xa0 | 2 | 1;
/** GICR_PROPBASER.IDbits = 15: 16 INTID bits (IHI0069 12.11.33). */
const PROPBASER_IDBITS = 15;
/** GICR_PENDBASER.PTZ (bit 62, in the high word): the pending table is zero (12.11.32). */
const PENDBASER_PTZ_HI = 1 << 30;
/** GITS_BASER<n>.Valid and GITS_CBASER.Valid (bit 63, in the high word). */
const VALID_HI = 2 ** 31;
/** GITS_BASER0.Size: pages of the device table less one. */
const DEVICE_TABLE_PAGES_MINUS_1 = 15;
/** The command queue's size: GITS_CBASER.Size 0 is one 4 KiB page. */
const QUEUE_BYTES = 0x1000;
/** ITS command size (IHI0069 5.3). */
const COMMAND_BYTES = 32;

/** CPU `cpu`'s redistributor: LPIs from the shared configuration table and its own pending table, then EnableLPIs. */
export function* itsRedistributorInit(g: Arm64Guest, cpu: number): Routine {
  const rd = ARM64_GUEST.GICR + cpu * ARM64_GICR_STRIDE;
  yield g.st64(rd + GICR.PROPBASER, ARM64_GUEST.LPI_PROP | PROPBASER_IDBITS);
  yield g.st64Halves(rd + GICR.PENDBASER, ARM64_GUEST.LPI_PEND + cpu * 0x1_0000, PENDBASER_PTZ_HI);
  yield g.st32(rd + GICR.CTLR, 1); // EnableLPIs
}

/** The ITS up on CPU 0 and the NIC's vector mapped to its LPI on CPU 0 (the file comment). */
export function* itsInitNic(g: Arm64Guest): Routine {
  yield g.st8(ARM64_GUEST.LPI_PROP + (ARM64_INTID.NIC - 8192), LPI_CONFIG);
  const its = ARM64_GUEST.ITS;
  // A flat device table of 16 4 KiB pages (Size = 15, IHI0069 12.19.1): room for the NIC's DeviceID 0x300.
  yield g.st64Halves(its + GITS.BASER, ARM64_GUEST.ITS_DEVICES | DEVICE_TABLE_PAGES_MINUS_1, VALID_HI);
  yield g.st64Halves(its + GITS.BASER + 8, ARM64_GUEST.ITS_COLLECTIONS, VALID_HI);
  yield g.st64Halves(its + GITS.CBASER, ARM64_GUEST.ITS_QUEUE, VALID_HI);
  yield g.st32(its + GITS.CTLR, 1); // Enabled
  let cwriter = 0;
  function* command(name: ItsCommandName, fields: Partial<ItsCommandFields>): Routine {
    const w = encodeItsCommand(name, fields);
    for (let i = 0; i < 8; i += 2) yield g.st64Halves(ARM64_GUEST.ITS_QUEUE + cwriter + 4 * i, w[i]!, w[i + 1]!);
    cwriter = (cwriter + COMMAND_BYTES) % QUEUE_BYTES;
    yield g.st64(its + GITS.CWRITER, cwriter); // the ITS runs the commands up to here (IHI0069 12.19.5)
  }
  const { deviceId, eventId } = ARM64_NIC_MSI;
  yield* command('MAPD', { deviceId, size: 1, ittAddress: ARM64_GUEST.ITS_ITT, valid: 1 }); // 2 EventID bits
  yield* command('MAPC', { icid: 0, rdbase: 0, valid: 1 }); // GITS_TYPER.PTA = 0: the processor number
  yield* command('MAPTI', { deviceId, eventId, intid: ARM64_INTID.NIC, icid: 0 });
  yield* command('INV', { deviceId, eventId }); // the redistributor reads the LPI's configuration byte again (IHI0069 5.3.12)
  yield* command('SYNC', { rdbase: 0 });
}
