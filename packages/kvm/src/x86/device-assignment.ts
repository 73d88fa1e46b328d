/**
 * VFIO-style device assignment (Linux drivers/vfio: the type-1 IOMMU
 * container, vfio_pci_intrs.c's MSI eventfds; virt/kvm/vfio.c's KVM-VFIO
 * device): a device's requester ID gets a VT-d context entry in the VM's
 * DMA domain, whose second-level tables map guest-physical addresses onto
 * the memslots' host memory (VFIO_IOMMU_MAP_DMA of every RAM region, as
 * QEMU's memory listener issues), kept in step with
 * KVM_SET_USER_MEMORY_REGION (a region removed is unmapped and the IOTLB
 * invalidated, VFIO_IOMMU_UNMAP_DMA). So the device's DMA through the IOMMU
 * reaches guest memory, and a DMA outside every memslot faults as VT-d
 * reports it (VT-d 3.6, 7.1). Its MSI vectors (VFIO_DEVICE_SET_IRQS with
 * eventfds) become IRQ-bypass producers paired with the VM's irqfds on the
 * same eventfds: posted into the vCPU's descriptor when the route is
 * postable, remapped to a host handler that signals the eventfd otherwise
 * (irq-bypass.ts).
 */
import type { Memslot } from '@hvsim/core';
import type { VtdDriver } from '@hvsim/iommu';
import { fail, u32 } from '../generic/errors.js';
import type { EventFd } from '../generic/eventfd.js';
import { IrqBypass, type BypassProducer, type BypassVm } from './irq-bypass.js';

/** Options of `vm.assignDevice` (VFIO_GROUP_SET_CONTAINER + VFIO_SET_IOMMU + KVM_DEV_VFIO_FILE_ADD). */
export interface AssignDeviceOptions {
  /** The device's requester ID (bus << 8 | device << 3 | function). */
  sid: number;
  /** The host's VT-d driver of the unit in front of the device (DMA translation and interrupt remapping enabled). */
  driver: VtdDriver;
  /** The domain ID of the VM's container on that unit (default: the lowest one the driver has no tables for). */
  domainId?: number;
}

/** One MSI vector of an assigned device: `VFIO_DEVICE_SET_IRQS`' eventfd and the GSI of the VM's irqfd on it. */
export interface AssignedMsi {
  /** The eventfd VFIO signals and the irqfd consumes. */
  fd: EventFd;
  /** The irqfd's GSI (its route decides where the interrupt goes). */
  gsi: number;
}

/** What assignment needs of the VM. */
export interface AssignmentVm extends BypassVm {
  readonly memslots: { list(): readonly Memslot[] };
}

/** The VM's DMA domain on one IOMMU unit (the VFIO container's type-1 IOMMU). */
class Container {
  readonly devices = new Set<AssignedDevice>();
  bypass: IrqBypass | undefined;

  constructor(
    readonly driver: VtdDriver,
    readonly domainId: number,
  ) {}

  /** Any attached device: the driver finds the domain's tables through a requester ID. */
  get anySid(): number {
    return this.devices.values().next().value!.sid;
  }

  /** VFIO_IOMMU_MAP_DMA of one memslot: IOVA = guest-physical, read-only slots without device writes. */
  map(slot: Memslot): void {
    const delta = slot.hostPhysical - slot.guestPhysical;
    this.driver.mapGuestPhysical(this.anySid, slot.guestPhysical, slot.size, (gpa) => gpa + delta, { read: true, write: !slot.readOnly });
  }

  /** VFIO_IOMMU_UNMAP_DMA of one memslot's range, with the IOTLB invalidation. */
  unmap(slot: Memslot): void {
    this.driver.unmapDma(this.anySid, slot.guestPhysical, slot.size);
  }
}

/** A device assigned to a VM (see the file comment); made by `vm.assignDevice`. */
export class AssignedDevice {
  private producersList: BypassProducer[] = [];
  private attached = true;

  /** @internal */
  constructor(
    private readonly assignment: DeviceAssignment,
    private readonly container: Container,
    /** The requester ID. */
    readonly sid: number,
  ) {}

  /** The domain ID of the VM's container this device is in. */
  get domainId(): number {
    return this.container.domainId;
  }

  /** Whether the device is still assigned. */
  get assigned(): boolean {
    return this.attached;
  }

  /** Its MSI vectors' producers (index = MSI vector number), each with the `msiAddress` the device sends. */
  get msiVectors(): readonly BypassProducer[] {
    return this.producersList;
  }

  /**
   * VFIO_DEVICE_SET_IRQS(VFIO_PCI_MSI_IRQ_INDEX, ACTION_TRIGGER) with one
   * eventfd per vector: each becomes an IRQ-bypass producer paired with the
   * irqfd on the same eventfd (posted when its GSI's route is postable).
   * Replaces the vectors set before. EINVAL once detached, or when the VM
   * has no vCPU yet (no physical CPU for the host handlers); EBUSY for an
   * eventfd already used by a producer.
   */
  setMsiIrqs(vectors: readonly AssignedMsi[]): readonly BypassProducer[] {
    if (!this.attached) fail('EINVAL', `device ${hexSid(this.sid)} is no longer assigned`);
    const raw: unknown = vectors;
    if (!Array.isArray(raw)) fail('EFAULT', 'VFIO_DEVICE_SET_IRQS needs an array of { fd, gsi }');
    const bypass = this.assignment.bypassOf(this.container);
    this.disableMsi(bypass);
    this.producersList = vectors.map((m) => bypass.addProducer(this.sid, m.fd, m.gsi));
    return this.producersList;
  }

  /** VFIO_DEVICE_SET_IRQS with count 0: the MSI vectors are released (IRTEs freed). */
  disableMsi(bypass = this.container.bypass): void {
    if (bypass) for (const p of this.producersList) bypass.removeProducer(p);
    this.producersList = [];
  }

  /**
   * Removes the device from the VM (KVM_DEV_VFIO_FILE_DEL and
   * VFIO_GROUP_UNSET_CONTAINER): its MSI vectors are released and its
   * context entry cleared (its DMA then faults). The container's tables go
   * with its last device.
   */
  detach(): void {
    if (!this.attached) return;
    this.disableMsi();
    this.attached = false;
    this.assignment.detach(this, this.container);
  }
}

/** The VM's assigned devices and their containers (one per IOMMU unit). */
export class DeviceAssignment {
  private readonly containers = new Map<VtdDriver, Container>();
  private readonly bySid = new Map<string, AssignedDevice>();

  constructor(private readonly vm: AssignmentVm) {}

  /** vm.assignDevice (see X86Vm.assignDevice). */
  assign(options: AssignDeviceOptions): AssignedDevice {
    if (typeof (options as unknown) !== 'object' || (options as unknown) === null) fail('EFAULT', 'assignDevice needs { sid, driver }');
    const sid = u32(options.sid, 'sid');
    if (sid > 0xffff) fail('EINVAL', `sid must be a 16-bit requester ID, got ${sid}`);
    const driver = options.driver;
    if (typeof (driver as Partial<VtdDriver> | undefined)?.attachDevice !== 'function') fail('EINVAL', 'assignDevice needs the VtdDriver of the IOMMU unit in front of the device');
    let container = this.containers.get(driver);
    if (options.domainId !== undefined) {
      const did = u32(options.domainId, 'domainId');
      if (did > 0xffff) fail('EINVAL', `domainId must be 16 bits, got ${did}`);
      if (container && container.domainId !== did) fail('EINVAL', `this VM's devices on that IOMMU are in domain ${container.domainId}, not ${did}`);
      if (!container && driver.domain(did) !== undefined) fail('EBUSY', `domain ${did} already has tables on that IOMMU (another container's)`);
    }
    const key = `${this.keyOf(driver)}:${sid}`;
    if (this.bySid.has(key)) fail('EBUSY', `device ${hexSid(sid)} is already assigned to this VM`);
    const fresh = container === undefined;
    container ??= new Container(driver, options.domainId ?? firstFreeDomain(driver));
    driver.attachDevice(sid, container.domainId);
    const device = new AssignedDevice(this, container, sid);
    container.devices.add(device);
    this.containers.set(driver, container);
    this.bySid.set(key, device);
    // The first device of a container maps the VM's RAM (later ones share the domain's tables).
    if (fresh) for (const slot of this.vm.memslots.list()) container.map(slot);
    return device;
  }

  /** The memslots changed: every container drops the old range and maps the new one (the VMM's memory listener). */
  memslotsChanged(old: Memslot | undefined, slot: Memslot | undefined): void {
    for (const c of this.containers.values()) {
      if (old) c.unmap(old);
      if (slot) c.map(slot);
    }
  }

  /** The assigned devices. */
  get devices(): AssignedDevice[] {
    return [...this.bySid.values()];
  }

  /** @internal The IRQ bypass of a container (made on first use: it needs the VM's physical CPUs). */
  bypassOf(c: Container): IrqBypass {
    c.bypass ??= new IrqBypass({ vm: this.vm, driver: c.driver });
    return c.bypass;
  }

  /** @internal Detaches a device; the container ends with its last one. */
  detach(device: AssignedDevice, c: Container): void {
    const sid = device.sid;
    const last = c.devices.size === 1;
    if (last) for (const slot of this.vm.memslots.list()) c.unmap(slot);
    c.driver.detachDevice(sid);
    c.devices.delete(device);
    this.bySid.delete(`${this.keyOf(c.driver)}:${sid}`);
    if (last) this.containers.delete(c.driver);
  }

  private readonly driverKeys = new Map<VtdDriver, number>();

  private keyOf(driver: VtdDriver): number {
    let k = this.driverKeys.get(driver);
    if (k === undefined) {
      k = this.driverKeys.size;
      this.driverKeys.set(driver, k);
    }
    return k;
  }
}

/** The lowest domain ID from 1 the driver has no tables for (domain 0 is left alone: VT-d CM=1 reserves it). */
function firstFreeDomain(driver: VtdDriver): number {
  for (let did = 1; did <= 0xffff; did++) if (driver.domain(did) === undefined) return did;
  return fail('ENOSPC', 'no free domain ID on that IOMMU');
}

function hexSid(sid: number): string {
  return `${(sid >>> 8).toString(16).padStart(2, '0')}:${((sid >>> 3) & 0x1f).toString(16).padStart(2, '0')}.${sid & 7}`;
}
