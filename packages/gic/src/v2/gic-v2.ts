/**
 * GicV2: an Arm GICv2 with the virtualization extensions for up to 8 CPUs
 * (IHI0048B), without the Security Extensions. Every frame is banked per CPU
 * interface, so each CPU gets its own MMIO view of the distributor, its CPU
 * interface (GICC), its virtual interface control (GICH) and its virtual CPU
 * interface (GICV), all mapped at the same addresses on every CPU's bus.
 */
import { DELIVERY_STATUS, assertInteger, assertOptions, readState, type Clock, type DeliveryStatus, type InterruptMessage, type InterruptTarget, type Tracer } from '@hvsim/core';
import { CpuInterfaceCore, type CpuInterfaceState } from '../common/cpu-interface.js';
import { GicBase, checkGicShape, checkWords } from '../common/gic-base.js';
import { IrqEngine, type IrqEngineState } from '../common/irq-state.js';
import { PPI_BASE, SPI_BASE } from '../common/intid.js';
import { VirtualInterfaceCore, type VirtualInterfaceState } from '../common/virtual-interface.js';
import { GicV2CpuInterface, type CpuInterfaceEvents } from './cpu-interface.js';
import { GicV2Distributor } from './distributor.js';
import { GicV2HypervisorInterface, GicV2VirtualCpuInterface } from './virtual-interface.js';

/** Construction options of {@link GicV2}. */
export interface GicV2Options {
  /** Number of CPU interfaces, 1-8. */
  cpus: number;
  /** Number of SPIs: a multiple of 32 up to 960, or 988 (INTIDs 32-1019). Default 64. */
  spis?: number;
  /** Implemented priority bits, 4-8. Default 5 (32 levels, as GIC-400). */
  priorityBits?: number;
  /** List registers per CPU, 1-64 (GICH_VTR.ListRegs + 1). Default 4. */
  listRegisters?: number;
  /** PPI the maintenance interrupt is wired to. Default 25. */
  maintenanceIntid?: number;
  /** Receives trace events (`interrupt.raised`, `.delivered`, `.acknowledged`, `.eoi`, `ipi.sent`). */
  tracer?: Tracer;
  /** Cycle source for trace events (cycle 0 without one). */
  clock?: Clock;
  /** `cpu`'s IRQ output changed level (the CPU interface signals an interrupt as IRQ). */
  onIrq?: (cpu: number, asserted: boolean) => void;
  /** `cpu`'s FIQ output changed level (Group 0 with FIQEn). */
  onFiq?: (cpu: number, asserted: boolean) => void;
  /** `cpu`'s virtual IRQ output (from the GICV frame, to the vCPU) changed level. */
  onVirq?: (cpu: number, asserted: boolean) => void;
  /** `cpu`'s virtual FIQ output changed level. */
  onVfiq?: (cpu: number, asserted: boolean) => void;
  /**
   * The set of interrupts `cpu` could be given changed (one became pending,
   * enabled, routed there, or stopped being so): for a hypervisor using this
   * GIC as an emulated distributor, the moment to kick that vCPU (KVM's
   * kvm_vcpu_kick after vgic_queue_irq_unlock). Not called for the CPU
   * interface's own acknowledge and EOI.
   */
  onPendingChange?: (cpu: number) => void;
}

/** A vCPU's GICv2 virtual interface context (GICH_HCR, GICH_VMCR, GICH_APR, GICH_LR<n>). */
export interface GicV2VcpuState extends VirtualInterfaceState {
  /** Snapshot kind. */
  type: 'hvsim.gic-v2.vcpu';
  /** Snapshot format version. */
  version: 1;
  /** List Registers of the interface it was saved from; a restore needs the same number. */
  listRegisters: number;
}

/** Saved state of a {@link GicV2}. */
export interface GicV2State {
  /** Snapshot kind. */
  type: 'hvsim.gic-v2';
  /** Snapshot format version. */
  version: 1;
  /** Number of CPU interfaces. */
  cpus: number;
  /** Number of SPIs. */
  spis: number;
  /** Distributor and per-CPU interrupt state (enables, pending, active, priorities, targets). */
  engine: IrqEngineState;
  /** Each CPU's frames. */
  perCpu: {
    /** GICC state. */
    cpuInterface: CpuInterfaceState;
    /** GICC_CTLR bypass-disable bits [8:5] >> 5. */
    bypass: number;
    /** GICH/GICV state. */
    virtualInterface: VirtualInterfaceState;
  }[];
}

/** An Arm GICv2 with the virtualization extensions: frames per CPU, inputs, outputs and snapshots. */
export class GicV2 extends GicBase<GicV2CpuInterface, GicV2HypervisorInterface> implements InterruptTarget {
  private readonly distributors: GicV2Distributor[] = [];
  private readonly virtualCpuInterfaces: GicV2VirtualCpuInterface[] = [];

  /** `new GicV2(4)` is short for `new GicV2({ cpus: 4 })`. */
  constructor(optionsOrCpus: GicV2Options | number) {
    const options: GicV2Options = typeof optionsOrCpus === 'number' ? { cpus: optionsOrCpus } : optionsOrCpus;
    assertOptions(
      options,
      ['cpus', 'spis', 'priorityBits', 'listRegisters', 'maintenanceIntid', 'tracer', 'clock', 'onIrq', 'onFiq', 'onVirq', 'onVfiq', 'onPendingChange'] satisfies (keyof GicV2Options)[],
      'GicV2',
    );
    const { cpus, spis, priorityBits, listRegisters } = checkGicShape('GicV2', options, 8, 64);
    const mi = options.maintenanceIntid ?? 25;
    assertInteger(mi, 'GicV2 maintenanceIntid', PPI_BASE, SPI_BASE - 1);
    const e = new IrqEngine({ cpus, spis, priorityBits, routing: 'targets' });
    super(cpus, spis, mi, e, options);
    const events: CpuInterfaceEvents = {
      onAcknowledge: (cpu, value, virtual) => {
        if (this.tracer !== undefined) this.trace('interrupt.acknowledged', cpu, value & 0x3ff, virtual, virtual ? this.virtualControls[cpu]!.core.lastFlow : 0);
      },
      onEoi: (cpu, value, virtual) => {
        if (this.tracer !== undefined) this.trace('interrupt.eoi', cpu, value & 0x3ff, virtual, virtual ? this.virtualControls[cpu]!.core.activeFlow(value & 0x3ff) : 0);
      },
    };
    const onSgi = (source: number, intid: number, targets: number): void => {
      this.tracer?.emit({ kind: 'ipi.sent', cycle: this.clock?.now() ?? 0, source: 'gic', cpu: source, vector: intid, destination: targets });
    };
    for (let c = 0; c < cpus; c++) {
      this.distributors.push(new GicV2Distributor(e, c, () => this.updateAll(), onSgi));
      const core = new CpuInterfaceCore(e, c, priorityBits, true, this.tracedOutputs(options));
      const v = new VirtualInterfaceCore(c, { listRegisters, priorityBits: 5, preemptionBits: 5, group0AlwaysFiq: false }, this.virtualOutputs(options));
      this.addCpu(new GicV2CpuInterface(core, events), core, new GicV2HypervisorInterface(v), v);
      this.virtualCpuInterfaces.push(new GicV2VirtualCpuInterface(v, events));
    }
    const onPendingChange = options.onPendingChange;
    const cores = this.cpuInterfaces.map((ci) => ci.core);
    e.onChange =
      onPendingChange === undefined
        ? (cpu) => {
            cores[cpu]!.update();
          }
        : (cpu) => {
            cores[cpu]!.update();
            onPendingChange(cpu);
          };
    this.reset();
  }

  /** Reset (IHI0048B 4.3, 4.4, 5.3): all registers at their reset values; SPIs target CPU 0 on a uniprocessor. */
  reset(): void {
    const e = this.engine;
    e.resetState();
    if (this.cpus === 1) e.targetMask.fill(1);
    for (const ci of this.cpuInterfaces) ci.reset();
    for (const h of this.virtualControls) h.core.reset();
  }

  private check(cpu: number): number {
    this.engine.checkCpu(cpu);
    return cpu;
  }

  /**
   * The distributor frame (4 KiB) as CPU interface `cpu` sees it (SGIs and
   * PPIs are banked per CPU, IHI0048B 4.1); `GicV3.distributorFor(cpu)` has
   * the same shape.
   */
  distributorFor(cpu: number): GicV2Distributor {
    return this.distributors[this.check(cpu)]!;
  }

  /**
   * The distributor frame (4 KiB) as CPU interface `cpu` sees it.
   *
   * @deprecated Use {@link distributorFor}, the shape GicV3 shares.
   */
  distributor(cpu: number): GicV2Distributor {
    return this.distributors[this.check(cpu)]!;
  }

  /** The GICC frame (8 KiB) of `cpu`. */
  cpuInterface(cpu: number): GicV2CpuInterface {
    return this.cpuInterfaces[this.check(cpu)]!;
  }

  /** The GICH frame (4 KiB) of `cpu`, for the hypervisor. */
  hypervisorInterface(cpu: number): GicV2HypervisorInterface {
    return this.virtualControls[this.check(cpu)]!;
  }

  /** The GICV frame (8 KiB) of `cpu`, mapped into the guest in place of GICC. */
  virtualCpuInterface(cpu: number): GicV2VirtualCpuInterface {
    return this.virtualCpuInterfaces[this.check(cpu)]!;
  }

  /** Drives SPI `intid`'s input line. */
  setSpiLevel(intid: number, asserted: boolean): void {
    this.engine.checkIntid(intid, SPI_BASE, 'SPI');
    if (asserted) this.traceUntracked(intid);
    this.engine.setLine(0, intid, asserted);
  }

  /**
   * {@link InterruptTarget}: a level message drives the SPI line to `level`;
   * an edge message is a pulse on the line (GICv2 has no message-based SPIs).
   * Returns core's `DeliveryStatus` as GicV3 does
   * (COALESCED when already pending, BLOCKED when pending but disabled or
   * targeted nowhere); the message's `flow` is carried into trace events.
   */
  acceptInterrupt(message: InterruptMessage): DeliveryStatus {
    const intid = message.vector;
    const e = this.engine;
    e.checkIntid(intid, SPI_BASE, 'SPI');
    const flow = message.flow ?? 0;
    const wasPending = e.isPending(0, intid);
    if (message.trigger === 'level' && !(message.level ?? true)) {
      // A deasserting level message: COALESCED when the line was already low.
      const high = e.level[e.slot(0, intid)] === 1;
      e.setLine(0, intid, false);
      return high ? DELIVERY_STATUS.DELIVERED : DELIVERY_STATUS.COALESCED;
    }
    if (!wasPending) this.spiFlow[intid - SPI_BASE] = flow;
    this.trace('interrupt.raised', -1, intid, false, flow);
    e.setLine(0, intid, true);
    if (message.trigger === 'edge') e.setLine(0, intid, false);
    return this.spiStatus(intid, wasPending);
  }

  /** Level of `cpu`'s maintenance interrupt (GICH_HCR.En && GICH_MISR != 0). */
  maintenanceLevel(cpu: number): boolean {
    return this.virtualControls[this.check(cpu)]!.core.maintenanceLevel;
  }

  /** Saves `cpu`'s virtual interface so a descheduled vCPU can be restored on any CPU. */
  saveVirtualInterface(cpu: number): GicV2VcpuState {
    const v = this.hypervisorInterface(cpu).core;
    return { type: 'hvsim.gic-v2.vcpu', version: 1, listRegisters: v.listRegisters, ...v.saveState() };
  }

  /** Loads a vCPU context saved by {@link saveVirtualInterface} into `cpu`'s virtual interface. */
  restoreVirtualInterface(cpu: number, state: unknown): void {
    const v = this.hypervisorInterface(cpu).core;
    const r = readState(state, 'hvsim.gic-v2.vcpu', 1);
    r.int('listRegisters', v.listRegisters, v.listRegisters);
    v.prepareRestore(r)();
  }

  /** Length in 32-bit words of the typed-array vCPU context ({@link saveVirtualInterfaceWords}). */
  get virtualInterfaceWords(): number {
    return this.virtualControls[0]!.core.contextWords;
  }

  /**
   * {@link saveVirtualInterface} into a typed array, allocating nothing: for
   * a hot vcpu_put. `out` must hold {@link virtualInterfaceWords} words from
   * `offset`. The layout is this model's own (not a snapshot format).
   */
  saveVirtualInterfaceWords(cpu: number, out: Uint32Array, offset = 0): void {
    const v = this.hypervisorInterface(cpu).core;
    checkWords(out, offset, v.contextWords, 'saveVirtualInterfaceWords');
    v.saveWords(out, offset);
    out[offset + 2] = 0;
  }

  /** Loads a context saved by {@link saveVirtualInterfaceWords} into `cpu`'s virtual interface (a hot vcpu_load, on any CPU). */
  restoreVirtualInterfaceWords(cpu: number, from: Uint32Array, offset = 0): void {
    const v = this.hypervisorInterface(cpu).core;
    checkWords(from, offset, v.contextWords, 'restoreVirtualInterfaceWords');
    v.loadWords(from, offset);
  }

  /** Saves the whole GIC as JSON-safe data with a version. */
  saveState(): GicV2State {
    return {
      type: 'hvsim.gic-v2',
      version: 1,
      cpus: this.cpus,
      spis: this.spis,
      engine: this.engine.saveState(),
      perCpu: this.cpuInterfaces.map((ci, c) => ({
        cpuInterface: ci.core.saveState(),
        bypass: ci.bypassBits,
        virtualInterface: this.virtualControls[c]!.core.saveState(),
      })),
    };
  }

  /**
   * Restores a state saved by a GicV2 of the same shape. The whole state is
   * validated first: when it throws, nothing has changed. The order among
   * equal-priority pending interrupts is restored as saved.
   */
  restoreState(state: unknown): void {
    const r = readState(state, 'hvsim.gic-v2', 1);
    r.int('cpus', this.cpus, this.cpus);
    r.int('spis', this.spis, this.spis);
    const engine = r.object('engine');
    const commits: (() => void)[] = [this.engine.prepareRestore(engine)];
    const order = this.engine.readOrder(engine, this.engine.lines - 1);
    const bypass: number[] = [];
    r.array(
      'perCpu',
      (p, c) => {
        commits.push(this.cpuInterfaces[c]!.core.prepareRestore(p.object('cpuInterface')));
        bypass.push(p.int('bypass', 0, 0xf));
        commits.push(this.virtualControls[c]!.core.prepareRestore(p.object('virtualInterface')));
      },
      this.cpus,
    );
    // Everything is valid: commit.
    for (const commit of commits) commit();
    bypass.forEach((b, c) => (this.cpuInterfaces[c]!.bypassBits = b));
    this.engine.refreshAll(order);
  }
}
