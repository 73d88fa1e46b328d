/**
 * The host kernel's GICv3 ITS driver for a host GIC with GICv4 (Linux
 * drivers/irqchip/irq-gic-v3-its.c, as far as KVM uses it): at boot the LPI
 * configuration and pending tables in kernel memory with EnableLPIs on every
 * physical CPU (IHI 0069 5.1, 12.11.2, 12.11.32-33), the ITS's device,
 * collection and vPE tables (GITS_BASER0-2), on GICv4.1 every
 * redistributor's GICR_VPROPBASER naming the shared vPE table
 * (GITS_TYPER.SVPET), the command queue and GITS_CTLR.Enabled, then MAPC of
 * collection n to physical CPU n. After boot: host LPIs with handlers, device
 * ITTs, and commands written to the queue (the ITS runs them at the
 * GITS_CWRITER write). A command error is a host driver bug: a UsageError.
 */
import { UsageError, type PhysicalMemory } from '@hvsim/core';
import { GICR, GICR_VLPI, GICR_VLPI_BASE, GITS, encodeItsCommand, type GicV3, type GicV3Its, type ItsCommandFields, type ItsCommandName } from '@hvsim/gic';

/** The first LPI (IHI 0069 2.2.1). */
export const HOST_LPI_FIRST = 8192;
/** INTID bits of the host's LPIs (16: 8192-65535). */
const ID_BITS = 16;
const VALID_HI = 1 << 31;
const QUEUE_BYTES = 0x1000;
/** GICR_INVLPIR (IHI 0069 12.11.24): invalidates one LPI's cached configuration (GICR_TYPER.DirectLPI). */
const GICR_INVLPIR = 0xa0;

/** LPI configuration byte (IHI 0069 5.1.1): priority 7:2, bit 1 RES1 (Group 1), Enable bit 0. */
export function lpiConfigByte(priority: number, enable: boolean): number {
  return (priority & 0xfc) | 2 | (enable ? 1 : 0);
}

/** Kernel memory: `bytes` zeroed, aligned to `align` (a power of two of at least a page). */
export type KernelAlloc = (bytes: number, align: number) => number;

/** The host's ITS driver (see the file comment). */
export class HostItsDriver {
  /** The host LPI configuration table. */
  readonly propTable: number;
  /** The vPE table (GITS_BASER2; GICv4.1 GICR_VPROPBASER). */
  readonly vpeTable: number;
  private readonly queue: number;
  private cwriter = 0;
  private nextLpi = HOST_LPI_FIRST;
  private readonly handlers = new Map<number, () => void>();

  constructor(
    private readonly gic: GicV3,
    readonly its: GicV3Its,
    private readonly memory: PhysicalMemory,
    private readonly alloc: KernelAlloc,
  ) {
    const lpis = 2 ** ID_BITS - HOST_LPI_FIRST;
    this.propTable = alloc(lpis, 0x1_0000);
    memory.fill(this.propTable, lpis, lpiConfigByte(0xa0, false));
    const r = gic.redistributorRegion;
    for (let p = 0; p < gic.cpus; p++) {
      const rd = p * r.stride;
      r.mmioWrite64(rd + GICR.PROPBASER, BigInt(this.propTable) | BigInt(ID_BITS - 1));
      r.mmioWrite64(rd + GICR.PENDBASER, BigInt(alloc(0x1_0000, 0x1_0000)) | (1n << 62n));
      r.mmioWrite(rd + GICR.CTLR, 4, 1);
    }
    const valid = BigInt(VALID_HI) << 32n;
    its.mmioWrite64(GITS.BASER, BigInt(alloc(0x1_0000, 0x1_0000)) | valid | 0xfn); // 16 pages: 4096 devices
    its.mmioWrite64(GITS.BASER + 8, BigInt(alloc(0x1000, 0x1000)) | valid);
    this.vpeTable = alloc(0x1000, 0x1000);
    if (its.version !== 'v3') its.mmioWrite64(GITS.BASER + 16, BigInt(this.vpeTable) | valid);
    if (its.version === 'v4.1') for (let p = 0; p < gic.cpus; p++) r.mmioWrite64(p * r.stride + GICR_VLPI_BASE + GICR_VLPI.VPROPBASER, BigInt(this.vpeTable) | valid);
    this.queue = alloc(QUEUE_BYTES, 0x1000);
    its.mmioWrite64(GITS.CBASER, BigInt(this.queue) | valid);
    its.mmioWrite(GITS.CTLR, 4, 1);
    for (let p = 0; p < gic.cpus; p++) this.command('MAPC', { icid: p, rdbase: p, valid: 1 });
  }

  /** One command into the queue, then GITS_CWRITER past it. */
  command(name: ItsCommandName, fields: Partial<ItsCommandFields> = {}): void {
    const errors = this.its.commandErrorCount;
    const w = encodeItsCommand(name, fields);
    for (let i = 0; i < 8; i++) this.memory.write32(this.queue + this.cwriter + 4 * i, w[i]!);
    this.cwriter = (this.cwriter + 32) % QUEUE_BYTES;
    this.its.mmioWrite(GITS.CWRITER, 4, this.cwriter);
    if (this.its.commandErrorCount !== errors) throw new UsageError('bad-state', `host ITS command ${name} failed: ${this.its.commandError?.kind ?? '?'}`);
  }

  /** A new host LPI with its configuration and the handler the host runs when it takes it. */
  allocLpi(priority: number, enable: boolean, handler: () => void): number {
    const lpi = this.nextLpi++;
    if (lpi >= 2 ** ID_BITS) throw new UsageError('bad-state', 'the host ran out of LPIs');
    this.handlers.set(lpi, handler);
    this.setLpiEnable(lpi, priority, enable);
    return lpi;
  }

  /** Rewrites a host LPI's configuration and invalidates it on every redistributor (GICR_INVLPIR). */
  setLpiEnable(lpi: number, priority: number, enable: boolean): void {
    this.memory.write8(this.propTable + lpi - HOST_LPI_FIRST, lpiConfigByte(priority, enable));
    const r = this.gic.redistributorRegion;
    for (let p = 0; p < this.gic.cpus; p++) r.mmioWrite64(p * r.stride + GICR_INVLPIR, BigInt(lpi));
  }

  /** Runs the handler of host LPI `lpi` (the host took it); false for an LPI with none. */
  handle(lpi: number): boolean {
    const h = this.handlers.get(lpi);
    if (h === undefined) return false;
    h();
    return true;
  }

  /** An ITT for `events` events of device `deviceId` and its MAPD. */
  mapDevice(deviceId: number, events: number): void {
    const bits = Math.max(1, Math.ceil(Math.log2(events)));
    this.command('MAPD', { deviceId, size: bits - 1, ittAddress: this.alloc(Math.max(256, 2 ** bits * 16), 256), valid: 1 });
  }
}
