/**
 * The physical CPU interface logic shared by the GICv2 GICC frame and the
 * GICv3 ICC_* system registers (IHI0048B 3.2-3.3, IHI0069 4.1, 4.4, 4.8):
 * group enables, priority mask, binary points, active priorities, the
 * highest-priority pending interrupt, acknowledge, EOI (priority drop, with
 * or without deactivation) and DIR, and the IRQ/FIQ outputs. The v2 and v3
 * views only translate register access into these calls.
 */
import { ActivePriorities, minimumBinaryPoint, IDLE_PRIORITY as IMPORTED_IDLE_PRIORITY, groupPriorityMask } from './priority.js';
import { INTID_SPURIOUS as IMPORTED_INTID_SPURIOUS, isSpecialIntid } from './intid.js';
import type { IrqEngine } from './irq-state.js';
import type { PendingSet } from './pending-set.js';
import type { StateReader } from '@hvsim/core';

/** Module-local copies: imported bindings are live getters under Node's ESM loader (hot paths read these). */
const IDLE_PRIORITY = IMPORTED_IDLE_PRIORITY;
const INTID_SPURIOUS = IMPORTED_INTID_SPURIOUS;

/** Output callbacks of a CPU interface. */
export interface CpuInterfaceOutputs {
  onIrq?: (cpu: number, asserted: boolean) => void;
  onFiq?: (cpu: number, asserted: boolean) => void;
  /** GICv3: an interrupt is waiting for a PE whose redistributor is asleep (IHI0069 11.1 WakeRequest). */
  onWakeRequest?: (cpu: number) => void;
}

/** Saved state of one physical CPU interface. */
export interface CpuInterfaceState {
  /** Group enables: bit 0 EnableGrp0, bit 1 EnableGrp1 (GICC_CTLR, ICC_IGRPEN0/1_EL1). */
  groupEnable: number;
  /** Priority mask (GICC_PMR, ICC_PMR_EL1), 0-255. */
  pmr: number;
  /** Group 0 binary point (GICC_BPR, ICC_BPR0_EL1). */
  bpr0: number;
  /** Group 1 binary point (GICC_ABPR, ICC_BPR1_EL1). */
  bpr1: number;
  /** Group 1 uses BPR0 (GICC_CTLR.CBPR, ICC_CTLR_EL1.CBPR). */
  cbpr: boolean;
  /** Group 0 EOI drops priority only (GICC_CTLR.EOImodeS, ICC_CTLR_EL1.EOImode). */
  eoiMode0: boolean;
  /** Group 1 EOI drops priority only (GICC_CTLR.EOImodeNS, ICC_CTLR_EL1.EOImode). */
  eoiMode1: boolean;
  /** GICv2 GICC_CTLR.AckCtl. */
  ackCtl: boolean;
  /** Group 0 signalled as FIQ (GICC_CTLR.FIQEn). */
  fiqEn: boolean;
  /** Active priority register words, Group 0 then Group 1 (GICC_APR, ICC_AP0R/AP1R). */
  apr: number[];
}

/** One physical CPU interface: enables, PMR, binary points, active priorities and the acknowledge/EOI logic. */
export class CpuInterfaceCore {
  /** Bit 0 EnableGrp0, bit 1 EnableGrp1 (GICC_CTLR, ICC_IGRPEN0/1_EL1). */
  groupEnable = 0;
  /** Priority mask (GICC_PMR, ICC_PMR_EL1); only priorities below it are signalled. */
  pmr = 0;
  private bpr0Value = 0;
  private bpr1Value = 0;
  private cbprValue = false;
  /** Group-priority masks of Group 0 and Group 1 under the current binary points, kept with them. */
  private gpMask0 = 0;
  private gpMask1 = 0;

  /** Group 0 binary point (GICC_BPR, ICC_BPR0_EL1). */
  get bpr0(): number {
    return this.bpr0Value;
  }

  set bpr0(v: number) {
    this.bpr0Value = v;
    this.recomputeMasks();
  }

  /** Group 1 binary point (GICC_ABPR, ICC_BPR1_EL1). */
  get bpr1(): number {
    return this.bpr1Value;
  }

  set bpr1(v: number) {
    this.bpr1Value = v;
    this.recomputeMasks();
  }

  /** Common binary point: Group 1 uses BPR0 (GICC_CTLR.CBPR, ICC_CTLR_EL1.CBPR). */
  get cbpr(): boolean {
    return this.cbprValue;
  }

  set cbpr(v: boolean) {
    this.cbprValue = v;
    this.recomputeMasks();
  }

  private recomputeMasks(): void {
    this.gpMask0 = groupPriorityMask(0, this.bpr0Value, this.bpr1Value, this.cbprValue);
    this.gpMask1 = groupPriorityMask(1, this.bpr0Value, this.bpr1Value, this.cbprValue);
  }
  /** Split priority drop and deactivation per group (EOImodeS/NS in v2, EOImode in v3). */
  eoiMode0 = false;
  /** Group 1 EOI drops priority only. */
  eoiMode1 = false;
  /** GICv2 GICC_CTLR.AckCtl: GICC_IAR may acknowledge Group 1. */
  ackCtl = false;
  /** Group 0 signalled as FIQ (GICv2 GICC_CTLR.FIQEn; always in GICv3 with DS = 1). */
  fiqEn = false;
  declare readonly apr: ActivePriorities;
  declare readonly minBpr0: number;
  private irq = false;
  private fiq = false;
  /** WakeRequest asserted: reported once per assertion. */
  private wake = false;
  /**
   * The interrupt the last {@link update} found signalled (its candidate key,
   * -1 when none), with its priority and group. Every change of this CPU's
   * candidates, enables, PMR, binary points or active priorities ends with
   * an update, so acknowledge uses these instead of selecting again.
   */
  private sigKey = -1;
  private sigPriority = 0;
  private sigGroup = 0;
  /** This CPU's candidate set (the engine's `candidates[cpu]`). */
  private declare readonly set: PendingSet;
  /**
   * 1 when somebody listens to the outputs (onIrq, onFiq or onWakeRequest given; numbers, not
   * booleans, for one-compare tests on hot paths). Without a
   * listener {@link update} only marks them {@link stale}, and they are computed when
   * read ({@link irqLevel}, {@link fiqLevel}) or needed ({@link acknowledge}): the
   * same values, evaluated once per acknowledge instead of once per state change.
   */
  private declare readonly eager: number;
  /** 1 when the outputs and the signalled interrupt may be out of date (only without a listener). */
  private stale = 0;

  // Fields assigned in the constructor are `declare`d: a class field would first be defined as
  // undefined, and V8 would then lose their type (map checks and generic tests on every use).
  private declare readonly engine: IrqEngine;
  declare readonly cpu: number;
  declare readonly priorityBits: number;
  /** GICv2 carries the SGI source CPU in IAR bits [12:10]. */
  private declare readonly sgiSourceInIar: number;
  private declare readonly outputs: CpuInterfaceOutputs;

  constructor(engine: IrqEngine, cpu: number, priorityBits: number, sgiSourceInIar: boolean, outputs: CpuInterfaceOutputs) {
    this.engine = engine;
    this.cpu = cpu;
    this.priorityBits = priorityBits;
    this.sgiSourceInIar = sgiSourceInIar ? 1 : 0;
    this.outputs = outputs;
    this.set = engine.candidates[cpu]!;
    this.eager = outputs.onIrq !== undefined || outputs.onFiq !== undefined || outputs.onWakeRequest !== undefined ? 1 : 0;
    const pre = Math.min(priorityBits, 7);
    this.apr = new ActivePriorities(pre);
    this.minBpr0 = minimumBinaryPoint(pre);
    this.bpr0 = this.minBpr0;
    this.bpr1 = this.minBpr0 + 1;
  }

  /** Reset values (IHI0048B 4.4, IHI0069 12.2): everything disabled, PMR 0, minimum binary points. */
  reset(): void {
    this.groupEnable = 0;
    this.pmr = 0;
    this.bpr0 = this.minBpr0;
    this.bpr1 = this.minBpr0 + 1;
    this.cbpr = false;
    this.eoiMode0 = false;
    this.eoiMode1 = false;
    this.ackCtl = false;
    this.apr.reset();
    this.update();
  }

  /** The IRQ output. */
  get irqLevel(): boolean {
    if (this.stale === 1) this.evaluate();
    return this.irq;
  }

  /** The FIQ output. */
  get fiqLevel(): boolean {
    if (this.stale === 1) this.evaluate();
    return this.fiq;
  }

  /** Group priority of `priority` for an interrupt of `group` under the current binary points. */
  groupPriority(priority: number, group: number): number {
    return priority & (group === 0 ? this.gpMask0 : this.gpMask1);
  }

  /** The running priority (GICC_RPR, ICC_RPR_EL1). */
  runningPriority(): number {
    return this.apr.running();
  }

  /** Highest-priority pending interrupt of an enabled group, or -1. */
  hppi(): number {
    if (this.engine.asleep[this.cpu] === 1) return -1;
    return this.engine.best(this.cpu, this.groupEnable);
  }

  /**
   * Every change of this CPU's candidates, enables, PMR, binary points or
   * active priorities ends here: recomputes the IRQ and FIQ outputs (and the
   * signalled interrupt acknowledge takes) and reports changes; without a
   * listener, marks them stale instead.
   */
  update(): void {
    if (this.eager === 1) this.evaluate();
    else this.stale = 1;
  }

  /** Recomputes the IRQ and FIQ outputs and the signalled interrupt, reporting output changes. */
  private evaluate(): void {
    this.stale = 0;
    const e = this.engine;
    if (e.asleep[this.cpu] === 1) {
      this.updateAsleep();
      return;
    }
    this.wake = false;
    const set = this.set;
    // The best bucket (priority << 1 | group) holds the priority and group its keys were inserted with.
    const bucket = set.bestBucket(this.groupEnable & e.distEnable);
    const prio = bucket >>> 1;
    const group = bucket & 1;
    if (bucket >= 0 && prio < this.pmr && (prio & (group === 0 ? this.gpMask0 : this.gpMask1)) < this.apr.running()) {
      this.sigKey = set.first(bucket);
      this.sigPriority = prio;
      this.sigGroup = group;
      // Group 0 is FIQ when FIQEn (always in GICv3), everything else IRQ.
      const fiq = group === 0 && this.fiqEn;
      if (fiq !== this.fiq || fiq === this.irq) this.setOutputs(!fiq, fiq);
      return;
    }
    this.sigKey = -1;
    if (this.irq || this.fiq) this.setOutputs(false, false);
  }

  /** {@link update} while the redistributor sleeps: nothing is signalled; WakeRequest while something waits. */
  private updateAsleep(): void {
    const e = this.engine;
    this.sigKey = -1;
    const wake = this.set.best(e.distEnable) >= 0;
    if (wake && !this.wake) this.outputs.onWakeRequest?.(this.cpu);
    this.wake = wake;
    this.setOutputs(false, false);
  }

  /** Drives the IRQ and FIQ outputs to `irq` and `fiq`, reporting each change. */
  private setOutputs(irq: boolean, fiq: boolean): void {
    if (irq !== this.irq) {
      this.irq = irq;
      this.outputs.onIrq?.(this.cpu, irq);
    }
    if (fiq !== this.fiq) {
      this.fiq = fiq;
      this.outputs.onFiq?.(this.cpu, fiq);
    }
  }

  /**
   * HPPIR (IHI0048B 4.4.7, IHI0069 12.2.11-12.2.12): the HPPI's INTID when its group
   * is in `groups` (bit mask), else `otherGroup` (1022 or 1023); 1023 when
   * nothing is pending. No side effects; the priority mask does not apply.
   */
  highestPending(groups: number, otherGroup: number): number {
    const best = this.hppi();
    if (best < 0) return INTID_SPURIOUS;
    if (((groups >>> this.engine.keyGroup(this.cpu, best)) & 1) === 0) return otherGroup;
    return best < 16 && this.sgiSourceInIar === 1 ? best | (this.lowestSgiSource(best) << 10) : this.engine.keyIntid(best);
  }

  private lowestSgiSource(sgi: number): number {
    const mask = this.engine.sgiSources[this.cpu * 16 + sgi]!;
    return mask === 0 ? 0 : 31 - Math.clz32(mask & -mask);
  }

  /**
   * IAR read (IHI0048B 4.4.4, IHI0069 12.2.13-12.2.14): acknowledges the HPPI if its
   * group is in `groups` and it has sufficient priority; otherwise returns
   * `otherGroup` (wrong group) or 1023.
   */
  acknowledge(groups: number, otherGroup: number): number {
    const e = this.engine;
    if (this.stale === 1) this.evaluate();
    const best = this.sigKey;
    if (best < 0) return INTID_SPURIOUS;
    const group = this.sigGroup;
    if (((groups >>> group) & 1) === 0) return otherGroup;
    this.apr.activate(this.sigPriority & (group === 0 ? this.gpMask0 : this.gpMask1), group);
    e.quietCpu = this.cpu;
    const source = e.acknowledgeKey(this.cpu, best);
    e.quietCpu = -1;
    this.update();
    return this.sgiSourceInIar === 1 && best < 16 ? best | (source << 10) : e.keyIntid(best);
  }

  /**
   * EOIR write (IHI0048B 4.4.5, IHI0069 12.2.9-12.2.10): priority drop of the highest
   * active priority, and deactivation of `intid` unless EOImode splits them
   * for its group. Special INTIDs are ignored; an INTID with no active state
   * here (an LPI, or an INTID beyond this configuration) only drops priority.
   */
  endOfInterrupt(intid: number): void {
    if (isSpecialIntid(intid)) return;
    // No active priority: the EOI is UNPREDICTABLE; we ignore it (IHI0069 4.4.4).
    if (this.apr.drop() === IDLE_PRIORITY) return;
    const e = this.engine;
    if (e.implemented(intid)) {
      // EOImode of the interrupt's group (GICv3 with DS = 1 has one for both: no group lookup).
      const split = this.eoiMode0 === this.eoiMode1 ? this.eoiMode0 : e.group[e.slot(this.cpu, intid)] === 0 ? this.eoiMode0 : this.eoiMode1;
      if (!split) this.deactivateQuietly(intid);
    }
    this.update();
  }

  /** DIR write (IHI0048B 4.4.15, IHI0069 12.2.8): deactivation alone, meaningful with EOImode = 1. */
  deactivate(intid: number): void {
    if (isSpecialIntid(intid) || !this.engine.implemented(intid)) return;
    this.deactivateQuietly(intid);
    this.update();
  }

  /** Deactivates implemented `intid` (nothing when it is not active) without the engine calling back: the caller updates. */
  private deactivateQuietly(intid: number): void {
    const e = this.engine;
    e.quietCpu = this.cpu;
    e.deactivate(this.cpu, intid);
    e.quietCpu = -1;
  }

  saveState(): CpuInterfaceState {
    const apr: number[] = [];
    for (let i = 0; i < 8; i++) apr.push(this.apr.bits[i]!);
    return {
      groupEnable: this.groupEnable,
      pmr: this.pmr,
      bpr0: this.bpr0,
      bpr1: this.bpr1,
      cbpr: this.cbpr,
      eoiMode0: this.eoiMode0,
      eoiMode1: this.eoiMode1,
      ackCtl: this.ackCtl,
      fiqEn: this.fiqEn,
      apr,
    };
  }

  /** Validates a state from {@link saveState} and returns the change that loads it (nothing changes until it is called). */
  prepareRestore(r: StateReader): () => void {
    const groupEnable = r.int('groupEnable', 0, 3);
    const pmr = r.int('pmr', 0, 0xff);
    const bpr0 = r.int('bpr0', this.minBpr0, 7);
    const bpr1 = r.int('bpr1', this.minBpr0 + 1, 7);
    const cbpr = r.bool('cbpr');
    const eoiMode0 = r.bool('eoiMode0');
    const eoiMode1 = r.bool('eoiMode1');
    const ackCtl = r.bool('ackCtl');
    const fiqEn = r.bool('fiqEn');
    const apr = r.intArray('apr', 0, 0xffff_ffff, 8);
    return () => {
      this.groupEnable = groupEnable;
      this.pmr = pmr;
      this.bpr0 = bpr0;
      this.bpr1 = bpr1;
      this.cbpr = cbpr;
      this.eoiMode0 = eoiMode0;
      this.eoiMode1 = eoiMode1;
      this.ackCtl = ackCtl;
      this.fiqEn = fiqEn;
      this.apr.bits.set(apr);
      this.apr.recompute();
    };
  }

}
