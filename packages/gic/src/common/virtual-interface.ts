/**
 * The virtual CPU interface and its control interface, shared by GICv2
 * (GICH/GICV frames, IHI0048B chapter 5) and GICv3 (ICH_*_EL2 and ICV_*,
 * IHI0069 chapter 6): list registers, the hypervisor control register, the
 * virtual machine control register (VMCR), active priorities, EOIcount,
 * the maintenance interrupt status, and the guest's acknowledge, EOI and
 * deactivate of virtual interrupts, which need no hypervisor action.
 *
 * List registers are kept decoded; the v2 and v3 views pack them into the
 * 32-bit GICH_LR<n> or 64-bit ICH_LR<n>_EL2 formats.
 */
import {
  ActivePriorities,
  implementedPriorityMask,
  minimumBinaryPoint as importedMinimumBinaryPoint,
  IDLE_PRIORITY as IMPORTED_IDLE_PRIORITY,
  groupPriorityMask as importedGroupPriorityMask,
} from './priority.js';
import { INTID_SPURIOUS as IMPORTED_INTID_SPURIOUS, LPI_BASE as IMPORTED_LPI_BASE, isSpecialIntid as importedIsSpecialIntid } from './intid.js';
import { UsageError, describeValue, type StateReader } from '@hvsim/core';

// Module-local copies for the acknowledge / EOI paths: imported bindings are live getters under Node's ESM loader.
const minimumBinaryPoint = importedMinimumBinaryPoint;
const IDLE_PRIORITY = IMPORTED_IDLE_PRIORITY;
const groupPriorityMask = importedGroupPriorityMask;
const INTID_SPURIOUS = IMPORTED_INTID_SPURIOUS;
const LPI_BASE = IMPORTED_LPI_BASE;
const isSpecialIntid = importedIsSpecialIntid;

/** List register states (IHI0069 12.4.6 ICH_LR<n>_EL2.State; IHI0048B 5.3.8). */
export const LR_STATE = {
  /** 0b00: no interrupt; the List Register is free. */
  INVALID: 0,
  /** 0b01: pending. */
  PENDING: 1,
  /** 0b10: active. */
  ACTIVE: 2,
  /** 0b11: pending and active. */
  PENDING_ACTIVE: 3,
} as const;

/** ICH_HCR_EL2 / GICH_HCR bits (IHI0069 12.4.5, IHI0048B 5.3.1); EOIcount is kept apart. */
export const HCR_BIT = {
  /** Bit 0 En: enables the virtual CPU interface. */
  EN: 1 << 0,
  /** Bit 1: underflow maintenance interrupt enable. */
  UIE: 1 << 1,
  /** Bit 2: List Register entry not present interrupt enable. */
  LRENPIE: 1 << 2,
  /** Bit 3: no pending interrupt enable. */
  NPIE: 1 << 3,
  /** Bit 4: maintenance interrupt while virtual Group 0 is enabled. */
  VGRP0EIE: 1 << 4,
  /** Bit 5: maintenance interrupt while virtual Group 0 is disabled. */
  VGRP0DIE: 1 << 5,
  /** Bit 6: maintenance interrupt while virtual Group 1 is enabled. */
  VGRP1EIE: 1 << 6,
  /** Bit 7: maintenance interrupt while virtual Group 1 is disabled. */
  VGRP1DIE: 1 << 7,
} as const;

/** ICH_MISR_EL2 / GICH_MISR bits (IHI0069 12.4.7, IHI0048B 5.3.4). */
export const MISR_BIT = {
  /** Bit 0: an EOI maintenance request completed (a bit of EISR is set). */
  EOI: 1 << 0,
  /** Bit 1: underflow: UIE set and at most one List Register valid. */
  U: 1 << 1,
  /** Bit 2: LRENPIE set and EOIcount non-zero. */
  LRENP: 1 << 2,
  /** Bit 3: NPIE set and no List Register pending. */
  NP: 1 << 3,
  /** Bit 4: virtual Group 0 enabled and VGrp0EIE set. */
  VGRP0E: 1 << 4,
  /** Bit 5: virtual Group 0 disabled and VGrp0DIE set. */
  VGRP0D: 1 << 5,
  /** Bit 6: virtual Group 1 enabled and VGrp1EIE set. */
  VGRP1E: 1 << 6,
  /** Bit 7: virtual Group 1 disabled and VGrp1DIE set. */
  VGRP1D: 1 << 7,
} as const;

/** Words before the list registers in a typed-array vCPU context: HCR, VMCR, the view's word, 8 APR words. */
const VCPU_WORDS_HEADER = 11;

/** Bit of the physical-ID field that, with HW = 0, requests a maintenance interrupt on EOI. */
export const LR_PFIELD_EOI = 1 << 9;

/**
 * Virtual interrupts injected without list registers (GICv4 direct vLPI and
 * GICv4.1 vSGI injection, IHI0069 5.4): the resident vPE's pending
 * interrupts, offered beside the list registers. They have no active state.
 */
export interface DirectInjectionSource {
  /** Highest-priority pending key among the groups in `groupMask`, or -1. */
  best(groupMask: number): number;
  /** Priority of pending `key`. */
  keyPriority(key: number): number;
  /** Group of pending `key`, 0 or 1. */
  keyGroup(key: number): number;
  /** vINTID of `key`. */
  keyIntid(key: number): number;
  /** Acknowledges `key`: it stops being pending (no active state). */
  acknowledgeKey(key: number): void;
}

/** Checks a list register index and flow identifier given to `setLrFlow`. */
export function checkLrFlow(n: number, flow: number, listRegisters: number): void {
  if (!Number.isInteger(n) || n < 0 || n >= listRegisters) {
    throw new UsageError('bad-argument', `list register must be an integer in [0, ${listRegisters - 1}], got ${describeValue(n)}`);
  }
  if (!Number.isInteger(flow) || flow < 0 || flow > 0x7fff_ffff) {
    throw new UsageError('bad-argument', `flow must be an integer in [0, 0x7fffffff], got ${describeValue(flow)}`);
  }
}

/** Construction options of a virtual interface. */
export interface VirtualInterfaceOptions {
  /** List Registers implemented (ICH_VTR_EL2.ListRegs + 1). */
  listRegisters: number;
  /** Virtual priority bits (5 in GICv2; ICH_VTR_EL2.PRIbits + 1 in GICv3). */
  priorityBits: number;
  /** Virtual preemption bits (5 in GICv2; ICH_VTR_EL2.PREbits + 1). */
  preemptionBits: number;
  /** GICv3: Group 0 is always a virtual FIQ; GICv2: only when VMCR.VFIQEn is set. */
  group0AlwaysFiq: boolean;
}

/** Callbacks of a virtual interface. */
export interface VirtualInterfaceOutputs {
  /** The vIRQ level of `cpu` changed. */
  onVirq?: (cpu: number, asserted: boolean) => void;
  /** The vFIQ level of `cpu` changed. */
  onVfiq?: (cpu: number, asserted: boolean) => void;
  /** The maintenance interrupt level; the GIC routes it to the CPU's PPI 25. */
  onMaintenance: (cpu: number, asserted: boolean) => void;
  /** A hardware list register was deactivated by the guest: deactivate physical `pintid` (IHI0069 6.2.4). */
  onHwDeactivate: (cpu: number, pintid: number) => void;
}

/** Saved state of a virtual interface. */
export interface VirtualInterfaceState {
  /** Virtual INTID of each List Register. */
  lrVintid: number[];
  /** Physical INTID field of each List Register (EOI bit and source CPUID when HW = 0). */
  lrPfield: number[];
  /** Priority of each List Register. */
  lrPriority: number[];
  /** State of each List Register ({@link LR_STATE}). */
  lrState: number[];
  /** Group of each List Register (0 or 1). */
  lrGroup: number[];
  /** HW bit of each List Register (0 or 1). */
  lrHw: number[];
  /** HCR control bits ({@link HCR_BIT}), EOIcount excluded. */
  hcr: number;
  /** HCR.EOIcount (5 bits). */
  eoiCount: number;
  /** Virtual machine control fields (ICH_VMCR_EL2, IHI0069 12.4.8; GICH_VMCR, IHI0048B 5.3.3). */
  vmcr: {
    /** VENG0: virtual Group 0 enabled. */
    eng0: boolean;
    /** VENG1: virtual Group 1 enabled. */
    eng1: boolean;
    /** VAckCtl (GICv2 view). */
    ackCtl: boolean;
    /** VFIQEn: virtual Group 0 signalled as vFIQ. */
    fiqEn: boolean;
    /** VCBPR: BPR0 controls both groups. */
    cbpr: boolean;
    /** VEOIM: EOI drops priority only. */
    eoiMode: boolean;
    /** VBPR0: Group 0 binary point. */
    bpr0: number;
    /** VBPR1: Group 1 binary point. */
    bpr1: number;
    /** VPMR: virtual priority mask, 0-255. */
    pmr: number;
  };
  /** Active priority register words, Group 0 then Group 1. */
  apr: number[];
}

/** One CPU's virtual interface: list registers, HCR, VMCR, active priorities and the guest's view. */
export class VirtualInterfaceCore {
  declare readonly listRegisters: number;
  declare readonly lrVintid: Uint32Array;
  /** Physical INTID when HW = 1; with HW = 0 bit 9 is EOI and bits [2:0] the GICv2 SGI source CPUID. */
  declare readonly lrPfield: Uint16Array;
  declare readonly lrPriority: Uint8Array;
  declare readonly lrState: Uint8Array;
  declare readonly lrGroup: Uint8Array;
  declare readonly lrHw: Uint8Array;
  /**
   * Flow identifier per list register (core's `InterruptMessage.flow`, 0 when
   * untracked), set by the hypervisor with the LR; not architectural state
   * (not in ICH_LR<n>_EL2, not saved), repeated by trace events about the LR.
   */
  declare readonly lrFlow: Int32Array;
  /** Flow of the list register the last acknowledge or EOI used (0 when none or untracked), for trace events. */
  lastFlow = 0;
  /** HCR control bits ({@link HCR_BIT}), EOIcount excluded. */
  hcr = 0;
  /** HCR.EOIcount: EOIs and deactivations that matched no list register (5 bits). */
  eoiCount = 0;
  // VMCR fields (IHI0069 12.4.8 ICH_VMCR_EL2, IHI0048B 5.3.3)
  eng0 = false;
  eng1 = false;
  ackCtl = false;
  fiqEn = false;
  cbpr = false;
  eoiMode = false;
  bpr0: number;
  bpr1: number;
  pmr = 0;
  declare readonly apr: ActivePriorities;
  declare readonly priorityMask: number;
  declare readonly minBpr0: number;
  private declare readonly group0AlwaysFiq: boolean;
  private virq = false;
  private vfiq = false;
  private maintenance = false;
  /** Highest-priority pending LR as of the last {@link update} (every change ends with one). */
  private bestLr = -1;
  /** GICv4: the resident vPE's directly injected interrupts, when the GIC has them. */
  direct: DirectInjectionSource | undefined = undefined;
  /** Key of the direct interrupt that beats every LR as of the last {@link update}, or -1. */
  private bestDirect = -1;

  // Fields assigned in the constructor are `declare`d, so V8 keeps their types (see CpuInterfaceCore).
  declare readonly cpu: number;
  declare readonly options: VirtualInterfaceOptions;
  private declare readonly outputs: VirtualInterfaceOutputs;

  constructor(cpu: number, options: VirtualInterfaceOptions, outputs: VirtualInterfaceOutputs) {
    this.cpu = cpu;
    this.options = options;
    this.outputs = outputs;
    const n = options.listRegisters;
    this.listRegisters = n;
    this.lrVintid = new Uint32Array(n);
    this.lrPfield = new Uint16Array(n);
    this.lrPriority = new Uint8Array(n);
    this.lrState = new Uint8Array(n);
    this.lrGroup = new Uint8Array(n);
    this.lrHw = new Uint8Array(n);
    this.lrFlow = new Int32Array(n);
    this.apr = new ActivePriorities(options.preemptionBits);
    this.priorityMask = implementedPriorityMask(options.priorityBits);
    this.minBpr0 = minimumBinaryPoint(options.preemptionBits);
    this.group0AlwaysFiq = options.group0AlwaysFiq;
    this.bpr0 = this.minBpr0;
    this.bpr1 = this.minBpr0 + 1;
  }

  /** Reset values (IHI0069 12.4, IHI0048B 5.3): every list register invalid, HCR and VMCR zero, binary points minimal. */
  reset(): void {
    this.hcr = 0;
    this.eoiCount = 0;
    for (const a of [this.lrVintid, this.lrPfield, this.lrPriority, this.lrState, this.lrGroup, this.lrHw]) a.fill(0);
    this.lrFlow.fill(0);
    this.eng0 = this.eng1 = this.ackCtl = this.fiqEn = this.cbpr = this.eoiMode = false;
    this.bpr0 = this.minBpr0;
    this.bpr1 = this.minBpr0 + 1;
    this.pmr = 0;
    this.apr.reset();
    this.update();
  }

  get virqLevel(): boolean {
    return this.virq;
  }

  get vfiqLevel(): boolean {
    return this.vfiq;
  }

  get maintenanceLevel(): boolean {
    return this.maintenance;
  }

  /** Writes list register `n` from decoded fields; priority keeps implemented bits only. */
  setListRegister(n: number, vintid: number, pfield: number, priority: number, state: number, group: number, hw: number): void {
    this.lrVintid[n] = vintid;
    this.lrPfield[n] = pfield;
    this.lrPriority[n] = priority & this.priorityMask;
    this.lrState[n] = state;
    this.lrGroup[n] = group;
    this.lrHw[n] = hw;
    this.update();
  }

  /** Group priority of a virtual priority. */
  groupPriority(priority: number, group: number): number {
    return priority & groupPriorityMask(group, this.bpr0, this.bpr1, this.cbpr);
  }

  /** True when list register `i` may be signalled (HCR.En, VPMR and the virtual running priority). */
  private canSignal(i: number): boolean {
    return this.canSignalPriority(this.lrPriority[i]!, this.lrGroup[i]!);
  }

  private canSignalPriority(p: number, group: number): boolean {
    if ((this.hcr & HCR_BIT.EN) === 0) return false;
    return p < this.pmr && this.groupPriority(p, group) < this.apr.running();
  }

  // Results of the last scan of the list registers.
  private scanValid = 0;
  private scanPending = false;
  private scanEoi = false;

  /**
   * One pass over the list registers: the highest-priority pending LR of an
   * enabled group (into {@link bestLr}) and the counts MISR needs.
   */
  private scan(): void {
    let best = -1;
    let bestPrio = 0x100;
    let valid = 0;
    let pending = false;
    let eoi = false;
    const eng0 = this.eng0;
    const eng1 = this.eng1;
    const states = this.lrState;
    const groups = this.lrGroup;
    const prios = this.lrPriority;
    const n = this.listRegisters;
    for (let i = 0; i < n; i++) {
      const st = states[i]!;
      if (st === LR_STATE.INVALID) {
        if (this.lrHw[i] === 0 && (this.lrPfield[i]! & LR_PFIELD_EOI) !== 0) eoi = true;
        continue;
      }
      valid++;
      // NP counts list registers in the pending state only, not active and pending (IHI0069 12.4.7).
      if (st !== LR_STATE.PENDING) continue;
      pending = true;
      if (groups[i] === 0 ? !eng0 : !eng1) continue;
      const p = prios[i]!;
      if (p < bestPrio) {
        best = i;
        bestPrio = p;
      }
    }
    this.bestLr = best;
    this.bestDirect = -1;
    const d = this.direct;
    if (d !== undefined) {
      const k = d.best((eng0 ? 1 : 0) | (eng1 ? 2 : 0));
      // A list register wins a tie: the order between equal priorities is IMPLEMENTATION DEFINED.
      if (k >= 0 && d.keyPriority(k) < bestPrio) this.bestDirect = k;
    }
    this.scanValid = valid;
    this.scanPending = pending;
    this.scanEoi = eoi;
  }

  /** MISR from the last scan (IHI0069 12.4.7 ICH_MISR_EL2, IHI0048B 5.3.4 GICH_MISR). */
  private misrFromScan(): number {
    const h = this.hcr;
    if (!this.scanEoi && (h & 0xfe) === 0) return 0;
    let m = 0;
    if (this.scanEoi) m |= MISR_BIT.EOI;
    if ((h & HCR_BIT.UIE) !== 0 && this.scanValid <= 1) m |= MISR_BIT.U;
    if ((h & HCR_BIT.LRENPIE) !== 0 && this.eoiCount !== 0) m |= MISR_BIT.LRENP;
    if ((h & HCR_BIT.NPIE) !== 0 && !this.scanPending) m |= MISR_BIT.NP;
    if ((h & HCR_BIT.VGRP0EIE) !== 0 && this.eng0) m |= MISR_BIT.VGRP0E;
    if ((h & HCR_BIT.VGRP0DIE) !== 0 && !this.eng0) m |= MISR_BIT.VGRP0D;
    if ((h & HCR_BIT.VGRP1EIE) !== 0 && this.eng1) m |= MISR_BIT.VGRP1E;
    if ((h & HCR_BIT.VGRP1DIE) !== 0 && !this.eng1) m |= MISR_BIT.VGRP1D;
    return m;
  }

  /** Recomputes vIRQ, vFIQ and the maintenance interrupt (every state change ends with this). */
  update(): void {
    this.scan();
    const best = this.bestLr;
    let virq = false;
    let vfiq = false;
    if (this.bestDirect >= 0) {
      const d = this.direct!;
      const k = this.bestDirect;
      if (this.canSignalPriority(d.keyPriority(k), d.keyGroup(k))) {
        if (d.keyGroup(k) === 0 && (this.group0AlwaysFiq || this.fiqEn)) vfiq = true;
        else virq = true;
      }
    } else if (best >= 0 && this.canSignal(best)) {
      if (this.lrGroup[best] === 0 && (this.group0AlwaysFiq || this.fiqEn)) vfiq = true;
      else virq = true;
    }
    if (virq !== this.virq) {
      this.virq = virq;
      this.outputs.onVirq?.(this.cpu, virq);
    }
    if (vfiq !== this.vfiq) {
      this.vfiq = vfiq;
      this.outputs.onVfiq?.(this.cpu, vfiq);
    }
    const m = (this.hcr & HCR_BIT.EN) !== 0 && this.misrFromScan() !== 0;
    if (m !== this.maintenance) {
      this.maintenance = m;
      this.outputs.onMaintenance(this.cpu, m);
    }
  }

  /** True when LR `i` needs EOI maintenance: invalid, HW = 0 and EOI = 1 (IHI0069 12.4.3). */
  private eoiMaintenance(i: number): boolean {
    return this.lrState[i] === LR_STATE.INVALID && this.lrHw[i] === 0 && (this.lrPfield[i]! & LR_PFIELD_EOI) !== 0;
  }

  /** EISR word `w` (IHI0069 12.4.3 ICH_EISR_EL2, IHI0048B 5.3.5 GICH_EISR0/1). */
  eisr(w: number): number {
    let v = 0;
    const end = Math.min(this.listRegisters, (w + 1) * 32);
    for (let i = w * 32; i < end; i++) if (this.eoiMaintenance(i)) v |= 1 << (i & 31);
    return v >>> 0;
  }

  /** ELRSR word `w`: LRs holding no interrupt (IHI0069 12.4.4 ICH_ELRSR_EL2, IHI0048B 5.3.6). */
  elrsr(w: number): number {
    let v = 0;
    const end = Math.min(this.listRegisters, (w + 1) * 32);
    for (let i = w * 32; i < end; i++) {
      if (this.lrState[i] === LR_STATE.INVALID && !this.eoiMaintenance(i)) v |= 1 << (i & 31);
    }
    return v >>> 0;
  }

  /** Maintenance interrupt status (IHI0069 12.4.7 ICH_MISR_EL2, IHI0048B 5.3.4 GICH_MISR). */
  misr(): number {
    this.scan();
    return this.misrFromScan();
  }

  /**
   * HPPIR of the virtual interface: the vINTID of the highest pending LR
   * when its group is in `groups`, else `otherGroup`; 1023 when none.
   * `withSource` adds the GICv2 SGI CPUID in bits [12:10].
   */
  highestPending(groups: number, otherGroup: number, withSource: boolean): number {
    if (this.bestDirect >= 0) {
      const d = this.direct!;
      if (((groups >>> d.keyGroup(this.bestDirect)) & 1) === 0) return otherGroup;
      return d.keyIntid(this.bestDirect);
    }
    const i = this.bestLr;
    if (i < 0) return INTID_SPURIOUS;
    if (((groups >>> this.lrGroup[i]!) & 1) === 0) return otherGroup;
    return this.withCpuId(i, withSource);
  }

  private withCpuId(i: number, withSource: boolean): number {
    const v = this.lrVintid[i]!;
    return withSource && v < 16 && this.lrHw[i] === 0 ? v | ((this.lrPfield[i]! & 7) << 10) : v;
  }

  /**
   * Virtual IAR (IHI0069 12.3 ICV_IAR1_EL1, IHI0048B 5.4 GICV_IAR): the
   * highest pending LR goes pending -> active and its group priority is
   * recorded in the virtual active priorities.
   */
  acknowledge(groups: number, otherGroup: number, withSource: boolean): number {
    if (this.bestDirect >= 0) return this.acknowledgeDirect(groups, otherGroup);
    const i = this.bestLr;
    if (i < 0 || !this.canSignal(i)) return INTID_SPURIOUS;
    const g = this.lrGroup[i]!;
    if (((groups >>> g) & 1) === 0) return otherGroup;
    const value = this.withCpuId(i, withSource);
    this.lastFlow = this.lrFlow[i]!;
    if (isSpecialIntid(this.lrVintid[i]!)) {
      // A special INTID in a list register goes pending -> invalid (IHI0069 12.3.11-12.3.12 ICV_IAR<n>_EL1).
      this.lrState[i] = LR_STATE.INVALID;
    } else {
      this.lrState[i] = LR_STATE.ACTIVE;
      this.apr.activate(this.groupPriority(this.lrPriority[i]!, g), g);
    }
    this.update();
    return value;
  }

  /**
   * Acknowledge of a directly injected vLPI or vSGI (IHI0069 5.4): it stops
   * being pending (no active state) and its group priority becomes active.
   */
  private acknowledgeDirect(groups: number, otherGroup: number): number {
    const d = this.direct!;
    const k = this.bestDirect;
    const p = d.keyPriority(k);
    const g = d.keyGroup(k);
    if (!this.canSignalPriority(p, g)) return INTID_SPURIOUS;
    if (((groups >>> g) & 1) === 0) return otherGroup;
    const vintid = d.keyIntid(k);
    this.lastFlow = 0;
    this.apr.activate(this.groupPriority(p, g), g);
    d.acknowledgeKey(k);
    this.update();
    return vintid;
  }

  /** Index of the active LR holding `vintid` (and GICv2 SGI source `cpuId` when >= 0), or -1. */
  private findActive(vintid: number, cpuId: number): number {
    for (let i = 0; i < this.listRegisters; i++) {
      if ((this.lrState[i]! & LR_STATE.ACTIVE) === 0 || this.lrVintid[i] !== vintid) continue;
      if (cpuId >= 0 && vintid < 16 && this.lrHw[i] === 0 && (this.lrPfield[i]! & 7) !== cpuId) continue;
      return i;
    }
    return -1;
  }

  /** Flow of the active list register holding `vintid` (0 when none or untracked), for trace events. */
  activeFlow(vintid: number): number {
    const i = this.findActive(vintid, -1);
    return i < 0 ? 0 : this.lrFlow[i]!;
  }

  /** Deactivates LR `i`: active -> invalid, active+pending -> pending; a HW LR deactivates its physical interrupt. */
  private deactivateLr(i: number): void {
    this.lrState[i] = this.lrState[i]! & LR_STATE.PENDING;
    if (this.lrHw[i] === 1) this.outputs.onHwDeactivate(this.cpu, this.lrPfield[i]!);
  }

  private incrementEoiCount(): void {
    this.eoiCount = (this.eoiCount + 1) & 31;
  }

  /**
   * Virtual EOIR (IHI0069 pseudocode VirtualWriteEOIR0/1; IHI0048B 5.4):
   * priority drop; with EOImode = 0 (or for a vLPI) the matching LR is
   * deactivated; no matching LR increments EOIcount (not for vLPIs). With no
   * active priority the write is ignored, one of the CONSTRAINED
   * UNPREDICTABLE choices. `group` is the EOIR's group (GICv3 ICV_EOIR0/1),
   * or -1 when the register serves either (GICv2 GICV_EOIR).
   */
  endOfInterrupt(group: number, vintid: number, cpuId: number): void {
    if (isSpecialIntid(vintid)) return;
    const dropped = this.apr.drop();
    if (dropped === IDLE_PRIORITY) {
      this.update();
      return;
    }
    const i = this.findActive(vintid, cpuId);
    this.lastFlow = i < 0 ? 0 : this.lrFlow[i]!;
    if (i < 0) {
      if (vintid < LPI_BASE) this.incrementEoiCount();
    } else if ((group < 0 || this.lrGroup[i] === group) && this.groupPriority(this.lrPriority[i]!, this.lrGroup[i]!) === dropped) {
      if (!this.eoiMode || vintid >= LPI_BASE) this.deactivateLr(i);
    }
    this.update();
  }

  /**
   * Virtual DIR (IHI0069 12.3.6 ICV_DIR_EL1, IHI0048B 5.4 GICV_DIR): with
   * EOImode = 1 deactivates the matching LR or increments EOIcount; with
   * EOImode = 0 it is ignored (UNPREDICTABLE; ignoring is allowed).
   */
  deactivate(vintid: number, cpuId: number): void {
    if (isSpecialIntid(vintid) || !this.eoiMode) return;
    const i = this.findActive(vintid, cpuId);
    // An LPI has no active state: a DIR naming a directly injected vLPI matches nothing and counts nothing.
    if (i < 0) {
      if (vintid < LPI_BASE) this.incrementEoiCount();
    } else this.deactivateLr(i);
    this.update();
  }

  /** Running priority of the virtual interface (ICV_RPR_EL1, GICV_RPR). */
  runningPriority(): number {
    return this.apr.running();
  }

  saveState(): VirtualInterfaceState {
    return {
      lrVintid: Array.from(this.lrVintid),
      lrPfield: Array.from(this.lrPfield),
      lrPriority: Array.from(this.lrPriority),
      lrState: Array.from(this.lrState),
      lrGroup: Array.from(this.lrGroup),
      lrHw: Array.from(this.lrHw),
      hcr: this.hcr,
      eoiCount: this.eoiCount,
      vmcr: {
        eng0: this.eng0,
        eng1: this.eng1,
        ackCtl: this.ackCtl,
        fiqEn: this.fiqEn,
        cbpr: this.cbpr,
        eoiMode: this.eoiMode,
        bpr0: this.bpr0,
        bpr1: this.bpr1,
        pmr: this.pmr,
      },
      apr: Array.from(this.apr.bits),
    };
  }

  /** Length of the typed-array context {@link saveWords} writes: 11 words, then 2 per list register. */
  get contextWords(): number {
    return VCPU_WORDS_HEADER + 2 * this.listRegisters;
  }

  /**
   * Writes this virtual interface's context (HCR with EOIcount, VMCR,
   * active priorities, list registers) into `out` from `offset`, as
   * {@link contextWords} 32-bit words, allocating nothing (a hot vcpu_put).
   * Word 2 is left for the view's own bits (GICv3 trap controls). Not a
   * snapshot format: it is for this configuration and this version only.
   */
  saveWords(out: Uint32Array, offset: number): void {
    out[offset] = (this.hcr | (this.eoiCount << 27)) >>> 0;
    out[offset + 1] =
      (this.eng0 ? 1 : 0) |
      (this.eng1 ? 2 : 0) |
      (this.ackCtl ? 4 : 0) |
      (this.fiqEn ? 8 : 0) |
      (this.cbpr ? 16 : 0) |
      (this.eoiMode ? 32 : 0) |
      (this.bpr0 << 8) |
      (this.bpr1 << 12) |
      (this.pmr << 16);
    for (let i = 0; i < 8; i++) out[offset + 3 + i] = this.apr.bits[i]!;
    let o = offset + VCPU_WORDS_HEADER;
    for (let n = 0; n < this.listRegisters; n++) {
      out[o++] = this.lrVintid[n]!;
      out[o++] = (this.lrPfield[n]! | (this.lrPriority[n]! << 16) | (this.lrState[n]! << 24) | (this.lrGroup[n]! << 26) | (this.lrHw[n]! << 27)) >>> 0;
    }
  }

  /**
   * Loads a context written by {@link saveWords} (a hot vcpu_load). Fields
   * are masked to their widths and binary points raised to their minimum,
   * as register writes are, so no word can leave an impossible state.
   */
  loadWords(from: Uint32Array, offset: number): void {
    const h = from[offset]!;
    this.hcr = h & 0xff;
    this.eoiCount = (h >>> 27) & 31;
    const v = from[offset + 1]!;
    this.eng0 = (v & 1) !== 0;
    this.eng1 = (v & 2) !== 0;
    this.ackCtl = (v & 4) !== 0;
    this.fiqEn = (v & 8) !== 0;
    this.cbpr = (v & 16) !== 0;
    this.eoiMode = (v & 32) !== 0;
    this.bpr0 = Math.max((v >>> 8) & 7, this.minBpr0);
    this.bpr1 = Math.max((v >>> 12) & 7, this.minBpr0 + 1);
    this.pmr = (v >>> 16) & 0xff & this.priorityMask;
    for (let i = 0; i < 8; i++) this.apr.bits[i] = from[offset + 3 + i]!;
    this.apr.recompute();
    let o = offset + VCPU_WORDS_HEADER;
    for (let n = 0; n < this.listRegisters; n++) {
      this.lrVintid[n] = from[o++]!;
      const w = from[o++]!;
      this.lrPfield[n] = w & 0x1fff;
      this.lrPriority[n] = (w >>> 16) & 0xff & this.priorityMask;
      this.lrState[n] = (w >>> 24) & 3;
      this.lrGroup[n] = (w >>> 26) & 1;
      this.lrHw[n] = (w >>> 27) & 1;
      this.lrFlow[n] = 0;
    }
    this.update();
  }

  /** Validates a state from {@link saveState} and returns the change that loads it (nothing changes until it is called). */
  prepareRestore(r: StateReader): () => void {
    const n = this.listRegisters;
    const lrVintid = r.intArray('lrVintid', 0, 0xffff_ffff, n);
    const lrPfield = r.intArray('lrPfield', 0, 0x1fff, n);
    const lrPriority = r.intArray('lrPriority', 0, 0xff, n).map((p) => p & this.priorityMask);
    const lrState = r.intArray('lrState', 0, 3, n);
    const lrGroup = r.intArray('lrGroup', 0, 1, n);
    const lrHw = r.intArray('lrHw', 0, 1, n);
    const hcr = r.int('hcr', 0, 0xff);
    const eoiCount = r.int('eoiCount', 0, 31);
    const v = r.object('vmcr');
    const vmcr = {
      eng0: v.bool('eng0'),
      eng1: v.bool('eng1'),
      ackCtl: v.bool('ackCtl'),
      fiqEn: v.bool('fiqEn'),
      cbpr: v.bool('cbpr'),
      eoiMode: v.bool('eoiMode'),
      bpr0: v.int('bpr0', this.minBpr0, 7),
      bpr1: v.int('bpr1', this.minBpr0 + 1, 7),
      pmr: v.int('pmr', 0, 0xff) & this.priorityMask,
    };
    const apr = r.intArray('apr', 0, 0xffff_ffff, 8);
    return () => {
      this.lrVintid.set(lrVintid);
      this.lrPfield.set(lrPfield);
      this.lrPriority.set(lrPriority);
      this.lrState.set(lrState);
      this.lrGroup.set(lrGroup);
      this.lrHw.set(lrHw);
      this.lrFlow.fill(0);
      this.hcr = hcr;
      this.eoiCount = eoiCount;
      this.eng0 = vmcr.eng0;
      this.eng1 = vmcr.eng1;
      this.ackCtl = vmcr.ackCtl;
      this.fiqEn = vmcr.fiqEn;
      this.cbpr = vmcr.cbpr;
      this.eoiMode = vmcr.eoiMode;
      this.bpr0 = vmcr.bpr0;
      this.bpr1 = vmcr.bpr1;
      this.pmr = vmcr.pmr;
      this.apr.bits.set(apr);
      this.apr.recompute();
      this.update();
    };
  }
}
