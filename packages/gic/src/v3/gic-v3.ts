/**
 * GicV3: an Arm GICv3 for N PEs with a single Security state (IHI0069):
 * distributor and redistributors as MMIO, the CPU interface and the
 * hypervisor's virtual interface as system registers by name. With the
 * `lpis` option the redistributors implement LPIs (IHI0069 chapter 5) and
 * {@link GicV3.createIts} builds an ITS wired to them; with `lpis.gicv4` they
 * also implement GICv4.0 or GICv4.1 direct injection of vLPIs (and vSGIs).
 */
import {
  DELIVERY_STATUS,
  SnapshotError,
  UsageError,
  assertInteger,
  assertOptions,
  describeValue,
  readState,
  type Clock,
  type DeliveryStatus,
  type InterruptMessage,
  type InterruptTarget,
  type Memory,
  type Tracer,
} from '@hvsim/core';
import { GicV3Its, type GicV3ItsOptions } from '../its/its.js';
import { LpiRedistributor, type LpiRedistributorState } from '../lpi/lpi-redistributor.js';
import { LPI_FIRST } from '../lpi/regs.js';
import { GICR_V4_STRIDE } from '../v4/regs.js';
import { VpeRedistributor, type GicV4Version, type VpeRedistributorState } from '../v4/vpe-redistributor.js';
import { GICR_STRIDE } from './regs.js';
import { CpuInterfaceCore, type CpuInterfaceState } from '../common/cpu-interface.js';
import { GicBase, checkGicShape, checkWords } from '../common/gic-base.js';
import { IrqEngine, type IrqEngineState } from '../common/irq-state.js';
import { PPI_BASE, SPI_BASE as IMPORTED_SPI_BASE } from '../common/intid.js';
import { VirtualInterfaceCore, type VirtualInterfaceState } from '../common/virtual-interface.js';
import { GicV3CpuInterface, type SgiRegister } from './cpu-interface.js';
import { GicV3Distributor, type GicV3DistributorState } from './distributor.js';
import { GicV3Redistributor, GicV3RedistributorRegion, type GicV3RedistributorState } from './redistributor.js';
import { ROUTE_FMO, ROUTE_IMO, SysregDispatcher } from './sysreg-dispatch.js';
import type { GicV3SysregName } from './sysregs.js';
import { GicV3VirtualInterface } from './virtual-interface.js';

/** Module-local copy: imported bindings are live getters under Node's ESM loader. */
const FIRST_LPI = LPI_FIRST;

/** Module-local copies: imported bindings are live getters under Node's ESM loader (hot paths read these). */
const SPI_BASE = IMPORTED_SPI_BASE;

/** Every option {@link GicV3} knows (a misspelled one is an error). */
const GICV3_OPTION_KEYS: readonly (keyof GicV3Options)[] = [
  'lpis',
  'cpus',
  'spis',
  'priorityBits',
  'listRegisters',
  'virtualPriorityBits',
  'virtualPreemptionBits',
  'maintenanceIntid',
  'affinity',
  'tracer',
  'clock',
  'onIrq',
  'onFiq',
  'onVirq',
  'onVfiq',
  'onWakeRequest',
  'onPendingChange',
];

/** LPI and GICv4 options of {@link GicV3} (IHI0069 chapter 5). */
export interface GicV3LpiOptions {
  /** Memory holding the LPI configuration and pending tables (and the ITS's tables). */
  memory: Memory;
  /** INTID bits, 14-24 (GICD_TYPER.IDbits + 1). Default 16: LPIs 8192-65535, as KVM. */
  idBits?: number;
  /** GICv4 direct injection of vLPIs: 'v4.0', or 'v4.1' with vSGIs. Absent: GICv3 LPIs only. */
  gicv4?: GicV4Version;
}

/** Construction options of {@link GicV3}. */
export interface GicV3Options {
  /** LPIs (GICR_TYPER.PLPIS) and, optionally, GICv4 (GICR_TYPER.VLPIS). Absent: no LPIs. */
  lpis?: GicV3LpiOptions;
  /** Number of PEs, 1-256 (one redistributor each). */
  cpus: number;
  /** Number of SPIs: a multiple of 32 up to 960, or 988 (INTIDs 32-1019, GICD_TYPER.ITLinesNumber = 31). Default 64. */
  spis?: number;
  /** Implemented physical priority bits, 4-8 (ICC_CTLR_EL1.PRIbits + 1). Default 5, as KVM. */
  priorityBits?: number;
  /** List registers per virtual interface, 1-16 (ICH_VTR_EL2.ListRegs + 1). Default 4. */
  listRegisters?: number;
  /** Virtual priority bits, 5-8 (ICH_VTR_EL2.PRIbits + 1). Default 5. */
  virtualPriorityBits?: number;
  /** Virtual preemption bits, 5-7 and at most the priority bits (ICH_VTR_EL2.PREbits + 1). Default 5. */
  virtualPreemptionBits?: number;
  /** PPI the maintenance interrupt is wired to (BSA recommends 25). */
  maintenanceIntid?: number;
  /** Affinity Aff3.Aff2.Aff1.Aff0 of each PE as a 32-bit number; default as KVM: Aff0 = cpu % 16, Aff1 = cpu / 16. */
  affinity?: (cpu: number) => number;
  /** Tracer for interrupt events; with a clock the events carry its cycle. */
  /** Receives trace events (`interrupt.raised`, `.delivered`, `.acknowledged`, `.eoi`, `ipi.sent`). */
  tracer?: Tracer;
  /** Cycle source for trace events (cycle 0 without one). */
  clock?: Clock;
  /** `cpu`'s IRQ output changed level (the CPU interface signals an interrupt as IRQ). */
  onIrq?: (cpu: number, asserted: boolean) => void;
  /** `cpu`'s FIQ output changed level (Group 0 with FIQEn; with DS = 1 Group 0 is always FIQ). */
  onFiq?: (cpu: number, asserted: boolean) => void;
  /** `cpu`'s virtual IRQ output (from the ICV_* interface, to the vCPU) changed level. */
  onVirq?: (cpu: number, asserted: boolean) => void;
  /** `cpu`'s virtual FIQ output changed level. */
  onVfiq?: (cpu: number, asserted: boolean) => void;
  /** An interrupt is pending for a PE whose redistributor is asleep (GICR_WAKER.ProcessorSleep = 1). */
  onWakeRequest?: (cpu: number) => void;
  /**
   * The set of interrupts `cpu` could be given changed (one became pending,
   * enabled, routed there, or stopped being so): for a hypervisor using this
   * GIC as an emulated distributor, the moment to kick that vCPU (KVM's
   * kvm_vcpu_kick after vgic_queue_irq_unlock). Not called for the CPU
   * interface's own acknowledge and EOI.
   */
  onPendingChange?: (cpu: number) => void;
}

/** A vCPU's GICv3 virtual interface context (what a hypervisor saves at vcpu_put). */
export interface GicV3VcpuState extends VirtualInterfaceState {
  /** Snapshot kind. */
  type: 'hvsim.gic-v3.vcpu';
  /** Snapshot format version. */
  version: 1;
  /** List Registers of the interface it was saved from; a restore needs the same number. */
  listRegisters: number;
  /** ICH_HCR_EL2 trap bits TC, TALL0, TALL1 and TDIR. */
  hcrTraps: number;
}

/** Saved state of a {@link GicV3}. */
export interface GicV3State {
  /** Snapshot kind. */
  type: 'hvsim.gic-v3';
  /** Snapshot format version. */
  version: 1;
  /** Number of PEs. */
  cpus: number;
  /** Number of SPIs. */
  spis: number;
  /** Interrupt state shared by the distributor and redistributors (enables, pending, active, priorities, routes). */
  engine: IrqEngineState;
  /** GICD registers kept outside the engine. */
  distributor: GicV3DistributorState;
  /** Each PE's redistributor and interfaces. */
  perCpu: {
    /** GICR registers kept outside the engine. */
    redistributor: GicV3RedistributorState;
    /** ICC_* state. */
    cpuInterface: CpuInterfaceState;
    /** ICH_* state. */
    virtualInterface: VirtualInterfaceState;
    /** ICH_HCR_EL2 trap bits TC, TALL0, TALL1 and TDIR. */
    hcrTraps: number;
    /** HCR_EL2 routing of EL1 ICC_* accesses: bit 0 FMO, bit 1 IMO. */
    routing: number;
    /** Present when LPIs are configured. */
    lpi?: LpiRedistributorState;
    /** Present with GICv4 (saved only while no vPE is resident). */
    vpe?: VpeRedistributorState;
  }[];
}

/** An Arm GICv3 (single Security state, affinity routing) with its virtual interface. */
export class GicV3 extends GicBase<GicV3CpuInterface, GicV3VirtualInterface> implements InterruptTarget {
  /** The distributor frame (64 KiB) to map at GICD_base. */
  /** The distributor (one for every PE: GICv3 does not bank GICD). */
  private declare readonly gicd: GicV3Distributor;
  /** The redistributor region (`cpus` x 128 KiB) to map at GICR_base. */
  declare readonly redistributorRegion: GicV3RedistributorRegion;
  private readonly redistributors: GicV3Redistributor[] = [];
  private declare readonly affinities: number[];
  private declare readonly sysregs: SysregDispatcher;
  private readonly lpiRedistributors: LpiRedistributor[] = [];
  private readonly vpeRedistributors: VpeRedistributor[] = [];
  private declare readonly lpiOptions: GicV3LpiOptions | undefined;
  /** INTID bits with LPIs (GICD_TYPER.IDbits + 1), 0 without. */
  declare readonly lpiIdBits: number;
  /** 2^lpiIdBits with LPIs, else 0: one past the last LPI INTID. */
  private declare readonly lpiLimit: number;
  /** GICv4 version with direct injection, or undefined. */
  declare readonly gicv4: GicV4Version | undefined;
  private onPendingChange: ((cpu: number) => void) | undefined = undefined;

  /** `new GicV3(4)` is short for `new GicV3({ cpus: 4 })`. */
  constructor(optionsOrCpus: GicV3Options | number) {
    const options: GicV3Options = typeof optionsOrCpus === 'number' ? { cpus: optionsOrCpus } : optionsOrCpus;
    assertOptions(options, GICV3_OPTION_KEYS, 'GicV3');
    assertOptions(options.lpis, ['memory', 'idBits', 'gicv4'], 'GicV3 lpis');
    const { cpus, spis, priorityBits, listRegisters } = checkGicShape('GicV3', options, 256, 16);
    const vPri = options.virtualPriorityBits ?? 5;
    assertInteger(vPri, 'GicV3 virtualPriorityBits', 5, 8);
    const vPre = options.virtualPreemptionBits ?? 5;
    assertInteger(vPre, 'GicV3 virtualPreemptionBits', 5, Math.min(7, vPri));
    const mi = options.maintenanceIntid ?? 25;
    assertInteger(mi, 'GicV3 maintenanceIntid', PPI_BASE, SPI_BASE - 1);
    const affinity = options.affinity ?? ((c: number) => ((c >>> 4) << 8) | (c & 15));
    const affinities: number[] = [];
    for (let c = 0; c < cpus; c++) {
      const a = affinity(c);
      assertInteger(a, `affinity of cpu ${c}`, 0, 0xffff_ffff);
      if (affinities.includes(a)) throw new UsageError('bad-argument', `affinity 0x${a.toString(16)} of cpu ${c} is not unique`);
      affinities.push(a);
    }
    const e = new IrqEngine({ cpus, spis, priorityBits, routing: 'affinity' });
    super(cpus, spis, mi, e, options);
    this.affinities = affinities;
    this.gicd = new GicV3Distributor(e, this.affinities, () => this.updateAll());
    for (let c = 0; c < cpus; c++) {
      this.redistributors.push(new GicV3Redistributor(e, c, this.affinities[c]!, c === cpus - 1, () => this.onSleepChange()));
      const core = new CpuInterfaceCore(e, c, priorityBits, false, this.tracedOutputs(options));
      const ci = new GicV3CpuInterface(e, c, this.affinities, core);
      const vcore = new VirtualInterfaceCore(c, { listRegisters, priorityBits: vPri, preemptionBits: vPre, group0AlwaysFiq: true }, this.virtualOutputs(options));
      this.addCpu(ci, core, new GicV3VirtualInterface(vcore), vcore);
    }
    this.lpiOptions = options.lpis;
    this.lpiIdBits = 0;
    this.gicv4 = options.lpis?.gicv4;
    if (options.lpis !== undefined) this.lpiIdBits = this.attachLpis(options.lpis);
    this.lpiLimit = this.lpiIdBits > 0 ? 2 ** this.lpiIdBits : 0;
    this.redistributorRegion = new GicV3RedistributorRegion(this.redistributors, this.gicv4 === undefined ? GICR_STRIDE : GICR_V4_STRIDE);
    const onPendingChange = options.onPendingChange;
    this.onPendingChange = onPendingChange;
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
    this.sysregs = new SysregDispatcher(cpus, this.cpuInterfaces, this.virtualControls, {
      onAcknowledge: (cpu, intid, virtual) => {
        if (this.tracer !== undefined) this.trace('interrupt.acknowledged', cpu, intid, virtual, virtual ? this.virtualControls[cpu]!.core.lastFlow : 0);
      },
      onEoi: (cpu, intid, virtual) => {
        if (this.tracer !== undefined) this.trace('interrupt.eoi', cpu, intid, virtual, virtual ? this.virtualControls[cpu]!.core.activeFlow(intid) : 0);
      },
      onSgi: (cpu, register, lo, hi) => this.sendSgi(cpu, register, lo, hi),
    });
    this.reset();
  }

  /**
   * LPIs on every redistributor (IHI0069 5.1): an {@link LpiRedistributor}
   * whose pending, enabled LPIs join the CPU's candidate set above the SPI
   * keys, and with GICv4 a {@link VpeRedistributor} whose resident vPE feeds
   * the virtual CPU interface directly. Returns the INTID bits.
   */
  private attachLpis(lp: GicV3LpiOptions): number {
    const idBits = lp.idBits ?? 16;
    assertInteger(idBits, 'GicV3 lpis.idBits', 14, 24);
    const version: string | undefined = lp.gicv4;
    if (version !== undefined && version !== 'v4.0' && version !== 'v4.1') {
      throw new UsageError('bad-argument', `GicV3 lpis.gicv4 must be 'v4.0' or 'v4.1', got ${describeValue(lp.gicv4)}`);
    }
    const e = this.engine;
    const firstKey = e.lines;
    this.gicd.lpiIdBits = idBits;
    this.gicd.gicv4 = lp.gicv4 !== undefined;
    for (const ci of this.cpuInterfaces) ci.idBits24 = idBits > 16;
    for (const vi of this.virtualControls) vi.idBits24 = idBits > 16;
    for (let c = 0; c < this.cpus; c++) {
      const lpi = new LpiRedistributor({
        memory: lp.memory,
        idBits,
        priorityMask: e.priorityMask,
        candidates: e.candidates[c]!,
        keyBase: firstKey,
        onChange: () => {
          if (e.quietCpu !== c) {
            this.cpuInterfaces[c]!.core.update();
            this.onPendingChange?.(c);
          }
        },
      });
      this.lpiRedistributors.push(lpi);
      this.redistributors[c]!.lpi = lpi;
      if (lp.gicv4 !== undefined) {
        const vi = this.virtualControls[c]!;
        const vpe = new VpeRedistributor({
          memory: lp.memory,
          version: lp.gicv4,
          idBits,
          priorityMask: vi.core.priorityMask,
          doorbells: lpi,
          cpu: { vlpiChanged: () => vi.core.update() },
        });
        this.vpeRedistributors.push(vpe);
        this.redistributors[c]!.vpe = vpe;
        lpi.virtualPort = vpe;
        vi.core.direct = vpe;
        vi.directInjection = true;
      }
    }
    const lpis = this.lpiRedistributors;
    e.extension = {
      firstKey,
      priority: (cpu, key) => lpis[cpu]!.keyPriority(key),
      group: () => 1,
      intid: (key) => key - firstKey + LPI_FIRST,
      acknowledge: (cpu, key) => {
        lpis[cpu]!.acknowledgeKey(key);
      },
    };
    return idBits;
  }

  /**
   * Builds an ITS (IHI0069 5.2) wired to this GIC's redistributors and
   * memory: physical LPIs, and vLPIs with GICv4. Map it (its `size` bytes)
   * at ITS_base on the caller's bus.
   */
  createIts(options: Omit<GicV3ItsOptions, 'memory' | 'lpiPorts' | 'vlpiPorts' | 'version' | 'idBits'> = {}): GicV3Its {
    const lp = this.lpiOptions;
    if (lp === undefined) throw new UsageError('bad-state', 'GicV3.createIts needs a GIC constructed with the lpis option');
    return new GicV3Its({
      ...options,
      memory: lp.memory,
      lpiPorts: this.lpiRedistributors,
      ...(this.gicv4 === undefined ? { version: 'v3' as const } : { version: this.gicv4, vlpiPorts: this.vpeRedistributors }),
      idBits: this.lpiIdBits,
    });
  }

  /** `cpu`'s LPI redistributor part (for tests, debuggers and a KVM model), when LPIs are configured. */
  lpiRedistributor(cpu: number): LpiRedistributor {
    this.engine.checkCpu(cpu);
    const l = this.lpiRedistributors[cpu];
    if (l === undefined) throw new UsageError('bad-state', 'this GicV3 has no LPIs (construct it with the lpis option)');
    return l;
  }

  /** `cpu`'s GICv4 redistributor part, when GICv4 is configured. */
  vpeRedistributor(cpu: number): VpeRedistributor {
    this.engine.checkCpu(cpu);
    const v = this.vpeRedistributors[cpu];
    if (v === undefined) throw new UsageError('bad-state', 'this GicV3 has no GICv4 direct injection (construct it with lpis.gicv4)');
    return v;
  }

  /** Puts every register in its reset state (IHI0069 12.9, 12.10, 12.2, 12.4). */
  reset(): void {
    this.engine.resetState();
    this.gicd.reset();
    for (const r of this.redistributors) r.reset();
    for (const l of this.lpiRedistributors) l.reset();
    for (const v of this.vpeRedistributors) v.reset();
    this.sysregs.routing.fill(0);
    for (let c = 0; c < this.cpus; c++) {
      this.cpuInterfaces[c]!.core.reset();
      const v = this.virtualControls[c]!;
      v.trapBits = 0;
      v.core.reset();
    }
  }

  /**
   * The candidate key of `intid`: LPIs lie above the INTID range (see the `lpis` option).
   *
   * @internal
   */
  protected override keyOf(cpu: number, intid: number): number {
    this.engine.checkCpu(cpu);
    if (this.isLpi(intid)) return intid - FIRST_LPI + this.engine.lines;
    this.engine.checkIntid(intid, 0, 'INTID');
    return intid;
  }

  /**
   * An LPI in a list register: its pending state moves there (LPIs have no active state, IHI0069 5.1).
   *
   * @internal
   */
  protected override takeState(cpu: number, intid: number): number {
    if (!this.isLpi(intid)) return super.takeState(cpu, intid);
    return this.lpiRedistributors[cpu]!.clearPending(intid) ? 1 : 0;
  }

  /**
   * A folded list register sets an LPI pending again when it still is.
   *
   * @internal
   */
  protected override foldState(cpu: number, intid: number, state: number, source: number): void {
    if (!this.isLpi(intid)) {
      super.foldState(cpu, intid, state, source);
      return;
    }
    if ((state & 1) !== 0) this.lpiRedistributors[cpu]!.setPending(intid);
  }

  private isLpi(intid: number): boolean {
    // lpiLimit is 0 without LPIs; INTIDs are below 2^24, so `| 0` keeps exactly the integers.
    return intid >= FIRST_LPI && intid < this.lpiLimit && (intid | 0) === intid;
  }

  /**
   * The distributor frame (GICD, 64 KiB) as PE `cpu` sees it: the same
   * device for every PE (GICv3 banks SGIs and PPIs in the redistributors,
   * IHI0069 12.9), reached the same way as `GicV2.distributorFor(cpu)`.
   */
  distributorFor(cpu: number): GicV3Distributor {
    this.engine.checkCpu(cpu);
    return this.gicd;
  }

  /**
   * The distributor frame (GICD, 64 KiB).
   *
   * @deprecated Use {@link distributorFor} (`distributorFor(cpu)`), the shape GicV2 shares.
   */
  get distributor(): GicV3Distributor {
    return this.gicd;
  }

  /** Affinity (Aff3.Aff2.Aff1.Aff0) of `cpu`, as MPIDR_EL1 reports it. */
  affinityOf(cpu: number): number {
    this.engine.checkCpu(cpu);
    return this.affinities[cpu]!;
  }

  /** The ICC_* register view of `cpu`'s CPU interface, with number-valued methods for hot paths. */
  cpuInterface(cpu: number): GicV3CpuInterface {
    this.engine.checkCpu(cpu);
    return this.cpuInterfaces[cpu]!;
  }

  /** The ICH_*_EL2 / ICV_* view of `cpu`'s virtual interface. */
  virtualInterface(cpu: number): GicV3VirtualInterface {
    this.engine.checkCpu(cpu);
    return this.virtualControls[cpu]!;
  }

  /**
   * Models the PE running at EL1 with HCR_EL2.IMO / FMO set: ICC_* accesses
   * by name are then served by the virtual CPU interface (ICV_*), SGI
   * generation traps to EL2 (IHI0069 6.3 and 12.2.22). Clear both when the
   * PE runs at EL2 or without virtual interrupts.
   */
  setVirtualRouting(cpu: number, routing: { imo: boolean; fmo: boolean }): void {
    this.engine.checkCpu(cpu);
    this.sysregs.routing[cpu] = (routing.imo ? ROUTE_IMO : 0) | (routing.fmo ? ROUTE_FMO : 0);
  }

  /**
   * Reads a system register of `cpu` by name, e.g. `read(0, 'ICC_IAR1_EL1')`.
   * An unknown name throws `UsageError` (`'unknown-name'`).
   */
  read(cpu: number, name: GicV3SysregName): bigint;
  // Two overloads on purpose: the typed one, and the string one kept (deprecated) for existing callers.
  /** @deprecated Pass a {@link GicV3SysregName}; a plain `string` is checked only at run time. */
  // eslint-disable-next-line @typescript-eslint/unified-signatures
  read(cpu: number, name: string): bigint;
  read(cpu: number, name: string): bigint {
    return this.sysregs.read(cpu, name);
  }

  /**
   * Writes a system register of `cpu` by name, e.g. `write(0, 'ICC_EOIR1_EL1', 27n)`.
   * An unknown name throws `UsageError` (`'unknown-name'`).
   */
  write(cpu: number, name: GicV3SysregName, value: bigint): void;
  /** @deprecated Pass a {@link GicV3SysregName}; a plain `string` is checked only at run time. */
  // eslint-disable-next-line @typescript-eslint/unified-signatures
  write(cpu: number, name: string, value: bigint): void;
  write(cpu: number, name: string, value: bigint): void {
    this.sysregs.write(cpu, name, value);
  }

  /**
   * MRS of the GIC system register with MRS/MSR encoding `encoding`
   * (`sysregEncoding(op0, op1, CRn, CRm, op2)`), as a CPU decodes it: the
   * same routing (HCR_EL2.IMO/FMO, {@link setVirtualRouting}), ICH_HCR_EL2
   * traps (CpuException EC 0x18) and UNDEFINED cases (EC 0x00, also for an
   * encoding that is no GIC register) as {@link read}, on numbers: returns
   * bits [31:0]; bits [63:32] (ICH_LR<n>_EL2) are then in {@link sysregHigh}.
   */
  readSysreg(cpu: number, encoding: number): number {
    return this.sysregs.readEncoded(cpu, encoding);
  }

  /** Bits [63:32] of the register the last {@link readSysreg} read (0 for 32-bit registers). */
  get sysregHigh(): number {
    return this.sysregs.high;
  }

  /** MSR of `hi:lo` (32-bit unsigned halves) to the GIC system register `encoding`; see {@link readSysreg}. */
  writeSysreg(cpu: number, encoding: number, lo: number, hi = 0): void {
    this.sysregs.writeEncoded(cpu, encoding, lo, hi);
  }

  /** True when `encoding` is a GICv3 system register (ICC_*, or ICH_* at EL2), so a CPU knows to send MRS/MSR here. */
  hasSysreg(encoding: number): boolean {
    return this.sysregs.implements(encoding);
  }

  private sendSgi(cpu: number, register: SgiRegister, lo: number, hi: number): void {
    const intid = (lo >>> 24) & 0xf;
    this.tracer?.emit({ kind: 'ipi.sent', cycle: this.clock?.now() ?? 0, source: 'gic', cpu, vector: intid, destination: (hi >>> 8) & 1 ? -1 : lo & 0xffff });
    this.cpuInterfaces[cpu]!.generateSgi(register, lo, hi);
  }

  private onSleepChange(): void {
    // 1-of-N eligibility and forwarding depend on every PE's sleep state.
    for (let i = SPI_BASE; i < this.engine.lines; i++) this.engine.refreshRoute(i);
    this.updateAll();
  }

  /** Drives SPI `intid`'s input line (edge-triggered SPIs latch on a rising edge). */
  setSpiLevel(intid: number, asserted: boolean): void {
    this.engine.checkIntid(intid, SPI_BASE, 'SPI');
    if (asserted) this.traceUntracked(intid);
    this.engine.setLine(0, intid, asserted);
  }

  /**
   * Message-based SPI (IHI0069 12.9.33 GICD_SETSPI_NSR, 12.9.1 GICD_CLRSPI_NSR):
   * `set` true is a SETSPI write, false a CLRSPI write.
   */
  signalSpi(intid: number, set = true): void {
    const e = this.engine;
    if (set && this.tracer === undefined && intid >= SPI_BASE && intid < e.lines && (intid | 0) === intid) e.raiseSpi(intid);
    else this.signalSpiChecked(intid, set);
  }

  /** {@link signalSpi} with its argument check, a clear-pending or a trace. */
  private signalSpiChecked(intid: number, set: boolean): void {
    this.engine.checkIntid(intid, SPI_BASE, 'SPI');
    if (!set) {
      this.gicd.setSpi(intid, false);
      return;
    }
    this.traceUntracked(intid);
    this.engine.raiseSpi(intid);
  }

  /**
   * {@link InterruptTarget}: an edge message is a SETSPI write; a level
   * message drives the SPI line to `level` (default asserted). Returns core's
   * `DeliveryStatus`: COALESCED when the SPI was already pending (or a
   * deassert found the line low), BLOCKED when it is pending but disabled,
   * its group disabled or routed nowhere, DELIVERED otherwise. The message's
   * `flow` is carried into the SPI's trace events.
   */
  acceptInterrupt(message: InterruptMessage): DeliveryStatus {
    const intid = message.vector;
    this.engine.checkIntid(intid, SPI_BASE, 'SPI');
    const flow = message.flow ?? 0;
    const e = this.engine;
    const wasPending = e.isPending(0, intid);
    const assert = message.trigger === 'edge' || (message.level ?? true);
    if (!assert) {
      // A deasserting level message: COALESCED when the line was already low.
      const high = e.level[e.slot(0, intid)] === 1;
      this.setSpiLevel(intid, false);
      return high ? DELIVERY_STATUS.DELIVERED : DELIVERY_STATUS.COALESCED;
    }
    if (!wasPending) this.spiFlow[intid - SPI_BASE] = flow;
    this.trace('interrupt.raised', -1, intid, false, flow);
    if (message.trigger === 'edge') this.gicd.setSpi(intid, true);
    else e.setLine(0, intid, true);
    return this.spiStatus(intid, wasPending);
  }

  /** Level of `cpu`'s maintenance interrupt (ICH_HCR_EL2.En && ICH_MISR_EL2 != 0). */
  maintenanceLevel(cpu: number): boolean {
    return this.virtualInterface(cpu).core.maintenanceLevel;
  }

  /**
   * Saves `cpu`'s virtual interface — list registers, ICH_HCR_EL2, ICH_VMCR_EL2
   * and the active priorities — so a descheduled vCPU can be restored on any
   * PE with {@link restoreVirtualInterface}.
   */
  saveVirtualInterface(cpu: number): GicV3VcpuState {
    const v = this.virtualInterface(cpu);
    return { type: 'hvsim.gic-v3.vcpu', version: 1, listRegisters: v.core.listRegisters, hcrTraps: v.trapBits, ...v.core.saveState() };
  }

  /** Loads a vCPU context saved by {@link saveVirtualInterface} into `cpu`'s virtual interface. */
  restoreVirtualInterface(cpu: number, state: unknown): void {
    const v = this.virtualInterface(cpu);
    const r = readState(state, 'hvsim.gic-v3.vcpu', 1);
    r.int('listRegisters', v.core.listRegisters, v.core.listRegisters);
    const traps = r.int('hcrTraps', 0, 0xffff_ffff) & ((1 << 10) | (1 << 11) | (1 << 12) | (1 << 14));
    const commit = v.core.prepareRestore(r);
    v.trapBits = traps;
    commit();
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
    const v = this.virtualInterface(cpu);
    checkWords(out, offset, v.core.contextWords, 'saveVirtualInterfaceWords');
    v.core.saveWords(out, offset);
    out[offset + 2] = v.trapBits;
  }

  /** Loads a context saved by {@link saveVirtualInterfaceWords} into `cpu`'s virtual interface (a hot vcpu_load, on any PE). */
  restoreVirtualInterfaceWords(cpu: number, from: Uint32Array, offset = 0): void {
    const v = this.virtualInterface(cpu);
    checkWords(from, offset, v.core.contextWords, 'restoreVirtualInterfaceWords');
    v.trapBits = from[offset + 2]! & ((1 << 10) | (1 << 11) | (1 << 12) | (1 << 14));
    v.core.loadWords(from, offset);
  }

  /** Saves the whole GIC (with LPI and vPE state when configured) as JSON-safe data with a version. */
  saveState(): GicV3State {
    return {
      type: 'hvsim.gic-v3',
      version: 1,
      cpus: this.cpus,
      spis: this.spis,
      engine: this.engine.saveState(),
      distributor: this.gicd.saveState(),
      perCpu: this.redistributors.map((r, c) => ({
        redistributor: r.saveState(),
        cpuInterface: this.cpuInterfaces[c]!.core.saveState(),
        virtualInterface: this.virtualControls[c]!.core.saveState(),
        hcrTraps: this.virtualControls[c]!.trapBits,
        routing: this.sysregs.routing[c]!,
        ...(this.lpiRedistributors[c] === undefined ? {} : { lpi: this.lpiRedistributors[c].saveState() }),
        ...(this.vpeRedistributors[c] === undefined ? {} : { vpe: this.vpeRedistributors[c].saveState() }),
      })),
    };
  }

  /**
   * Restores a state saved by a GicV3 of the same shape (CPUs, SPIs, list
   * registers, LPIs). The whole state is validated first: when it throws,
   * nothing has changed. The order among equal-priority pending interrupts
   * is restored as saved.
   */
  restoreState(state: unknown): void {
    const r = readState(state, 'hvsim.gic-v3', 1);
    r.int('cpus', this.cpus, this.cpus);
    r.int('spis', this.spis, this.spis);
    const engine = r.object('engine');
    const commits: (() => void)[] = [this.engine.prepareRestore(engine), this.gicd.prepareRestore(r.object('distributor'))];
    const order = this.engine.readOrder(engine, this.engine.candidates[0]!.capacity - 1);
    const traps: number[] = [];
    const routing: number[] = [];
    r.array(
      'perCpu',
      (p, c) => {
        commits.push(this.redistributors[c]!.prepareRestore(p.object('redistributor')));
        commits.push(this.cpuInterfaces[c]!.core.prepareRestore(p.object('cpuInterface')));
        traps.push(p.int('hcrTraps', 0, 0xffff_ffff) & ((1 << 10) | (1 << 11) | (1 << 12) | (1 << 14)));
        commits.push(this.virtualControls[c]!.core.prepareRestore(p.object('virtualInterface')));
        routing.push(p.int('routing', 0, 3));
        // LPI and GICv4 parts are present exactly when this GIC has them (same shape as the saver).
        if (this.lpiRedistributors[c] === undefined && p.has('lpi')) throw new SnapshotError('shape', `${p.path}: LPI state for a GIC without LPIs`);
        if (this.vpeRedistributors[c] === undefined && p.has('vpe')) throw new SnapshotError('shape', `${p.path}: GICv4 state for a GIC without GICv4`);
        const lpi = this.lpiRedistributors[c];
        if (lpi !== undefined) commits.push(lpi.prepareRestore(p.object('lpi')));
        const vpe = this.vpeRedistributors[c];
        if (vpe !== undefined) commits.push(vpe.prepareRestore(p.object('vpe')));
      },
      this.cpus,
    );
    // Everything is valid: commit.
    for (let c = 0; c < this.cpus; c++) {
      this.virtualControls[c]!.trapBits = traps[c]!;
      this.sysregs.routing[c] = routing[c]!;
    }
    for (const commit of commits) commit();
    for (const ci of this.cpuInterfaces) ci.core.fiqEn = true;
    this.engine.refreshAll(order);
  }
}
