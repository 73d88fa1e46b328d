import { describe, expect, it } from 'vitest';
import { encodeRte } from '@hvsim/lapic';
import { KVM_IRQCHIP, KVM_IRQ_ROUTING, KVM_IRQFD_FLAG, KVM_IOEVENTFD_FLAG } from './constants.js';
import { EventFd } from './eventfd.js';
import { Kvm } from '../kvm.js';
import { expectErrno } from '../test-support/expect-errno.js';
import type { X86Vcpu } from '../x86/vcpu.js';

/** A VM with the in-kernel irqchip and `n` vCPUs whose LAPICs are software-enabled (through KVM_SET_LAPIC). */
function setup(n = 1) {
  const kvm = new Kvm();
  const vm = kvm.createVm();
  vm.createIrqchip();
  const vcpus: X86Vcpu[] = [];
  for (let i = 0; i < n; i++) {
    const v = vm.createVcpu(i);
    const img = v.getLapic();
    new DataView(img.buffer).setUint32(0xf0, 0x1ff, true); // SVR: APIC software-enabled
    v.setLapic(img);
    vcpus.push(v);
  }
  return { kvm, vm, vcpus };
}

const msi = (gsi: number, dest: number, vector: number) => ({ gsi, type: KVM_IRQ_ROUTING.MSI, msi: { addressLo: (0xfee0_0000 | (dest << 12)) >>> 0, data: vector } }) as const;

describe('GSI routing (api.rst 4.52 KVM_SET_GSI_ROUTING; irq_comm.c)', () => {
  it('starts with kvm_setup_default_irq_routing: GSI 0-15 to the PIC and the IOAPIC, 16-23 to the IOAPIC', () => {
    const { vm } = setup();
    const routes = vm.gsiRouting();
    expect(routes.filter((r) => r.gsi === 3)).toEqual([
      { gsi: 3, type: KVM_IRQ_ROUTING.IRQCHIP, irqchip: { irqchip: KVM_IRQCHIP.PIC_MASTER, pin: 3 } },
      { gsi: 3, type: KVM_IRQ_ROUTING.IRQCHIP, irqchip: { irqchip: KVM_IRQCHIP.IOAPIC, pin: 3 } },
    ]);
    expect(routes.filter((r) => r.gsi === 12).map((r) => r.type === KVM_IRQ_ROUTING.IRQCHIP && r.irqchip.irqchip)).toEqual([KVM_IRQCHIP.PIC_SLAVE, KVM_IRQCHIP.IOAPIC]);
    expect(routes.filter((r) => r.gsi === 20)).toHaveLength(1);
    expect(routes).toHaveLength(16 * 2 + 8);
  });

  it('replaces the table atomically, refusing bad entries with EINVAL and keeping the old table', () => {
    const { vm } = setup();
    const before = vm.gsiRouting();
    const bad: [unknown[], RegExp][] = [
      [[{ gsi: 4096, type: 1, irqchip: { irqchip: 2, pin: 0 } }], /KVM_MAX_IRQ_ROUTES/],
      [[{ gsi: 1, type: 1, irqchip: { irqchip: 2, pin: 24 } }], /pin 24 is out of range/],
      [[{ gsi: 1, type: 1, irqchip: { irqchip: 0, pin: 8 } }], /pin 8/],
      [[{ gsi: 1, type: 1, irqchip: { irqchip: 3, pin: 0 } }], /irqchip 3 does not exist/],
      [[{ gsi: 1, type: 5, irqchip: { irqchip: 2, pin: 0 } }], /type 5/],
      [[msi(1, 0, 0x40), msi(1, 0, 0x41)], /already routed/],
      [[msi(1, 0, 0x40), { gsi: 1, type: 1, irqchip: { irqchip: 2, pin: 1 } }], /already routed/],
      [[{ gsi: 1, type: 1, irqchip: { irqchip: 2, pin: 1 } }, { gsi: 1, type: 1, irqchip: { irqchip: 2, pin: 2 } }], /irqchip 2/],
      [[{ ...msi(1, 0, 0x40), flags: 2 }], /MSI flags 2 are not valid/], // kvm_set_irq_routing: only KVM_MSI_VALID_DEVID
      [[msi(2, 0, 0x40), msi(3, 0, 0x40), { gsi: 9, type: 1, irqchip: { irqchip: 2, pin: 99 } }], /entry 2/],
    ];
    for (const [entries, message] of bad) expectErrno(() => vm.setGsiRouting(entries as never), 'EINVAL', message);
    expect(vm.gsiRouting()).toEqual(before);
    expectErrno(() => new Kvm().createVm().setGsiRouting([]), 'EINVAL', /in-kernel irqchip/);
  });

  it('KVM_SIGNAL_MSI and an MSI route: > 0 delivered, 0 blocked by the guest (already pending, or no APIC takes it)', () => {
    const { vm, vcpus } = setup(2);
    expect(vm.signalMsi({ addressLo: 0xfee0_1000, data: 0x51 })).toBe(1); // to APIC 1
    expect(vcpus[1]!.apic!.isRequested(0x51)).toBe(true);
    expect(vm.signalMsi({ addressLo: 0xfee0_1000, data: 0x51 })).toBe(0); // coalesced: still in the IRR
    expect(vm.signalMsi({ addressLo: 0xfee0_9000, data: 0x51 })).toBe(0);
    expectErrno(() => vm.signalMsi({ addressLo: 0xfee0_0000, data: 0x51, flags: 2 }), 'EINVAL', /flags 2/);
    expectErrno(() => new Kvm().createVm().signalMsi({ addressLo: 0xfee0_0000, data: 0x51 }), 'EINVAL', /in-kernel irqchip/);
    // x86 accepts KVM_MSI_VALID_DEVID on a route and ignores the devid (irq_comm.c kvm_set_routing_entry keeps no flags).
    vm.setGsiRouting([{ ...msi(31, 1, 0x62), flags: 1, msi: { ...msi(31, 1, 0x62).msi, devid: 7 } }]);
    expect(vm.irqLine(31, 1)).toBe(1);
    expect(vcpus[1]!.apic!.isRequested(0x62)).toBe(true);
    vm.setGsiRouting([msi(30, 0, 0x61)]);
    expect(vm.irqLine(30, 1)).toBe(1);
    expect(vm.irqLine(30, 0)).toBe(-1); // kvm_set_msi ignores level 0
    expect(vcpus[0]!.apic!.isRequested(0x61)).toBe(true);
  });

  it('KVM_IRQ_LINE_STATUS through the IOAPIC: delivered, coalesced while Remote IRR is set, -1 when masked or unrouted (api.rst 4.25)', () => {
    const { vm } = setup();
    const ioapic = vm.irqchip!.ioapic!;
    const [low, high] = encodeRte({ vector: 0x33, destination: 0, trigger: 'level' });
    ioapic.writeIndirect(0x10 + 2 * 17 + 1, high);
    ioapic.writeIndirect(0x10 + 2 * 17, low);
    expect(vm.irqLine(17, 1)).toBe(1);
    expect(vm.irqLine(17, 0)).toBe(1);
    expect(vm.irqLine(17, 1)).toBe(0); // Remote IRR still set: coalesced
    expect(vm.irqLine(18, 1)).toBe(-1); // masked entry
    expect(vm.irqLine(100, 1)).toBe(-1); // no route
    expectErrno(() => new Kvm().createVm().irqLine(4, 1), 'ENXIO');
  });
});

describe('irqfd (api.rst 4.75; virt/kvm/eventfd.c)', () => {
  it('injects the GSI on each signal, consuming the counter; a signal pending at assignment injects at once; deassign stops it', () => {
    const { vm, vcpus } = setup();
    vm.setGsiRouting([msi(5, 0, 0x45)]);
    const fd = new EventFd({ initval: 3 });
    vm.irqfd({ fd, gsi: 5 });
    expect(vm.irqfdInjections(fd)).toBe(1);
    expect(fd.count).toBe(0n);
    expect(vcpus[0]!.apic!.isRequested(0x45)).toBe(true);
    fd.write(1);
    expect(vm.irqfdInjections(fd)).toBe(2);
    vm.irqfd({ fd, gsi: 5, flags: KVM_IRQFD_FLAG.DEASSIGN });
    fd.write(1);
    expect(vm.irqfdInjections(fd)).toBe(0);
    expect(fd.count).toBe(1n); // nobody consumes it any more
    vm.irqfd({ fd, gsi: 9, flags: KVM_IRQFD_FLAG.DEASSIGN }); // none: not an error
  });

  it('refuses a second binding of one eventfd (EBUSY), unknown flags (EINVAL), non-eventfds (EBADF), and needs an in-kernel irqchip', () => {
    const { vm } = setup();
    const fd = new EventFd();
    vm.irqfd({ fd, gsi: 1 });
    expectErrno(() => vm.irqfd({ fd, gsi: 2 }), 'EBUSY');
    expectErrno(() => vm.irqfd({ fd: new EventFd(), gsi: 1, flags: 4 }), 'EINVAL', /flags 4/);
    expectErrno(() => vm.irqfd({ fd: {} as never, gsi: 1 }), 'EBADF');
    expectErrno(() => vm.irqfd({ fd: new EventFd(), gsi: 1, flags: KVM_IRQFD_FLAG.RESAMPLE }), 'EBADF', /resamplefd/);
    expectErrno(() => new Kvm().createVm().irqfd({ fd: new EventFd(), gsi: 1 }), 'EINVAL', /in-kernel irqchip/);
  });

  it('a resampling irqfd holds a level line until the guest EOIs, then lowers it and signals the resamplefd (KVM_CAP_IRQFD_RESAMPLE)', () => {
    const { vm, vcpus } = setup();
    const apic = vcpus[0]!.apic!;
    const ioapic = vm.irqchip!.ioapic!;
    const [low, high] = encodeRte({ vector: 0x3a, destination: 0, trigger: 'level' });
    ioapic.writeIndirect(0x10 + 2 * 10 + 1, high);
    ioapic.writeIndirect(0x10 + 2 * 10, low);
    const fd = new EventFd();
    const resamplefd = new EventFd();
    vm.irqfd({ fd, gsi: 10, flags: KVM_IRQFD_FLAG.RESAMPLE, resamplefd });
    fd.write(1);
    expect(ioapic.pinLevel(10)).toBe(true);
    expect(apic.acknowledge()).toBe(0x3a); // the guest takes it...
    apic.mmioWrite(0xb0, 4, 0); // ...and EOIs: broadcast to the IOAPIC, ack notifier
    expect(ioapic.pinLevel(10)).toBe(false);
    expect(resamplefd.count).toBe(1n);
    expect(ioapic.remoteIrr(10)).toBe(false);
  });
});

describe('ioeventfd (api.rst 4.59)', () => {
  it('matches by address, length and data, refuses colliding registrations (EEXIST), and deassigns exactly (ENOENT)', () => {
    const { vm } = setup();
    const a = new EventFd();
    const b = new EventFd();
    vm.ioeventfd({ addr: 0xd000_0000, len: 4, datamatch: 1, fd: a, flags: KVM_IOEVENTFD_FLAG.DATAMATCH });
    vm.ioeventfd({ addr: 0xd000_0000, len: 4, datamatch: 2, fd: b, flags: KVM_IOEVENTFD_FLAG.DATAMATCH });
    expectErrno(() => vm.ioeventfd({ addr: 0xd000_0000, len: 4, fd: new EventFd() }), 'EEXIST');
    expect(vm.ioeventfds.write(false, 0xd000_0000, 4, 2)).toBe(true);
    expect(vm.ioeventfds.write(false, 0xd000_0000, 4, 3)).toBe(false);
    expect(vm.ioeventfds.write(false, 0xd000_0000, 2, 1)).toBe(false);
    expect([a.count, b.count]).toEqual([0n, 1n]);
    vm.ioeventfd({ addr: 0x1f0, len: 0, fd: a, flags: KVM_IOEVENTFD_FLAG.PIO });
    expect(vm.ioeventfds.write(true, 0x1f0, 1, 0x99)).toBe(true); // length 0: any write
    expect(a.count).toBe(1n);
    expectErrno(() => vm.ioeventfd({ addr: 0x1f0, len: 2, fd: a, flags: KVM_IOEVENTFD_FLAG.PIO | KVM_IOEVENTFD_FLAG.DEASSIGN }), 'ENOENT');
    vm.ioeventfd({ addr: 0x1f0, len: 0, fd: a, flags: KVM_IOEVENTFD_FLAG.PIO | KVM_IOEVENTFD_FLAG.DEASSIGN });
    expect(vm.ioeventfds.write(true, 0x1f0, 1, 0x99)).toBe(false);
    expectErrno(() => vm.ioeventfd({ addr: 0x10, len: 3, fd: a }), 'EINVAL', /len/);
    expectErrno(() => vm.ioeventfd({ addr: 0x10, len: 0, fd: a, flags: KVM_IOEVENTFD_FLAG.DATAMATCH }), 'EINVAL', /zero-length/);
    expectErrno(() => vm.ioeventfd({ addr: 0xfffe, len: 4, fd: a, flags: KVM_IOEVENTFD_FLAG.PIO }), 'EINVAL', /wraps/);
    expectErrno(() => vm.ioeventfd({ addr: 0x10, len: 4, fd: a, flags: KVM_IOEVENTFD_FLAG.VIRTIO_CCW_NOTIFY }), 'EINVAL');
  });
});
