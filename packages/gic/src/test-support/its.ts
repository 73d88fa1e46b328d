/**
 * Shared set-up for LPI, ITS and GICv4 tests: a GICv3 with LPIs over one
 * memory region, an ITS, and the bring-up an OS driver performs (Linux
 * irq-gic-v3.c / irq-gic-v3-its.c order): LPI tables and EnableLPIs per
 * redistributor, GITS_BASER<n>, GITS_CBASER, GITS_CTLR.Enabled, then
 * commands through the queue.
 */
import { PhysicalMemory } from '@hvsim/core';
import { encodeItsCommand, type ItsCommandFields, type ItsCommandName } from '../its/commands.js';
import { GicV3Its, type GicV3ItsOptions } from '../its/its.js';
import { GITS } from '../its/regs.js';
import { GicV3 } from '../v3/gic-v3.js';
import type { GicV4Version } from '../v4/vpe-redistributor.js';
import { bringUpV3, makeV3, type V3Rig } from './v3.js';

export const MEM_BASE = 0x4000_0000;
export const PROP_TABLE = MEM_BASE;
export const PEND_TABLE = (cpu: number): number => MEM_BASE + 0x10_0000 + cpu * 0x1_0000;
export const DEVICE_TABLE = MEM_BASE + 0x20_0000;
export const COLLECTION_TABLE = MEM_BASE + 0x21_0000;
export const VPE_TABLE = MEM_BASE + 0x22_0000;
export const CMD_QUEUE = MEM_BASE + 0x23_0000;
export const ITT = (dev: number): number => MEM_BASE + 0x30_0000 + dev * 0x1000;
export const VPT = (vpe: number): number => MEM_BASE + 0x40_0000 + vpe * 0x1_0000;
export const VM_CONFIG = MEM_BASE + 0x60_0000;
/** LPI configuration byte: priority, RES1 bit 1, enable (IHI0069 5.1.1). */
export const lpiConfig = (priority: number, enable = true): number => (priority & 0xfc) | 2 | (enable ? 1 : 0);

export interface ItsRig extends V3Rig {
  memory: PhysicalMemory;
  its: GicV3Its;
  /** Encodes a command into the queue and writes GITS_CWRITER. */
  cmd: (name: ItsCommandName, fields?: Partial<ItsCommandFields>) => void;
  /** Writes a 64-bit ITS register. */
  its64: (offset: number, value: bigint) => void;
  /** Writes a 64-bit redistributor register of `cpu` at `offset` from its RD_base. */
  gicr64: (cpu: number, offset: number, value: bigint) => void;
  rgicr64: (cpu: number, offset: number) => bigint;
  stride: number;
}

export interface ItsRigOptions {
  cpus: number;
  gicv4?: GicV4Version;
  its?: Omit<GicV3ItsOptions, 'memory' | 'lpiPorts' | 'vlpiPorts' | 'version' | 'idBits'>;
  /** Skip the OS bring-up (tables, EnableLPIs, ITS enable). */
  raw?: boolean;
  /** Tables with Indirect = 1 (two-level device table). */
  twoLevel?: boolean;
}

export function makeItsRig(options: ItsRigOptions): ItsRig {
  const memory = new PhysicalMemory();
  memory.addRegion(MEM_BASE, 0x100_0000, { name: 'ram' });
  const lpis = options.gicv4 === undefined ? { memory } : { memory, gicv4: options.gicv4 };
  const rig = makeV3({ cpus: options.cpus, lpis });
  const gic: GicV3 = rig.gic;
  const its = gic.createIts(options.its);
  const stride = gic.redistributorRegion.stride;
  let cwriter = 0;
  const queueBytes = 0x1000;
  const its64 = (offset: number, value: bigint): void => its.mmioWrite64(offset, value);
  const out: ItsRig = {
    ...rig,
    memory,
    its,
    stride,
    its64,
    gicr64: (cpu, offset, value) => gic.redistributorRegion.mmioWrite64(cpu * stride + offset, value),
    rgicr64: (cpu, offset) => gic.redistributorRegion.mmioRead64(cpu * stride + offset),
    rd: (cpu, off) => gic.redistributorRegion.mmioRead(cpu * stride + off, 4),
    wr: (cpu, off, v) => gic.redistributorRegion.mmioWrite(cpu * stride + off, 4, v),
    sgi: (cpu, off) => gic.redistributorRegion.mmioRead(cpu * stride + 0x10000 + off, 4),
    wsgi: (cpu, off, v) => gic.redistributorRegion.mmioWrite(cpu * stride + 0x10000 + off, 4, v),
    cmd: (name, fields = {}) => {
      const w = encodeItsCommand(name, fields);
      for (let i = 0; i < 8; i++) memory.write32(CMD_QUEUE + cwriter + 4 * i, w[i]!);
      cwriter = (cwriter + 32) % queueBytes;
      its.mmioWrite(GITS.CWRITER, 4, cwriter);
    },
  };
  if (options.raw !== true) bringUpLpis(out, options.twoLevel === true);
  return out;
}

/**
 * The OS bring-up (IHI0069 5.1 and 5.2; Linux its_probe / its_cpu_init_lpis order):
 * GIC bring-up, LPI configuration table (all LPIs priority 0xa0, disabled),
 * pending tables, GICR_PROPBASER/PENDBASER, EnableLPIs; ITS tables and
 * command queue, GITS_CTLR.Enabled; MAPC of collection c to CPU c; SYNC.
 */
export function bringUpLpis(rig: ItsRig, twoLevel: boolean): void {
  const { gic, memory } = rig;
  bringUpV3(rig);
  memory.fill(PROP_TABLE, 2 ** gic.lpiIdBits - 8192, lpiConfig(0xa0, false));
  for (let c = 0; c < gic.cpus; c++) {
    rig.gicr64(c, 0x70, BigInt(PROP_TABLE) | BigInt(gic.lpiIdBits - 1));
    rig.gicr64(c, 0x78, BigInt(PEND_TABLE(c)) | (1n << 62n));
    rig.wr(c, 0x0, 1);
  }
  const valid = 1n << 63n;
  if (twoLevel) {
    // Device table: one 4 KiB level-1 page; the level-2 page for DeviceIDs 0-255 at DEVICE_TABLE + 0x1000.
    memory.write64(DEVICE_TABLE, BigInt(DEVICE_TABLE + 0x1000) | valid);
    rig.its64(GITS.BASER, BigInt(DEVICE_TABLE) | valid | (1n << 62n));
  } else {
    rig.its64(GITS.BASER, BigInt(DEVICE_TABLE) | valid);
  }
  rig.its64(GITS.BASER + 8, BigInt(COLLECTION_TABLE) | valid);
  if (gic.gicv4 !== undefined) {
    rig.its64(GITS.BASER + 16, BigInt(VPE_TABLE) | valid);
    if (gic.gicv4 === 'v4.1') {
      // GICv4.1: every redistributor points GICR_VPROPBASER at the same vPE table (GITS_TYPER.SVPET).
      for (let c = 0; c < gic.cpus; c++) rig.gicr64(c, 0x20000 + 0x70, BigInt(VPE_TABLE) | valid);
    }
  }
  rig.its64(GITS.CBASER, BigInt(CMD_QUEUE) | valid);
  rig.its.mmioWrite(GITS.CWRITER, 4, 0);
  rig.its.mmioWrite(GITS.CTLR, 4, 1);
  for (let c = 0; c < gic.cpus; c++) rig.cmd('MAPC', { icid: c, rdbase: c, valid: 1 });
  for (let c = 0; c < gic.cpus; c++) rig.cmd('SYNC', { rdbase: c });
}

/** Maps `device` with an ITT for 2^bits events (MAPD). */
export function mapDevice(rig: ItsRig, device: number, bits = 5): void {
  rig.cmd('MAPD', { deviceId: device, size: bits - 1, ittAddress: ITT(device), valid: 1 });
}

/** Enables LPI `intid` at `priority` in the configuration table and invalidates it through GICR_INVLPIR. */
export function enableLpi(rig: ItsRig, cpu: number, intid: number, priority = 0xa0): void {
  rig.memory.write8(PROP_TABLE + intid - 8192, lpiConfig(priority));
  rig.gicr64(cpu, 0xa0, BigInt(intid));
}
