import { beforeEach, describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { IntelIommu, VtdDriver, apicBusTarget } from '@hvsim/iommu';
import { APIC, POSTED_INTR_WAKEUP_VECTOR } from '@hvsim/lapic';
import { KVM_EXIT, KVM_IRQ_ROUTING, KVM_MP_STATE } from '../generic/constants.js';
import { EventFd } from '../generic/eventfd.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { GUEST, tinyVmm as makeVmm, type TinyVmm, type TinyVmmOptions } from '../test-support/tiny-vmm.js';
import type { MmuMode } from './shadow-state.js';
import { IrqBypass } from './irq-bypass.js';

type Routine = Generator<Op, void, number>;
/** The MMU the tests of the current `describe.each` run on (every test runs on EPT and on shadow paging). */
let mmu: MmuMode = 'ept';
const tinyVmm = (options: TinyVmmOptions): TinyVmm => makeVmm({ mmu, ...options });
const NIC = 0x0300; // 03:00.0
const GSI = 24;
const VECTOR = 0x30;

/** A VM with one vCPU waiting (computing or halted) for a device interrupt, an IOMMU with interrupt remapping, and an irqfd on GSI 24. */
function assigned(halt: boolean) {
  const state = { got: 0 };
  const m = tinyVmm({
    interruptMode: 'apicv',
    *code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.sti();
      yield g.out(0x80, 0);
      while (state.got === 0) yield halt ? g.hlt() : g.compute(100);
      yield g.out(GUEST.POWER, 0);
    },
  });
  m.eoiHandler(VECTOR, 0x20_0000, () => {
    state.got++;
  });
  const cpus = m.vm.interrupts.physicalCpus!;
  const iommu = new IntelIommu({ memory: m.kvm.memory, target: apicBusTarget(cpus.hostBus) });
  const driver = new VtdDriver({ unit: iommu, memory: m.kvm.memory, pages: { allocate: () => m.vm.allocKernelPages(1) } });
  driver.enableInterruptRemapping({ entries: 256 });
  const fd = new EventFd();
  const route = (dest: number, vector = VECTOR) => ({ gsi: GSI, type: KVM_IRQ_ROUTING.MSI, msi: { addressLo: (0xfee0_0000 | (dest << 12)) >>> 0, data: vector } });
  m.vm.setGsiRouting([route(0)]);
  m.vm.irqfd({ fd, gsi: GSI });
  const bypass = new IrqBypass({ vm: m.vm, driver });
  const producer = bypass.addProducer(NIC, fd, GSI);
  return { m, state, iommu, driver, fd, bypass, producer, route };
}

// Every test runs on EPT and on shadow paging (the interrupt path does not depend on the MMU: same exits).
describe.each<MmuMode>(['ept', 'shadow'])('%s', (mmuMode) => {
  beforeEach(() => {
    mmu = mmuMode;
  });

  describe('IRQ bypass: VT-d posted interrupts for an assigned device (VT-d 5.2.3, 9.11; vmx_pi_update_irte)', () => {
    it('an MSI route to one vCPU makes the IRTE posted: the device interrupt reaches the running vCPU with no exit', () => {
      const { m, state, iommu, producer } = assigned(false);
      expect(producer.postedTo).toBe(0);
      expect(m.vcpu.run().io.port).toBe(0x80);
      const exitsBefore = m.vcpu.stats.count('EXTERNAL_INTERRUPT') + m.vcpu.stats.count('EPT_MISCONFIG') + (m.vcpu.shadow?.faults.mmio ?? 0);
      let outcome = '';
      m.kvm.clock.schedule(m.vcpu.cpu.localTime + 2000, () => {
        outcome = iommu.sendMsi(NIC, producer.msiAddress, 0).outcome;
      });
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(outcome).toBe('posted');
      expect(state.got).toBe(1);
      expect(m.vcpu.stats.count('EXTERNAL_INTERRUPT') + m.vcpu.stats.count('EPT_MISCONFIG') + (m.vcpu.shadow?.faults.mmio ?? 0)).toBe(exitsBefore);
      expect(m.vcpu.posted!.posted).toBe(0); // no software post: the IOMMU wrote the PIR
    });

    it('a halted vCPU is woken by the IOMMU’s notification on the wake-up vector 0xF1 (its descriptor’s NV while blocked)', () => {
      const { m, state, iommu, producer } = assigned(true);
      expect(m.vcpu.run().io.port).toBe(0x80);
      let nv = -1;
      m.kvm.clock.schedule(m.vcpu.cpu.localTime + 5000, () => {
        nv = m.vcpu.posted!.pid.nv;
        iommu.sendMsi(NIC, producer.msiAddress, 0);
      });
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(nv).toBe(POSTED_INTR_WAKEUP_VECTOR);
      expect(m.vcpu.pcpu.interrupts[POSTED_INTR_WAKEUP_VECTOR]).toBe(1);
      expect(state.got).toBe(1);
    });

    it('a route change re-targets the IRTE (another vCPU’s descriptor) or makes it remapped (a broadcast): then the host handler signals the eventfd and the irqfd injects', () => {
      const { m, iommu, bypass, producer, route, fd } = assigned(false);
      expect(m.vcpu.run().io.port).toBe(0x80); // vCPU 0's APIC is software-enabled
      const second = m.vm.createVcpu(1);
      second.setMpState(KVM_MP_STATE.RUNNABLE);
      m.vm.setGsiRouting([route(1, 0x44)]);
      bypass.routingChanged(); // kvm_arch_update_irqfd_routing
      expect(producer.postedTo).toBe(1);
      expect(iommu.sendMsi(NIC, producer.msiAddress, 0).outcome).toBe('posted');
      expect(second.posted!.pid.testPir(0x44)).toBe(true);
      expect(m.vcpu.posted!.pid.testPir(0x44)).toBe(false);

      m.vm.setGsiRouting([route(0xff, 0x45)]); // broadcast: not postable
      bypass.routingChanged();
      expect(producer.postedTo).toBe(-1);
      const r = iommu.sendMsi(NIC, producer.msiAddress, 0);
      expect(r.outcome).toBe('remapped');
      expect(m.vcpu.pcpu.interrupts[producer.hostVector]).toBe(1); // taken by the host at once (no guest running)
      expect(m.vm.irqfdInjections(fd)).toBe(1);
      expect(m.vcpu.posted!.pid.testPir(0x45)).toBe(true); // the irqfd's MSI, posted by KVM (vCPU 1's APIC is still software-disabled)
    });

    it('refuses a second producer on one eventfd (EBUSY) and a requester ID above 16 bits (EINVAL)', () => {
      const { bypass, fd } = assigned(false);
      expectErrno(() => bypass.addProducer(NIC, fd, GSI), 'EBUSY', /already has a producer/);
      expectErrno(() => bypass.addProducer(0x1_0000, new EventFd(), GSI), 'EINVAL', /16-bit requester ID, got 65536/);
    });
  });
});
