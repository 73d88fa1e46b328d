/**
 * A VM's interrupt-delivery mode and the physical CPUs its vCPUs share.
 *
 * - `'emulated'`: the in-kernel LAPIC emulated from APIC-access (EPT) and
 *   MSR exits, interrupts injected at VM entry, every EOI an exit (Linux
 *   with kvm_intel.enable_apicv=0).
 * - `'apicv'`: TPR shadow, APIC-register virtualization, virtual-interrupt
 *   delivery, virtualize-x2APIC mode, EOI exits only for the vectors of the
 *   EOI-exit bitmap, and every interrupt to a vCPU posted into its
 *   posted-interrupt descriptor (enable_apicv=1; SDM 3C 30).
 *
 * - `'eli'`: the emulated mode with ELI's exitless interrupts for assigned
 *   devices (eli.ts): their vectors reach the guest through a shadow IDT
 *   with no exit, EOIs passed through (Gordon et al., ASPLOS 2012).
 *
 * KVM has no per-VM switch for this (enable_apicv is a module parameter of
 * kvm_intel, with per-VM inhibits); the model makes it a VM choice so one
 * host can compare both. vCPUs run on physical CPUs: one each by default, or
 * `physicalCpus` shared ones (vCPU n starts on CPU n mod physicalCpus).
 */
import { fail } from '../generic/errors.js';
import { PhysicalCpus, type PcpuHost, type PhysicalCpu } from './pcpu.js';

/** The interrupt-delivery modes. */
export type InterruptMode = 'emulated' | 'apicv' | 'eli';

/** Options of {@link InterruptDelivery.setMode}. */
export interface InterruptDeliveryOptions {
  /** How many physical CPUs the VM's vCPUs share (default: one per vCPU, CPU number = vCPU id). */
  physicalCpus?: number;
  /**
   * ELI only: a page-aligned guest address (linear = guest-physical: the
   * guest's page tables must map it to itself) with no memslot, where KVM
   * maps its shadow IDT read-only.
   */
  shadowIdt?: number;
}

/** What the VM-wide part needs to reach each vCPU. */
export interface DeliveryVcpu {
  readonly id: number;
  /** The in-kernel LAPIC's APIC ID, when there is one. */
  readonly apic: { readonly apicId: number } | undefined;
  /** The posted-interrupt descriptor's address, with APICv. */
  readonly posted: { readonly address: number } | undefined;
  /** The physical CPU it runs on (its APIC ID: where ELI aims an assigned device's interrupts). */
  readonly pcpu: { readonly index: number };
  /** KVM_REQ_SCAN_IOAPIC. */
  requestScanIoapic(): void;
  /** KVM_HC_KICK_CPU's wake-up (pv_unhalted, KVM_REQ_EVENT, kvm_vcpu_kick: hypercall.ts). */
  pvKick(): void;
}

/** A VM's interrupt-delivery choice and its physical CPUs (see the file comment). */
export class InterruptDelivery {
  private modeValue: InterruptMode = 'emulated';
  private shared = 0;
  private pcpuSet: PhysicalCpus | undefined;
  private readonly vcpus: DeliveryVcpu[] = [];
  private accessPage = -1;
  private shadowIdtAddress = -1;
  /** ELI: 1 for each vector an assigned device delivers to the guest directly. */
  readonly eliVectors = new Uint8Array(256);
  /** ELI: bumped whenever `eliVectors` changes (each vCPU re-shadows). */
  eliGeneration = 0;
  /** ELI: how many vectors are assigned. */
  eliAssigned = 0;

  /** The mode. */
  get mode(): InterruptMode {
    return this.modeValue;
  }

  /** Whether the VM uses ELI (the emulated mode with exitless interrupts for assigned devices). */
  get eli(): boolean {
    return this.modeValue === 'eli';
  }

  /** ELI: the guest address of the shadow IDT, or -1. */
  get shadowIdt(): number {
    return this.shadowIdtAddress;
  }

  /** @internal ELI: marks `vector` as delivered directly (an assigned device's) or not. */
  setEliVector(vector: number, direct: boolean): void {
    const v = direct ? 1 : 0;
    if (this.eliVectors[vector] === v) return;
    this.eliVectors[vector] = v;
    this.eliAssigned += direct ? 1 : -1;
    this.eliGeneration++;
  }

  /** Whether vCPUs use APIC virtualization and posted interrupts. */
  get apicv(): boolean {
    return this.modeValue === 'apicv';
  }

  /**
   * Chooses the mode (and how many physical CPUs the vCPUs share) before
   * the first KVM_CREATE_VCPU: EINVAL for an unknown mode, a bad CPU count
   * or once a vCPU exists.
   */
  setMode(mode: InterruptMode, options: InterruptDeliveryOptions = {}): void {
    const given: unknown = mode;
    if (given !== 'emulated' && given !== 'apicv' && given !== 'eli') fail('EINVAL', `interrupt-delivery mode must be 'emulated', 'apicv' or 'eli', got ${String(given)}`);
    const n = options.physicalCpus;
    if (n !== undefined && (!Number.isInteger(n) || n < 1 || n > 1024)) fail('EINVAL', `physicalCpus must be an integer in [1, 1024], got ${String(n)}`);
    const idt = options.shadowIdt;
    if (mode === 'eli' && (typeof idt !== 'number' || !Number.isSafeInteger(idt) || idt < 0 || idt % 4096 !== 0)) fail('EINVAL', `ELI needs shadowIdt, a page-aligned guest address, got ${String(idt)}`);
    if (mode !== 'eli' && idt !== undefined) fail('EINVAL', `shadowIdt is for the 'eli' mode, not '${mode}'`);
    if (this.vcpus.length > 0) fail('EINVAL', 'the interrupt-delivery mode must be chosen before KVM_CREATE_VCPU');
    this.modeValue = mode;
    this.shared = n ?? 0;
    this.shadowIdtAddress = idt ?? -1;
  }

  /** @internal Registers a new vCPU and returns the physical CPU it starts on. */
  attach(vcpu: DeliveryVcpu, host: PcpuHost): PhysicalCpu {
    this.vcpus.push(vcpu);
    this.pcpuSet ??= new PhysicalCpus(host);
    return this.pcpuSet.cpu(this.shared > 0 ? vcpu.id % this.shared : vcpu.id);
  }

  /** @internal The VM's APIC-access page (kvm_alloc_apic_access_page: one page, made on first use). */
  apicAccessPage(host: PcpuHost): number {
    if (this.accessPage < 0) this.accessPage = host.allocKernelPages(1);
    return this.accessPage;
  }

  /** The physical CPUs (undefined before the first vCPU). */
  get physicalCpus(): PhysicalCpus | undefined {
    return this.pcpuSet;
  }

  /** The vCPUs whose LAPIC has physical APIC ID `apicId` (kvm_intr_is_single_vcpu looks for exactly one). */
  vcpusWithApicId(apicId: number): DeliveryVcpu[] {
    return this.vcpus.filter((v) => v.apic !== undefined && v.apic.apicId === apicId);
  }

  /** kvm_make_scan_ioapic_request: every vCPU recomputes its EOI-exit bitmap before its next entry. */
  requestScanIoapic(): void {
    for (const v of this.vcpus) v.requestScanIoapic();
  }
}
