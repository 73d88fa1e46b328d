/**
 * GicV2: an Arm GICv2 with the virtualization extensions for up to 8 CPUs
 * (IHI0048B), without the Security Extensions. Every frame is banked per CPU
 * interface, so each CPU gets its own MMIO view of the distributor, its CPU
 * interface (GICC), its virtual interface control (GICH) and its virtual CPU
 * interface (GICV), all mapped at the same addresses on every CPU's bus.
 */
import {
  UsageError,
  assertInteger,
  describeValue,
  readState,
  type Clock,
  type InterruptMessage,
  type InterruptLine,
  type InterruptTarget,
  type Tracer,
} from '@hvsim/core';
import { CpuInterfaceCore, type CpuInterfaceOutputs, type CpuInterfaceState } from '../common/cpu-interface.js';
import { IrqEngine, type IrqEngineState } from '../common/irq-state.js';
import { PPI_BASE, SPI_BASE, SPI_MAX } from '../common/intid.js';
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
  tracer?: Tracer;
  clock?: Clock;
  onIrq?: (cpu: number, asserted: boolean) => void;
  onFiq?: (cpu: number, asserted: boolean) => void;
  onVirq?: (cpu: number, asserted: boolean) => void;
  onVfiq?: (cpu: number, asserted: boolean) => void;
}

/** A vCPU's GICv2 virtual interface context (GICH_HCR, GICH_VMCR, GICH_APR, GICH_LR<n>). */
export interface GicV2VcpuState extends VirtualInterfaceState {
  type: 'hvsim.gic-v2.vcpu';
  version: 1;
  listRegisters: number;
}

/** Saved state of a {@link GicV2}. */
export interface GicV2State {
  type: 'hvsim.gic-v2';
  version: 1;
  cpus: number;
  spis: number;
  engine: IrqEngineState;
  perCpu: { cpuInterface: CpuInterfaceState; bypass: number; virtualInterface: VirtualInterfaceState }[];
}

/** An Arm GICv2 with the virtualization extensions: frames per CPU, inputs, outputs and snapshots. */
export class GicV2 implements InterruptTarget {
  readonly cpus: number;
  readonly spis: number;
  readonly maintenanceIntid: number;
  private readonly engine: IrqEngine;
  private readonly distributors: GicV2Distributor[] = [];
  private readonly cpuInterfaces: GicV2CpuInterface[] = [];
  private readonly hypervisorInterfaces: GicV2HypervisorInterface[] = [];
  private readonly virtualCpuInterfaces: GicV2VirtualCpuInterface[] = [];
  private readonly tracer: Tracer | undefined;
  private readonly clock: Clock | undefined;

  /** `new GicV2(4)` is short for `new GicV2({ cpus: 4 })`. */
  constructor(optionsOrCpus: GicV2Options | number) {
    const options: GicV2Options = typeof optionsOrCpus === 'number' ? { cpus: optionsOrCpus } : optionsOrCpus;
    const cpus = options.cpus;
    assertInteger(cpus, 'GicV2 cpus', 1, 8);
    const spis = options.spis ?? 64;
    assertInteger(spis, 'GicV2 spis', 0, SPI_MAX + 1 - SPI_BASE);
    if (spis % 32 !== 0 && spis !== 988) throw new UsageError('bad-argument', `GicV2 spis must be a multiple of 32 or 988, got ${describeValue(spis)}`);
    const priorityBits = options.priorityBits ?? 5;
    assertInteger(priorityBits, 'GicV2 priorityBits', 4, 8);
    const listRegisters = options.listRegisters ?? 4;
    assertInteger(listRegisters, 'GicV2 listRegisters', 1, 64);
    const mi = options.maintenanceIntid ?? 25;
    assertInteger(mi, 'GicV2 maintenanceIntid', PPI_BASE, SPI_BASE - 1);
    this.cpus = cpus;
    this.spis = spis;
    this.maintenanceIntid = mi;
    this.tracer = options.tracer;
    this.clock = options.clock;
    const e = new IrqEngine({ cpus, spis, priorityBits, routing: 'targets' });
    this.engine = e;
    const events: CpuInterfaceEvents = {
      onAcknowledge: (cpu, value, virtual) => this.trace('interrupt.acknowledged', cpu, value & 0x3ff, virtual),
      onEoi: (cpu, value, virtual) => this.trace('interrupt.eoi', cpu, value & 0x3ff, virtual),
    };
    const onSgi = (source: number, intid: number, targets: number): void => {
      this.tracer?.emit({ kind: 'ipi.sent', cycle: this.clock?.now() ?? 0, source: 'gic', cpu: source, vector: intid, destination: targets });
    };
    for (let c = 0; c < cpus; c++) {
      this.distributors.push(new GicV2Distributor(e, c, () => this.updateAll(), onSgi));
      this.cpuInterfaces.push(new GicV2CpuInterface(new CpuInterfaceCore(e, c, priorityBits, true, this.tracedOutputs(options)), events));
      const v = new VirtualInterfaceCore(
        c,
        { listRegisters, priorityBits: 5, preemptionBits: 5, group0AlwaysFiq: false },
        {
          onVirq: options.onVirq,
          onVfiq: options.onVfiq,
          onMaintenance: (cpu, level) => {
            e.setLine(cpu, this.maintenanceIntid, level);
          },
          onHwDeactivate: (cpu, pintid) => {
            if (e.implemented(pintid)) e.deactivate(cpu, pintid);
          },
        },
      );
      this.hypervisorInterfaces.push(new GicV2HypervisorInterface(v));
      this.virtualCpuInterfaces.push(new GicV2VirtualCpuInterface(v, events));
    }
    e.onChange = (cpu) => {
      this.cpuInterfaces[cpu]!.core.update();
    };
    this.reset();
  }

  private trace(kind: 'interrupt.raised' | 'interrupt.delivered' | 'interrupt.acknowledged' | 'interrupt.eoi', cpu: number, intid: number, virtual: boolean): void {
    const t = this.tracer;
    if (t === undefined) return;
    const cycle = this.clock?.now() ?? 0;
    const where = cpu < 0 ? undefined : cpu;
    if (virtual) t.emit({ kind, cycle, source: 'gic', cpu: where, vector: intid, args: { virtual: true } });
    else t.emit({ kind, cycle, source: 'gic', cpu: where, vector: intid });
  }

  /** With a tracer, the CPU-interface outputs also emit `interrupt.delivered` when IRQ or FIQ rises. */
  private tracedOutputs(options: GicV2Options): CpuInterfaceOutputs {
    if (this.tracer === undefined) return options;
    const delivered = (cpu: number): void => {
      const intid = this.cpuInterfaces[cpu]?.core.hppi() ?? -1;
      if (intid >= 0) this.trace('interrupt.delivered', cpu, intid, false);
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
    };
  }

  /** Reset (IHI0048B 4.3, 4.4, 5.3): all registers at their reset values; SPIs target CPU 0 on a uniprocessor. */
  reset(): void {
    const e = this.engine;
    e.resetState();
    if (this.cpus === 1) e.targetMask.fill(1);
    for (const ci of this.cpuInterfaces) ci.reset();
    for (const h of this.hypervisorInterfaces) h.core.reset();
  }

  private check(cpu: number): number {
    this.engine.checkCpu(cpu);
    return cpu;
  }

  /** The distributor frame (4 KiB) as CPU interface `cpu` sees it. */
  distributor(cpu: number): GicV2Distributor {
    return this.distributors[this.check(cpu)]!;
  }

  /** The GICC frame (8 KiB) of `cpu`. */
  cpuInterface(cpu: number): GicV2CpuInterface {
    return this.cpuInterfaces[this.check(cpu)]!;
  }

  /** The GICH frame (4 KiB) of `cpu`, for the hypervisor. */
  hypervisorInterface(cpu: number): GicV2HypervisorInterface {
    return this.hypervisorInterfaces[this.check(cpu)]!;
  }

  /** The GICV frame (8 KiB) of `cpu`, mapped into the guest in place of GICC. */
  virtualCpuInterface(cpu: number): GicV2VirtualCpuInterface {
    return this.virtualCpuInterfaces[this.check(cpu)]!;
  }

  /** Drives SPI `intid`'s input line. */
  setSpiLevel(intid: number, asserted: boolean): void {
    this.engine.checkIntid(intid, SPI_BASE, 'SPI');
    if (asserted) this.trace('interrupt.raised', -1, intid, false);
    this.engine.setLine(0, intid, asserted);
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

  /**
   * {@link InterruptTarget}: a level message drives the SPI line to `level`;
   * an edge message is a pulse on the line (GICv2 has no message-based SPIs).
   */
  acceptInterrupt(message: InterruptMessage): void {
    if (message.trigger === 'level') {
      this.setSpiLevel(message.vector, message.level ?? true);
    } else {
      this.setSpiLevel(message.vector, true);
      this.engine.setLine(0, message.vector, false);
    }
  }

  irqLevel(cpu: number): boolean {
    return this.cpuInterfaces[this.check(cpu)]!.core.irqLevel;
  }

  fiqLevel(cpu: number): boolean {
    return this.cpuInterfaces[this.check(cpu)]!.core.fiqLevel;
  }

  virqLevel(cpu: number): boolean {
    return this.hypervisorInterfaces[this.check(cpu)]!.core.virqLevel;
  }

  vfiqLevel(cpu: number): boolean {
    return this.hypervisorInterfaces[this.check(cpu)]!.core.vfiqLevel;
  }

  /** Level of `cpu`'s maintenance interrupt (GICH_HCR.En && GICH_MISR != 0). */
  maintenanceLevel(cpu: number): boolean {
    return this.hypervisorInterfaces[this.check(cpu)]!.core.maintenanceLevel;
  }

  private updateAll(): void {
    for (const ci of this.cpuInterfaces) ci.core.update();
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
    v.restoreState(r);
  }

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
        virtualInterface: this.hypervisorInterfaces[c]!.core.saveState(),
      })),
    };
  }

  /** Restores a state saved by a GicV2 of the same shape. */
  restoreState(state: unknown): void {
    const r = readState(state, 'hvsim.gic-v2', 1);
    r.int('cpus', this.cpus, this.cpus);
    r.int('spis', this.spis, this.spis);
    this.engine.restoreState(r.object('engine'));
    r.array(
      'perCpu',
      (p, c) => {
        this.cpuInterfaces[c]!.core.restoreState(p.object('cpuInterface'));
        this.cpuInterfaces[c]!.bypassBits = p.int('bypass', 0, 0xf);
        this.hypervisorInterfaces[c]!.core.restoreState(p.object('virtualInterface'));
      },
      this.cpus,
    );
    this.engine.refreshAll();
  }
}
