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
import { SPI_BASE, SPI_MAX } from '../common/intid.js';
import { decodeArrayAccess, type ArrayAccess } from '../common/register-array.js';
import { badMmioArguments, accessAbort, requireArraySize, requireWord } from '../common/mmio.js';
import { RegisterTable, type RegisterSpec } from '../common/register-table.js';
import {
  GICD,
  GICD_ARRAYS,
  GICD_CTLR,
  GICD_CTLR_RESET,
  GICD_CTLR_WRITABLE,
  GICD_FRAME_SIZE,
  GICD_IIDR_VALUE,
  GICD_IROUTER_MASK_HI,
  GICD_IROUTER_MASK_LO,
  GICD_TYPER,
  PIDR2_GICV3,
  PIDR2_GICV4,
} from './regs.js';

const FRAME = 'GICD';

/** Saved distributor registers not held by the engine. */
export interface GicV3DistributorState {
  /** GICD_IROUTER<n> low words per SPI. */
  irouterLo: number[];
  /** GICD_IROUTER<n> high words per SPI. */
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
  /** GICD_IROUTER<n> high words (Aff3) per SPI. */
  readonly irouterHi: Uint32Array;
  private readonly scope: ArrayScope;
  private readonly access: ArrayAccess = { intid: 0, count: 0 };

  /**
   * GicV3 creates the distributor (`GicV3.distributor`).
   *
   * @internal
   */
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

  /** Clears every GICD_IROUTER<n>: each SPI routes to affinity 0.0.0.0. */
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
    const arr = decodeArrayAccess(GICD_ARRAYS, offset, size, this.access);
    if (arr !== undefined) {
      requireArraySize(FRAME, arr.bitsPerIrq, offset, size, false);
      return readArray(this.engine, this.scope, 0, arr, this.access.intid, this.access.count);
    }
    requireWord(FRAME, offset, size, false);
    // Reserved, write-only and unimplemented registers read as zero (IHI0069 12.1.2).
    return GICD_REGISTERS.read(this, offset);
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'number') badMmioArguments('GICD', offset, value);
    const arr = decodeArrayAccess(GICD_ARRAYS, offset, size, this.access);
    if (arr !== undefined) {
      requireArraySize(FRAME, arr.bitsPerIrq, offset, size, true);
      writeArray(this.engine, this.scope, 0, arr, this.access.intid, this.access.count, value);
      return;
    }
    requireWord(FRAME, offset, size, true);
    // Read-only, reserved and Secure-only registers ignore writes (IHI0069 12.1.2).
    GICD_REGISTERS.write(this, offset, value);
  }

  /** GICD_CTLR write: the group enables (IHI0069 12.9.4). */
  writeCtlr(value: number): void {
    this.engine.distEnable = (getField(value, GICD_CTLR.EnableGrp0) | (getField(value, GICD_CTLR.EnableGrp1) << 1)) & 3;
    this.onEnableChange();
  }

  /** Word `word` of GICD_IROUTER<`intid`> (IHI0069 12.9.22); 0 for INTIDs that are not implemented SPIs. */
  readIrouter(intid: number, word: number): number {
    const spi = intid - SPI_BASE;
    if (spi < 0 || spi >= this.engine.spis) return 0;
    return word === 0 ? this.irouterLo[spi]! : this.irouterHi[spi]!;
  }

  /** Writes word `word` of GICD_IROUTER<`intid`> (already masked to its writable bits) and reroutes the SPI. */
  writeIrouter(intid: number, word: number, value: number): void {
    const spi = intid - SPI_BASE;
    if (spi < 0 || spi >= this.engine.spis) return;
    if (word === 0) this.irouterLo[spi] = value;
    else this.irouterHi[spi] = value;
    this.recomputeRoute(spi);
    this.engine.refreshRoute(intid);
  }

  /**
   * GICD_SETSPI_NSR / GICD_CLRSPI_NSR (IHI0069 12.9.33, 12.9.1): an edge SPI
   * becomes pending (or not); a level SPI is asserted until CLRSPI.
   * Writes naming an INTID that is not an implemented SPI are ignored.
   */
  setSpi(intid: number, set: boolean): void {
    const e = this.engine;
    if (intid < SPI_BASE || intid >= e.lines) return;
    if (set) e.raiseSpi(intid);
    else if (e.edge[e.slot(0, intid)] === 1) e.clearPending(0, intid);
    else e.setLine(0, intid, false);
  }

  /** 64-bit access: GICD_IROUTER<n> (IHI0069 12.9.22); other offsets abort. */
  mmioRead64(offset: number): bigint {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GICD', offset);
    if (GICD_REGISTERS.is64(offset)) return (BigInt(this.mmioRead(offset + 4, 4)) << 32n) | BigInt(this.mmioRead(offset, 4));
    throw accessAbort(FRAME, offset, 8, false);
  }

  mmioWrite64(offset: number, value: bigint): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'bigint') badMmioArguments('GICD', offset, value, true);
    if (GICD_REGISTERS.is64(offset)) {
      this.mmioWrite(offset + 4, 4, Number((value >> 32n) & 0xffff_ffffn));
      this.mmioWrite(offset, 4, Number(value & 0xffff_ffffn));
      return;
    }
    throw accessAbort(FRAME, offset, 8, true);
  }

  /** Saves the GICD_IROUTER<n> words. */
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

/**
 * The distributor's registers other than the per-interrupt arrays (IHI0069
 * 12.9, Table 12-25), one description each. Offsets no entry holds
 * (GICD_STATUSR, the Secure-only SETSPI_SR/CLRSPI_SR, reserved space) are
 * RAZ/WI.
 */
const GICD_REGISTERS = new RegisterTable<GicV3Distributor>('GICD', GICD_FRAME_SIZE, [
  // ARE and DS are RAO/WI (affinity routing only, one Security state); RWP reads 0: writes take effect at once.
  { name: 'GICD_CTLR', offset: GICD.CTLR, reset: GICD_CTLR_RESET, writable: GICD_CTLR_WRITABLE, read: (d) => d.ctlr, write: (d, v) => d.writeCtlr(v) },
  { name: 'GICD_TYPER', offset: GICD.TYPER, read: (d) => d.typer },
  { name: 'GICD_IIDR', offset: GICD.IIDR, reset: GICD_IIDR_VALUE, read: () => GICD_IIDR_VALUE },
  { name: 'GICD_TYPER2', offset: GICD.TYPER2, reset: 0, read: () => 0 },
  // Write-only: INTID in bits [9:0]; reads are RAZ.
  { name: 'GICD_SETSPI_NSR', offset: GICD.SETSPI_NSR, writable: 0x3ff, read: () => 0, write: (d, v) => d.setSpi(v, true) },
  { name: 'GICD_CLRSPI_NSR', offset: GICD.CLRSPI_NSR, writable: 0x3ff, read: () => 0, write: (d, v) => d.setSpi(v, false) },
  { name: 'GICD_PIDR2', offset: GICD.PIDR2, read: (d) => (d.gicv4 ? PIDR2_GICV4 : PIDR2_GICV3) },
  // One per INTID 0-1019; those of INTIDs 0-31 are reserved and, like SPIs beyond ITLinesNumber, RAZ/WI.
  ...Array.from(
    { length: SPI_MAX + 1 },
    (_, n): RegisterSpec<GicV3Distributor> => ({
      name: `GICD_IROUTER${n}`,
      offset: GICD.IROUTER + 8 * n,
      width: 64,
      reset: 0,
      writable: GICD_IROUTER_MASK_LO,
      writableHigh: GICD_IROUTER_MASK_HI,
      read: (d, word) => d.readIrouter(n, word),
      write: (d, v, word) => d.writeIrouter(n, word, v),
    }),
  ),
]);

/** The distributor register table, for conformance tests. */
export const GICD_REGISTER_TABLE: RegisterTable<GicV3Distributor> = GICD_REGISTERS;
