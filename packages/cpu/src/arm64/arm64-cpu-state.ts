/**
 * The state of an arm64 CPU (registers, frames, wiring, EL2 state,
 * counters) and the small helpers every layer uses: completing an
 * operation, charging cycles, keeping the clock in step, the translation
 * controls. The CPU is built in layers as the x86 one: state →
 * exception entry (exception-entry.ts) → instructions (instructions.ts) →
 * the host interface and run loop (arm64-cpu.ts).
 */
import { Clock, MmioBus, PhysicalAddressSpace, UsageError, describeValue, type Tracer } from '@hvsim/core';
import type { GenericTimer, GicV3 } from '@hvsim/gic';
import { ArmMmu, S1_ACCESS as IMPORTED_S1_ACCESS, type Stage2Walker } from '@hvsim/mmu';
import { ARM64_DEFAULT_COSTS, type Arm64CostProfile } from '../cost/arm64-cost-profile.js';
import type { Frame } from '../guest/frames.js';
import { GuestCpuCore } from '../guest/cpu-core.js';
import { Arm64Guest } from '../guest/guest.js';
import type { GuestProgram } from '../guest/program.js';
import { ARM64_CPU_CONSTANTS } from './arm64-cpu-constants.js';
import { Arm64Exit, type Arm64CpuOptions } from './arm64-cpu-types.js';
import { DAIF_MASK, HCR_EL2 as IMPORTED_HCR, PSTATE_MODE, SCTLR_EL1_RESET } from './regs.js';
import { ARM64_SYSREG as IMPORTED_SYSREG } from './sysregs.js';
import { Arm64VirtualMemory } from './virtual-memory.js';

const S1_ACCESS = IMPORTED_S1_ACCESS;
const HCR = IMPORTED_HCR;
const SYSREG = IMPORTED_SYSREG;
const { TWO_32, LINE_VIRQ, LINE_VFIQ, WAIT_NONE, OPTION_NAMES, STORED, SLOT_BY_ENCODING, SLOT_SCTLR } = ARM64_CPU_CONSTANTS;

/** The state and shared helpers of an arm64 CPU (see the file comment); `Arm64Cpu` is the class to use. */
export class Arm64CpuState extends GuestCpuCore {
  /** The guest interface handed to guest code. */
  readonly guest = new Arm64Guest();

  /** Virtual-address memory access (MMU and the CPU-side translation cache). */
  readonly memory: Arm64VirtualMemory;

  /** The MMU. */
  readonly mmu: ArmMmu;

  /** Cycle costs in use. */
  readonly costs: Arm64CostProfile;

  protected readonly program: GuestProgram<Arm64Guest>;

  protected readonly gic: GicV3 | undefined;

  protected readonly timer: GenericTimer | undefined;

  protected readonly clock: Clock | undefined;

  protected readonly tracer: Tracer | undefined;

  protected readonly onSev: ((cpu: number) => void) | undefined;

  protected readonly cpuNumber: number;

  protected readonly midr: number;

  /** Whether frames log their results, so `saveState` works in the middle of guest code (option `snapshots`). */
  protected readonly recording: boolean;

  protected readonly exitCounts = new Map<string, number>();

  protected readonly storedLo = new Uint32Array(STORED.length);

  protected readonly storedHi = new Uint32Array(STORED.length);

  protected pstate = PSTATE_MODE.EL1h | DAIF_MASK;

  protected vbar = 0;

  protected elr = 0;

  protected spsr = 0;

  protected esr = 0;

  protected far = 0;

  /** Asserted interrupt inputs (LINE_* bits), HCR_EL2.VI/VF included. */
  protected lines = 0;

  protected inputs = 0;

  protected waiting: number = WAIT_NONE;

  protected eventRegister = false;

  protected lockedUp = false;

  /** True while taking the abort of a faulting vector fetch (a second one is a lockup). */
  protected vectorFetchFault = false;

  // EL2 (see attachHypervisor).
  protected hyp = false;

  protected hcr = 0;

  protected stage2: Stage2Walker | null = null;

  protected exited = false;

  /** Between enterGuest and the next exit. */
  protected entered = false;

  protected hvcPending = false;

  protected readonly exitInfo = new Arm64Exit();

  constructor(options: Arm64CpuOptions) {
    super();
    if (typeof (options as unknown) !== 'object' || (options as unknown) === null) throw new UsageError('bad-argument', `Arm64Cpu options must be an object, got ${describeValue(options)}`);
    for (const key of Object.keys(options)) if (!OPTION_NAMES.has(key)) throw new UsageError('unknown-name', `unknown Arm64Cpu option ${describeValue(key)}`);
    if (typeof (options.memory as unknown) !== 'object') throw new UsageError('bad-argument', `Arm64Cpu needs memory, got ${describeValue(options.memory)}`);
    if (typeof (options.program as unknown) !== 'object') throw new UsageError('bad-argument', `Arm64Cpu needs a program, got ${describeValue(options.program)}`);
    const cpu = options.cpu ?? 0;
    if (!Number.isInteger(cpu) || cpu < 0) throw new UsageError('bad-argument', `cpu must be a non-negative integer, got ${describeValue(cpu)}`);
    if (options.gic && cpu >= options.gic.cpus) throw new UsageError('bad-argument', `cpu ${cpu} has no CPU interface on a GIC of ${options.gic.cpus} PEs`);
    this.program = options.program;
    this.gic = options.gic;
    this.timer = options.timer;
    this.clock = options.clock;
    this.tracer = options.tracer;
    this.onSev = options.onSev;
    this.cpuNumber = cpu;
    this.midr = (options.midr ?? 0x410f_d083) >>> 0;
    this.recording = options.snapshots ?? false;
    this.costs = options.costs ?? ARM64_DEFAULT_COSTS;
    this.mmu = options.mmu ?? new ArmMmu(options.memory, { context: { sctlr: BigInt(SCTLR_EL1_RESET) }, ...(options.clock ? { clock: options.clock } : {}) });
    this.memory = new Arm64VirtualMemory(new PhysicalAddressSpace(options.memory, options.mmio ?? new MmioBus()), this.mmu);
    // RAM hits through a page view skip this; anything that may reach a device sees the clock at this PE's time.
    this.memory.beforeDeviceAccess = () => {
      this.syncClock();
    };
    // The registers the MMU context already holds (a given MMU may come configured).
    const ctx = this.mmu.context;
    for (const [enc, v] of [[SYSREG.SCTLR_EL1, ctx.sctlr], [SYSREG.TTBR0_EL1, ctx.ttbr0], [SYSREG.TTBR1_EL1, ctx.ttbr1], [SYSREG.TCR_EL1, ctx.tcr]] as const) {
      this.store64(enc, Number(v & 0xffff_ffffn), Number(v >> 32n));
    }
    this.updateTranslating();
    if (this.clock) this.localTime = this.clock.now();
  }

  /** The current Exception level of the guest (0 or 1). */
  get currentEl(): number {
    return (this.pstate >>> 2) & 3;
  }

  protected updateLines(): void {
    let l = this.inputs;
    if (this.hyp) {
      if ((this.hcr & HCR.VI) !== 0) l |= LINE_VIRQ;
      if ((this.hcr & HCR.VF) !== 0) l |= LINE_VFIQ;
    }
    this.lines = l;
  }

  /** ICC_* accesses at EL1 go to ICV_* as HCR_EL2.IMO/FMO say (IHI0069 6.3). */
  protected applyRouting(): void {
    this.gic?.setVirtualRouting(this.cpuNumber, { imo: (this.hcr & HCR.IMO) !== 0, fmo: (this.hcr & HCR.FMO) !== 0 });
  }

  /** True once a trap stopped the guest (a call, so the compiler does not assume it unchanged). */
  protected didExit(): boolean {
    return this.exited;
  }

  /** True once a lockup stopped the PE. */
  protected didLockUp(): boolean {
    return this.lockedUp;
  }

  protected completeNumber(frame: Frame, value: number): void {
    this.complete64(frame, value >>> 0, Math.floor(value / TWO_32));
  }

  protected accessFlags(): number {
    return (this.pstate & 0b1100) === 0 ? S1_ACCESS.EL0 : 0;
  }

  protected store64(enc: number, lo: number, hi: number): void {
    const slot = SLOT_BY_ENCODING[enc]!;
    this.storedLo[slot] = lo;
    this.storedHi[slot] = hi;
  }

  protected writeSctlr(lo: number, hi: number): void {
    this.storedLo[SLOT_SCTLR] = lo;
    this.storedHi[SLOT_SCTLR] = hi;
    this.mmu.context.setSctlr((BigInt(hi) << 32n) | BigInt(lo));
    this.updateTranslating();
  }

  protected updateTranslating(): void {
    this.memory.translating = this.mmu.context.mmuEnabled || this.mmu.context.stage2 !== null;
    this.memory.flush();
  }

}
