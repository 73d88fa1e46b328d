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
import { GICV2_CPU_FRAME_REGISTERS, type GicV2CpuFrame } from './cpu-frame.js';
import { RegisterTable, type RegisterSpec } from '../common/register-table.js';
import { GICH_HCR, GICH_VMCR, GICH_VTR, GICV2_FRAME_SIZE, GICV_CTLR, GICC, GICH, GICH_LR } from './regs.js';
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
  /**
   * The virtual interface behaviour GICH shares with GICv3's ICH_* view.
   *
   * @internal
   */
  readonly core: VirtualInterfaceCore;

  /**
   * GicV2 creates one per CPU (`GicV2.hypervisorInterface(cpu)`).
   *
   * @internal
   */
  constructor(core: VirtualInterfaceCore) {
    this.core = core;
  }

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

  /** Writes GICH_VMCR (IHI0048B 5.3.3); binary points below the minimum read back as the minimum. */
  writeVmcr(value: number): void {
    const c = this.core;
    setVmcrCtlr(c, getField(value, GICH_VMCR.VMCCtlr));
    c.bpr1 = Math.max(getField(value, GICH_VMCR.VMABP), c.minBpr0 + 1);
    c.bpr0 = Math.max(getField(value, GICH_VMCR.VMBP), c.minBpr0);
    c.pmr = (getField(value, GICH_VMCR.VMPriMask) << 3) & c.priorityMask;
    c.update();
  }

  /** GICH_HCR (IHI0048B 5.3.1): the enable and maintenance-interrupt bits, and EOICount. */
  readHcr(): number {
    return (this.core.hcr | (this.core.eoiCount << 27)) >>> 0;
  }

  /** Writes GICH_HCR (IHI0048B 5.3.1): enables and EOICount. */
  writeHcr(value: number): void {
    const c = this.core;
    c.hcr = value & 0xff;
    c.eoiCount = getField(value, GICH_HCR.EOICount);
    c.update();
  }

  mmioRead(offset: number, size: AccessSize): number {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GICH', offset);
    requireWord('GICH', offset, size, false);
    return GICH_REGISTERS.read(this, offset);
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'number') badMmioArguments('GICH', offset, value);
    requireWord('GICH', offset, size, true);
    // The list-register writes a hypervisor makes on every entry, without the table walk.
    if (offset >= GICH.LR0 && offset < GICH.LR0 + 4 * 64) {
      const n = (offset - GICH.LR0) >>> 2;
      if (n < this.core.listRegisters) this.writeLr(n, value & GICH_LR_WRITABLE);
      return;
    }
    // VTR, MISR, EISR and ELRSR are read-only.
    GICH_REGISTERS.write(this, offset, value);
  }
}

/** GICH_LR<n> bits a write keeps: all but the reserved bits [22:20] (IHI0048B 5.3.8). */
const GICH_LR_WRITABLE = 0xff8f_ffff;

/** The GICH registers (IHI0048B 5.3, Table 5-1), one description each; other offsets are RAZ/WI. */
const GICH_REGISTERS = new RegisterTable<GicV2HypervisorInterface>('GICH', GICV2_FRAME_SIZE.GICH, [
  { name: 'GICH_HCR', offset: GICH.HCR, reset: 0, writable: 0xf800_00ff, read: (h) => h.readHcr(), write: (h, v) => h.writeHcr(v) },
  { name: 'GICH_VTR', offset: GICH.VTR, read: (h) => h.readVtr() },
  // VMCCtlr, VMABP, VMBP and VMPriMask (IHI0048B 5.3.3).
  { name: 'GICH_VMCR', offset: GICH.VMCR, writable: 0xf8fc_03ff, read: (h) => h.readVmcr(), write: (h, v) => h.writeVmcr(v) },
  { name: 'GICH_MISR', offset: GICH.MISR, reset: 0, read: (h) => h.core.misr() },
  { name: 'GICH_EISR0', offset: GICH.EISR0, reset: 0, read: (h) => h.core.eisr(0) },
  { name: 'GICH_EISR1', offset: GICH.EISR1, reset: 0, read: (h) => h.core.eisr(1) },
  // A bit per implemented list register, set while it is empty: the reset value depends on ListRegs.
  { name: 'GICH_ELRSR0', offset: GICH.ELRSR0, read: (h) => h.core.elrsr(0) },
  { name: 'GICH_ELRSR1', offset: GICH.ELRSR1, read: (h) => h.core.elrsr(1) },
  { name: 'GICH_APR', offset: GICH.APR, reset: 0, writable: 0xffff_ffff, read: (h) => readApr(h.core), write: (h, v) => writeApr(h.core, v) },
  // List registers beyond GICH_VTR.ListRegs are RAZ/WI (IHI0048B 5.3.8).
  ...Array.from(
    { length: 64 },
    (_, n): RegisterSpec<GicV2HypervisorInterface> => ({
      name: `GICH_LR${n}`,
      offset: GICH.LR0 + 4 * n,
      reset: 0,
      writable: GICH_LR_WRITABLE,
      read: (h) => (n < h.core.listRegisters ? h.readLr(n) : 0),
      write: (h, v) => {
        if (n < h.core.listRegisters) h.writeLr(n, v);
      },
    }),
  ),
]);

/** The GICH register table, for conformance tests. */
export const GICH_REGISTER_TABLE: RegisterTable<GicV2HypervisorInterface> = GICH_REGISTERS;

/** The GICV frame of one CPU: what the guest sees as its GICC (IHI0048B 5.4). */
export class GicV2VirtualCpuInterface implements MmioDevice, GicV2CpuFrame {
  /**
   * The virtual interface behind this frame (shared with the CPU's GICH frame).
   *
   * @internal
   */
  readonly core: VirtualInterfaceCore;
  private readonly events: CpuInterfaceEvents;

  /**
   * GicV2 creates one per CPU (`GicV2.virtualCpuInterface(cpu)`).
   *
   * @internal
   */
  constructor(core: VirtualInterfaceCore, events: CpuInterfaceEvents) {
    this.core = core;
    this.events = events;
  }

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

  /** GICV_CTLR (IHI0048B 5.4.1): GICH_VMCR.VMCCtlr. */
  readCtlr(): number {
    return vmcrCtlr(this.core);
  }

  /** Writes GICV_CTLR (the GICH_VMCR.VMCCtlr alias). */
  writeCtlr(value: number): void {
    setVmcrCtlr(this.core, value);
    this.core.update();
  }

  /** GICV_PMR (GICH_VMCR.VMPriMask, bits [7:3]). */
  readPmr(): number {
    return this.core.pmr;
  }

  /** Writes GICV_PMR; unimplemented priority bits read as zero. */
  writePmr(value: number): void {
    this.core.pmr = value & this.core.priorityMask;
    this.core.update();
  }

  /** GICV_BPR (`group` 0) / GICV_ABPR (`group` 1). */
  readBpr(group: number): number {
    return group === 0 ? this.core.bpr0 : this.core.bpr1;
  }

  /** Writes GICV_BPR (`group` 0) / GICV_ABPR (`group` 1). */
  writeBpr(group: number, value: number): void {
    const c = this.core;
    if (group === 0) c.bpr0 = writtenBinaryPoint(0, value, c.minBpr0);
    else c.bpr1 = writtenBinaryPoint(1, value, c.minBpr0);
    c.update();
  }

  /** GICV_RPR: the running priority, 0xff when idle. */
  readRpr(): number {
    return this.core.runningPriority();
  }

  /** GICV_HPPIR (`group` 0) / GICV_AHPPIR (`group` 1). */
  readHppir(group: number): number {
    const c = this.core;
    return group === 0 ? c.highestPending(c.ackCtl ? 3 : 1, INTID_GROUP1_NOT_ACKED, true) : c.highestPending(2, INTID_SPURIOUS, true);
  }

  /** GICV_APR0 holds both groups' active priorities (IHI0048B 5.3.7); the other words and GICV_NSAPR<n> are RAZ/WI. */
  readApr(group: number, n: number): number {
    return group === 0 && n === 0 ? readApr(this.core) : 0;
  }

  /** Writes GICV_APR0; the other words and GICV_NSAPR<n> are RAZ/WI. */
  writeApr(group: number, n: number, value: number): void {
    if (group === 0 && n === 0) writeApr(this.core, value);
  }

  /** GICV_DIR: the CPUID field selects among SGI list registers. */
  writeDir(value: number): void {
    this.core.deactivate(value & 0x3ff, (value >>> 10) & 7);
  }

  mmioRead(offset: number, size: AccessSize): number {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GICV', offset);
    requireWord('GICV', offset, size, false);
    // The guest handler's acknowledge, without the table walk.
    if (offset === GICC.IAR) return this.readIar();
    return GICV2_CPU_FRAME_REGISTERS.read(this, offset);
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'number') badMmioArguments('GICV', offset, value);
    requireWord('GICV', offset, size, true);
    if (offset === GICC.EOIR) {
      this.writeEoir(value & 0x1fff);
      return;
    }
    GICV2_CPU_FRAME_REGISTERS.write(this, offset, value);
  }
}
