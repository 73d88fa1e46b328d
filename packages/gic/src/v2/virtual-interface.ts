/**
 * GICv2 virtualization extensions (IHI0048B chapter 5): the hypervisor's
 * virtual interface control frame, GICH, and the virtual CPU interface frame,
 * GICV, that the guest maps in place of GICC. Both are views over the shared
 * {@link VirtualInterfaceCore}: 5 priority bits, 5 preemption bits, up to 64
 * list registers.
 */
import type { AccessSize, MmioDevice } from '@hvsim/core';
import { getField, setField } from '@hvsim/core';
import { INTID_GROUP1_NOT_ACKED, INTID_SPURIOUS } from '../common/intid.js';
import { LR_PFIELD_EOI, checkLrFlow, type VirtualInterfaceCore } from '../common/virtual-interface.js';
import type { CpuInterfaceEvents } from './cpu-interface.js';
import { badMmioArguments, requireWord } from '../common/mmio.js';
import { GICC_IIDR_VALUE, GICH_HCR, GICH_VMCR, GICH_VTR, GICV_CTLR, GICC, GICH, GICH_LR } from './regs.js';
import { writtenBinaryPoint } from '../common/priority.js';

/** GICV_CTLR / GICH_VMCR.VMCCtlr value of the core's VMCR fields. */
function vmcrCtlr(c: VirtualInterfaceCore): number {
  let v = setField(0, GICV_CTLR.EnableGrp0, c.eng0 ? 1 : 0);
  v = setField(v, GICV_CTLR.EnableGrp1, c.eng1 ? 1 : 0);
  v = setField(v, GICV_CTLR.AckCtl, c.ackCtl ? 1 : 0);
  v = setField(v, GICV_CTLR.FIQEn, c.fiqEn ? 1 : 0);
  v = setField(v, GICV_CTLR.CBPR, c.cbpr ? 1 : 0);
  return setField(v, GICV_CTLR.EOImode, c.eoiMode ? 1 : 0);
}

function setVmcrCtlr(c: VirtualInterfaceCore, value: number): void {
  c.eng0 = getField(value, GICV_CTLR.EnableGrp0) === 1;
  c.eng1 = getField(value, GICV_CTLR.EnableGrp1) === 1;
  c.ackCtl = getField(value, GICV_CTLR.AckCtl) === 1;
  c.fiqEn = getField(value, GICV_CTLR.FIQEn) === 1;
  c.cbpr = getField(value, GICV_CTLR.CBPR) === 1;
  c.eoiMode = getField(value, GICV_CTLR.EOImode) === 1;
}

/** GICH_APR / GICV_APR0 hold one bit per preemption level of both groups (IHI0048B 5.3.7). */
function readApr(c: VirtualInterfaceCore): number {
  return (c.apr.read(0, 0) | c.apr.read(1, 0)) >>> 0;
}

function writeApr(c: VirtualInterfaceCore, value: number): void {
  c.apr.write(0, 0, value);
  c.apr.write(1, 0, 0);
  c.update();
}

/** The GICH frame of one CPU (IHI0048B 5.3). */
export class GicV2HypervisorInterface implements MmioDevice {
  constructor(readonly core: VirtualInterfaceCore) {}

  /**
   * Tags list register `n` with flow identifier `flow` (core's
   * `InterruptMessage.flow`; 0 = untracked): the guest's acknowledge and EOI
   * trace events for it carry the flow. Not architectural state.
   */
  setLrFlow(n: number, flow: number): void {
    checkLrFlow(n, flow, this.core.listRegisters);
    this.core.lrFlow[n] = flow;
  }

  /** GICH_LR<n> (IHI0048B 5.3.8). */
  readLr(n: number): number {
    const c = this.core;
    let v = setField(0, GICH_LR.VirtualID, c.lrVintid[n]!);
    v = setField(v, GICH_LR.PhysicalID, c.lrPfield[n]!);
    v = setField(v, GICH_LR.Priority, c.lrPriority[n]! >>> 3);
    v = setField(v, GICH_LR.State, c.lrState[n]!);
    v = setField(v, GICH_LR.Grp1, c.lrGroup[n]!);
    return setField(v, GICH_LR.HW, c.lrHw[n]!);
  }

  /** Writes GICH_LR<n>; with HW = 0 PhysicalID keeps EOI (bit 19) and CPUID (bits 12:10), the rest is reserved. */
  writeLr(n: number, value: number): void {
    const hw = getField(value, GICH_LR.HW);
    const pid = getField(value, GICH_LR.PhysicalID);
    this.core.setListRegister(
      n,
      getField(value, GICH_LR.VirtualID),
      hw === 1 ? pid : pid & (LR_PFIELD_EOI | 7),
      getField(value, GICH_LR.Priority) << 3,
      getField(value, GICH_LR.State),
      getField(value, GICH_LR.Grp1),
      hw,
    );
  }

  /** GICH_VTR (IHI0048B 5.3.2). */
  readVtr(): number {
    const c = this.core;
    let v = setField(0, GICH_VTR.ListRegs, c.listRegisters - 1);
    v = setField(v, GICH_VTR.PREbits, c.options.preemptionBits - 1);
    return setField(v, GICH_VTR.PRIbits, c.options.priorityBits - 1);
  }

  /** GICH_VMCR (IHI0048B 5.3.3). */
  readVmcr(): number {
    const c = this.core;
    let v = setField(0, GICH_VMCR.VMCCtlr, vmcrCtlr(c));
    v = setField(v, GICH_VMCR.VMABP, c.bpr1);
    v = setField(v, GICH_VMCR.VMBP, c.bpr0);
    return setField(v, GICH_VMCR.VMPriMask, c.pmr >>> 3);
  }

  writeVmcr(value: number): void {
    const c = this.core;
    setVmcrCtlr(c, getField(value, GICH_VMCR.VMCCtlr));
    c.bpr1 = Math.max(getField(value, GICH_VMCR.VMABP), c.minBpr0 + 1);
    c.bpr0 = Math.max(getField(value, GICH_VMCR.VMBP), c.minBpr0);
    c.pmr = (getField(value, GICH_VMCR.VMPriMask) << 3) & c.priorityMask;
    c.update();
  }

  mmioRead(offset: number, size: AccessSize): number {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GICH', offset);
    requireWord('GICH', offset, size, false);
    const c = this.core;
    if (offset >= GICH.LR0 && offset < GICH.LR0 + 4 * 64) {
      const n = (offset - GICH.LR0) >>> 2;
      return n < c.listRegisters ? this.readLr(n) : 0;
    }
    switch (offset) {
      case GICH.HCR:
        return (c.hcr | (c.eoiCount << 27)) >>> 0;
      case GICH.VTR:
        return this.readVtr();
      case GICH.VMCR:
        return this.readVmcr();
      case GICH.MISR:
        return c.misr();
      case GICH.EISR0:
        return c.eisr(0);
      case GICH.EISR1:
        return c.eisr(1);
      case GICH.ELRSR0:
        return c.elrsr(0);
      case GICH.ELRSR1:
        return c.elrsr(1);
      case GICH.APR:
        return readApr(c);
      default:
        return 0;
    }
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'number') badMmioArguments('GICH', offset, value);
    requireWord('GICH', offset, size, true);
    const c = this.core;
    if (offset >= GICH.LR0 && offset < GICH.LR0 + 4 * 64) {
      const n = (offset - GICH.LR0) >>> 2;
      // List registers beyond GICH_VTR.ListRegs are RAZ/WI (IHI0048B 5.3.8).
      if (n < c.listRegisters) this.writeLr(n, value);
      return;
    }
    switch (offset) {
      case GICH.HCR:
        c.hcr = value & 0xff;
        c.eoiCount = getField(value, GICH_HCR.EOICount);
        c.update();
        return;
      case GICH.VMCR:
        this.writeVmcr(value);
        return;
      case GICH.APR:
        writeApr(c, value);
        return;
      default:
        // VTR, MISR, EISR and ELRSR are read-only.
        return;
    }
  }
}

/** The GICV frame of one CPU: what the guest sees as its GICC (IHI0048B 5.4). */
export class GicV2VirtualCpuInterface implements MmioDevice {
  constructor(
    readonly core: VirtualInterfaceCore,
    private readonly events: CpuInterfaceEvents,
  ) {}

  /** GICV_IAR: Group 0, and Group 1 when AckCtl is set (else 1022). */
  readIar(): number {
    const v = this.core.acknowledge(this.core.ackCtl ? 3 : 1, INTID_GROUP1_NOT_ACKED, true);
    this.events.onAcknowledge(this.core.cpu, v, true);
    return v;
  }

  /** GICV_AIAR: Group 1 only. */
  readAiar(): number {
    const v = this.core.acknowledge(2, INTID_SPURIOUS, true);
    this.events.onAcknowledge(this.core.cpu, v, true);
    return v;
  }

  /** GICV_EOIR / GICV_AEOIR: the CPUID field selects among SGI list registers. */
  writeEoir(value: number): void {
    this.events.onEoi(this.core.cpu, value, true);
    this.core.endOfInterrupt(-1, value & 0x3ff, (value >>> 10) & 7);
  }

  mmioRead(offset: number, size: AccessSize): number {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GICV', offset);
    requireWord('GICV', offset, size, false);
    const c = this.core;
    switch (offset) {
      case GICC.CTLR:
        return vmcrCtlr(c);
      case GICC.PMR:
        return c.pmr;
      case GICC.BPR:
        return c.bpr0;
      case GICC.IAR:
        return this.readIar();
      case GICC.RPR:
        return c.runningPriority();
      case GICC.HPPIR:
        return c.highestPending(c.ackCtl ? 3 : 1, INTID_GROUP1_NOT_ACKED, true);
      case GICC.ABPR:
        // Without the Security Extensions GICC_ABPR is a plain register; CBPR only decides which
        // binary point Group 1 preemption uses (IHI0048B 4.4.3, 4.4.8).
        return c.bpr1;
      case GICC.AIAR:
        return this.readAiar();
      case GICC.AHPPIR:
        return c.highestPending(2, INTID_SPURIOUS, true);
      case GICC.APR0:
        return readApr(c);
      case GICC.IIDR:
        return GICC_IIDR_VALUE;
      default:
        return 0;
    }
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'number') badMmioArguments('GICV', offset, value);
    requireWord('GICV', offset, size, true);
    const c = this.core;
    switch (offset) {
      case GICC.CTLR:
        setVmcrCtlr(c, value);
        c.update();
        return;
      case GICC.PMR:
        c.pmr = value & c.priorityMask;
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
        this.writeEoir(value);
        return;
      case GICC.DIR:
        c.deactivate(value & 0x3ff, (value >>> 10) & 7);
        return;
      case GICC.APR0:
        writeApr(c, value);
        return;
      default:
        return;
    }
  }
}
