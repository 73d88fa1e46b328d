import { KVM_IRQ_ROUTING, Kvm } from '@hvsim/kvm';
import { describe, expect, it } from 'vitest';
import { NIC_BAR_SIZE, NIC_MSIX } from '../devices/nic-regs.js';
import { GUEST, VECTOR } from '../guest/layout.js';
import { NIC_GSI, assignNic } from './vfio-nic.js';

/** A VM with one vCPU (its physical CPU takes host IRQs) and the NIC assigned. */
function vm(posting: boolean) {
  const kvm = new Kvm();
  const vm = kvm.createVm();
  vm.interrupts.setMode('apicv');
  vm.createIrqchip();
  const ram = kvm.mmap(GUEST.RAM);
  vm.setUserMemoryRegion({ slot: 0, flags: 0, guestPhysAddr: 0, memorySize: GUEST.RAM, userspaceAddr: ram });
  vm.createVcpu(0);
  const hostBar = kvm.mmap(NIC_BAR_SIZE);
  const vfio = assignNic({ vm, memory: kvm.memory, dmaCycles: 0, hostBar, bypass: posting });
  const data = new Uint8Array(8);
  const view = new DataView(data.buffer);
  const entry = GUEST.NIC_BAR + NIC_MSIX.TABLE;
  const write = (offset: number, value: number): boolean => {
    view.setUint32(0, value, true);
    return vfio.mmio(entry + offset, true, data, 4);
  };
  const read = (offset: number): number => {
    vfio.mmio(entry + offset, false, data, 4);
    return view.getUint32(0, true);
  };
  const physical = (offset: number): number => kvm.memory.read32(hostBar + NIC_MSIX.TABLE + offset);
  return { kvm, vm, vfio, write, read, physical };
}

describe("the VMM's VFIO side of the NIC: MSI-X table emulation (QEMU vfio-pci), GSI route, irqfd, host IRQ", () => {
  it('keeps the guest’s entry, routes it on unmask, and programs the physical entry with a remappable MSI (VT-d 5.1.2.2) that the IOMMU remaps or posts', () => {
    for (const posting of [false, true]) {
      const m = vm(posting);
      expect(m.physical(NIC_MSIX.CTRL) & NIC_MSIX.MASKED).toBe(NIC_MSIX.MASKED); // masked at reset
      m.write(NIC_MSIX.ADDR_LO, 0xfee0_0000);
      m.write(NIC_MSIX.DATA, VECTOR.NIC);
      expect(m.vm.gsiRouting().some((e) => e.gsi === NIC_GSI)).toBe(false); // nothing routed while masked
      expect(m.read(NIC_MSIX.DATA)).toBe(VECTOR.NIC); // the guest reads back its own entry
      m.write(NIC_MSIX.CTRL, 0);
      expect(m.vm.gsiRouting()).toEqual([{ gsi: NIC_GSI, type: KVM_IRQ_ROUTING.MSI, msi: { addressLo: 0xfee0_0000, addressHi: 0, data: VECTOR.NIC } }]);
      const address = m.physical(NIC_MSIX.ADDR_LO);
      expect((address & 0xfff0_0000) >>> 0).toBe(0xfee0_0000);
      expect(address & (1 << 4)).not.toBe(0); // interrupt format: remappable
      expect(m.physical(NIC_MSIX.DATA)).toBe(0);
      expect(m.physical(NIC_MSIX.CTRL) & NIC_MSIX.MASKED).toBe(0);
      const outcome = m.vfio.iommu.sendMsi(0x0300, address, 0).outcome;
      expect(outcome).toBe(posting ? 'posted' : 'remapped');
    }
  });

  it('answers the rest of the table page (other entries, the PBA) as zero and leaves other addresses alone', () => {
    const m = vm(false);
    expect(m.read(NIC_MSIX.ENTRY)).toBe(0);
    expect(m.vfio.mmio(GUEST.NIC_BAR, true, new Uint8Array(8), 4)).toBe(false); // the register page is a memslot: never here
  });
});
