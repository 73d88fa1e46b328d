/**
 * What GicV2 and GicV3 share at the top level: the option checks they have in
 * common, the PPI/SPI input lines (IHI0048B 2.2.1, IHI0069 2.2), the trace
 * events and the per-CPU output levels. Not exported from the package.
 */
import { DELIVERY_STATUS, UsageError, assertInteger, describeValue, type Clock, type DeliveryStatus, type InterruptLine, type Tracer } from '@hvsim/core';
import type { CpuInterfaceCore, CpuInterfaceOutputs } from './cpu-interface.js';
import { PPI_BASE, SPI_BASE, SPI_MAX } from './intid.js';
import type { IrqEngine } from './irq-state.js';
import type { VirtualInterfaceCore, VirtualInterfaceOutputs } from './virtual-interface.js';

/** Trace event kinds a GIC emits per interrupt. */
type GicTraceKind = 'interrupt.raised' | 'interrupt.delivered' | 'interrupt.acknowledged' | 'interrupt.eoi';

/** Options both GIC versions take, as far as the shared part reads them. */
interface GicBaseOptions extends CpuInterfaceOutputs {
  tracer?: Tracer | undefined;
  clock?: Clock | undefined;
  onVirq?: ((cpu: number, asserted: boolean) => void) | undefined;
  onVfiq?: ((cpu: number, asserted: boolean) => void) | undefined;
}

/**
 * Checks the shape options both versions share and returns them with their
 * defaults: `what` names the class in errors, `maxCpus` and `maxListRegisters`
 * are the version's limits.
 */
export function checkGicShape(
  what: string,
  options: { cpus: number; spis?: number | undefined; priorityBits?: number | undefined; listRegisters?: number | undefined },
  maxCpus: number,
  maxListRegisters: number,
): { cpus: number; spis: number; priorityBits: number; listRegisters: number } {
  const cpus = options.cpus;
  assertInteger(cpus, `${what} cpus`, 1, maxCpus);
  const spis = options.spis ?? 64;
  assertInteger(spis, `${what} spis`, 0, SPI_MAX + 1 - SPI_BASE);
  if (spis % 32 !== 0 && spis !== 988) throw new UsageError('bad-argument', `${what} spis must be a multiple of 32 or 988, got ${describeValue(spis)}`);
  const priorityBits = options.priorityBits ?? 5;
  assertInteger(priorityBits, `${what} priorityBits`, 4, 8);
  const listRegisters = options.listRegisters ?? 4;
  assertInteger(listRegisters, `${what} listRegisters`, 1, maxListRegisters);
  return { cpus, spis, priorityBits, listRegisters };
}

/** Checks that `words` is a Uint32Array holding `count` words from `offset` (host-side misuse otherwise). */
export function checkWords(words: Uint32Array, offset: number, count: number, what: string): void {
  if (!(words instanceof Uint32Array)) throw new UsageError('bad-argument', `${what} needs a Uint32Array, got ${describeValue(words)}`);
  if (!Number.isInteger(offset) || offset < 0 || offset + count > words.length) {
    throw new UsageError('bad-argument', `${what} needs ${count} words from offset ${describeValue(offset)}, the array has ${words.length}`);
  }
}

/**
 * The shared top level of a GIC: `C` is the version's CPU interface view and
 * `V` its virtual interface control view (GICH frame or ICH_*_EL2), each
 * wrapping the common core. The cores are kept beside the views (see
 * `addCpu`) rather than read through a constraint on `C` and `V`, so that
 * the published declarations need not name them.
 */
export abstract class GicBase<C, V> {
  /** Number of CPU interfaces (PEs). */
  declare readonly cpus: number;
  /** Number of SPIs, INTIDs 32 to 32 + spis - 1. */
  declare readonly spis: number;
  /** PPI of the virtual interface maintenance interrupt (default 25). */
  declare readonly maintenanceIntid: number;
  /**
   * The interrupt state every frame shares.
   *
   * @internal
   */
  protected declare readonly engine: IrqEngine;
  /**
   * Per CPU: the CPU interface view.
   *
   * @internal
   */
  protected readonly cpuInterfaces: C[] = [];
  /**
   * Per CPU: the virtual interface control (GICv2 GICH, GICv3 ICH_*_EL2).
   *
   * @internal
   */
  protected readonly virtualControls: V[] = [];
  /**
   * Per CPU: the core behind `cpuInterfaces[cpu]`.
   *
   * @internal
   */
  protected readonly cpuCores: CpuInterfaceCore[] = [];
  /**
   * Per CPU: the core behind `virtualControls[cpu]`.
   *
   * @internal
   */
  protected readonly virtualCores: VirtualInterfaceCore[] = [];
  /**
   * Where trace events go, if anywhere.
   *
   * @internal
   */
  protected declare readonly tracer: Tracer | undefined;
  /**
   * Cycle source of trace events.
   *
   * @internal
   */
  protected declare readonly clock: Clock | undefined;

  /**
   * Takes the checked shape and the engine the subclass built.
   *
   * @internal
   */
  protected constructor(cpus: number, spis: number, maintenanceIntid: number, engine: IrqEngine, options: GicBaseOptions) {
    this.cpus = cpus;
    this.spis = spis;
    this.maintenanceIntid = maintenanceIntid;
    this.engine = engine;
    this.tracer = options.tracer;
    this.clock = options.clock;
    this.spiFlow = new Int32Array(spis);
  }

  abstract setSpiLevel(intid: number, asserted: boolean): void;

  /**
   * Flow identifier per SPI (index intid - 32) of the message that last made it pending, 0 when
   * untracked; trace events about the SPI repeat it (core's `InterruptMessage.flow`).
   *
   * @internal
   */
  protected declare readonly spiFlow: Int32Array;

  /**
   * Emits one per-interrupt trace event.
   *
   * @internal
   */
  protected trace(kind: GicTraceKind, cpu: number, intid: number, virtual = false, flow = 0): void {
    const t = this.tracer;
    if (t === undefined) return;
    const cycle = this.clock?.now() ?? 0;
    const where = cpu < 0 ? undefined : cpu;
    const f = flow !== 0 ? flow : this.flowOf(intid, virtual);
    if (virtual) t.emit({ kind, cycle, source: 'gic', cpu: where, vector: intid, ...(f === 0 ? {} : { flow: f }), args: { virtual: true } });
    else t.emit({ kind, cycle, source: 'gic', cpu: where, vector: intid, ...(f === 0 ? {} : { flow: f }) });
  }

  /**
   * `interrupt.raised` for SPI `intid` raised without a message (no flow): a
   * newly pending SPI forgets the flow of an earlier message. Costs nothing
   * without a tracer.
   *
   * @internal
   */
  protected traceUntracked(intid: number): void {
    if (this.tracer === undefined) return;
    if (!this.engine.isPending(0, intid)) this.spiFlow[intid - SPI_BASE] = 0;
    this.trace('interrupt.raised', -1, intid);
  }

  /** The flow an event about physical `intid` carries (virtual INTIDs carry their list register's flow, given by the caller). */
  private flowOf(intid: number, virtual: boolean): number {
    if (virtual || intid < SPI_BASE || intid >= this.engine.lines) return 0;
    return this.spiFlow[intid - SPI_BASE]!;
  }

  /**
   * What a message that set SPI `intid` pending (or drove its line) achieved,
   * given whether it was pending before (core's `DeliveryStatus`): COALESCED
   * when it already was; BLOCKED when it is now pending but cannot be
   * forwarded (the SPI or its group disabled in the distributor, or routed
   * to no CPU interface); DELIVERED otherwise.
   *
   * @internal
   */
  protected spiStatus(intid: number, wasPending: boolean): DeliveryStatus {
    const e = this.engine;
    if (wasPending) return DELIVERY_STATUS.COALESCED;
    if (!e.isPending(0, intid)) return DELIVERY_STATUS.BLOCKED;
    if (((e.distEnable >>> e.group[e.slot(0, intid)]!) & 1) === 0) return DELIVERY_STATUS.BLOCKED;
    for (let c = 0; c < e.cpus; c++) if (e.candidates[c]!.has(intid)) return DELIVERY_STATUS.DELIVERED;
    return DELIVERY_STATUS.BLOCKED;
  }

  /**
   * With a tracer, the CPU-interface outputs also emit `interrupt.delivered` when IRQ or FIQ rises.
   *
   * @internal
   */
  protected tracedOutputs(options: GicBaseOptions): CpuInterfaceOutputs {
    if (this.tracer === undefined) return options;
    const delivered = (cpu: number): void => {
      const key = this.cpuCores[cpu]?.hppi() ?? -1;
      if (key >= 0) this.trace('interrupt.delivered', cpu, this.engine.keyIntid(key));
    };
    return {
      onIrq: (cpu, level) => {
        if (level) delivered(cpu);
        options.onIrq?.(cpu, level);
      },
      onFiq: (cpu, level) => {
        if (level) delivered(cpu);
        options.onFiq?.(cpu, level);
      },
      onWakeRequest: (cpu) => {
        this.traceWakeRequest(cpu);
        options.onWakeRequest?.(cpu);
      },
    };
  }

  /**
   * A `custom` event `wake-request` when an interrupt is forwardable to a PE
   * whose redistributor is asleep (GICR_WAKER.ProcessorSleep = 1, IHI0069
   * 12.11.42): the PE sees no IRQ and its IAR reads 1023 until software
   * wakes the redistributor, so the trace says why.
   */
  private traceWakeRequest(cpu: number): void {
    const e = this.engine;
    const key = e.candidates[cpu]?.best(e.distEnable) ?? -1;
    const intid = key >= 0 ? e.keyIntid(key) : -1;
    const flow = intid >= 0 ? this.flowOf(intid, false) : 0;
    this.tracer?.emit({
      kind: 'custom',
      name: 'wake-request',
      cycle: this.clock?.now() ?? 0,
      source: 'gic',
      cpu,
      ...(flow === 0 ? {} : { flow }),
      args: { intid, reason: 'redistributor asleep (GICR_WAKER.ProcessorSleep = 1): IAR reads 1023 until it is woken' },
    });
  }

  /**
   * The virtual interface's outputs: the maintenance interrupt drives its PPI, hardware LRs deactivate the physical INTID.
   *
   * @internal
   */
  protected virtualOutputs(options: GicBaseOptions): VirtualInterfaceOutputs {
    const e = this.engine;
    return {
      onVirq: options.onVirq,
      onVfiq: options.onVfiq,
      onMaintenance: (cpu, level) => {
        e.setLine(cpu, this.maintenanceIntid, level);
      },
      onHwDeactivate: (cpu, pintid) => {
        if (e.implemented(pintid)) e.deactivate(cpu, pintid);
      },
    };
  }

  /**
   * Adds the next CPU: its CPU interface view and virtual interface control
   * view with the cores behind them.
   *
   * @internal
   */
  protected addCpu(cpuInterface: C, cpuCore: CpuInterfaceCore, virtualControl: V, virtualCore: VirtualInterfaceCore): void {
    this.cpuInterfaces.push(cpuInterface);
    this.cpuCores.push(cpuCore);
    this.virtualControls.push(virtualControl);
    this.virtualCores.push(virtualCore);
  }

  /**
   * Re-evaluates every CPU interface's outputs.
   *
   * @internal
   */
  protected updateAll(): void {
    for (const core of this.cpuCores) core.update();
  }

  /** SPI `intid` as core's `InterruptLine`, for a device model to drive. */
  spiLine(intid: number): InterruptLine {
    this.engine.checkIntid(intid, SPI_BASE, 'SPI');
    return { setLevel: (asserted) => this.setSpiLevel(intid, asserted) };
  }

  /** PPI `intid` of `cpu` as core's `InterruptLine` (a timer's output, say). */
  ppiLine(cpu: number, intid: number): InterruptLine {
    this.checkPpi(cpu, intid);
    return { setLevel: (asserted) => this.setPpiLevel(cpu, intid, asserted) };
  }

  /** Drives PPI `intid` (16-31) of `cpu`. */
  setPpiLevel(cpu: number, intid: number, asserted: boolean): void {
    this.checkPpi(cpu, intid);
    this.engine.setLine(cpu, intid, asserted);
  }

  private checkPpi(cpu: number, intid: number): void {
    this.engine.checkCpu(cpu);
    if (!Number.isInteger(intid) || intid < PPI_BASE || intid >= SPI_BASE) {
      throw new UsageError('bad-argument', `PPI must be an integer INTID in [16, 31], got ${describeValue(intid)}`);
    }
  }

  // --- an emulated distributor for a hypervisor's list registers (KVM's vGIC, host-seams G10a)

  /**
   * Writes the INTIDs `cpu` could be given now into `out`, best first — the
   * pending, enabled, not active interrupts routed to it whose group the
   * distributor enables, by priority (Group 0 first at equal priority), then
   * in the order they became pending — up to `out.length`; returns how many.
   * Nothing is acknowledged and nothing is allocated: what a hypervisor
   * walks to fill list registers in priority order (KVM's
   * vgic_flush_lr_state over its sorted ap_list). The CPU interface's PMR
   * and running priority do not filter (the virtual CPU interface applies
   * the guest's).
   */
  pendingInterrupts(cpu: number, out: Int32Array): number {
    const e = this.engine;
    e.checkCpu(cpu);
    if (e.asleep[cpu] === 1) return 0;
    const n = e.candidates[cpu]!.ordered(e.distEnable, out);
    for (let i = 0; i < n; i++) out[i] = e.keyIntid(out[i]!);
    return n;
  }

  /**
   * Writes the INTIDs active on `cpu` into `out` (its SGIs and PPIs, then the
   * active SPIs routed or targeted to it), up to `out.length`; returns how
   * many. KVM keeps active interrupts in list registers ahead of pending ones.
   */
  activeInterrupts(cpu: number, out: Int32Array): number {
    const e = this.engine;
    e.checkCpu(cpu);
    let n = 0;
    const max = out.length;
    for (let i = 0; i < SPI_BASE && n < max; i++) if (e.active[e.slot(cpu, i)] === 1) out[n++] = i;
    for (let i = SPI_BASE; i < e.lines && n < max; i++) {
      if (e.active[e.slot(0, i)] === 1 && e.ownsSpi(cpu, i - SPI_BASE)) out[n++] = i;
    }
    return n;
  }

  /** Priority of `intid` as `cpu` sees it (implemented bits only), for a list register's Priority field. */
  interruptPriority(cpu: number, intid: number): number {
    return this.engine.keyPriority(cpu, this.keyOf(cpu, intid));
  }

  /** Group (0 or 1) of `intid` as `cpu` sees it, for a list register's Group field. */
  interruptGroup(cpu: number, intid: number): number {
    return this.engine.keyGroup(cpu, this.keyOf(cpu, intid));
  }

  /**
   * Moves the state of `intid` on `cpu` into a list register (KVM's
   * vgic_v3_populate_lr / vgic_v2_populate_lr): returns bits [1:0] the LR
   * state (LR_STATE: pending 1, active 2) and, for a GICv2 SGI, bits [4:2]
   * the source CPU. A pending edge-triggered interrupt (or LPI) stops being
   * pending here, since the list register now holds it; a GICv2 SGI gives up
   * one source; a level-sensitive interrupt stays pending while its line is
   * high. Fold the list register back with {@link foldListRegister} at the
   * next exit, before taking again.
   */
  takeForListRegister(cpu: number, intid: number): number {
    this.engine.checkCpu(cpu);
    return this.takeState(cpu, intid);
  }

  /**
   * Folds a list register's state back into the distributor (KVM's
   * vgic_v3_fold_lr_state): `state` is the LR state (LR_STATE), `source` the
   * GICv2 SGI source CPU. The interrupt is active exactly when the list
   * register says so; still pending, it is pending again here; a
   * level-sensitive interrupt the guest acknowledged loses its software
   * pending latch (its line level stays what the device drives).
   */
  foldListRegister(cpu: number, intid: number, state: number, source = 0): void {
    this.engine.checkCpu(cpu);
    if (!Number.isInteger(state) || state < 0 || state > 3) {
      throw new UsageError('bad-argument', `list register state must be an integer in [0, 3], got ${describeValue(state)}`);
    }
    assertInteger(source, 'GICv2 SGI source CPU', 0, 7);
    this.foldState(cpu, intid, state, source);
  }

  /**
   * Deactivates `intid` on `cpu` (no effect when it is not active): for a
   * hypervisor handling ICH_HCR_EL2.EOIcount / GICH_HCR.EOICount, the EOIs the
   * guest made for active interrupts that were not in list registers.
   */
  deactivateInterrupt(cpu: number, intid: number): void {
    this.engine.checkCpu(cpu);
    this.engine.checkIntid(intid, 0, 'INTID');
    this.engine.deactivate(cpu, intid);
  }

  /**
   * The candidate key of `intid` on `cpu` (the INTID itself below the LPI range); checks the INTID.
   *
   * @internal
   */
  protected keyOf(cpu: number, intid: number): number {
    this.engine.checkCpu(cpu);
    this.engine.checkIntid(intid, 0, 'INTID');
    return intid;
  }

  /**
   * {@link takeForListRegister} after the checks; GicV3 adds LPIs.
   *
   * @internal
   */
  protected takeState(cpu: number, intid: number): number {
    this.engine.checkIntid(intid, 0, 'INTID');
    return this.engine.take(cpu, intid);
  }

  /**
   * {@link foldListRegister} after the checks; GicV3 adds LPIs.
   *
   * @internal
   */
  protected foldState(cpu: number, intid: number, state: number, source: number): void {
    this.engine.checkIntid(intid, 0, 'INTID');
    this.engine.fold(cpu, intid, state, source);
  }

  /** The CPU's physical IRQ output level. */
  irqLevel(cpu: number): boolean {
    this.engine.checkCpu(cpu);
    return this.cpuCores[cpu]!.irqLevel;
  }

  /** The CPU's physical FIQ output level. */
  fiqLevel(cpu: number): boolean {
    this.engine.checkCpu(cpu);
    return this.cpuCores[cpu]!.fiqLevel;
  }

  /** The CPU's virtual IRQ (vIRQ) output level. */
  virqLevel(cpu: number): boolean {
    this.engine.checkCpu(cpu);
    return this.virtualCores[cpu]!.virqLevel;
  }

  /** The CPU's virtual FIQ (vFIQ) output level. */
  vfiqLevel(cpu: number): boolean {
    this.engine.checkCpu(cpu);
    return this.virtualCores[cpu]!.vfiqLevel;
  }
}
