import { beforeEach, describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { VTD_FAULT_REASON } from '@hvsim/iommu';
import { hostIommu } from '../test-support/host-iommu.js';
import { APIC } from '@hvsim/lapic';
import { KVM_EXIT, KVM_IRQ_ROUTING, KVM_MEM, KVM_MP_STATE } from '../generic/constants.js';
import { EventFd } from '../generic/eventfd.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { GUEST, tinyVmm as makeVmm, type TinyVmm, type TinyVmmOptions } from '../test-support/tiny-vmm.js';
import type { MmuMode } from './shadow-state.js';

type Routine = Generator<Op, void, number>;
/** The MMU the tests of the current `describe.each` run on (every test runs on EPT and on shadow paging). */
let mmu: MmuMode = 'ept';
const tinyVmm = (options: TinyVmmOptions): TinyVmm => makeVmm({ mmu, ...options });
const NIC = 0x0300; // 03:00.0
const GSI = 24;
const VECTOR = 0x30;
const BUF = 0x40_0000; // a DMA buffer in guest RAM

/** A VM with one vCPU, an IOMMU in front of the device (translation and interrupt remapping on), and the device assigned. */
function setup(mode: 'emulated' | 'apicv', code?: (g: X86Guest, state: { got: number; seen: number }) => Routine) {
  const state = { got: 0, seen: 0 };
  const m = tinyVmm({
    interruptMode: mode,
    *code(g: X86Guest): Routine {
      if (code) {
        yield* code(g, state);
        return;
      }
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.st32(BUF, 0xcafe_f00d);
      // Touch the IDT gate and the stack first: their EPT entries are made on first access (exits of their own).
      yield g.ld32(GUEST.IDT + VECTOR * 16);
      yield g.st32(GUEST.STACK_TOP - 64, 0);
      yield g.sti();
      yield g.out(0x80, 0);
      while (state.got < 1) yield g.compute(100);
      yield g.out(0x80, 1);
      while (state.got < 2) yield g.compute(100);
      state.seen = yield g.ld32(BUF + 0x10);
      yield g.out(GUEST.POWER, 0);
    },
  });
  m.eoiHandler(VECTOR, GUEST.ENTRY + 0x800, () => { // the ISR on the code page already mapped
    state.got++;
  });
  const { iommu, driver } = hostIommu(m.vm, m.kvm.memory);
  const dev = m.vm.assignDevice({ sid: NIC, driver });
  const route = (dest: number, vector = VECTOR) => ({ gsi: GSI, type: KVM_IRQ_ROUTING.MSI, msi: { addressLo: (0xfee0_0000 | (dest << 12)) >>> 0, data: vector } });
  return { m, state, iommu, driver, dev, route };
}

// Every test runs on EPT and on shadow paging (the interrupt path does not depend on the MMU: same exits).
describe.each<MmuMode>(['ept', 'shadow'])('%s', (mmuMode) => {
  beforeEach(() => {
    mmu = mmuMode;
  });

  describe('VFIO-style device assignment: DMA through the IOMMU to guest memory (VT-d 3.6; vfio_iommu_type1)', () => {
    it('the device reads what the guest wrote and writes what the guest then reads, at guest-physical addresses', () => {
      const { m, state, iommu, dev } = setup('emulated');
      expect(dev.domainId).toBe(1);
      expect(m.vcpu.run().io.port).toBe(0x80);
      const r = iommu.dmaRead(NIC, BUF, 4);
      expect(r.status).toBe('ok');
      expect(r.value >>> 0).toBe(0xcafe_f00d);
      expect(r.physicalAddress).toBe(m.ram + BUF); // guest-physical → the memslot's host memory
      expect(iommu.dmaWrite(NIC, BUF + 0x10, 4, 0x1234_5678).status).toBe('ok');
      state.got = 2;
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(state.seen).toBe(0x1234_5678);
    });

    it('a DMA outside every memslot faults as VT-d reports it (not present: read 0x6, write 0x5), recorded in the fault log', () => {
      const { iommu } = setup('emulated');
      const r = iommu.dmaRead(NIC, GUEST.HOLE, 4);
      expect(r.status).toBe('fault');
      expect(r.faultReason).toBe(VTD_FAULT_REASON.READ_NOT_PERMITTED);
      expect(r.faultRecorded).toBe(true);
      expect(iommu.dmaWrite(NIC, GUEST.RAM, 4, 1).faultReason).toBe(VTD_FAULT_REASON.WRITE_NOT_PERMITTED);
      // Another requester ID has no context entry: its DMA is blocked (VT-d 7.1, LCT.2).
      expect(iommu.dmaRead(0x0308, BUF, 4).faultReason).toBe(VTD_FAULT_REASON.CONTEXT_ENTRY_NOT_PRESENT);
    });

    it('the mappings follow KVM_SET_USER_MEMORY_REGION: a new slot is mapped, a read-only one refuses device writes, a moved or deleted one is unmapped', () => {
      const { m, iommu } = setup('emulated');
      const extra = m.kvm.mmap(0x10_0000);
      m.kvm.memory.write32(extra + 8, 0x5151);
      m.vm.setUserMemoryRegion({ slot: 1, flags: KVM_MEM.READONLY, guestPhysAddr: GUEST.HOLE, memorySize: 0x10_0000, userspaceAddr: extra });
      expect(iommu.dmaRead(NIC, GUEST.HOLE + 8, 4).value).toBe(0x5151);
      expect(iommu.dmaWrite(NIC, GUEST.HOLE + 8, 4, 1).faultReason).toBe(VTD_FAULT_REASON.WRITE_NOT_PERMITTED);
      // Move the slot: the old range faults (its IOTLB entries invalidated), the new one reaches the same memory.
      m.vm.setUserMemoryRegion({ slot: 1, flags: KVM_MEM.READONLY, guestPhysAddr: GUEST.HOLE + 0x20_0000, memorySize: 0x10_0000, userspaceAddr: extra });
      expect(iommu.dmaRead(NIC, GUEST.HOLE + 8, 4).status).toBe('fault');
      expect(iommu.dmaRead(NIC, GUEST.HOLE + 0x20_0008, 4).value).toBe(0x5151);
      m.vm.setUserMemoryRegion({ slot: 1, flags: KVM_MEM.READONLY, guestPhysAddr: GUEST.HOLE + 0x20_0000, memorySize: 0, userspaceAddr: extra });
      expect(iommu.dmaRead(NIC, GUEST.HOLE + 0x20_0008, 4).status).toBe('fault');
      expect(iommu.dmaRead(NIC, BUF, 4).status).toBe('ok'); // slot 0 untouched
    });

    it('device DMA is dirty-logged like any writer of the slot’s memory (KVM_GET_DIRTY_LOG)', () => {
      const { m, iommu } = setup('emulated');
      m.vm.setUserMemoryRegion({ slot: 0, flags: 1, guestPhysAddr: 0, memorySize: GUEST.RAM, userspaceAddr: m.ram });
      m.vm.getDirtyLog(0);
      expect(iommu.dmaWrite(NIC, BUF + 0x3000, 4, 7).status).toBe('ok');
      const page = (BUF + 0x3000) / 4096;
      expect((m.vm.getDirtyLog(0)[page >>> 5]! >>> (page & 31)) & 1).toBe(1);
    });

    it('detaching clears the context entry (DMA blocked) and frees the MSI vectors; errors name the value', () => {
      const { m, iommu, driver, dev } = setup('emulated');
      expectErrno(() => m.vm.assignDevice({ sid: NIC, driver }), 'EBUSY', /03:00\.0 is already assigned/);
      expectErrno(() => m.vm.assignDevice({ sid: 0x1_0000, driver }), 'EINVAL', /16-bit requester ID, got 65536/);
      expectErrno(() => m.vm.assignDevice({ sid: 0x0400, driver, domainId: 9 }), 'EINVAL', /domain 1, not 9/);
      const fd = new EventFd();
      m.vm.irqfd({ fd, gsi: GSI });
      const [p] = dev.setMsiIrqs([{ fd, gsi: GSI }]);
      expect(driver.interruptTable.isAllocated(p!.irte)).toBe(true);
      dev.detach();
      expect(dev.assigned).toBe(false);
      expect(m.vm.assignedDevices).toEqual([]);
      expect(driver.interruptTable.isAllocated(p!.irte)).toBe(false);
      expect(iommu.dmaRead(NIC, BUF, 4).faultReason).toBe(VTD_FAULT_REASON.CONTEXT_ENTRY_NOT_PRESENT);
      expectErrno(() => dev.setMsiIrqs([]), 'EINVAL', /03:00\.0 is no longer assigned/);
    });
  });

  describe('VFIO-style device assignment: MSIs through IRQ bypass (vfio_pci_intrs.c, kvm_arch_irq_bypass_add_producer)', () => {
    it('APICv: the MSI route to one vCPU posts the device’s interrupt into its descriptor — 0 exits on the running vCPU', () => {
      const { m, state, iommu, dev, route } = setup('apicv');
      const fd = new EventFd();
      m.vm.setGsiRouting([route(0)]);
      m.vm.irqfd({ fd, gsi: GSI });
      const [p] = dev.setMsiIrqs([{ fd, gsi: GSI }]);
      expect(p!.postedTo).toBe(0);
      const msiAfter = (cycles: number): void => {
        m.kvm.clock.schedule(m.vcpu.cpu.localTime + cycles, () => {
          expect(iommu.sendMsi(NIC, p!.msiAddress, 0).outcome).toBe('posted');
        });
      };
      expect(m.vcpu.run().io.port).toBe(0x80);
      msiAfter(2000); // the first one also maps the ISR's page in EPT on its first fetch
      expect(m.vcpu.run().io.port).toBe(0x80);
      expect(state.got).toBe(1);
      const exitsBefore = m.vcpu.stats.exits;
      msiAfter(2000);
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(state.got).toBe(2);
      // Only the power-off OUT exited: no external interrupt, no EOI exit.
      expect(m.vcpu.stats.exits - exitsBefore).toBe(1);
      expect(m.vcpu.posted!.posted).toBe(0); // no software post: the IOMMU wrote the PIR
      expect(m.vm.irqfdInjections(fd)).toBe(0); // the host never saw it
    });

    it('KVM_SET_GSI_ROUTING re-targets the IRTE by itself (kvm_irq_routing_update → kvm_arch_update_irqfd_routing)', () => {
      const { m, iommu, dev, route } = setup('apicv');
      const fd = new EventFd();
      m.vm.setGsiRouting([route(0)]);
      m.vm.irqfd({ fd, gsi: GSI });
      const [p] = dev.setMsiIrqs([{ fd, gsi: GSI }]);
      const second = m.vm.createVcpu(1);
      second.setMpState(KVM_MP_STATE.RUNNABLE);
      m.vm.setGsiRouting([route(1, 0x44)]); // no routingChanged() call by the VMM
      expect(p!.postedTo).toBe(1);
      expect(iommu.sendMsi(NIC, p!.msiAddress, 0).outcome).toBe('posted');
      expect(second.posted!.pid.testPir(0x44)).toBe(true);
      m.vm.setGsiRouting([route(0xff, 0x45)]); // broadcast: remapped to the host, which signals the eventfd
      expect(p!.postedTo).toBe(-1);
      expect(iommu.sendMsi(NIC, p!.msiAddress, 0).outcome).toBe('remapped');
      expect(m.vm.irqfdInjections(fd)).toBe(1);
    });

    it('emulated mode: the device MSI is remapped to a host vector whose handler signals the eventfd; the irqfd injects (exit, EOI exit)', () => {
      const { m, state, iommu, dev, route } = setup('emulated');
      const fd = new EventFd();
      m.vm.setGsiRouting([route(0)]);
      m.vm.irqfd({ fd, gsi: GSI });
      const [p] = dev.setMsiIrqs([{ fd, gsi: GSI }]);
      expect(p!.postedTo).toBe(-1);
      for (let i = 1; i <= 2; i++) {
        expect(m.vcpu.run().io.port).toBe(0x80);
        m.kvm.clock.schedule(m.vcpu.cpu.localTime + 2000, () => {
          expect(iommu.sendMsi(NIC, p!.msiAddress, 0).outcome).toBe('remapped');
        });
      }
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(state.got).toBe(2);
      expect(m.vm.irqfdInjections(fd)).toBe(2);
      expect(m.vcpu.shadow ? m.vcpu.shadow.faults.mmio : m.vcpu.stats.count('EPT_MISCONFIG')).toBeGreaterThanOrEqual(1); // the xAPIC EOI (MMIO: EPT misconfiguration, or #PF on an MMIO spte)
    });
  });
});
