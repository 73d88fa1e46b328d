/**
 * What GicV2 and GicV3 share at the top level: the option checks they have in
 * common, the PPI/SPI input lines (IHI0048B 2.2.1, IHI0069 2.2), the trace
 * events and the per-CPU output levels. Not exported from the package.
 */
import { UsageError, assertInteger, describeValue, type Clock, type InterruptLine, type Tracer } from '@hvsim/core';
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

/**
 * The shared top level of a GIC: `C` is the version's CPU interface view and
 * `V` its virtual interface control view (GICH frame or ICH_*_EL2), each
 * wrapping the common core.
 */
export abstract class GicBase<C extends { readonly core: CpuInterfaceCore }, V extends { readonly core: VirtualInterfaceCore }> {
  readonly cpus: number;
  readonly spis: number;
  readonly maintenanceIntid: number;
  protected readonly engine: IrqEngine;
  protected readonly cpuInterfaces: C[] = [];
  /** Per CPU: the virtual interface control (GICv2 GICH, GICv3 ICH_*_EL2). */
  protected readonly virtualControls: V[] = [];
  protected readonly tracer: Tracer | undefined;
  protected readonly clock: Clock | undefined;

  protected constructor(cpus: number, spis: number, maintenanceIntid: number, engine: IrqEngine, options: GicBaseOptions) {
    this.cpus = cpus;
    this.spis = spis;
    this.maintenanceIntid = maintenanceIntid;
    this.engine = engine;
    this.tracer = options.tracer;
    this.clock = options.clock;
  }

  abstract setSpiLevel(intid: number, asserted: boolean): void;

  protected trace(kind: GicTraceKind, cpu: number, intid: number, virtual = false): void {
    const t = this.tracer;
    if (t === undefined) return;
    const cycle = this.clock?.now() ?? 0;
    const where = cpu < 0 ? undefined : cpu;
    if (virtual) t.emit({ kind, cycle, source: 'gic', cpu: where, vector: intid, args: { virtual: true } });
    else t.emit({ kind, cycle, source: 'gic', cpu: where, vector: intid });
  }

  /** With a tracer, the CPU-interface outputs also emit `interrupt.delivered` when IRQ or FIQ rises. */
  protected tracedOutputs(options: GicBaseOptions): CpuInterfaceOutputs {
    if (this.tracer === undefined) return options;
    const delivered = (cpu: number): void => {
      const key = this.cpuInterfaces[cpu]?.core.hppi() ?? -1;
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
      onWakeRequest: options.onWakeRequest,
    };
  }

  /** The virtual interface's outputs: the maintenance interrupt drives its PPI, hardware LRs deactivate the physical INTID. */
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

  protected updateAll(): void {
    for (const ci of this.cpuInterfaces) ci.core.update();
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

  irqLevel(cpu: number): boolean {
    this.engine.checkCpu(cpu);
    return this.cpuInterfaces[cpu]!.core.irqLevel;
  }

  fiqLevel(cpu: number): boolean {
    this.engine.checkCpu(cpu);
    return this.cpuInterfaces[cpu]!.core.fiqLevel;
  }

  virqLevel(cpu: number): boolean {
    this.engine.checkCpu(cpu);
    return this.virtualControls[cpu]!.core.virqLevel;
  }

  vfiqLevel(cpu: number): boolean {
    this.engine.checkCpu(cpu);
    return this.virtualControls[cpu]!.core.vfiqLevel;
  }
}
