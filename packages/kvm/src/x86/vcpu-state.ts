/**
 * The state of an x86 vCPU shared by the run loop (`run-loop.ts`), event
 * injection (`inject.ts`) and the exit handlers (`exit-handlers.ts`):
 * struct kvm_vcpu / vcpu_vmx in Linux. `X86Vcpu` (vcpu.ts) adds the ioctls.
 * A guest `X86Cpu` in VMX non-root operation on a `VmxProcessor`, the
 * in-kernel `LocalApic`, and `kvm_vcpu_kick`.
 */
import type { Clock, Memslots, PhysicalMemory } from '@hvsim/core';
import { X86Cpu, X86_DEFAULT_COSTS, type GuestProgram, type X86CostProfile, type X86Guest } from '@hvsim/cpu';
import { LocalApic } from '@hvsim/lapic';
import { X86Mmu, type EptBuilder, type ShadowPageTables } from '@hvsim/mmu';
import { CPU_BASED, PIN_BASED, SECONDARY, VMCS_FIELD, VM_ENTRY, VM_EXIT, exitReasonName, prepareVmcs, type VmExitInfo, type VmxProcessor } from '@hvsim/vmcs';
import { KVM_EXIT, KVM_EXIT_NAME, KVM_MP_STATE } from '../generic/constants.js';
import { ExitStats } from '../generic/exit-stats.js';
import { HALT_POLL_DEFAULTS, HaltPoll, type HaltPollParams } from '../generic/halt-poll.js';
import type { IoeventfdTable } from '../generic/ioeventfd.js';
import { APIC_ACCESS_GPA, ApicvState, copyLapicToVapic, setVirtualApicMode } from './apicv.js';
import { InterruptDelivery } from './interrupt-delivery.js';
import type { X86Irqchip } from './irqchip.js';
import { KvmRun } from './kvm-run.js';
import { X86_KVM_ZERO_COSTS, exitCostTable, type X86KvmCosts } from './kvm-costs.js';
import { VcpuArch, enableArchControls } from './vcpu-arch.js';
import type { PhysicalCpu } from './pcpu.js';
import { PostedInterrupts } from './posted-intr.js';
import { VcpuTsc, VmTsc } from './tsc.js';
import { eliSetup, passthroughApic, type EliState } from './eli-state.js';
import { ShadowPaging, enableShadowControls, type MmuMode } from './shadow-state.js';
import type { ShadowSlots } from './shadow-slots.js';

// A module-local copy: under Node's ESM loader each use of an imported binding is a getter call (every exit counts).
const reasonName = exitReasonName;

/** Linux's RESCHEDULE_VECTOR: the IPI `kvm_vcpu_kick` sends to force a VM exit. */
export const RESCHEDULE_VECTOR = 0xfd;
/** The host vector this model uses for "a signal is pending" (the run budget ran out). */
export const SIGNAL_VECTOR = 0xfc;

/** vcpu->mode. */
export type VcpuMode = 'outside-guest' | 'in-guest' | 'exiting-guest';

/** `struct kvm_cpuid_entry2` (api.rst 4.73). */
export interface KvmCpuidEntry2 {
  function: number;
  index?: number;
  flags?: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** What a vCPU needs of its VM. */
export interface X86VcpuHost {
  readonly memory: PhysicalMemory;
  readonly clock: Clock;
  readonly memslots: Memslots;
  readonly ioeventfds: IoeventfdTable;
  readonly stats: ExitStats;
  readonly irqchip: X86Irqchip | undefined;
  readonly program: GuestProgram<X86Guest>;
  readonly ept: EptBuilder;
  readonly eptp: bigint;
  /** The VM's MMU (default 'ept'). */
  readonly mmuMode?: MmuMode;
  /** The VM's shadow page tables, with `mmuMode` 'shadow'. */
  readonly shadowPages?: ShadowPageTables | undefined;
  /** The shadow MMU's guest-physical map (KVM-private pages, write tracking), with `mmuMode` 'shadow'. */
  readonly shadowSlots?: ShadowSlots | undefined;
  /** The VM's interrupt-delivery mode and physical CPUs (default: emulated, one CPU per vCPU). */
  readonly interrupts?: InterruptDelivery;
  /** Guest CPUs log their code's results so a vCPU can be saved mid-flight (KvmOptions.snapshots). */
  readonly snapshots?: boolean;
  /** The guest CPU's cycle costs (KvmOptions.x86CpuCosts; default X86_DEFAULT_COSTS). */
  readonly cpuCosts?: X86CostProfile | undefined;
  /** KVM's own cycle costs (KvmOptions.x86KvmCosts; default all 0). */
  readonly kvmCosts?: X86KvmCosts | undefined;
  /** The halt-polling module parameters (default Linux's). */
  readonly haltPollParams?: HaltPollParams;
  /** kvm->max_halt_poll_ns (default the module's halt_poll_ns). */
  readonly maxHaltPollNs?: number;
  /** The VM's TSC synchronization and kvmclock (default: one of the vCPU's own). */
  readonly tsc?: VmTsc;
  allocKernelPages(pages: number): number;
}

/** Options of a run (this model's stand-in for a signal arriving). */
export interface KvmRunOptions {
  /** Guest cycles after which a pending "signal" ends KVM_RUN with KVM_EXIT_INTR (default 10^9). */
  maxCycles?: number;
}

/** The kind of userspace I/O a KVM_RUN must complete first (complete_userspace_io). */
export type UserIo = 'in' | 'mmio-read' | 'done' | null;

/** The vCPU state the run-loop files share (see the file comment); `X86Vcpu` is the public class. */
export class X86VcpuState {
  /** kvm_run. */
  readonly kvmRun = new KvmRun();
  /** This vCPU's exits by reason. */
  readonly stats = new ExitStats();
  /** The guest CPU. */
  readonly cpu: X86Cpu;
  /** @internal KVM's own cycle costs, charged to `cpu.localTime` by the run loop. */ readonly kvmCosts: X86KvmCosts;
  /** @internal The exit-handling cost by basic exit reason (kvmCosts' exitHandlers over exitHandler). */ readonly exitCosts: Float64Array;
  /** The in-kernel local APIC (undefined without KVM_CREATE_IRQCHIP). */
  readonly apic: LocalApic | undefined;
  /** The physical CPU this vCPU is loaded on (or was last): its VMX, local APIC, blocked list. */
  pcpu: PhysicalCpu;
  /** @internal Host-physical address of this vCPU's VMCS. */ readonly vmcsRegion: number;
  /** @internal The VM's interrupt-delivery choice. */ readonly delivery: InterruptDelivery;
  /** APIC virtualization: its pages and EOI-exit bitmap (APICv mode with the in-kernel LAPIC), else undefined. */
  readonly apicv: ApicvState | undefined;
  /** ELI (the 'eli' mode with the in-kernel LAPIC): the shadow IDT, the mode it runs in, its counters; else undefined. */
  readonly eli: EliState | undefined;
  /** Posted interrupts: the descriptor and its counters (APICv mode with the in-kernel LAPIC), else undefined. */
  readonly posted: PostedInterrupts | undefined;
  /** The vCPU's TSC: its offset over the host TSC (IA32_TSC, the VMCS TSC offset). */
  readonly tsc: VcpuTsc;
  /** Halt polling: `haltPollNs` (vcpu->halt_poll_ns) and the halt statistics (`halt_successful_poll`...). */
  readonly haltPoll: HaltPoll;
  /** @internal The current halt (kvm_vcpu_halt) started at this cycle, or -1 outside one. */ haltStart = -1;
  /** @internal Its polling ended at this cycle. */ pollEnd = 0;
  /** @internal KVM_HC_KICK_CPU (kvm_pv_kick_cpu_op → APIC_DM_REMRD): pv_unhalted, KVM_REQ_EVENT, kvm_vcpu_kick. */
  pvKick(): void {
    this.pvUnhalted = true;
    this.requestEvent = true;
    this.kick();
  }

  /** @internal kvm_vcpu_wake_up calls (a blocked vCPU re-checks whether it can run after each). */ wakeups = 0;
  /** @internal The clock's cycle at the last kvm_vcpu_wake_up (a vCPU woken during another CPU's turn wakes then). */ wokenAt = 0;
  /** @internal kvm_vcpu_kick calls (a kick since event injection cancels the entry: kvm_vcpu_exit_request). */ kicks = 0;
  /** @internal The vCPU is in kvm_vcpu_block. */ blocking = false;
  /** @internal KVM_RUN's deadline (the run budget's end). */ runDeadline = 0;
  /** @internal Where the scheduler's current slice ends (cycles of this vCPU's time). */ sliceEnd = Infinity;
  /** @internal The guest was left in VMX non-root operation at a slice end (resumed without a new entry). */ inGuestSlice = false;
  /** @internal The scheduler wants the physical CPU back (need_resched): checked between exits. */ preemptRequested = false;
  /** @internal Test seam: runs where another CPU could act concurrently during VM entry (see run-loop.ts). */ entryRace: ((point: 'before-guest-mode' | 'in-guest-mode') => void) | undefined;
  /** @internal */ readonly mmu: X86Mmu;
  /** Shadow paging (the VM's MMU is 'shadow': this vCPU runs without EPT), else undefined. */
  shadow: ShadowPaging | undefined;
  /** @internal vcpu->mode. */ modeValue: VcpuMode = 'outside-guest';
  /** @internal vcpu->arch.mp_state. */ mp: number = KVM_MP_STATE.RUNNABLE;
  /** @internal NMIs, the SIPI latch, the MSRs, the IOAPIC EOI exit (vcpu-arch.ts). */ readonly arch: VcpuArch;
  /** @internal The VMCS was launched. */ launched = false;
  /** @internal KVM_REQ_EVENT. */ requestEvent = true;
  /** @internal vcpu->arch.pv.pv_unhalted: another vCPU's KVM_HC_KICK_CPU woke this halted one (hypercall.ts). */
  pvUnhalted = false;
  /** VMCALL hypercalls KVM handled (vcpu->stat.hypercalls). */
  hypercalls = 0;
  /** @internal The run budget ran out (a signal). */ signalPending = false;
  /** @internal KVM_INTERRUPT's queued vector, or -1. */ userInterrupt = -1;
  /** @internal A pending exception vector, or -1. */ pendingException = -1;
  /** @internal Its error code (#GP, #PF). */ pendingErrorCode = 0;
  /** @internal An interrupted event to re-inject (IDT-vectoring information), or 0. */ reinject = 0;
  /** @internal Its error code. */ reinjectCode = 0;
  /** @internal Userspace I/O to complete. */ userIo: UserIo = null;
  /** @internal KVM_SET_CPUID2's entries. */ cpuid: Required<KvmCpuidEntry2>[] = [];
  /** @internal The guest was entered once. */ entered = false;

  constructor(
    /** @internal */ readonly host: X86VcpuHost,
    /** The vCPU id (KVM_CREATE_VCPU's argument; also the APIC ID). */
    readonly id: number,
  ) {
    const { memory, clock } = host;
    this.kvmCosts = host.kvmCosts ?? X86_KVM_ZERO_COSTS;
    this.exitCosts = exitCostTable(this.kvmCosts);
    const params = host.haltPollParams ?? HALT_POLL_DEFAULTS;
    this.haltPoll = new HaltPoll(params, () => host.maxHaltPollNs ?? params.haltPollNs);
    this.delivery = host.interrupts ?? new InterruptDelivery();
    this.pcpu = this.delivery.attach(this, host);
    const vmx = this.pcpu.vmx;
    this.vmcsRegion = host.allocKernelPages(1);
    memory.write32(this.vmcsRegion, vmx.capabilities.revisionId);
    vmx.vmclear(this.vmcsRegion);
    vmx.vmptrld(this.vmcsRegion);
    if (host.irqchip) {
      const apic = new LocalApic({ id, clock, bsp: id === 0, bspLint0ExtInt: true, xapicIdWritable: true, icrLevelTrigger: true, onInterrupt: () => {
        this.arch.apicSignalled(apic); // an NMI is queued as it arrives (vcpu-arch.ts)
        this.kick();
      } });
      this.apic = apic;
      host.irqchip.attachApic(this.apic, id === 0);
      // kvm_arch_vcpu_create: with the in-kernel LAPIC only the BSP starts RUNNABLE; APs wait for INIT/SIPI.
      if (id !== 0) this.mp = KVM_MP_STATE.UNINITIALIZED;
    }
    const vmTsc = host.tsc ?? new VmTsc({ now: () => clock.now(), hz: (host.cpuCosts ?? X86_DEFAULT_COSTS).clockHz });
    this.tsc = new VcpuTsc(vmTsc, () => this.cpu.localTime, (offset) => {
      this.vmx.vmwrite(VMCS_FIELD.TSC_OFFSET, BigInt.asUintN(64, BigInt(offset)));
    });
    this.arch = new VcpuArch(this.apic, this.tsc);
    const apicv = this.delivery.apicv && this.apic !== undefined;
    // A VPID per vCPU (vmx.c allocate_vpid): guest translations survive VM exits and entries.
    const fields = { EPT_POINTER: host.eptp, VIRTUAL_PROCESSOR_ID: id + 1, GUEST_CR3: 0, GUEST_RSP: 0 };
    if (!apicv) {
      // The emulated mode's controls (vmx.c without APICv): external interrupts exit and are acknowledged
      // on exit, HLT and all I/O exit, no MSR bitmap (every MSR exits), CR8 accesses exit, EPT, VPID.
      prepareVmcs(vmx, {
        pin: PIN_BASED.EXT_INTR_EXITING,
        proc: CPU_BASED.HLT_EXITING | CPU_BASED.UNCOND_IO_EXITING | CPU_BASED.CR8_LOAD_EXITING | CPU_BASED.CR8_STORE_EXITING | CPU_BASED.USE_TSC_OFFSETTING,
        proc2: SECONDARY.ENABLE_EPT | SECONDARY.ENABLE_VPID,
        exit: VM_EXIT.ACK_INTR_ON_EXIT,
        entry: VM_ENTRY.IA32E_MODE_GUEST,
        fields,
      });
      this.apicv = undefined;
      this.posted = undefined;
      this.eli = this.delivery.eli && this.apic ? eliSetup(host, vmx, this.delivery.shadowIdt) : undefined;
    } else {
      this.eli = undefined;
      // APICv (vmx.c with enable_apicv: pin_controls, exec_controls, secondary_exec_controls): TPR shadow
      // (no CR8 exits), an MSR bitmap, APIC-register virtualization, virtual-interrupt delivery, posted
      // interrupts with notification vector 0xF2 (SDM 3C 25.6.8, 30).
      const pages = host.allocKernelPages(3);
      const s = new ApicvState(pages, this.delivery.apicAccessPage(host), pages + 0x1000);
      this.posted = new PostedInterrupts(memory, pages + 0x2000, this);
      prepareVmcs(vmx, {
        pin: PIN_BASED.EXT_INTR_EXITING | PIN_BASED.PROCESS_POSTED_INTERRUPTS,
        proc: CPU_BASED.HLT_EXITING | CPU_BASED.UNCOND_IO_EXITING | CPU_BASED.USE_TSC_OFFSETTING,
        proc2: SECONDARY.ENABLE_EPT | SECONDARY.ENABLE_VPID | SECONDARY.VIRTUALIZE_APIC_ACCESSES | SECONDARY.APIC_REGISTER_VIRTUALIZATION | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY,
        exit: VM_EXIT.ACK_INTR_ON_EXIT,
        entry: VM_ENTRY.IA32E_MODE_GUEST,
        virtualApicPage: s.vapicPage,
        apicAccessPage: s.apicAccessPage,
        msrBitmap: s.msrBitmap,
        postedInterruptDescriptor: this.posted.address,
        notificationVector: this.posted.pid.nv,
        fields: { ...fields, TPR_THRESHOLD: 0, GUEST_INTR_STATUS: 0 },
      });
      setVirtualApicMode(vmx, memory, s, false);
      copyLapicToVapic(memory, s.vapicPage, this.apic, true);
      this.apicv = s;
      const posted = this.posted;
      // __apic_accept_irq → vmx_deliver_interrupt: fixed interrupts are posted, never put in the IRR.
      this.apic.setFixedInterruptSink((vector) => {
        posted.deliver(vector);
        return true;
      });
    }
    enableArchControls(vmx); // virtual NMIs and unrestricted guest (vcpu-arch.ts)
    this.mmu = new X86Mmu(memory, { ept: true, clock });
    this.mmu.setEptp(host.eptp);
    this.shadow = undefined;
    // ELI passes the guest's x2APIC EOI to the physical APIC: WRMSRs the bitmap lets through reach it.
    const passthrough = this.eli ? { apic: passthroughApic(() => this.pcpu) } : {};
    this.cpu = new X86Cpu({ memory, program: host.program, mmu: this.mmu, clock, cpu: id, apicId: id, snapshots: host.snapshots ?? false, ...(host.cpuCosts ? { costs: host.cpuCosts } : {}), ...passthrough });
    this.cpu.attachVmx(vmx, this.pcpu.hostApic);
    if (host.mmuMode === 'shadow' && host.shadowPages) this.useShadowPaging(host.shadowPages);
    this.tsc.created(); // kvm_arch_vcpu_postcreate: kvm_synchronize_tsc(vcpu, 0)
  }

  /** The VMX of the physical CPU this vCPU is loaded on, with this vCPU's VMCS current there (vmx_vcpu_load_vmcs). */
  get vmx(): VmxProcessor {
    const vmx = this.pcpu.vmx;
    if (vmx.currentVmcs?.address !== this.vmcsRegion) vmx.vmptrld(this.vmcsRegion);
    return vmx;
  }

  /** The local APIC of the physical CPU this vCPU is loaded on. */
  get hostApic(): LocalApic {
    return this.pcpu.hostApic;
  }

  /** @internal vcpu->mode == IN_GUEST_MODE. */
  inGuestMode(): boolean {
    return this.modeValue === 'in-guest';
  }

  /** @internal kvm_vcpu_wake_up: a blocked vCPU re-checks whether it can run. */
  wakeUp(): void {
    this.wakeups++;
    this.wokenAt = this.host.clock.now();
    if (this.blocking && this.haltStart >= 0) this.haltPoll.wokeUp(); // halt_wakeup: it had scheduled out
  }

  /** @internal Nanoseconds of `cycles` of this vCPU's clock (its CPU's clockHz). */
  cyclesToNs(cycles: number): number {
    return Math.round((cycles * 1e9) / this.cpu.costs.clockHz);
  }

  /** @internal Cycles of `ns` nanoseconds. */
  nsToCycles(ns: number): number {
    return Math.round((ns * this.cpu.costs.clockHz) / 1e9);
  }

  /** @internal pi_test_on (the wake-up handler's test). */
  postedPending(): boolean {
    return this.posted !== undefined && this.posted.pid.on;
  }

  /** @internal KVM_REQ_SCAN_IOAPIC. */
  requestScanIoapic(): void {
    if (this.apicv) this.apicv.scanRequested = true;
  }

  /**
   * @internal vcpu_load (kvm_arch_vcpu_load / vmx_vcpu_load) on physical CPU
   * `pcpu`: a vCPU moving to another CPU has its VMCS cleared on the old one
   * (loaded_vmcs_clear) and made current on the new one, its CPU rewired, and
   * its posted-interrupt descriptor updated (vmx_vcpu_pi_load).
   */
  load(pcpu: PhysicalCpu = this.pcpu): void {
    const previous = this.pcpu;
    if (pcpu !== previous) {
      previous.vmx.vmclear(this.vmcsRegion);
      this.launched = false; // a cleared VMCS takes VMLAUNCH again (loaded_vmcs->launched)
      if (previous.loaded === this) previous.loaded = null;
      this.pcpu = pcpu;
      this.cpu.attachVmx(pcpu.vmx, pcpu.hostApic);
      this.flushTlb(); // another CPU's TLB: nothing cached for this VPID there
    }
    pcpu.loaded = this;
    if (pcpu.vmx.currentVmcs?.address !== this.vmcsRegion) pcpu.vmx.vmptrld(this.vmcsRegion);
    this.posted?.load(pcpu, previous);
  }

  /** @internal vcpu_put (vmx_vcpu_put → vmx_vcpu_pi_put): `preempted` when the scheduler took the CPU away. */
  put(preempted: boolean): void {
    if (this.pcpu.loaded === this) this.pcpu.loaded = null;
    if (this.posted) {
      const rflags = this.vmx.vmreadNumber(VMCS_FIELD.GUEST_RFLAGS);
      const intr = this.vmx.vmreadNumber(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO);
      this.posted.put(this.blocking, preempted, (rflags & (1 << 9)) === 0 || (intr & 3) !== 0);
    }
  }

  /** Drops this vCPU's cached translations (KVM_REQ_TLB_FLUSH): INVEPT single-context, or INVVPID under shadow paging. */
  flushTlb(): void {
    if (this.shadow) this.mmu.invvpid(1, this.mmu.vpid); // vpid_sync_context: this vCPU's translations of the shadow tables
    else this.mmu.invept(1, this.host.eptp);
  }

  /**
   * @internal Runs this vCPU without EPT, over the VM's shadow page tables
   * (before its first entry): the shadow-paging VMCS controls, the MMU's
   * EPT off (see shadow-paging.ts).
   */
  useShadowPaging(pages: ShadowPageTables): void {
    const shadow = new ShadowPaging(this.host.memory, pages, this.id + 1, this.id);
    enableShadowControls(this.vmx, shadow);
    shadow.guestCr2 = this.cpu.registers().cr2;
    this.mmu.setEptEnabled(false);
    // The TLB's linear mappings are tagged with the VMCS's VPID (SDM 3C 29.1), so INVVPID single-context drops them.
    this.mmu.vpid = this.id + 1;
    this.shadow = shadow;
    // The VM's APIC-access page and this vCPU's ELI shadow IDT, mapped through the shadow MMU (shadow-slots.ts).
    const slots = this.host.shadowSlots;
    if (slots && this.apicv) slots.mapPrivate(APIC_ACCESS_GPA, this.apicv.apicAccessPage, false);
    if (slots && this.eli) slots.mapPrivate(this.eli.shadowAddress, this.eli.shadowPage, true);
    // kvm_flush_remote_tlbs: a zap or a lost write permission (dirty logging, an emulated guest-table write) reaches every vCPU's TLB.
    pages.addFlushListener(() => {
      this.flushTlb();
    });
  }

  /** vcpu->mode. */
  get mode(): VcpuMode {
    return this.modeValue;
  }

  /**
   * kvm_vcpu_kick: a blocked vCPU is woken (its block loop sees the event); a
   * vCPU in guest mode is moved to exiting-guest mode and its physical CPU
   * gets a reschedule IPI, which makes the guest exit (external interrupt).
   */
  kick(): void {
    this.requestEvent = true; // KVM_REQ_EVENT
    this.kicks++;
    this.wakeUp(); // kvm_vcpu_wake_up: a blocked vCPU needs no IPI
    if (this.modeValue === 'in-guest') {
      this.modeValue = 'exiting-guest';
      this.pcpu.sendIpi(RESCHEDULE_VECTOR);
    }
  }

  /** @internal Counts an exit by reason (this vCPU's and the VM's statistics). */
  countExit(exit: VmExitInfo): void {
    const name = reasonName(exit.basicReason);
    this.stats.countExit(name);
    this.host.stats.countExit(name);
  }

  /** @internal Ends KVM_RUN with `reason` (counted as a userspace exit). */
  toUserspace(reason: number): void {
    this.kvmRun.exit_reason = reason;
    const name = KVM_EXIT_NAME[reason] ?? `KVM_EXIT_${reason}`;
    this.stats.countUserspace(name);
    this.host.stats.countUserspace(name);
    // KVM_RUN returns to the VMM, which calls it again: the vCPU thread's time.
    this.cpu.localTime += this.kvmCosts.userspaceExit;
  }

  /** @internal KVM_EXIT_INTERNAL_ERROR with a suberror and the VMX exit reason. */
  internalError(suberror: number, vmxReason: number): void {
    this.kvmRun.internal.suberror = suberror;
    this.kvmRun.internal.ndata = 1;
    this.kvmRun.internal.data[0] = vmxReason;
    this.toUserspace(KVM_EXIT.INTERNAL_ERROR);
  }

  /** @internal Ends the emulated instruction (kvm_skip_emulated_instruction): result, RIP, and no interrupt shadow. */
  skip(result = 0, hi = 0): void {
    this.cpu.completePendingOperation(result, hi);
    this.clearInstructionShadow();
  }

  /** @internal Skipping an instruction ends the STI/MOV-SS shadow (Linux's vmx_update_emulated_instruction). */
  clearInstructionShadow(): void {
    const intr = this.vmx.vmreadNumber(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO);
    if ((intr & 3) !== 0) this.vmx.vmwrite32(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO, intr & ~3);
  }
}
