/**
 * An arm64 KVM vCPU (Linux arch/arm64/kvm/arm.c `kvm_arch_vcpu_ioctl_run`,
 * handle_exit.c, mmu.c `kvm_handle_guest_abort`, psci.c, arch_timer.c): an
 * `Arm64Cpu` of `@hvsim/cpu` running the guest at EL1 under HCR_EL2 (VM,
 * IMO, FMO, TWI, TWE, TSC, RW) on its own physical CPU, one code path for
 * split-mode (nVHE) and VHE KVM with their world-switch costs.
 *
 * The run loop: requests (a powered-off vCPU sleeps; a PSCI CPU_ON reset),
 * the vGIC flush into the list registers, entry, guest execution, exit, the
 * vGIC fold, the host's interrupts (with interrupts enabled, as after
 * local_irq_enable), then the exit handler chosen by ESR_EL2.EC (Arm ARM D19
 * "ESR_EL2"): WFI polls, then blocks until an interrupt is pending
 * (kvm_vcpu_wfi, kvm_vcpu_halt), WFE
 * yields, HVC is an SMCCC call (PSCI), a data abort maps a page of its
 * memslot or is MMIO (an in-kernel device, an ioeventfd, or KVM_EXIT_MMIO),
 * ICC_SGI1R_EL1 traps send SGIs through the vGIC, IRQ exits only let the
 * host take its interrupt.
 */
import { ARM64_EXCEPTION_CLASS, type Clock, type Memslots, type PhysicalMemory } from '@hvsim/core';
import { Arm64Cpu, HCR_EL2 as IMPORTED_HCR, SCTLR_EL1_RESET, type Arm64CostProfile, type Arm64Exit, type Arm64Guest, type GuestProgram, type Op } from '@hvsim/cpu';
import { GICR_SGI, GICR_SGI_BASE, sysregEncoding, type GenericTimer, type GenericTimerContext, type GicV3 } from '@hvsim/gic';
import { ArmMmu, Stage2Walker, type Stage2Builder } from '@hvsim/mmu';
import { KVM_EXIT, KVM_EXIT_NAME, KVM_INTERNAL_ERROR } from '../generic/constants.js';
import { fail, hex, u32 } from '../generic/errors.js';
import { ExitStats } from '../generic/exit-stats.js';
import { HaltPoll, type HaltPollParams } from '../generic/halt-poll.js';
import type { IoeventfdTable } from '../generic/ioeventfd.js';
import { readLe, writeLe } from '../x86/kvm-run.js';
import {
  KVM_ARM_MP_STATE,
  KVM_ARM_PSCI_0_1,
  KVM_ARM_PSCI_1_1,
  KVM_ARM_TARGET,
  KVM_ARM_VCPU_FEATURE,
  KVM_ARM_VCPU_FEATURES_KNOWN,
  KVM_ARM_VCPU_FEATURES_SUPPORTED,
  KVM_REG,
  KVM_REG_ARM_PSCI_VERSION,
  KVM_REG_ARM_TIMER,
  arm64SysRegId,
} from './constants.js';
import { CoreRegisterFile, coreRegIds, coreRegSlot, regBytes } from './core-regs.js';
import { Arm64KvmRun } from './kvm-run.js';
import { psciCall, type PsciHost } from './psci.js';
import { SmcccArgs } from './smccc.js';
import { HOST_LPI_FIRST } from './host-its.js';
import { VTIMER_PPI, type Arm64Vgic } from './vgic.js';
import type { VgicV4 } from './vgic-v4.js';
import type { Arm64WorldSwitchCosts } from './world-switch-costs.js';

const EC = ARM64_EXCEPTION_CLASS;
const HCR = IMPORTED_HCR;
/** HCR_EL2 while a guest runs (KVM's HCR_GUEST_FLAGS, the bits this CPU model has). */
const GUEST_HCR = HCR.VM | HCR.IMO | HCR.FMO | HCR.TWI | HCR.TWE | HCR.TSC | HCR.RW;
/** PSTATE at vCPU reset: EL1h with D, A, I, F masked (kvm_reset_vcpu's VCPU_RESET_PSTATE_EL1). */
const RESET_PSTATE = 0x3c5;
/** ISS of a data abort: ISV, SAS, SSE, WnR (Arm ARM D19 "ISS encoding for an exception from a Data Abort"). */
const ISS_ISV = 1 << 24;
const ISS_WNR = 1 << 6;
const ISS_SSE = 1 << 21;
/** The host's reschedule IPI (kvm_vcpu_kick → smp_send_reschedule) and the VMM's signal, as SGIs of the host GIC. */
export const IPI_RESCHEDULE = 0;
/** The SGI standing for "a signal is pending for the vCPU thread" (the run budget ran out). */
export const IPI_SIGNAL = 1;
const SGI1R = sysregEncoding(3, 0, 12, 11, 5);
const ASGI1R = sysregEncoding(3, 0, 12, 11, 6);
const SGI0R = sysregEncoding(3, 0, 12, 11, 7);
const SPURIOUS = 1023;

/** `struct kvm_vcpu_init` (api.rst 4.82). */
export interface KvmVcpuInit {
  target: number;
  /** features[0..6]; bit n of features[0] is feature n. */
  features?: readonly number[];
}

/** KVM's vCPU state beside its registers (see {@link Arm64Vcpu.runState}). */
export interface Arm64VcpuRunState {
  /** features[0] of KVM_ARM_VCPU_INIT (-1: not initialized). */
  features: number;
  /** KVM_ARM_MP_STATE: RUNNABLE 0, STOPPED 5. */
  mp: number;
  /** The entry PC of a pending reset, or of the code. */
  pc: number;
  resetPending: boolean;
  started: boolean;
  /** Whether KVM holds the vGIC's PPI 27 line high for the timer. */
  timerLine: boolean;
}

/** Options of a run (this model's stand-in for a signal arriving). */
export interface Arm64RunOptions {
  /** Guest cycles after which a pending "signal" ends KVM_RUN with KVM_EXIT_INTR (default 10^9). */
  maxCycles?: number;
}

/** What a vCPU needs of its VM. */
export interface Arm64VcpuHost extends PsciHost {
  readonly memory: PhysicalMemory;
  readonly clock: Clock;
  readonly memslots: Memslots;
  readonly ioeventfds: IoeventfdTable;
  readonly stats: ExitStats;
  readonly program: GuestProgram<Arm64Guest>;
  readonly stage2: Stage2Builder;
  readonly vtcr: bigint;
  readonly vttbr: bigint;
  readonly hostGic: GicV3;
  readonly hostTimer: GenericTimer;
  readonly vgic: Arm64Vgic | undefined;
  readonly costs: Arm64WorldSwitchCosts;
  /** The guest CPUs' cycle costs (KvmOptions.arm64CpuCosts), or undefined for `@hvsim/cpu`'s defaults. */
  readonly cpuCosts: Arm64CostProfile | undefined;
  /** Guest CPUs log their code's results so that a vCPU can be saved mid-code (KvmOptions.snapshots). */
  readonly snapshots: boolean;
  /** vCPUs running right now (vgic attribute accesses need none). */
  running: number;
  /** A vCPU entered KVM_RUN. */
  noteRun(): void;
  /** GICv4 direct injection of the VM, when the host has it and the VM a vITS. */
  readonly v4: VgicV4 | undefined;
  /** The kvm module's halt-polling parameters. */
  readonly haltPollParams: HaltPollParams;
  /** kvm->max_halt_poll_ns (the module's halt_poll_ns or KVM_CAP_HALT_POLL's), read at each halt. */
  readonly maxHaltPollNs: number;
  /** Cycles each physical CPU spent in halt polling, by pCPU (charged by the vCPU polling on it). */
  readonly haltPollCycles: Float64Array;
  /** The host took LPI `intid` (a doorbell, an assigned device's interrupt): run its handler. */
  hostLpi(intid: number): void;
}

/** An arm64 vCPU (see the file comment). */
export class Arm64Vcpu {
  /** kvm_run. */
  readonly kvmRun = new Arm64KvmRun();
  /** This vCPU's exits by reason (ESR_EL2.EC names, IRQ, then KVM_EXIT_* names). */
  readonly stats = new ExitStats();
  /** The guest CPU. */
  readonly cpu: Arm64Cpu;
  /** The physical CPU it runs on (its host GIC CPU interface and timer). */
  readonly pcpu: number;
  /** MPIDR_EL1: Aff0 = id bits 3:0, Aff1 = id bits 11:4 (KVM's reset_mpidr). */
  mpidr: number;
  /** Halt polling on WFI: `haltPollNs` (vcpu->halt_poll_ns) and the halt statistics (`halt_successful_poll`...). */
  readonly haltPoll: HaltPoll;
  private readonly regs = new CoreRegisterFile();
  private readonly mmu: ArmMmu;
  private readonly smccc = new SmcccArgs();
  private readonly mmioOut = { lo: 0, hi: 0 };
  private features = -1;
  private mp: number = KVM_ARM_MP_STATE.RUNNABLE;
  private pc = 0;
  private resetPending = false;
  private attached = false;
  private started = false;
  private mmioPending: 'read' | 'write' | null = null;
  private mmioReadSigned = 0;
  private signalPending = false;
  private inGuest = false;
  /** Inside KVM_RUN (its loop takes host interrupts itself). */
  private inRun = false;
  private wakeRequested = false;
  /** Scheduled out in kvm_vcpu_halt (after polling): a wake-up counts halt_wakeup. */
  private blocked = false;
  private timerContext: GenericTimerContext | undefined;
  /** The current KVM_RUN's budget end (the VMM's signal). */
  private deadline = 0;
  /** Whether KVM has set the vGIC's PPI 27 line high (kvm_timer_update_irq). */
  private timerLine = false;

  constructor(
    private readonly host: Arm64VcpuHost,
    /** The vCPU id (KVM_CREATE_VCPU's argument). */
    readonly id: number,
  ) {
    this.pcpu = id;
    this.haltPoll = new HaltPoll(host.haltPollParams, () => host.maxHaltPollNs);
    this.mpidr = (id & 0xf) | (((id >>> 4) & 0xff) << 8);
    const stage2 = new Stage2Walker(host.memory);
    stage2.setVtcr(host.vtcr);
    stage2.setVttbr(host.vttbr);
    this.stage2Walker = stage2;
    this.mmu = new ArmMmu(host.memory, { context: { sctlr: BigInt(SCTLR_EL1_RESET) }, clock: host.clock, cpu: id });
    this.cpu = new Arm64Cpu({
      memory: host.memory,
      program: host.program,
      gic: host.hostGic,
      timer: host.hostTimer,
      mmu: this.mmu,
      clock: host.clock,
      cpu: this.pcpu,
      snapshots: host.snapshots,
      ...(host.cpuCosts === undefined ? {} : { costs: host.cpuCosts }),
    });
  }

  private readonly stage2Walker: Stage2Walker;

  /** Drops this vCPU's cached stage 2 translations (TLBI VMALLS12E1IS after a memslot change). */
  flushTlb(): void {
    this.mmu.tlbi('VMALLS12E1IS');
  }

  // --- KVM_ARM_VCPU_INIT, MP state, one-reg ------------------------------------------------------

  /**
   * KVM_ARM_VCPU_INIT (api.rst 4.82): resets the vCPU with `features`.
   * EINVAL for a target other than KVM_ARM_TARGET_GENERIC_V8 (the preferred
   * one), for features this model does not implement, or for a different
   * feature set than a previous init; ENOENT for an unknown feature bit.
   */
  init(init: KvmVcpuInit): void {
    if (typeof (init as unknown) !== 'object' || (init as unknown) === null) fail('EFAULT', 'KVM_ARM_VCPU_INIT needs a struct kvm_vcpu_init');
    const target = u32(init.target, 'target');
    const features = init.features ?? [];
    if (features.length > 7) fail('EINVAL', `kvm_vcpu_init has 7 feature words, got ${features.length}`);
    features.forEach((w, i) => u32(w, `features[${i}]`));
    const f0 = features[0] ?? 0;
    if (features.slice(1).some((w) => w !== 0) || (f0 & ~KVM_ARM_VCPU_FEATURES_KNOWN) !== 0) fail('ENOENT', `feature bits ${features.map((w) => hex(w)).join(', ')} name a feature KVM does not know`);
    if (target !== KVM_ARM_TARGET.GENERIC_V8) fail('EINVAL', `target ${target} is not the preferred target KVM_ARM_TARGET_GENERIC_V8 (5)`);
    if ((f0 & ~KVM_ARM_VCPU_FEATURES_SUPPORTED) !== 0) fail('EINVAL', `features ${hex(f0)} include one this model does not implement (only POWER_OFF and PSCI_0_2)`);
    if (this.features >= 0 && this.features !== f0) fail('EINVAL', `features ${hex(f0)} differ from the first KVM_ARM_VCPU_INIT's ${hex(this.features)}`);
    this.features = f0;
    this.regs.reset();
    this.pc = 0;
    this.mp = (f0 & (1 << KVM_ARM_VCPU_FEATURE.POWER_OFF)) !== 0 ? KVM_ARM_MP_STATE.STOPPED : KVM_ARM_MP_STATE.RUNNABLE;
    this.resetPending = true;
    this.started = false;
    this.mmioPending = null;
    this.cpu.setRegisters({ pstate: RESET_PSTATE, elr: 0, spsr: 0, esr: 0, far: 0, vbar: 0 });
  }

  /** Whether KVM_ARM_VCPU_INIT was done (kvm_vcpu_initialized). */
  get initialized(): boolean {
    return this.features >= 0;
  }

  /** The PSCI version this vCPU's guest sees: 1.1 with KVM_ARM_VCPU_PSCI_0_2, else 0.1. */
  get psciVersion(): number {
    return (this.features & (1 << KVM_ARM_VCPU_FEATURE.PSCI_0_2)) !== 0 ? KVM_ARM_PSCI_1_1 : KVM_ARM_PSCI_0_1;
  }

  private requireInit(what: string): void {
    // arm.c: a vCPU ioctl that needs an initialised vCPU answers ENOEXEC before KVM_ARM_VCPU_INIT.
    if (this.features < 0) fail('ENOEXEC', `${what} before KVM_ARM_VCPU_INIT`);
  }

  /** KVM_GET_MP_STATE: RUNNABLE (0) or STOPPED (5, powered off). */
  getMpState(): number {
    return this.mp;
  }

  /** KVM_SET_MP_STATE: RUNNABLE or STOPPED; EINVAL otherwise. */
  setMpState(state: number): void {
    if (state !== KVM_ARM_MP_STATE.RUNNABLE && state !== KVM_ARM_MP_STATE.STOPPED) fail('EINVAL', `mp_state ${String(state)} is not RUNNABLE (0) or STOPPED (5)`);
    this.mp = state;
    if (state === KVM_ARM_MP_STATE.RUNNABLE) this.kick();
  }

  /** KVM_GET_REG_LIST: the core registers, the system registers and the timer. */
  getRegList(): bigint[] {
    this.requireInit('KVM_GET_REG_LIST');
    return [...coreRegIds(), ...SYSREG_IDS.keys(), KVM_REG_ARM_TIMER.CTL, KVM_REG_ARM_TIMER.CNT, KVM_REG_ARM_TIMER.CVAL, KVM_REG_ARM_PSCI_VERSION];
  }

  /** KVM_GET_ONE_REG (api.rst 4.69): the register's value (a 128-bit V register as bits 127:0). */
  getOneReg(id: bigint): bigint {
    this.requireInit('KVM_GET_ONE_REG');
    return this.oneReg(checkId(id), false, 0n);
  }

  /**
   * KVM_SET_ONE_REG (api.rst 4.68). PSTATE must be EL0t, EL1t or EL1h
   * (EINVAL); the PC must be an address with guest code (the model runs
   * code only at defined entries; EINVAL).
   */
  setOneReg(id: bigint, value: bigint): void {
    this.requireInit('KVM_SET_ONE_REG');
    const checked = checkId(id);
    const bytes = regBytes(checked);
    if (typeof value !== 'bigint' || value < 0n || value >= 2n ** BigInt(8 * bytes)) fail('EINVAL', `value ${String(value)} does not fit register ${hex(checked)} (${bytes} bytes)`);
    this.oneReg(checked, true, value);
  }

  private oneReg(id: bigint, write: boolean, value: bigint): bigint {
    const group = Number((id >> KVM_REG.COPROC_SHIFT) & 0xffffn);
    if (group === Number(KVM_REG.ARM_CORE)) return this.coreReg(id, write, value);
    if (id === KVM_REG_ARM_PSCI_VERSION) {
      if (write && value !== BigInt(this.psciVersion)) fail('EINVAL', `PSCI version ${hex(value)} is not this vCPU's ${hex(this.psciVersion)}`);
      return BigInt(this.psciVersion);
    }
    if (id === KVM_REG_ARM_TIMER.CTL || id === KVM_REG_ARM_TIMER.CVAL || id === KVM_REG_ARM_TIMER.CNT) return this.timerReg(id, write, value);
    const name = SYSREG_IDS.get(id);
    if (name === undefined) fail('ENOENT', `register id ${hex(id)} is not one this vCPU has`);
    return this.sysReg(name, write, value);
  }

  private coreReg(id: bigint, write: boolean, value: bigint): bigint {
    const slot = coreRegSlot(Number(id & 0xffffn), regBytes(id), id);
    const r = this.regs;
    const cpu = this.cpu;
    switch (slot.kind) {
      case 'x':
        if (write) r.x[slot.n] = value;
        return r.x[slot.n]!;
      case 'sp':
        if (write) r.sp = value;
        return r.sp;
      case 'sp_el1':
        if (write) r.spEl1 = value;
        return r.spEl1;
      case 'pc':
        if (write) {
          if (this.host.program.at(Number(value)) === undefined) fail('EINVAL', `PC ${hex(value)}: no guest code is defined there`);
          this.pc = Number(value);
          this.resetPending = true;
        }
        return BigInt(this.currentPc());
      case 'pstate': {
        if (write) {
          const m = Number(value & 0xfn);
          if (value >> 10n !== 0n || (m !== 0 && m !== 4 && m !== 5) || (value & 0x3fn & ~0xfn) !== 0n) fail('EINVAL', `PSTATE ${hex(value)} is not EL0t, EL1t or EL1h (AArch64) with DAIF bits`);
          cpu.setRegisters({ pstate: Number(value) });
        }
        return BigInt(cpu.registers().pstate);
      }
      case 'elr_el1':
        if (write) cpu.setRegisters({ elr: Number(value) });
        return BigInt(cpu.registers().elr);
      case 'spsr':
        if (slot.n === 0) {
          if (write) cpu.setRegisters({ spsr: Number(value & 0xffff_ffffn) });
          return BigInt(cpu.registers().spsr);
        }
        if (write) r.spsr[slot.n] = value;
        return r.spsr[slot.n]!;
      case 'v':
        if (write) {
          r.v[2 * slot.n] = value & 0xffff_ffff_ffff_ffffn;
          r.v[2 * slot.n + 1] = value >> 64n;
        }
        return (r.v[2 * slot.n + 1]! << 64n) | r.v[2 * slot.n]!;
      case 'fpsr':
        if (write) r.fpsr = value;
        return r.fpsr;
      case 'fpcr':
        if (write) r.fpcr = value;
        return r.fpcr;
    }
  }

  private currentPc(): number {
    if (!this.started || this.resetPending) return this.pc;
    const frames = this.cpu.backtrace();
    return frames.length > 0 ? frames[frames.length - 1]!.pc : this.pc;
  }

  private sysReg(name: string, write: boolean, value: bigint): bigint {
    const cpu = this.cpu;
    switch (name) {
      case 'MPIDR_EL1':
        if (write) this.mpidr = Number(value & 0xff_00ff_ffffn);
        return BigInt(this.mpidr) | (1n << 31n);
      case 'MIDR_EL1':
        if (write && value !== 0x410f_d083n) fail('EINVAL', `MIDR_EL1 is read-only here (0x410fd083), got ${hex(value)}`);
        return 0x410f_d083n;
      case 'VBAR_EL1':
        if (write) cpu.setRegisters({ vbar: Number(value) });
        return BigInt(cpu.registers().vbar);
      case 'SCTLR_EL1':
        if (write) cpu.setRegisters({ sctlr: Number(value) });
        return BigInt(cpu.registers().sctlr);
      case 'ESR_EL1':
        if (write) cpu.setRegisters({ esr: Number(value & 0xffff_ffffn) });
        return BigInt(cpu.registers().esr);
      default:
        if (write) cpu.setRegisters({ far: Number(value) });
        return BigInt(cpu.registers().far);
    }
  }

  /** KVM_REG_ARM_TIMER_*: the virtual timer as the guest sees it; CNT writes move CNTVOFF_EL2 (arch_timer.c kvm_arm_timer_set_reg). */
  private timerReg(id: bigint, write: boolean, value: bigint): bigint {
    const t = this.host.hostTimer;
    const p = this.pcpu;
    this.loadTimer();
    if (id === KVM_REG_ARM_TIMER.CTL) {
      if (write) t.write(p, 'CNTV_CTL_EL0', value & 3n);
      return t.read(p, 'CNTV_CTL_EL0');
    }
    if (id === KVM_REG_ARM_TIMER.CVAL) {
      if (write) t.write(p, 'CNTV_CVAL_EL0', value);
      return t.read(p, 'CNTV_CVAL_EL0');
    }
    if (write) t.write(p, 'CNTVOFF_EL2', (t.read(p, 'CNTPCT_EL0') - value) & 0xffff_ffff_ffff_ffffn);
    return t.read(p, 'CNTVCT_EL0');
  }

  // --- kick, timer load/put ------------------------------------------------------------------------

  /**
   * kvm_vcpu_kick: a blocked vCPU is woken; a vCPU in guest mode gets the
   * host's reschedule IPI on its physical CPU, which makes the guest exit
   * (an IRQ exit: HCR_EL2.IMO routes it to EL2).
   */
  kick(): void {
    this.wakeUp();
    if (this.inGuest) this.sendHostSgi(IPI_RESCHEDULE);
  }

  /** The host GIC raised a physical IRQ on this vCPU's pCPU: in the guest it exits by itself; blocked in WFI it wakes. */
  hostIrqRaised(): void {
    if (!this.inGuest) this.wakeUp();
  }

  /** kvm_vcpu_wake_up: the wake flag; a vCPU scheduled out in its halt counts halt_wakeup. */
  private wakeUp(): void {
    this.wakeRequested = true;
    if (this.blocked) this.haltPoll.wokeUp();
  }

  /** The pCPU runs the host (this vCPU is not in guest mode, nor waiting in its run loop): it takes its interrupts now. */
  takeHostInterruptsIfIdle(): void {
    if (!this.inGuest && !this.inRun) this.hostInterrupts();
  }

  private sendHostSgi(sgi: number): void {
    const r = this.host.hostGic.redistributorRegion;
    r.mmioWrite(this.pcpu * r.stride + GICR_SGI_BASE + GICR_SGI.ISPENDR0, 4, 1 << sgi);
  }

  /** kvm_timer_vcpu_put: the virtual timer's context saved and the physical timer disabled. */
  private putTimer(): void {
    if (this.timerContext !== undefined) return;
    const t = this.host.hostTimer;
    this.timerContext = t.saveContext(this.pcpu);
    t.write(this.pcpu, 'CNTV_CTL_EL0', 0n);
  }

  /** kvm_timer_vcpu_load: the saved context back in the physical timer. */
  private loadTimer(): void {
    const c = this.timerContext;
    if (c === undefined) return;
    this.timerContext = undefined;
    this.host.hostTimer.loadContext(this.pcpu, c);
  }

  /** kvm_timer_should_fire: the loaded timer's output, or a saved one's deadline passed. */
  private timerShouldFire(): boolean {
    const c = this.timerContext;
    if (c === undefined) return this.host.hostTimer.outputLevel(this.pcpu, 'CNTV');
    const at = this.host.hostTimer.contextFireCycle(c, 'CNTV');
    return at >= 0 && at <= this.host.clock.now();
  }

  /** Whether a kick arrived since the vCPU last cleared the flag (clock events call kick() while it waits). */
  private kicked(): boolean {
    return this.wakeRequested;
  }

  /** kvm_arch_vcpu_runnable for a WFI: an interrupt pending in the vGIC or the timer's. */
  private runnable(): boolean {
    return this.host.vgic?.hasPending(this.id) === true || this.timerShouldFire() || this.host.v4?.pendingLast(this.id) === true;
  }

  // --- KVM_RUN ------------------------------------------------------------------------------------

  /**
   * KVM_RUN: runs the guest until an exit that needs userspace and returns
   * kvm_run. ENOEXEC before KVM_ARM_VCPU_INIT; EINTR with
   * KVM_EXIT_INTR for `immediate_exit`; the vGIC's EBUSY/ENXIO when it is not
   * ready; EFAULT when a memslot's memory is not backed.
   */
  run(options: Arm64RunOptions = {}): Arm64KvmRun {
    const run = this.kvmRun;
    this.requireInit('KVM_RUN');
    this.host.vgic?.checkReady();
    const maxCycles = options.maxCycles ?? 1e9;
    if (!Number.isSafeInteger(maxCycles) || maxCycles <= 0) fail('EINVAL', `maxCycles must be a positive integer, got ${String(maxCycles)}`);
    this.completeMmio();
    if (run.immediate_exit !== 0) {
      run.exit_reason = KVM_EXIT.INTR;
      fail('EINTR', 'immediate_exit is set');
    }
    this.attach();
    const deadline = this.cpu.localTime + maxCycles;
    this.deadline = deadline;
    this.signalPending = false;
    this.host.noteRun();
    this.host.running++;
    this.inRun = true;
    // vcpu_load: the vPE resident on this pCPU (vgic_v4_load).
    this.host.v4?.load(this.id, this.pcpu);
    try {
      for (;;) {
        const r = this.mp === KVM_ARM_MP_STATE.STOPPED ? this.sleep(deadline) : this.enterGuest(deadline);
        if (r <= 0) break;
        // The VMM's timer signal arrives once the budget is spent (xfer_to_guest_mode_work_pending before entry).
        if (this.cpu.localTime >= deadline) this.signalPending = true;
        if (this.signalPending) {
          this.toUserspace(KVM_EXIT.INTR);
          break;
        }
      }
    } finally {
      // vcpu_put: non-resident, no doorbell (vgic_v4_put).
      this.host.v4?.put(this.id, false);
      this.inRun = false;
      this.host.running--;
    }
    return run;
  }

  /** A KVM_EXIT_MMIO completes at the next KVM_RUN (kvm_handle_mmio_return): a read takes `mmio.data`. */
  private completeMmio(): void {
    const pending = this.mmioPending;
    if (pending === null) return;
    this.mmioPending = null;
    if (pending === 'write') {
      this.cpu.completePendingOperation();
      return;
    }
    const m = this.kvmRun.mmio;
    const { lo, hi } = readLe(m.data, m.len);
    let l = lo;
    let h = hi;
    // SSE: sign-extend the loaded value (the CPU model returns it as a number; 32-bit loads stay 32-bit).
    const bits = m.len * 8;
    if (this.mmioReadSigned !== 0 && bits < 32 && (l & (1 << (bits - 1))) !== 0) {
      l = (l | (~0 << bits)) >>> 0;
      h = 0;
    }
    this.cpu.completePendingOperation(l, h);
  }

  /** A powered-off vCPU sleeps (KVM_REQ_SLEEP) until CPU_ON, KVM_SET_MP_STATE, or the signal. */
  private sleep(deadline: number): number {
    const clock = this.host.clock;
    const cpu = this.cpu;
    this.wakeRequested = false;
    while (this.mp === KVM_ARM_MP_STATE.STOPPED) {
      const next = clock.nextEventAt();
      if (next === undefined || next > deadline) {
        cpu.localTime = Math.max(cpu.localTime, deadline);
        this.signalPending = true;
        return 1;
      }
      cpu.localTime = Math.max(cpu.localTime, next);
      clock.runUntil(Math.max(cpu.localTime, clock.now()));
    }
    return 1;
  }

  /** The vCPU reset of KVM_ARM_VCPU_INIT or PSCI CPU_ON (KVM_REQ_VCPU_RESET): code at the PC, PSTATE EL1h masked. */
  private applyReset(): void {
    this.resetPending = false;
    this.cpu.start(this.pc);
    this.started = true;
  }

  /** One entry and exit (the body of kvm_arch_vcpu_ioctl_run's loop): > 0 loop, 0 to userspace. */
  private enterGuest(deadline: number): number {
    if (this.resetPending) this.applyReset();
    if (!this.started) fail('EINVAL', 'KVM_RUN: the PC has no guest code (set it with KVM_SET_ONE_REG)');
    const cpu = this.cpu;
    const vgic = this.host.vgic;
    this.loadTimer();
    if (vgic) vgic.flush(this.id, this.pcpu);
    this.inGuest = true;
    this.wakeRequested = false;
    cpu.enterGuest();
    for (;;) {
      const res = cpu.run(Math.max(deadline, cpu.localTime + 1));
      if (res === 'exit') break;
      if (res === 'finished' || res === 'lockup') {
        this.inGuest = false;
        if (vgic) vgic.fold(this.id, this.pcpu);
        this.internalError(KVM_INTERNAL_ERROR.EMULATION, 0);
        return 0;
      }
      if (res === 'halted') {
        const next = this.host.clock.nextEventAt();
        cpu.localTime = Math.max(cpu.localTime, next === undefined ? deadline : Math.min(next, deadline));
      }
      if (cpu.localTime >= deadline && !this.signalPending) {
        // The VMM's signal: an IPI to the physical CPU forces the exit.
        this.signalPending = true;
        this.sendHostSgi(IPI_SIGNAL);
      }
    }
    this.inGuest = false;
    const exit = cpu.lastExit!;
    if (vgic) vgic.fold(this.id, this.pcpu);
    this.hostInterrupts();
    this.syncTimerLine();
    this.countExit(exit);
    cpu.localTime += this.host.costs.exit;
    return this.handleExit(exit);
  }

  /**
   * The host takes its interrupts once interrupts are enabled again: the
   * virtual timer's PPI goes to the vGIC as the vCPU's PPI 27 and stays
   * active in the host GIC (EOImode 1: priority drop only) until the guest's
   * deactivation through the hardware-mapped list register; the maintenance
   * interrupt and the IPIs are dropped and deactivated (their work was the exit).
   */
  private hostInterrupts(): void {
    const c = this.host.hostGic.cpuInterface(this.pcpu);
    for (;;) {
      const intid = c.readIar(1);
      if (intid === SPURIOUS) return;
      c.writeEoir(1, intid);
      if (intid === VTIMER_PPI && this.host.vgic) {
        this.host.vgic.setLine(this.id, VTIMER_PPI, true);
        this.timerLine = true;
      } else {
        c.writeDir(intid);
        if (intid >= HOST_LPI_FIRST) this.host.hostLpi(intid);
      }
    }
  }

  /** kvm_timer_update_irq: the vGIC's PPI 27 follows the virtual timer's output. */
  private syncTimerLine(): void {
    const vgic = this.host.vgic;
    if (!this.timerLine || vgic === undefined) return;
    if (!this.host.hostTimer.outputLevel(this.pcpu, 'CNTV')) {
      vgic.setLine(this.id, VTIMER_PPI, false);
      this.timerLine = false;
    }
  }

  private countExit(exit: Arm64Exit): void {
    const name = exit.kind === 'sync' ? exit.name : 'IRQ';
    this.stats.countExit(name);
    this.host.stats.countExit(name);
  }

  private toUserspace(reason: number): void {
    this.kvmRun.exit_reason = reason;
    const name = KVM_EXIT_NAME[reason] ?? `KVM_EXIT_${reason}`;
    this.stats.countUserspace(name);
    this.host.stats.countUserspace(name);
    this.cpu.localTime += this.host.costs.userspace;
  }

  private internalError(suberror: number, esr: number): void {
    const i = this.kvmRun.internal;
    i.suberror = suberror;
    i.ndata = 1;
    i.data[0] = esr;
    this.toUserspace(KVM_EXIT.INTERNAL_ERROR);
  }

  /** handle_exit: by exception class (arm_exit_handlers). */
  private handleExit(exit: Arm64Exit): number {
    if (exit.kind !== 'sync') return 1;
    const cpu = this.cpu;
    switch (exit.ec) {
      case EC.WFX:
        if ((exit.iss & 1) === 0) this.wfi();
        cpu.completePendingOperation();
        return 1;
      case EC.HVC64:
        return this.hvc(cpu.pendingOperation!);
      case EC.SMC64:
        // No secure firmware: SMCCC_RET_NOT_SUPPORTED in X0, the SMC skipped (handle_smc).
        cpu.completePendingOperation(0xffff_ffff, 0xffff_ffff);
        return 1;
      case EC.SYS64:
        return this.sysregTrap(exit, cpu.pendingOperation!);
      case EC.DATA_ABORT_LOWER:
      case EC.INSTRUCTION_ABORT_LOWER:
        return this.guestAbort(exit, cpu.pendingOperation);
      default:
        this.internalError(KVM_INTERNAL_ERROR.UNEXPECTED_EXIT_REASON, exit.esr);
        return 0;
    }
  }

  /**
   * kvm_vcpu_wfi: unless an interrupt is already pending, the vPE is made
   * non-resident with its doorbell, then kvm_vcpu_halt: the vCPU polls on
   * its physical CPU for up to `vcpu->halt_poll_ns`, still loaded (its timer
   * in the physical timer); without a wake event it is put (its timer saved,
   * a background timer at its deadline) and blocks until the vGIC has an
   * interrupt for it, its timer fires, or it is kicked; then loaded again.
   * The signal ends the wait. The poll grows or shrinks per kvm_main.c.
   */
  private wfi(): void {
    if (this.runnable()) return;
    const cpu = this.cpu;
    const v4 = this.host.v4;
    // vgic_v4_put with the doorbell: PendingLast says a vLPI is already pending, so the vCPU does not block.
    if (v4?.put(this.id, true) === true) {
      v4.load(this.id, this.pcpu);
      return;
    }
    this.wakeRequested = false;
    const start = cpu.localTime;
    const pollNs = this.haltPoll.begin();
    const woken = pollNs > 0 && this.poll(start + this.nsToCycles(pollNs));
    const pollEnd = cpu.localTime;
    const spun = this.host.haltPollCycles;
    spun[this.pcpu] = (spun[this.pcpu] ?? 0) + pollEnd - start;
    // kvm_vcpu_check_block sees the signal that ended the poll: no schedule (not waited).
    const waited = !woken && !this.signalPending && this.block();
    this.haltPoll.end(this.cyclesToNs(cpu.localTime - start), this.cyclesToNs(pollEnd - start), waited);
    // The host ran with interrupts on: it took the doorbell (or a device's LPI, the timer's PPI) on this pCPU.
    this.hostInterrupts();
    if (v4 !== undefined) {
      v4.unblocked(this.id);
      v4.load(this.id, this.pcpu);
    }
    this.loadTimer();
  }

  /**
   * The polling of kvm_vcpu_halt: time passes (clock events run) until a wake
   * event (kvm_vcpu_check_block: an interrupt pending or a kick), the poll's
   * end `stop`, or the signal at the run's budget end (kvm_vcpu_can_poll).
   * True when a wake event came.
   */
  private poll(stop: number): boolean {
    const clock = this.host.clock;
    const cpu = this.cpu;
    const end = Math.min(stop, this.deadline);
    for (;;) {
      if (this.runnable() || this.kicked()) return true;
      const next = clock.nextEventAt();
      if (next === undefined || next > end) {
        cpu.localTime = Math.max(cpu.localTime, end);
        if (end === this.deadline) this.signalPending = true;
        return false;
      }
      cpu.localTime = Math.max(cpu.localTime, next);
      clock.runUntil(Math.max(cpu.localTime, clock.now()));
    }
  }

  /**
   * kvm_vcpu_block after a poll: the vCPU is put (its timer saved, a
   * background timer at its deadline) and sleeps until a wake event or the
   * signal. True when it scheduled out (it found no event at once).
   */
  private block(): boolean {
    if (this.runnable() || this.kicked()) return false;
    const clock = this.host.clock;
    const cpu = this.cpu;
    this.putTimer();
    this.blocked = true;
    while (!this.runnable() && !this.kicked()) {
      const next = clock.nextEventAt();
      const bg = this.host.hostTimer.contextFireCycle(this.timerContext!, 'CNTV');
      const until = Math.min(next ?? Infinity, bg >= 0 ? bg : Infinity);
      if (until === Infinity || until > this.deadline) {
        cpu.localTime = Math.max(cpu.localTime, this.deadline);
        this.signalPending = true;
        break;
      }
      cpu.localTime = Math.max(cpu.localTime, until);
      clock.runUntil(Math.max(cpu.localTime, clock.now()));
      // kvm_bg_timer_expire: the background timer wakes the vCPU (kvm_vcpu_wake_up).
      if (until === bg && this.timerShouldFire()) this.wakeUp();
    }
    this.blocked = false;
    return true;
  }

  /** Nanoseconds of `cycles` of this vCPU's clock (its CPU's clockHz). */
  private cyclesToNs(cycles: number): number {
    return Math.round((cycles * 1e9) / this.cpu.costs.clockHz);
  }

  /** Cycles of `ns` nanoseconds. */
  private nsToCycles(ns: number): number {
    return Math.round((ns * this.cpu.costs.clockHz) / 1e9);
  }

  /** handle_hvc: an SMCCC call; PSCI functions per psci.c, others SMCCC_RET_NOT_SUPPORTED. */
  private hvc(op: Readonly<Op>): number {
    const args = this.smccc.readFrom(op);
    const r = psciCall(this.host, this, args);
    if (r.systemEvent !== 0) {
      const e = this.kvmRun.system_event;
      e.type = r.systemEvent;
      e.ndata = 1;
      e.data[0] = args.x0;
      this.cpu.completePendingHvc(r.hi === 0 ? r.lo : r.lo | 0);
      this.toUserspace(KVM_EXIT.SYSTEM_EVENT);
      return 0;
    }
    this.regs.x[0] = (BigInt(r.hi) << 32n) | BigInt(r.lo);
    // smccc_set_retval(vcpu, x0, 0, 0, 0): X1-X3 are 0 after every call PSCI answers.
    this.cpu.completePendingHvc(r.hi === 0 ? r.lo : (r.lo | 0));
    return 1;
  }

  /** kvm_handle_sys_reg: the SGI generation registers go to the vGIC; any other trapped access is UNDEFINED for the guest. */
  private sysregTrap(exit: Arm64Exit, op: Readonly<Op>): number {
    const iss = exit.iss;
    const enc = sysregEncoding((iss >>> 20) & 3, (iss >>> 14) & 7, (iss >>> 10) & 15, (iss >>> 1) & 15, (iss >>> 17) & 7);
    const read = (iss & 1) === 1;
    const vgic = this.host.vgic;
    if (!read && vgic?.initialized === true && (enc === SGI1R || enc === ASGI1R || enc === SGI0R)) {
      vgic.dispatchSgi(this.id, enc, op.b, op.c);
      this.cpu.completePendingOperation();
      return 1;
    }
    // emulate_sys_reg: a register KVM does not handle is UNDEFINED for the guest (kvm_inject_undefined), and it runs on.
    this.cpu.injectUndefined();
    return 1;
  }

  /**
   * kvm_handle_guest_abort: a fault in a memslot maps its page (read-only
   * for a read-only slot) and the access runs again; a write to a read-only
   * slot, or an IPA in no slot, is MMIO (io_mem_abort): the vGIC's frames, an
   * ioeventfd, else KVM_EXIT_MMIO. MMIO without a valid syndrome is an
   * internal error; an instruction fetch outside memory is a prefetch abort
   * injected into the guest (kvm_inject_pabt).
   */
  private guestAbort(exit: Arm64Exit, op: Readonly<Op> | null): number {
    const ipa = exit.ipa;
    const write = (exit.iss & ISS_WNR) !== 0;
    const slot = this.host.memslots.find(ipa);
    if (slot !== undefined && !(write && slot.readOnly && exit.ec === EC.DATA_ABORT_LOWER)) {
      const page = ipa - (ipa % 4096);
      const hpa = slot.hostPhysical + (page - slot.guestPhysical);
      if (!this.host.memory.isBacked(hpa)) fail('EFAULT', `memslot ${slot.id}: userspace memory at ${hex(hpa)} is not backed`);
      if (this.host.stage2.leafFor(page) !== undefined) this.host.stage2.unmap(page, 4096);
      this.host.stage2.map(page, hpa, { write: !slot.readOnly });
      this.mmu.tlbi('IPAS2E1IS', 0, Math.floor(page / 4096));
      return 1;
    }
    if (exit.ec === EC.INSTRUCTION_ABORT_LOWER) {
      // An instruction fetch outside every memslot: the guest takes a prefetch abort at FAR (kvm_inject_pabt).
      this.cpu.injectInstructionAbort(exit.far);
      return 1;
    }
    if ((exit.iss & ISS_ISV) === 0 || op === null) {
      this.internalError(KVM_INTERNAL_ERROR.EMULATION, exit.esr);
      return 0;
    }
    const len = 1 << ((exit.iss >>> 22) & 3);
    const vgic = this.host.vgic;
    const lo = op.b >>> 0;
    const hi = len === 8 ? op.c >>> 0 : 0;
    if (vgic?.claims(ipa) === true) {
      try {
        if (write) {
          vgic.mmioWrite(this.id, ipa, len, lo, hi);
          this.cpu.completePendingOperation();
        } else {
          vgic.mmioRead(this.id, ipa, len, this.mmioOut);
          this.cpu.completePendingOperation(this.mmioOut.lo, this.mmioOut.hi);
        }
      } catch (e) {
        if (!(e instanceof Error) || e.name !== 'CpuException') throw e;
        // An access the GIC does not implement (size, offset): RAZ/WI, as vgic-mmio's unhandled accesses.
        this.cpu.completePendingOperation();
      }
      return 1;
    }
    if (write && this.host.ioeventfds.write(false, ipa, len, lo, hi)) {
      this.cpu.completePendingOperation();
      return 1;
    }
    const m = this.kvmRun.mmio;
    m.phys_addr = ipa;
    m.len = len;
    m.is_write = write ? 1 : 0;
    m.data.fill(0);
    if (write) writeLe(m.data, len, lo, hi);
    this.mmioPending = write ? 'write' : 'read';
    this.mmioReadSigned = exit.iss & ISS_SSE;
    this.toUserspace(KVM_EXIT.MMIO);
    return 0;
  }

  // --- PSCI hooks (psci.c) --------------------------------------------------------------------------

  /** Whether the vCPU is powered off (PSCI). */
  get poweredOff(): boolean {
    return this.mp === KVM_ARM_MP_STATE.STOPPED;
  }

  /** kvm_arm_vcpu_power_off: STOPPED, and kicked out of the guest. */
  powerOff(): void {
    this.mp = KVM_ARM_MP_STATE.STOPPED;
    this.kick();
  }

  /** PSCI CPU_ON's reset_state: PC = entry, X0 = context ID, powered on and woken. */
  powerOn(entry: number, context: number): void {
    this.pc = entry;
    this.regs.reset();
    this.regs.x[0] = BigInt(context);
    this.cpu.setRegisters({ pstate: RESET_PSTATE });
    this.resetPending = true;
    this.mp = KVM_ARM_MP_STATE.RUNNABLE;
    this.kick();
  }

  // --- whole-VM snapshots (migration.ts) -----------------------------------------------------------

  /** Whether a KVM_EXIT_MMIO waits for its completion at the next KVM_RUN (a snapshot needs it completed first). */
  get mmioInFlight(): boolean {
    return this.mmioPending !== null;
  }

  /** Whether the vCPU is inside KVM_RUN. */
  get inKvmRun(): boolean {
    return this.inRun;
  }

  /**
   * KVM's own vCPU state that no register holds: the KVM_ARM_VCPU_INIT
   * features, the MP state, the entry PC with a pending reset (CPU_ON,
   * KVM_REQ_VCPU_RESET), whether code started, and the timer's level in the
   * vGIC (kvm_timer_update_irq's last level).
   */
  runState(): Arm64VcpuRunState {
    return { features: this.features, mp: this.mp, pc: this.pc, resetPending: this.resetPending, started: this.started, timerLine: this.timerLine };
  }

  /** Restores {@link runState} (checked by the caller); the CPU is attached to its hypervisor first, as a first KVM_RUN does. */
  setRunState(s: Arm64VcpuRunState): void {
    this.attach();
    this.features = s.features;
    this.mp = s.mp;
    this.pc = s.pc;
    this.resetPending = s.resetPending;
    this.started = s.started;
    this.timerLine = s.timerLine;
    this.mmioPending = null;
  }

  /** attachHypervisor once (the first KVM_RUN, or a restore: the guest CPU's saved state is under EL2). */
  attach(): void {
    if (this.attached) return;
    this.cpu.attachHypervisor({ hcr: GUEST_HCR, stage2: this.stage2Walker });
    this.attached = true;
  }

  /** Whether `entry` has guest code (a CPU_ON entry point the model can run). */
  hasCodeAt(entry: number): boolean {
    return this.host.program.at(entry) !== undefined;
  }
}

/** System registers by one-reg id (a few EL1 registers; the rest of sys_regs.c is not modelled). */
const SYSREG_IDS = new Map<bigint, string>([
  [arm64SysRegId(3, 0, 0, 0, 0), 'MIDR_EL1'],
  [arm64SysRegId(3, 0, 0, 0, 5), 'MPIDR_EL1'],
  [arm64SysRegId(3, 0, 1, 0, 0), 'SCTLR_EL1'],
  [arm64SysRegId(3, 0, 5, 2, 0), 'ESR_EL1'],
  [arm64SysRegId(3, 0, 6, 0, 0), 'FAR_EL1'],
  [arm64SysRegId(3, 0, 12, 0, 0), 'VBAR_EL1'],
]);

/** A register id as a bigint of the arm64 class, or ENOENT / EINVAL as kvm_arm_{get,set}_reg answer. */
function checkId(id: unknown): bigint {
  if (typeof id !== 'bigint' || id < 0n || id >= 2n ** 64n) fail('EINVAL', `register id must be a 64-bit bigint, got ${String(id)}`);
  if ((id & 0xff00_0000_0000_0000n) !== KVM_REG.ARM64) fail('EINVAL', `register id ${hex(id)} is not an arm64 register (KVM_REG_ARM64)`);
  return id;
}
