/**
 * The GICv2 CPU interface frame, GICC (IHI0048B 4.4), without the Security
 * Extensions: GICC_IAR acknowledges Group 0, and Group 1 only when AckCtl is
 * set (otherwise it returns 1022); the aliased registers GICC_AIAR, AEOIR,
 * AHPPIR and ABPR serve Group 1. EOImodeS governs Group 0 EOIs, EOImodeNS
 * Group 1 EOIs. Behaviour is the shared {@link CpuInterfaceCore}.
 */
import type { AccessSize, MmioDevice } from '@hvsim/core';
import { getField, setField } from '@hvsim/core';
import { CpuInterfaceCore } from '../common/cpu-interface.js';
import { INTID_GROUP1_NOT_ACKED, INTID_SPURIOUS } from '../common/intid.js';
import { implementedPriorityMask, writtenBinaryPoint } from '../common/priority.js';
import { badMmioArguments, requireWord } from '../common/mmio.js';
import { GICC_CTLR, GICC_IIDR_VALUE, GICC } from './regs.js';

const FRAME = 'GICC';

/** What a GICC or GICV frame reports for tracing: acknowledges (the IAR value) and EOIs (the EOIR value). */
export interface CpuInterfaceEvents {
  onAcknowledge(cpu: number, value: number, virtual: boolean): void;
  onEoi(cpu: number, value: number, virtual: boolean): void;
}

/** The GICC frame of one CPU (8 KiB). */
export class GicV2CpuInterface implements MmioDevice {
  /** GICC_CTLR bypass-disable bits, kept for read-back. */
  private bypass = 0;
  private readonly pmrMask: number;

  constructor(
    readonly core: CpuInterfaceCore,
    private readonly events: CpuInterfaceEvents,
  ) {
    this.pmrMask = implementedPriorityMask(core.priorityBits);
  }

  reset(): void {
    this.bypass = 0;
    this.core.fiqEn = false;
    this.core.reset();
  }

  /** GICC_CTLR (IHI0048B 4.4.1). */
  readCtlr(): number {
    const c = this.core;
    let v = c.groupEnable;
    v = setField(v, GICC_CTLR.AckCtl, c.ackCtl ? 1 : 0);
    v = setField(v, GICC_CTLR.FIQEn, c.fiqEn ? 1 : 0);
    v = setField(v, GICC_CTLR.CBPR, c.cbpr ? 1 : 0);
    v = setField(v, GICC_CTLR.BypassDisable, this.bypass);
    v = setField(v, GICC_CTLR.EOImodeS, c.eoiMode0 ? 1 : 0);
    v = setField(v, GICC_CTLR.EOImodeNS, c.eoiMode1 ? 1 : 0);
    return v;
  }

  writeCtlr(value: number): void {
    const c = this.core;
    c.groupEnable = value & 3;
    c.ackCtl = getField(value, GICC_CTLR.AckCtl) === 1;
    c.fiqEn = getField(value, GICC_CTLR.FIQEn) === 1;
    c.cbpr = getField(value, GICC_CTLR.CBPR) === 1;
    this.bypass = getField(value, GICC_CTLR.BypassDisable);
    c.eoiMode0 = getField(value, GICC_CTLR.EOImodeS) === 1;
    c.eoiMode1 = getField(value, GICC_CTLR.EOImodeNS) === 1;
    c.update();
  }

  /** GICC_IAR (IHI0048B 4.4.4). */
  readIar(): number {
    const v = this.core.acknowledge(this.core.ackCtl ? 3 : 1, INTID_GROUP1_NOT_ACKED);
    this.events.onAcknowledge(this.core.cpu, v, false);
    return v;
  }

  /** GICC_AIAR (IHI0048B 4.4.9): Group 1 only. */
  readAiar(): number {
    const v = this.core.acknowledge(2, INTID_SPURIOUS);
    this.events.onAcknowledge(this.core.cpu, v, false);
    return v;
  }

  mmioRead(offset: number, size: AccessSize): number {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GICC', offset);
    requireWord(FRAME, offset, size, false);
    const c = this.core;
    switch (offset) {
      case GICC.CTLR:
        return this.readCtlr();
      case GICC.PMR:
        return c.pmr;
      case GICC.BPR:
        return c.bpr0;
      case GICC.IAR:
        return this.readIar();
      case GICC.RPR:
        return c.runningPriority();
      case GICC.HPPIR:
        return c.highestPending(c.ackCtl ? 3 : 1, INTID_GROUP1_NOT_ACKED);
      case GICC.ABPR:
        // Without the Security Extensions GICC_ABPR is a plain register; CBPR only decides which
        // binary point Group 1 preemption uses (IHI0048B 4.4.3, 4.4.8).
        return c.bpr1;
      case GICC.AIAR:
        return this.readAiar();
      case GICC.AHPPIR:
        return c.highestPending(2, INTID_SPURIOUS);
      case GICC.IIDR:
        return GICC_IIDR_VALUE;
      default:
        if (offset >= GICC.APR0 && offset < GICC.APR0 + 16) return c.apr.read(0, (offset - GICC.APR0) >>> 2);
        if (offset >= GICC.NSAPR0 && offset < GICC.NSAPR0 + 16) return c.apr.read(1, (offset - GICC.NSAPR0) >>> 2);
        // EOIR, AEOIR and DIR are write-only; reserved offsets RAZ/WI.
        return 0;
    }
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'number') badMmioArguments('GICC', offset, value);
    requireWord(FRAME, offset, size, true);
    const c = this.core;
    switch (offset) {
      case GICC.CTLR:
        this.writeCtlr(value);
        return;
      case GICC.PMR:
        c.pmr = value & this.pmrMask;
        c.update();
        return;
      case GICC.BPR:
        c.bpr0 = writtenBinaryPoint(0, value, c.minBpr0);
        c.update();
        return;
      case GICC.ABPR:
        c.bpr1 = writtenBinaryPoint(1, value, c.minBpr0);
        c.update();
        return;
      case GICC.EOIR:
      case GICC.AEOIR:
        this.events.onEoi(c.cpu, value, false);
        c.endOfInterrupt(value & 0x3ff);
        return;
      case GICC.DIR:
        c.deactivate(value & 0x3ff);
        return;
      default:
        if (offset >= GICC.APR0 && offset < GICC.APR0 + 16) {
          c.apr.write(0, (offset - GICC.APR0) >>> 2, value);
          c.update();
        } else if (offset >= GICC.NSAPR0 && offset < GICC.NSAPR0 + 16) {
          c.apr.write(1, (offset - GICC.NSAPR0) >>> 2, value);
          c.update();
        }
        return;
    }
  }

  /** Bypass-disable bits for saving. */
  get bypassBits(): number {
    return this.bypass;
  }

  set bypassBits(v: number) {
    this.bypass = v & 0xf;
  }
}
