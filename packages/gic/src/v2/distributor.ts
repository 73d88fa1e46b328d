/**
 * The GICv2 distributor frame as seen by one CPU interface (IHI0048B 4.3):
 * SGI and PPI registers are banked per CPU, so each CPU gets its own view of
 * the same shared state. No Security Extensions (GICD_TYPER.SecurityExtn = 0).
 */
import type { AccessSize, MmioDevice } from '@hvsim/core';
import { getField, setField } from '@hvsim/core';
import { readArray, writeArray, type ArrayRegister, type ArrayScope } from '../common/array-access.js';
import { RegisterTable } from '../common/register-table.js';
import type { IrqEngine } from '../common/irq-state.js';
import { PRIVATE_COUNT, SGI_COUNT, SPI_BASE } from '../common/intid.js';
import { decodeArrayAccess, type ArrayAccess } from '../common/register-array.js';
import { badMmioArguments, requireArraySize, requireByteOrWord, requireWord } from '../common/mmio.js';
import {
  GICD,
  GICD_CTLR,
  GICD_CTLR_WRITABLE,
  GICD_IIDR_VALUE,
  GICD_SGIR,
  GICD_SGIR_WRITABLE,
  GICD_TYPER,
  GICV2_FRAME_SIZE,
  PIDR2_GICV2,
  gicv2DistributorArrays,
} from './regs.js';

const FRAME = 'GICD';

/** The GICD frame (4 KiB) as one CPU interface sees it. */
export class GicV2Distributor implements MmioDevice {
  private readonly scope: ArrayScope;
  private readonly access: ArrayAccess = { intid: 0, count: 0 };

  /**
   * GicV2 creates one view per CPU (`GicV2.distributorFor(cpu)`).
   *
   * @internal
   */
  constructor(
    private readonly engine: IrqEngine,
    /** The CPU interface whose accesses this view serves. */
    readonly cpu: number,
    private readonly onEnableChange: () => void,
    private readonly onSgi: (source: number, intid: number, targets: number) => void,
  ) {
    this.scope = { lo: 0, hi: engine.lines, sgiPerSource: true };
  }

  /** GICD_CTLR (IHI0048B 4.3.1): the group enables. */
  get ctlr(): number {
    return this.engine.distEnable;
  }

  /** GICD_TYPER (IHI0048B 4.3.2). */
  get typer(): number {
    const v = setField(0, GICD_TYPER.ITLinesNumber, Math.ceil(this.engine.lines / 32) - 1);
    return setField(v, GICD_TYPER.CPUNumber, this.engine.cpus - 1);
  }

  mmioRead(offset: number, size: AccessSize): number {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GICD', offset);
    const e = this.engine;
    const arr = decodeArrayAccess(GICV2_GICD_ARRAYS, offset, size, this.access);
    if (arr !== undefined) {
      requireArraySize(FRAME, arr.bitsPerIrq, offset, size, false);
      return readArray(e, this.scope, this.cpu, arr, this.access.intid, this.access.count);
    }
    if (offset >= GICD.CPENDSGIR && offset < GICD.SPENDSGIR + 16) {
      requireByteOrWord(FRAME, offset, size, false);
      const first = (offset - GICD.CPENDSGIR) & 0xf;
      let v = 0;
      for (let k = 0; k < size; k++) v |= e.sgiSources[this.cpu * SGI_COUNT + first + k]! << (8 * k);
      return v >>> 0;
    }
    requireWord(FRAME, offset, size, false);
    // GICD_SGIR is write-only; reserved offsets are RAZ/WI (IHI0048B 4.1.2).
    return GICV2_GICD_REGISTERS.read(this, offset);
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'number') badMmioArguments('GICD', offset, value);
    const e = this.engine;
    const arr = decodeArrayAccess(GICV2_GICD_ARRAYS, offset, size, this.access);
    if (arr !== undefined) {
      requireArraySize(FRAME, arr.bitsPerIrq, offset, size, true);
      writeArray(e, this.scope, this.cpu, arr, this.access.intid, this.access.count, value);
      return;
    }
    if (offset >= GICD.CPENDSGIR && offset < GICD.SPENDSGIR + 16) {
      requireByteOrWord(FRAME, offset, size, true);
      const set = offset >= GICD.SPENDSGIR;
      const first = (offset - GICD.CPENDSGIR) & 0xf;
      const cpuMask = (1 << e.cpus) - 1;
      for (let k = 0; k < size; k++) {
        const bits = (value >>> (8 * k)) & cpuMask;
        if (bits === 0) continue;
        if (set) {
          for (let src = 0; src < e.cpus; src++) if ((bits >>> src) & 1) e.setSgiPending(this.cpu, first + k, src);
        } else {
          e.clearSgiPending(this.cpu, first + k, bits);
        }
      }
      return;
    }
    requireWord(FRAME, offset, size, true);
    GICV2_GICD_REGISTERS.write(this, offset, value);
  }

  /** GICD_CTLR write (IHI0048B 4.3.1): the group enables. */
  writeCtlr(value: number): void {
    this.engine.distEnable = getField(value, GICD_CTLR.EnableGrp0) | (getField(value, GICD_CTLR.EnableGrp1) << 1);
    this.onEnableChange();
  }

  /**
   * GICD_SGIR (IHI0048B 4.3.15): TargetListFilter 0 = the CPUs in
   * CPUTargetList, 1 = all but the requester, 2 = the requester only,
   * 3 = reserved (no SGI is sent). CPUs that do not exist are ignored.
   */
  writeSgir(value: number): void {
    const e = this.engine;
    const intid = getField(value, GICD_SGIR.SGIINTID);
    const all = (1 << e.cpus) - 1;
    let targets: number;
    switch (getField(value, GICD_SGIR.TargetListFilter)) {
      case 0:
        targets = getField(value, GICD_SGIR.CPUTargetList) & all;
        break;
      case 1:
        targets = all & ~(1 << this.cpu);
        break;
      case 2:
        targets = 1 << this.cpu;
        break;
      default:
        return;
    }
    this.onSgi(this.cpu, intid, targets);
    for (let t = 0; t < e.cpus; t++) if ((targets >>> t) & 1) e.setSgiPending(t, intid, this.cpu);
  }
}

/**
 * GICD_ITARGETSR (IHI0048B 4.3.12): a byte per INTID. INTIDs 0-31 read as
 * the reading CPU and ignore writes; an SPI's byte is its CPU target list;
 * RAZ/WI on a uniprocessor.
 */
const ITARGETSR: ArrayRegister = {
  bits: 8,
  read: (e, cpu, i) => (e.cpus === 1 ? 0 : i < PRIVATE_COUNT ? 1 << cpu : e.targetMask[i - SPI_BASE]!),
  write: (e, _s, _cpu, i, field) => {
    if (e.cpus === 1 || i < SPI_BASE) return;
    e.targetMask[i - SPI_BASE] = field & ((1 << e.cpus) - 1);
    e.refreshRoute(i);
  },
};

/** The distributor's per-interrupt arrays, with GICv2's GICD_ITARGETSR. */
const GICV2_GICD_ARRAYS = gicv2DistributorArrays(ITARGETSR);

/**
 * The distributor's other registers (IHI0048B 4.1.2 Table 4-1), one
 * description each; reserved offsets are RAZ/WI.
 */
const GICV2_GICD_REGISTERS = new RegisterTable<GicV2Distributor>('GICD', GICV2_FRAME_SIZE.GICD, [
  { name: 'GICD_CTLR', offset: GICD.CTLR, reset: 0, writable: GICD_CTLR_WRITABLE, read: (d) => d.ctlr, write: (d, v) => d.writeCtlr(v) },
  { name: 'GICD_TYPER', offset: GICD.TYPER, read: (d) => d.typer },
  { name: 'GICD_IIDR', offset: GICD.IIDR, reset: GICD_IIDR_VALUE, read: () => GICD_IIDR_VALUE },
  // Write-only: every field of GICD_SGIR but NSATT (no Security Extensions).
  { name: 'GICD_SGIR', offset: GICD.SGIR, writable: GICD_SGIR_WRITABLE, read: () => 0, write: (d, v) => d.writeSgir(v) },
  { name: 'GICD_PIDR2', offset: GICD.PIDR2, reset: PIDR2_GICV2, read: () => PIDR2_GICV2 },
]);

/** The GICv2 distributor register table, for conformance tests. */
export const GICV2_GICD_REGISTER_TABLE: RegisterTable<GicV2Distributor> = GICV2_GICD_REGISTERS;
