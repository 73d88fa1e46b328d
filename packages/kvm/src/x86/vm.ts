/**
 * An x86 KVM VM (arch/x86/kvm/x86.c `kvm_arch_vm_ioctl`): vCPUs, the
 * in-kernel irqchip of KVM_CREATE_IRQCHIP, MSI delivery to the vCPUs'
 * local APICs, the EPT tables filled from the memslots on faults, and the
 * VM's guest program (this model's "code in guest memory").
 */
import { DELIVERY_STATUS, type DeliveryStatus, type Memslot } from '@hvsim/core';
import { GuestProgram, type X86Guest } from '@hvsim/cpu';
import { EptBuilder, PageAllocator } from '@hvsim/mmu';
import { fail, u32, u64 } from '../generic/errors.js';
import type { MemoryRegionChange } from '../generic/memory-region.js';
import { KvmVm, type KvmHost } from '../generic/vm.js';
import { KVM_MAX_VCPUS, KVM_MAX_VCPU_IDS, x86CheckExtension } from './caps.js';
import { X86Irqchip, defaultIrqRoutes } from './irqchip.js';
import { X86Vcpu, type X86VcpuHost } from './vcpu.js';

/** Pages of host memory reserved for one VM's EPT tables. */
const EPT_POOL_PAGES = 512;

/** An x86 VM (see the file comment). */
export class X86Vm extends KvmVm implements X86VcpuHost {
  readonly msiDevid = false;
  /** The guest code: define routines at guest addresses, as a VMM loads a kernel image. */
  readonly program = new GuestProgram<X86Guest>();
  /** The VM's EPT tables. */
  readonly ept: EptBuilder;
  /** The EPT pointer of every vCPU. */
  readonly eptp: bigint;
  private readonly vcpus = new Map<number, X86Vcpu>();
  private chip: X86Irqchip | undefined;
  private tssAddr = -1;

  constructor(host: KvmHost) {
    super(host);
    const pool = host.allocKernelPages(EPT_POOL_PAGES);
    this.ept = new EptBuilder(host.memory, new PageAllocator(pool, EPT_POOL_PAGES * 4096));
    this.eptp = this.ept.eptp();
  }

  /** Host memory. */
  get memory(): KvmHost['memory'] {
    return this.host.memory;
  }

  /** Simulated time. */
  get clock(): KvmHost['clock'] {
    return this.host.clock;
  }

  /** The in-kernel irqchip, once created. */
  get irqchip(): X86Irqchip | undefined {
    return this.chip;
  }

  /** Whether KVM_CREATE_IRQCHIP was done. */
  get irqchipInKernel(): boolean {
    return this.chip !== undefined;
  }

  /** KVM_CHECK_EXTENSION on the VM (KVM_CAP_CHECK_EXTENSION_VM): the same answers as the system object. */
  checkExtension(cap: number): number {
    return x86CheckExtension(cap);
  }

  /** The vCPUs by id. */
  vcpu(id: number): X86Vcpu | undefined {
    return this.vcpus.get(id);
  }

  /** Allocates kernel memory (VMXON regions, VMCSs). */
  allocKernelPages(pages: number): number {
    return this.host.allocKernelPages(pages);
  }

  /**
   * KVM_CREATE_IRQCHIP (api.rst 4.24): the PIC pair and IOAPIC, LAPICs for
   * vCPUs created afterwards, and the default GSI routes. EEXIST when it
   * exists, EINVAL once a vCPU exists.
   */
  createIrqchip(): void {
    if (this.chip) fail('EEXIST', 'the in-kernel irqchip already exists');
    if (this.vcpus.size > 0) fail('EINVAL', 'KVM_CREATE_IRQCHIP must come before KVM_CREATE_VCPU');
    this.chip = new X86Irqchip(this.host.clock, (chip, pin) => {
      for (const gsi of this.routing.gsisOf(chip, pin)) this.irqfds.acked(gsi);
    });
    this.routing.set(defaultIrqRoutes());
  }

  /**
   * KVM_CREATE_VCPU (api.rst 4.7): EINVAL for an id at or above
   * KVM_MAX_VCPU_IDS or beyond KVM_MAX_VCPUS vCPUs, EEXIST for an id in use.
   */
  createVcpu(id: number): X86Vcpu {
    const n = u32(id, 'vcpu id');
    if (n >= KVM_MAX_VCPU_IDS) fail('EINVAL', `vcpu id ${n} is not below KVM_MAX_VCPU_IDS (${KVM_MAX_VCPU_IDS})`);
    if (this.vcpus.size >= KVM_MAX_VCPUS) fail('EINVAL', `the VM already has KVM_MAX_VCPUS (${KVM_MAX_VCPUS}) vCPUs`);
    if (this.vcpus.has(n)) fail('EEXIST', `vcpu ${n} already exists`);
    const vcpu = new X86Vcpu(this, n);
    this.vcpus.set(n, vcpu);
    return vcpu;
  }

  /** KVM_SET_TSS_ADDR (api.rst 4.48): recorded (EINVAL above 4 GiB − 3 pages); real-mode emulation is not modelled. */
  setTssAddr(addr: number): void {
    const a = u64(addr, 'tss addr');
    if (a > 0xffff_ffff - 3 * 4096 + 1) fail('EINVAL', `tss addr 0x${a.toString(16)} leaves no room for its three pages below 4 GiB`);
    this.tssAddr = a;
  }

  /** The address of KVM_SET_TSS_ADDR, or -1. */
  get tssAddress(): number {
    return this.tssAddr;
  }

  irqchipPins(chip: number): number {
    return this.chip ? this.chip.pins(chip) : -1;
  }

  setIrqchip(chip: number, pin: number, level: boolean, sourceId: number): DeliveryStatus {
    return this.chip ? this.chip.set(chip, pin, level, sourceId) : DELIVERY_STATUS.BLOCKED;
  }

  /** kvm_set_msi: the MSI to the local APICs it names (address_hi is ignored without KVM_CAP_X2APIC_API). */
  setMsi(addressLo: number, _addressHi: number, data: number): DeliveryStatus {
    if (!this.chip) return DELIVERY_STATUS.BLOCKED;
    return this.chip.bus.deliverMsi(addressLo, data);
  }

  protected irqfdAllowed(): boolean {
    return this.chip !== undefined;
  }

  protected memslotsChanged(_change: MemoryRegionChange, old: Memslot | undefined, slot: Memslot | undefined): void {
    // kvm_arch_flush_shadow_memslot: zap the old range; the new range may hold cached MMIO SPTEs (the
    // MMIO generation changed); a flags change re-faults the slot's pages with the new permissions.
    if (old) this.ept.zapRange(old.guestPhysical, old.size);
    if (slot) this.ept.zapRange(slot.guestPhysical, slot.size);
    for (const v of this.vcpus.values()) v.flushTlb();
  }
}
