/**
 * The GICv3 virtual interface (IHI0069 chapter 6): the hypervisor's
 * ICH_*_EL2 registers and the ICV_*_EL1 registers a guest reaches when it
 * accesses ICC_* at EL1 with HCR_EL2.IMO/FMO set. The behaviour is the shared
 * {@link VirtualInterfaceCore}; this view packs ICH_LR<n>_EL2, ICH_VMCR_EL2,
 * ICH_HCR_EL2 and ICH_VTR_EL2, and applies the ICH_HCR_EL2 trap controls.
 */
import { ARM64_EXCEPTION_CLASS, CpuException, getField, setField } from '@hvsim/core';
import { INTID_SPURIOUS as IMPORTED_INTID_SPURIOUS } from '../common/intid.js';
import { VirtualInterfaceCore, LR_PFIELD_EOI, checkLrFlow } from '../common/virtual-interface.js';
import { ICC_CTLR, ICH_HCR, ICH_VMCR, ICH_VTR } from './regs.js';
import { writtenBinaryPoint } from '../common/priority.js';

/** Module-local copy: imported bindings are live getters under Node's ESM loader. */
const INTID_SPURIOUS = IMPORTED_INTID_SPURIOUS;

/** ICH_HCR_EL2 trap bits this view keeps (the core keeps bits [7:0]). */
const HCR_TRAP_MASK = (1 << 10) | (1 << 11) | (1 << 12) | (1 << 14);

/** Which registers a trap control covers (IHI0069 12.4.5). */
export type IcvClass = 'group0' | 'group1' | 'common' | 'dir';

/** One PE's virtual interface as its ICH_*_EL2 and ICV_*_EL1 registers, with number-valued methods. */
export class GicV3VirtualInterface {
  /** TC, TALL0, TALL1 and TDIR of ICH_HCR_EL2. */
  trapBits = 0;
  /** GICv4 direct injection is implemented (ICH_VTR_EL2.nV4 = 0). */
  directInjection = false;
  /** vINTIDs wider than 16 bits can be injected directly: ICH_VTR_EL2.IDbits = 0b001 (24 bits). */
  idBits24 = false;

  /**
   * The virtual interface behaviour ICH_* / ICV_* shares with GICv2's GICH and GICV frames.
   *
   * @internal
   */
  declare readonly core: VirtualInterfaceCore;

  /**
   * GicV3 creates one per PE (`GicV3.virtualInterface(cpu)`).
   *
   * @internal
   */
  constructor(core: VirtualInterfaceCore) {
    this.core = core;
  }

  /** ICH_VTR_EL2 (IHI0069 12.4.9): list registers, TDS, nV4 (1 unless GICv4 direct injection is configured), PREbits, PRIbits. */
  readVtr(): number {
    const o = this.core.options;
    let v = setField(0, ICH_VTR.ListRegs, this.core.listRegisters - 1);
    v = setField(v, ICH_VTR.TDS, 1);
    if (!this.directInjection) v = setField(v, ICH_VTR.nV4, 1);
    if (this.idBits24) v = setField(v, ICH_VTR.IDbits, 1);
    v = setField(v, ICH_VTR.PREbits, o.preemptionBits - 1);
    v = setField(v, ICH_VTR.PRIbits, o.priorityBits - 1);
    return v;
  }

  /** ICH_HCR_EL2 (IHI0069 12.4.5): enables, trap bits and EOIcount. */
  readHcr(): number {
    return (this.core.hcr | this.trapBits | (this.core.eoiCount << 27)) >>> 0;
  }

  /** ICH_HCR_EL2: TSEI is RES0 (no SEIS), bits 26:15 and 9:8 RES0. */
  writeHcr(value: number): void {
    this.core.hcr = value & 0xff;
    this.trapBits = value & HCR_TRAP_MASK;
    this.core.eoiCount = getField(value, ICH_HCR.EOIcount);
    this.core.update();
  }

  /** ICH_VMCR_EL2 (IHI0069 12.4.8): VFIQEn is RES1 and VAckCtl RES0 with System register access. */
  readVmcr(): number {
    const c = this.core;
    let v = 0;
    v = setField(v, ICH_VMCR.VENG0, c.eng0 ? 1 : 0);
    v = setField(v, ICH_VMCR.VENG1, c.eng1 ? 1 : 0);
    v = setField(v, ICH_VMCR.VFIQEn, 1);
    v = setField(v, ICH_VMCR.VCBPR, c.cbpr ? 1 : 0);
    v = setField(v, ICH_VMCR.VEOIM, c.eoiMode ? 1 : 0);
    v = setField(v, ICH_VMCR.VBPR1, c.bpr1);
    v = setField(v, ICH_VMCR.VBPR0, c.bpr0);
    v = setField(v, ICH_VMCR.VPMR, c.pmr);
    return v;
  }

  /** Writes ICH_VMCR_EL2; binary points below the minimum read back as the minimum. */
  writeVmcr(value: number): void {
    const c = this.core;
    c.eng0 = getField(value, ICH_VMCR.VENG0) === 1;
    c.eng1 = getField(value, ICH_VMCR.VENG1) === 1;
    c.cbpr = getField(value, ICH_VMCR.VCBPR) === 1;
    c.eoiMode = getField(value, ICH_VMCR.VEOIM) === 1;
    c.bpr0 = Math.max(getField(value, ICH_VMCR.VBPR0), c.minBpr0);
    c.bpr1 = Math.max(getField(value, ICH_VMCR.VBPR1), c.minBpr0 + 1);
    c.pmr = getField(value, ICH_VMCR.VPMR) & c.priorityMask;
    c.update();
  }

  /** ICH_LR<n>_EL2 low word: vINTID (16 bits implemented, or 24 with ICH_VTR_EL2.IDbits = 1). */
  readLrLow(n: number): number {
    return this.core.lrVintid[n]!;
  }

  /** ICH_LR<n>_EL2 high word: pINTID [44:32], Priority [55:48], Group, HW, State. */
  readLrHigh(n: number): number {
    const c = this.core;
    return (
      (c.lrPfield[n]! | (c.lrPriority[n]! << 16) | (c.lrGroup[n]! << 28) | (c.lrHw[n]! << 29) | (c.lrState[n]! << 30)) >>>
      0
    );
  }

  /** Writes ICH_LR<n>_EL2; with HW = 0 only the EOI bit of pINTID is kept (the rest is RES0). */
  writeLr(n: number, lo: number, hi: number): void {
    const hw = (hi >>> 29) & 1;
    const pfield = hw === 1 ? hi & 0x1fff : hi & LR_PFIELD_EOI;
    this.core.setListRegister(n, lo & (this.idBits24 ? 0xff_ffff : 0xffff), pfield, (hi >>> 16) & 0xff, (hi >>> 30) & 3, (hi >>> 28) & 1, hw);
  }

  /**
   * Tags list register `n` with flow identifier `flow` (core's
   * `InterruptMessage.flow`; 0 = untracked): the guest's acknowledge and EOI
   * trace events for it carry the flow. Not architectural; cleared when the
   * LR is loaded from a saved context.
   */
  setLrFlow(n: number, flow: number): void {
    checkLrFlow(n, flow, this.core.listRegisters);
    this.core.lrFlow[n] = flow;
  }

  /** ICH_MISR_EL2 (IHI0069 12.4.7): the maintenance interrupt status, bits as in MISR_BIT. */
  readMisr(): number {
    return this.core.misr();
  }

  /** ICH_EISR_EL2 (IHI0069 12.4.3): bit n = list register n holds an EOI maintenance request that completed. */
  readEisr(): number {
    return this.core.eisr(0);
  }

  /** ICH_ELRSR_EL2 (IHI0069 12.4.4): bit n = list register n is empty (invalid, no EOI maintenance pending). */
  readElrsr(): number {
    return this.core.elrsr(0);
  }

  /**
   * ICH_HCR_EL2 bits that trap guest accesses of `cls` (IHI0069 12.4.5): TC, TC or TDIR, TALL0, TALL1.
   *
   * @internal
   */
  static trapMask(cls: IcvClass): number {
    switch (cls) {
      case 'common':
        return 1 << 10;
      case 'dir':
        return (1 << 10) | (1 << 14);
      case 'group0':
        return 1 << 11;
      case 'group1':
        return 1 << 12;
    }
  }

  /**
   * Throws the trap to EL2 when ICH_HCR_EL2 traps a guest access of `cls` (IHI0069 12.4.5).
   *
   * @internal
   */
  checkTrap(cls: IcvClass, name: string): void {
    if ((this.trapBits & GicV3VirtualInterface.trapMask(cls)) !== 0) {
      throw new CpuException(ARM64_EXCEPTION_CLASS.SYS64, { arch: 'arm64', detail: `guest access to ${name} trapped to EL2 by ICH_HCR_EL2` });
    }
  }

  // ICV_* behaviour (IHI0069 12.3)
  /** ICV_IAR0_EL1 (`group` 0) / ICV_IAR1_EL1 (1): acknowledges the highest-priority pending virtual interrupt, 1023 if none. */
  readIar(group: number): number {
    return this.core.acknowledge(1 << group, INTID_SPURIOUS, false);
  }

  /** ICV_EOIR0_EL1 / ICV_EOIR1_EL1: priority drop, and deactivation unless VEOIM. */
  writeEoir(group: number, value: number): void {
    this.core.endOfInterrupt(group, value & 0xff_ffff, -1);
  }

  /** ICV_HPPIR0_EL1 / ICV_HPPIR1_EL1: the highest-priority pending vINTID, 1023 if none. */
  readHppir(group: number): number {
    return this.core.highestPending(1 << group, INTID_SPURIOUS, false);
  }

  /** ICV_DIR_EL1: deactivates a virtual interrupt. */
  writeDir(value: number): void {
    this.core.deactivate(value & 0xff_ffff, -1);
  }

  /** ICV_BPR0_EL1 / ICV_BPR1_EL1 (BPR1 reads BPR0 + 1 with VCBPR). */
  readBpr(group: number): number {
    const c = this.core;
    if (group === 0) return c.bpr0;
    return c.cbpr ? Math.min(c.bpr0 + 1, 7) : c.bpr1;
  }

  /** Writes ICV_BPR0_EL1 / ICV_BPR1_EL1 (BPR1 writes are ignored with VCBPR). */
  writeBpr(group: number, value: number): void {
    const c = this.core;
    if (group === 0) c.bpr0 = writtenBinaryPoint(0, value, c.minBpr0);
    else if (!c.cbpr) c.bpr1 = writtenBinaryPoint(1, value, c.minBpr0);
    c.update();
  }

  /** ICV_CTLR_EL1 (IHI0069 12.3.5): CBPR and EOImode alias VMCR; PRIbits from ICH_VTR_EL2. */
  readCtlr(): number {
    const c = this.core;
    let v = setField(0, ICC_CTLR.CBPR, c.cbpr ? 1 : 0);
    v = setField(v, ICC_CTLR.EOImode, c.eoiMode ? 1 : 0);
    v = setField(v, ICC_CTLR.PRIbits, c.options.priorityBits - 1);
    return v;
  }

  /** Writes ICV_CTLR_EL1: CBPR and EOImode. */
  writeCtlr(value: number): void {
    this.core.cbpr = getField(value, ICC_CTLR.CBPR) === 1;
    this.core.eoiMode = getField(value, ICC_CTLR.EOImode) === 1;
    this.core.update();
  }

  /** ICV_IGRPEN0_EL1 / ICV_IGRPEN1_EL1 (VMCR.VENG0 / VENG1). */
  readIgrpen(group: number): number {
    return (group === 0 ? this.core.eng0 : this.core.eng1) ? 1 : 0;
  }

  /** Writes ICV_IGRPEN0_EL1 / ICV_IGRPEN1_EL1 (bit 0). */
  writeIgrpen(group: number, value: number): void {
    if (group === 0) this.core.eng0 = (value & 1) === 1;
    else this.core.eng1 = (value & 1) === 1;
    this.core.update();
  }

  /** ICV_PMR_EL1 (VMCR.VPMR). */
  readPmr(): number {
    return this.core.pmr;
  }

  /** Writes ICV_PMR_EL1; unimplemented priority bits read as zero. */
  writePmr(value: number): void {
    this.core.pmr = value & 0xff & this.core.priorityMask;
    this.core.update();
  }

  /** ICV_AP0R<n>_EL1 (`group` 0) / ICV_AP1R<n>_EL1 (1). */
  readApr(group: number, n: number): number {
    return this.core.apr.read(group, n);
  }

  /** Writes ICV_AP0R<n>_EL1 / ICV_AP1R<n>_EL1. */
  writeApr(group: number, n: number, value: number): void {
    this.core.apr.write(group, n, value);
    this.core.update();
  }
}
