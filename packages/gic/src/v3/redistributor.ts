/**
 * GICv3 redistributors (IHI0069 12.10): one RD_base + SGI_base pair per PE,
 * laid out contiguously in one region; the last one has GICR_TYPER.Last set.
 * RD_base holds control, identification, power (GICR_WAKER) and the LPI
 * table registers; SGI_base holds the SGI and PPI configuration.
 *
 * LPIs are not implemented yet (GICR_TYPER.PLPIS = 0, so GICR_CTLR.EnableLPIs,
 * GICR_PROPBASER and GICR_PENDBASER are RES0). They belong here: a
 * redistributor will own its LPI configuration cache and pending bits and put
 * pending enabled LPIs in its CPU's {@link PendingSet} under keys above the
 * SPI range, so selection stays a bucket lookup at any LPI count.
 */
import type { AccessSize, MmioDevice, StateReader } from '@hvsim/core';
import { getField, setField } from '@hvsim/core';
import { readArray, writeArray, type ArrayScope } from '../common/array-access.js';
import type { IrqEngine } from '../common/irq-state.js';
import { decodeArrayAccess, type ArrayAccess } from '../common/register-array.js';
import { accessAbort, requireByteOrWord, requireWord } from '../common/mmio.js';
import { GICD_IIDR_VALUE, GICR, GICR_SGI_ARRAYS, GICR_SGI_BASE, GICR_STRIDE, GICR_TYPER, GICR_WAKER, GICR_WAKER_RESET, PIDR2_GICV3 } from './regs.js';

/** Saved redistributor registers not held by the engine. */
export interface GicV3RedistributorState {
  waker: number;
}

/** One PE's redistributor. */
export class GicV3Redistributor {
  /** GICR_WAKER.ProcessorSleep (IHI0069 12.10.37). */
  processorSleep = true;
  private readonly scope: ArrayScope = { lo: 0, hi: 32, sgiPerSource: false };
  private readonly access: ArrayAccess = { intid: 0, count: 0 };

  constructor(
    private readonly engine: IrqEngine,
    readonly cpu: number,
    /** Affinity Aff3.Aff2.Aff1.Aff0 of this PE. */
    readonly affinity: number,
    readonly last: boolean,
    private readonly onSleepChange: (cpu: number) => void,
  ) {}

  reset(): void {
    this.processorSleep = true;
    this.engine.asleep[this.cpu] = 1;
  }

  /** GICR_TYPER low word (IHI0069 12.10.33): processor number and Last; no LPIs yet. */
  typerLow(): number {
    let v = setField(0, GICR_TYPER.Processor_Number, this.cpu);
    if (this.last) v = setField(v, GICR_TYPER.Last, 1);
    return v;
  }

  /** GICR_WAKER: ChildrenAsleep follows ProcessorSleep at once (the interface quiesces instantly). */
  waker(): number {
    return this.processorSleep ? GICR_WAKER_RESET : 0;
  }

  readRd(offset: number, size: AccessSize): number {
    requireWord('GICR RD_base', offset, size, false);
    switch (offset) {
      case GICR.CTLR:
        return 0;
      case GICR.IIDR:
        return GICD_IIDR_VALUE;
      case GICR.TYPER:
        return this.typerLow();
      case GICR.TYPER + 4:
        return this.affinity >>> 0;
      case GICR.WAKER:
        return this.waker();
      case GICR.PIDR2:
        return PIDR2_GICV3;
      default:
        // STATUSR, the LPI registers (PLPIS = 0) and reserved offsets read as zero.
        return 0;
    }
  }

  writeRd(offset: number, size: AccessSize, value: number): void {
    requireWord('GICR RD_base', offset, size, true);
    if (offset === GICR.WAKER) {
      const sleep = getField(value, GICR_WAKER.ProcessorSleep) === 1;
      if (sleep !== this.processorSleep) {
        this.processorSleep = sleep;
        this.engine.asleep[this.cpu] = sleep ? 1 : 0;
        this.onSleepChange(this.cpu);
      }
    }
    // Other RD_base registers are read-only or RES0 without LPIs.
  }

  readSgi(offset: number, size: AccessSize): number {
    const arr = decodeArrayAccess(GICR_SGI_ARRAYS, offset, size, this.access);
    if (arr === undefined) {
      requireWord('GICR SGI_base', offset, size, false);
      return 0;
    }
    if (arr.bitsPerIrq === 8) requireByteOrWord('GICR SGI_base', offset, size, false);
    else requireWord('GICR SGI_base', offset, size, false);
    return readArray(this.engine, this.scope, this.cpu, arr.name, this.access.intid, this.access.count);
  }

  writeSgi(offset: number, size: AccessSize, value: number): void {
    const arr = decodeArrayAccess(GICR_SGI_ARRAYS, offset, size, this.access);
    if (arr === undefined) {
      requireWord('GICR SGI_base', offset, size, true);
      return;
    }
    if (arr.bitsPerIrq === 8) requireByteOrWord('GICR SGI_base', offset, size, true);
    else requireWord('GICR SGI_base', offset, size, true);
    writeArray(this.engine, this.scope, this.cpu, arr.name, this.access.intid, this.access.count, value);
  }

  saveState(): GicV3RedistributorState {
    return { waker: this.waker() };
  }

  restoreState(r: StateReader): void {
    const w = r.int('waker', 0, 0x7);
    this.processorSleep = getField(w, GICR_WAKER.ProcessorSleep) === 1;
    this.engine.asleep[this.cpu] = this.processorSleep ? 1 : 0;
  }
}

/** The contiguous redistributor region: `cpus` x 128 KiB, as one MMIO device. */
export class GicV3RedistributorRegion implements MmioDevice {
  constructor(private readonly redistributors: readonly GicV3Redistributor[]) {}

  /** Size of the region in bytes. */
  get size(): number {
    return this.redistributors.length * GICR_STRIDE;
  }

  private at(offset: number, size: number, write: boolean): GicV3Redistributor {
    const rd = this.redistributors[Math.floor(offset / GICR_STRIDE)];
    if (rd === undefined) throw accessAbort('GICR', offset, size, write);
    return rd;
  }

  mmioRead(offset: number, size: AccessSize): number {
    const rd = this.at(offset, size, false);
    const rel = offset % GICR_STRIDE;
    return rel < GICR_SGI_BASE ? rd.readRd(rel, size) : rd.readSgi(rel - GICR_SGI_BASE, size);
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    const rd = this.at(offset, size, true);
    const rel = offset % GICR_STRIDE;
    if (rel < GICR_SGI_BASE) rd.writeRd(rel, size, value);
    else rd.writeSgi(rel - GICR_SGI_BASE, size, value);
  }

  /** 64-bit access: GICR_TYPER (and, later, the LPI base registers); others abort. */
  mmioRead64(offset: number): bigint {
    const rd = this.at(offset, 8, false);
    const rel = offset % GICR_STRIDE;
    if (rel === GICR.TYPER || rel === GICR.PROPBASER || rel === GICR.PENDBASER) {
      return (BigInt(rd.readRd(rel + 4, 4)) << 32n) | BigInt(rd.readRd(rel, 4));
    }
    throw accessAbort('GICR', offset, 8, false);
  }

  mmioWrite64(offset: number, value: bigint): void {
    const rd = this.at(offset, 8, true);
    const rel = offset % GICR_STRIDE;
    if (rel === GICR.TYPER || rel === GICR.PROPBASER || rel === GICR.PENDBASER) {
      rd.writeRd(rel, 4, Number(value & 0xffff_ffffn));
      rd.writeRd(rel + 4, 4, Number(value >> 32n));
      return;
    }
    throw accessAbort('GICR', offset, 8, true);
  }
}

