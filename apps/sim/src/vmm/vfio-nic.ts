/**
 * The VMM's side of the assigned NIC, as a VFIO-based VMM (QEMU's
 * vfio-pci) does it through the KVM API: the VF assigned to the VM
 * (`vm.assignDevice`: VFIO's container, its IOMMU domain mapping every
 * memslot for DMA, guest-physical → host-physical), the VF's register page
 * mapped into the guest as a memslot (no exit on the driver's register
 * accesses), and its MSI-X table emulated: the table page has no memslot,
 * so the guest's accesses exit to the VMM (KVM_EXIT_MMIO), which keeps the
 * guest's entry and, when the guest unmasks it, routes it — a GSI with the
 * guest's MSI (KVM_SET_GSI_ROUTING), an irqfd, and the host IRQ — and
 * programs the physical entry with the remappable MSI address. The host
 * IRQ is either VFIO's MSI eventfd with KVM's IRQ bypass
 * (`assigned.setMsiIrqs`, VFIO_DEVICE_SET_IRQS: posted into the vCPU's
 * descriptor under APICv, VT-d 9.11; ELI's direct vector in `eli`), or,
 * for a host IOMMU without posting (`bypass: false`), an IRTE remapped to a
 * host vector whose handler signals the eventfd (vfio_msihandler; the
 * irqfd then injects).
 */
import type { PhysicalMemory } from '@hvsim/core';
import { IntelIommu, VtdDriver, apicBusTarget } from '@hvsim/iommu';
import { EventFd, HOST_DEVICE_VECTOR, KVM_IRQ_ROUTING, type X86Vm } from '@hvsim/kvm';
import { encodeRemappableMsi } from '@hvsim/lapic';
import { attachNic, NIC_SID } from '../devices/nic-attach.js';
import type { AssignedNic } from '../devices/nic.js';
import { NIC_MSIX } from '../devices/nic-regs.js';
import { GUEST } from '../guest/layout.js';
import { msixTableEmulation } from './msix-table.js';

/** The GSI the VMM gives the NIC's MSI-X vector 0 (above the IOAPIC's 24 pins, as QEMU allocates them). */
export const NIC_GSI = 24;
/** The memslot of the VF's register page. */
const BAR_SLOT = 1;

/** What the VMM keeps of the assigned NIC. */
export interface VfioNic {
  readonly nic: AssignedNic;
  readonly iommu: IntelIommu;
  /** Serves an exit on the emulated MSI-X table page: true when `gpa` was the table's. */
  mmio(gpa: number, isWrite: boolean, data: Uint8Array, len: number): boolean;
}

/** Assigns the NIC to `vm` (after its vCPUs exist: their physical CPUs take the host IRQs). */
export function assignNic(o: { vm: X86Vm; memory: PhysicalMemory; dmaCycles: number; hostBar: number; bypass: boolean }): VfioNic {
  const { vm, memory } = o;
  const cpus = vm.interrupts.physicalCpus!;
  const iommu = new IntelIommu({ memory, target: apicBusTarget(cpus.hostBus) });
  const driver = new VtdDriver({ unit: iommu, memory, pages: { allocate: () => vm.allocKernelPages(1) } });
  driver.enableTranslation();
  driver.enableInterruptRemapping({ entries: 256 });
  const assigned = vm.assignDevice({ sid: NIC_SID, driver }); // VFIO_GROUP_SET_CONTAINER, MAP_DMA of every memslot
  const nic = attachNic({ clock: vm.clock, dmaCycles: o.dmaCycles, memory, barBase: o.hostBar, port: iommu });
  vm.setUserMemoryRegion({ slot: BAR_SLOT, flags: 0, guestPhysAddr: GUEST.NIC_BAR, memorySize: 0x1000, userspaceAddr: o.hostBar });
  let routed = false;
  const physical = (offset: number, value: number): void => {
    memory.write32(o.hostBar + NIC_MSIX.TABLE + offset, value); // through VFIO's region write
  };
  const mmio = msixTableEmulation(GUEST.NIC_BAR + NIC_MSIX.TABLE, {
    route(entry) {
      vm.setGsiRouting([{ gsi: NIC_GSI, type: KVM_IRQ_ROUTING.MSI, msi: { addressLo: entry[0]!, addressHi: entry[1]!, data: entry[2]! } }]);
      // KVM_SET_GSI_ROUTING re-targets the bypass itself (kvm_arch_update_irqfd_routing).
      if (routed) return;
      routed = true;
      const fd = new EventFd();
      vm.irqfd({ fd, gsi: NIC_GSI });
      let address: number;
      if (o.bypass) {
        address = assigned.setMsiIrqs([{ fd, gsi: NIC_GSI }])[0]!.msiAddress; // VFIO_DEVICE_SET_IRQS
      } else {
        const irte = driver.allocateIrte(1);
        driver.setRemappedIrte(irte, { vector: HOST_DEVICE_VECTOR, destination: 0, sid: NIC_SID, svt: 1 });
        cpus.setHandler(HOST_DEVICE_VECTOR, () => {
          fd.write(1n); // vfio_msihandler: eventfd_signal
        });
        address = encodeRemappableMsi({ handle: irte, shv: false, subhandle: 0 }).address;
      }
      physical(NIC_MSIX.ADDR_LO, address);
      physical(NIC_MSIX.ADDR_HI, 0);
      physical(NIC_MSIX.DATA, 0);
    },
    control(masked) {
      physical(NIC_MSIX.CTRL, masked); // vfio_msix_vector_use / release: the physical vector masked with the guest's
    },
  });
  return { nic, iommu, mmio };
}
