import { describe, expect, it } from 'vitest';
import { DELIVERY_STATUS, PhysicalMemory } from '@hvsim/core';
import { APIC, ApicBus, LocalApic, PostedInterruptDescriptor, encodeRemappableMsi } from '@hvsim/lapic';
import { apicBusTarget } from './apic-bus-target.js';
import { IntelIommu } from './iommu.js';
import { GCMD, VTD } from './regs.js';

/** IRR bit `vector` of `apic`, through the xAPIC page or x2APIC MSRs. */
function irr(apic: LocalApic, vector: number, x2apic = false): boolean {
  const offset = APIC.IRR0 + 0x10 * (vector >>> 5);
  const word = x2apic ? Number(apic.readMsr(0x800 + offset / 16)) : apic.mmioRead(offset, 4);
  return ((word >>> (vector & 31)) & 1) === 1;
}

function platform(x2apicId?: number): { iommu: IntelIommu; memory: PhysicalMemory; apic: LocalApic } {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x100_0000);
  const bus = new ApicBus();
  const apic = new LocalApic({ id: x2apicId ?? 2 });
  bus.attach(apic);
  apic.mmioWrite(APIC.SVR, 4, 0x1ff);
  if (x2apicId !== undefined) apic.writeMsr(0x1b, (apic.apicBase & ~0xc00n) | 0xc00n);
  const iommu = new IntelIommu({ memory, target: apicBusTarget(bus) });
  // IRT at 0x10000, 256 entries, EIME for the x2APIC platform; IRE on.
  iommu.mmioWrite64(VTD.IRTA, 0x10000n | (x2apicId !== undefined ? 0x800n : 0n) | 7n);
  iommu.mmioWrite(VTD.GCMD, 4, GCMD.SIRTP);
  iommu.mmioWrite(VTD.GCMD, 4, GCMD.IRE);
  return { iommu, memory, apic };
}

describe('delivery into a real ApicBus and LocalApic (@hvsim/lapic)', () => {
  it('remaps a device MSI to the xAPIC named by the IRTE (VT-d 5.1.3)', () => {
    const { iommu, memory, apic } = platform();
    // IRTE 3: present, vector 0x41, destination APIC 2 (bits 47:40).
    memory.write32(0x10000 + 3 * 16, (0x41 << 16) | 1);
    memory.write32(0x10000 + 3 * 16 + 4, 2 << 8);
    const m = encodeRemappableMsi({ handle: 3, shv: false, subhandle: 0 });
    expect(iommu.sendMsi(0x0100, m.address, m.data).outcome).toBe('remapped');
    expect(irr(apic, 0x41)).toBe(true);
  });

  it('remaps to a 32-bit x2APIC destination through the adapter (EIME = 1)', () => {
    const { iommu, memory, apic } = platform(0x1_0005);
    memory.write32(0x10000 + 16, (0x52 << 16) | 1);
    memory.write32(0x10000 + 16 + 4, 0x1_0005);
    const m = encodeRemappableMsi({ handle: 1, shv: false, subhandle: 0 });
    expect(iommu.sendMsi(0x0100, m.address, m.data).outcome).toBe('remapped');
    expect(irr(apic, 0x52, true)).toBe(true);
  });

  it('sends the posted-interrupt notification to the CPU named by NDST (VT-d 5.2.3)', () => {
    const { iommu, memory, apic } = platform();
    const pid = new PostedInterruptDescriptor(memory, 0x20000);
    pid.nv = 0xf2;
    pid.ndst = 2 << 8;
    // Posted IRTE 4: IM = 1, virtual vector 0x33, descriptor at 0x20000.
    memory.write32(0x10000 + 4 * 16, (0x33 << 16) | 0x8000 | 1);
    memory.write32(0x10000 + 4 * 16 + 4, 0x20000);
    const m = encodeRemappableMsi({ handle: 4, shv: false, subhandle: 0 });
    expect(iommu.sendMsi(0x0100, m.address, m.data)).toMatchObject({ outcome: 'posted', notified: true });
    expect(pid.testPir(0x33)).toBe(true);
    expect(irr(apic, 0xf2)).toBe(true);
    expect(irr(apic, 0x33)).toBe(false);
  });
});

describe('delivery status through the ApicBus (core DELIVERY_STATUS)', () => {
  it('is DELIVERED when an APIC accepted, BLOCKED when no APIC matched the destination', () => {
    const { iommu, memory } = platform();
    memory.write32(0x10000 + 3 * 16, (0x41 << 16) | 1);
    memory.write32(0x10000 + 3 * 16 + 4, 2 << 8);
    memory.write32(0x10000 + 5 * 16, (0x41 << 16) | 1);
    memory.write32(0x10000 + 5 * 16 + 4, 9 << 8); // APIC 9 does not exist
    const to = (handle: number): number => encodeRemappableMsi({ handle, shv: false, subhandle: 0 }).address;
    expect(iommu.sendMsi(0x0100, to(3), 0)).toMatchObject({ outcome: 'remapped', status: DELIVERY_STATUS.DELIVERED });
    expect(iommu.sendMsi(0x0100, to(5), 0)).toMatchObject({ outcome: 'remapped', status: DELIVERY_STATUS.BLOCKED });
  });
});
