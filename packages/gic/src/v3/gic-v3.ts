/**
 * GicV3: an Arm GICv3 for N PEs with a single Security state (IHI0069):
 * distributor and redistributors as MMIO, the CPU interface and the
 * hypervisor's virtual interface as system registers by name.
 */
import {
  ARM64_EXCEPTION_CLASS,
  CpuException,
  UsageError,
  assertInteger,
  assertU64,
  describeValue,
  readState,
  type Clock,
  type InterruptMessage,
  type InterruptTarget,
  type Tracer,
} from '@hvsim/core';
import { CpuInterfaceCore, type CpuInterfaceState } from '../common/cpu-interface.js';
import { IrqEngine, type IrqEngineState } from '../common/irq-state.js';
import { PPI_BASE, SPI_BASE, SPI_MAX } from '../common/intid.js';
import { VirtualInterfaceCore, type VirtualInterfaceState } from '../common/virtual-interface.js';
import { GicV3CpuInterface, type SgiRegister } from './cpu-interface.js';
import { GicV3Distributor, type GicV3DistributorState } from './distributor.js';
import { GicV3Redistributor, GicV3RedistributorRegion, type GicV3RedistributorState } from './redistributor.js';
import { GICV3_SYSREGS, type SysregInfo } from './sysregs.js';
import { GicV3VirtualInterface } from './virtual-interface.js';

/** Construction options of {@link GicV3}. */
export interface GicV3Options {
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
  tracer?: Tracer;
  clock?: Clock;
  onIrq?: (cpu: number, asserted: boolean) => void;
  onFiq?: (cpu: number, asserted: boolean) => void;
  onVirq?: (cpu: number, asserted: boolean) => void;
  onVfiq?: (cpu: number, asserted: boolean) => void;
  /** An interrupt is pending for a PE whose redistributor is asleep (GICR_WAKER.ProcessorSleep = 1). */
  onWakeRequest?: (cpu: number) => void;
}

/** A vCPU's GICv3 virtual interface context (what a hypervisor saves at vcpu_put). */
export interface GicV3VcpuState extends VirtualInterfaceState {
  type: 'hvsim.gic-v3.vcpu';
  version: 1;
  listRegisters: number;
  hcrTraps: number;
}

/** Saved state of a {@link GicV3}. */
export interface GicV3State {
  type: 'hvsim.gic-v3';
  version: 1;
  cpus: number;
  spis: number;
  engine: IrqEngineState;
  distributor: GicV3DistributorState;
  perCpu: {
    redistributor: GicV3RedistributorState;
    cpuInterface: CpuInterfaceState;
    virtualInterface: VirtualInterfaceState;
    hcrTraps: number;
    routing: number;
  }[];
}

interface SysregHandler {
  read?: (cpu: number) => number | bigint;
  write?: (cpu: number, value: bigint) => void;
}

/** A resolved register: its handler, its ICV_* counterpart and how routing and traps apply. */
interface SysregEntry {
  readonly info: SysregInfo;
  readonly handler: SysregHandler | undefined;
  /** For ICC_*_EL1 registers with a virtual counterpart: the ICV_* entry. */
  icv: SysregEntry | undefined;
  /** ICV_* registers: the ICH_HCR_EL2 trap class that covers them. */
  readonly trap: 'group0' | 'group1' | 'common' | 'dir' | undefined;
}

/** bigint values of small numbers (INTIDs, priorities), so hot register reads allocate nothing. */
const SMALL_BIGINT: readonly bigint[] = Array.from({ length: 1024 }, (_, i) => BigInt(i));

function toBigint(v: number | bigint): bigint {
  if (typeof v === 'bigint') return v;
  return v < 1024 ? SMALL_BIGINT[v]! : BigInt(v);
}

function lo32(v: bigint): number {
  return v <= 0xffff_ffffn ? Number(v) : Number(v & 0xffff_ffffn);
}

/** HCR_EL2.FMO / IMO routing bits kept per CPU. */
const ROUTE_FMO = 1;
const ROUTE_IMO = 2;

/** An Arm GICv3 (single Security state, affinity routing) with its virtual interface. */
export class GicV3 implements InterruptTarget {
  readonly cpus: number;
  readonly spis: number;
  /** The distributor frame (64 KiB) to map at GICD_base. */
  readonly distributor: GicV3Distributor;
  /** The redistributor region (`cpus` x 128 KiB) to map at GICR_base. */
  readonly redistributorRegion: GicV3RedistributorRegion;
  readonly maintenanceIntid: number;
  private readonly engine: IrqEngine;
  private readonly redistributors: GicV3Redistributor[] = [];
  private readonly cpuInterfaces: GicV3CpuInterface[] = [];
  private readonly virtualInterfaces: GicV3VirtualInterface[] = [];
  private readonly affinities: number[] = [];
  private readonly routing: Uint8Array;
  private readonly handlers = new Map<string, SysregHandler>();
  private readonly entries = new Map<string, SysregEntry>();
  private readonly tracer: Tracer | undefined;
  private readonly clock: Clock | undefined;

  constructor(options: GicV3Options) {
    const cpus = options.cpus;
    assertInteger(cpus, 'GicV3 cpus', 1, 256);
    const spis = options.spis ?? 64;
    assertInteger(spis, 'GicV3 spis', 0, SPI_MAX + 1 - SPI_BASE);
    if (spis % 32 !== 0 && spis !== 988) throw new UsageError('bad-argument', `GicV3 spis must be a multiple of 32 or 988, got ${describeValue(spis)}`);
    const priorityBits = options.priorityBits ?? 5;
    assertInteger(priorityBits, 'GicV3 priorityBits', 4, 8);
    const listRegisters = options.listRegisters ?? 4;
    assertInteger(listRegisters, 'GicV3 listRegisters', 1, 16);
    const vPri = options.virtualPriorityBits ?? 5;
    assertInteger(vPri, 'GicV3 virtualPriorityBits', 5, 8);
    const vPre = options.virtualPreemptionBits ?? 5;
    assertInteger(vPre, 'GicV3 virtualPreemptionBits', 5, Math.min(7, vPri));
    const mi = options.maintenanceIntid ?? 25;
    assertInteger(mi, 'GicV3 maintenanceIntid', PPI_BASE, SPI_BASE - 1);
    this.cpus = cpus;
    this.spis = spis;
    this.maintenanceIntid = mi;
    this.tracer = options.tracer;
    this.clock = options.clock;
    this.routing = new Uint8Array(cpus);
    const affinity = options.affinity ?? ((c: number) => ((c >>> 4) << 8) | (c & 15));
    for (let c = 0; c < cpus; c++) {
      const a = affinity(c);
      assertInteger(a, `affinity of cpu ${c}`, 0, 0xffff_ffff);
      if (this.affinities.includes(a)) throw new UsageError('bad-argument', `affinity 0x${a.toString(16)} of cpu ${c} is not unique`);
      this.affinities.push(a);
    }
    this.engine = new IrqEngine({ cpus, spis, priorityBits, routing: 'affinity' });
    const e = this.engine;
    this.distributor = new GicV3Distributor(e, this.affinities, () => this.updateAll());
    for (let c = 0; c < cpus; c++) {
      this.redistributors.push(new GicV3Redistributor(e, c, this.affinities[c]!, c === cpus - 1, () => this.onSleepChange()));
      const core = new CpuInterfaceCore(e, c, priorityBits, false, options);
      this.cpuInterfaces.push(new GicV3CpuInterface(e, c, this.affinities, core));
      const vcore = new VirtualInterfaceCore(
        c,
        { listRegisters, priorityBits: vPri, preemptionBits: vPre, group0AlwaysFiq: true },
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
      this.virtualInterfaces.push(new GicV3VirtualInterface(vcore));
    }
    this.redistributorRegion = new GicV3RedistributorRegion(this.redistributors);
    e.onChange = (cpu) => {
      this.cpuInterfaces[cpu]!.core.update();
    };
    this.buildHandlers();
    this.buildEntries();
    this.reset();
  }

  /** Puts every register in its reset state (IHI0069 12.9, 12.10, 12.2, 12.4). */
  reset(): void {
    this.engine.resetState();
    this.distributor.reset();
    for (const r of this.redistributors) r.reset();
    this.routing.fill(0);
    for (let c = 0; c < this.cpus; c++) {
      this.cpuInterfaces[c]!.core.reset();
      const v = this.virtualInterfaces[c]!;
      v.trapBits = 0;
      v.core.reset();
    }
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
    return this.virtualInterfaces[cpu]!;
  }

  /**
   * Models the PE running at EL1 with HCR_EL2.IMO / FMO set: ICC_* accesses
   * by name are then served by the virtual CPU interface (ICV_*), SGI
   * generation traps to EL2 (IHI0069 6.3 and 12.2.21). Clear both when the
   * PE runs at EL2 or without virtual interrupts.
   */
  setVirtualRouting(cpu: number, routing: { imo: boolean; fmo: boolean }): void {
    this.engine.checkCpu(cpu);
    this.routing[cpu] = (routing.imo ? ROUTE_IMO : 0) | (routing.fmo ? ROUTE_FMO : 0);
  }

  /** Reads a system register of `cpu` by name, e.g. `read(0, 'ICC_IAR1_EL1')`. */
  read(cpu: number, name: string): bigint {
    const h = this.resolve(cpu, name);
    if (h.read === undefined) throw undefinedAccess(name, 'read');
    return toBigint(h.read(cpu));
  }

  /** Writes a system register of `cpu` by name, e.g. `write(0, 'ICC_EOIR1_EL1', 27n)`. */
  write(cpu: number, name: string, value: bigint): void {
    const h = this.resolve(cpu, name);
    assertU64(value, name);
    if (h.write === undefined) throw undefinedAccess(name, 'write');
    h.write(cpu, value);
  }

  private resolve(cpu: number, name: string): SysregHandler {
    let entry = this.entries.get(name);
    if (entry === undefined) throw new UsageError('unknown-name', `unknown GICv3 system register ${describeValue(name)}`);
    if (!(cpu >= 0 && cpu < this.cpus && Number.isInteger(cpu))) this.engine.checkCpu(cpu);
    const route = this.routing[cpu]!;
    if (route !== 0) {
      const cls = entry.info.cls;
      if (cls === 'sgi') {
        throw new CpuException(ARM64_EXCEPTION_CLASS.SYS64, { arch: 'arm64', detail: `${name} at EL1 with HCR_EL2.IMO/FMO set traps to EL2` });
      }
      const virtual = cls === 'group0' ? (route & ROUTE_FMO) !== 0 : cls === 'group1' ? (route & ROUTE_IMO) !== 0 : cls === 'common' || cls === 'dir';
      if (virtual && entry.icv !== undefined) entry = entry.icv;
    }
    if (entry.trap !== undefined) this.virtualInterfaces[cpu]!.checkTrap(entry.trap, entry.info.name);
    if (entry.handler === undefined) throw undefinedAccess(name, 'access');
    return entry.handler;
  }

  private buildEntries(): void {
    for (const info of GICV3_SYSREGS.values()) {
      const isIcv = info.name.startsWith('ICV_');
      const trap = isIcv && (info.cls === 'group0' || info.cls === 'group1' || info.cls === 'common' || info.cls === 'dir') ? info.cls : undefined;
      this.entries.set(info.name, { info, handler: this.handlers.get(info.name), icv: undefined, trap });
    }
    for (const [name, entry] of this.entries) {
      if (name.startsWith('ICC_') && name.endsWith('_EL1')) entry.icv = this.entries.get(`ICV_${name.slice(4)}`);
    }
  }

  private buildHandlers(): void {
    const icc = (c: number): GicV3CpuInterface => this.cpuInterfaces[c]!;
    const icv = (c: number): GicV3VirtualInterface => this.virtualInterfaces[c]!;
    const lo = lo32;
    const hi = (v: bigint): number => Number((v >> 32n) & 0xffff_ffffn);
    const h = this.handlers;
    const apWords = this.cpuInterfaces[0]!.core.apr.words;
    for (const g of [0, 1]) {
      h.set(`ICC_IAR${g}_EL1`, {
        read: (c) => {
          const id = icc(c).readIar(g);
          this.trace('interrupt.acknowledged', c, id);
          return id;
        },
      });
      h.set(`ICC_EOIR${g}_EL1`, {
        write: (c, v) => {
          this.trace('interrupt.eoi', c, lo(v) & 0xff_ffff);
          icc(c).writeEoir(lo(v));
        },
      });
      h.set(`ICC_HPPIR${g}_EL1`, { read: (c) => icc(c).readHppir(g) });
      h.set(`ICC_BPR${g}_EL1`, { read: (c) => icc(c).readBpr(g), write: (c, v) => icc(c).writeBpr(g, lo(v)) });
      h.set(`ICC_IGRPEN${g}_EL1`, { read: (c) => icc(c).readIgrpen(g), write: (c, v) => icc(c).writeIgrpen(g, lo(v)) });
      for (let n = 0; n < apWords; n++) {
        h.set(`ICC_AP${g}R${n}_EL1`, { read: (c) => icc(c).readApr(g, n), write: (c, v) => icc(c).writeApr(g, n, lo(v)) });
      }
      h.set(`ICV_IAR${g}_EL1`, { read: (c) => icv(c).readIar(g) });
      h.set(`ICV_EOIR${g}_EL1`, { write: (c, v) => icv(c).writeEoir(g, lo(v)) });
      h.set(`ICV_HPPIR${g}_EL1`, { read: (c) => icv(c).readHppir(g) });
      h.set(`ICV_BPR${g}_EL1`, { read: (c) => icv(c).readBpr(g), write: (c, v) => icv(c).writeBpr(g, lo(v)) });
      h.set(`ICV_IGRPEN${g}_EL1`, { read: (c) => icv(c).readIgrpen(g), write: (c, v) => icv(c).writeIgrpen(g, lo(v)) });
      const vWords = this.virtualInterfaces[0]!.core.apr.words;
      for (let n = 0; n < vWords; n++) {
        h.set(`ICV_AP${g}R${n}_EL1`, { read: (c) => icv(c).readApr(g, n), write: (c, v) => icv(c).writeApr(g, n, lo(v)) });
        h.set(`ICH_AP${g}R${n}_EL2`, { read: (c) => icv(c).readApr(g, n), write: (c, v) => icv(c).writeApr(g, n, lo(v)) });
      }
    }
    h.set('ICC_PMR_EL1', { read: (c) => icc(c).readPmr(), write: (c, v) => icc(c).writePmr(lo(v)) });
    h.set('ICC_DIR_EL1', { write: (c, v) => icc(c).writeDir(lo(v)) });
    h.set('ICC_RPR_EL1', { read: (c) => icc(c).readRpr() });
    h.set('ICC_CTLR_EL1', { read: (c) => icc(c).readCtlr(), write: (c, v) => icc(c).writeCtlr(lo(v)) });
    // SRE, DFB and DIB are RAO/WI: the System register interface is always on (IHI0069 12.2.18).
    h.set('ICC_SRE_EL1', { read: () => 0x7, write: () => undefined });
    h.set('ICC_SRE_EL2', { read: () => 0xf, write: () => undefined });
    for (const r of ['ICC_SGI0R_EL1', 'ICC_SGI1R_EL1', 'ICC_ASGI1R_EL1'] as const) {
      h.set(r, { write: (c, v) => this.sendSgi(c, r, lo(v), hi(v)) });
    }
    h.set('ICV_PMR_EL1', { read: (c) => icv(c).readPmr(), write: (c, v) => icv(c).writePmr(lo(v)) });
    h.set('ICV_DIR_EL1', { write: (c, v) => icv(c).writeDir(lo(v)) });
    h.set('ICV_RPR_EL1', { read: (c) => icv(c).core.runningPriority() });
    h.set('ICV_CTLR_EL1', { read: (c) => icv(c).readCtlr(), write: (c, v) => icv(c).writeCtlr(lo(v)) });
    h.set('ICH_HCR_EL2', { read: (c) => icv(c).readHcr(), write: (c, v) => icv(c).writeHcr(lo(v)) });
    h.set('ICH_VTR_EL2', { read: (c) => icv(c).readVtr() });
    h.set('ICH_VMCR_EL2', { read: (c) => icv(c).readVmcr(), write: (c, v) => icv(c).writeVmcr(lo(v)) });
    h.set('ICH_MISR_EL2', { read: (c) => icv(c).core.misr() });
    h.set('ICH_EISR_EL2', { read: (c) => icv(c).core.eisr(0) });
    h.set('ICH_ELRSR_EL2', { read: (c) => icv(c).core.elrsr(0) });
    const nLr = this.virtualInterfaces[0]!.core.listRegisters;
    for (let n = 0; n < nLr; n++) {
      h.set(`ICH_LR${n}_EL2`, {
        read: (c) => (BigInt(icv(c).readLrHigh(n)) << 32n) | BigInt(icv(c).readLrLow(n)),
        write: (c, v) => icv(c).writeLr(n, lo(v), hi(v)),
      });
    }
  }

  private sendSgi(cpu: number, register: SgiRegister, lo: number, hi: number): void {
    const intid = (lo >>> 24) & 0xf;
    this.tracer?.emit({ kind: 'ipi.sent', cycle: this.clock?.now() ?? 0, source: 'gic', cpu, vector: intid, destination: (hi >>> 8) & 1 ? -1 : lo & 0xffff });
    this.cpuInterfaces[cpu]!.generateSgi(register, lo, hi);
  }

  private trace(kind: 'interrupt.raised' | 'interrupt.acknowledged' | 'interrupt.eoi', cpu: number, intid: number): void {
    this.tracer?.emit({ kind, cycle: this.clock?.now() ?? 0, source: 'gic', cpu, vector: intid });
  }

  private updateAll(): void {
    for (const ci of this.cpuInterfaces) ci.core.update();
  }

  private onSleepChange(): void {
    // 1-of-N eligibility and forwarding depend on every PE's sleep state.
    for (let i = SPI_BASE; i < this.engine.lines; i++) this.engine.refresh(0, i);
    this.updateAll();
  }

  /** Drives SPI `intid`'s input line (edge-triggered SPIs latch on a rising edge). */
  setSpiLevel(intid: number, asserted: boolean): void {
    this.engine.checkIntid(intid, SPI_BASE, 'SPI');
    if (asserted) this.trace('interrupt.raised', -1, intid);
    this.engine.setLine(0, intid, asserted);
  }

  /** Drives PPI `intid` (16-31) of `cpu`. */
  setPpiLevel(cpu: number, intid: number, asserted: boolean): void {
    this.engine.checkCpu(cpu);
    if (!Number.isInteger(intid) || intid < PPI_BASE || intid >= SPI_BASE) {
      throw new UsageError('bad-argument', `PPI must be an integer INTID in [16, 31], got ${describeValue(intid)}`);
    }
    this.engine.setLine(cpu, intid, asserted);
  }

  /**
   * Message-based SPI (IHI0069 12.9.33 GICD_SETSPI_NSR, 12.9.3 GICD_CLRSPI_NSR):
   * `set` true is a SETSPI write, false a CLRSPI write.
   */
  signalSpi(intid: number, set = true): void {
    this.engine.checkIntid(intid, SPI_BASE, 'SPI');
    if (set) this.trace('interrupt.raised', -1, intid);
    this.distributor.setSpi(intid, set);
  }

  /**
   * {@link InterruptTarget}: an edge message is a SETSPI write; a level
   * message drives the SPI line to `level` (default asserted).
   */
  acceptInterrupt(message: InterruptMessage): void {
    if (message.trigger === 'edge') this.signalSpi(message.vector, true);
    else this.setSpiLevel(message.vector, message.level ?? true);
  }

  irqLevel(cpu: number): boolean {
    return this.cpuInterface(cpu).core.irqLevel;
  }

  fiqLevel(cpu: number): boolean {
    return this.cpuInterface(cpu).core.fiqLevel;
  }

  virqLevel(cpu: number): boolean {
    return this.virtualInterface(cpu).core.virqLevel;
  }

  vfiqLevel(cpu: number): boolean {
    return this.virtualInterface(cpu).core.vfiqLevel;
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
    v.core.restoreState(r);
    v.trapBits = traps;
  }

  saveState(): GicV3State {
    return {
      type: 'hvsim.gic-v3',
      version: 1,
      cpus: this.cpus,
      spis: this.spis,
      engine: this.engine.saveState(),
      distributor: this.distributor.saveState(),
      perCpu: this.redistributors.map((r, c) => ({
        redistributor: r.saveState(),
        cpuInterface: this.cpuInterfaces[c]!.core.saveState(),
        virtualInterface: this.virtualInterfaces[c]!.core.saveState(),
        hcrTraps: this.virtualInterfaces[c]!.trapBits,
        routing: this.routing[c]!,
      })),
    };
  }

  /** Restores a state saved by a GicV3 of the same shape (CPUs, SPIs, list registers). */
  restoreState(state: unknown): void {
    const r = readState(state, 'hvsim.gic-v3', 1);
    r.int('cpus', this.cpus, this.cpus);
    r.int('spis', this.spis, this.spis);
    this.engine.restoreState(r.object('engine'));
    this.distributor.restoreState(r.object('distributor'));
    r.array(
      'perCpu',
      (p, c) => {
        this.redistributors[c]!.restoreState(p.object('redistributor'));
        this.cpuInterfaces[c]!.core.restoreState(p.object('cpuInterface'));
        this.virtualInterfaces[c]!.trapBits = p.int('hcrTraps', 0, 0xffff_ffff) & ((1 << 10) | (1 << 11) | (1 << 12) | (1 << 14));
        this.virtualInterfaces[c]!.core.restoreState(p.object('virtualInterface'));
        this.routing[c] = p.int('routing', 0, 3);
      },
      this.cpus,
    );
    for (const ci of this.cpuInterfaces) ci.core.fiqEn = true;
    this.engine.refreshAll();
  }
}

/** An access to an unimplemented or wrong-direction system register is UNDEFINED (Arm ARM D1.3). */
function undefinedAccess(name: string, what: string): CpuException {
  return new CpuException(ARM64_EXCEPTION_CLASS.UNKNOWN, { arch: 'arm64', detail: `${what} of ${name} is UNDEFINED` });
}
