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
import { GICV2_CPU_FRAME_REGISTERS, type GicV2CpuFrame } from './cpu-frame.js';
import { GICC_CTLR, GICC } from './regs.js';

/** EOIINTID and CPUID of GICC_EOIR (IHI0048B 4.4.5), as the register table masks them. */
const EOIR_BITS = 0x1fff;

const FRAME = 'GICC';

/** What a GICC or GICV frame reports for tracing: acknowledges (the IAR value) and EOIs (the EOIR value). */
export interface CpuInterfaceEvents {
  onAcknowledge(cpu: number, value: number, virtual: boolean): void;
  onEoi(cpu: number, value: number, virtual: boolean): void;
}

/** The GICC frame of one CPU (8 KiB). */
export class GicV2CpuInterface implements MmioDevice, GicV2CpuFrame {
  /** GICC_CTLR bypass-disable bits, kept for read-back. */
  private bypass = 0;
  private readonly pmrMask: number;
  /**
   * The CPU interface behaviour GICC shares with GICv3's ICC_* view.
   *
   * @internal
   */
  readonly core: CpuInterfaceCore;
  private readonly events: CpuInterfaceEvents;

  /**
   * GicV2 creates one per CPU (`GicV2.cpuInterface(cpu)`).
   *
   * @internal
   */
  constructor(core: CpuInterfaceCore, events: CpuInterfaceEvents) {
    this.core = core;
    this.events = events;
    this.pmrMask = implementedPriorityMask(core.priorityBits);
  }

  /** Puts GICC at its reset values (IHI0048B 4.4). */
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

  /** Writes GICC_CTLR (IHI0048B 4.4.1). */
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

  /** GICC_PMR (IHI0048B 4.4.2): the priority mask, implemented bits only. */
  readPmr(): number {
    return this.core.pmr;
  }

  /** GICC_PMR (IHI0048B 4.4.2): unimplemented low bits are RAZ/WI. */
  writePmr(value: number): void {
    this.core.pmr = value & this.pmrMask;
    this.core.update();
  }

  /** GICC_BPR (`group` 0) / GICC_ABPR (`group` 1), IHI0048B 4.4.3, 4.4.8. */
  readBpr(group: number): number {
    return group === 0 ? this.core.bpr0 : this.core.bpr1;
  }

  /** Writes below the minimum binary point set the minimum (IHI0048B 4.4.3). */
  writeBpr(group: number, value: number): void {
    const c = this.core;
    if (group === 0) c.bpr0 = writtenBinaryPoint(0, value, c.minBpr0);
    else c.bpr1 = writtenBinaryPoint(1, value, c.minBpr0);
    c.update();
  }

  /** GICC_EOIR / GICC_AEOIR (IHI0048B 4.4.5, 4.4.10). */
  writeEoir(value: number): void {
    this.events.onEoi(this.core.cpu, value, false);
    this.core.endOfInterrupt(value & 0x3ff);
  }

  /** GICC_RPR (IHI0048B 4.4.6). */
  readRpr(): number {
    return this.core.runningPriority();
  }

  /** GICC_HPPIR (`group` 0: Group 1 too with AckCtl, else 1022) / GICC_AHPPIR (`group` 1), IHI0048B 4.4.7, 4.4.11. */
  readHppir(group: number): number {
    const c = this.core;
    return group === 0 ? c.highestPending(c.ackCtl ? 3 : 1, INTID_GROUP1_NOT_ACKED) : c.highestPending(2, INTID_SPURIOUS);
  }

  /** GICC_APR<n> (`group` 0) / GICC_NSAPR<n> (`group` 1), IHI0048B 4.4.12-4.4.13. */
  readApr(group: number, n: number): number {
    return this.core.apr.read(group, n);
  }

  /** Writes GICC_APR<n> (`group` 0) / GICC_NSAPR<n> (`group` 1). */
  writeApr(group: number, n: number, value: number): void {
    this.core.apr.write(group, n, value);
    this.core.update();
  }

  /** GICC_DIR (IHI0048B 4.4.15). */
  writeDir(value: number): void {
    this.core.deactivate(value & 0x3ff);
  }

  /** A guest read of the GICC frame (32-bit accesses; reserved offsets RAZ). */
  mmioRead(offset: number, size: AccessSize): number {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GICC', offset);
    requireWord(FRAME, offset, size, false);
    // The acknowledge a handler makes first, without the table walk.
    if (offset === GICC.IAR) return this.readIar();
    // EOIR, AEOIR and DIR are write-only; reserved offsets RAZ/WI.
    return GICV2_CPU_FRAME_REGISTERS.read(this, offset);
  }

  /** A guest write of the GICC frame (32-bit accesses; reserved offsets WI). */
  mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'number') badMmioArguments('GICC', offset, value);
    requireWord(FRAME, offset, size, true);
    if (offset === GICC.EOIR) {
      this.writeEoir(value & EOIR_BITS);
      return;
    }
    GICV2_CPU_FRAME_REGISTERS.write(this, offset, value);
  }

  /** GICC_CTLR bypass-disable bits [8:5] >> 5, for saving and restoring. */
  get bypassBits(): number {
    return this.bypass;
  }

  /** Sets the bypass-disable bits, [8:5] >> 5; bits above 3 are ignored. */
  set bypassBits(v: number) {
    this.bypass = v & 0xf;
  }
}
