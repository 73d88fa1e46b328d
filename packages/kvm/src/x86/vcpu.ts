/**
 * An x86 KVM vCPU in the **emulated** interrupt-delivery mode on EPT (Linux
 * arch/x86/kvm/x86.c `vcpu_run`/`vcpu_enter_guest`, vmx/vmx.c): a guest
 * `X86Cpu` in VMX non-root operation on one physical CPU's `VmxProcessor`
 * (one physical CPU per vCPU in this increment), the in-kernel `LocalApic`
 * emulated from EPT-violation/misconfiguration exits (xAPIC page, as MMIO)
 * and MSR exits (x2APIC), interrupts injected through the VM-entry
 * interruption-information field with an interrupt window when blocked,
 * and `kvm_vcpu_kick` as a reschedule IPI to the physical CPU's local APIC.
 */
import { CpuException, MemoryError, UsageError, type Clock, type Memslots, type PhysicalMemory } from '@hvsim/core';
import { OP, X86Cpu, type GuestProgram, type X86Guest } from '@hvsim/cpu';
import { LocalApic } from '@hvsim/lapic';
import { X86Mmu, type EptBuilder } from '@hvsim/mmu';
import { CPU_BASED, EXIT_REASON, PIN_BASED, SECONDARY, VMCS_FIELD, VM_ENTRY, VM_EXIT, VmxProcessor, exitReasonName, prepareVmcs, type VmExitInfo } from '@hvsim/vmcs';
import { KVM_EXIT, KVM_EXIT_IO_IN, KVM_EXIT_IO_OUT, KVM_EXIT_NAME, KVM_INTERNAL_ERROR, KVM_MP_STATE } from '../generic/constants.js';
import { fail, u32, u64 } from '../generic/errors.js';
import { ExitStats } from '../generic/exit-stats.js';
import type { IoeventfdTable } from '../generic/ioeventfd.js';
import { IOAPIC_BASE, IOAPIC_MEM_LENGTH, PIC_PORTS, type X86Irqchip } from './irqchip.js';
import { KvmRun, readLe, writeLe } from './kvm-run.js';

/** Linux's RESCHEDULE_VECTOR: the IPI `kvm_vcpu_kick` sends to force a VM exit. */
export const RESCHEDULE_VECTOR = 0xfd;
/** The host vector this model uses for "a signal is pending" (the run budget ran out). */
export const SIGNAL_VECTOR = 0xfc;
/** KVM_MAX_CPUID_ENTRIES. */
export const KVM_MAX_CPUID_ENTRIES = 256;

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

/** The registers of KVM_GET/SET_REGS this CPU model has (the GPRs live in guest code's variables). */
export interface KvmRegs {
  rip: number;
  rsp: number;
  rflags: number;
}

/** The KVM_GET/SET_SREGS fields this CPU model has. */
export interface KvmSregs {
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  cr8: number;
  efer: number;
  apic_base: number;
  idt: { base: number; limit: number };
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
  allocKernelPages(pages: number): number;
}

/** Options of a run (this model's stand-in for a signal arriving). */
export interface KvmRunOptions {
  /** Guest cycles after which a pending "signal" ends KVM_RUN with KVM_EXIT_INTR (default 10^9). */
  maxCycles?: number;
}

const GUEST_RFLAGS_IF = 1 << 9;
const INTR_INFO_VALID = 0x8000_0000;
const INTR_TYPE_HW_EXCEPTION = 3 << 8;
const INTR_INFO_DELIVER_CODE = 1 << 11;
/** CR4.VMXE: fixed to 1 in VMX operation (IA32_VMX_CR4_FIXED0), hidden from the guest's view of CR4 as KVM's read shadow does. */
const CR4_VMXE = 1 << 13;
const EPT_MMIO_SPTE = 6; // W|X without R: an EPT misconfiguration (VMX_EPT_MISCONFIG_WX_VALUE)

/** An x86 vCPU (see the file comment). */
export class X86Vcpu {
  /** kvm_run. */
  readonly kvmRun = new KvmRun();
  /** This vCPU's exits by reason. */
  readonly stats = new ExitStats();
  /** The guest CPU. */
  readonly cpu: X86Cpu;
  /** The in-kernel local APIC (undefined without KVM_CREATE_IRQCHIP). */
  readonly apic: LocalApic | undefined;
  /** The physical CPU this vCPU runs on. */
  readonly vmx: VmxProcessor;
  /** The physical CPU's local APIC. */
  readonly hostApic: LocalApic;
  private readonly mmu: X86Mmu;
  private modeValue: VcpuMode = 'outside-guest';
  private mp: number = KVM_MP_STATE.RUNNABLE;
  private launched = false;
  private requestEvent = true;
  private signalPending = false;
  private userInterrupt = -1;
  private pendingException = -1;
  private reinject = 0;
  private reinjectCode = 0;
  private userIo: 'in' | 'mmio-read' | 'done' | null = null;
  private cpuid: Required<KvmCpuidEntry2>[] = [];
  private entered = false;

  constructor(
    private readonly host: X86VcpuHost,
    /** The vCPU id (KVM_CREATE_VCPU's argument; also the APIC ID). */
    readonly id: number,
  ) {
    const { memory, clock } = host;
    this.hostApic = new LocalApic({ id, clock });
    this.hostApic.mmioWrite(0xf0, 4, 0x1ff); // the host kernel's APIC is software-enabled
    this.vmx = new VmxProcessor({ memory, clock, cpu: id });
    const vmxon = host.allocKernelPages(1);
    const vmcs = host.allocKernelPages(1);
    memory.write32(vmxon, this.vmx.capabilities.revisionId);
    memory.write32(vmcs, this.vmx.capabilities.revisionId);
    this.vmx.vmxon(vmxon);
    this.vmx.vmclear(vmcs);
    this.vmx.vmptrld(vmcs);
    // The emulated mode's controls (vmx.c without APICv): external interrupts exit and are acknowledged
    // on exit, HLT and all I/O exit, no MSR bitmap (every MSR exits), CR8 accesses exit, EPT, VPID.
    prepareVmcs(this.vmx, {
      pin: PIN_BASED.EXT_INTR_EXITING,
      proc: CPU_BASED.HLT_EXITING | CPU_BASED.UNCOND_IO_EXITING | CPU_BASED.CR8_LOAD_EXITING | CPU_BASED.CR8_STORE_EXITING,
      proc2: SECONDARY.ENABLE_EPT | SECONDARY.ENABLE_VPID,
      exit: VM_EXIT.ACK_INTR_ON_EXIT,
      entry: VM_ENTRY.IA32E_MODE_GUEST,
      // A VPID per vCPU (vmx.c allocate_vpid): guest translations survive VM exits and entries.
      fields: { EPT_POINTER: host.eptp, VIRTUAL_PROCESSOR_ID: id + 1, GUEST_CR3: 0, GUEST_RSP: 0 },
    });
    if (host.irqchip) {
      this.apic = new LocalApic({ id, clock, bsp: id === 0, bspLint0ExtInt: true, xapicIdWritable: true, icrLevelTrigger: true, onInterrupt: () => this.kick() });
      host.irqchip.attachApic(this.apic, id === 0);
    }
    this.mmu = new X86Mmu(memory, { ept: true, clock });
    this.mmu.setEptp(host.eptp);
    this.cpu = new X86Cpu({ memory, program: host.program, mmu: this.mmu, clock, cpu: id, apicId: id });
    this.cpu.attachVmx(this.vmx, this.hostApic);
  }

  /** Drops this vCPU's cached EPT translations (INVEPT single-context; KVM_REQ_TLB_FLUSH). */
  flushTlb(): void {
    this.mmu.invept(1, this.host.eptp);
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
    if (this.modeValue === 'in-guest') {
      this.modeValue = 'exiting-guest';
      this.hostApic.acceptInterrupt({ vector: RESCHEDULE_VECTOR, trigger: 'edge' });
    }
  }

  /** KVM_GET_MP_STATE. */
  getMpState(): number {
    return this.mp;
  }

  /** KVM_SET_MP_STATE: RUNNABLE or HALTED (HALTED needs the in-kernel LAPIC); EINVAL otherwise. */
  setMpState(state: number): void {
    if (state !== KVM_MP_STATE.RUNNABLE && !(state === KVM_MP_STATE.HALTED && this.apic)) fail('EINVAL', `mp_state ${String(state)} is not supported here`);
    this.mp = state;
  }

  /** KVM_SET_CPUID2 (api.rst 4.73): the answers CPUID exits get. E2BIG above KVM_MAX_CPUID_ENTRIES. */
  setCpuid2(entries: readonly KvmCpuidEntry2[]): void {
    const raw: unknown = entries;
    if (!Array.isArray(raw)) fail('EFAULT', 'KVM_SET_CPUID2 needs an array of entries');
    if (entries.length > KVM_MAX_CPUID_ENTRIES) fail('E2BIG', `${entries.length} CPUID entries exceed KVM_MAX_CPUID_ENTRIES (${KVM_MAX_CPUID_ENTRIES})`);
    const copy = entries.map((e, i) => ({ function: u32(e.function, `entry ${i} function`), index: u32(e.index ?? 0, `entry ${i} index`), flags: u32(e.flags ?? 0, `entry ${i} flags`), eax: u32(e.eax, `entry ${i} eax`), ebx: u32(e.ebx, `entry ${i} ebx`), ecx: u32(e.ecx, `entry ${i} ecx`), edx: u32(e.edx, `entry ${i} edx`) }));
    this.cpuid = copy;
  }

  /** KVM_GET_REGS. */
  getRegs(): KvmRegs {
    return { rip: this.vmx.vmreadNumber(VMCS_FIELD.GUEST_RIP), rsp: this.vmx.vmreadNumber(VMCS_FIELD.GUEST_RSP), rflags: this.vmx.vmreadNumber(VMCS_FIELD.GUEST_RFLAGS) };
  }

  /**
   * KVM_SET_REGS. A new `rip` must be an address where the VM's program has
   * guest code (this model's code is not bytes): EINVAL otherwise.
   */
  setRegs(regs: Partial<KvmRegs>): void {
    const rip = regs.rip === undefined ? undefined : u64(regs.rip, 'rip');
    const rsp = regs.rsp === undefined ? undefined : u64(regs.rsp, 'rsp');
    const rflags = regs.rflags === undefined ? undefined : u64(regs.rflags, 'rflags');
    if (rip !== undefined && this.host.program.at(rip) === undefined) fail('EINVAL', `rip 0x${rip.toString(16)}: the VM's program has no guest code there`);
    if (rip !== undefined) {
      this.cpu.start(rip);
      this.vmx.vmwrite(VMCS_FIELD.GUEST_RIP, rip);
      this.userIo = null;
    }
    if (rsp !== undefined) this.vmx.vmwrite(VMCS_FIELD.GUEST_RSP, rsp);
    if (rflags !== undefined) this.vmx.vmwrite(VMCS_FIELD.GUEST_RFLAGS, (rflags | 2) >>> 0);
    this.requestEvent = true;
  }

  /** KVM_GET_SREGS. */
  getSregs(): KvmSregs {
    const r = (f: number): number => this.vmx.vmreadNumber(f);
    return {
      cr0: r(VMCS_FIELD.GUEST_CR0),
      cr2: this.cpu.registers().cr2,
      cr3: r(VMCS_FIELD.GUEST_CR3),
      cr4: r(VMCS_FIELD.GUEST_CR4) & ~CR4_VMXE,
      cr8: this.apic ? this.apic.readCr8() : this.kvmRun.cr8,
      efer: r(VMCS_FIELD.GUEST_IA32_EFER),
      apic_base: this.apic ? Number(this.apic.apicBase) : this.kvmRun.apic_base,
      idt: { base: r(VMCS_FIELD.GUEST_IDTR_BASE), limit: r(VMCS_FIELD.GUEST_IDTR_LIMIT) },
    };
  }

  /**
   * KVM_SET_SREGS: checked whole first (kvm_is_valid_sregs: CR0/CR4/EFER as
   * the CPU would take them, CR8 ≤ 15, a valid APIC base), EINVAL naming
   * the value otherwise; then written into the guest state.
   */
  setSregs(s: Partial<KvmSregs>): void {
    const check = (v: unknown, name: string): number | undefined => (v === undefined ? undefined : u64(v, name));
    const cr0 = check(s.cr0, 'cr0');
    const cr2 = check(s.cr2, 'cr2');
    const cr3 = check(s.cr3, 'cr3');
    const cr4 = check(s.cr4, 'cr4');
    const efer = check(s.efer, 'efer');
    const cr8 = check(s.cr8, 'cr8');
    const apicBase = check(s.apic_base, 'apic_base');
    const idtBase = check(s.idt?.base, 'idt.base');
    const idtLimit = check(s.idt?.limit, 'idt.limit');
    if (cr8 !== undefined && cr8 > 15) fail('EINVAL', `cr8 ${cr8} is above 15`);
    if (idtLimit !== undefined && idtLimit > 0xffff) fail('EINVAL', `idt.limit 0x${idtLimit.toString(16)} is above 0xffff`);
    try {
      // The CPU's own checks (the state a VMM may load), on a scratch CPU so nothing changes on failure.
      const scratch = new X86Cpu({ memory: this.host.memory, program: this.host.program });
      const cur = this.getSregs();
      scratch.setRegisters({ cr4: cr4 ?? cur.cr4, efer: efer ?? cur.efer, cr3: cr3 ?? cur.cr3, cr0: cr0 ?? cur.cr0 });
    } catch (e) {
      if (e instanceof UsageError) fail('EINVAL', e.message);
      throw e;
    }
    if (apicBase !== undefined && this.apic) {
      const before = this.apic.apicBase;
      try {
        this.apic.setApicBase(BigInt(apicBase), true);
      } catch (e) {
        this.apic.setApicBase(before, true);
        if (e instanceof CpuException || e instanceof UsageError) fail('EINVAL', `apic_base 0x${apicBase.toString(16)} is not valid`);
        throw e;
      }
    } else if (apicBase !== undefined) {
      this.kvmRun.apic_base = apicBase;
    }
    const w = (f: number, v: number | undefined): void => {
      if (v !== undefined) this.vmx.vmwrite(f, v);
    };
    w(VMCS_FIELD.GUEST_CR0, cr0);
    w(VMCS_FIELD.GUEST_CR3, cr3);
    w(VMCS_FIELD.GUEST_CR4, cr4 === undefined ? undefined : (cr4 | CR4_VMXE) >>> 0);
    w(VMCS_FIELD.GUEST_IA32_EFER, efer);
    w(VMCS_FIELD.GUEST_IDTR_BASE, idtBase);
    w(VMCS_FIELD.GUEST_IDTR_LIMIT, idtLimit);
    if (cr2 !== undefined) this.cpu.setRegisters({ cr2 });
    if (cr8 !== undefined) {
      if (this.apic) this.apic.writeCr8(cr8);
      else this.kvmRun.cr8 = cr8;
    }
    this.requestEvent = true;
  }

  /** KVM_GET_LAPIC: the 1 KiB register image (EINVAL without the in-kernel LAPIC). */
  getLapic(): Uint8Array {
    if (!this.apic) fail('EINVAL', 'KVM_GET_LAPIC needs the in-kernel LAPIC (KVM_CREATE_IRQCHIP)');
    return this.apic.getKvmLapicState();
  }

  /** KVM_SET_LAPIC (EINVAL without the in-kernel LAPIC or for an image that is not 1024 bytes). */
  setLapic(regs: Uint8Array): void {
    if (!this.apic) fail('EINVAL', 'KVM_SET_LAPIC needs the in-kernel LAPIC (KVM_CREATE_IRQCHIP)');
    if (!(regs instanceof Uint8Array) || regs.length !== 1024) fail('EINVAL', 'struct kvm_lapic_state holds exactly 1024 bytes');
    try {
      this.apic.setKvmLapicState(regs);
    } catch (e) {
      if (e instanceof UsageError) fail('EINVAL', e.message);
      throw e;
    }
    this.requestEvent = true;
  }

  /**
   * KVM_INTERRUPT (api.rst 4.16), for a userspace irqchip: queues `vector`
   * for injection at the next entry. ENXIO with the in-kernel irqchip,
   * EINVAL for a vector above 255, EEXIST while one is queued.
   */
  interrupt(vector: number): void {
    if (this.apic) fail('ENXIO', 'KVM_INTERRUPT is for a userspace irqchip; this VM has the in-kernel one');
    if (!Number.isInteger(vector) || vector < 0 || vector > 255) fail('EINVAL', `interrupt vector must be in [0, 255], got ${String(vector)}`);
    if (this.userInterrupt >= 0) fail('EEXIST', `vector 0x${this.userInterrupt.toString(16)} is already queued`);
    this.userInterrupt = vector;
    this.requestEvent = true;
  }

  /**
   * KVM_RUN: runs the guest until an exit that needs userspace, and returns
   * kvm_run. Exits KVM handles itself loop in here. EINTR (thrown, with
   * `exit_reason` KVM_EXIT_INTR) for `immediate_exit`; EFAULT when the guest
   * touches a memslot whose userspace memory is not backed.
   */
  run(options: KvmRunOptions = {}): KvmRun {
    const run = this.kvmRun;
    if (run.immediate_exit !== 0) {
      run.exit_reason = KVM_EXIT.INTR;
      fail('EINTR', 'immediate_exit is set');
    }
    const maxCycles = options.maxCycles ?? 1e9;
    if (!Number.isSafeInteger(maxCycles) || maxCycles <= 0) fail('EINVAL', `maxCycles must be a positive integer, got ${String(maxCycles)}`);
    // kvm_arch_vcpu_ioctl_run: without an in-kernel LAPIC, CR8 comes from kvm_run (EINVAL above 15).
    if (!this.apic && (!Number.isInteger(run.cr8) || run.cr8 < 0 || run.cr8 > 15)) fail('EINVAL', `kvm_run.cr8 ${String(run.cr8)} is above 15`);
    const deadline = this.cpu.localTime + maxCycles;
    this.completeUserspaceIo();
    this.signalPending = false;
    for (;;) {
      let r: number;
      if (this.mp === KVM_MP_STATE.HALTED) r = this.block(deadline);
      else r = this.enterGuest(deadline);
      if (r <= 0) break;
      if (this.dmRequestForIrqInjection() && this.readyForInterruptInjection()) {
        this.toUserspace(KVM_EXIT.IRQ_WINDOW_OPEN);
        break;
      }
      if (this.signalled()) {
        this.toUserspace(KVM_EXIT.INTR);
        break;
      }
    }
    this.fillRunState();
    return run;
  }

  /** A signal is pending (vcpu_run's signal_pending check). */
  private signalled(): boolean {
    return this.signalPending;
  }

  // --- the run loop -----------------------------------------------------------------------------

  /** kvm_arch_vcpu_runnable for a halted vCPU: an interrupt it would take, or an ExtINT. */
  private hasEvents(): boolean {
    const apic = this.apic;
    if (!apic) return false;
    if (!this.interruptAllowed()) return false;
    return apic.highestDeliverableVector() >= 0 || (apic.pendingSignals & 0x10) !== 0;
  }

  /** kvm_vcpu_halt/kvm_vcpu_block: time passes (clock events run) until an event makes the vCPU runnable. */
  private block(deadline: number): number {
    const clock = this.host.clock;
    const cpu = this.cpu;
    while (!this.hasEvents()) {
      const next = clock.nextEventAt();
      if (next === undefined || next > deadline) {
        cpu.localTime = Math.max(cpu.localTime, deadline);
        this.signalPending = true;
        return 1;
      }
      cpu.localTime = Math.max(cpu.localTime, next);
      clock.runUntil(Math.max(cpu.localTime, clock.now())); // also the events due at this very cycle
    }
    this.mp = KVM_MP_STATE.RUNNABLE;
    this.requestEvent = true;
    return 1;
  }

  /** vcpu_enter_guest: inject, enter, run, exit, handle. >0 loop in the kernel; 0 return to userspace. */
  private enterGuest(deadline: number): number {
    const vmx = this.vmx;
    if (this.requestEvent || this.dmRequestForIrqInjection()) {
      this.requestEvent = false;
      this.injectEvents();
    }
    this.modeValue = 'in-guest';
    const o = this.launched ? vmx.vmresume() : vmx.vmlaunch();
    if (o.kind !== 'entered') {
      this.modeValue = 'outside-guest';
      this.kvmRun.fail_entry.hardware_entry_failure_reason = o.kind === 'exit' ? o.exit.reason >>> 0 : 0xffff_ffff;
      this.kvmRun.fail_entry.cpu = this.id;
      this.toUserspace(KVM_EXIT.FAIL_ENTRY);
      return 0;
    }
    this.launched = true;
    this.entered = true;
    const cpu = this.cpu;
    const clock = this.host.clock;
    cpu.enterGuest(o.inject);
    for (;;) {
      if (clock.now() < cpu.localTime) clock.runUntil(cpu.localTime);
      const next = clock.nextEventAt();
      // Run to the next clock event or the deadline; past the deadline (a signal is being delivered) let
      // the guest reach its next instruction boundary, where the pending host interrupt makes it exit.
      const target = Math.max(next === undefined ? deadline : Math.min(deadline, next), cpu.localTime + 1);
      const res = cpu.run(target);
      if (res === 'exit') break;
      if (res === 'shutdown') {
        this.modeValue = 'outside-guest';
        this.toUserspace(KVM_EXIT.SHUTDOWN);
        return 0;
      }
      if (res === 'finished') {
        this.modeValue = 'outside-guest';
        this.internalError(KVM_INTERNAL_ERROR.EMULATION, 0);
        return 0;
      }
      if (res === 'halted' && next === undefined) cpu.localTime = Math.max(cpu.localTime, deadline);
      else if (res === 'halted') cpu.localTime = Math.max(cpu.localTime, next!);
      if (cpu.localTime >= deadline && !this.signalPending) {
        // The VMM's timer signal: an interrupt on the physical CPU forces the exit.
        this.signalPending = true;
        this.hostApic.acceptInterrupt({ vector: SIGNAL_VECTOR, trigger: 'edge' });
      }
    }
    this.modeValue = 'outside-guest';
    const exit = cpu.lastExit!;
    // handle_exit_irqoff: the host's handler of an acknowledged interrupt ends with its EOI; then host
    // interrupts are enabled briefly and whatever else is pending (a kick that raced the exit) is handled.
    if (exit.acknowledgedVector >= 0) this.hostApic.mmioWrite(0xb0, 4, 0);
    this.hostInterrupts();
    this.countExit(exit);
    return this.handleExit(exit);
  }

  /** The host takes its pending interrupts (reschedule IPIs, the signal) with interrupts enabled: they cause no VM exit. */
  private hostInterrupts(): void {
    const host = this.hostApic;
    while (host.highestDeliverableVector() >= 0) {
      host.acknowledge();
      host.mmioWrite(0xb0, 4, 0);
    }
  }

  /** The exit's IDT-vectoring information: an event whose delivery the exit interrupted is re-injected (vmx_complete_interrupts). */
  private recordInterruptedEvent(exit: VmExitInfo): void {
    if ((exit.idtVectoringInfo & INTR_INFO_VALID) !== 0) {
      this.reinject = exit.idtVectoringInfo >>> 0;
      this.reinjectCode = exit.idtVectoringErrorCode;
      this.requestEvent = true;
    }
  }

  private countExit(exit: VmExitInfo): void {
    const name = exitReasonName(exit.basicReason);
    this.stats.countExit(name);
    this.host.stats.countExit(name);
  }

  private toUserspace(reason: number): void {
    this.kvmRun.exit_reason = reason;
    const name = KVM_EXIT_NAME[reason] ?? `KVM_EXIT_${reason}`;
    this.stats.countUserspace(name);
    this.host.stats.countUserspace(name);
  }

  private internalError(suberror: number, vmxReason: number): void {
    this.kvmRun.internal.suberror = suberror;
    this.kvmRun.internal.ndata = 1;
    this.kvmRun.internal.data[0] = vmxReason;
    this.toUserspace(KVM_EXIT.INTERNAL_ERROR);
  }

  /** RFLAGS.IF = 1 and no STI/MOV-SS blocking (vmx_interrupt_allowed). */
  private interruptAllowed(): boolean {
    const rflags = this.vmx.vmreadNumber(VMCS_FIELD.GUEST_RFLAGS);
    const intr = this.vmx.vmreadNumber(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO);
    return (rflags & GUEST_RFLAGS_IF) !== 0 && (intr & 3) === 0;
  }

  private dmRequestForIrqInjection(): boolean {
    return this.kvmRun.request_interrupt_window !== 0 && this.apic === undefined;
  }

  private readyForInterruptInjection(): boolean {
    return this.interruptAllowed() && this.userInterrupt < 0 && this.reinject === 0;
  }

  private setWindow(open: boolean): void {
    const proc = this.vmx.vmreadNumber(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
    const next = open ? proc | CPU_BASED.INTR_WINDOW_EXITING : proc & ~CPU_BASED.INTR_WINDOW_EXITING;
    if (next !== proc) this.vmx.vmwrite32(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, next >>> 0);
  }

  /**
   * kvm_check_and_inject_events, in Linux's priority order: re-inject an
   * event whose delivery an exit interrupted; a pending exception; (no SMI,
   * NMI in this increment); an interrupt from the in-kernel LAPIC or PIC
   * (acknowledged: IRR to ISR) or KVM_INTERRUPT's vector when the guest can
   * take one, else an interrupt window.
   */
  private injectEvents(): void {
    const vmx = this.vmx;
    if (this.reinject !== 0) {
      vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, this.reinject);
      if ((this.reinject & INTR_INFO_DELIVER_CODE) !== 0) vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_EXCEPTION_ERROR_CODE, this.reinjectCode);
      this.reinject = 0;
      this.requestEvent = true; // look again after this entry
      return;
    }
    if (this.pendingException >= 0) {
      const code = this.pendingException === 13 ? INTR_INFO_DELIVER_CODE : 0;
      vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, (INTR_INFO_VALID | INTR_TYPE_HW_EXCEPTION | code | this.pendingException) >>> 0);
      if (code !== 0) vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_EXCEPTION_ERROR_CODE, 0);
      this.pendingException = -1;
      this.requestEvent = true;
      return;
    }
    if (this.userInterrupt >= 0) {
      // KVM_INTERRUPT's vector is injected as queued (userspace checked ready_for_interrupt_injection).
      vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, (INTR_INFO_VALID | this.userInterrupt) >>> 0);
      this.userInterrupt = -1;
      if (this.dmRequestForIrqInjection()) this.setWindow(true);
      return;
    }
    const apic = this.apic;
    if (apic) {
      const extInt = (apic.pendingSignals & 0x10) !== 0;
      if (apic.highestDeliverableVector() < 0 && !extInt) {
        this.setWindow(false);
        return;
      }
      if (!this.interruptAllowed()) {
        this.setWindow(true);
        return;
      }
      let vector: number;
      if (extInt && apic.takeExtInt()) vector = this.host.irqchip!.pic.acknowledge();
      else vector = apic.acknowledge();
      vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, (INTR_INFO_VALID | (vector & 0xff)) >>> 0);
      // More pending: ask for the window so the next one goes in as soon as the guest allows.
      this.setWindow(apic.highestDeliverableVector() >= 0);
      return;
    }
    this.setWindow(this.dmRequestForIrqInjection());
  }

  /** Ends the emulated instruction (kvm_skip_emulated_instruction): result, RIP, and no interrupt shadow. */
  private skip(result = 0, hi = 0): void {
    this.cpu.completePendingOperation(result, hi);
    this.clearInstructionShadow();
  }

  /** Skipping an instruction ends the STI/MOV-SS shadow (Linux's vmx_update_emulated_instruction). */
  private clearInstructionShadow(): void {
    const intr = this.vmx.vmreadNumber(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO);
    if ((intr & 3) !== 0) this.vmx.vmwrite32(VMCS_FIELD.GUEST_INTERRUPTIBILITY_INFO, intr & ~3);
  }

  /** Completes an IN or MMIO read with the data userspace left in kvm_run (complete_userspace_io). */
  private completeUserspaceIo(): void {
    const kind = this.userIo;
    this.userIo = null;
    if (kind === 'in') {
      const v = readLe(this.kvmRun.ioData, this.kvmRun.io.size);
      this.skip(v.lo);
    } else if (kind === 'mmio-read') {
      const v = readLe(this.kvmRun.mmio.data, this.kvmRun.mmio.len);
      this.skip(v.lo, v.hi);
    } else if (kind === 'done') {
      this.skip();
    }
  }

  private fillRunState(): void {
    const run = this.kvmRun;
    if (this.entered || this.launched) run.if_flag = (this.vmx.vmreadNumber(VMCS_FIELD.GUEST_RFLAGS) & GUEST_RFLAGS_IF) !== 0 ? 1 : 0;
    if (this.apic) {
      run.cr8 = this.apic.readCr8();
      run.apic_base = Number(this.apic.apicBase);
    }
    run.ready_for_interrupt_injection = this.dmRequestForIrqInjection() && this.readyForInterruptInjection() ? 1 : 0;
  }

  // --- exit handlers (vmx.c kvm_vmx_exit_handlers) ------------------------------------------------

  private handleExit(exit: VmExitInfo): number {
    this.recordInterruptedEvent(exit);
    switch (exit.basicReason) {
      case EXIT_REASON.EXTERNAL_INTERRUPT:
        return 1;
      case EXIT_REASON.INTERRUPT_WINDOW:
        this.setWindow(false);
        this.requestEvent = true;
        return 1;
      case EXIT_REASON.HLT:
        this.skip();
        if (this.apic) {
          this.mp = KVM_MP_STATE.HALTED;
          return 1;
        }
        this.toUserspace(KVM_EXIT.HLT);
        return 0;
      case EXIT_REASON.CPUID:
        return this.handleCpuid();
      case EXIT_REASON.IO_INSTRUCTION:
        return this.handleIo();
      case EXIT_REASON.EPT_VIOLATION:
      case EXIT_REASON.EPT_MISCONFIG:
        return this.handleEpt(exit);
      case EXIT_REASON.MSR_READ:
      case EXIT_REASON.MSR_WRITE:
        return this.handleMsr(exit.basicReason === EXIT_REASON.MSR_WRITE);
      case EXIT_REASON.CR_ACCESS:
        return this.handleCr();
      case EXIT_REASON.TRIPLE_FAULT:
        this.toUserspace(KVM_EXIT.SHUTDOWN);
        return 0;
      default:
        this.internalError(KVM_INTERNAL_ERROR.UNEXPECTED_EXIT_REASON, exit.reason >>> 0);
        return 0;
    }
  }

  private handleCpuid(): number {
    const op = this.cpu.pendingOperation!;
    const e = this.cpuid.find((c) => c.function === op.a >>> 0 && ((c.flags & 1) === 0 || c.index === op.b >>> 0));
    // kvm_emulate_cpuid: all four registers from the KVM_SET_CPUID2 entry (zeros for a leaf it lacks).
    this.cpu.completePendingCpuid(e ? e.eax : 0, e ? e.ebx : 0, e ? e.ecx : 0, e ? e.edx : 0);
    this.clearInstructionShadow();
    return 1;
  }

  private handleIo(): number {
    const op = this.cpu.pendingOperation!;
    const port = op.a & 0xffff;
    const size = op.size;
    const out = op.code === OP.OUT;
    if (out && this.host.ioeventfds.write(true, port, size, op.b >>> 0)) {
      this.skip();
      return 1;
    }
    const chip = this.host.irqchip;
    if (chip && PIC_PORTS.includes(port)) {
      if (out) chip.ports.write(port, size as 1 | 2 | 4, op.b >>> 0);
      const v = out ? 0 : chip.ports.read(port, size as 1 | 2 | 4);
      this.skip(v);
      return 1;
    }
    const io = this.kvmRun.io;
    io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
    io.size = size;
    io.port = port;
    io.count = 1;
    if (out) writeLe(this.kvmRun.ioData, size, op.b >>> 0);
    this.userIo = out ? 'done' : 'in';
    this.toUserspace(KVM_EXIT.IO);
    return 0;
  }

  private handleEpt(exit: VmExitInfo): number {
    const gpa = exit.guestPhysicalAddress;
    const write = (exit.qualification & 2) !== 0;
    const slot = this.host.memslots.find(gpa);
    if (slot && !(write && (slot.flags & 2) !== 0)) {
      // tdp_page_fault: map the page from the memslot (read-only slots without W).
      const page = gpa - (gpa % 4096);
      const hpa = slot.hostPhysical + (page - slot.guestPhysical);
      if (!this.host.memory.isBacked(hpa, 4096)) fail('EFAULT', `guest page 0x${page.toString(16)}: userspace address 0x${hpa.toString(16)} of slot ${slot.id} is not backed`);
      this.host.ept.map(page, hpa, { permissions: (slot.flags & 2) !== 0 ? 5 : 7 });
      this.mmu.invept(1, this.host.eptp);
      return 1;
    }
    const op = this.cpu.pendingOperation;
    if (op === null || (op.code !== OP.LOAD && op.code !== OP.STORE)) {
      // An access that is not a load or store (event delivery, a page walk) to no memory: emulation fails.
      this.internalError(KVM_INTERNAL_ERROR.EMULATION, exit.reason >>> 0);
      return 0;
    }
    if (!slot && exit.basicReason === EXIT_REASON.EPT_VIOLATION) {
      // Cache the MMIO page as a misconfigured SPTE: later accesses take the EPT-misconfiguration path.
      this.host.ept.map(gpa - (gpa % 4096), 0, { permissions: EPT_MMIO_SPTE });
      this.mmu.invept(1, this.host.eptp);
    }
    const size = op.size;
    const isWrite = op.code === OP.STORE;
    if (isWrite && this.host.ioeventfds.write(false, gpa, size, op.b >>> 0, op.c >>> 0)) {
      this.skip();
      return 1;
    }
    const apic = this.apic;
    if (apic?.decodesMmio && !apic.isX2apic && gpa >= apic.baseAddress && gpa < apic.baseAddress + 0x1000 && size <= 4) {
      const off = gpa - apic.baseAddress;
      if (isWrite) apic.mmioWrite(off, size as 1 | 2 | 4, op.b >>> 0);
      this.skip(isWrite ? 0 : apic.mmioRead(off, size as 1 | 2 | 4));
      return 1;
    }
    const chip = this.host.irqchip;
    if (chip && gpa >= IOAPIC_BASE && gpa < IOAPIC_BASE + IOAPIC_MEM_LENGTH && size <= 4) {
      const off = gpa - IOAPIC_BASE;
      if (isWrite) chip.ioapic.mmioWrite(off, size as 1 | 2 | 4, op.b >>> 0);
      this.skip(isWrite ? 0 : chip.ioapic.mmioRead(off, size as 1 | 2 | 4));
      return 1;
    }
    const mmio = this.kvmRun.mmio;
    mmio.phys_addr = gpa;
    mmio.len = size;
    mmio.is_write = isWrite ? 1 : 0;
    mmio.data.fill(0);
    if (isWrite) writeLe(mmio.data, size, op.b >>> 0, op.c >>> 0);
    this.userIo = isWrite ? 'done' : 'mmio-read';
    this.toUserspace(KVM_EXIT.MMIO);
    return 0;
  }

  private handleMsr(write: boolean): number {
    const op = this.cpu.pendingOperation!;
    const msr = op.a >>> 0;
    const apic = this.apic;
    const lapicMsr = msr === 0x1b || msr === 0x6e0 || (msr >= 0x800 && msr <= 0x8ff);
    if (apic && lapicMsr) {
      try {
        if (write) {
          apic.writeMsr(msr, BigInt(op.b >>> 0) | (BigInt(op.c >>> 0) << 32n));
          this.skip();
        } else {
          const v = apic.readMsr(msr);
          this.skip(Number(v & 0xffff_ffffn), Number(v >> 32n));
        }
      } catch (e) {
        if (!(e instanceof CpuException) && !(e instanceof MemoryError)) throw e;
        this.pendingException = 13; // #GP(0), the instruction does not complete
        this.requestEvent = true;
      }
      return 1;
    }
    // An MSR this KVM does not emulate: #GP (ignore_msrs=0).
    this.pendingException = 13;
    this.requestEvent = true;
    return 1;
  }

  private handleCr(): number {
    const op = this.cpu.pendingOperation!;
    if (op.a === 8) {
      if (op.code === OP.MOV_TO_CR) {
        if ((op.b >>> 0) > 15 || op.c !== 0) {
          this.pendingException = 13;
          this.requestEvent = true;
          return 1;
        }
        if (this.apic) this.apic.writeCr8(op.b >>> 0);
        else this.kvmRun.cr8 = op.b >>> 0;
        this.skip();
        this.requestEvent = true; // a lower TPR may unmask a pending interrupt
        return 1;
      }
      this.skip(this.apic ? this.apic.readCr8() : this.kvmRun.cr8);
      return 1;
    }
    this.internalError(KVM_INTERNAL_ERROR.UNEXPECTED_EXIT_REASON, EXIT_REASON.CR_ACCESS);
    return 0;
  }
}
