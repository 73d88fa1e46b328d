/**
 * The arm64 VMM's side of the assigned NIC, as QEMU's vfio-pci does it on
 * arm64 through the KVM API: the VF's register page mapped into the guest
 * as a memslot (no exit on the driver's register accesses), its DMA straight
 * to guest memory through the RAM memslot (no SMMU model: the bus address
 * is the guest-physical address), and its MSI-X table emulated: the table
 * page has no memslot, so the guest's accesses exit (KVM_EXIT_MMIO); when
 * the guest unmasks the vector, the VMM routes it — a GSI whose MSI route
 * carries the guest's doorbell address, EventID and the DeviceID
 * (KVM_SET_GSI_ROUTING with KVM_MSI_VALID_DEVID, api.rst 4.52: the vITS
 * translates it) and an irqfd on the vector's eventfd.
 *
 * What signals the eventfd is the host: `gicv3` (a GICv3 host, list
 * registers only; @hvsim/kvm's 'v3' host has no ITS of its own) signals it
 * on the device's MSI as the host's vfio_msihandler does, and the irqfd's
 * injection through the vITS kicks the vCPU; `gicv4` (a GICv4.1 host)
 * assigns the VF with `vm.assignDevice` (VFIO's MSI eventfds and KVM's IRQ
 * bypass), whose vector KVM forwards as a direct vLPI once the irqfd's
 * route translates in the vITS (kvm_vgic_v4_set_forwarding).
 */
import type { DeliveryStatus, PhysicalMemory } from '@hvsim/core';
import { DELIVERY_STATUS } from '@hvsim/core';
import { EventFd, KVM_IRQ_ROUTING, KVM_MSI_VALID_DEVID, type Arm64AssignedDevice, type Arm64Vm } from '@hvsim/kvm';
import { arm64NicPort } from '../devices/arm64-nic-port.js';
import { attachNic, NIC_SID } from '../devices/nic-attach.js';
import type { AssignedNic } from '../devices/nic.js';
import { NIC_MSIX } from '../devices/nic-regs.js';
import { ARM64_GUEST } from '../guest/arm64-layout.js';
import { msixTableEmulation } from './msix-table.js';

/** The GSI the VMM gives the NIC's MSI-X vector 0 (above the vGIC's SPIs' GSIs, as QEMU allocates MSI GSIs). */
export const ARM64_NIC_GSI = 256;
/** The memslot of the VF's register page. */
const BAR_SLOT = 1;

/** What the VMM keeps of the assigned NIC. */
export interface Arm64VfioNic {
  readonly nic: AssignedNic;
  /** Serves an exit on the emulated MSI-X table page: true when `gpa` was the table's. */
  mmio(gpa: number, isWrite: boolean, data: Uint8Array, len: number): boolean;
}

/** Options of {@link assignArm64Nic}. */
export interface Arm64VfioNicOptions {
  readonly vm: Arm64Vm;
  readonly memory: PhysicalMemory;
  readonly dmaCycles: number;
  /** The host address of guest-physical `gpa` in RAM, -1 outside it. */
  readonly toHost: (gpa: number) => number;
  /** Host memory of the VF's BAR (registers, then the MSI-X table page). */
  readonly hostBar: number;
  /** The local time of the vCPU whose driver writes the BAR (its stores reach the device at that time). */
  readonly writerTime: () => number;
  /** Assign through VFIO and KVM's IRQ bypass (a GICv4 host: direct vLPIs), else the host signals the eventfd. */
  readonly bypass: boolean;
}

/** Assigns the NIC to `vm` (see the file comment). */
export function assignArm64Nic(o: Arm64VfioNicOptions): Arm64VfioNic {
  const { vm, memory } = o;
  const fd = new EventFd();
  let device: Arm64AssignedDevice | undefined;
  const msi = (_address: number, data: number): DeliveryStatus => {
    if (device !== undefined) return device.raiseMsi(data); // to the host ITS: a host LPI or a direct vLPI
    fd.write(1); // the host's vfio_msihandler: eventfd_signal
    return DELIVERY_STATUS.DELIVERED;
  };
  const nic = attachNic({ clock: vm.clock, dmaCycles: o.dmaCycles, memory, barBase: o.hostBar, port: arm64NicPort({ memory, translate: o.toHost, msi }), writerTime: o.writerTime });
  vm.setUserMemoryRegion({ slot: BAR_SLOT, flags: 0, guestPhysAddr: ARM64_GUEST.NIC_BAR, memorySize: 0x1000, userspaceAddr: o.hostBar });
  let routed = false;
  const physical = (offset: number, value: number): void => {
    memory.write32(o.hostBar + NIC_MSIX.TABLE + offset, value); // VFIO's region write (the host's MSI set-up)
  };
  const mmio = msixTableEmulation(ARM64_GUEST.NIC_BAR + NIC_MSIX.TABLE, {
    route(entry) {
      vm.setGsiRouting([{ gsi: ARM64_NIC_GSI, type: KVM_IRQ_ROUTING.MSI, flags: KVM_MSI_VALID_DEVID, msi: { addressLo: entry[0]!, addressHi: entry[1]!, data: entry[2]!, devid: NIC_SID } }]);
      if (routed) return;
      routed = true;
      // VFIO_DEVICE_SET_IRQS: the host maps the vector (EventID 0 at the host ITS with a GICv4 host), then KVM_IRQFD pairs it.
      if (o.bypass) device = vm.assignDevice({ deviceId: NIC_SID, msis: [{ fd, gsi: ARM64_NIC_GSI }] });
      vm.irqfd({ fd, gsi: ARM64_NIC_GSI });
      physical(NIC_MSIX.DATA, 0); // the host's EventID: vector n writes EventID n
    },
    control(masked) {
      physical(NIC_MSIX.CTRL, masked); // the physical vector masked with the guest's
    },
  });
  return { nic, mmio };
}
