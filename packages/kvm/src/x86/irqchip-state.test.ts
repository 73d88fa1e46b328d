import { describe, expect, it } from 'vitest';
import { KVM_IRQCHIP } from '../generic/constants.js';
import { Kvm } from '../kvm.js';
import { expectErrno } from '../test-support/expect-errno.js';
import type { KvmIrqchip, KvmIoapicState, KvmPicState } from './irqchip-state.js';

function vmWithChip(): ReturnType<Kvm['createVm']> {
  const vm = new Kvm().createVm();
  vm.createIrqchip();
  return vm;
}

const pic = (s: KvmIrqchip): KvmPicState => (s as { pic: KvmPicState }).pic;
const ioapic = (s: KvmIrqchip): KvmIoapicState => (s as { ioapic: KvmIoapicState }).ioapic;

describe('KVM_GET_IRQCHIP / KVM_SET_IRQCHIP (api.rst 4.26, 4.27)', () => {
  it('reads the PIC pair and the IOAPIC in the uapi layout; ENXIO without the in-kernel irqchip, EINVAL for another chip_id', () => {
    const vm = vmWithChip();
    const master = pic(vm.getIrqchipState(KVM_IRQCHIP.PIC_MASTER));
    expect(master).toMatchObject({ imr: 0, irr: 0, isr: 0, elcr_mask: 0xf8 });
    expect(pic(vm.getIrqchipState(KVM_IRQCHIP.PIC_SLAVE)).elcr_mask).toBe(0xde);
    const io = ioapic(vm.getIrqchipState(KVM_IRQCHIP.IOAPIC));
    expect(io.base_address).toBe(0xfec0_0000);
    expect(io.redirtbl).toHaveLength(24);
    expect(io.redirtbl[0]).toBe(0x1_0000n); // masked after reset (82093AA)
    expectErrno(() => vm.getIrqchipState(3), 'EINVAL', /chip_id 0x3/);
    expectErrno(() => new Kvm().createVm().getIrqchipState(0), 'ENXIO', /KVM_CREATE_IRQCHIP/);
  });

  it('round-trips into another VM: the PIC registers, the IOAPIC entries and its asserted level pin (Remote IRR kept)', () => {
    const src = vmWithChip();
    const io = src.irqchip!.ioapic!;
    // IOREGSEL/IOWIN: pin 4 level-triggered, vector 0x34, unmasked, to APIC 0 (no APIC there: it stays pending).
    io.mmioWrite(0, 4, 0x10 + 2 * 4 + 1);
    io.mmioWrite(0x10, 4, 0);
    io.mmioWrite(0, 4, 0x10 + 2 * 4);
    io.mmioWrite(0x10, 4, 0x8000 | 0x34);
    src.irqLine(4, 1);
    const pm = pic(src.getIrqchipState(KVM_IRQCHIP.PIC_MASTER));
    const dst = vmWithChip();
    dst.setIrqchipState({ chip_id: KVM_IRQCHIP.PIC_MASTER, pic: { ...pm, imr: 0xfb, irq_base: 0x20 } });
    dst.setIrqchipState(src.getIrqchipState(KVM_IRQCHIP.IOAPIC));
    expect(pic(dst.getIrqchipState(KVM_IRQCHIP.PIC_MASTER))).toMatchObject({ imr: 0xfb, irq_base: 0x20 });
    const got = ioapic(dst.getIrqchipState(KVM_IRQCHIP.IOAPIC));
    expect(got.redirtbl[4]).toBe(0x8000n | 0x34n);
    expect(got.irr & (1 << 4)).toBe(1 << 4);
    expect(got).toEqual(ioapic(src.getIrqchipState(KVM_IRQCHIP.IOAPIC)));
  });

  it('checks the whole struct before changing anything: EINVAL naming the field', () => {
    const vm = vmWithChip();
    const before = vm.getIrqchipState(KVM_IRQCHIP.PIC_MASTER);
    expectErrno(() => vm.setIrqchipState({ chip_id: KVM_IRQCHIP.PIC_MASTER, pic: { ...pic(before), imr: 0x100 } }), 'EINVAL', /pic.imr/);
    expectErrno(() => vm.setIrqchipState({ chip_id: KVM_IRQCHIP.PIC_MASTER, pic: { ...pic(before), priority_add: 9 } }), 'EINVAL', /priority_add/);
    const io = ioapic(vm.getIrqchipState(KVM_IRQCHIP.IOAPIC));
    expectErrno(() => vm.setIrqchipState({ chip_id: KVM_IRQCHIP.IOAPIC, ioapic: { ...io, redirtbl: io.redirtbl.slice(1) } }), 'EINVAL', /24 entries/);
    expectErrno(() => vm.setIrqchipState({ chip_id: KVM_IRQCHIP.IOAPIC, ioapic: { ...io, id: 16 } }), 'EINVAL', /ioapic.id/);
    expect(vm.getIrqchipState(KVM_IRQCHIP.PIC_MASTER)).toEqual(before);
  });
});
