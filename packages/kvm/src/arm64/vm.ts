/**
 * An arm64 KVM VM (Linux arch/arm64/kvm/arm.c `kvm_arch_vm_ioctl`,
 * vgic-kvm-device.c, mmu.c): vCPUs on physical CPUs of a host with a GICv3
 * (list registers, maintenance PPI 25) and a generic timer, the stage 2
 * tables filled from the memslots on faults, the in-kernel vGICv3 device,
 * KVM_IRQ_LINE with the arm64 encoding, irqfd routes to SPIs, and the VM's
 * guest program (this model's "code in guest memory").
 */
import { DELIVERY_STATUS, type DeliveryStatus, type Memslot } from '@hvsim/core';
import { GuestProgram, type Arm64CostProfile, type Arm64Guest } from '@hvsim/cpu';
import { GICD, GICR, GICR_SGI, GICR_SGI_BASE, GenericTimer, GicV3 } from '@hvsim/gic';
import { PageAllocator, Stage2Builder } from '@hvsim/mmu';
import { KVM_CAP, KVM_IRQ_ROUTING, KVM_MSI_VALID_DEVID } from '../generic/constants.js';
import { ARM64_HALT_POLL_DEFAULTS, haltPollCapNs, type HaltPollParams } from '../generic/halt-poll.js';
import type { KvmEnableCapArgs } from '../x86/vm.js';
import { fail, hex, u32 } from '../generic/errors.js';
import type { MemoryRegionChange } from '../generic/memory-region.js';

import type { KvmIrqRoutingEntry, KvmMsi } from '../generic/routing.js';
import { KvmVm, type KvmHost } from '../generic/vm.js';
import { ARM64_IPA_BITS, ARM64_MAX_VCPUS, arm64CheckExtension } from './caps.js';
import { KVM_ARM_IRQ_TYPE, KVM_CREATE_DEVICE_TEST, KVM_DEV_TYPE } from './constants.js';
import type { PsciVcpu } from './psci.js';
import { Arm64Vcpu, IPI_RESCHEDULE, IPI_SIGNAL, type Arm64VcpuHost } from './vcpu.js';
import { Arm64Vgic, MAINTENANCE_PPI, VTIMER_PPI, type VgicHost } from './vgic.js';
import { Arm64Vits } from './vits.js';
import { Arm64AssignedDevice, type Arm64AssignDeviceOptions, type Arm64AssignedMsi } from './assigned-device.js';
import { HostItsDriver } from './host-its.js';
import { VgicV4, type Gicv4Version } from './vgic-v4.js';
import { EventFd } from '../generic/eventfd.js';
import { ARM64_VHE_COSTS, type Arm64WorldSwitchCosts } from './world-switch-costs.js';

/** Pages of host memory reserved for one VM's stage 2 tables. */
const STAGE2_POOL_PAGES = 1024;

/** `struct kvm_create_device` (api.rst 4.79). */
export interface KvmCreateDevice {
  type: number;
  flags?: number;
}

/** Options of an {@link Arm64Vm} (the host it runs on). */
export interface Arm64VmOptions {
  /**
   * The host GIC: 'v3' (default: list registers only, no host ITS), or a
   * GICv4 with an ITS, 'v4.0' or 'v4.1': vLPIs of assigned devices are then
   * injected directly (kvm-arm.vgic_v4_enable=1).
   */
  hostGic?: 'v3' | Gicv4Version;
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
  /** The guest CPUs' cycle costs (KvmOptions.arm64CpuCosts). */
  get cpuCosts(): Arm64CostProfile | undefined {
    return this.host.arm64CpuCosts;
  }
  /** Whether guest CPUs log their code's results (KvmOptions.snapshots: whole-VM saves mid-code). */
  get snapshots(): boolean {
    return this.host.snapshots === true;
  }
  /** The IPA size (KVM_CAP_ARM_VM_IPA_SIZE's default). */
  readonly ipaBits = ARM64_IPA_BITS;
  /** vCPUs inside KVM_RUN. */
  running = 0;
  private readonly vcpus: (Arm64Vcpu | undefined)[] = [];
  private vgicDevice: Arm64Vgic | undefined;
  private hasRun = false;

  /** The host's ITS driver (a GICv4 host), else undefined. */
  readonly hostIts: HostItsDriver | undefined;
  /** The host GIC's version. */
  readonly hostGicVersion: 'v3' | Gicv4Version;
  private v4State: VgicV4 | undefined;
  private readonly assigned: Arm64AssignedDevice[] = [];
  private maxHaltPoll: number;
  /** Cycles each physical CPU spent in halt polling (a vCPU in WFI spinning on it before blocking: kvm_vcpu_halt), by pCPU. */
  readonly haltPollCycles = new Float64Array(ARM64_MAX_VCPUS);

  constructor(
    host: KvmHost,
    /** The world-switch costs: {@link ARM64_VHE_COSTS} (default) or ARM64_NVHE_COSTS. */
    readonly costs: Arm64WorldSwitchCosts = ARM64_VHE_COSTS,
    options: Arm64VmOptions = {},
  ) {
    super(host);
    this.maxHaltPoll = this.haltPollParams.haltPollNs; // kvm->max_halt_poll_ns = halt_poll_ns
    const version: unknown = options.hostGic ?? 'v3';
    if (version !== 'v3' && version !== 'v4.0' && version !== 'v4.1') fail('EINVAL', `hostGic ${String(version)} is not 'v3', 'v4.0' or 'v4.1'`);
    this.hostGicVersion = version;
    const pool = host.allocKernelPages(STAGE2_POOL_PAGES);
    this.stage2 = new Stage2Builder(host.memory, new PageAllocator(pool, STAGE2_POOL_PAGES * 4096), 1, ARM64_IPA_BITS);
    this.vtcr = this.stage2.vtcr();
    this.vttbr = this.stage2.vttbr(1);
    const cpuOf = (p: number): Arm64Vcpu | undefined => this.vcpus[p];
    this.hostGic = new GicV3({
      cpus: ARM64_MAX_VCPUS,
      clock: host.clock,
      maintenanceIntid: MAINTENANCE_PPI,
      ...(version === 'v3' ? {} : { lpis: { memory: host.memory, idBits: 16, gicv4: version } }),
      onIrq: (p, level) => {
        const v = cpuOf(p);
        v?.cpu.setIrqLevel(level);
        // A physical interrupt for a pCPU whose vCPU waits in WFI wakes it (the doorbell, a device's host LPI).
        if (level) v?.hostIrqRaised();
      },
      onFiq: (p, level) => cpuOf(p)?.cpu.setFiqLevel(level),
      onVirq: (p, level) => cpuOf(p)?.cpu.setVirqLevel(level),
      onVfiq: (p, level) => cpuOf(p)?.cpu.setVfiqLevel(level),
    });
    this.hostTimer = new GenericTimer({ clock: host.clock, cpus: ARM64_MAX_VCPUS, output: (p, intid, level) => this.hostGic.setPpiLevel(p, intid, level) });
    this.bringUpHostGic();
    this.hostIts = version === 'v3' ? undefined : new HostItsDriver(this.hostGic, this.hostGic.createIts(), host.memory, (b, a) => this.kernelAlloc(b, a));
  }

  /** Zeroed kernel memory of `bytes` aligned to `align` (a power of two, at least a page). */
  kernelAlloc(bytes: number, align: number): number {
    const base = this.host.allocKernelPages(Math.ceil((bytes + align - 4096) / 4096));
    return Math.ceil(base / align) * align;
  }

  /** GICv4 direct injection, once the vGIC is initialized with a vITS on a GICv4 host (vgic_v4_init). */
  get v4(): VgicV4 | undefined {
    return this.v4State;
  }

  private maybeInitV4(): void {
    const vgic = this.vgicDevice;
    const its = this.hostIts;
    if (this.v4State !== undefined || its === undefined || vgic?.initialized !== true || vgic.its.length === 0 || this.hostGicVersion === 'v3') return;
    this.v4State = new VgicV4({ hostGic: this.hostGic, hostIts: its, memory: this.host.memory, kernelAlloc: (b, a) => this.kernelAlloc(b, a), kick: (v) => this.kick(v) }, this.hostGicVersion, vgic.distributor!.cpus, (v) => this.pcpuOf(v));
    this.updateForwarding();
  }

  /** A host LPI the host took on some physical CPU: its handler (a doorbell, vfio_msihandler). */
  hostLpi(intid: number): void {
    this.hostIts?.handle(intid);
  }

  /** Physical CPUs not running a guest take their pending interrupts at once (the host runs there with interrupts on). */
  private hostIdleInterrupts(): void {
    for (const v of this.vcpus) v?.takeHostInterruptsIfIdle();
  }

  /**
   * Assigns a device to the VM (VFIO with its MSI eventfds, KVM's IRQ
   * bypass): needs a GICv4 host (its ITS; ENODEV otherwise); EINVAL for a
   * DeviceID above 16 bits or one already assigned, or no vectors. Each
   * vector is a host LPI signalling its eventfd, forwarded as a vLPI when
   * its GSI's route translates in the vITS to an LPI of one vCPU.
   */
  assignDevice(options: Arm64AssignDeviceOptions): Arm64AssignedDevice {
    const its = this.hostIts;
    if (its === undefined) fail('ENODEV', "device assignment needs a host ITS (hostGic 'v4.0' or 'v4.1')");
    const deviceId = u32(options.deviceId, 'deviceId');
    if (deviceId >= 0x1_0000) fail('EINVAL', `deviceId ${hex(deviceId)} is above 16 bits`);
    if (this.assigned.some((d) => d.deviceId === deviceId)) fail('EINVAL', `device ${hex(deviceId)} is already assigned`);
    const list: unknown = options.msis;
    if (!Array.isArray(list) || list.length === 0 || list.length > 64) fail('EINVAL', 'msis must list 1 to 64 vectors');
    const msis = list as readonly Arm64AssignedMsi[];
    msis.forEach((m, i) => {
      if (!(m.fd instanceof EventFd)) fail('EBADF', `msis[${i}].fd is not an eventfd`);
      u32(m.gsi, `msis[${i}].gsi`);
    });
    const dev = new Arm64AssignedDevice(its, deviceId, msis.map((m) => ({ fd: m.fd, gsi: m.gsi })), () => {
      this.hostIdleInterrupts();
    });
    this.assigned.push(dev);
    this.updateForwarding();
    return dev;
  }

  /** The devices assigned to this VM. */
  get assignedDevices(): readonly Arm64AssignedDevice[] {
    return this.assigned;
  }

  /**
   * kvm_vgic_v4_set_forwarding / unset_forwarding for every assigned
   * vector: forwarded when GICv4 is up and its GSI's route is an MSI the
   * vITS translates to an LPI of one vCPU, else a host LPI.
   */
  private updateForwarding(): void {
    const v4 = this.v4State;
    if (v4 === undefined) return;
    for (const dev of this.assigned) {
      dev.msis.forEach((m, n) => {
        const route = this.routing.msiOf(m.gsi);
        const its = route === undefined ? undefined : this.itsFor(route.addressLo, route.addressHi);
        const target = its === undefined || route === undefined ? undefined : its.lookup(route.devid, route.data);
        const config = target === undefined ? -1 : this.vgicDevice!.lpiConfig(target.vcpu, target.intid);
        if (target !== undefined && config >= 0) v4.forward(dev.deviceId, n, target.vcpu, target.intid, config);
        else v4.unforward(dev.deviceId, n, dev.hostLpis[n]!);
      });
    }
  }

  /** The vITS's mappings changed (VitsHost). */
  itsChanged(): void {
    this.updateForwarding();
  }

  /** KVM_IRQFD: an irqfd on an assigned vector's eventfd may now be forwarded (irq bypass pairing). */
  override irqfd(args: Parameters<KvmVm['irqfd']>[0]): void {
    super.irqfd(args);
    this.updateForwarding();
  }

  /** kvm_arch_update_irqfd_routing: routes changed, forwarded events follow. */
  protected override routingChanged(): void {
    this.updateForwarding();
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

  /** The kvm module's halt-polling parameters (`new Kvm({ haltPoll })`; arm64 halt_poll_ns default 500000). */
  get haltPollParams(): HaltPollParams {
    return this.host.haltPoll ?? ARM64_HALT_POLL_DEFAULTS;
  }

  /** kvm->max_halt_poll_ns: the module's `halt_poll_ns`, or KVM_CAP_HALT_POLL's value for this VM. */
  get maxHaltPollNs(): number {
    return this.maxHaltPoll;
  }

  /**
   * KVM_ENABLE_CAP on the VM (api.rst 4.37, 7): EINVAL for flags other than
   * 0 and for capabilities this KVM cannot enable. KVM_CAP_HALT_POLL with
   * `args: [ns]` sets this VM's maximum halt-polling time
   * (kvm->max_halt_poll_ns, api.rst 7.27; EINVAL above 32 bits).
   */
  enableCap(cap: number, options: KvmEnableCapArgs = {}): void {
    const c = u32(cap, 'cap');
    if (u32(options.flags ?? 0, 'flags') !== 0) fail('EINVAL', `kvm_enable_cap flags must be 0, got ${String(options.flags)}`);
    const raw: unknown = options.args ?? [];
    if (!Array.isArray(raw) || raw.length > 4) fail('EINVAL', 'kvm_enable_cap args holds at most four values');
    if (c !== KVM_CAP.HALT_POLL) fail('EINVAL', `capability ${c} cannot be enabled on this VM (KVM_CAP_HALT_POLL ${KVM_CAP.HALT_POLL})`);
    this.maxHaltPoll = haltPollCapNs((raw as readonly unknown[])[0]);
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
   * EEXIST; EBUSY once a vCPU has run) and KVM_DEV_TYPE_ARM_VGIC_ITS (any
   * number, each with its own frames; this model needs the vGICv3 device
   * first: ENODEV without it); KVM_CREATE_DEVICE_TEST only probes. GICv2 is
   * not modelled yet (ENODEV, as for a type the host cannot provide).
   */
  createDevice(device: { type: typeof KVM_DEV_TYPE.ARM_VGIC_ITS; flags?: 0 }): Arm64Vits;
  createDevice(device: { type: typeof KVM_DEV_TYPE.ARM_VGIC_V3; flags?: number }): Arm64Vgic | undefined;
  createDevice(device: KvmCreateDevice): Arm64Vgic | Arm64Vits | undefined;
  createDevice(device: KvmCreateDevice): Arm64Vgic | Arm64Vits | undefined {
    const type = u32(device.type, 'type');
    const flags = u32(device.flags ?? 0, 'flags');
    if ((flags & ~KVM_CREATE_DEVICE_TEST) !== 0) fail('EINVAL', `kvm_create_device flags ${flags} are not valid`);
    if (type !== KVM_DEV_TYPE.ARM_VGIC_V3 && type !== KVM_DEV_TYPE.ARM_VGIC_ITS) fail('ENODEV', `device type ${type} is not supported (KVM_DEV_TYPE_ARM_VGIC_V3, 7, and _ITS, 8, are)`);
    if (type === KVM_DEV_TYPE.ARM_VGIC_ITS) {
      if (!this.vgicDevice) fail('ENODEV', 'KVM_DEV_TYPE_ARM_VGIC_ITS needs the vGICv3 device (KVM_DEV_TYPE_ARM_VGIC_V3) first');
      if (flags === KVM_CREATE_DEVICE_TEST) return undefined;
      const its = new Arm64Vits(this);
      this.vgicDevice.addIts(its);
      this.maybeInitV4();
      return its;
    }
    if (flags === KVM_CREATE_DEVICE_TEST) return undefined;
    if (this.vgicDevice) fail('EEXIST', 'the VM already has a vGIC');
    if (this.hasRun || this.running > 0) fail('EBUSY', 'a vCPU has already run');
    this.vgicDevice = new Arm64Vgic(this);
    return this.vgicDevice;
  }

  /** kvm_vgic_setup_default_irq_routing: GSI n → irqchip 0 pin n (SPI n + 32); then vgic_v4_init. */
  vgicInitialized(spis: number): void {
    const entries: KvmIrqRoutingEntry[] = [];
    for (let n = 0; n < spis; n++) entries.push({ gsi: n, type: KVM_IRQ_ROUTING.IRQCHIP, irqchip: { irqchip: 0, pin: n } });
    this.routing.set(entries);
    this.maybeInitV4();
  }

  /** The forwarded vLPIs of `vcpu` pending in its vPE's table (none without GICv4). */
  pendingVlpis(vcpu: number): readonly number[] {
    return this.v4State?.pendingVlpis(vcpu) ?? [];
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

  /**
   * kvm_set_msi (vgic-irqfd.c) for MSI routes and irqfds: the vITS whose
   * frames hold the address (vgic_msi_to_its) translates EventID `data` of
   * DeviceID `devid`; no such ITS, or a route without KVM_MSI_VALID_DEVID
   * (vgic_msi_to_its's -EINVAL: the ITS needs the DeviceID), is not delivered.
   */
  setMsi(addressLo: number, addressHi: number, data: number, devid: number, flags: number): DeliveryStatus {
    if ((flags & KVM_MSI_VALID_DEVID) === 0) return DELIVERY_STATUS.DROPPED;
    const its = this.itsFor(addressLo, addressHi);
    return its === undefined ? DELIVERY_STATUS.DROPPED : its.inject(devid, data);
  }

  private itsFor(addressLo: number, addressHi: number): Arm64Vits | undefined {
    const list = this.vgicDevice?.its;
    if (list === undefined) return undefined;
    const address = addressHi * 2 ** 32 + addressLo;
    for (let i = 0; i < list.length; i++) if (list[i]!.owns(address)) return list[i];
    return undefined;
  }

  /**
   * KVM_SIGNAL_MSI on arm64 (api.rst 4.71, vgic_its_inject_msi): EINVAL for
   * flags other than KVM_MSI_VALID_DEVID, ENODEV without a vITS, EINVAL
   * without KVM_MSI_VALID_DEVID (the ITS needs the DeviceID) or for an
   * address in no vITS's frames, EBUSY when the ITS is disabled or the
   * target redistributor has LPIs off; else 1 (the LPI is pending) or 0 (the
   * guest's tables map no LPI for the event).
   */
  override signalMsi(msi: KvmMsi): number {
    if (typeof (msi as unknown) !== 'object' || (msi as unknown) === null) fail('EFAULT', 'KVM_SIGNAL_MSI needs a struct kvm_msi');
    const flags = u32(msi.flags ?? 0, 'flags');
    if ((flags & ~KVM_MSI_VALID_DEVID) !== 0) fail('EINVAL', `kvm_msi flags ${flags} are not valid`);
    const lo = u32(msi.addressLo, 'address_lo');
    const hi = u32(msi.addressHi ?? 0, 'address_hi');
    const data = u32(msi.data, 'data');
    const devid = u32(msi.devid ?? 0, 'devid');
    if ((this.vgicDevice?.its.length ?? 0) === 0) fail('ENODEV', 'KVM_SIGNAL_MSI needs a vITS (KVM_DEV_TYPE_ARM_VGIC_ITS)');
    if ((flags & KVM_MSI_VALID_DEVID) === 0) fail('EINVAL', 'KVM_SIGNAL_MSI to the vITS needs KVM_MSI_VALID_DEVID and a devid');
    const its = this.itsFor(lo, hi);
    if (its === undefined) fail('EINVAL', `MSI address ${hex(hi * 2 ** 32 + lo)} is in no vITS's frames`);
    const t = its.translator;
    if (t?.isEnabled !== true) fail('EBUSY', 'the vITS is not enabled (GITS_CTLR.Enabled = 0)');
    const rejected = t.dropped('lpi-rejected');
    const s = its.inject(devid, data);
    if (t.dropped('lpi-rejected') !== rejected) fail('EBUSY', 'the target redistributor has LPIs disabled (GICR_CTLR.EnableLPIs = 0)');
    return s === DELIVERY_STATUS.DELIVERED ? 1 : 0;
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
