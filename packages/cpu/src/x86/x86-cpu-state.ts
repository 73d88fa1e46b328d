/**
 * The state of an x86 CPU (registers, frames, wiring, counters) and the
 * small helpers every part of it uses: completing an operation, charging
 * cycles, keeping the clock in step, loading control registers. The CPU is
 * built in layers, each a class extending the one before, so that each file
 * keeps one concern without import cycles: state → event delivery
 * (event-delivery.ts) → instructions (instructions.ts) → the host interface
 * and run loop (x86-cpu.ts).
 */
import {
  Clock,
  MmioBus,
  PhysicalAddressSpace,
  UsageError,
  describeValue,
  type MsrBus,
  type PioBus,
  type Tracer,
} from '@hvsim/core';
import type { LocalApic } from '@hvsim/lapic';
import { X86Mmu } from '@hvsim/mmu';
import { CPU_BASED as IMPORTED_CPU_BASED, VMCS_FIELD as IMPORTED_VMCS_FIELD, type VmExitInfo, type VmxProcessor } from '@hvsim/vmcs';
import { X86_DEFAULT_COSTS, type X86CostProfile } from '../cost/cost-profile.js';
import { FRAME_STATE as IMPORTED_FRAME_STATE, LOG_KIND as IMPORTED_LOG_KIND, type Frame } from '../guest/frames.js';
import { GuestCpuCore } from '../guest/cpu-core.js';
import { X86Guest } from '../guest/guest.js';
import type { GuestProgram } from '../guest/program.js';
import { defaultCpuid, type CpuidFunction, type CpuidResult } from './cpuid.js';
import * as regs from './regs.js';
import { CPU_CONSTANTS } from './cpu-constants.js';
import { X86LinearMemory } from './linear-memory.js';
import type { X86CpuOptions, X86InterruptController, X86RunResult } from './cpu-types.js';

// Module-local copies of the constants read on every operation and delivery:
// under Node's ESM loader each use of an imported binding is a getter call,
// which cost a quarter of a load/store loop (measured with --cpu-prof).
const FRAME_STATE = IMPORTED_FRAME_STATE;
const LOG_KIND = IMPORTED_LOG_KIND;
const { CR0, CR4, EFER, RFLAGS_RESET } = regs;
const { SHADOW_NONE, EFER_WRITABLE, OPTION_NAMES, TWO_32 } = CPU_CONSTANTS;
const USE_TSC_OFFSETTING = IMPORTED_CPU_BASED.USE_TSC_OFFSETTING;
const PROC_CONTROLS = IMPORTED_VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL;
const TSC_OFFSET = IMPORTED_VMCS_FIELD.TSC_OFFSET;
// The `_HIGH` access encoding of a 64-bit field is the full encoding plus 1 (SDM 3C 25.11.2).
const TSC_OFFSET_HIGH = IMPORTED_VMCS_FIELD.TSC_OFFSET + 1;

/** The state and shared helpers of an x86 CPU (see the file comment); `X86Cpu` is the class to use. */
export class X86CpuState extends GuestCpuCore {
  /** The guest interface handed to guest code. */
  readonly guest = new X86Guest();

  /** Linear-address memory access (MMU and the CPU-side translation cache). */
  readonly memory: X86LinearMemory;

  /** The MMU. */
  readonly mmu: X86Mmu;

  /** Cycle costs in use. */
  readonly costs: X86CostProfile;

  protected readonly program: GuestProgram<X86Guest>;

  protected readonly pio: PioBus | undefined;

  protected readonly msrs: MsrBus | undefined;

  protected readonly apic: X86InterruptController | undefined;

  protected readonly extInt: (() => number) | undefined;

  protected readonly clock: Clock | undefined;

  protected readonly tracer: Tracer | undefined;

  protected readonly cpuidFn: CpuidFunction;

  protected readonly cpuNumber: number;
  /** Whether frames log their results, so `saveState` works in the middle of guest code (option `snapshots`). */
  protected readonly recording: boolean;

  protected readonly cpuidOut: CpuidResult = { eax: 0, ebx: 0, ecx: 0, edx: 0 };

  protected rflags = RFLAGS_RESET;

  protected rsp = 0;

  protected cr0 = CR0.PE;

  protected cr2 = 0;

  protected cr3 = 0;

  protected cr4 = 0;

  protected efer = 0;

  protected idtBase = 0;

  protected idtLimit = 0xffff;

  protected tscOffset = 0;

  protected tpr = 0;

  protected shadow: number = SHADOW_NONE;

  protected nmiBlocked = false;

  protected nmiPending = false;

  protected halted = false;

  protected shutdownState = false;

  // VMX non-root operation (see attachVmx).
  protected vmx: VmxProcessor | null = null;

  protected hostApic: LocalApic | null = null;

  protected exited = false;

  protected exitInfo: VmExitInfo | null = null;

  constructor(options: X86CpuOptions) {
    super();
    if (typeof (options as unknown) !== 'object' || (options as unknown) === null) throw new UsageError('bad-argument', `X86Cpu options must be an object, got ${describeValue(options)}`);
    for (const key of Object.keys(options)) if (!OPTION_NAMES.has(key)) throw new UsageError('unknown-name', `unknown X86Cpu option ${describeValue(key)}`);
    if (typeof (options.memory as unknown) !== 'object') throw new UsageError('bad-argument', `X86Cpu needs memory, got ${describeValue(options.memory)}`);
    if (typeof (options.program as unknown) !== 'object') throw new UsageError('bad-argument', `X86Cpu needs a program, got ${describeValue(options.program)}`);
    this.program = options.program;
    this.pio = options.pio;
    this.msrs = options.msrs;
    this.apic = options.apic;
    this.extInt = options.extInt;
    this.clock = options.clock;
    this.tracer = options.tracer;
    this.cpuNumber = options.cpu ?? 0;
    this.costs = options.costs ?? X86_DEFAULT_COSTS;
    this.cpuidFn = options.cpuid ?? defaultCpuid(options.apicId ?? this.cpuNumber);
    this.recording = options.snapshots ?? false;
    this.mmu = options.mmu ?? new X86Mmu(options.memory, options.clock ? { clock: options.clock } : {});
    this.memory = new X86LinearMemory(new PhysicalAddressSpace(options.memory, options.mmio ?? new MmioBus()), this.mmu);
    this.memory.beforeDeviceAccess = () => {
      this.syncClock();
    };
    if (this.clock) this.localTime = this.clock.now();
  }

  /** CPUID completed: EAX is the result, all four registers are logged. */
  protected completeCpuid(frame: Frame): void {
    const g = this.guest;
    frame.index++;
    frame.state = FRAME_STATE.RESUME;
    frame.result = g.eax;
    if (this.recording && frame.steps === null) {
      frame.record(LOG_KIND.CPUID);
      frame.record(g.eax);
      frame.record(g.eax);
      frame.record(g.ebx);
      frame.record(g.ecx);
      frame.record(g.edx);
    }
  }

  protected cr0Valid(cr0: number): boolean {
    if ((cr0 & CR0.PG) === 0) return true;
    if ((cr0 & CR0.PE) === 0) return false;
    // Only IA-32e paging is modelled: PG needs EFER.LME and CR4.PAE.
    return (this.efer & EFER.LME) !== 0 && (this.cr4 & CR4.PAE) !== 0;
  }

  protected eferValid(efer: number): boolean {
    return (efer & ~(EFER_WRITABLE | EFER.LMA)) === 0;
  }

  protected loadCr0(cr0: number): void {
    this.cr0 = cr0 >>> 0;
    const paging = (cr0 & CR0.PG) !== 0;
    this.efer = paging && (this.efer & EFER.LME) !== 0 ? this.efer | EFER.LMA : this.efer & ~EFER.LMA;
    this.memory.paging = paging;
    this.memory.flush();
  }

  protected loadCr3(cr3: number): void {
    this.cr3 = cr3;
    this.mmu.movToCr3(BigInt(cr3));
  }

  protected loadCr4(cr4: number): void {
    this.cr4 = cr4;
    this.mmu.movToCr4({
      pge: (cr4 & CR4.PGE) !== 0,
      pcide: (cr4 & CR4.PCIDE) !== 0,
      smep: (cr4 & CR4.SMEP) !== 0,
      smap: (cr4 & CR4.SMAP) !== 0,
      pke: (cr4 & CR4.PKE) !== 0,
    });
  }

  /** Copies CR0.WP and EFER.NXE into the MMU's paging context. */
  protected syncPagingContext(): void {
    const ctx = this.mmu.context;
    const wp = (this.cr0 & CR0.WP) !== 0;
    const nxe = (this.efer & EFER.NXE) !== 0;
    // Unchanged bits change no translation: the epoch (and every cache keyed on it) stays, as at each VM entry.
    if (ctx.cr0Wp === wp && ctx.eferNxe === nxe) return;
    ctx.cr0Wp = wp;
    ctx.eferNxe = nxe;
    this.mmu.contextChanged();
  }

  /**
   * Completes an RDTSC, or an RDMSR of IA32_TSC, with the TSC the guest
   * reads: IA32_TSC (this CPU's cycles plus its own offset, which WRMSR
   * moves; SDM 3B 18.17), plus the VMCS TSC offset in VMX non-root
   * operation with "use TSC offsetting" set (SDM 3C 25.6.5, 26.3). The sum
   * is 64 bits and wraps; it is formed in 32-bit halves, so a
   * two's-complement offset near 2^64 stays exact. "Use TSC scaling" is not
   * modelled: the VMX capabilities do not offer it (IA32_VMX_PROCBASED_CTLS2
   * allowed-1 bit 25 is 0), so no VMCS that sets it passes VM entry.
   */
  protected completeTsc(frame: Frame): void {
    const tsc = this.localTime + this.tscOffset;
    let lo = tsc >>> 0;
    let hi = Math.floor(tsc / TWO_32);
    const vmcs = this.vmx === null ? null : this.vmx.currentVmcs;
    if (vmcs !== null && (vmcs.read32(PROC_CONTROLS) & USE_TSC_OFFSETTING) !== 0) {
      lo += vmcs.read32(TSC_OFFSET);
      hi += vmcs.read32(TSC_OFFSET_HIGH) + (lo >= TWO_32 ? 1 : 0);
    }
    this.complete64(frame, lo >>> 0, hi >>> 0);
  }

  protected vmcsWrite(encoding: number, value: number): void {
    this.vmx?.currentVmcs?.write(encoding, value);
  }

  protected requireVmx(what: string): VmxProcessor {
    if (this.vmx === null) throw new UsageError('bad-state', `${what}: no VMX processor is attached (attachVmx)`);
    return this.vmx;
  }

  /** True once a VM exit stopped the guest (a call, so the compiler does not assume it unchanged). */
  protected didExit(): boolean {
    return this.exited;
  }

  /** `otherwise`, unless the last operation shut the CPU down. */
  protected stopReason(otherwise: X86RunResult): X86RunResult {
    return this.shutdownState ? 'shutdown' : otherwise;
  }
}
