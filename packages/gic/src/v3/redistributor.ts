/**
 * GICv3 redistributors (IHI0069 12.10): one RD_base + SGI_base pair per PE,
 * laid out contiguously in one region; the last one has GICR_TYPER.Last set.
 * RD_base holds control, identification, power (GICR_WAKER) and the LPI
 * table registers; SGI_base holds the SGI and PPI configuration.
 *
 * With LPIs (GICR_TYPER.PLPIS = 1) the LPI registers of RD_base are served by
 * an {@link LpiRedistributor}; with GICv4 (GICR_TYPER.VLPIS = 1) each
 * redistributor also has a VLPI_base frame (+128 KiB, stride 256 KiB) served
 * by a {@link VpeRedistributor}. Without them those registers are RES0.
 */
import type { AccessSize, MmioDevice, StateReader } from '@hvsim/core';
import { fieldMask, getField, setField } from '@hvsim/core';
import { RegisterTable } from '../common/register-table.js';
import { readArray as imported_readArray, writeArray as imported_writeArray, type ArrayScope } from '../common/array-access.js';
import type { IrqEngine } from '../common/irq-state.js';
import { decodeArrayAccess as imported_decodeArrayAccess, type ArrayAccess } from '../common/register-array.js';
import { badMmioArguments, accessAbort, requireArraySize, requireWord } from '../common/mmio.js';
import { LpiRedistributor } from '../lpi/lpi-redistributor.js';
import { GICR_VLPI_BASE as imported_GICR_VLPI_BASE, GICR_VLPI } from '../v4/regs.js';
import { VpeRedistributor } from '../v4/vpe-redistributor.js';
import { GICD_IIDR_VALUE, GICR, GICR_SGI_ARRAYS as imported_GICR_SGI_ARRAYS, GICR_SGI_BASE as imported_GICR_SGI_BASE, GICR_STRIDE, GICR_TYPER, GICR_WAKER, GICR_WAKER_RESET, PIDR2_GICV3, PIDR2_GICV4 } from './regs.js';

// Module-local copies: imported bindings are live getters under Node's ESM loader (hot MMIO paths).
const readArray = imported_readArray;
const writeArray = imported_writeArray;
const decodeArrayAccess = imported_decodeArrayAccess;
const GICR_VLPI_BASE = imported_GICR_VLPI_BASE;
const GICR_SGI_ARRAYS = imported_GICR_SGI_ARRAYS;
const GICR_SGI_BASE = imported_GICR_SGI_BASE;

/** Saved redistributor registers not held by the engine. */
export interface GicV3RedistributorState {
  /** GICR_WAKER. */
  waker: number;
}

/** One PE's redistributor. */
export class GicV3Redistributor {
  /** GICR_WAKER.ProcessorSleep (IHI0069 12.11.42). */
  processorSleep = true;
  private readonly scope: ArrayScope = { lo: 0, hi: 32, sgiPerSource: false };
  private readonly access: ArrayAccess = { intid: 0, count: 0 };
  /** The LPI part (GICR_TYPER.PLPIS = 1), when LPIs are implemented. */
  lpi: LpiRedistributor | undefined = undefined;
  /** The GICv4 part (GICR_TYPER.VLPIS = 1), when direct injection is implemented. */
  vpe: VpeRedistributor | undefined = undefined;

  /**
   * GicV3 creates one per PE (their MMIO view is `GicV3.redistributorRegion`).
   *
   * @internal
   */
  constructor(
    private readonly engine: IrqEngine,
    /** Processor number of this PE (GICR_TYPER.Processor_Number). */
    readonly cpu: number,
    /** Affinity Aff3.Aff2.Aff1.Aff0 of this PE. */
    readonly affinity: number,
    /** The last redistributor of the region (GICR_TYPER.Last). */
    readonly last: boolean,
    private readonly onSleepChange: (cpu: number) => void,
  ) {}

  /** Puts the redistributor to sleep, as at reset (GICR_WAKER = 0x6). */
  reset(): void {
    this.processorSleep = true;
    this.engine.asleep[this.cpu] = 1;
  }

  /**
   * GICR_TYPER low word (IHI0069 12.11.37): processor number and Last; with
   * LPIs PLPIS and DirectLPI (GICR_SETLPIR/CLRLPIR/INVLPIR/INVALLR/SYNCR);
   * with GICv4 VLPIS, Dirty (GICR_VPENDBASER.Dirty is reported) and, in
   * GICv4.1, RVPEID (bit 7: VPENDBASER names the vPE by vPEID).
   * CommonLPIAff = 0: all redistributors share the LPI configuration table.
   */
  typerLow(): number {
    let v = setField(0, GICR_TYPER.Processor_Number, this.cpu);
    if (this.last) v = setField(v, GICR_TYPER.Last, 1);
    if (this.lpi !== undefined) {
      v = setField(v, GICR_TYPER.PLPIS, 1);
      v = setField(v, GICR_TYPER.DirectLPI, 1);
    }
    if (this.vpe !== undefined) {
      v = setField(v, GICR_TYPER.VLPIS, 1);
      v = setField(v, GICR_TYPER.Dirty, 1);
      if (this.vpe.version === 'v4.1') v |= 1 << 7;
    }
    return v >>> 0;
  }

  /** GICR_WAKER: ChildrenAsleep follows ProcessorSleep at once (the interface quiesces instantly). */
  waker(): number {
    return this.processorSleep ? GICR_WAKER_RESET : 0;
  }

  /** Reads a 32-bit register of the RD_base frame at `offset`. */
  readRd(offset: number, size: AccessSize): number {
    requireWord('GICR RD_base', offset, size, false);
    if (this.lpi !== undefined && LpiRedistributor.handles(offset)) return this.lpi.read(offset);
    // STATUSR, the LPI registers without LPIs (PLPIS = 0) and reserved offsets read as zero.
    return GICR_RD_REGISTERS.read(this, offset);
  }

  /** Writes a 32-bit register of the RD_base frame at `offset`. */
  writeRd(offset: number, size: AccessSize, value: number): void {
    requireWord('GICR RD_base', offset, size, true);
    if (this.lpi !== undefined && LpiRedistributor.handles(offset)) {
      this.lpi.write(offset, value);
      return;
    }
    // Other RD_base registers are read-only or RES0 without LPIs.
    GICR_RD_REGISTERS.write(this, offset, value);
  }

  /** GICR_WAKER write (IHI0069 12.11.42): ProcessorSleep puts the PE's interface to sleep or wakes it. */
  writeWaker(value: number): void {
    const sleep = getField(value, GICR_WAKER.ProcessorSleep) === 1;
    if (sleep === this.processorSleep) return;
    this.processorSleep = sleep;
    this.engine.asleep[this.cpu] = sleep ? 1 : 0;
    this.onSleepChange(this.cpu);
  }

  /** Reads a register of the SGI_base frame at `offset` (its INTID 0-31 arrays). */
  readSgi(offset: number, size: AccessSize): number {
    const arr = decodeArrayAccess(GICR_SGI_ARRAYS, offset, size, this.access);
    if (arr === undefined) {
      requireWord('GICR SGI_base', offset, size, false);
      return 0;
    }
    requireArraySize('GICR SGI_base', arr.bitsPerIrq, offset, size, false);
    return readArray(this.engine, this.scope, this.cpu, arr, this.access.intid, this.access.count);
  }

  /** Writes a register of the SGI_base frame at `offset`. */
  writeSgi(offset: number, size: AccessSize, value: number): void {
    const arr = decodeArrayAccess(GICR_SGI_ARRAYS, offset, size, this.access);
    if (arr === undefined) {
      requireWord('GICR SGI_base', offset, size, true);
      return;
    }
    requireArraySize('GICR SGI_base', arr.bitsPerIrq, offset, size, true);
    writeArray(this.engine, this.scope, this.cpu, arr, this.access.intid, this.access.count, value);
  }

  /** VLPI_base read (GICv4): RAZ without direct injection. */
  readVlpi(offset: number, size: AccessSize): number {
    requireWord('GICR VLPI_base', offset, size, false);
    return this.vpe === undefined ? 0 : this.vpe.read(offset);
  }

  /** VLPI_base write (GICv4): WI without direct injection. */
  writeVlpi(offset: number, size: AccessSize, value: number): void {
    requireWord('GICR VLPI_base', offset, size, true);
    this.vpe?.write(offset, value);
  }

  /** Saves the registers the engine does not hold. */
  saveState(): GicV3RedistributorState {
    return { waker: this.waker() };
  }

  /** Validates a state from {@link saveState} and returns the change that loads it. */
  prepareRestore(r: StateReader): () => void {
    const w = r.int('waker', 0, 0x7);
    return () => {
      this.processorSleep = getField(w, GICR_WAKER.ProcessorSleep) === 1;
      this.engine.asleep[this.cpu] = this.processorSleep ? 1 : 0;
    };
  }
}

/**
 * The RD_base registers other than the LPI ones (IHI0069 12.10, Table
 * 12-27), one description each; the LPI registers (GICR_CTLR.EnableLPIs,
 * PROPBASER, PENDBASER, ...) are described by the {@link LpiRedistributor}
 * that serves them, and are RES0 without LPIs.
 */
const GICR_RD_REGISTERS = new RegisterTable<GicV3Redistributor>('GICR RD_base', GICR_SGI_BASE, [
  // Without LPIs GICR_CTLR is RES0 (EnableLPIs, CES = 0); with LPIs the LPI part serves it.
  { name: 'GICR_CTLR', offset: GICR.CTLR, reset: 0, read: () => 0 },
  { name: 'GICR_IIDR', offset: GICR.IIDR, reset: GICD_IIDR_VALUE, read: () => GICD_IIDR_VALUE },
  { name: 'GICR_TYPER', offset: GICR.TYPER, width: 64, read: (r, word) => (word === 0 ? r.typerLow() : r.affinity >>> 0) },
  // ChildrenAsleep follows ProcessorSleep; both set at reset (IHI0069 12.11.42).
  { name: 'GICR_WAKER', offset: GICR.WAKER, reset: GICR_WAKER_RESET, writable: fieldMask(GICR_WAKER.ProcessorSleep), read: (r) => r.waker(), write: (r, v) => r.writeWaker(v) },
  // ArchRev 4 for a GICv4 redistributor (IHI0069 12.1.13).
  { name: 'GICR_PIDR2', offset: GICR.PIDR2, read: (r) => (r.vpe === undefined ? PIDR2_GICV3 : PIDR2_GICV4) },
]);

/** The RD_base register table, for conformance tests. */
export const GICR_RD_REGISTER_TABLE: RegisterTable<GicV3Redistributor> = GICR_RD_REGISTERS;

/** True when a 64-bit RD_base register starts at `offset` (GICR_TYPER and the LPI registers). */
function rd64(offset: number): boolean {
  return GICR_RD_REGISTERS.is64(offset) || LpiRedistributor.handles64(offset);
}

/**
 * The contiguous redistributor region as one MMIO device: `cpus` x 128 KiB
 * (RD_base, SGI_base), or `cpus` x 256 KiB with GICv4 (RD_base, SGI_base,
 * VLPI_base, a reserved frame that is RAZ/WI).
 */
export class GicV3RedistributorRegion implements MmioDevice {
  constructor(
    private readonly redistributors: readonly GicV3Redistributor[],
    /** Bytes per redistributor: 0x20000, or 0x40000 with VLPIS. */
    readonly stride: number = GICR_STRIDE,
  ) {}

  /** Size of the region in bytes. */
  get size(): number {
    return this.redistributors.length * this.stride;
  }

  private at(offset: number, size: number, write: boolean): GicV3Redistributor {
    const rd = this.redistributors[Math.floor(offset / this.stride)];
    if (rd === undefined) throw accessAbort('GICR', offset, size, write);
    return rd;
  }

  mmioRead(offset: number, size: AccessSize): number {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GICR', offset);
    const rd = this.at(offset, size, false);
    const rel = offset % this.stride;
    if (rel < GICR_SGI_BASE) return rd.readRd(rel, size);
    if (rel < GICR_VLPI_BASE) return rd.readSgi(rel - GICR_SGI_BASE, size);
    if (rel < GICR_VLPI_BASE + GICR_SGI_BASE) return rd.readVlpi(rel - GICR_VLPI_BASE, size);
    requireWord('GICR reserved frame', rel, size, false);
    return 0;
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'number') badMmioArguments('GICR', offset, value);
    const rd = this.at(offset, size, true);
    const rel = offset % this.stride;
    if (rel < GICR_SGI_BASE) rd.writeRd(rel, size, value);
    else if (rel < GICR_VLPI_BASE) rd.writeSgi(rel - GICR_SGI_BASE, size, value);
    else if (rel < GICR_VLPI_BASE + GICR_SGI_BASE) rd.writeVlpi(rel - GICR_VLPI_BASE, size, value);
    else requireWord('GICR reserved frame', rel, size, true);
  }

  /** 64-bit access: GICR_TYPER, the LPI registers and the VLPI_base registers; others abort. */
  mmioRead64(offset: number): bigint {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GICR', offset);
    const rd = this.at(offset, 8, false);
    const rel = offset % this.stride;
    if (rd64(rel)) return (BigInt(rd.readRd(rel + 4, 4)) << 32n) | BigInt(rd.readRd(rel, 4));
    const v = rel - GICR_VLPI_BASE;
    if (this.stride > GICR_VLPI_BASE && VpeRedistributor.handles64(v)) {
      const lo = rd.readVlpi(v, 4);
      return (BigInt(rd.readVlpi(v + 4, 4)) << 32n) | BigInt(lo);
    }
    throw accessAbort('GICR', offset, 8, false);
  }

  mmioWrite64(offset: number, value: bigint): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'bigint') badMmioArguments('GICR', offset, value, true);
    const rd = this.at(offset, 8, true);
    const rel = offset % this.stride;
    const lo = Number(value & 0xffff_ffffn);
    const hi = Number((value >> 32n) & 0xffff_ffffn);
    if (rd64(rel)) {
      rd.writeRd(rel, 4, lo);
      rd.writeRd(rel + 4, 4, hi);
      return;
    }
    const v = rel - GICR_VLPI_BASE;
    if (this.stride > GICR_VLPI_BASE && (VpeRedistributor.handles64(v) || v === GICR_VLPI.VSGIR)) {
      rd.writeVlpi(v, 4, lo);
      rd.writeVlpi(v + 4, 4, hi);
      return;
    }
    throw accessAbort('GICR', offset, 8, true);
  }
}

