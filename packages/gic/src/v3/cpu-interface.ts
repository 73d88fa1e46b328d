/**
 * The GICv3 physical CPU interface as seen through the ICC_*_EL1 system
 * registers (IHI0069 12.2), with a single Security state. Acknowledge,
 * priority drop and deactivation are the shared {@link CpuInterfaceCore};
 * this view translates register formats and generates SGIs with affinity
 * routing (IHI0069 12.2.21, 12.2.22, 12.2.3).
 */
import { getField, setField } from '@hvsim/core';
import { CpuInterfaceCore } from '../common/cpu-interface.js';
import type { IrqEngine } from '../common/irq-state.js';
import { INTID_SPURIOUS as IMPORTED_INTID_SPURIOUS } from '../common/intid.js';
import { implementedPriorityMask, writtenBinaryPoint } from '../common/priority.js';
import { ICC_CTLR } from './regs.js';

/** Module-local copies: imported bindings are live getters under Node's ESM loader (hot paths read these). */
const INTID_SPURIOUS = IMPORTED_INTID_SPURIOUS;

/** Which SGI register generated an SGI. */
export type SgiRegister = 'ICC_SGI0R_EL1' | 'ICC_SGI1R_EL1' | 'ICC_ASGI1R_EL1';

/** One PE's CPU interface as its ICC_* system registers, with number-valued methods. */
export class GicV3CpuInterface {
  /**
   * The CPU interface behaviour ICC_* shares with GICv2's GICC frame.
   *
   * @internal
   */
  declare readonly core: CpuInterfaceCore;
  private declare readonly pmrMask: number;

  /** The interrupt state this interface acknowledges from. */
  private declare readonly engine: IrqEngine;
  /** The PE this interface belongs to. */
  declare readonly cpu: number;
  private declare readonly affinities: readonly number[];

  /**
   * GicV3 creates one per PE (`GicV3.cpuInterface(cpu)`).
   *
   * @internal
   */
  constructor(engine: IrqEngine, cpu: number, affinities: readonly number[], core: CpuInterfaceCore) {
    this.engine = engine;
    this.cpu = cpu;
    this.affinities = affinities;
    this.core = core;
    // With DS = 1 Group 0 is always signalled as FIQ (IHI0069 4.6.1).
    core.fiqEn = true;
    this.pmrMask = implementedPriorityMask(core.priorityBits);
  }

  /** ICC_IAR0_EL1 / ICC_IAR1_EL1: acknowledge the HPPI if it is of `group`, else 1023. */
  readIar(group: number): number {
    return this.core.acknowledge(1 << group, INTID_SPURIOUS);
  }

  /**
   * ICC_EOIR0_EL1 (`group` 0) / ICC_EOIR1_EL1 (`group` 1), INTID in bits
   * 23:0; the signature the virtual interface's `writeEoir(group, value)`
   * and `readIar(group)` share. The physical interface completes the
   * highest active priority by INTID whichever register is written.
   */
  // eslint-disable-next-line @typescript-eslint/unified-signatures -- the deprecated one-argument form below stays for existing callers
  writeEoir(group: number, value: number): void;
  /** @deprecated Use `writeEoir(group, value)`, the form ICC and ICV share. */
  writeEoir(value: number): void;
  writeEoir(groupOrValue: number, value?: number): void {
    this.core.endOfInterrupt((value ?? groupOrValue) & 0xff_ffff);
  }

  /** ICC_HPPIR0_EL1 / ICC_HPPIR1_EL1. */
  readHppir(group: number): number {
    return this.core.highestPending(1 << group, INTID_SPURIOUS);
  }

  /** ICC_DIR_EL1. */
  writeDir(value: number): void {
    this.core.deactivate(value & 0xff_ffff);
  }

  /** ICC_RPR_EL1 (IHI0069 12.2.20). */
  readRpr(): number {
    return this.core.runningPriority();
  }

  /** ICC_PMR_EL1: the priority mask, implemented bits only. */
  readPmr(): number {
    return this.core.pmr;
  }

  /** ICC_PMR_EL1: unimplemented low bits are RAZ/WI (IHI0069 12.2.19). */
  writePmr(value: number): void {
    this.core.pmr = value & this.pmrMask;
    this.core.update();
  }

  /** ICC_BPR0_EL1 / ICC_BPR1_EL1 (IHI0069 12.2.4-12.2.5): BPR1 with CBPR set reads BPR0 + 1 and ignores writes. */
  readBpr(group: number): number {
    const c = this.core;
    if (group === 0) return c.bpr0;
    return c.cbpr ? Math.min(c.bpr0 + 1, 7) : c.bpr1;
  }

  /** Writes below the minimum binary point set the minimum (IHI0069 12.2.4, 12.2.5). */
  writeBpr(group: number, value: number): void {
    const c = this.core;
    if (group === 0) c.bpr0 = writtenBinaryPoint(0, value, c.minBpr0);
    else if (!c.cbpr) c.bpr1 = writtenBinaryPoint(1, value, c.minBpr0);
    c.update();
  }

  /** INTIDs wider than 16 bits are implemented (LPIs with more than 16 ID bits): ICC_CTLR_EL1.IDbits = 0b001. */
  idBits24 = false;

  /** ICC_CTLR_EL1 (IHI0069 12.2.6): CBPR, EOImode writable; PRIbits read-only; IDbits 0 (16 bits) or 1 (24 bits). */
  readCtlr(): number {
    const c = this.core;
    let v = this.idBits24 ? setField(0, ICC_CTLR.IDbits, 1) : 0;
    v = setField(v, ICC_CTLR.CBPR, c.cbpr ? 1 : 0);
    v = setField(v, ICC_CTLR.EOImode, c.eoiMode1 ? 1 : 0);
    v = setField(v, ICC_CTLR.PRIbits, c.priorityBits - 1);
    return v;
  }

  /** Writes ICC_CTLR_EL1 (IHI0069 12.2.6): CBPR and EOImode (with DS = 1 one EOImode governs both groups). */
  writeCtlr(value: number): void {
    const c = this.core;
    c.cbpr = getField(value, ICC_CTLR.CBPR) === 1;
    const split = getField(value, ICC_CTLR.EOImode) === 1;
    // With DS = 1 one EOImode governs both groups.
    c.eoiMode0 = split;
    c.eoiMode1 = split;
    c.update();
  }

  /** ICC_IGRPEN0_EL1 / ICC_IGRPEN1_EL1 bit 0. */
  readIgrpen(group: number): number {
    return (this.core.groupEnable >>> group) & 1;
  }

  /** ICC_IGRPEN0_EL1 / ICC_IGRPEN1_EL1 (`group` 0 / 1): bit 0 enables the group at this CPU interface. */
  writeIgrpen(group: number, value: number): void {
    const bit = 1 << group;
    this.core.groupEnable = (value & 1) === 1 ? this.core.groupEnable | bit : this.core.groupEnable & ~bit;
    this.core.update();
  }

  /** ICC_AP0R<n>_EL1 / ICC_AP1R<n>_EL1 word `n`. */
  readApr(group: number, n: number): number {
    return this.core.apr.read(group, n);
  }

  /** Writes ICC_AP0R<n>_EL1 / ICC_AP1R<n>_EL1 word `n`. */
  writeApr(group: number, n: number, value: number): void {
    this.core.apr.write(group, n, value);
    this.core.update();
  }

  /**
   * ICC_SGI0R_EL1 / ICC_SGI1R_EL1 / ICC_ASGI1R_EL1 (IHI0069 12.2.21, 12.2.22, 12.2.3),
   * given as 32-bit halves. IRM = 1 targets every PE but this one; otherwise
   * the PEs with Aff3.Aff2.Aff1 as given and Aff0 = RS * 16 + n for each set
   * TargetList bit n. Following KVM's reading of the single-Security-state
   * rules, ICC_SGI1R_EL1 makes the SGI pending whatever its group and the
   * other two only when the SGI is Group 0 at the target. Returns the number
   * of PEs targeted.
   */
  generateSgi(register: SgiRegister, lo: number, hi: number): number {
    const e = this.engine;
    const intid = (lo >>> 24) & 0xf;
    const irm = (hi >>> 8) & 1;
    const anyGroup = register === 'ICC_SGI1R_EL1';
    let sent = 0;
    if (irm === 1) {
      for (let c = 0; c < e.cpus; c++) {
        if (c !== this.cpu && this.deliver(c, intid, anyGroup)) sent++;
      }
      return sent;
    }
    const targetList = lo & 0xffff;
    const aff1 = (lo >>> 16) & 0xff;
    const aff2 = hi & 0xff;
    const rs = (hi >>> 12) & 0xf;
    const aff3 = (hi >>> 16) & 0xff;
    const upper = ((aff3 << 24) | (aff2 << 16) | (aff1 << 8)) >>> 0;
    for (let c = 0; c < e.cpus; c++) {
      const a = this.affinities[c]!;
      if ((a & 0xffff_ff00) >>> 0 !== upper) continue;
      const aff0 = a & 0xff;
      const bit = aff0 - rs * 16;
      if (bit < 0 || bit > 15 || ((targetList >>> bit) & 1) === 0) continue;
      if (this.deliver(c, intid, anyGroup)) sent++;
    }
    return sent;
  }

  private deliver(target: number, intid: number, anyGroup: boolean): boolean {
    const e = this.engine;
    if (!anyGroup && e.group[e.slot(target, intid)] !== 0) return false;
    e.setPending(target, intid);
    return true;
  }
}
