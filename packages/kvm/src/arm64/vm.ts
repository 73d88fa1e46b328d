/**
 * An arm64 KVM VM (Linux arch/arm64/kvm/arm.c `kvm_arch_vm_ioctl`,
 * vgic-kvm-device.c, mmu.c): vCPUs on physical CPUs of a host with a GICv3
 * (list registers, maintenance PPI 25) and a generic timer, the stage 2
 * tables filled from the memslots on faults, the in-kernel vGICv3 device,
 * KVM_IRQ_LINE with the arm64 encoding, irqfd routes to SPIs, and the VM's
 * guest program (this model's "code in guest memory").
 */
import { DELIVERY_STATUS, type DeliveryStatus, type Memslot } from '@hvsim/core';
import { GuestProgram, type Arm64Guest } from '@hvsim/cpu';
import { GICD, GICR, GICR_SGI, GICR_SGI_BASE, GenericTimer, GicV3 } from '@hvsim/gic';
import { PageAllocator, Stage2Builder } from '@hvsim/mmu';
import { KVM_IRQ_ROUTING } from '../generic/constants.js';
import { fail, u32 } from '../generic/errors.js';
import type { MemoryRegionChange } from '../generic/memory-region.js';
import type { KvmIrqRoutingEntry } from '../generic/routing.js';
import { KvmVm, type KvmHost } from '../generic/vm.js';
import { ARM64_IPA_BITS, ARM64_MAX_VCPUS, arm64CheckExtension } from './caps.js';
import { KVM_ARM_IRQ_TYPE, KVM_CREATE_DEVICE_TEST, KVM_DEV_TYPE } from './constants.js';
import type { PsciVcpu } from './psci.js';
import { Arm64Vcpu, IPI_RESCHEDULE, IPI_SIGNAL, type Arm64VcpuHost } from './vcpu.js';
import { Arm64Vgic, MAINTENANCE_PPI, VTIMER_PPI, type VgicHost } from './vgic.js';
import { ARM64_VHE_COSTS, type Arm64WorldSwitchCosts } from './world-switch-costs.js';

/** Pages of host memory reserved for one VM's stage 2 tables. */
const STAGE2_POOL_PAGES = 1024;

/** `struct kvm_create_device` (api.rst 4.79). */
export interface KvmCreateDevice {
  type: number;
  flags?: number;
}

/** An arm64 VM (see the file comment). */
export class Arm64Vm extends KvmVm implements Arm64VcpuHost, VgicHost {
  readonly msiDevid = true;
  /** The guest code: define routines at guest addresses, as a VMM loads a kernel image. */
  readonly program = new GuestProgram<Arm64Guest>();
  /** The VM's stage 2 tables. */
  readonly stage2: Stage2Builder;
  /** VTCR_EL2 and VTTBR_EL2 (VMID 1) of every vCPU. */
  readonly vtcr: bigint;
  readonly vttbr: bigint;
  /** The host's GICv3: one CPU interface and virtual interface per physical CPU. */
  readonly hostGic: GicV3;
  /** The host's generic timer. */
  readonly hostTimer: GenericTimer;
  /** The IPA size (KVM_CAP_ARM_VM_IPA_SIZE's default). */
  readonly ipaBits = ARM64_IPA_BITS;
  /** vCPUs inside KVM_RUN. */
  running = 0;
  private readonly vcpus: (Arm64Vcpu | undefined)[] = [];
  private vgicDevice: Arm64Vgic | undefined;
  private hasRun = false;

  constructor(
    host: KvmHost,
    /** The world-switch costs: {@link ARM64_VHE_COSTS} (default) or ARM64_NVHE_COSTS. */
    readonly costs: Arm64WorldSwitchCosts = ARM64_VHE_COSTS,
  ) {
    super(host);
    const pool = host.allocKernelPages(STAGE2_POOL_PAGES);
    this.stage2 = new Stage2Builder(host.memory, new PageAllocator(pool, STAGE2_POOL_PAGES * 4096), 1, ARM64_IPA_BITS);
    this.vtcr = this.stage2.vtcr();
    this.vttbr = this.stage2.vttbr(1);
    const cpuOf = (p: number): Arm64Vcpu | undefined => this.vcpus[p];
    this.hostGic = new GicV3({
      cpus: ARM64_MAX_VCPUS,
      clock: host.clock,
      maintenanceIntid: MAINTENANCE_PPI,
      onIrq: (p, level) => cpuOf(p)?.cpu.setIrqLevel(level),
      onFiq: (p, level) => cpuOf(p)?.cpu.setFiqLevel(level),
      onVirq: (p, level) => cpuOf(p)?.cpu.setVirqLevel(level),
      onVfiq: (p, level) => cpuOf(p)?.cpu.setVfiqLevel(level),
    });
    this.hostTimer = new GenericTimer({ clock: host.clock, cpus: ARM64_MAX_VCPUS, output: (p, intid, level) => this.hostGic.setPpiLevel(p, intid, level) });
    this.bringUpHostGic();
  }

  /**
   * What the host kernel did at boot on every physical CPU (IHI 0069 12.11.42
   * GICR_WAKER, 12.9.4 GICD_CTLR, 12.2.x ICC_*): redistributor awake, the
   * IPIs, the maintenance PPI and the virtual timer's PPI enabled in Group
   * 1, PMR open, Group 1 on, EOImode 1 (KVM forwards the timer's interrupt:
   * the guest's deactivation completes it).
   */
  private bringUpHostGic(): void {
    const g = this.hostGic;
    g.distributorFor(0).mmioWrite(GICD.CTLR, 4, 0x2);
    const r = g.redistributorRegion;
    for (let p = 0; p < ARM64_MAX_VCPUS; p++) {
      r.mmioWrite(p * r.stride + GICR.WAKER, 4, 0);
      r.mmioWrite(p * r.stride + GICR_SGI_BASE + GICR_SGI.IGROUPR0, 4, 0xffff_ffff);
      r.mmioWrite(p * r.stride + GICR_SGI_BASE + GICR_SGI.ISENABLER0, 4, (1 << IPI_RESCHEDULE) | (1 << IPI_SIGNAL) | (1 << MAINTENANCE_PPI) | (1 << VTIMER_PPI));
      const c = g.cpuInterface(p);
      c.writePmr(0xf0);
      c.writeIgrpen(1, 1);
      c.writeCtlr(1 << 1);
    }
  }

  /** Host memory. */
  get memory(): KvmHost['memory'] {
    return this.host.memory;
  }

  /** Simulated time. */
  get clock(): KvmHost['clock'] {
    return this.host.clock;
  }

  /** The in-kernel vGIC, once created. */
  get vgic(): Arm64Vgic | undefined {
    return this.vgicDevice;
  }

  /** Whether a vGIC device exists (irqchip_in_kernel). */
  get irqchipInKernel(): boolean {
    return this.vgicDevice !== undefined;
  }

  /** KVM_CHECK_EXTENSION on the VM. */
  checkExtension(cap: number): number {
    return arm64CheckExtension(cap);
  }

  /** KVM_ARM_PREFERRED_TARGET (api.rst 4.83): KVM_ARM_TARGET_GENERIC_V8, no features. */
  preferredTarget(): { target: number; features: number[] } {
    return { target: 5, features: [0, 0, 0, 0, 0, 0, 0] };
  }

  /** The vCPUs by id. */
  vcpu(id: number): Arm64Vcpu | undefined {
    return this.vcpus[id];
  }

  /** Every vCPU (PSCI). */
  vcpuList(): readonly PsciVcpu[] {
    return this.vcpus.filter((v) => v !== undefined);
  }

  /** vCPUs created (VgicHost). */
  get vcpuCount(): number {
    return this.vcpuList().length;
  }

  /** Whether a vCPU is inside KVM_RUN. */
  get vcpuRunning(): boolean {
    return this.running > 0;
  }

  /** The vCPU index with MPIDR `mpidr`, or -1. */
  vcpuByMpidr(mpidr: number): number {
    const v = this.vcpus.find((x) => x !== undefined && x.mpidr === mpidr);
    return v === undefined ? -1 : v.id;
  }

  /** kvm_vcpu_kick of vCPU `vcpu`. */
  kick(vcpu: number): void {
    this.vcpus[vcpu]?.kick();
  }

  /** The physical CPU of vCPU `vcpu` (one each). */
  pcpuOf(vcpu: number): number {
    return vcpu;
  }

  /**
   * KVM_CREATE_VCPU (api.rst 4.7): EINVAL at or above this host's vCPU limit
   * (one physical CPU each), EEXIST for an id in use, EBUSY once the vGIC is
   * initialized (kvm_arch_vcpu_precreate).
   */
  createVcpu(id: number): Arm64Vcpu {
    const n = u32(id, 'vcpu id');
    if (n >= ARM64_MAX_VCPUS) fail('EINVAL', `vcpu id ${n} is not below this host's ${ARM64_MAX_VCPUS} physical CPUs (KVM_CAP_MAX_VCPUS)`);
    if (this.vcpus[n] !== undefined) fail('EEXIST', `vcpu ${n} already exists`);
    if (this.vgicDevice?.initialized === true) fail('EBUSY', 'the vGIC is initialized: no vCPU can be added');
    const vcpu = new Arm64Vcpu(this, n);
    this.vcpus[n] = vcpu;
    return vcpu;
  }

  /**
   * KVM_CREATE_DEVICE (api.rst 4.79): KVM_DEV_TYPE_ARM_VGIC_V3 (one per VM:
   * EEXIST; EBUSY once a vCPU has run); KVM_CREATE_DEVICE_TEST only probes.
   * GICv2 and the ITS are not modelled yet (ENODEV, as for a type the host
   * cannot provide).
   */
  createDevice(device: KvmCreateDevice): Arm64Vgic | undefined {
    const type = u32(device.type, 'type');
    const flags = u32(device.flags ?? 0, 'flags');
    if ((flags & ~KVM_CREATE_DEVICE_TEST) !== 0) fail('EINVAL', `kvm_create_device flags ${flags} are not valid`);
    if (type !== KVM_DEV_TYPE.ARM_VGIC_V3) fail('ENODEV', `device type ${type} is not supported (KVM_DEV_TYPE_ARM_VGIC_V3, 7, is)`);
    if (flags === KVM_CREATE_DEVICE_TEST) return undefined;
    if (this.vgicDevice) fail('EEXIST', 'the VM already has a vGIC');
    if (this.hasRun || this.running > 0) fail('EBUSY', 'a vCPU has already run');
    this.vgicDevice = new Arm64Vgic(this);
    return this.vgicDevice;
  }

  /** kvm_vgic_setup_default_irq_routing: GSI n → irqchip 0 pin n (SPI n + 32). */
  vgicInitialized(spis: number): void {
    const entries: KvmIrqRoutingEntry[] = [];
    for (let n = 0; n < spis; n++) entries.push({ gsi: n, type: KVM_IRQ_ROUTING.IRQCHIP, irqchip: { irqchip: 0, pin: n } });
    this.routing.set(entries);
  }

  /** kvm_notify_acked_irq(kvm, 0, pin): irqfds with a resampler on a GSI routed to that SPI are re-armed. */
  notifyAcked(pin: number): void {
    for (const gsi of this.routing.gsisOf(0, pin)) this.irqfds.acked(gsi);
  }

  /**
   * KVM_IRQ_LINE on arm64 (api.rst 4.25): `irq` = vcpu2_index (31:28),
   * type (27:24: CPU 0, SPI 1, PPI 2), vcpu_index (23:16), irq_id (15:0).
   * SPIs and PPIs need the vGIC (ENXIO without, EBUSY before it is
   * initialized) and an id in range (EINVAL); the CPU type needs a userspace
   * irqchip (ENXIO with the vGIC). Returns 0, the ioctl's success.
   */
  override irqLine(irq: number, level: boolean | number): number {
    const v = u32(irq, 'irq');
    const type = (v >>> 24) & 0xf;
    const vcpuId = ((v >>> 16) & 0xff) + ((v >>> 28) & 0xf) * 256;
    const num = v & 0xffff;
    const on = level === true || level === 1;
    const vgic = this.vgicDevice;
    if (type === KVM_ARM_IRQ_TYPE.CPU) {
      if (vgic) fail('ENXIO', 'KVM_ARM_IRQ_TYPE_CPU needs a userspace irqchip (the vGIC exists)');
      const vcpu = this.vcpus[vcpuId];
      if (!vcpu) fail('EINVAL', `no vcpu ${vcpuId}`);
      if (num > 1) fail('EINVAL', `KVM_ARM_IRQ_TYPE_CPU line ${num} is not IRQ (0) or FIQ (1)`);
      if (num === 0) vcpu.cpu.setVirqLevel(on);
      else vcpu.cpu.setVfiqLevel(on);
      return 0;
    }
    if (type !== KVM_ARM_IRQ_TYPE.SPI && type !== KVM_ARM_IRQ_TYPE.PPI) fail('EINVAL', `irq type ${type} is not CPU (0), SPI (1) or PPI (2)`);
    if (!vgic) fail('ENXIO', 'KVM_IRQ_LINE for an SPI or PPI needs the in-kernel vGIC');
    if (!vgic.initialized) fail('EBUSY', 'the vGICv3 is not initialized');
    if (type === KVM_ARM_IRQ_TYPE.PPI) {
      if (!this.vcpus[vcpuId]) fail('EINVAL', `no vcpu ${vcpuId}`);
      if (num < 16 || num >= 32) fail('EINVAL', `PPI ${num} is not in [16, 32)`);
      vgic.setLine(vcpuId, num, on);
      return 0;
    }
    if (num < 32 || num >= 32 + vgic.spis) fail('EINVAL', `SPI ${num} is not in [32, ${32 + vgic.spis})`);
    vgic.setLine(0, num, on);
    return 0;
  }

  irqchipPins(chip: number): number {
    return chip === 0 && this.vgicDevice?.initialized === true ? this.vgicDevice.spis : -1;
  }

  /** vgic_irqfd_set_irq: pin n is SPI n + 32. */
  setIrqchip(_chip: number, pin: number, level: boolean): DeliveryStatus {
    const vgic = this.vgicDevice;
    if (vgic?.initialized !== true) return DELIVERY_STATUS.BLOCKED;
    vgic.setLine(0, pin + 32, level);
    return DELIVERY_STATUS.DELIVERED;
  }

  /** MSIs need the vITS, not modelled yet: not delivered. */
  setMsi(): DeliveryStatus {
    return DELIVERY_STATUS.DROPPED;
  }

  /** Marks that a vCPU has entered KVM_RUN (the vGIC can no longer be created). */
  noteRun(): void {
    this.hasRun = true;
  }

  protected irqfdAllowed(): boolean {
    return this.vgicDevice !== undefined;
  }

  protected memslotsChanged(_change: MemoryRegionChange, old: Memslot | undefined, slot: Memslot | undefined): void {
    // kvm_arch_flush_shadow_memslot: unmap the old and the new range; faults map them again.
    for (const s of [old, slot]) if (s) this.stage2.unmap(s.guestPhysical, s.size);
    for (const v of this.vcpus) v?.flushTlb();
  }
}
