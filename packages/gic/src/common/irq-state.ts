/**
 * The interrupt state machine shared by GICv2 and GICv3 (IHI0048B 1.4.2 and
 * 3.2.4, IHI0069 4.1.2 "Interrupt lifecycle"): per interrupt (banked per CPU
 * for SGIs and PPIs) the enable, the pending latch, the input line level,
 * the active bit, edge/level configuration, group and priority; plus SPI
 * routing and, for GICv2, SGI pending state per source CPU.
 *
 * State is kept decoded in typed arrays (one slot per private interrupt per
 * CPU, then one per SPI); registers are views over it. Every change calls
 * {@link IrqEngine.refresh}, which keeps each CPU's {@link PendingSet} equal
 * to the set of interrupts that are enabled, pending, not active and routed
 * to that CPU, so that selection never scans.
 */
import { SnapshotError, UsageError, bytesToBase64, base64ToBytes, describeValue, type StateReader } from '@hvsim/core';
import { PendingSet } from './pending-set.js';
import { PRIVATE_COUNT as IMPORTED_PRIVATE_COUNT, SGI_COUNT as IMPORTED_SGI_COUNT, SPI_BASE as IMPORTED_SPI_BASE } from './intid.js';

/** Module-local copies: imported bindings are live getters under Node's ESM loader (hot paths read these). */
const PRIVATE_COUNT = IMPORTED_PRIVATE_COUNT;
const SGI_COUNT = IMPORTED_SGI_COUNT;
const SPI_BASE = IMPORTED_SPI_BASE;

/** SPI routing models: GICv2 target lists or GICv3 affinity routing. */
export type RoutingModel = 'targets' | 'affinity';

/** `routeCpu` value: no PE has the routed affinity, so the SPI is not forwarded. */
export const ROUTE_NONE = -1;
/** `routeCpu` value: 1-of-N, any participating PE (GICD_IROUTER.Interrupt_Routing_Mode = 1). */
export const ROUTE_ANY = -2;

/**
 * Interrupts whose state lives outside the engine's arrays — the LPIs of
 * GICv3, whose configuration and pending bits live in memory tables owned by
 * a redistributor. A source puts its pending, enabled interrupts in the CPU's
 * {@link PendingSet} under keys from {@link firstKey} up (growing the set),
 * and the CPU interface asks it for their priority and group and tells it
 * when one is acknowledged. LPIs have no active state, so EOI only drops
 * priority.
 */
export interface CandidateSource {
  /** Lowest candidate key the source owns (at least the engine's `lines`). */
  readonly firstKey: number;
  priority(cpu: number, key: number): number;
  group(cpu: number, key: number): number;
  /** The INTID a key stands for. */
  intid(key: number): number;
  /** The key was acknowledged on `cpu`: clear its pending state and remove it from the candidates. */
  acknowledge(cpu: number, key: number): void;
}

/** Construction options of {@link IrqEngine}. */
export interface IrqEngineOptions {
  cpus: number;
  /** Number of SPIs (a multiple of 32, at most 988). */
  spis: number;
  /** Implemented priority bits (4-8). */
  priorityBits: number;
  routing: RoutingModel;
}

/** Saved part of the engine, embedded in a GIC's state. */
export interface IrqEngineState {
  /** Per slot (private INTIDs banked per CPU, then SPIs), the enable bit (GICD_ISENABLER), base64 bytes. */
  enabled: string;
  /** Per slot, the pending latch set by an edge, a set-pending or a message, base64 bytes. */
  latch: string;
  /** Per slot, the input line level, base64 bytes. */
  level: string;
  /** Per slot, the active bit (GICD_ISACTIVER), base64 bytes. */
  active: string;
  /** Per slot, 1 for edge-triggered (GICD_ICFGR Int_config[1]), base64 bytes. */
  edge: string;
  /** Per slot, the group (GICD_IGROUPR), base64 bytes. */
  group: string;
  /** Per slot, the priority (GICD_IPRIORITYR), base64 bytes. */
  priority: string;
  /** Per SPI, GICv2 GICD_ITARGETSR (bit n = CPU interface n), base64 bytes. */
  targetMask: string;
  /** Per SPI, GICv3 routing: a CPU index, -1 for none or -2 for 1-of-N. */
  routeCpu: number[];
  /** GICv2: per (target CPU, SGI) the mask of source CPUs with the SGI pending, base64 bytes. */
  sgiSources: string;
  /** GICv2: per (target CPU, SGI) the source CPU of the active SGI, -1 when none. */
  sgiActiveSource: number[];
  /** Per CPU, 1 when its redistributor is asleep (GICR_WAKER.ProcessorSleep), base64 bytes. */
  asleep: string;
  /** Distributor group enables: bit 0 Group 0, bit 1 Group 1. */
  distEnable: number;
  /**
   * Per CPU, the candidate keys in selection order (IHI0069 4.1.1 leaves the
   * order among equal priorities IMPLEMENTATION DEFINED; this model serves
   * the first pending first, and keeps that order across a snapshot).
   * Absent in older states: INTID order.
   */
  order?: number[][];
}

/** Interrupt state for every CPU and SPI, with per-CPU candidate sets kept current. */
export class IrqEngine {
  // Fields assigned in the constructor are `declare`d: a class field would first be defined as
  // undefined, and V8 would then lose their type (map checks and generic tests on every use).
  declare readonly cpus: number;
  declare readonly spis: number;
  /** 32 + spis: the INTIDs below this are implemented. */
  declare readonly lines: number;
  declare readonly routing: RoutingModel;
  /** `routing === 'affinity'` as 1 (else 0): a number, so hot paths test it with one compare. */
  private declare readonly affinityRouting: number;
  /** `cpus * 32`: the slot of the first SPI. */
  private declare readonly privateSlots: number;
  /** Mask of implemented priority bits. */
  declare readonly priorityMask: number;

  declare readonly enabled: Uint8Array;
  /** Pending latch: set by an edge, a software set-pending or a message; cleared on acknowledge or clear-pending. */
  declare readonly latch: Uint8Array;
  /** Current level of the input line (level-sensitive pending follows it). */
  declare readonly level: Uint8Array;
  declare readonly active: Uint8Array;
  /** 1 = edge-triggered, 0 = level-sensitive (GICD_ICFGR Int_config[1]). */
  declare readonly edge: Uint8Array;
  declare readonly group: Uint8Array;
  declare readonly priority: Uint8Array;
  /** GICv2 GICD_ITARGETSR per SPI: bit n = CPU interface n. */
  declare readonly targetMask: Uint8Array;
  /** GICv3 routing per SPI: a CPU index, {@link ROUTE_NONE} or {@link ROUTE_ANY}. */
  declare readonly routeCpu: Int32Array;
  /** GICv2 SGIs: per (target CPU, SGI) the mask of source CPUs with the SGI pending (IHI0048B 3.2.4). */
  declare readonly sgiSources: Uint8Array;
  /** GICv2 SGIs: source CPU of the active SGI per (target CPU, SGI), -1 when none. */
  declare readonly sgiActiveSource: Int8Array;
  /** 1 when the CPU's redistributor is asleep (GICR_WAKER.ProcessorSleep): not forwarded to, not 1-of-N eligible. */
  declare readonly asleep: Uint8Array;
  /** Distributor group enables: bit 0 Group 0, bit 1 Group 1. */
  distEnable = 0;
  /** Per-CPU candidate sets: enabled, pending, not active, routed here. */
  declare readonly candidates: PendingSet[];
  /** Called when a CPU's candidates or enables changed, to update its outputs. */
  onChange: (cpu: number) => void = () => undefined;
  /** A CPU interface updating itself after its own operation; its notifications are skipped meanwhile. */
  quietCpu = -1;
  /** Candidates beyond the SPI range (LPIs), when a source is attached. */
  extension: CandidateSource | undefined = undefined;

  constructor(options: IrqEngineOptions) {
    const { cpus, spis, priorityBits, routing } = options;
    this.cpus = cpus;
    this.spis = spis;
    this.lines = SPI_BASE + spis;
    this.routing = routing;
    this.affinityRouting = routing === 'affinity' ? 1 : 0;
    this.privateSlots = cpus * PRIVATE_COUNT;
    this.priorityMask = (0xff << (8 - priorityBits)) & 0xff;
    const slots = cpus * PRIVATE_COUNT + spis;
    this.enabled = new Uint8Array(slots);
    this.latch = new Uint8Array(slots);
    this.level = new Uint8Array(slots);
    this.active = new Uint8Array(slots);
    this.edge = new Uint8Array(slots);
    this.group = new Uint8Array(slots);
    this.priority = new Uint8Array(slots);
    this.targetMask = new Uint8Array(spis);
    this.routeCpu = new Int32Array(spis);
    this.sgiSources = new Uint8Array(cpus * SGI_COUNT);
    this.sgiActiveSource = new Int8Array(cpus * SGI_COUNT).fill(-1);
    this.asleep = new Uint8Array(cpus);
    this.candidates = [];
    for (let c = 0; c < cpus; c++) this.candidates.push(new PendingSet(this.lines));
    this.resetState();
  }

  /** Reset values (IHI0048B 4.3, IHI0069 12.9): SGIs edge, everything else level, all disabled, priority 0, Group 0. */
  resetState(): void {
    for (const a of [this.enabled, this.latch, this.level, this.active, this.edge, this.group, this.priority, this.targetMask, this.sgiSources]) a.fill(0);
    this.routeCpu.fill(0);
    this.sgiActiveSource.fill(-1);
    this.distEnable = 0;
    for (let c = 0; c < this.cpus; c++) for (let i = 0; i < SGI_COUNT; i++) this.edge[c * PRIVATE_COUNT + i] = 1;
    for (const set of this.candidates) set.clear();
  }

  /** Slot of (cpu, intid); private INTIDs are banked per CPU. */
  slot(cpu: number, intid: number): number {
    return intid < PRIVATE_COUNT ? cpu * PRIVATE_COUNT + intid : this.privateSlots + intid - SPI_BASE;
  }

  /** True when `intid` is implemented (below 32 + spis). */
  implemented(intid: number): boolean {
    return intid >= 0 && intid < this.lines;
  }

  /** Pending state as GICD_ISPENDR reads it (IHI0048B 3.2.4: level pending follows the line or the latch). */
  isPending(cpu: number, intid: number): boolean {
    if (intid < SGI_COUNT && this.affinityRouting === 0) return this.sgiSources[cpu * SGI_COUNT + intid] !== 0;
    const s = this.slot(cpu, intid);
    return this.latch[s] === 1 || (this.level[s] === 1 && this.edge[s] === 0);
  }

  /** True when SPI `intid` is routed to `cpu`. */
  private targets(cpu: number, spi: number): boolean {
    if (this.affinityRouting === 0) return ((this.targetMask[spi]! >>> cpu) & 1) === 1;
    const r = this.routeCpu[spi]!;
    return r === cpu || (r === ROUTE_ANY && this.asleep[cpu] === 0);
  }

  /**
   * Recomputes whether `intid` is a candidate on `cpu` (private) or on the
   * CPUs it is routed to (SPI), and tells the CPUs whose candidates changed.
   * An SPI routed to one PE (GICv3 GICD_IROUTER with a PE's affinity) is
   * placed on that PE alone; a change of routing itself goes through
   * {@link refreshRoute}, which looks at every CPU.
   */
  refresh(cpu: number, intid: number): void {
    if (intid < PRIVATE_COUNT) {
      const s = cpu * PRIVATE_COUNT + intid;
      const want = this.enabled[s] === 1 && this.active[s] === 0 && this.isPending(cpu, intid);
      if (this.place(cpu, intid, s, want) && cpu !== this.quietCpu) this.onChange(cpu);
      return;
    }
    const spi = intid - SPI_BASE;
    const r = this.affinityRouting === 1 ? this.routeCpu[spi]! : ROUTE_NONE;
    if (r < 0) {
      this.refreshRoute(intid);
      return;
    }
    const s = this.privateSlots + spi;
    if (this.enabled[s] === 1 && this.active[s] === 0 && (this.latch[s] === 1 || (this.level[s] === 1 && this.edge[s] === 0))) this.enterSet(r, intid, s);
    else this.leaveSet(r, intid);
  }

  /** Puts `intid` (slot `s`) in `cpu`'s candidate set (at its priority and group) and tells the CPU if that changed it. */
  private enterSet(cpu: number, intid: number, s: number): void {
    if (this.candidates[cpu]!.insert(intid, this.priority[s]!, this.group[s]!) && cpu !== this.quietCpu) this.onChange(cpu);
  }

  /** Takes `intid` out of `cpu`'s candidate set and tells the CPU if it was there. */
  private leaveSet(cpu: number, intid: number): void {
    if (this.candidates[cpu]!.remove(intid) && cpu !== this.quietCpu) this.onChange(cpu);
  }

  /** The one PE whose set holds `intid` when it is a candidate: `cpu` for SGIs and PPIs, the routed PE for an SPI; -1 when the SPI may be on several (1-of-N, GICv2 targets) or none. */
  private ownerOf(cpu: number, intid: number): number {
    if (intid < PRIVATE_COUNT) return cpu;
    return this.affinityRouting === 1 ? this.routeCpu[intid - SPI_BASE]! : ROUTE_NONE;
  }

  /** {@link refresh} of SPI `intid` on every CPU: after its routing changed (GICD_IROUTER, GICD_ITARGETSR, a PE's sleep state). */
  refreshRoute(intid: number): void {
    const spi = intid - SPI_BASE;
    const s = this.privateSlots + spi;
    const cand = this.enabled[s] === 1 && this.active[s] === 0 && (this.latch[s] === 1 || (this.level[s] === 1 && this.edge[s] === 0));
    for (let c = 0; c < this.cpus; c++) {
      if (this.place(c, intid, s, cand && this.targets(c, spi)) && c !== this.quietCpu) this.onChange(c);
    }
  }

  private place(cpu: number, key: number, s: number, want: boolean): boolean {
    const set = this.candidates[cpu]!;
    return want ? set.insert(key, this.priority[s]!, this.group[s]!) : set.remove(key);
  }

  /**
   * Rebuilds every candidate set from the state (after restore or a
   * routing-wide change); with `order` (per CPU, from a saved state) the
   * equal-priority order is put back as saved. Each CPU is told once, at the end.
   */
  refreshAll(order?: readonly (readonly number[])[]): void {
    const notify = this.onChange;
    this.onChange = () => undefined;
    try {
      for (let c = 0; c < this.cpus; c++) for (let i = 0; i < PRIVATE_COUNT; i++) this.refresh(c, i);
      for (let i = SPI_BASE; i < this.lines; i++) this.refreshRoute(i);
      if (order !== undefined) for (let c = 0; c < this.cpus; c++) this.candidates[c]!.reorder(order[c] ?? []);
    } finally {
      this.onChange = notify;
    }
    for (let c = 0; c < this.cpus; c++) notify(c);
  }

  /** Drives the input line of `intid` (IHI0048B 1.4.2): a rising edge latches an edge-triggered interrupt. */
  setLine(cpu: number, intid: number, asserted: boolean): void {
    const s = this.slot(cpu, intid);
    const v = asserted ? 1 : 0;
    if (this.level[s] === v) return;
    this.level[s] = v;
    if (v === 1 && this.edge[s] === 1) this.latch[s] = 1;
    this.refresh(cpu, intid);
  }

  /** Software set-pending (GICD_ISPENDR, GICD_SETSPI_NSR for edge, SGI generation in GICv3). */
  setPending(cpu: number, intid: number): void {
    const s = this.slot(cpu, intid);
    // Already latched: nothing the candidate sets depend on changes.
    if (this.latch[s] === 1) return;
    this.latch[s] = 1;
    this.latched(cpu, intid, s);
  }

  /** The rest of {@link setPending} once slot `s` of `intid` has latched pending. */
  private latched(cpu: number, intid: number, s: number): void {
    // Disabled or active: no candidate before or after.
    if (this.enabled[s] === 0 || this.active[s] === 1) return;
    if (intid < SGI_COUNT && this.affinityRouting === 0) {
      this.refresh(cpu, intid);
      return;
    }
    // Enabled, inactive and now pending: a candidate where it is routed.
    const owner = this.ownerOf(cpu, intid);
    if (owner < 0) this.refreshRoute(intid);
    else this.enterSet(owner, intid, s);
  }

  /**
   * A set-pending message for implemented SPI `intid` (GICD_SETSPI_NSR,
   * IHI0069 12.9.33): an edge-triggered SPI latches pending, a
   * level-sensitive one has its line asserted.
   */
  raiseSpi(intid: number): void {
    const s = this.privateSlots + intid - SPI_BASE;
    if (this.edge[s] === 0) {
      this.setLine(0, intid, true);
      return;
    }
    // Already latched: nothing the candidate sets depend on changes.
    if (this.latch[s] === 1) return;
    this.latch[s] = 1;
    if (this.enabled[s] === 0 || this.active[s] === 1) return;
    // Enabled, inactive and now pending: a candidate where it is routed (one PE, or see refreshRoute).
    const r = this.affinityRouting === 1 ? this.routeCpu[intid - SPI_BASE]! : ROUTE_NONE;
    if (r < 0) this.refreshRoute(intid);
    else this.enterSet(r, intid, s);
  }

  /** Software clear-pending (GICD_ICPENDR): a level-sensitive interrupt stays pending while its line is high. */
  clearPending(cpu: number, intid: number): void {
    this.latch[this.slot(cpu, intid)] = 0;
    this.refresh(cpu, intid);
  }

  /** GICv2 SGI made pending on `target` by `source` (GICD_SGIR, GICD_SPENDSGIR). */
  setSgiPending(target: number, sgi: number, source: number): void {
    this.sgiSources[target * SGI_COUNT + sgi]! |= 1 << source;
    this.refresh(target, sgi);
  }

  /** GICv2 GICD_CPENDSGIR: clears the pending state of `sgi` from the sources in `mask`. */
  clearSgiPending(target: number, sgi: number, mask: number): void {
    this.sgiSources[target * SGI_COUNT + sgi]! &= ~mask;
    this.refresh(target, sgi);
  }

  setEnabled(cpu: number, intid: number, on: boolean): void {
    this.enabled[this.slot(cpu, intid)] = on ? 1 : 0;
    this.refresh(cpu, intid);
  }

  setActive(cpu: number, intid: number, on: boolean): void {
    this.active[this.slot(cpu, intid)] = on ? 1 : 0;
    this.refresh(cpu, intid);
  }

  setGroup(cpu: number, intid: number, group: number): void {
    this.group[this.slot(cpu, intid)] = group;
    this.refresh(cpu, intid);
  }

  /** Writes a priority, keeping only the implemented bits (IHI0048B 3.3.1). */
  setPriority(cpu: number, intid: number, value: number): void {
    this.priority[this.slot(cpu, intid)] = value & this.priorityMask;
    this.refresh(cpu, intid);
  }

  /** Sets edge (true) or level configuration; SGIs are always edge. */
  setEdge(cpu: number, intid: number, edge: boolean): void {
    this.edge[this.slot(cpu, intid)] = edge ? 1 : 0;
    this.refresh(cpu, intid);
  }

  /**
   * Acknowledge (IHI0048B 3.2.4, IHI0069 4.1.2): pending becomes active (or
   * active and pending for a level-sensitive interrupt whose line is still
   * high, or a GICv2 SGI pending from other sources too). Returns the source
   * CPU for a GICv2 SGI, 0 otherwise.
   */
  acknowledge(cpu: number, intid: number): number {
    if (intid < SGI_COUNT && this.affinityRouting === 0) return this.acknowledgeSgiV2(cpu, intid);
    const s = this.slot(cpu, intid);
    this.latch[s] = 0;
    this.active[s] = 1;
    this.dropCandidate(cpu, intid);
    return 0;
  }

  /** {@link acknowledge} of a GICv2 SGI: its lowest pending source becomes the active one (IHI0048B 3.2.4). */
  private acknowledgeSgiV2(cpu: number, intid: number): number {
    const i = cpu * SGI_COUNT + intid;
    const mask = this.sgiSources[i]!;
    const source = 31 - Math.clz32(mask & -mask);
    this.sgiSources[i] = mask & ~(1 << source);
    this.sgiActiveSource[i] = source;
    this.active[cpu * PRIVATE_COUNT + intid] = 1;
    this.dropCandidate(cpu, intid);
    return source;
  }

  /**
   * `intid` became active, so it is a candidate nowhere: removes it from the
   * set that holds it (what {@link refresh} would conclude, without
   * recomputing its state).
   */
  private dropCandidate(cpu: number, intid: number): void {
    const owner = this.ownerOf(cpu, intid);
    if (owner < 0) this.refreshRoute(intid);
    else this.leaveSet(owner, intid);
  }

  /** Deactivation (IHI0069 4.1.2): active becomes inactive, active and pending becomes pending. */
  deactivate(cpu: number, intid: number): void {
    const s = this.slot(cpu, intid);
    if (this.active[s] === 0) return;
    this.active[s] = 0;
    if (intid < SGI_COUNT) {
      this.sgiActiveSource[cpu * SGI_COUNT + intid] = -1;
      // GICv2 SGIs pend per source (refresh reads them); GICv3 SGIs by the latch, as below.
      if (this.affinityRouting === 0) {
        this.refresh(cpu, intid);
        return;
      }
    }
    // Not enabled or not pending: it stays out of the candidate sets, as it was while active.
    if (this.enabled[s] === 1 && (this.latch[s] === 1 || (this.level[s] === 1 && this.edge[s] === 0))) this.refresh(cpu, intid);
  }

  // --- list-register exchange for an emulated distributor (KVM's vGIC: vgic_v3_populate_lr / fold_lr_state)

  /**
   * The state `intid` has for `cpu` as a list register would carry it: bit 0
   * pending, bit 1 active (LR_STATE), and for a GICv2 SGI the source CPU in
   * bits [4:2]. The pending state moves into the list register: an
   * edge-triggered or software pending latch is consumed (a level-sensitive
   * interrupt stays pending while its line is high, as KVM keeps it), and a
   * GICv2 SGI gives up its lowest pending source.
   */
  take(cpu: number, intid: number): number {
    const s = this.slot(cpu, intid);
    const active = this.active[s]!;
    if (intid < SGI_COUNT && this.affinityRouting === 0) {
      const i = cpu * SGI_COUNT + intid;
      const mask = this.sgiSources[i]!;
      if (mask === 0) return active === 1 ? 2 | (Math.max(this.sgiActiveSource[i]!, 0) << 2) : 0;
      const source = 31 - Math.clz32(mask & -mask);
      this.sgiSources[i] = mask & ~(1 << source);
      this.refresh(cpu, intid);
      return 1 | (active << 1) | (source << 2);
    }
    const pending = this.isPending(cpu, intid) ? 1 : 0;
    if (pending === 1 && this.edge[s] === 1) {
      this.latch[s] = 0;
      this.refresh(cpu, intid);
    }
    return pending | (active << 1);
  }

  /**
   * Folds a list register's state back (`state` bit 0 pending, bit 1 active;
   * `source` the GICv2 SGI source): active follows the list register; a
   * still-pending edge interrupt is pending again; a level-sensitive
   * interrupt the guest acknowledged loses its software pending latch.
   */
  fold(cpu: number, intid: number, state: number, source: number): void {
    const s = this.slot(cpu, intid);
    const pending = (state & 1) !== 0;
    const active = (state & 2) !== 0;
    if (intid < SGI_COUNT && this.affinityRouting === 0) {
      const i = cpu * SGI_COUNT + intid;
      if (pending) this.sgiSources[i]! |= 1 << source;
      if (active) this.sgiActiveSource[i] = source;
      else if (this.sgiActiveSource[i] === source) this.sgiActiveSource[i] = -1;
      this.active[s] = active || this.sgiActiveSource[i]! >= 0 ? 1 : 0;
    } else {
      this.active[s] = active ? 1 : 0;
      if (this.edge[s] === 1) {
        if (pending) this.latch[s] = 1;
      } else if (!pending) {
        this.latch[s] = 0;
      }
    }
    this.refresh(cpu, intid);
  }

  /** True when active SPI `spi` (index from 0) belongs to `cpu`: routed or targeted there. */
  ownsSpi(cpu: number, spi: number): boolean {
    return this.targets(cpu, spi);
  }

  /** Priority of candidate `key` on `cpu`. */
  keyPriority(cpu: number, key: number): number {
    return key < this.lines ? this.priority[this.slot(cpu, key)]! : this.extension!.priority(cpu, key);
  }

  /** Group of candidate `key` on `cpu`. */
  keyGroup(cpu: number, key: number): number {
    return key < this.lines ? this.group[this.slot(cpu, key)]! : this.extension!.group(cpu, key);
  }

  /** INTID of candidate `key`. */
  keyIntid(key: number): number {
    return key < this.lines ? key : this.extension!.intid(key);
  }

  /** Acknowledges candidate `key` on `cpu`; returns the GICv2 SGI source (0 otherwise). */
  acknowledgeKey(cpu: number, key: number): number {
    if (key < this.lines) return this.acknowledge(cpu, key);
    this.extension!.acknowledge(cpu, key);
    return 0;
  }

  /** Highest-priority candidate of `cpu` among the groups in `groupMask`, or -1. */
  best(cpu: number, groupMask: number): number {
    return this.candidates[cpu]!.best(groupMask & this.distEnable);
  }

  /** Checks an INTID argument of the public API. */
  checkIntid(intid: number, min: number, what: string): void {
    if (!Number.isInteger(intid) || intid < min || intid >= this.lines) {
      throw new UsageError('bad-argument', `${what} must be an integer INTID in [${min}, ${this.lines - 1}], got ${describeValue(intid)}`);
    }
  }

  /** Checks a CPU index argument. */
  checkCpu(cpu: number): void {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.cpus) {
      throw new UsageError('bad-argument', `cpu must be an integer in [0, ${this.cpus - 1}], got ${describeValue(cpu)}`);
    }
  }

  saveState(): IrqEngineState {
    return {
      enabled: bytesToBase64(this.enabled),
      latch: bytesToBase64(this.latch),
      level: bytesToBase64(this.level),
      active: bytesToBase64(this.active),
      edge: bytesToBase64(this.edge),
      group: bytesToBase64(this.group),
      priority: bytesToBase64(this.priority),
      targetMask: bytesToBase64(this.targetMask),
      routeCpu: Array.from(this.routeCpu),
      sgiSources: bytesToBase64(this.sgiSources),
      sgiActiveSource: Array.from(this.sgiActiveSource),
      asleep: bytesToBase64(this.asleep),
      distEnable: this.distEnable,
      order: this.candidates.map((set) => set.keys()),
    };
  }

  /**
   * Validates and returns the saved candidate order of `r` (undefined when
   * absent): one array of keys per CPU. `maxKey` is the largest key the
   * owner can have (LPI keys lie above the INTID range).
   */
  readOrder(r: StateReader, maxKey: number): number[][] | undefined {
    if (!r.has('order')) return undefined;
    const v = r.raw('order');
    if (!Array.isArray(v) || v.length !== this.cpus) {
      throw new SnapshotError('shape', `${r.path}.order must be an array of ${this.cpus} arrays, got ${describeValue(v)}`);
    }
    return v.map((keys: unknown, c) => {
      if (!Array.isArray(keys)) throw new SnapshotError('shape', `${r.path}.order[${c}] must be an array, got ${describeValue(keys)}`);
      return keys.map((k: unknown, i) => {
        if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k > maxKey) {
          throw new SnapshotError('shape', `${r.path}.order[${c}][${i}] must be an integer in [0, ${maxKey}], got ${describeValue(k)}`);
        }
        return k;
      });
    });
  }

  /**
   * Validates state read by `r` and returns the change that loads it
   * (nothing changes until it is called); call {@link refreshAll} after.
   */
  prepareRestore(r: StateReader): () => void {
    const bytes = (key: string, length: number, max: number): Uint8Array => {
      const b = base64ToBytes(r.raw(key), `${r.path}.${key}`);
      if (b.length !== length) throw new SnapshotError('shape', `${r.path}.${key} has ${b.length} entries, expected ${length}`);
      for (let i = 0; i < b.length; i++) {
        if (b[i]! > max) throw new SnapshotError('shape', `${r.path}.${key}[${i}] = ${b[i]} exceeds ${max}`);
      }
      return b;
    };
    const loads: [Uint8Array, Uint8Array][] = [
      [this.enabled, bytes('enabled', this.enabled.length, 1)],
      [this.latch, bytes('latch', this.latch.length, 1)],
      [this.level, bytes('level', this.level.length, 1)],
      [this.active, bytes('active', this.active.length, 1)],
      [this.edge, bytes('edge', this.edge.length, 1)],
      [this.group, bytes('group', this.group.length, 1)],
      [this.priority, bytes('priority', this.priority.length, 0xff).map((p) => p & this.priorityMask)],
      [this.targetMask, bytes('targetMask', this.targetMask.length, 0xff)],
      [this.sgiSources, bytes('sgiSources', this.sgiSources.length, 0xff)],
      [this.asleep, bytes('asleep', this.asleep.length, 1)],
    ];
    const distEnable = r.int('distEnable', 0, 3);
    const routeCpu = r.intArray('routeCpu', ROUTE_ANY, this.cpus - 1, this.spis);
    const sgiActiveSource = r.intArray('sgiActiveSource', -1, 7, this.cpus * SGI_COUNT);
    return () => {
      for (const [into, from] of loads) into.set(from);
      this.distEnable = distEnable;
      this.routeCpu.set(routeCpu);
      this.sgiActiveSource.set(sgiActiveSource);
    };
  }

}
