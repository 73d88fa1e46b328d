/**
 * The GICv2 distributor frame as seen by one CPU interface (IHI0048B 4.3):
 * SGI and PPI registers are banked per CPU, so each CPU gets its own view of
 * the same shared state. No Security Extensions (GICD_TYPER.SecurityExtn = 0).
 */
import type { AccessSize, MmioDevice } from '@hvsim/core';
import { getField, setField } from '@hvsim/core';
import { readArray, writeArray, type ArrayScope } from '../common/array-access.js';
import type { IrqEngine } from '../common/irq-state.js';
import { PRIVATE_COUNT, SGI_COUNT, SPI_BASE } from '../common/intid.js';
import { decodeArrayAccess, type ArrayAccess } from '../common/register-array.js';
import { badMmioArguments, requireArraySize, requireByteOrWord, requireWord } from '../common/mmio.js';
import { GICD, GICD_ARRAYS, GICD_CTLR, GICD_IIDR_VALUE, GICD_SGIR, GICD_TYPER, PIDR2_GICV2 } from './regs.js';

const FRAME = 'GICD';

/** The GICD frame (4 KiB) as one CPU interface sees it. */
export class GicV2Distributor implements MmioDevice {
  private readonly scope: ArrayScope;
  private readonly access: ArrayAccess = { intid: 0, count: 0 };

  constructor(
    private readonly engine: IrqEngine,
    /** The CPU interface whose accesses this view serves. */
    readonly cpu: number,
    private readonly onEnableChange: () => void,
    private readonly onSgi: (source: number, intid: number, targets: number) => void,
  ) {
    this.scope = { lo: 0, hi: engine.lines, sgiPerSource: true };
  }

  /** GICD_TYPER (IHI0048B 4.3.2). */
  get typer(): number {
    const v = setField(0, GICD_TYPER.ITLinesNumber, Math.ceil(this.engine.lines / 32) - 1);
    return setField(v, GICD_TYPER.CPUNumber, this.engine.cpus - 1);
  }

  /** GICD_ITARGETSR byte for `intid` (IHI0048B 4.3.12): INTIDs 0-31 read as this CPU; RAZ/WI on a uniprocessor. */
  private targetByte(intid: number): number {
    const e = this.engine;
    if (e.cpus === 1 || intid >= e.lines) return 0;
    if (intid < PRIVATE_COUNT) return 1 << this.cpu;
    return e.targetMask[intid - SPI_BASE]!;
  }

  mmioRead(offset: number, size: AccessSize): number {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GICD', offset);
    const e = this.engine;
    const arr = decodeArrayAccess(GICD_ARRAYS, offset, size, this.access);
    if (arr !== undefined) {
      requireArraySize(FRAME, arr.bitsPerIrq, offset, size, false);
      if (arr.name === 'ITARGETSR') {
        let v = 0;
        for (let k = 0; k < this.access.count; k++) v |= this.targetByte(this.access.intid + k) << (8 * k);
        return v >>> 0;
      }
      return readArray(e, this.scope, this.cpu, arr.name, this.access.intid, this.access.count);
    }
    if (offset >= GICD.CPENDSGIR && offset < GICD.SPENDSGIR + 16) {
      requireByteOrWord(FRAME, offset, size, false);
      const first = (offset - GICD.CPENDSGIR) & 0xf;
      let v = 0;
      for (let k = 0; k < size; k++) v |= e.sgiSources[this.cpu * SGI_COUNT + first + k]! << (8 * k);
      return v >>> 0;
    }
    requireWord(FRAME, offset, size, false);
    switch (offset) {
      case GICD.CTLR:
        return e.distEnable;
      case GICD.TYPER:
        return this.typer;
      case GICD.IIDR:
        return GICD_IIDR_VALUE;
      case GICD.PIDR2:
        return PIDR2_GICV2;
      default:
        // GICD_SGIR is write-only; reserved offsets are RAZ/WI (IHI0048B 4.1.2).
        return 0;
    }
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'number') badMmioArguments('GICD', offset, value);
    const e = this.engine;
    const arr = decodeArrayAccess(GICD_ARRAYS, offset, size, this.access);
    if (arr !== undefined) {
      requireArraySize(FRAME, arr.bitsPerIrq, offset, size, true);
      if (arr.name === 'ITARGETSR') {
        this.writeTargets(this.access.intid, this.access.count, value);
        return;
      }
      writeArray(e, this.scope, this.cpu, arr.name, this.access.intid, this.access.count, value);
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
    switch (offset) {
      case GICD.CTLR:
        e.distEnable = getField(value, GICD_CTLR.EnableGrp0) | (getField(value, GICD_CTLR.EnableGrp1) << 1);
        this.onEnableChange();
        return;
      case GICD.SGIR:
        this.writeSgir(value);
        return;
      default:
        return;
    }
  }

  private writeTargets(intid: number, count: number, value: number): void {
    const e = this.engine;
    if (e.cpus === 1) return;
    const cpuMask = (1 << e.cpus) - 1;
    for (let k = 0; k < count; k++) {
      const i = intid + k;
      // INTIDs 0-31 are read-only here (IHI0048B 4.3.12).
      if (i < SPI_BASE || i >= e.lines) continue;
      e.targetMask[i - SPI_BASE] = (value >>> (8 * k)) & cpuMask;
      e.refresh(this.cpu, i);
    }
  }

  /**
   * GICD_SGIR (IHI0048B 4.3.15): TargetListFilter 0 = the CPUs in
   * CPUTargetList, 1 = all but the requester, 2 = the requester only,
   * 3 = reserved (no SGI is sent). CPUs that do not exist are ignored.
   */
  private writeSgir(value: number): void {
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
