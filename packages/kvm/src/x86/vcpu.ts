/**
 * An x86 KVM vCPU (Linux arch/x86/kvm/x86.c `kvm_arch_vcpu_ioctl*`): the
 * vCPU ioctls over the state of `vcpu-state.ts`; KVM_RUN is the run loop of
 * `run-loop.ts` (event injection in `inject.ts`, exit handlers in
 * `exit-handlers.ts`). A guest `X86Cpu` in VMX non-root operation on a
 * physical CPU's `VmxProcessor`, the in-kernel `LocalApic` emulated from
 * EPT-violation/misconfiguration exits (xAPIC page, as MMIO) and MSR exits
 * (x2APIC), interrupts injected through the VM-entry interruption-information
 * field with an interrupt window when blocked, and `kvm_vcpu_kick` as a
 * reschedule IPI to the physical CPU's local APIC.
 */
import { CpuException, UsageError } from '@hvsim/core';
import { X86Cpu } from '@hvsim/cpu';
import { VMCS_FIELD } from '@hvsim/vmcs';
import { fail, u32, u64 } from '../generic/errors.js';
import type { KvmRun } from './kvm-run.js';
import { kvmGetMpState, kvmGetVcpuEvents, kvmInterruptExtInt, kvmNmi, kvmSetMpState, kvmSetVcpuEvents } from './arch-ioctls.js';
import { guestInterruptStatus, lapicImageWithVapic, moveLapicVectorsToVapic } from './apicv.js';
import { getMsrs, setMsrs, type KvmMsrEntry } from './msrs.js';
import { eliSetIdt } from './eli.js';
import { vcpuRun } from './run-loop.js';
import type { KvmVcpuEvents } from './vcpu-events.js';
import { X86VcpuState, type KvmCpuidEntry2, type KvmRunOptions } from './vcpu-state.js';
import { guestCr0, guestCr4, setGuestCr3, setGuestEfer, writeGuestCr0, writeGuestCr4 } from './shadow-state.js';

export { RESCHEDULE_VECTOR, SIGNAL_VECTOR } from './vcpu-state.js';
export type { KvmCpuidEntry2, KvmRunOptions, VcpuMode, X86VcpuHost } from './vcpu-state.js';

/** KVM_MAX_CPUID_ENTRIES. */
export const KVM_MAX_CPUID_ENTRIES = 256;

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

/** CR4.VMXE: fixed to 1 in VMX operation (IA32_VMX_CR4_FIXED0), hidden from the guest's view of CR4 as KVM's read shadow does. */
const CR4_VMXE = 1 << 13;

/** An x86 vCPU (see the file comment). */
export class X86Vcpu extends X86VcpuState {
  // --- vCPU ioctls (api.rst 4) ------------------------------------------------------------------

  /** KVM_GET_MP_STATE (api.rst 4.38): pending INIT/SIPI are accepted first (kvm_apic_accept_events). */
  getMpState(): number {
    return kvmGetMpState(this);
  }

  /**
   * KVM_SET_MP_STATE (api.rst 4.39): RUNNABLE; with the in-kernel LAPIC also
   * UNINITIALIZED, INIT_RECEIVED, HALTED and SIPI_RECEIVED (INIT_RECEIVED
   * with a SIPI latched); EINVAL otherwise (see mp-state.ts).
   */
  setMpState(state: number): void {
    kvmSetMpState(this, state);
  }

  /** KVM_NMI (api.rst 4.67): queues an NMI, injected at the next entry the guest allows (see arch-ioctls.ts). */
  nmi(): void {
    kvmNmi(this);
  }

  /** KVM_GET_VCPU_EVENTS (api.rst 4.31): injected/pending exception, interrupt and shadow, NMI state (see vcpu-events.ts). */
  getVcpuEvents(): KvmVcpuEvents {
    return kvmGetVcpuEvents(this);
  }

  /** KVM_SET_VCPU_EVENTS (api.rst 4.32): checked whole (EINVAL), then written (see vcpu-events.ts). */
  setVcpuEvents(events: KvmVcpuEvents): void {
    kvmSetVcpuEvents(this, events);
  }

  /** KVM_GET_MSRS (api.rst 4.18): fills `data` of the entries in order, returns how many it read (see msrs.ts). */
  getMsrs(entries: KvmMsrEntry[]): number {
    return getMsrs(this.arch.msrs, entries);
  }

  /** KVM_SET_MSRS (api.rst 4.19): writes the entries in order, returns how many it wrote (see msrs.ts). */
  setMsrs(entries: readonly KvmMsrEntry[]): number {
    return setMsrs(this.arch.msrs, entries);
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
    const shadow = this.shadow;
    return {
      // Under shadow paging the guest's CR0/CR4 are the read shadows' and its CR3 the MMU's (GUEST_CR3 is the shadow root).
      cr0: shadow ? guestCr0(this.vmx) : r(VMCS_FIELD.GUEST_CR0),
      cr2: this.cpu.registers().cr2,
      cr3: shadow ? shadow.guestCr3 : r(VMCS_FIELD.GUEST_CR3),
      cr4: shadow ? guestCr4(this.vmx) : r(VMCS_FIELD.GUEST_CR4) & ~CR4_VMXE,
      cr8: this.apic ? this.apic.readCr8() : this.kvmRun.cr8,
      efer: r(VMCS_FIELD.GUEST_IA32_EFER),
      apic_base: this.apic ? Number(this.apic.apicBase) : this.kvmRun.apic_base,
      // In ELI's direct mode the VMCS holds the shadow IDT: the guest's own IDTR is KVM's copy.
      idt: this.eli?.direct ? { base: this.eli.guestIdtBase, limit: this.eli.guestIdtLimit } : { base: r(VMCS_FIELD.GUEST_IDTR_BASE), limit: r(VMCS_FIELD.GUEST_IDTR_LIMIT) },
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
    const shadow = this.shadow;
    if (shadow) {
      // kvm_set_cr0/cr3/cr4, set_efer under shadow paging: read shadows, the MMU's context and root.
      const vmx = this.vmx;
      if (efer !== undefined) setGuestEfer(shadow, efer);
      if (cr0 !== undefined) writeGuestCr0(vmx, shadow, cr0);
      if (cr4 !== undefined) writeGuestCr4(vmx, shadow, cr4);
      if (cr3 !== undefined) setGuestCr3(vmx, shadow, cr3);
    } else {
      w(VMCS_FIELD.GUEST_CR0, cr0);
      w(VMCS_FIELD.GUEST_CR3, cr3);
      w(VMCS_FIELD.GUEST_CR4, cr4 === undefined ? undefined : (cr4 | CR4_VMXE) >>> 0);
    }
    w(VMCS_FIELD.GUEST_IA32_EFER, efer);
    if (this.eli?.direct) {
      // ELI's direct mode: the guest's IDTR is KVM's copy (the VMCS keeps the shadow's base); the shadow follows.
      eliSetIdt(this, idtBase ?? this.eli.guestIdtBase, idtLimit ?? this.eli.guestIdtLimit);
    } else {
      w(VMCS_FIELD.GUEST_IDTR_BASE, idtBase);
      w(VMCS_FIELD.GUEST_IDTR_LIMIT, idtLimit);
    }
    if (cr2 !== undefined) this.cpu.setRegisters({ cr2 });
    if (cr2 !== undefined && shadow) shadow.guestCr2 = cr2;
    if (cr8 !== undefined) {
      if (this.apic) this.apic.writeCr8(cr8);
      else this.kvmRun.cr8 = cr8;
    }
    this.requestEvent = true;
  }

  /** KVM_GET_LAPIC: the 1 KiB register image (EINVAL without the in-kernel LAPIC). */
  getLapic(): Uint8Array {
    if (!this.apic) fail('EINVAL', 'KVM_GET_LAPIC needs the in-kernel LAPIC (KVM_CREATE_IRQCHIP)');
    // With APICv, IRR, ISR and TPR live in the virtual-APIC page (kvm_apic_get_state after sync_pir_to_irr).
    if (this.apicv && this.posted) {
      this.posted.syncPirToIrr(this.vmx);
      return lapicImageWithVapic(this.host.memory, this.apicv.vapicPage, this.apic);
    }
    return this.apic.getKvmLapicState();
  }

  /** KVM_SET_LAPIC (EINVAL without the in-kernel LAPIC or for an image that is not 1024 bytes). */
  setLapic(regs: Uint8Array): void {
    if (!this.apic) fail('EINVAL', 'KVM_SET_LAPIC needs the in-kernel LAPIC (KVM_CREATE_IRQCHIP)');
    if (!(regs instanceof Uint8Array) || regs.length !== 1024) fail('EINVAL', 'struct kvm_lapic_state holds exactly 1024 bytes');
    try {
      this.apic.setKvmLapicState(regs);
      if (this.apicv) {
        // kvm_apic_set_state with APICv: the vectors go to the virtual-APIC page, RVI/SVI follow
        // (vmx_apicv_post_state_restore), and the EOI-exit bitmap is recomputed (KVM_REQ_SCAN_IOAPIC).
        moveLapicVectorsToVapic(this.host.memory, this.apicv.vapicPage, this.apic);
        this.vmx.vmwrite32(VMCS_FIELD.GUEST_INTR_STATUS, guestInterruptStatus(this.host.memory, this.apicv.vapicPage));
        this.apicv.scanRequested = true;
      }
    } catch (e) {
      if (e instanceof UsageError) fail('EINVAL', e.message);
      throw e;
    }
    this.requestEvent = true;
  }

  /**
   * KVM_INTERRUPT (api.rst 4.16), for a userspace irqchip: queues `vector`
   * for injection at the next entry. ENXIO with the in-kernel PIC,
   * EINVAL for a vector above 255, EEXIST while one is queued. With the
   * split irqchip it is the userspace PIC's ExtINT (see arch-ioctls.ts).
   */
  interrupt(vector: number): void {
    if (this.host.irqchip?.pic) fail('ENXIO', 'KVM_INTERRUPT is for a userspace irqchip; this VM has the in-kernel one');
    if (!Number.isInteger(vector) || vector < 0 || vector > 255) fail('EINVAL', `interrupt vector must be in [0, 255], got ${String(vector)}`);
    if (this.apic) {
      kvmInterruptExtInt(this, vector);
      return;
    }
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
    return vcpuRun(this, options);
  }
}
