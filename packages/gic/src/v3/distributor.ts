/**
 * GICv3 distributor frame (IHI0069 12.9) with a single Security state
 * (GICD_CTLR.DS = 1) and affinity routing always enabled (ARE RAO/WI, as
 * IHI0069 12.9.4 allows when legacy operation is not supported, and as KVM
 * models it). Registers for INTIDs 0-31 are RAZ/WI here: they live in the
 * redistributors.
 */
import type { AccessSize, MmioDevice, StateReader } from '@hvsim/core';
import { getField, setField } from '@hvsim/core';
import { readArray, writeArray, type ArrayScope } from '../common/array-access.js';
import { ROUTE_ANY, ROUTE_NONE, type IrqEngine } from '../common/irq-state.js';
import { SPI_BASE } from '../common/intid.js';
import { decodeArrayAccess, type ArrayAccess } from '../common/register-array.js';
import { badMmioArguments, accessAbort, requireArraySize, requireWord } from '../common/mmio.js';
import {
  GICD,
  GICD_ARRAYS,
  GICD_CTLR,
  GICD_IIDR_VALUE,
  GICD_IROUTER_MASK_HI,
  GICD_IROUTER_MASK_LO,
  GICD_TYPER,
  PIDR2_GICV3,
  PIDR2_GICV4,
} from './regs.js';

const FRAME = 'GICD';
const IROUTER_END = GICD.IROUTER + 8 * 1020;

/** Saved distributor registers not held by the engine. */
export interface GicV3DistributorState {
  irouterLo: number[];
  irouterHi: number[];
}

/** The GICD frame (64 KiB). */
export class GicV3Distributor implements MmioDevice {
  /** INTID bits when LPIs are implemented (GICD_TYPER.LPIS, IDbits), 0 without LPIs. */
  lpiIdBits = 0;
  /** GICv4 is implemented: GICD_PIDR2.ArchRev reads 4 (IHI0069 12.1.13). */
  gicv4 = false;
  /** GICD_IROUTER<n> low and high words per SPI. */
  readonly irouterLo: Uint32Array;
  readonly irouterHi: Uint32Array;
  private readonly scope: ArrayScope;
  private readonly access: ArrayAccess = { intid: 0, count: 0 };

  constructor(
    private readonly engine: IrqEngine,
    /** Affinity (Aff3.Aff2.Aff1.Aff0 as a 32-bit value) of each PE. */
    private readonly affinities: readonly number[],
    private readonly onEnableChange: () => void,
  ) {
    this.irouterLo = new Uint32Array(engine.spis);
    this.irouterHi = new Uint32Array(engine.spis);
    this.scope = { lo: SPI_BASE, hi: engine.lines, sgiPerSource: false };
    this.reset();
  }

  reset(): void {
    this.irouterLo.fill(0);
    this.irouterHi.fill(0);
    for (let i = 0; i < this.engine.spis; i++) this.recomputeRoute(i);
  }

  /** GICD_CTLR (IHI0069 12.9.4): EnableGrp0, EnableGrp1, ARE and DS read as one, RWP 0. */
  get ctlr(): number {
    let v = this.engine.distEnable & 3;
    v = setField(v, GICD_CTLR.ARE, 1);
    v = setField(v, GICD_CTLR.DS, 1);
    return v;
  }

  /** GICD_TYPER (IHI0069 12.9.38). */
  get typer(): number {
    let v = 0;
    v = setField(v, GICD_TYPER.ITLinesNumber, Math.ceil(this.engine.lines / 32) - 1);
    v = setField(v, GICD_TYPER.MBIS, 1);
    if (this.lpiIdBits > 0) {
      // IHI0069 12.9.38: LPIS = 1 and IDbits = INTID bits - 1 when the redistributors implement LPIs.
      v = setField(v, GICD_TYPER.LPIS, 1);
      v = setField(v, GICD_TYPER.IDbits, this.lpiIdBits - 1);
    } else {
      v = setField(v, GICD_TYPER.IDbits, 9);
    }
    return v;
  }

  private recomputeRoute(spi: number): void {
    const lo = this.irouterLo[spi]!;
    const hi = this.irouterHi[spi]!;
    let route: number = ROUTE_NONE;
    if ((lo & 0x8000_0000) !== 0) route = ROUTE_ANY;
    else {
      const aff = (((hi & 0xff) << 24) | (lo & 0xff_ffff)) >>> 0;
      const cpu = this.affinities.indexOf(aff);
      if (cpu >= 0) route = cpu;
    }
    this.engine.routeCpu[spi] = route;
  }

  mmioRead(offset: number, size: AccessSize): number {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GICD', offset);
    const e = this.engine;
    const arr = decodeArrayAccess(GICD_ARRAYS, offset, size, this.access);
    if (arr !== undefined) {
      requireArraySize(FRAME, arr.bitsPerIrq, offset, size, false);
      // ITARGETSR is RES0 with affinity routing (IHI0069 12.9.30).
      if (arr.name === 'ITARGETSR') return 0;
      return readArray(e, this.scope, 0, arr.name, this.access.intid, this.access.count);
    }
    if (offset >= GICD.IROUTER && offset < IROUTER_END) {
      requireWord(FRAME, offset, size, false);
      const spi = ((offset - GICD.IROUTER) >>> 3) - SPI_BASE;
      if (spi < 0 || spi >= e.spis) return 0;
      return (offset & 4) === 0 ? this.irouterLo[spi]! : this.irouterHi[spi]!;
    }
    requireWord(FRAME, offset, size, false);
    switch (offset) {
      case GICD.CTLR:
        return this.ctlr;
      case GICD.TYPER:
        return this.typer;
      case GICD.IIDR:
        return GICD_IIDR_VALUE;
      case GICD.PIDR2:
        return this.gicv4 ? PIDR2_GICV4 : PIDR2_GICV3;
      default:
        // Reserved, write-only (SETSPI/CLRSPI, SGIR) and unimplemented registers read as zero (IHI0069 12.1.2).
        return 0;
    }
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'number') badMmioArguments('GICD', offset, value);
    const e = this.engine;
    const arr = decodeArrayAccess(GICD_ARRAYS, offset, size, this.access);
    if (arr !== undefined) {
      requireArraySize(FRAME, arr.bitsPerIrq, offset, size, true);
      if (arr.name === 'ITARGETSR') return;
      writeArray(e, this.scope, 0, arr.name, this.access.intid, this.access.count, value);
      return;
    }
    if (offset >= GICD.IROUTER && offset < IROUTER_END) {
      requireWord(FRAME, offset, size, true);
      const spi = ((offset - GICD.IROUTER) >>> 3) - SPI_BASE;
      if (spi < 0 || spi >= e.spis) return;
      if ((offset & 4) === 0) this.irouterLo[spi] = (value & GICD_IROUTER_MASK_LO) >>> 0;
      else this.irouterHi[spi] = value & GICD_IROUTER_MASK_HI;
      this.recomputeRoute(spi);
      e.refresh(0, spi + SPI_BASE);
      return;
    }
    requireWord(FRAME, offset, size, true);
    switch (offset) {
      case GICD.CTLR:
        e.distEnable = (getField(value, GICD_CTLR.EnableGrp0) | (getField(value, GICD_CTLR.EnableGrp1) << 1)) & 3;
        this.onEnableChange();
        return;
      case GICD.SETSPI_NSR:
        this.setSpi(value & 0x3ff, true);
        return;
      case GICD.CLRSPI_NSR:
        this.setSpi(value & 0x3ff, false);
        return;
      default:
        // Read-only, reserved and Secure-only registers ignore writes (IHI0069 12.1.2).
        return;
    }
  }

  /**
   * GICD_SETSPI_NSR / GICD_CLRSPI_NSR (IHI0069 12.9.33, 12.9.1): an edge SPI
   * becomes pending (or not); a level SPI is asserted until CLRSPI.
   * Writes naming an INTID that is not an implemented SPI are ignored.
   */
  setSpi(intid: number, set: boolean): void {
    const e = this.engine;
    if (intid < SPI_BASE || intid >= e.lines) return;
    const s = e.slot(0, intid);
    if (e.edge[s] === 1) {
      if (set) e.setPending(0, intid);
      else e.clearPending(0, intid);
    } else {
      e.setLine(0, intid, set);
    }
  }

  mmioRead64(offset: number): bigint {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GICD', offset);
    if (offset >= GICD.IROUTER && offset < IROUTER_END && (offset & 7) === 0) {
      return (BigInt(this.mmioRead(offset + 4, 4)) << 32n) | BigInt(this.mmioRead(offset, 4));
    }
    throw accessAbort(FRAME, offset, 8, false);
  }

  mmioWrite64(offset: number, value: bigint): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'bigint') badMmioArguments('GICD', offset, value, true);
    if (offset >= GICD.IROUTER && offset < IROUTER_END && (offset & 7) === 0) {
      this.mmioWrite(offset + 4, 4, Number((value >> 32n) & 0xffff_ffffn));
      this.mmioWrite(offset, 4, Number(value & 0xffff_ffffn));
      return;
    }
    throw accessAbort(FRAME, offset, 8, true);
  }

  saveState(): GicV3DistributorState {
    return { irouterLo: Array.from(this.irouterLo), irouterHi: Array.from(this.irouterHi) };
  }

  /** Validates a state from {@link saveState} and returns the change that loads it (after the engine's). */
  prepareRestore(r: StateReader): () => void {
    const lo = r.intArray('irouterLo', 0, 0xffff_ffff, this.engine.spis).map((v) => (v & GICD_IROUTER_MASK_LO) >>> 0);
    const hi = r.intArray('irouterHi', 0, GICD_IROUTER_MASK_HI, this.engine.spis);
    return () => {
      this.irouterLo.set(lo);
      this.irouterHi.set(hi);
      for (let i = 0; i < this.engine.spis; i++) this.recomputeRoute(i);
    };
  }
}
