import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { KVM_CAP, KVM_EXIT, KVM_EXIT_IO_OUT, KVM_IRQCHIP, KVM_IRQ_ROUTING, KVM_IRQFD_FLAG } from '../generic/constants.js';
import { EventFd } from '../generic/eventfd.js';
import { Kvm } from '../kvm.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';

type Routine = Generator<Op, void, number>;
const HANDLER = 0x20_0000;
const LEVEL = 1 << 15;

describe('KVM_CAP_SPLIT_IRQCHIP (api.rst 7.8; x86.c kvm_vm_ioctl_enable_cap)', () => {
  it('is enabled with args[0] reserved IOAPIC GSIs before any vCPU: EINVAL above MAX_NR_RESERVED_IOAPIC_PINS or for flags, EEXIST with an irqchip or a vCPU', () => {
    const kvm = new Kvm();
    expect(kvm.checkExtension(KVM_CAP.SPLIT_IRQCHIP)).toBe(1);
    const vm = kvm.createVm();
    expectErrno(() => vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, { args: [4097] }), 'EINVAL', /4097.*MAX_NR_RESERVED_IOAPIC_PINS \(4096\)/);
    expectErrno(() => vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, { flags: 1, args: [24] }), 'EINVAL', /flags must be 0/);
    expectErrno(() => vm.enableCap(KVM_CAP.X2APIC_API, { args: [1] }), 'EINVAL', /capability 129/);
    vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, { args: [24] });
    expect(vm.irqchipSplit).toBe(true);
    expect(vm.nrReservedIoapicPins).toBe(24);
    expectErrno(() => vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, { args: [24] }), 'EEXIST', /already has an in-kernel irqchip/);
    expectErrno(() => vm.createIrqchip(), 'EEXIST', /split/);
    const full = kvm.createVm();
    full.createIrqchip();
    expectErrno(() => full.enableCap(KVM_CAP.SPLIT_IRQCHIP, { args: [24] }), 'EEXIST');
    const late = kvm.createVm();
    late.createVcpu(0);
    expectErrno(() => late.enableCap(KVM_CAP.SPLIT_IRQCHIP, { args: [24] }), 'EEXIST', /before KVM_CREATE_VCPU/);
  });

  it('starts with an empty routing table that takes MSI routes only; PIC/IOAPIC state is not in the kernel (KVM_GET_IRQCHIP ENXIO); resampling irqfds need the full irqchip', () => {
    const vm = new Kvm().createVm();
    vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, { args: [24] });
    expect(vm.gsiRouting()).toEqual([]);
    expectErrno(() => vm.setGsiRouting([{ gsi: 3, type: KVM_IRQ_ROUTING.IRQCHIP, irqchip: { irqchip: KVM_IRQCHIP.IOAPIC, pin: 3 } }]), 'EINVAL', /irqchip 2 does not exist/);
    vm.setGsiRouting([{ gsi: 3, type: KVM_IRQ_ROUTING.MSI, msi: { addressLo: 0xfee0_0000, data: 0x40 } }]);
    expectErrno(() => vm.getIrqchipState(KVM_IRQCHIP.IOAPIC), 'ENXIO', /split irqchip/);
    expectErrno(() => vm.irqfd({ fd: new EventFd(), gsi: 3, flags: KVM_IRQFD_FLAG.RESAMPLE, resamplefd: new EventFd() }), 'EINVAL');
    vm.irqfd({ fd: new EventFd(), gsi: 3 });
  });

  it('the LAPIC is in the kernel; the IOAPIC page and the PIC ports go to userspace (KVM_EXIT_MMIO, KVM_EXIT_IO)', () => {
    function* code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.st32(GUEST.IOAPIC, 0x10);
      yield g.out(0x21, 0xff);
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ split: 24, code });
    expect(m.vcpu.apic).toBeDefined();
    let run = m.vcpu.run();
    expect(run.exit_reason).toBe(KVM_EXIT.MMIO);
    expect(run.mmio.phys_addr).toBe(GUEST.IOAPIC);
    run = m.vcpu.run();
    expect(run.exit_reason).toBe(KVM_EXIT.IO);
    expect([run.io.port, run.io.direction]).toEqual([0x21, KVM_EXIT_IO_OUT]);
    expect(m.vcpu.apic!.softwareEnabled).toBe(true);
  });

  it('the EOI of a level-triggered vector a reserved MSI route sends to this vCPU exits with KVM_EXIT_IOAPIC_EOI and the vector; edge routes and unreserved GSIs do not', () => {
    const seen: number[] = [];
    function* code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.sti();
      for (;;) yield g.hlt();
    }
    const m = tinyVmm({ split: 8, code });
    m.vm.program.define(HANDLER, function* isr(g: X86Guest, vector: number): Routine {
      seen.push(vector);
      yield g.st32(GUEST.APIC + APIC.EOI, 0);
      yield g.iret();
    });
    for (const v of [0x45, 0x46, 0x47]) m.setGate(v, HANDLER);
    // The VMM's IOAPIC: pin 5 level-triggered, pin 6 edge; GSI 9 is beyond the 8 reserved ones.
    m.vm.setGsiRouting([
      { gsi: 5, type: KVM_IRQ_ROUTING.MSI, msi: { addressLo: 0xfee0_0000, data: LEVEL | 0x45 } },
      { gsi: 6, type: KVM_IRQ_ROUTING.MSI, msi: { addressLo: 0xfee0_0000, data: 0x46 } },
      { gsi: 9, type: KVM_IRQ_ROUTING.MSI, msi: { addressLo: 0xfee0_0000, data: LEVEL | 0x47 } },
    ]);
    expect(m.vcpu.run({ maxCycles: 20_000 }).exit_reason).toBe(KVM_EXIT.INTR);
    expect(m.vm.irqLine(5, 1)).toBe(1);
    const run = m.vcpu.run({ maxCycles: 20_000 });
    expect(run.exit_reason).toBe(KVM_EXIT.IOAPIC_EOI);
    expect(run.eoi.vector).toBe(0x45);
    expect(seen).toEqual([0x45]);
    expect(m.vcpu.run({ maxCycles: 20_000 }).exit_reason).toBe(KVM_EXIT.INTR);
    // An edge MSI (the VMM's edge pin) and a level one outside the reserved GSIs: no exit for their EOIs.
    expect(m.vm.irqLine(6, 1)).toBe(1);
    expect(m.vcpu.run({ maxCycles: 20_000 }).exit_reason).toBe(KVM_EXIT.INTR);
    expect(m.vm.signalMsi({ addressLo: 0xfee0_0000, data: LEVEL | 0x47 })).toBe(1);
    expect(m.vcpu.run({ maxCycles: 20_000 }).exit_reason).toBe(KVM_EXIT.INTR);
    expect(seen).toEqual([0x45, 0x46, 0x47]);
    expect(m.vcpu.stats.count('KVM_EXIT_IOAPIC_EOI')).toBe(1);
  });

  it('a route to another APIC does not make this vCPU exit on the same vector (kvm_apic_match_dest)', () => {
    function* code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.sti();
      for (;;) yield g.hlt();
    }
    const m = tinyVmm({ split: 24, code });
    m.eoiHandler(0x45, HANDLER);
    m.vm.setGsiRouting([{ gsi: 2, type: KVM_IRQ_ROUTING.MSI, msi: { addressLo: (0xfee0_0000 | (3 << 12)) >>> 0, data: LEVEL | 0x45 } }]);
    expect(m.vcpu.run({ maxCycles: 20_000 }).exit_reason).toBe(KVM_EXIT.INTR);
    expect(m.vm.signalMsi({ addressLo: 0xfee0_0000, data: LEVEL | 0x45 })).toBe(1); // level vector 0x45 to APIC 0 directly
    expect(m.vcpu.run({ maxCycles: 20_000 }).exit_reason).toBe(KVM_EXIT.INTR);
    expect(m.vcpu.stats.count('KVM_EXIT_IOAPIC_EOI')).toBe(0);
  });

  it('KVM_INTERRUPT is the userspace PIC\'s ExtINT: taken through the BSP\'s LINT0 (LVT0 ExtINT) when the guest allows; EEXIST while pending (x86.c kvm_vcpu_ioctl_interrupt)', () => {
    const seen: number[] = [];
    function* code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.out(0x80, 0);
      yield g.sti();
      yield g.hlt();
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ split: 24, code });
    m.vm.program.define(HANDLER, function* isr(g: X86Guest, vector: number): Routine {
      seen.push(vector);
      yield g.iret();
    });
    m.setGate(0x28, HANDLER);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    m.vcpu.interrupt(0x28);
    expectErrno(() => m.vcpu.interrupt(0x29), 'EEXIST', /0x28 from the userspace PIC/);
    expectErrno(() => m.vcpu.interrupt(256), 'EINVAL');
    expect(m.vcpu.run().io.port).toBe(GUEST.POWER);
    expect(seen).toEqual([0x28]);
    m.vcpu.interrupt(0x29); // taken: another may be queued
    const full = tinyVmm({ code });
    expectErrno(() => full.vcpu.interrupt(0x28), 'ENXIO', /in-kernel/);
  });
});
